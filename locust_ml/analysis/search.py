"""The adaptive capacity search: the highest load that still meets the SLOs.

A fixed ramp spends most of its time far from the interesting load and
resolves the answer only to its step size. The search measures first, then
brackets the answer and narrows the bracket, judging each step as soon as the
statistics allow.

It is a state machine, ``search.at(elapsed, measurement) -> Tick | None``,
fed by the Locust glue about once a second with the latest measurement of
the current step (a :class:`~locust_ml.analysis.judge.StepMeasurement`); it
never reads a clock, so tests drive it with synthetic targets.

**1. Saturation probe** (open loop only). Requests are kept in flight at a
concurrency that doubles from ``probe_start`` (a closed loop run by the
arrival driver, so it needs no user spawning): each probe step lasts until
it has ``probe_requests`` completions (at least ``probe_min_s``, at most
``probe_max_s``; one whose target sheds ends once it has that many
answers of any kind), and the probe stops when ``probe_plateau`` (2)
doublings in a row no longer raise the good throughput by ``probe_gain``
(5 %) over the best so far, when the error ratio passes the ceiling (the
target sheds), or at ``probe_max``. Two, because a dynamic batcher's
throughput can stall for one doubling and rise at the next: 8 requests in
flight, added as 4 to 4 already going, can run on a server that batches 8 as
two cohorts of 4 that never share a batch (each is in flight while the
other's batch runs), no faster than 4; 16 fill its batches. One doubling was
taken for saturation there, and the search, which never offers more than the
probe's saturation, found 14 % less than the target sustains
(benchmarks/prefix_capacity.py). The best
good throughput seen, ``X_max``, is the target's measured saturation - what
GuideLLM's throughput mode and inference-perf's saturation stage read. Its
latency at the saturating step sizes the warm-up of later steps (twice the
median, at least ``min_warmup_s``: the requests in flight at a step change
finish well within it).

**2. Bracket and bisect.** Open loop: the first step offers ``start_fraction``
(0.9) of ``X_max`` as Poisson arrivals (or the arrival process asked for).
While steps pass the load goes up (to ``X_max``, then by ``factor_up`` per
step); once one fails, down by ``factor_down`` until one passes; then
bisection at the geometric mean of the last passing load ``lo`` and the first
failing ``hi`` until ``hi / lo - 1 <= precision``. Closed loop (``mode=
"closed"``) searches users the same way from ``start`` users, doubling while
steps pass; there the search also stops once the good throughput of the
failing step is within ``precision`` of the passing one's (on a throughput
plateau more users only queue: the capacity is known, whatever the user
count), or when ``hi = lo + 1``.

**Judging a step** is :func:`~locust_ml.analysis.judge.judge_step`, the same
function the report and the run verdict use, so the search fails a step for
exactly what would make the verdict reject it (too few samples, unstable,
the generator behind) and bisects on. A step is judged once it has its
samples and is stable, but not before ``min_step_s`` of measurement: near
saturation a queue grows by a few percent of the rate per second, and a step
judged sooner passes loads the target cannot sustain. One still undecided
after ``max_step`` (30 s; longer while a slow target is still answering
the requests the SLO percentile needs) is judged as it stands
(``final``), which fails it.
Failing by an SLO, the error ceiling or a completions shortfall is decided
as soon as the samples suffice.

How long "not before" is follows from how overload shows: a queue fed a
fraction ``e`` above capacity grows by ``e`` seconds of latency per second,
while a queue below capacity but near it wanders on a time scale that grows
as ``1/(1 - sqrt(rho))**2`` (about 14 s at 95 % load for a 100 req/s target).
Simulated against the reference server's batching model, 10 s of
measurement passed 25-38 % of steps 6 % above saturation; 20 s passed none,
and still passed 94-100 % of steps at 95-97 % of it. So open-loop steps at
``near_fraction`` (90 %) of the probe's saturation or more need
``near_step_s`` (20 s), others ``min_step_s`` (10 s).

**Between steps.** After a failed step no load is offered until the target
has drained its backlog (a window without completions, at least
``cooldown_s``), so the next step does not start behind a queue.

**Stopping** (:class:`StopReason`): converged; resolution (closed loop, one
user apart); throughput (closed loop, the plateau above); max-load;
min-load (even the floor failed); step-limit; time-limit (no step is started
that could not finish its minimum before ``max_time``); stopped (the
caller ended it). The :class:`SearchResult` keeps every judged step with its
outcome and reasons; the capacity figure itself is computed by the report
from the steps' statistics (:mod:`locust_ml.analysis.capacity`), the same way
as for any other test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement, StepMeasurement, judge_step
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.stability import StabilityRule
from locust_ml.errors import ConfigError
from locust_ml.schedules import LoadMode, Tick, format_seconds

__all__ = [
    "CapacitySearch",
    "JudgedStep",
    "SearchConfig",
    "SearchResult",
    "StopReason",
]


class StopReason(StrEnum):
    CONVERGED = "converged"
    RESOLUTION = "resolution"
    THROUGHPUT = "throughput"
    MAX_LOAD = "max-load"
    MIN_LOAD = "min-load"
    STEP_LIMIT = "step-limit"
    TIME_LIMIT = "time-limit"
    STOPPED = "stopped"


#: The steady-state rule every step is judged with (the report's too).
SEARCH_STABILITY = StabilityRule()


@dataclass(frozen=True)
class SearchConfig:
    """Parameters of the search; see the module docstring for their roles.

    >>> from locust_ml.analysis.slo import parse_slos
    >>> SearchConfig(slos=parse_slos(["p99<300ms"])).mode
    'open'
    """

    slos: tuple[SLO, ...] = ()
    mode: LoadMode = "open"
    #: Closed loop: the first user count. Open loop: a first rate to try
    #: instead of probing (None: probe).
    start: float | None = None
    precision: float = 0.03
    start_fraction: float = 0.9
    factor_up: float = 1.1
    factor_down: float = 0.75
    min_load: float | None = None
    max_load: float | None = None
    probe_start: int = 1
    probe_max: int = 1024
    probe_gain: float = 0.05
    #: Doublings in a row without ``probe_gain`` before the probe calls it saturated.
    probe_plateau: int = 2
    probe_requests: int = 100
    probe_min_s: float = 2.0
    probe_max_s: float = 15.0
    #: Warm-up of each step; None: twice the probe's median latency at
    #: saturation, at least ``min_warmup_s``.
    warmup_s: float | None = None
    min_warmup_s: float = 2.0
    max_warmup_s: float = 15.0
    min_step_s: float = 10.0
    #: Open loop, loads of at least ``near_fraction`` of the probe's saturation:
    #: the minimum measurement before a pass (module docstring).
    near_step_s: float = 20.0
    near_fraction: float = 0.9
    #: Seconds a step is measured at most (longer while a slow target answers).
    max_step: float = 30.0
    max_steps: int = 40
    #: Seconds the whole search may take.
    max_time: float = 600.0
    min_requests: int = 100
    error_ceiling: float | None = 0.01
    throughput_tolerance: float = 0.05
    stability: StabilityRule = SEARCH_STABILITY
    spawn_rate: float = 100.0
    pool_users: int | None = None
    #: After a failed step, offer no load until the target has drained its
    #: backlog (a window without completions, at least this long).
    cooldown_s: float = 2.0
    max_cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "slos", tuple(self.slos))
        unit = "users" if self.mode == "closed" else "requests/s"
        checks = [
            (
                self.mode in ("closed", "open"),
                f"mode must be 'closed' or 'open', got {self.mode!r}",
            ),
            (
                self.start is None or (math.isfinite(self.start) and self.start > 0),
                f"start must be > 0 {unit}, got {self.start!r}",
            ),
            (
                0 < self.precision < 1,
                f"precision must be in (0, 1) (e.g. 0.03 for 3 %), got {self.precision!r}",
            ),
            (
                0 < self.start_fraction <= 1,
                f"start fraction must be in (0, 1], got {self.start_fraction!r}",
            ),
            (self.factor_up > 1, f"factor up must be > 1, got {self.factor_up!r}"),
            (0 < self.factor_down < 1, f"factor down must be in (0, 1), got {self.factor_down!r}"),
            (
                self.min_load is None or self.min_load > 0,
                f"min load must be > 0 {unit}, got {self.min_load!r}",
            ),
            (
                self.max_load is None
                or (self.max_load > 0 and (self.start is None or self.max_load >= self.start)),
                f"max load ({self.max_load}) must be > 0 and >= start ({self.start})",
            ),
            (1 <= self.probe_start <= self.probe_max, "probe concurrency: 1 <= start <= max"),
            (self.probe_gain > 0, f"probe gain must be > 0, got {self.probe_gain!r}"),
            (
                self.probe_plateau >= 1,
                f"probe plateau must be >= 1 doubling, got {self.probe_plateau!r}",
            ),
            (0 < self.probe_min_s <= self.probe_max_s, "probe step time: 0 < min <= max"),
            (
                self.warmup_s is None or self.warmup_s >= 0,
                f"warm-up must be >= 0 s, got {self.warmup_s!r}",
            ),
            (0 <= self.min_warmup_s <= self.max_warmup_s, "warm-up bounds: 0 <= min <= max"),
            (
                0 < self.min_step_s <= self.max_step,
                f"max_step ({self.max_step:g} s) must be at least a step's shortest time "
                f"({self.min_step_s:g} s)",
            ),
            (
                self.max_time >= self.max_step,
                f"max step time ({self.max_step:g} s) is longer than the whole search "
                f"({self.max_time:g} s)",
            ),
            (self.max_steps >= 1, f"max steps must be >= 1, got {self.max_steps}"),
            (self.min_requests >= 1, f"min requests must be >= 1, got {self.min_requests}"),
            (
                0 <= self.throughput_tolerance < 1,
                f"throughput tolerance must be in [0, 1), got {self.throughput_tolerance!r}",
            ),
            (self.spawn_rate > 0, f"spawn rate must be > 0 users/s, got {self.spawn_rate!r}"),
            (
                self.pool_users is None or self.pool_users >= 1,
                f"pool users must be >= 1, got {self.pool_users}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"capacity search: {message}")
        if self.mode == "closed" and self.start is not None and self.start != int(self.start):
            raise ConfigError(
                f"capacity search: start must be a whole number of users, got {self.start!r}"
            )

    @property
    def rule(self) -> JudgeRule:
        """The step judgement the search shares with the report and the verdict."""
        return JudgeRule(
            slos=self.slos,
            stability=self.stability,
            error_ceiling=self.error_ceiling,
            throughput_tolerance=self.throughput_tolerance,
            min_requests=self.min_requests,
        )


@dataclass(frozen=True)
class JudgedStep:
    """One step of the search, judged; ``step`` is the report's step id."""

    step: int
    load: float
    phase: str
    start: float
    end: float
    outcome: Outcome
    reasons: tuple[str, ...]
    #: Good (successful) requests per second the step measured, as judged.
    ok_rps: float | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def probe(self) -> bool:
        return self.phase == "probe"


@dataclass(frozen=True)
class SearchResult:
    """Why the search stopped, what it measured and how it judged each step.

    ``sustainable`` is the highest load that passed (None if none did);
    ``first_bad`` the lowest failing load above it (None if none failed);
    ``saturation_rps`` the probe's best good throughput. Loads are users
    (closed loop) or requests/s (open loop).
    """

    reason: StopReason
    mode: LoadMode
    sustainable: float | None
    first_bad: float | None
    history: tuple[JudgedStep, ...]
    slos: tuple[SLO, ...]
    saturation_rps: float | None = None
    elapsed_s: float = 0.0
    rule: JudgeRule = field(default_factory=JudgeRule)

    @property
    def precision(self) -> float | None:
        if self.sustainable is None or self.first_bad is None:
            return None
        return self.first_bad / self.sustainable - 1.0

    @property
    def judged(self) -> dict[int, bool]:
        """Each judged step's id -> passed (probe steps are not capacity judgements)."""
        return {j.step: j.passed for j in self.history if not j.probe}

    def summary(self) -> str:
        """One line for the console: how it ended, not a second capacity figure."""
        searched = [j for j in self.history if not j.probe]
        probe = len(self.history) - len(searched)
        parts = [f"{len(searched)} search steps"]
        if probe:
            parts.insert(0, f"{probe} saturation-probe steps")
        return (
            f"capacity search {self.reason} after {self.elapsed_s:.0f} s "
            f"({', '.join(parts)}; SLOs: {self.rule.describe() or 'none'})"
        )


def _round3(x: float) -> float:
    """``x`` to three significant digits: loads people can read and type again."""
    if x <= 0 or not math.isfinite(x):
        return x
    digits = 2 - math.floor(math.log10(x))
    return round(x, digits)


class CapacitySearch:
    """The search state machine; see the module docstring.

    >>> from locust_ml.analysis.slo import parse_slos
    >>> search = CapacitySearch(SearchConfig(slos=parse_slos(["p99<300ms"])))
    >>> tick = search.at(0.0)
    >>> tick.concurrency, tick.mode, tick.label
    (1, 'closed', 'probe')
    """

    def __init__(self, config: SearchConfig | None = None) -> None:
        self.config = config or SearchConfig()
        self.rule = self.config.rule
        self._history: list[JudgedStep] = []
        self._pending: tuple[float, str] | None = None
        self._tick: Tick | None = None
        self._started = 0.0
        self._latest: StepMeasurement | None = None
        self._lo: JudgedStep | None = None
        self._hi: JudgedStep | None = None
        self._result: SearchResult | None = None
        self._probing = self.config.mode == "open" and self.config.start is None
        self._x_max: float | None = None
        #: Open loop: no load above this passes (the probe's saturation, module docstring).
        self._ceiling: float | None = None
        self._probe_latency_ms: float | None = None
        #: Probe steps in a row that did not raise the good throughput by the gain.
        self._flat = 0
        self._warmup = self.config.warmup_s if self.config.warmup_s is not None else 0.0
        self._elapsed = 0.0
        self._next_step = 1

    # -- public state -------------------------------------------------------------------
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

    @property
    def saturation_rps(self) -> float | None:
        """The probe's measured saturation (best good throughput), once probed."""
        return self._x_max

    def at(self, elapsed: float, measurement: StepMeasurement | None = None) -> Tick | None:
        """The tick at ``elapsed`` s; ``measurement`` measures the current step (others ignored)."""
        if self._result is not None:
            return None
        self._elapsed = elapsed
        if self._tick is None:
            if self._probing:
                return self._begin(elapsed, float(self.config.probe_start), "probe")
            return self._begin(elapsed, self._first_load(), "step-up")
        if measurement is not None and measurement.step == self._tick.step:
            self._latest = measurement
        if elapsed >= self.config.max_time:
            self._finish(StopReason.TIME_LIMIT)
        elif self._pending is not None:
            if self._cooled_down(elapsed):
                pending, self._pending = self._pending, None
                self._begin_or_stop(elapsed, pending)
        elif self._tick.label == "probe":
            self._probe_step(elapsed)
        else:
            judged = self._judge(elapsed)
            if judged is not None:
                self._advance(judged, elapsed)
        return self.current

    @property
    def longest(self) -> float:
        """The most seconds the search can run (``max_time``)."""
        return self.config.max_time

    def describe(self) -> str:
        """One line for the console: how the search goes, and its time limit."""
        c = self.config
        probe = "a saturation probe, then " if self._probing else ""
        return (
            f"capacity search: {probe}steps judged as soon as the statistics allow "
            f"(at most {format_seconds(c.max_time)} in all)"
        )

    def stop(self) -> SearchResult:
        """End the search now (the test was stopped) and return what it has found."""
        return self._result or self._finish(StopReason.STOPPED)

    # -- steps ---------------------------------------------------------------------------
    def _first_load(self) -> float:
        c = self.config
        if c.mode == "closed":
            return float(round(c.start)) if c.start is not None else 1.0
        return float(c.start) if c.start is not None else 1.0

    def _whole(self, load: float) -> float:
        return float(round(load)) if self.config.mode == "closed" else _round3(load)

    def _begin(self, elapsed: float, load: float, phase: str) -> Tick:
        c = self.config
        step = self._next_step
        self._next_step += 1
        if phase == "probe":
            tick = Tick.probe(step, int(load), c.spawn_rate, warmup_s=min(1.0, c.probe_min_s / 2))
        else:
            warmup = self._warmup
            if c.mode == "closed":
                # Users are started at the spawn rate: the warm-up starts after them.
                warmup = max(c.min_warmup_s, warmup) + load / c.spawn_rate
            tick = Tick.of(step, load, c.mode, c.spawn_rate, warmup, phase, pool_users=c.pool_users)
        self._tick, self._started, self._latest = tick, elapsed, None
        return tick

    def _begin_or_stop(self, elapsed: float, nxt: tuple[float, str]) -> None:
        c = self.config
        if elapsed + self._warmup + c.min_step_s >= c.max_time:
            self._finish(StopReason.TIME_LIMIT)
        else:
            self._begin(elapsed, *nxt)

    def _begin_cooldown(self, elapsed: float, pending: tuple[float, str]) -> None:
        c = self.config
        step = self._next_step
        self._next_step += 1
        self._tick = Tick.of(
            step, 0, c.mode, c.spawn_rate, 0.0, "cooldown", pool_users=c.pool_users
        )
        self._started, self._latest, self._pending = elapsed, None, pending

    def _cooled_down(self, elapsed: float) -> bool:
        """The backlog is gone: a whole window without completions (or the cap)."""
        in_step = elapsed - self._started
        if in_step >= self.config.max_cooldown_s:
            return True
        m = self._latest
        return (
            in_step >= self.config.cooldown_s
            and m is not None
            and bool(m.windows)
            and m.windows[-1].requests == 0
        )

    # -- the probe -----------------------------------------------------------------------
    def _probe_step(self, elapsed: float) -> None:
        c, tick, m = self.config, self._tick, self._latest
        assert tick is not None  # noqa: S101 - at() checked
        in_step = elapsed - self._started
        if in_step < tick.warmup_s + c.probe_min_s:
            return
        ceiling = self.rule.ceiling
        errors = m.stats.failure_ratio if m is not None else 0.0
        shedding = ceiling is not None and errors > ceiling
        # Enough good answers; or enough answers to see the target shed (each
        # refusal comes back at once: waiting for good ones floods it).
        done = m is not None and (
            m.ok >= c.probe_requests or (shedding and m.requests >= c.probe_requests)
        )
        if not done and in_step < tick.warmup_s + c.probe_max_s:
            return
        ok_rps = m.ok_rps if m is not None else None
        best = max((j.ok_rps or 0.0 for j in self._history if j.probe), default=0.0)
        reasons: list[str] = []
        gained = ok_rps is not None and ok_rps >= best * (1.0 + c.probe_gain)
        if ok_rps is not None and ok_rps > best:
            self._x_max = ok_rps
            if m is not None:
                self._probe_latency_ms = m.stats.latency_ms.get("p50")
        self._flat = 0 if gained else self._flat + 1
        flat = (
            f"good throughput {ok_rps or 0:.4g}/s did not rise {c.probe_gain:.0%} over "
            f"the best so far ({best:.4g}/s)"
        )
        note = None
        if shedding:
            reasons.append(f"errors {errors:.1%} above the {ceiling:.0%} ceiling: the target sheds")
        elif self._flat >= c.probe_plateau:
            doublings = f"{self._flat} doublings in a row" if self._flat > 1 else "a doubling"
            reasons.append(f"{flat}: saturated ({doublings} without the gain)")
        elif not gained:
            note = f"{flat}: one more doubling to see whether the plateau holds"
        concurrency = tick.concurrency or 1
        last = concurrency * 2 > c.probe_max
        if last and not reasons:
            reasons.append(f"reached the probe's maximum of {c.probe_max} requests in flight")
        if gained:
            self._ceiling = None  # rising again: the plateau was a batcher's stall
        elif self._x_max:
            # A plateau (shedding or not): the target completes no more than this.
            self._ceiling = self._x_max * (1.0 + c.precision)
        # Probe steps measure; they are not capacity judgements (JudgedStep.probe).
        self._history.append(
            JudgedStep(
                tick.step,
                float(concurrency),
                "probe",
                self._started,
                elapsed,
                Outcome.PASS,
                tuple(reasons) or (note or f"good throughput {ok_rps or 0:.4g}/s, still rising",),
                ok_rps,
            )
        )
        if not reasons:
            self._begin(elapsed, float(concurrency * 2), "probe")
            return
        self._end_probe(elapsed)

    def _end_probe(self, elapsed: float) -> None:
        c = self.config
        self._probing = False
        if c.warmup_s is None:
            latency_s = (self._probe_latency_ms or 0.0) / 1000.0
            self._warmup = min(max(c.min_warmup_s, 2.0 * latency_s), c.max_warmup_s)
        if not self._x_max:
            self._finish(StopReason.MIN_LOAD)
            return
        first = self._whole(max(self._x_max * c.start_fraction, c.min_load or 0.0))
        # Let whatever queue the probe built drain before the first measured step.
        self._begin_cooldown(elapsed, (first, "step-up"))

    # -- judging -------------------------------------------------------------------------
    def _judge(self, elapsed: float) -> JudgedStep | None:
        tick, m = self._tick, self._latest
        if tick is None:
            return None
        in_step = elapsed - self._started
        if in_step < tick.warmup_s:
            return None
        timed_out = in_step >= tick.warmup_s + self._max_step(m)
        judgement: StepJudgement | None
        if m is None:
            judgement = None
            if timed_out:
                judgement = StepJudgement(
                    tick.step, Outcome.NO_ANSWERS, ("no measurement of this step",)
                )
        else:
            judgement = judge_step(m, self.rule, final=timed_out)
            if (
                judgement is not None
                and judgement.passed
                and not timed_out
                and m.seconds < self._min_step(tick.load)
            ):
                judgement = None  # a pass needs its minimum of measurement (module docstring)
        if judgement is None:
            return None
        return JudgedStep(
            tick.step,
            tick.load,
            tick.label,
            self._started,
            elapsed,
            judgement.outcome,
            judgement.reasons,
            m.ok_rps if m is not None else None,
        )

    def _max_step(self, m: StepMeasurement | None) -> float:
        """Seconds a step may be measured: ``max_step``, longer while samples accrue.

        A slow target may need more than ``max_step`` to answer the
        requests its SLO percentile needs; cutting it short would fail it
        for want of data. Such a step may run until it has them (at its
        current rate, plus a quarter), within the search's time limit.
        """
        c = self.config
        rate = m.achieved_rps if m is not None else None
        if not rate or m is None or m.requests >= self.rule.samples_needed:
            return c.max_step
        return max(c.max_step, 1.25 * self.rule.samples_needed / rate)

    def _min_step(self, load: float) -> float:
        """Seconds of measurement a pass needs: more near saturation (module docstring)."""
        c = self.config
        near = (
            c.mode == "open" and self._x_max is not None and load >= c.near_fraction * self._x_max
        )
        return max(c.min_step_s, c.near_step_s) if near else c.min_step_s

    def _advance(self, judged: JudgedStep, elapsed: float) -> None:
        """Record a judged step, then start the next one or stop."""
        self._history.append(judged)
        if judged.passed:
            if self._lo is None or judged.load > self._lo.load:
                self._lo = judged
        elif self._hi is None or judged.load < self._hi.load:
            self._hi = judged
        nxt: tuple[float, str] | StopReason
        top = self._top()
        below_saturation = self._x_max is not None and judged.load < self._whole(self._x_max)
        if self._lo is not None and (top is None or (self._hi is None and below_saturation)):
            nxt = self._step_up(judged.load)
        elif self._lo is None:
            nxt = self._step_down(judged.load if top is None else min(judged.load, top))
        else:
            assert top is not None  # noqa: S101 - the first branch took the other case
            nxt = self._bisect(self._lo.load, top, self._lo.ok_rps, self._hi)
        if not isinstance(nxt, StopReason) and len(self._history) >= self.config.max_steps:
            nxt = StopReason.STEP_LIMIT
        if isinstance(nxt, StopReason):
            self._finish(nxt)
        elif not judged.passed and self.config.cooldown_s > 0:
            self._begin_cooldown(elapsed, nxt)
        else:
            self._begin_or_stop(elapsed, nxt)

    def _plateau(self) -> bool:
        """Closed loop: the last two passing doublings raised good throughput by < precision."""
        passed = [j for j in self._history if j.passed and not j.probe and j.ok_rps]
        if len(passed) < 3:
            return False
        a, b, top = passed[-3:]
        best = max(a.ok_rps or 0.0, 1e-12)
        return (b.ok_rps or 0.0) / best - 1.0 <= self.config.precision and (
            top.ok_rps or 0.0
        ) / best - 1.0 <= self.config.precision

    def _step_up(self, load: float) -> tuple[float, str] | StopReason:
        c = self.config
        if c.max_load is not None and load >= c.max_load:
            return StopReason.MAX_LOAD
        if c.mode == "closed" and self._plateau():
            return StopReason.THROUGHPUT
        if c.mode == "closed":
            up = float(max(load + 1, math.ceil(load * 2 - 1e-9)))
        elif self._x_max is not None and load < self._whole(self._x_max):
            up = self._x_max  # from the probe's fraction straight to its saturation
        else:
            up = load * c.factor_up
        if c.max_load is not None:
            up = min(up, c.max_load)
        return self._whole(up), "step-up"

    def _step_down(self, load: float) -> tuple[float, str] | StopReason:
        c = self.config
        floor = c.min_load or (1.0 if c.mode == "closed" else min(1.0, load))
        if load <= floor:
            return StopReason.MIN_LOAD
        if c.mode == "closed":
            down = float(min(load - 1, math.floor(load * c.factor_down + 1e-9)))
        else:
            down = load * c.factor_down
        return self._whole(max(down, floor)), "step-down"

    def _top(self) -> float | None:
        """The lowest load known to fail: the first failing step's, or the probe's ceiling."""
        tops = [x for x in (self._hi.load if self._hi else None, self._ceiling) if x is not None]
        return min(tops) if tops else None

    def _bisect(
        self, lo: float, hi: float, lo_rps: float | None, failed: JudgedStep | None
    ) -> tuple[float, str] | StopReason:
        c = self.config
        if hi <= lo or hi / lo - 1.0 <= c.precision:
            # Within the precision (or a failure below a pass - noise near the
            # limit, trust the failure): done.
            return StopReason.CONVERGED
        if (
            c.mode == "closed"
            and lo_rps
            and failed is not None
            and failed.ok_rps is not None
            and failed.ok_rps / lo_rps - 1.0 <= c.precision
        ):
            return StopReason.THROUGHPUT
        mid = math.sqrt(lo * hi)
        if c.mode == "closed":
            mid = float(min(max(round(mid), lo + 1), hi - 1))
            if mid <= lo:
                return StopReason.RESOLUTION
        else:
            mid = self._whole(mid)
        return mid, "bisect"

    def _finish(self, reason: StopReason) -> SearchResult:
        lo, hi = self._lo, self._hi
        self._result = result = SearchResult(
            reason=reason,
            mode=self.config.mode,
            sustainable=lo.load if lo else None,
            first_bad=hi.load if hi and (lo is None or hi.load > lo.load) else None,
            history=tuple(self._history),
            slos=self.config.slos,
            saturation_rps=self._x_max,
            elapsed_s=self._elapsed,
            rule=self.rule,
        )
        return result
