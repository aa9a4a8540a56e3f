"""The adaptive capacity search: the highest load that still meets the SLOs.

A fixed ramp spends most of its time far from the interesting load and
resolves the answer only to its step size. The search instead steps the load
up geometrically until a step fails, then bisects between the last good and
the first bad load until they are within a relative ``precision``, and stops.

It is a state machine, ``search.at(elapsed, observation) -> Tick | None``,
fed by the Locust glue about once a second with the latest measurement of
the current step (a :class:`~locust_ml.analysis.stability.StepObservation`);
it never reads a clock, so tests drive it with synthetic targets.

**Steps.** Each step offers one load (requests/s in open loop, users in
closed loop). Its first ``warmup_s`` seconds are excluded from measurement
(the tick says how long). The step is then judged as soon as it is *stable*
(:mod:`locust_ml.analysis.stability`: enough requests for the SLO percentile
at the stated confidence, and the last few windows agree on throughput and
median latency). A step still unstable after ``max_step_s`` is judged
**unstable**, which counts as a failure (a load the system cannot settle at
is not one it sustains); the stability rule's reasons are kept. With
``fail_fast`` (default), a step whose SLO already fails once it has enough
samples is failed at once: under overload latency only grows, and waiting
for stability would waste minutes per overloaded step.

**Verdict.** A stable step passes when every SLO passes (no data is not a
pass, see :func:`~locust_ml.analysis.slo.evaluate`) and throughput kept up:

* open loop: achieved >= offered x (1 - ``throughput_tolerance`` - 3/sqrt(n)),
  n = offered x measured seconds, the expected request count (3/sqrt(n) is
  three standard deviations of a Poisson count, so that a low-rate step does
  not fail on sampling noise alone);
* closed loop: compared with the last passing step at ``n0`` users and
  throughput ``x0``, ``n`` users must reach at least ``x0 * (1 + min_gain *
  (n/n0 - 1))`` (at least ``min_gain`` of the proportional gain; a flat
  throughput means the server is saturated and more users only queue).

**Order.** Loads go ``start``, ``start*factor``, ... (capped at
``max_load``) until a step fails; if the very first step fails, loads go down
by ``factor`` until one passes (or ``min_load`` fails). Then bisection at the
geometric mean of the last good ``lo`` and first bad ``hi`` (precision is a
ratio, so the geometric mean halves it in log space) until ``hi/lo - 1 <=
precision``. In closed loop loads are whole users, and the search also stops
when ``hi = lo + 1``.

**Stopping** (:class:`StopReason`): converged; resolution (closed loop, one
user apart); max-load (the cap passed); min-load (even the floor failed);
step-limit; time-limit (no step is started that could not finish its
warm-up before ``max_total_s``); stopped (the caller ended it). The
:class:`SearchResult` keeps the SLO-sustainable load (the last good),
the first bad, the precision reached and every judged step with its reasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from locust_ml.analysis.slo import SLO, SLOVerdict, evaluate
from locust_ml.analysis.stability import StabilityRule, StabilityVerdict, StepObservation
from locust_ml.errors import ConfigError
from locust_ml.schedules import LoadMode, Tick

__all__ = [
    "CapacitySearch",
    "JudgedStep",
    "SearchConfig",
    "SearchResult",
    "StopReason",
    "Verdict",
]


class StopReason(StrEnum):
    CONVERGED = "converged"
    RESOLUTION = "resolution"
    MAX_LOAD = "max-load"
    MIN_LOAD = "min-load"
    STEP_LIMIT = "step-limit"
    TIME_LIMIT = "time-limit"
    STOPPED = "stopped"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"
    UNSTABLE = "unstable"


@dataclass(frozen=True)
class SearchConfig:
    """Parameters of the search; see the module docstring for their roles.

    >>> from locust_ml.analysis.slo import parse_slos
    >>> SearchConfig(slos=parse_slos(["p99<300ms"]), start=20, factor=2, precision=0.05).mode
    'open'
    """

    slos: tuple[SLO, ...] = ()
    mode: LoadMode = "open"
    start: float = 10.0
    factor: float = 2.0
    precision: float = 0.05
    min_load: float | None = None  # default: 1 (user or request/s), or start if lower
    max_load: float | None = None
    warmup_s: float = 10.0
    max_step_s: float = 120.0
    max_steps: int = 30
    max_total_s: float = 3600.0
    throughput_tolerance: float = 0.10
    min_gain: float = 0.5
    stability: StabilityRule = field(default_factory=StabilityRule)
    fail_fast: bool = True
    spawn_rate: float = 100.0
    pool_users: int | None = None
    #: After a failed step, offer no load until the target has drained its
    #: backlog (a window without completions, at least this long), so the
    #: next step doesn't start behind a queue the last one built.
    cooldown_s: float = 2.0
    max_cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "slos", tuple(self.slos))
        if self.min_load is None and math.isfinite(self.start) and self.start > 0:
            object.__setattr__(self, "min_load", min(1.0, self.start))
        unit = "users" if self.mode == "closed" else "requests/s"
        floor = self.min_load if self.min_load is not None else math.nan
        checks = [
            (
                self.mode in ("closed", "open"),
                f"mode must be 'closed' or 'open', got {self.mode!r}",
            ),
            (
                math.isfinite(self.start) and self.start > 0,
                f"start must be > 0 {unit}, got {self.start!r}",
            ),
            (
                self.factor > 1.0 and math.isfinite(self.factor),
                f"factor must be > 1, got {self.factor!r}",
            ),
            (
                self.precision > 0,
                f"precision must be > 0 (e.g. 0.05 for 5 %), got {self.precision!r}",
            ),
            (floor > 0, f"min load must be > 0 {unit}, got {self.min_load!r}"),
            (
                floor <= self.start,
                f"min load ({floor:g}) must be <= start ({self.start:g})",
            ),
            (
                self.max_load is None or self.max_load >= self.start,
                f"max load ({self.max_load}) must be >= start ({self.start:g})",
            ),
            (self.warmup_s >= 0, f"warm-up must be >= 0 s, got {self.warmup_s!r}"),
            (
                self.max_step_s > self.warmup_s,
                f"max step time ({self.max_step_s:g} s) must be longer than the warm-up "
                f"({self.warmup_s:g} s)",
            ),
            (
                self.max_total_s >= self.max_step_s,
                f"max step time ({self.max_step_s:g} s) is longer than the whole test "
                f"({self.max_total_s:g} s)",
            ),
            (self.max_steps >= 1, f"max steps must be >= 1, got {self.max_steps}"),
            (
                0 <= self.throughput_tolerance < 1,
                f"throughput tolerance must be in [0, 1), got {self.throughput_tolerance!r}",
            ),
            (0 <= self.min_gain <= 1, f"min gain must be in [0, 1], got {self.min_gain!r}"),
            (self.spawn_rate > 0, f"spawn rate must be > 0 users/s, got {self.spawn_rate!r}"),
            (
                self.pool_users is None or self.pool_users >= 1,
                f"pool users must be >= 1, got {self.pool_users}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"capacity search: {message}")
        if self.mode == "closed":
            for name, value in (("start", self.start), ("min load", floor)):
                if value != int(value):
                    raise ConfigError(
                        f"capacity search: {name} must be a whole number of users, got {value!r}"
                    )


@dataclass(frozen=True)
class JudgedStep:
    """One step of the search, judged."""

    step: int
    load: float
    phase: str
    start: float
    end: float
    verdict: Verdict
    reasons: tuple[str, ...]
    achieved_rps: float | None
    slo: SLOVerdict | None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS


@dataclass(frozen=True)
class SearchResult:
    """Why the search stopped and what it found.

    ``sustainable`` is the highest load that passed (None if none did);
    ``first_bad`` the lowest failing load above it (None if none failed);
    ``precision`` is ``first_bad / sustainable - 1`` when both exist.
    """

    reason: StopReason
    mode: LoadMode
    sustainable: float | None
    first_bad: float | None
    precision: float | None
    history: tuple[JudgedStep, ...]
    slos: tuple[SLO, ...]

    @property
    def sustainable_step(self) -> JudgedStep | None:
        return next((s for s in self.history if s.passed and s.load == self.sustainable), None)

    def summary(self) -> str:
        """One line for the console."""
        unit = "users" if self.mode == "closed" else "requests/s"
        slos = ", ".join(str(s) for s in self.slos) or "throughput only"
        if self.sustainable is None:
            found = f"no load passed ({slos})"
        else:
            found = f"sustainable load {self.sustainable:.4g} {unit} ({slos})"
            if self.first_bad is not None and self.precision is not None:
                found += f"; fails at {self.first_bad:.4g} (+{self.precision:.1%})"
        return f"capacity search stopped ({self.reason}): {found}, {len(self.history)} steps"


class CapacitySearch:
    """The search state machine; see the module docstring.

    >>> from locust_ml.analysis.slo import parse_slos
    >>> search = CapacitySearch(SearchConfig(slos=parse_slos(["p99<300ms"]), start=20))
    >>> tick = search.at(0.0)
    >>> tick.offered_rps, tick.mode, tick.warmup_s, tick.label
    (20.0, 'open', 10.0, 'step-up')
    """

    def __init__(self, config: SearchConfig | None = None) -> None:
        self.config = config or SearchConfig()
        self._samples_needed = self.config.stability.samples_needed(self.config.slos)
        self._history: list[JudgedStep] = []
        self._pending: tuple[float, str] | None = None
        self._tick: Tick | None = None
        self._started = 0.0
        self._latest: StepObservation | None = None
        self._lo: JudgedStep | None = None
        self._hi: JudgedStep | None = None
        self._result: SearchResult | None = None

    @property
    def samples_needed(self) -> int:
        """Requests a step needs after warm-up before its SLO percentile can be judged."""
        return self._samples_needed

    @property
    def history(self) -> tuple[JudgedStep, ...]:
        return tuple(self._history)

    @property
    def finished(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> SearchResult | None:
        """The outcome, once the search has stopped (None before)."""
        return self._result

    @property
    def current(self) -> Tick | None:
        return None if self._result else self._tick

    def at(self, elapsed: float, observation: StepObservation | None = None) -> Tick | None:
        """The tick at ``elapsed`` s; ``observation`` measures the current step (others ignored)."""
        if self._result is not None:
            return None
        if self._tick is None:
            return self._begin(elapsed, self._whole(self.config.start), "step-up")
        if observation is not None and observation.step == self._tick.step:
            self._latest = observation
        if elapsed >= self.config.max_total_s:
            self._finish(StopReason.TIME_LIMIT)
        elif self._pending is not None:
            if self._cooled_down(elapsed):
                pending, self._pending = self._pending, None
                if elapsed + self.config.warmup_s >= self.config.max_total_s:
                    self._finish(StopReason.TIME_LIMIT)
                else:
                    self._begin(elapsed, *pending)
        else:
            judged = self._judge(elapsed)
            if judged is not None:
                self._advance(judged, elapsed)
        return self.current

    def stop(self) -> SearchResult:
        """End the search now (the test was stopped) and return what it has found."""
        return self._result or self._finish(StopReason.STOPPED)

    # -- internals ---------------------------------------------------------------------------

    def _whole(self, load: float) -> float:
        return float(round(load)) if self.config.mode == "closed" else float(load)

    def _begin(self, elapsed: float, load: float, phase: str) -> Tick:
        c = self.config
        step = self._tick.step + 1 if self._tick else 1
        tick = Tick.of(step, load, c.mode, c.spawn_rate, c.warmup_s, phase, pool_users=c.pool_users)
        self._tick, self._started, self._latest = tick, elapsed, None
        return tick

    def _begin_cooldown(self, elapsed: float, pending: tuple[float, str]) -> None:
        c = self.config
        step = self._tick.step + 1 if self._tick else 1
        self._tick = Tick.of(
            step, 0, c.mode, c.spawn_rate, 0.0, "cooldown", pool_users=c.pool_users
        )
        self._started, self._latest, self._pending = elapsed, None, pending

    def _cooled_down(self, elapsed: float) -> bool:
        """The backlog is gone: a whole window without completions (or the cap)."""
        in_step = elapsed - self._started
        if in_step >= self.config.max_cooldown_s:
            return True
        obs = self._latest
        return (
            in_step >= self.config.cooldown_s
            and obs is not None
            and bool(obs.windows)
            and obs.windows[-1].requests == 0
        )

    def _judge(self, elapsed: float) -> JudgedStep | None:
        c, tick, obs = self.config, self._tick, self._latest
        if tick is None:
            return None
        in_step = elapsed - self._started
        if in_step < c.warmup_s:
            return None
        if obs is None:
            stability = StabilityVerdict(
                False, 0, self._samples_needed, ("no measurement of this step",)
            )
            slo = None
        else:
            stability = c.stability.check(
                obs.windows, samples=obs.aggregate.requests, samples_needed=self._samples_needed
            )
            slo = evaluate(c.slos, obs.aggregate)
        achieved = obs.throughput if obs is not None else None

        def judged(verdict: Verdict, reasons: tuple[str, ...]) -> JudgedStep:
            return JudgedStep(
                tick.step, tick.load, tick.label, self._started, elapsed, verdict, reasons,
                achieved, slo,
            )  # fmt: skip

        if c.fail_fast and slo is not None and slo.failed and stability.enough_samples:
            return judged(Verdict.FAIL, tuple(str(r) for r in slo.failed))
        if not stability.stable:
            if in_step < c.max_step_s:
                return None
            return judged(
                Verdict.UNSTABLE,
                (f"not stable after {c.max_step_s:g} s", *stability.reasons),
            )
        reasons = [*(slo.reasons() if slo is not None else ()), *self._throughput(obs)]
        return judged(Verdict.FAIL if reasons else Verdict.PASS, tuple(reasons))

    def _throughput(self, obs: StepObservation | None) -> list[str]:
        tick = self._tick
        achieved = obs.throughput if obs is not None else None
        if obs is None or tick is None or achieved is None:
            return ["no throughput measured"]
        if self.config.mode == "open":
            return self._kept_up(tick.load, achieved, obs.measured_s)
        return self._still_rising(tick.load, achieved)

    def _kept_up(self, load: float, achieved: float, seconds: float) -> list[str]:
        """Open loop: achieved within tolerance (and Poisson noise) of the offered rate."""
        expected = load * seconds
        noise = 3.0 / math.sqrt(expected) if expected > 0 else 0.0
        floor = load * (1.0 - self.config.throughput_tolerance - noise)
        if achieved >= floor:
            return []
        return [
            f"throughput {achieved:.4g} requests/s is below the offered {load:.4g} "
            f"(needed >= {floor:.4g})"
        ]

    def _still_rising(self, load: float, achieved: float) -> list[str]:
        """Closed loop: at least ``min_gain`` of the proportional gain over the last good step."""
        ref = self._lo
        if ref is None or ref.achieved_rps is None or ref.load >= load:
            return []
        needed = ref.achieved_rps * (1.0 + self.config.min_gain * (load / ref.load - 1.0))
        if achieved >= needed:
            return []
        return [
            f"throughput stopped rising: {achieved:.4g} requests/s at {load:g} users vs "
            f"{ref.achieved_rps:.4g} at {ref.load:g} (needed >= {needed:.4g})"
        ]

    def _advance(self, judged: JudgedStep, elapsed: float) -> None:
        """Record a judged step, then start the next one or stop."""
        self._history.append(judged)
        if judged.passed:
            if self._lo is None or judged.load > self._lo.load:
                self._lo = judged
        elif self._hi is None or judged.load < self._hi.load:
            self._hi = judged
        if self._hi is None:
            nxt = self._step_up(judged.load)
        elif self._lo is None:
            nxt = self._step_down(judged.load)
        else:
            nxt = self._bisect(self._lo.load, self._hi.load)
        if not isinstance(nxt, StopReason) and len(self._history) >= self.config.max_steps:
            nxt = StopReason.STEP_LIMIT
        if (
            not isinstance(nxt, StopReason)
            and elapsed + self.config.warmup_s >= self.config.max_total_s
        ):
            nxt = StopReason.TIME_LIMIT
        if isinstance(nxt, StopReason):
            self._finish(nxt)
        elif not judged.passed and self.config.cooldown_s > 0:
            self._begin_cooldown(elapsed, nxt)
        else:
            self._begin(elapsed, *nxt)

    def _step_up(self, load: float) -> tuple[float, str] | StopReason:
        c = self.config
        if c.max_load is not None and load >= c.max_load:
            return StopReason.MAX_LOAD
        if c.mode == "closed":
            up = float(max(load + 1, math.ceil(load * c.factor - 1e-9)))
        else:
            up = load * c.factor
        if c.max_load is not None:
            up = min(up, self._whole(c.max_load) if c.mode == "closed" else c.max_load)
        return up, "step-up"

    def _step_down(self, load: float) -> tuple[float, str] | StopReason:
        c = self.config
        floor = c.min_load or 1.0
        if load <= floor:
            return StopReason.MIN_LOAD
        if c.mode == "closed":
            down = float(min(load - 1, math.floor(load / c.factor + 1e-9)))
        else:
            down = load / c.factor
        return max(down, floor), "step-down"

    def _bisect(self, lo: float, hi: float) -> tuple[float, str] | StopReason:
        if hi / lo - 1.0 <= self.config.precision:
            return StopReason.CONVERGED
        mid = math.sqrt(lo * hi)
        if self.config.mode == "closed":
            mid = float(min(max(round(mid), lo + 1), hi - 1))
            if mid <= lo:
                return StopReason.RESOLUTION
        return mid, "bisect"

    def _finish(self, reason: StopReason) -> SearchResult:
        lo, hi = self._lo, self._hi
        self._result = result = SearchResult(
            reason=reason,
            mode=self.config.mode,
            sustainable=lo.load if lo else None,
            first_bad=hi.load if hi else None,
            precision=hi.load / lo.load - 1.0 if lo and hi else None,
            history=tuple(self._history),
            slos=self.config.slos,
        )
        return result
