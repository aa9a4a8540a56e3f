"""Pure load schedules: what load to offer at each moment of a test.

Locust's ``LoadTestShape.tick()`` reads the wall clock itself, which makes
shapes untestable without sleeping. Here a schedule is a pure function of the
elapsed time, ``plan.at(elapsed) -> Tick | None`` (None: the test is over),
and the Locust shape (:mod:`locust_ml.plugin.shapes`) is a few-line wrapper.
Every tick names its step, so samples and telemetry can be grouped per step.

Every plan runs in either load mode:

* **closed loop** (``mode="closed"``): the load is a number of users, each
  sending its next request when the previous one is answered;
* **open loop** (``mode="open"``): the load is a target arrival rate in
  requests/s, sent on schedule whatever the server's latency; ``Tick.users``
  is then only the size of the user pool to start with (the glue grows it if
  more requests are in flight, see :func:`pool_size`).

This module holds what every plan shares (the tick, the step, the checks, the
words for a load and a duration). The plans themselves live with their
shape kind's parameters, one file per kind, in :mod:`locust_ml.shapes`:
ramp, soak, spike, stages, and the capacity search (whose algorithm, which
also reads measurements, is :class:`locust_ml.analysis.search.CapacitySearch`;
it fits the same :class:`Plan` protocol).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, Protocol

from locust_ml.errors import ConfigError

if TYPE_CHECKING:
    from locust_ml.analysis.judge import StepMeasurement

__all__ = [
    "DEFAULT_POOL_LATENCY_S",
    "MAX_PLAN_STEPS",
    "FixedPlan",
    "LoadMode",
    "Plan",
    "PlannedStep",
    "Segment",
    "Tick",
    "build_steps",
    "check_common",
    "check_load",
    "check_mode",
    "format_seconds",
    "load_text",
    "pool_size",
]

LoadMode = Literal["closed", "open"]
MODES: Final = ("closed", "open")
#: Open loop: the starting pool holds enough users for requests lasting this long
#: (Little's law: requests in flight = rate x latency).
DEFAULT_POOL_LATENCY_S: Final = 1.0
#: More steps than this is a mistake (e.g. a ramp by 0.001 users/s to 1000).
MAX_PLAN_STEPS: Final = 10_000


@dataclass(frozen=True)
class Tick:
    """The load a schedule asks for now.

    ``users`` is the user count (closed loop) or the user pool to start with
    (open loop, where ``offered_rps`` is the target rate). The first
    ``warmup_s`` seconds of the step are excluded from its measurements;
    ``label`` names the step's role (``"spike"``, ``"hold"``, ...).

    ``concurrency`` marks a closed loop run by the open-loop arrival driver
    (the capacity search's saturation probe): that many requests are kept in
    flight by the pool of open-loop senders, with no users started or
    stopped; ``users`` is then the same number (the step's load).
    """

    step: int
    users: int
    spawn_rate: float
    offered_rps: float | None = None
    mode: LoadMode = "closed"
    warmup_s: float = 0.0
    label: str = ""
    concurrency: int | None = None

    @classmethod
    def probe(cls, step: int, concurrency: int, spawn_rate: float, warmup_s: float = 0.0) -> Tick:
        """A driver-run closed loop keeping ``concurrency`` requests in flight."""
        return cls(step, concurrency, spawn_rate, None, "closed", warmup_s, "probe", concurrency)

    @property
    def driven(self) -> bool:
        """Whether the arrival driver (not Locust's users) sends this step's requests."""
        return self.mode == "open" or self.concurrency is not None

    @classmethod
    def of(
        cls,
        step: int,
        load: float,
        mode: LoadMode,
        spawn_rate: float,
        warmup_s: float = 0.0,
        label: str = "",
        *,
        pool_users: int | None = None,
    ) -> Tick:
        """A step at ``load`` users (closed) or requests/s (open; pool from :func:`pool_size`)."""
        if mode == "closed":
            return cls(step, int(load), spawn_rate, None, mode, warmup_s, label)
        users = pool_size(load, pool_users)
        return cls(step, users, spawn_rate, float(load), mode, warmup_s, label)

    @property
    def load(self) -> float:
        """Users (closed loop) or requests/s (open loop)."""
        if self.mode == "open" and self.offered_rps is not None:
            return self.offered_rps
        return float(self.users)


class Plan(Protocol):
    """A schedule: the tick at ``elapsed`` seconds, or None when finished.

    ``observation`` is the latest measurement of the current step; only plans
    that adapt (the capacity search) read it.
    """

    def at(self, elapsed: float, observation: StepMeasurement | None = None) -> Tick | None: ...

    @property
    def longest(self) -> float:
        """The most seconds the plan can run (a fixed plan's length, a search's limit)."""
        ...

    def describe(self) -> str:
        """One line for the console: what the plan will run and for how long."""
        ...


@dataclass(frozen=True)
class PlannedStep:
    """One step of a fixed plan: ``[start, end)`` seconds and its tick."""

    start: float
    end: float
    tick: Tick


def pool_size(rate: float, pool_users: int | None = None) -> int:
    """Users to start an open-loop step at ``rate`` with: ``pool_users``, or by Little's law.

    >>> pool_size(50.0), pool_size(0.2), pool_size(50.0, pool_users=8)
    (50, 1, 8)
    """
    if pool_users is not None:
        return pool_users
    return max(1, math.ceil(rate * DEFAULT_POOL_LATENCY_S - 1e-9))


def check_mode(mode: str, what: str) -> None:
    """``mode`` is closed or open."""
    if mode not in MODES:
        raise ConfigError(f"{what}: mode must be 'closed' or 'open', got {mode!r}")


def check_common(
    what: str, spawn_rate: float, pool_users: int | None, warmup_s: float, shortest_s: float
) -> None:
    """What every plan checks: a spawn rate, a sender pool, a warm-up shorter than its step."""
    if not spawn_rate > 0:
        raise ConfigError(f"spawn rate must be > 0 users/s, got {spawn_rate}")
    if pool_users is not None and pool_users < 1:
        raise ConfigError(f"{what}: pool users must be >= 1, got {pool_users}")
    if not 0 <= warmup_s < shortest_s:
        raise ConfigError(
            f"{what}: warm-up must be >= 0 s and shorter than the step it is in "
            f"({shortest_s:g} s), got {warmup_s:g} s"
        )


def check_load(what: str, mode: str, load: float) -> None:
    """A load > 0: a whole number of users in closed loop, any rate in open loop."""
    unit = "users" if mode == "closed" else "requests/s"
    if not (math.isfinite(load) and load > 0):
        raise ConfigError(f"{what} must be > 0 {unit}, got {load!r}")
    if mode == "closed" and load != int(load):
        raise ConfigError(f"{what} must be a whole number of users, got {load!r}")


@dataclass(frozen=True)
class Segment:
    """A stretch of a plan at one load, before equal neighbours are merged into one step."""

    seconds: float
    load: float
    label: str
    warmup_s: float = 0.0


def build_steps(
    segments: Sequence[Segment], mode: LoadMode, spawn_rate: float, pool_users: int | None
) -> tuple[PlannedStep, ...]:
    """Steps from segments; consecutive segments at the same load become one step.

    The merged step keeps the first segment's warm-up and the label of its
    longest part (closed-loop rounding can make a small ramp step equal the hold).
    """
    merged: list[list[Segment]] = []
    for seg in segments:
        if seg.seconds <= 0:
            continue
        if merged and merged[-1][-1].load == seg.load:
            merged[-1].append(seg)
        else:
            merged.append([seg])
    if len(merged) > MAX_PLAN_STEPS:
        raise ConfigError(f"plan has {len(merged)} steps; at most {MAX_PLAN_STEPS} are allowed")
    steps, start = [], 0.0
    for i, group in enumerate(merged, start=1):
        first = group[0]
        seconds = sum(s.seconds for s in group)
        label = max(group, key=lambda s: s.seconds).label
        tick = Tick.of(
            i, first.load, mode, spawn_rate, first.warmup_s, label, pool_users=pool_users
        )
        steps.append(PlannedStep(start, start + seconds, tick))
        start += seconds
    return tuple(steps)


def tick_at(steps: Sequence[PlannedStep], elapsed: float) -> Tick | None:
    """The tick of the step running at ``elapsed`` (None before the first or after the last)."""
    t = max(elapsed, 0.0)
    index = bisect.bisect_right([s.start for s in steps], t) - 1
    if index < 0 or index >= len(steps) or t >= steps[index].end:
        return None
    return steps[index].tick


class FixedPlan:
    """What every fixed (non-adaptive) plan offers, given ``steps()``."""

    def steps(self) -> tuple[PlannedStep, ...]:
        raise NotImplementedError

    @property
    def duration(self) -> float:
        steps = self.steps()
        return steps[-1].end if steps else 0.0

    @property
    def longest(self) -> float:
        return self.duration

    def at(self, elapsed: float, observation: StepMeasurement | None = None) -> Tick | None:
        """The tick at ``elapsed`` seconds; ``observation`` is ignored (not adaptive)."""
        return tick_at(self.steps(), elapsed)


# --------------------------------------------------------------- the plan in words


def format_seconds(seconds: float) -> str:
    """A duration for people: ``45 s``, ``1 min 54 s``, ``4 h``, ``2 h 5 min``, ``0.5 s``.

    >>> [format_seconds(x) for x in (45, 114, 14400, 7500, 0.5)]
    ['45 s', '1 min 54 s', '4 h', '2 h 5 min', '0.5 s']
    """
    if seconds < 60:
        return f"{seconds:g} s"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h} h" if h else "", f"{m} min" if m else "", f"{s} s" if s and not h else ""]
    return " ".join(p for p in parts if p)


def load_text(load: float, mode: LoadMode) -> str:
    """A load for people: ``1 user``, ``8 users``, ``2.5 req/s``."""
    if mode == "open":
        return f"{load:g} req/s"
    return f"{load:g} user" if load == 1 else f"{load:g} users"
