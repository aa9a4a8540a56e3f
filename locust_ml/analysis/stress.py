"""The stress and spike verdict: where the target breaks, how, and how fast it recovers.

A capacity number says how much load a replica sustains; a stress test asks
what happens past it. Three questions, answered from the steps' numbers only:

**(a) Breaking point.** Steps are put in load order (users in closed loop,
offered requests/s in open loop; ties in time order) and the breaking point
is the first that *fails*: an SLO fails or has no data (a loaded step that
completed nothing has not met its SLO), or its failure ratio breaks the error
budget. ``last_good_load`` is the highest load below it that passed. Steps
with no load (a capacity search's cool-down) are skipped; in a spike test the
``recovery`` step is too - it runs at the baseline load but starts with the
spike's backlog, and (c) judges it instead. Open-loop steps are judged on
latency from the intended send time (``corrected``), as the report's SLO
verdicts are; pass those verdicts as ``verdicts=`` to use them as they are.

**(b) How it failed.** Request outcomes (:mod:`.status`) are summed over the
breaking step and every step after it in time - a spike's recovery included,
where a backlog that times out shows. The failure mode is

* ``"graceful"`` when shedding (``shed``: 429 or 503, the server refusing
  work it cannot do in time) is at least ``graceful_fraction`` (90 %) of the
  failed requests: clients can back off and retry, and the requests that are
  admitted are served;
* ``"not graceful"`` otherwise: 5xx other than 503, timeouts, dropped
  connections, invalid answers (and 4xx other than 429, or anything
  unclassified) make up more than 10 % of the failures;
* ``"none"`` when nothing failed there: no breaking point, or one that broke
  only a latency SLO (it queued instead of refusing: slow, but every request
  was answered).

**(c) Recovery** (spike tests: a step labelled ``spike`` followed by one
labelled ``recovery``). A window of the recovery step is *good* when it
completed requests, every latency SLO admits its percentile (open loop:
corrected), and its failure ratio is within the error budget. Without a
latency SLO the bar is ``baseline_factor`` (1.5) times the baseline step's
p99. The target has recovered at the first window ``w`` that starts a run of
``recovery_windows`` (K, default 3) consecutive good windows - consecutive
by window index, so a window in which nothing completed (absent from the
step's windows) breaks the run. Then::

    recovery_s = w.start - spike.end

Windows are discrete, so ``recovery_s`` is a whole number of windows after
the spike's end (0 when the first recovery window already starts a good
run); the true recovery happened within the window before ``w``. When no
such run exists the target ``did not recover`` within ``watched_s =
recovery.end - spike.end``. ``baseline_p99_ms`` and ``after_p99_ms`` are
the medians of the per-window p99 over the baseline's post-warm-up windows
and over the recovery windows from ``w`` on: the same statistic before and
after, so lasting damage (a cache evicted, a batch size that never came
back) shows as a ratio above 1.

**Passed.** A spike test passes when the baseline load did not break, the
failure mode is not ``"not graceful"``, and the target recovered. A ramp
judged with ``kind="ramp"`` (a stress ramp driven past capacity on purpose)
passes unless it failed not gracefully: breaking is what it was run for.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from locust_ml.analysis.slo import SLO, SLOVerdict, evaluate, step_slo_stats
from locust_ml.analysis.status import STATUS_CLASSES
from locust_ml.analysis.steps import StepStats, WindowStats
from locust_ml.errors import ConfigError

__all__ = [
    "BreakingPoint",
    "FailureCounts",
    "FailureMode",
    "StressConfig",
    "StressVerdict",
    "stress_verdict",
]

FailureMode = Literal["graceful", "not graceful", "none"]
StressKind = Literal["auto", "spike", "ramp"]
#: Outcome classes that are the target refusing work on purpose.
GRACEFUL_CLASSES: Final = ("shed",)
FAILURE_CLASSES: Final = tuple(c for c in STATUS_CLASSES if c != "ok")
#: The default error budget when neither ``error_budget`` nor an ``errors`` SLO is given.
DEFAULT_ERROR_BUDGET: Final = 0.01


@dataclass(frozen=True)
class StressConfig:
    """The stress verdict's knobs (see the module docstring for each rule)."""

    #: Failure ratio allowed per step and per window (inclusive); None: the
    #: ``errors`` SLO's, or 1 % (``errors<1%``) without one.
    error_budget: float | None = None
    recovery_windows: int = 3
    graceful_fraction: float = 0.9
    #: Without a latency SLO, recovery means a window p99 under this x the baseline's p99.
    baseline_factor: float = 1.5
    #: Seconds at the start of the baseline step left out of ``baseline_p99_ms``.
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        checks = (
            (
                self.error_budget is None or 0.0 <= self.error_budget <= 1.0,
                f"error budget must be a fraction in [0, 1], got {self.error_budget!r}",
            ),
            (
                self.recovery_windows >= 1,
                f"recovery windows must be >= 1, got {self.recovery_windows!r}",
            ),
            (
                0.0 < self.graceful_fraction <= 1.0,
                f"graceful fraction must be in (0, 1], got {self.graceful_fraction!r}",
            ),
            (
                math.isfinite(self.baseline_factor) and self.baseline_factor >= 1.0,
                f"baseline factor must be >= 1, got {self.baseline_factor!r}",
            ),
            (
                math.isfinite(self.warmup_s) and self.warmup_s >= 0,
                f"warm-up must be >= 0 s, got {self.warmup_s!r}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def budget_slo(self, slos: Sequence[SLO]) -> SLO:
        """The error budget as an SLO: explicit (inclusive), the errors SLO, or errors<1%."""
        if self.error_budget is not None:
            return SLO.errors(self.error_budget, inclusive=True)
        return next((s for s in slos if s.metric == "errors"), SLO.errors(DEFAULT_ERROR_BUDGET))


@dataclass(frozen=True)
class BreakingPoint:
    """The first failing step in load order."""

    step: int
    label: str
    load: float
    unit: str  # "users" or "requests/s"
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "label": self.label,
            "load": _json(self.load),
            "unit": self.unit,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class FailureCounts:
    """Request outcomes summed over some steps; fractions are of the failed requests."""

    requests: int
    by_class: Mapping[str, int]
    steps: tuple[int, ...] = ()

    @property
    def failures(self) -> int:
        return sum(self.by_class.get(c, 0) for c in FAILURE_CLASSES)

    @property
    def fractions(self) -> dict[str, float]:
        total = self.failures
        return {c: self.by_class.get(c, 0) / total for c in FAILURE_CLASSES} if total else {}

    @property
    def graceful(self) -> int:
        return sum(self.by_class.get(c, 0) for c in GRACEFUL_CLASSES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "requests": self.requests,
            "failures": self.failures,
            "by_class": {c: int(self.by_class.get(c, 0)) for c in STATUS_CLASSES},
            "fractions": {c: _json(v) for c, v in self.fractions.items()},
        }


@dataclass(frozen=True)
class StressVerdict:
    """Breaking point, failure mode and (spike tests) recovery. See the module docstring."""

    kind: str  # "spike" or "ramp"
    breaking_point: BreakingPoint | None
    last_good_load: float | None
    last_good_step: int | None
    load_unit: str
    failure_mode: FailureMode
    failures: FailureCounts
    recovery_s: float | None
    recovered: bool
    passed: bool
    reasons: tuple[str, ...]
    #: Seconds of recovery watched (spike end to the recovery step's end).
    watched_s: float | None = None
    recovery_windows: int = 3
    #: What a good recovery window must meet, e.g. ("p99<500ms", "errors<1%").
    recovery_criteria: tuple[str, ...] = ()
    baseline_p99_ms: float | None = None
    after_p99_ms: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and infinities become None."""
        return {
            "kind": self.kind,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "breaking_point": None
            if self.breaking_point is None
            else self.breaking_point.to_dict(),
            "last_good_load": _json(self.last_good_load),
            "last_good_step": self.last_good_step,
            "load_unit": self.load_unit,
            "failure_mode": self.failure_mode,
            "failures": self.failures.to_dict(),
            "recovered": self.recovered,
            "recovery_s": _json(self.recovery_s),
            "watched_s": _json(self.watched_s),
            "recovery_windows": self.recovery_windows,
            "recovery_criteria": list(self.recovery_criteria),
            "baseline_p99_ms": _json(self.baseline_p99_ms),
            "after_p99_ms": _json(self.after_p99_ms),
        }


def _json(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


# --------------------------------------------------------------------------- steps


def _load(step: StepStats) -> float | None:
    if step.mode == "open":
        return step.offered_rps
    return None if step.users is None else float(step.users)


def _unit(steps: Sequence[StepStats]) -> str:
    return "requests/s" if any(s.mode == "open" for s in steps) else "users"


def _step_failures(
    step: StepStats, slos: Sequence[SLO], budget: SLO, verdict: SLOVerdict | None
) -> tuple[str, ...]:
    """Why ``step`` fails (empty: it passed)."""
    if step.requests <= 0:
        return ("no request completed",)
    v = verdict if verdict is not None else evaluate(tuple(slos), step_slo_stats(step))
    reasons = list(v.reasons())
    if budget not in slos and not budget.admits(step.failure_ratio):
        reasons.append(f"error budget {budget}: measured {budget.format_value(step.failure_ratio)}")
    return tuple(reasons)


def _count(steps: Sequence[StepStats]) -> FailureCounts:
    by_class = dict.fromkeys(STATUS_CLASSES, 0)
    for s in steps:
        status = dict(s.status or {})
        if not status:  # no outcome classes recorded: all failures are unclassified
            status = {"ok": s.requests - s.failures, "other": s.failures}
        for c, n in status.items():
            by_class[c] = by_class.get(c, 0) + int(n)
    return FailureCounts(sum(s.requests for s in steps), by_class, tuple(s.id for s in steps))


def _mode(counts: FailureCounts, c: StressConfig) -> FailureMode:
    if counts.failures == 0:
        return "none"
    return (
        "graceful" if counts.graceful >= c.graceful_fraction * counts.failures else "not graceful"
    )


def _describe(counts: FailureCounts) -> str:
    parts = [
        f"{name} {counts.by_class.get(name, 0)} ({frac * 100:.3g}%)"
        for name, frac in sorted(counts.fractions.items(), key=lambda kv: -kv[1])
        if frac > 0
    ]
    return f"{counts.failures} of {counts.requests} requests failed: " + ", ".join(parts)


# --------------------------------------------------------------------------- recovery


def _p99(step: StepStats, windows: Sequence[WindowStats]) -> float | None:
    vals = [
        v
        for w in windows
        if (v := step.judged_window_ms(w).get("p99")) is not None and math.isfinite(v)
    ]
    return statistics.median(vals) if vals else None


@dataclass(frozen=True)
class _Recovery:
    recovered: bool
    recovery_s: float | None
    watched_s: float
    criteria: tuple[str, ...]
    after_p99_ms: float | None
    notes: tuple[str, ...]


def _latency_bars(
    slos: Sequence[SLO], baseline: StepStats | None, c: StressConfig
) -> tuple[list[SLO], tuple[str, ...]]:
    bars = [s for s in slos if s.metric == "latency"]
    if bars:
        return bars, ()
    ref = None if baseline is None else step_slo_stats(baseline).latency_ms.get("p99")
    if ref is None or not math.isfinite(ref) or ref <= 0:
        return [], ("no latency SLO and no baseline p99: recovery judged on errors only",)
    return [SLO.latency(99, ref * c.baseline_factor)], (
        f"no latency SLO: recovery bar is {c.baseline_factor:g} x the baseline p99 ({ref:.4g} ms)",
    )


def _good(step: StepStats, w: WindowStats, bars: Sequence[SLO], budget: SLO) -> bool:
    if w.requests <= 0 or not budget.admits(w.failures / w.requests):
        return False
    table = step.judged_window_ms(w)
    for slo in bars:
        v = table.get(slo.key or "")
        if v is None or not math.isfinite(v) or not slo.admits(v):
            return False
    return True


def _recovery(
    spike: StepStats,
    recovery: StepStats,
    baseline: StepStats | None,
    slos: Sequence[SLO],
    budget: SLO,
    c: StressConfig,
) -> _Recovery:
    bars, notes = _latency_bars(slos, baseline, c)
    criteria = (*(str(s) for s in bars), str(budget))
    watched = max(recovery.end - spike.end, 0.0)
    windows = sorted(recovery.windows, key=lambda w: w.index)
    k = c.recovery_windows
    run: list[WindowStats] = []
    for w in windows:
        if run and w.index != run[-1].index + 1:
            run = []  # a window without completions in between breaks the run
        run = [*run, w] if _good(recovery, w, bars, budget) else []
        if len(run) == k:
            first = run[0]
            after = [x for x in windows if x.index >= first.index]
            return _Recovery(
                True,
                max(first.start - spike.end, 0.0),
                watched,
                criteria,
                _p99(recovery, after),
                notes,
            )
    return _Recovery(False, None, watched, criteria, None, notes)


# --------------------------------------------------------------------------- verdict


def _kind(steps: Sequence[StepStats], kind: StressKind) -> str | None:
    if kind == "auto":
        return "spike" if any(s.label == "spike" for s in steps) else None
    if kind not in ("spike", "ramp"):
        raise ConfigError(f"stress verdict kind must be 'auto', 'spike' or 'ramp', got {kind!r}")
    return kind


@dataclass(frozen=True)
class _Roles:
    """A spike test's steps by role (all None in a ramp)."""

    baseline: StepStats | None
    spike: StepStats | None
    recovery: StepStats | None


def _roles(timeline: Sequence[StepStats], which: str) -> _Roles:
    if which != "spike":
        return _Roles(None, None, None)
    spike = next((s for s in timeline if s.label == "spike"), None)
    if spike is None:
        return _Roles(None, None, None)
    recovery = next((s for s in timeline if s.label == "recovery" and s.start >= spike.start), None)
    baseline = next((s for s in timeline if s.label == "baseline" and s.end <= spike.start), None)
    return _Roles(baseline, spike, recovery)


@dataclass(frozen=True)
class _Breaking:
    point: BreakingPoint | None
    last_good: StepStats | None
    notes: tuple[str, ...]


def _breaking(
    judged: Sequence[StepStats],
    slos: Sequence[SLO],
    budget: SLO,
    verdicts: Mapping[int, SLOVerdict],
    unit: str,
) -> _Breaking:
    """The first failing step in load order, and the highest passing load below it."""
    order = sorted(judged, key=lambda s: (_load(s) or 0.0, s.start, s.id))
    failing = {
        s.id: why for s in order if (why := _step_failures(s, slos, budget, verdicts.get(s.id)))
    }
    first = next((s for s in order if s.id in failing), None)
    if first is None:
        return _Breaking(None, order[-1] if order else None, ())
    load = _load(first) or 0.0
    point = BreakingPoint(first.id, first.label, load, unit, failing[first.id])
    below = [s for s in order if (_load(s) or 0.0) < load]
    above_ok = any((_load(s) or 0.0) > load and s.id not in failing for s in order)
    notes = (
        ("a higher load than the breaking point passed: the failure may be transient",)
        if above_ok
        else ()
    )
    return _Breaking(point, below[-1] if below else None, notes)


def stress_verdict(
    steps: Sequence[StepStats],
    slos: Sequence[SLO] = (),
    *,
    kind: StressKind = "auto",
    recovery_windows: int = 3,
    error_budget: float | None = None,
    warmup_s: float = 0.0,
    verdicts: Mapping[int, SLOVerdict] | None = None,
    config: StressConfig | None = None,
) -> StressVerdict | None:
    """Judge a spike test (or, with ``kind="ramp"``, a stress ramp); None otherwise.

    ``kind="auto"`` judges runs with a step labelled ``spike`` and returns
    None for any other. ``verdicts`` (step id -> SLO verdict, e.g. the
    report's) replace this module's own evaluation of each step. ``config``
    overrides every knob at once (then ``recovery_windows``,
    ``error_budget`` and ``warmup_s`` are ignored).
    """
    c = config or StressConfig(
        error_budget=error_budget, recovery_windows=recovery_windows, warmup_s=warmup_s
    )
    which = _kind(steps, kind)
    if which is None:
        return None
    timeline = sorted(steps, key=lambda s: (s.start, s.id))
    budget = c.budget_slo(slos)
    roles = _roles(timeline, which)
    judged = [s for s in timeline if (_load(s) or 0.0) > 0 and s is not roles.recovery]
    unit = _unit(judged or timeline)
    b = _breaking(judged, slos, budget, verdicts or {}, unit)
    notes: list[str] = list(b.notes)
    reasons: list[str] = []

    # How it failed: from the breaking step on, in time; everything when it never broke.
    if b.point is None:
        considered = [s for s in timeline if (_load(s) or 0.0) > 0]
    else:
        at = next(s for s in timeline if s.id == b.point.step)
        considered = [s for s in timeline if s.start >= at.start and (_load(s) or 0.0) > 0]
    counts = _count(considered)
    mode = _mode(counts, c) if b.point is not None else "none"
    if b.point is None:
        notes.append(f"no step failed: {which} did not reach a breaking point")
    elif mode == "none":
        notes.append(
            f"breaks at {b.point.load:g} {unit} on latency only: nothing was refused "
            "(it queues rather than sheds)"
        )
    else:
        text = f"{mode} failure from {b.point.load:g} {unit}: {_describe(counts)}"
        (reasons if mode == "not graceful" else notes).append(text)

    base = roles.baseline
    before = (
        None
        if base is None
        else _p99(base, [w for w in base.windows if w.start >= base.start + c.warmup_s - 1e-9])
    )
    r: _Recovery | None = None
    if which == "spike":
        if base is not None and b.point is not None and b.point.step == base.id:
            reasons.append(
                f"the baseline load ({b.point.load:g} {unit}) already fails: "
                + "; ".join(b.point.reasons)
            )
        if roles.spike is None or roles.recovery is None:
            reasons.append("no recovery step after the spike: recovery was not observed")
        else:
            r = _recovery(roles.spike, roles.recovery, base, slos, budget, c)
            notes.extend(r.notes)
            if not r.recovered:
                reasons.append(
                    f"did not recover: no {c.recovery_windows} consecutive windows met "
                    f"{', '.join(r.criteria)} in the {r.watched_s:.4g} s watched after the spike"
                )
            elif before and r.after_p99_ms and r.after_p99_ms > c.baseline_factor * before:
                notes.append(
                    f"p99 after recovery ({r.after_p99_ms:.4g} ms) is "
                    f"{r.after_p99_ms / before:.3g} x the baseline's ({before:.4g} ms)"
                )

    return StressVerdict(
        kind=which,
        breaking_point=b.point,
        last_good_load=None if b.last_good is None else _load(b.last_good),
        last_good_step=None if b.last_good is None else b.last_good.id,
        load_unit=unit,
        failure_mode=mode,
        failures=counts,
        recovery_s=None if r is None else r.recovery_s,
        recovered=r is not None and r.recovered,
        passed=not reasons,
        reasons=tuple(reasons),
        watched_s=None if r is None else r.watched_s,
        recovery_windows=c.recovery_windows,
        recovery_criteria=() if r is None else r.criteria,
        baseline_p99_ms=before,
        after_p99_ms=None if r is None else r.after_p99_ms,
        notes=tuple(notes),
    )
