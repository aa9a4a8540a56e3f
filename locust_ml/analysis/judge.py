"""One judgement of a load step, shared by the capacity search, the report and the verdict.

A step's verdict used to be reached three ways: the capacity search judged
a running step on its windows, the report re-judged the whole step against
the SLOs, and the run verdict checked the deciding step's stability with
other parameters. They disagreed (a search could pass a step the verdict
then rejected as drifting). Here there is one function, :func:`judge_step`,
and everything asks it: the search while a step runs (``final=False``: it
may answer "not yet"), the report when the run is over (``final=True``),
and the verdict reads the judgements.

A step **passes** when, over its measured part (after its warm-up):

1. something completed (a step in which the target answered nothing fails:
   a hung or dead target is not a fast one); and errors stayed under the
   ceiling (below) - failed answers are the target's, however busy the load
   generator was (a target refusing connections makes closed-loop users spin);
2. the load generator kept its schedule: no open-loop send dropped, sends
   late by no more than :func:`lateness_limit_ms` at p99, its CPU below
   :data:`GENERATOR_CPU_LIMIT`, and none of its workers stopped during the
   step (until the master notices, about 3 s, what that worker carried is
   not sent; counting the sends can't show it, as its unreported ones are
   lost with it) - otherwise the generator, not the target, shaped the
   numbers; the failure is marked as the generator's;
3. every SLO holds (:func:`~locust_ml.analysis.slo.evaluate`: no data is
   not a pass), and the error ratio is at most the **error ceiling**
   (default 1 %) when the user gave no ``errors`` SLO of their own: a step
   that fails one request in fifty does not sustain its load, whatever its
   latency says;
4. open loop: the load generator sent what was offered, and completions
   kept up with what was sent, each within ``throughput_tolerance`` plus
   three standard deviations of a Poisson count (a queue that grows shows
   first as a shortfall; a generator that could not send is the
   generator's failure, not the target's);
5. there are enough requests for the SLO percentiles at the stated
   confidence and the step was stable
   (:class:`~locust_ml.analysis.stability.StabilityRule`: enough windows,
   windows that agree, no drift, no steady trend).

Failing 1-4 is decided as soon as there are enough samples to say so (an
SLO that already fails with enough samples only gets worse under load).
Failing 5 is "not yet" while the step runs, and a failure once it is over
(``final=True``): a step that could not show it was stable, or that has too
few requests to support its percentile, is not a load the target was shown
to sustain. The reason says which; 2 and 5 make the *measurement*
untrustworthy (``valid`` is False), 1, 3 and 4 are the target's doing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.slo import SLO, SLOStats, SLOVerdict, evaluate, step_slo_stats
from locust_ml.analysis.stability import StabilityRule
from locust_ml.analysis.steps import StepStats, WindowStats, measured_windows

__all__ = [
    "DEFAULT_ERROR_CEILING",
    "GENERATOR_CPU_LIMIT",
    "JudgeRule",
    "Outcome",
    "StepJudgement",
    "StepMeasurement",
    "judge_step",
    "lateness_limit_ms",
    "measure_step",
]

#: Error ratio above which a step fails when no ``errors`` SLO was given.
DEFAULT_ERROR_CEILING: Final = 0.01
#: The load generator's CPU (percent of a core, busiest process) above which
#: a step measured the generator rather than the target.
GENERATOR_CPU_LIMIT: Final = 90.0
#: Open-loop lateness (p99, ms) the generator may add before it is suspect:
#: at least this, or 10 % of the tightest latency SLO, whichever is larger.
LATENESS_FLOOR_MS: Final = 10.0


class Outcome(StrEnum):
    """How a step ended; every outcome but ``pass`` is a failed step."""

    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    SLO = "slo"  # an SLO (or the error ceiling) failed
    OVERLOAD = "overload"  # open loop: completions fell behind the arrivals
    NO_ANSWERS = "no-answers"  # nothing completed
    UNSTABLE = "unstable"  # not shown stable (drifting, disagreeing windows)
    TOO_FEW = "too-few"  # too few requests for the SLO percentile
    GENERATOR = "generator"  # the load generator fell behind

    @property
    def valid(self) -> bool:
        """Whether the measurement itself can be trusted (the failure is the target's)."""
        return self not in (Outcome.UNSTABLE, Outcome.TOO_FEW, Outcome.GENERATOR)


@dataclass(frozen=True)
class StepMeasurement:
    """What a step measured in its measured part (so far, while it runs).

    ``stats`` carries the judged latency (from the intended send time in open
    loop), the request count and the failure ratio; ``ok`` the successful
    requests; ``windows`` the complete measurement windows after the
    warm-up, oldest first.
    """

    step: int
    mode: str
    load: float
    seconds: float
    stats: SLOStats
    ok: int
    windows: tuple[WindowStats, ...] = ()
    in_flight: int | None = None
    lateness_p99_ms: float | None = None
    dropped: int = 0
    generator_cpu: float | None = None
    #: Requests sent in the measured part (None: not counted).
    sent: int | None = None
    #: Workers that stopped (died, or left) while the step ran: until the master
    #: noticed, the load they carried was not sent, whatever the counts say.
    workers_lost: int = 0

    @property
    def requests(self) -> int:
        return self.stats.requests

    @property
    def achieved_rps(self) -> float | None:
        return self.requests / self.seconds if self.seconds > 0 else None

    @property
    def ok_rps(self) -> float | None:
        return self.ok / self.seconds if self.seconds > 0 else None


def lateness_limit_ms(slos: Sequence[SLO]) -> float:
    """How late (p99) open-loop sends may be before the generator is blamed."""
    latency = [s.threshold for s in slos if s.metric == "latency"]
    return max(LATENESS_FLOOR_MS, 0.1 * min(latency)) if latency else LATENESS_FLOOR_MS


@dataclass(frozen=True)
class JudgeRule:
    """The parameters of :func:`judge_step`; see the module docstring.

    ``error_ceiling`` applies only when ``slos`` has no ``errors`` SLO.
    ``min_requests`` is a floor on the measured requests besides the SLO
    percentiles' own (:meth:`StabilityRule.samples_needed`).
    """

    slos: tuple[SLO, ...] = ()
    stability: StabilityRule = field(default_factory=StabilityRule)
    error_ceiling: float | None = DEFAULT_ERROR_CEILING
    throughput_tolerance: float = 0.05
    min_requests: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "slos", tuple(self.slos))

    @property
    def ceiling(self) -> float | None:
        """The error ceiling in force (None when an ``errors`` SLO replaces it)."""
        if any(s.metric == "errors" for s in self.slos):
            return None
        return self.error_ceiling

    @property
    def samples_needed(self) -> int:
        return max(self.stability.samples_needed(self.slos), self.min_requests)

    def describe(self) -> str:
        """The SLOs in force, the ceiling included (``p99<500ms, errors<=1% (ceiling)``)."""
        parts = [str(s) for s in self.slos]
        if self.ceiling is not None:
            parts.append(f"errors<={self.ceiling:.0%} (default ceiling)")
        return ", ".join(parts)


@dataclass(frozen=True)
class StepJudgement:
    """The answer for one step: its outcome and, for a failure, why."""

    step: int
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    slo: SLOVerdict | None = None

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    @property
    def valid(self) -> bool:
        return self.outcome.valid


def _generator(m: StepMeasurement, rule: JudgeRule) -> list[str]:
    reasons = []
    if m.dropped:
        reasons.append(
            f"the load generator dropped {m.dropped} sends (in-flight cap or lateness "
            "limit); raise --ml-open-loop inflight=N or add workers"
        )
    limit = lateness_limit_ms(rule.slos)
    late = m.lateness_p99_ms
    if m.mode == "open" and late is not None and not math.isnan(late) and late > limit:
        reasons.append(
            f"sends were {late:.1f} ms late at p99 (limit {limit:.0f} ms): the load "
            "generator, not the target, shaped the latency"
        )
    if m.workers_lost:
        reasons.append(
            f"{m.workers_lost} worker{'s' if m.workers_lost > 1 else ''} of the load generator "
            "stopped during the step: what it carried was not sent until the master noticed "
            "(see the notes); the step did not get its load"
        )
    if m.generator_cpu is not None and m.generator_cpu > GENERATOR_CPU_LIMIT:
        reasons.append(
            f"the load generator's CPU reached {m.generator_cpu:.0f}%; add workers "
            "(--processes) so Locust is not the bottleneck"
        )
    return reasons


def _ceiling(m: StepMeasurement, rule: JudgeRule) -> list[str]:
    ceiling = rule.ceiling
    ratio = m.stats.failure_ratio
    if ceiling is None or m.requests == 0 or ratio <= ceiling:
        return []
    return [
        f"errors {ratio:.2%} of {m.requests} requests, above the {ceiling:.0%} error "
        "ceiling (--ml-slo errors<X sets your own)"
    ]


def _short(count: float, expected: float, tolerance: float) -> bool:
    """``count`` below ``expected`` by more than ``tolerance`` and 3 sigma of a Poisson count."""
    if expected <= 0:
        return False
    return count < expected * (1.0 - tolerance) - 3.0 * math.sqrt(expected)


def _shortfall(m: StepMeasurement, rule: JudgeRule) -> tuple[Outcome, list[str]] | None:
    """Open loop: fewer sent than offered (the generator), or fewer answered than sent.

    With the sends counted, the two are told apart: a load generator that
    could not send what was offered (a worker gone, its CPU spent) is not a
    target that could not keep up. Without them, completions are compared
    with the offered rate.
    """
    achieved = m.achieved_rps
    if m.mode != "open" or achieved is None or m.load <= 0 or m.seconds <= 0:
        return None
    offered = m.load * m.seconds
    tol = rule.throughput_tolerance
    if m.sent is not None and _short(m.sent, offered, tol):
        return Outcome.GENERATOR, [
            f"the load generator sent {m.sent / m.seconds:.4g} requests/s of the "
            f"{m.load:.4g} offered; the step did not get its load"
        ]
    reference = m.sent if m.sent is not None else offered
    if not _short(m.requests, reference, tol):
        return None
    return Outcome.OVERLOAD, [
        f"completions fell behind the arrivals: {achieved:.4g} requests/s answered of "
        f"{reference / m.seconds:.4g} sent; a queue is building"
    ]


def _decided_failure(  # noqa: PLR0911 - one return per rule of the module docstring
    m: StepMeasurement, rule: JudgeRule, *, final: bool
) -> tuple[Outcome, list[str], SLOVerdict | None]:
    """Rules 1-4: a failure, or ``(PASS, [], slo)`` when none is decided (yet)."""
    slo = evaluate(rule.slos, m.stats) if rule.slos else None
    if m.requests == 0:
        if not final:
            return Outcome.PASS, [], slo
        flight = f"; {m.in_flight} requests were in flight" if m.in_flight else ""
        return Outcome.NO_ANSWERS, [f"no request completed after the warm-up{flight}"], slo
    decided = final or m.requests >= rule.samples_needed
    # While the step runs a missing statistic (no TTFT yet) is not a failure;
    # at its end no data is (slo.evaluate).
    failed = [str(r) for r in (slo.failed if slo else ()) if final or r.status != "no-data"]
    failed += _ceiling(m, rule)
    errors_failed = any(r.slo.metric == "errors" for r in (slo.failed if slo else ()))
    if decided and (errors_failed or _ceiling(m, rule)):
        # Failed answers are the target's, however busy the load generator was.
        return Outcome.SLO, failed, slo
    generator = _generator(m, rule)
    if generator:
        return Outcome.GENERATOR, generator, slo
    if not decided:
        return Outcome.PASS, [], slo
    if failed:
        return Outcome.SLO, failed, slo
    shortfall = _shortfall(m, rule)
    if shortfall is not None:
        return shortfall[0], shortfall[1], slo
    return Outcome.PASS, [], slo


def judge_step(m: StepMeasurement, rule: JudgeRule, *, final: bool) -> StepJudgement | None:
    """Judge ``m`` by the module docstring's rules; None while not yet decidable.

    With ``final`` (the step is over) the answer is never None.
    """
    outcome, reasons, slo = _decided_failure(m, rule, final=final)
    if outcome is not Outcome.PASS:
        return StepJudgement(m.step, outcome, tuple(reasons), slo)
    if m.requests == 0:
        return None  # not final: nothing to judge yet
    needed = rule.samples_needed
    stable = rule.stability.check(m.windows, samples=m.requests, samples_needed=needed)
    if stable.stable:
        return StepJudgement(m.step, Outcome.PASS, (), slo)
    if not final:
        return None
    if not stable.enough_samples:
        what = rule.describe() or "the step"
        return StepJudgement(
            m.step,
            Outcome.TOO_FEW,
            (
                f"{m.requests} requests; {what} needs at least {needed} at "
                f"{rule.stability.confidence:.0%} confidence (a longer step)",
            ),
            slo,
        )
    return StepJudgement(
        m.step, Outcome.UNSTABLE, ("not stable: " + "; ".join(stable.reasons),), slo
    )


def measure_step(
    step: StepStats, window_s: float | None, generator_cpu: float | None = None
) -> StepMeasurement:
    """The :class:`StepMeasurement` of a finished step (what the report judges).

    The same quantities the glue hands the search while the step runs: the
    measured part's counts and judged latency, and its complete windows
    after the warm-up (latency from the intended send time in open loop).
    """
    lateness = (step.extra_ms or {}).get("lateness") or {}
    open_loop = step.mode == "open"
    load = step.offered_rps if open_loop and step.offered_rps is not None else step.users
    return StepMeasurement(
        step=step.id,
        mode=step.mode,
        load=float(load or 0.0),
        seconds=step.measured_s,
        stats=step_slo_stats(step),
        ok=step.ok,
        windows=tuple(
            replace(w, latency_ms=step.judged_window_ms(w))
            for w in measured_windows(step, window_s)
        ),
        in_flight=step.in_flight,
        lateness_p99_ms=lateness.get(percentile_key(99.0)),
        dropped=step.events.get("dropped", 0),
        generator_cpu=generator_cpu,
        sent=step.events.get("sent_measured" if step.warmup_s > 0 else "sent"),
        workers_lost=step.events.get("workers_lost", 0),
    )


def latency_key(slos: Sequence[SLO]) -> str:
    """The percentile key the knee and the tables read (the first latency SLO's, else p99)."""
    for slo in slos:
        if slo.metric == "latency" and slo.percentile is not None:
            return percentile_key(slo.percentile)
    return percentile_key(99.0)
