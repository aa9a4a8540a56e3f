"""The run report: immutable data that every writer serializes.

Built once on the master when the test ends (pure: from the step log, the
merged samples, and what the run knew about itself). Writers in this package
(:mod:`.json`, :mod:`.console`) only turn it into bytes or text; they decide
nothing. ``SCHEMA_VERSION`` versions the JSON form: fields may be added
within a major version, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from locust_ml.analysis.capacity import CapacityAnalysis, analyze_capacity, points_from_steps
from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.planning import (
    Cost,
    Plan,
    UtilizationAt,
    cost_per_million,
    plan_replicas,
    utilization_at,
)
from locust_ml.analysis.samples import StepSamples
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.slo import (
    SLO,
    SLOVerdict,
    evaluate,
    required_percentiles,
    step_slo_stats,
)
from locust_ml.analysis.soak import SoakVerdict, soak_verdict
from locust_ml.analysis.stability import StabilityRule
from locust_ml.analysis.steps import (
    StepSpan,
    StepStats,
    Totals,
    summarize_steps,
    summarize_totals,
)
from locust_ml.analysis.stress import StressVerdict, stress_verdict
from locust_ml.analysis.utilization import SeriesStats, UtilizationLog
from locust_ml.analysis.verdict import CAPACITY_SHAPES, RunVerdict, judge_run

__all__ = [
    "SCHEMA_VERSION",
    "CapacityReport",
    "ColdStart",
    "ErrorCount",
    "ReportSettings",
    "RunInfo",
    "RunReport",
    "build_report",
    "decide",
]

#: 1.1 added capacity, verdict, cost, plan (and run.shape); 1.0 files still load.
SCHEMA_VERSION = "1.1"


@dataclass(frozen=True)
class RunInfo:
    """Facts about the run that are not measurements."""

    locustfile: str
    target: str | None
    started_at: float
    ended_at: float
    mode: str  # "local" or "distributed"
    workers: int = 0
    tool_version: str = ""
    #: CPU seconds the master/local process spent reading telemetry.
    telemetry_cpu_s: float = 0.0
    #: The load shape's kind (ramp, search, soak, spike, stages) or None.
    shape: str | None = None
    #: Seconds the reference server locust-ml started took to become ready.
    server_ready_s: float | None = None
    #: Latency of the run's first request (local runs: a distributed master
    #: does not see individual requests).
    first_request_ms: float | None = None


@dataclass(frozen=True)
class ColdStart:
    """Cold start as this run saw it: time to ready, first request vs warm p50.

    For repeated, controlled measurements use ``locust-ml coldstart``.
    """

    time_to_ready_s: float | None
    first_request_ms: float | None
    warm_p50_ms: float | None

    @property
    def first_vs_warm(self) -> float | None:
        if self.first_request_ms is None or not self.warm_p50_ms:
            return None
        return self.first_request_ms / self.warm_p50_ms


def cold_start(run: RunInfo, steps: Sequence[StepStats]) -> ColdStart | None:
    """The first request against the first step's median (None without either fact)."""
    if run.server_ready_s is None and run.first_request_ms is None:
        return None
    warm = next((s.latency_ms.get("p50") for s in steps if s.requests), None)
    return ColdStart(run.server_ready_s, run.first_request_ms, warm)


@dataclass(frozen=True)
class ErrorCount:
    """One distinct failure message and how often it occurred (Locust's error table)."""

    method: str
    name: str
    message: str
    count: int


#: Errors kept in the report, most frequent first; each message cut to this length.
MAX_ERRORS = 50
MAX_ERROR_CHARS = 500


def top_errors(errors: Sequence[ErrorCount]) -> tuple[ErrorCount, ...]:
    """The most frequent errors, messages shortened, bounded in number."""
    ranked = sorted(errors, key=lambda e: (-e.count, e.method, e.name, e.message))
    return tuple(
        ErrorCount(e.method, e.name, e.message[:MAX_ERROR_CHARS], e.count)
        for e in ranked[:MAX_ERRORS]
    )


@dataclass(frozen=True)
class ReportSettings:
    """What the decisions depend on besides the measurements (options, mostly).

    Kept apart so ``locust-ml report`` can re-decide a saved run with another
    SLO, price or peak without re-running it.
    """

    #: How the run was cut short ("SIGTERM", "SIGINT"), if it was.
    interrupted: str | None = None
    min_capacity: float | None = None
    price_per_hour: float | None = None
    instance: str | None = None
    target_rps: float | None = None
    target_utilization: float = 0.8
    redundancy: int = 1
    stability_tolerance: float = 0.25
    #: Seconds at the start of each step not measured by the stability and
    #: soak/stress analyses (--ml-warmup).
    warmup_s: float = 0.0


@dataclass(frozen=True)
class RunReport:
    """Everything the end-of-test report says."""

    run: RunInfo
    percentiles: tuple[float, ...]
    window_s: float | None
    steps: tuple[StepStats, ...]
    totals: Totals
    notes: tuple[str, ...] = ()
    #: Telemetry per step id (GPU, server, target process), when any was read.
    telemetry: Mapping[int, tuple[SeriesStats, ...]] = field(default_factory=dict)
    slos: tuple[SLO, ...] = ()
    #: Each step's SLO verdict (open-loop steps judged on corrected latency).
    slo_verdicts: Mapping[int, SLOVerdict] = field(default_factory=dict)
    #: The capacity search's outcome, when the test was one.
    search: SearchResult | None = None
    settings: ReportSettings = field(default_factory=ReportSettings)
    capacity: CapacityAnalysis | None = None
    #: Utilization at "knee" and "slo_capacity" (steps with telemetry only).
    utilization: Mapping[str, UtilizationAt] = field(default_factory=dict)
    plan: Plan | None = None
    cost: Cost | None = None
    verdict: RunVerdict = field(default_factory=lambda: RunVerdict(passed=True, valid=True))
    #: Trends of a soak test (steps labelled "hold"), else None.
    soak: SoakVerdict | None = None
    #: Breaking point and failure mode (spike tests and capacity ramps), else None.
    stress: StressVerdict | None = None
    #: Failure messages (as the target or the protocol adapter said them).
    errors: tuple[ErrorCount, ...] = ()

    @property
    def cold_start(self) -> ColdStart | None:
        return cold_start(self.run, self.steps)

    @property
    def duration_s(self) -> float:
        return self.run.ended_at - self.run.started_at


#: The report's name in the issue tracker and docs; one class.
CapacityReport = RunReport


#: What the SLOs judge in a step (the name the web UI and earlier code use).
slo_stats = step_slo_stats


def build_report(
    run: RunInfo,
    spans: Sequence[StepSpan],
    samples: StepSamples,
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    window_s: float | None = None,
    notes: Sequence[str] = (),
    utilization: UtilizationLog | None = None,
    slos: Sequence[SLO] = (),
    search: SearchResult | None = None,
    settings: ReportSettings | None = None,
    errors: Sequence[ErrorCount] = (),
) -> RunReport:
    """Summarize steps and totals, then decide (:func:`decide`)."""
    pct = tuple(percentiles)
    pct = tuple(sorted({*pct, *required_percentiles(slos)}))
    steps = summarize_steps(spans, samples, pct, window_s=window_s, with_goodput=bool(slos))
    all_notes = list(notes)
    if not spans and samples.requests:
        all_notes.append("no load step was observed; only totals are reported")
    base = RunReport(
        run=run,
        percentiles=pct,
        window_s=window_s,
        steps=steps,
        totals=summarize_totals(samples, run.ended_at - run.started_at, pct),
        notes=tuple(all_notes),
        search=search,
        errors=top_errors(errors),
        telemetry=(
            {}
            if utilization is None
            else {s.id: utilization.step_stats(s.id) for s in steps if utilization.step_stats(s.id)}
        ),
    )
    return decide(base, slos, settings or ReportSettings())


def _generator_cpu(telemetry: Mapping[int, Sequence[SeriesStats]]) -> dict[int, float]:
    out: dict[int, float] = {}
    for step, rows in telemetry.items():
        peaks = [r.max for r in rows if r.metric == "generator_cpu_percent" and r.max is not None]
        if peaks:
            out[step] = max(peaks)
    return out


def _tokens_per_s_at(report: RunReport, analysis: CapacityAnalysis) -> float | None:
    """Output tokens/s at SLO capacity: the passing step's tokens per request x capacity."""
    step = next((s for s in report.steps if s.id == analysis.last_passing_step), None)
    if step is None or not step.tokens_out_per_s or not step.achieved_rps:
        return None
    if analysis.slo_rps is None:
        return None
    return step.tokens_out_per_s / step.achieved_rps * analysis.slo_rps


def _search_verdicts(report: RunReport, slos: Sequence[SLO]) -> dict[int, bool]:
    """A capacity search's own step verdicts, when it judged with these SLOs.

    The search judges each step on its measurements after the warm-up (and
    its stability); the whole step, warm-up included, can read worse (a
    queue left by the step before), so its verdicts are the better ones.
    """
    search = report.search
    if search is None or {str(s) for s in search.slos} != {str(s) for s in slos}:
        return {}
    return {j.step: j.passed for j in search.history}


def decide(report: RunReport, slos: Sequence[SLO], settings: ReportSettings) -> RunReport:
    """Judge SLOs per step, find capacity, plan, cost and the verdict.

    Pure over the report's step statistics (not the raw samples), so a saved
    ``report.json`` can be re-decided with other SLOs or prices.
    """
    slos = tuple(slos)
    verdicts = {s.id: evaluate(slos, slo_stats(s)) for s in report.steps} if slos else {}
    searched = _search_verdicts(report, slos)
    if searched and report.search is not None:
        # Show the search's own post-warm-up SLO results for the steps it judged.
        verdicts.update({j.step: j.slo for j in report.search.history if j.slo is not None})
    points = points_from_steps(report.steps, {k: v.passed for k, v in verdicts.items()}, searched)
    analysis = analyze_capacity(points, slos) if points else None
    util: dict[str, UtilizationAt] = {}
    if analysis is not None:
        for name, step_id, where in (
            ("knee", analysis.knee_step, "the knee"),
            ("slo_capacity", analysis.last_passing_step, "SLO capacity"),
        ):
            rows = report.telemetry.get(step_id, ()) if step_id is not None else ()
            if step_id is not None and rows:
                util[name] = utilization_at(step_id, rows, where)
    capacity = analysis.slo_rps if analysis is not None else None
    plan = cost = None
    if capacity is not None and capacity > 0:
        if settings.target_rps is not None:
            plan = plan_replicas(
                settings.target_rps, capacity, settings.target_utilization, settings.redundancy
            )
        if settings.price_per_hour is not None and analysis is not None:
            tokens = _tokens_per_s_at(report, analysis)
            cost = Cost(
                price_per_hour=settings.price_per_hour,
                rps=capacity,
                per_million_requests=cost_per_million(settings.price_per_hour, capacity),
                tokens_out_per_s=tokens,
                per_million_output_tokens=(
                    cost_per_million(settings.price_per_hour, tokens) if tokens else None
                ),
                instance=settings.instance,
            )
    soak = soak_verdict(
        report.steps, report.telemetry, slos, warmup_s=settings.warmup_s, window_s=report.window_s
    )
    stress = stress_verdict(
        report.steps,
        slos,
        kind="ramp" if report.run.shape in CAPACITY_SHAPES else "auto",
        warmup_s=settings.warmup_s,
        verdicts=verdicts,
    )
    extra: list[tuple[str, bool, Sequence[str]]] = []
    if soak is not None:
        extra.append(("soak", soak.passed, soak.reasons))
    if stress is not None and stress.kind == "spike":
        # A capacity ramp breaks by design: its stress figures inform, not judge.
        extra.append(("spike", stress.passed, stress.reasons))
    verdict = judge_run(
        steps=report.steps,
        slos=slos,
        slo_verdicts=verdicts,
        capacity=analysis,
        shape=report.run.shape,
        total_requests=report.totals.requests,
        interrupted=settings.interrupted,
        min_capacity=settings.min_capacity,
        generator_cpu=_generator_cpu(report.telemetry),
        stability=StabilityRule(tolerance=settings.stability_tolerance),
        extra_verdicts=extra,
    )
    warnings = [w for u in util.values() for w in u.warnings]
    if soak is not None:
        warnings.extend(soak.warnings)
    if warnings:
        verdict = replace(verdict, warnings=tuple(dict.fromkeys([*verdict.warnings, *warnings])))
    return replace(
        report,
        slos=slos,
        slo_verdicts=verdicts,
        settings=settings,
        capacity=analysis,
        utilization=util,
        plan=plan,
        cost=cost,
        verdict=verdict,
        soak=soak,
        stress=stress,
    )
