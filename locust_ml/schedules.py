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

The plans: :class:`RampPlan` (step ramp: the capacity test), :class:`SoakPlan`
(ramp up, hold for hours, ramp down), :class:`SpikePlan` (baseline, spike,
recovery) and :class:`StagesPlan` (a list of stages, in code or from a YAML or
JSON file). The adaptive capacity search, which also reads measurements, is
:class:`locust_ml.analysis.search.CapacitySearch`; it fits the same
:class:`Plan` protocol.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, Protocol, TypeVar

from locust_ml.errors import ConfigError

if TYPE_CHECKING:
    from locust_ml.analysis.judge import StepMeasurement

#: A step's load: users (int) or requests/s (float).
_Load = TypeVar("_Load", int, float)

__all__ = [
    "DEFAULT_POOL_LATENCY_S",
    "LoadMode",
    "Plan",
    "PlannedStep",
    "RampPlan",
    "SoakPlan",
    "SpikePlan",
    "Stage",
    "StagesPlan",
    "Tick",
    "describe_plan",
    "format_seconds",
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


def _check_mode(mode: str, what: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"{what}: mode must be 'closed' or 'open', got {mode!r}")


def _check_common(
    what: str, spawn_rate: float, pool_users: int | None, warmup_s: float, shortest_s: float
) -> None:
    if not spawn_rate > 0:
        raise ConfigError(f"spawn rate must be > 0 users/s, got {spawn_rate}")
    if pool_users is not None and pool_users < 1:
        raise ConfigError(f"{what}: pool users must be >= 1, got {pool_users}")
    if not 0 <= warmup_s < shortest_s:
        raise ConfigError(
            f"{what}: warm-up must be >= 0 s and shorter than the step it is in "
            f"({shortest_s:g} s), got {warmup_s:g} s"
        )


def _check_load(what: str, mode: str, load: float) -> None:
    unit = "users" if mode == "closed" else "requests/s"
    if not (math.isfinite(load) and load > 0):
        raise ConfigError(f"{what} must be > 0 {unit}, got {load!r}")
    if mode == "closed" and load != int(load):
        raise ConfigError(f"{what} must be a whole number of users, got {load!r}")


@dataclass(frozen=True)
class _Segment:
    seconds: float
    load: float
    label: str
    warmup_s: float = 0.0


def _build_steps(
    segments: Sequence[_Segment], mode: LoadMode, spawn_rate: float, pool_users: int | None
) -> tuple[PlannedStep, ...]:
    """Steps from segments; consecutive segments at the same load become one step.

    The merged step keeps the first segment's warm-up and the label of its
    longest part (closed-loop rounding can make a small ramp step equal the hold).
    """
    merged: list[list[_Segment]] = []
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


def _tick_at(steps: Sequence[PlannedStep], elapsed: float) -> Tick | None:
    t = max(elapsed, 0.0)
    index = bisect.bisect_right([s.start for s in steps], t) - 1
    if index < 0 or index >= len(steps) or t >= steps[index].end:
        return None
    return steps[index].tick


class _FixedPlan:
    """What every fixed (non-adaptive) plan offers, given ``steps()``."""

    def steps(self) -> tuple[PlannedStep, ...]:
        raise NotImplementedError

    @property
    def duration(self) -> float:
        steps = self.steps()
        return steps[-1].end if steps else 0.0

    def at(self, elapsed: float, observation: StepMeasurement | None = None) -> Tick | None:
        """The tick at ``elapsed`` seconds; ``observation`` is ignored (not adaptive)."""
        return _tick_at(self.steps(), elapsed)


@dataclass(frozen=True)
class RampPlan(_FixedPlan):
    """A step ramp: the capacity test, closed or open loop.

    Closed loop: user counts go ``start_users``, then up by ``step_users`` (or
    times ``factor`` when given, at least +1 each step), each held
    ``step_seconds``; the last level is ``max_users`` exactly, then the test
    ends. Open loop: the same with rates ``start_rps``, ``step_rps``,
    ``max_rps`` (``factor`` multiplies the rate). A last step that would add
    less than a quarter of a regular step (62 then 64 users with factor 1.5)
    measures nothing new and costs a whole step: the step before it goes to
    the maximum instead.

    >>> RampPlan(start_users=2, step_users=3, max_users=10, step_seconds=30).levels()
    (2, 5, 8, 10)
    >>> RampPlan(start_users=1, max_users=16, factor=2.0, step_seconds=10).levels()
    (1, 2, 4, 8, 16)
    >>> RampPlan(mode="open", start_rps=10, max_rps=50, factor=2.0).loads()
    (10.0, 20.0, 40.0, 50.0)
    >>> RampPlan(start_users=8, max_users=64, factor=1.5).levels()
    (8, 12, 18, 27, 41, 64)
    >>> RampPlan(start_users=1, max_users=2, step_seconds=10).at(15.0).users
    2
    """

    start_users: int = 1
    max_users: int = 10
    step_seconds: float = 30.0
    step_users: int = 1
    factor: float | None = None
    spawn_rate: float = 100.0
    mode: LoadMode = "closed"
    start_rps: float = 1.0
    max_rps: float = 10.0
    step_rps: float = 1.0
    pool_users: int | None = None
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        _check_mode(self.mode, "ramp")
        if self.start_users < 1:
            raise ConfigError(f"ramp start must be >= 1 user, got {self.start_users}")
        if self.max_users < self.start_users:
            raise ConfigError(
                f"ramp max ({self.max_users}) must be >= ramp start ({self.start_users})"
            )
        if not self.step_seconds > 0:
            raise ConfigError(f"ramp step duration must be > 0 s, got {self.step_seconds}")
        if self.step_users < 1:
            raise ConfigError(f"ramp step must be >= 1 user, got {self.step_users}")
        if self.factor is not None and not self.factor > 1.0:
            raise ConfigError(f"ramp factor must be > 1, got {self.factor}")
        _check_common("ramp", self.spawn_rate, self.pool_users, self.warmup_s, self.step_seconds)
        if self.mode == "open":
            _check_load("ramp start", "open", self.start_rps)
            _check_load("ramp step", "open", self.step_rps)
            if self.max_rps < self.start_rps:
                raise ConfigError(
                    f"ramp max ({self.max_rps:g} requests/s) must be >= ramp start "
                    f"({self.start_rps:g} requests/s)"
                )
        steps = len(self.loads())
        if steps > MAX_PLAN_STEPS:
            raise ConfigError(f"ramp has {steps} steps; at most {MAX_PLAN_STEPS} are allowed")

    def loads(self) -> tuple[float, ...]:
        """The load of each step: users (closed loop) or requests/s (open loop)."""
        if self.mode == "closed":
            return tuple(float(u) for u in self.levels())
        rates = [float(self.start_rps)]
        while rates[-1] < self.max_rps * (1 - 1e-12) and len(rates) <= MAX_PLAN_STEPS:
            cur = rates[-1]
            rates.append(
                min(cur * self.factor if self.factor else cur + self.step_rps, float(self.max_rps))
            )
        return tuple(self._fold_short_last(rates, self.step_rps))

    def levels(self) -> tuple[int, ...]:
        """The user count of each step (open loop: the starting pool), in order."""
        if self.mode == "open":
            return tuple(pool_size(r, self.pool_users) for r in self.loads())
        levels = [self.start_users]
        while levels[-1] < self.max_users and len(levels) <= MAX_PLAN_STEPS:
            cur = levels[-1]
            nxt = (
                max(cur + 1, math.ceil(cur * self.factor)) if self.factor else cur + self.step_users
            )
            levels.append(min(nxt, self.max_users))
        return tuple(self._fold_short_last(levels, self.step_users))

    def _fold_short_last(self, values: list[_Load], step: float) -> list[_Load]:
        """``values`` without the step before the last when the last adds under a quarter step."""
        if len(values) < 3:
            return values
        prev, last = values[-2], values[-1]
        if self.factor:
            short = last / prev - 1.0 < (self.factor - 1.0) / 4
        else:
            short = last - prev < step / 4
        if short:
            del values[-2]
        return values

    def steps(self) -> tuple[PlannedStep, ...]:
        return tuple(
            PlannedStep(
                i * self.step_seconds,
                (i + 1) * self.step_seconds,
                Tick.of(
                    i + 1,
                    load,
                    self.mode,
                    self.spawn_rate,
                    self.warmup_s,
                    pool_users=self.pool_users,
                ),
            )
            for i, load in enumerate(self.loads())
        )

    @property
    def duration(self) -> float:
        return len(self.loads()) * self.step_seconds

    def at(self, elapsed: float, observation: StepMeasurement | None = None) -> Tick | None:
        steps = self.steps()
        index = int(max(elapsed, 0.0) // self.step_seconds)
        return steps[index].tick if index < len(steps) else None


@dataclass(frozen=True)
class SoakPlan(_FixedPlan):
    """Ramp up, hold ``load`` for a long time, ramp down: the soak test.

    The ramp-up has ``ramp_up_steps`` equal steps over ``ramp_up_s`` at
    ``load * i / (n + 1)`` (i = 1..n), so no ramp step repeats the hold's
    load; the ramp-down mirrors it. ``warmup_s`` is excluded at the start of
    the hold. Steps are labelled ``ramp-up``, ``hold``, ``ramp-down``.

    >>> plan = SoakPlan(load=30, ramp_up_s=60, ramp_up_steps=2, hold_s=3600,
    ...                 ramp_down_s=30, ramp_down_steps=2)
    >>> steps = [(s.start, s.tick.users, s.tick.label) for s in plan.steps()]
    >>> steps  # doctest: +NORMALIZE_WHITESPACE
    [(0.0, 10, 'ramp-up'), (30.0, 20, 'ramp-up'), (60.0, 30, 'hold'),
     (3660.0, 20, 'ramp-down'), (3675.0, 10, 'ramp-down')]
    """

    load: float = 10.0
    hold_s: float = 4 * 3600.0
    ramp_up_s: float = 300.0
    ramp_up_steps: int = 5
    ramp_down_s: float = 60.0
    ramp_down_steps: int = 1
    mode: LoadMode = "closed"
    spawn_rate: float = 100.0
    warmup_s: float = 0.0
    pool_users: int | None = None

    def __post_init__(self) -> None:
        _check_mode(self.mode, "soak")
        _check_load("soak load", self.mode, self.load)
        if not self.hold_s > 0:
            raise ConfigError(f"soak hold must be > 0 s, got {self.hold_s}")
        for name, seconds, steps in (
            ("ramp-up", self.ramp_up_s, self.ramp_up_steps),
            ("ramp-down", self.ramp_down_s, self.ramp_down_steps),
        ):
            if seconds < 0 or steps < 0 or (seconds > 0) != (steps > 0):
                raise ConfigError(
                    f"soak {name}: duration ({seconds:g} s) and steps ({steps}) must both be "
                    "zero (no ramp) or both positive"
                )
        _check_common("soak", self.spawn_rate, self.pool_users, self.warmup_s, self.hold_s)

    def _level(self, fraction: float) -> float:
        x = self.load * fraction
        return float(max(1, round(x))) if self.mode == "closed" else x

    def steps(self) -> tuple[PlannedStep, ...]:
        up, down = self.ramp_up_steps, self.ramp_down_steps
        segments = [
            _Segment(self.ramp_up_s / up, self._level(i / (up + 1)), "ramp-up")
            for i in range(1, up + 1)
        ]
        segments.append(_Segment(self.hold_s, float(self.load), "hold", self.warmup_s))
        segments += [
            _Segment(self.ramp_down_s / down, self._level((down + 1 - i) / (down + 1)), "ramp-down")
            for i in range(1, down + 1)
        ]
        return _build_steps(segments, self.mode, self.spawn_rate, self.pool_users)


@dataclass(frozen=True)
class SpikePlan(_FixedPlan):
    """Baseline, a spike to ``factor`` x baseline, then baseline again while recovery is watched.

    Three steps labelled ``baseline``, ``spike`` and ``recovery``. In closed
    loop the spike's sharpness is set by ``spawn_rate`` (users started per
    second); in open loop the rate jumps at once.

    >>> [(s.start, s.end, s.tick.offered_rps, s.tick.label) for s in
    ...  SpikePlan(mode="open", baseline=20, factor=5, baseline_s=60, spike_s=30,
    ...            recovery_s=120).steps()]
    [(0.0, 60.0, 20.0, 'baseline'), (60.0, 90.0, 100.0, 'spike'), (90.0, 210.0, 20.0, 'recovery')]
    """

    baseline: float = 10.0
    factor: float = 5.0
    baseline_s: float = 120.0
    spike_s: float = 60.0
    recovery_s: float = 300.0
    mode: LoadMode = "closed"
    spawn_rate: float = 100.0
    warmup_s: float = 0.0
    pool_users: int | None = None

    def __post_init__(self) -> None:
        _check_mode(self.mode, "spike")
        _check_load("spike baseline", self.mode, self.baseline)
        if not self.factor > 1.0:
            raise ConfigError(
                f"spike factor must be > 1 (a multiple of the baseline), got {self.factor}"
            )
        if self.mode == "closed" and round(self.baseline * self.factor) <= self.baseline:
            raise ConfigError(
                f"spike of {self.factor:g} x {self.baseline:g} users rounds to no extra user"
            )
        for name, seconds in (
            ("baseline", self.baseline_s),
            ("spike", self.spike_s),
            ("recovery", self.recovery_s),
        ):
            if not seconds > 0:
                raise ConfigError(f"spike plan: {name} duration must be > 0 s, got {seconds}")
        _check_common("spike", self.spawn_rate, self.pool_users, self.warmup_s, self.baseline_s)

    @property
    def peak(self) -> float:
        """The spike's load: users (rounded) or requests/s."""
        peak = float(self.baseline * self.factor)
        return float(round(peak)) if self.mode == "closed" else peak

    def steps(self) -> tuple[PlannedStep, ...]:
        segments = [
            _Segment(self.baseline_s, float(self.baseline), "baseline", self.warmup_s),
            _Segment(self.spike_s, self.peak, "spike"),
            _Segment(self.recovery_s, float(self.baseline), "recovery"),
        ]
        return _build_steps(segments, self.mode, self.spawn_rate, self.pool_users)


@dataclass(frozen=True)
class Stage:
    """One stage: ``duration_s`` at ``users`` (closed loop) or at ``rps`` (open loop).

    With ``rps``, ``users`` (optional) is the starting user pool. ``spawn_rate``
    overrides the plan's; ``warmup_s`` is excluded from the stage's measurements.
    """

    duration_s: float
    users: int | None = None
    rps: float | None = None
    spawn_rate: float | None = None
    label: str = ""
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError(f"duration must be > 0 s, got {self.duration_s!r}")
        if self.users is None and self.rps is None:
            raise ConfigError("a stage needs users (closed loop) or rate (open loop)")
        if self.users is not None and (int(self.users) != self.users or self.users < 0):
            raise ConfigError(f"users must be a whole number >= 0, got {self.users!r}")
        if self.rps is not None and not (math.isfinite(self.rps) and self.rps >= 0):
            raise ConfigError(f"rate must be >= 0 requests/s, got {self.rps!r}")
        if self.rps is not None and self.users == 0:
            raise ConfigError("users (the starting pool of an open-loop stage) must be >= 1")
        if self.spawn_rate is not None and not self.spawn_rate > 0:
            raise ConfigError(f"spawn_rate must be > 0 users/s, got {self.spawn_rate!r}")
        if not 0 <= self.warmup_s < self.duration_s:
            raise ConfigError(
                f"warmup must be >= 0 s and shorter than the stage ({self.duration_s:g} s), "
                f"got {self.warmup_s!r}"
            )

    @property
    def mode(self) -> LoadMode:
        return "closed" if self.rps is None else "open"


@dataclass(frozen=True)
class StagesPlan(_FixedPlan):
    """A list of stages, run in order; the test ends after the last.

    All stages use the same mode (users, or rates). Consecutive stages with
    the same load stay separate steps here (each stage is a step); unlabelled
    stages are labelled ``stage-N``.

    >>> plan = StagesPlan((Stage(60, users=5), Stage(120, users=20, label="peak")))
    >>> [(s.start, s.tick.users, s.tick.label) for s in plan.steps()]
    [(0.0, 5, 'stage-1'), (60.0, 20, 'peak')]
    """

    stages: tuple[Stage, ...]
    spawn_rate: float = 100.0
    pool_users: int | None = None

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("stages: no stages given")
        object.__setattr__(self, "stages", tuple(self.stages))
        modes = {s.mode for s in self.stages}
        if len(modes) > 1:
            first_open = next(i for i, s in enumerate(self.stages, 1) if s.mode == "open")
            raise ConfigError(
                "stages: mixing users (closed loop) and rate (open loop) stages is not "
                f"supported (stage {first_open} has a rate, others have only users)"
            )
        if len(self.stages) > MAX_PLAN_STEPS:
            raise ConfigError(f"stages: {len(self.stages)} stages; at most {MAX_PLAN_STEPS}")
        _check_common("stages", self.spawn_rate, self.pool_users, 0.0, math.inf)

    @property
    def mode(self) -> LoadMode:
        return self.stages[0].mode

    def steps(self) -> tuple[PlannedStep, ...]:
        out, start = [], 0.0
        for i, s in enumerate(self.stages, start=1):
            load = s.rps if s.rps is not None else s.users or 0
            pool = s.users if s.rps is not None and s.users else self.pool_users
            rate, label = s.spawn_rate or self.spawn_rate, s.label or f"stage-{i}"
            tick = Tick.of(i, load, s.mode, rate, s.warmup_s, label, pool_users=pool)
            out.append(PlannedStep(start, start + s.duration_s, tick))
            start += s.duration_s
        return tuple(out)

    @classmethod
    def from_file(
        cls, path: str | Path, *, spawn_rate: float = 100.0, pool_users: int | None = None
    ) -> StagesPlan:
        """Read stages from a ``.yaml``/``.yml`` or ``.json`` file (see :mod:`locust_ml.stages`)."""
        from locust_ml.stages import load_stages_file

        return load_stages_file(path, spawn_rate=spawn_rate, pool_users=pool_users)


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


def _load_text(load: float, mode: LoadMode) -> str:
    if mode == "open":
        return f"{load:g} req/s"
    return f"{load:g} user" if load == 1 else f"{load:g} users"


def describe_plan(plan: object) -> str | None:
    """One line saying what a fixed plan will run and for how long in all; None if not fixed.

    Printed when a test starts, so nobody waits for a length they didn't expect.

    >>> describe_plan(SoakPlan(load=10, ramp_up_s=10, ramp_up_steps=5, hold_s=30,
    ...                        ramp_down_s=5, ramp_down_steps=1))
    'soak plan: 10 users; 5 ramp-up steps over 10 s, hold 30 s, ramp-down 5 s; total 45 s'
    >>> describe_plan(SpikePlan(baseline=2, factor=4, baseline_s=15, spike_s=15, recovery_s=15))
    'spike plan: baseline 2 users for 15 s, spike to 8 users for 15 s, recovery 15 s; total 45 s'
    """
    if isinstance(plan, RampPlan):
        loads = plan.loads()
        return (
            f"ramp plan: {len(loads)} steps of {format_seconds(plan.step_seconds)}, "
            f"{_load_text(loads[0], plan.mode)} to {_load_text(loads[-1], plan.mode)}; "
            f"total {format_seconds(plan.duration)}"
        )
    if isinstance(plan, SoakPlan):
        phases = []
        # Closed-loop rounding can merge ramp-up steps: count the steps that run.
        ups = sum(1 for s in plan.steps() if s.tick.label == "ramp-up")
        if plan.ramp_up_s > 0:
            steps = f"{ups} ramp-up step{'s' if ups != 1 else ''}"
            phases.append(f"{steps} over {format_seconds(plan.ramp_up_s)}")
        phases.append(f"hold {format_seconds(plan.hold_s)}")
        if plan.ramp_down_s > 0:
            phases.append(f"ramp-down {format_seconds(plan.ramp_down_s)}")
        return (
            f"soak plan: {_load_text(plan.load, plan.mode)}; {', '.join(phases)}; "
            f"total {format_seconds(plan.duration)}"
        )
    if isinstance(plan, SpikePlan):
        return (
            f"spike plan: baseline {_load_text(plan.baseline, plan.mode)} for "
            f"{format_seconds(plan.baseline_s)}, spike to {_load_text(plan.peak, plan.mode)} for "
            f"{format_seconds(plan.spike_s)}, recovery {format_seconds(plan.recovery_s)}; "
            f"total {format_seconds(plan.duration)}"
        )
    if isinstance(plan, StagesPlan):
        return f"stages plan: {len(plan.stages)} stages; total {format_seconds(plan.duration)}"
    return None
