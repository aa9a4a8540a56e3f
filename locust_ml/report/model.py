"""The run report: immutable data that every writer serializes.

Built once on the master when the test ends (pure: from the step log, the
merged samples, and what the run knew about itself). Writers in this package
(:mod:`.json`, :mod:`.html`, :mod:`.markdown`, :mod:`.steps_csv`,
:mod:`.console`) take it as it is and only turn it into bytes or text; they
decide nothing. :mod:`.load` reads the JSON form back into it.
``SCHEMA_VERSION`` versions the JSON form: fields may be added within a
major version, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from locust_ml.analysis.capacity import CapacityAnalysis, analyze_capacity, points_from_steps
from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.judge import (
    DEFAULT_ERROR_CEILING,
    JudgeRule,
    StepJudgement,
    judge_step,
    latency_key,
    measure_step,
)
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
from locust_ml.analysis.slo import SLO, required_percentiles
from locust_ml.analysis.soak import SoakVerdict, soak_verdict
from locust_ml.analysis.steps import (
    StepSpan,
    StepStats,
    Totals,
    summarize_steps,
    summarize_totals,
)
from locust_ml.analysis.stress import StressVerdict, stress_verdict
from locust_ml.analysis.utilization import SeriesStats, UtilizationLog
from locust_ml.analysis.verdict import (
    CAPACITY_SHAPES,
    EXIT_SLO_FAILED,
    NOT_JUDGED_LABELS,
    RunVerdict,
    judge_run,
)

__all__ = [
    "SCHEMA_VERSION",
    "ColdStart",
    "ErrorCount",
    "ReportSettings",
    "RunInfo",
    "RunReport",
    "build_report",
    "decide",
]

#: 2.0: step figures are the measured part's (after the warm-up), failures are
#: no latency samples, each step carries its judgement; 1.1 added capacity,
#: verdict, cost, plan (and run.shape).
SCHEMA_VERSION = "2.0"


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
    #: Error ratio above which a step fails when no errors SLO is given.
    error_ceiling: float = DEFAULT_ERROR_CEILING
    #: The exit code of a failed run (Locust's --exit-code-on-error).
    fail_code: int = EXIT_SLO_FAILED
    #: Seconds at the start of each step not measured by the stability and
    #: soak/stress analyses (the shape's ``warmup`` key).
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
    #: Each judged step's judgement (:mod:`locust_ml.analysis.judge`); partial,
    #: cooldown and probe steps have none.
    judgements: Mapping[int, StepJudgement] = field(default_factory=dict)
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

    @property
    def rule(self) -> JudgeRule:
        """The step judgement this report's decisions were made with."""
        return judge_rule(self.slos, self.settings)


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


def judge_rule(slos: Sequence[SLO], settings: ReportSettings) -> JudgeRule:
    """The one step judgement (the capacity search's too) for ``slos`` and ``settings``."""
    from locust_ml.analysis.search import SEARCH_STABILITY

    return JudgeRule(
        slos=tuple(slos),
        stability=replace(SEARCH_STABILITY, tolerance=settings.stability_tolerance),
        error_ceiling=settings.error_ceiling,
    )


def _search_judgements(report: RunReport, rule: JudgeRule) -> dict[int, StepJudgement]:
    """A capacity search's own judgements, when it judged with this rule.

    The search judged each step while it ran, with the same function and
    rule as below; re-judging afterwards could only differ by the data
    that arrived after its decision. With other SLOs (``locust-ml report
    --ml-slo``) every step is re-judged instead.
    """
    search = report.search
    if search is None or search.rule.describe() != rule.describe():
        return {}
    return {
        j.step: StepJudgement(j.step, j.outcome, j.reasons) for j in search.history if not j.probe
    }


def judge_steps(report: RunReport, rule: JudgeRule) -> dict[int, StepJudgement]:
    """Every judged step's judgement: the search's where it judged, else :func:`judge_step`."""
    cpu = _generator_cpu(report.telemetry)
    out = _search_judgements(report, rule)
    for step in report.steps:
        if step.id in out or step.partial or step.label in NOT_JUDGED_LABELS:
            continue  # transitions (ramp-up, cooldown, a spike...) are not measurements
        judged = judge_step(measure_step(step, report.window_s, cpu.get(step.id)), rule, final=True)
        assert judged is not None  # noqa: S101 - final judgements always answer
        out[step.id] = judged
    return out


def decide(report: RunReport, slos: Sequence[SLO], settings: ReportSettings) -> RunReport:
    """Judge every step, find capacity, plan, cost and the verdict.

    Pure over the report's step statistics (not the raw samples), so a saved
    ``report.json`` can be re-decided with other SLOs or prices.
    """
    slos = tuple(slos)
    rule = judge_rule(slos, settings)
    judgements = judge_steps(replace(report, slos=slos, settings=settings), rule)
    points = points_from_steps(report.steps, judgements)
    analysis = analyze_capacity(points, latency_key=latency_key(slos)) if points else None
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
        verdicts={k: j.slo for k, j in judgements.items() if j.slo is not None},
    )
    extra: list[tuple[str, bool, Sequence[str]]] = []
    if soak is not None:
        extra.append(("soak", soak.passed, soak.reasons))
    if stress is not None and stress.kind == "spike":
        # A capacity ramp breaks by design: its stress figures inform, not judge.
        extra.append(("spike", stress.passed, stress.reasons))
    search_notes = []
    if report.search is not None and report.search.reason in ("time-limit", "step-limit"):
        search_notes.append(
            f"the capacity search stopped at its {report.search.reason} before converging; "
            "the interval is as wide as the steps it could run"
        )
    verdict = judge_run(
        steps=report.steps,
        judgements=judgements,
        rule=rule,
        capacity=analysis,
        shape=report.run.shape,
        total_requests=report.totals.requests,
        total_failures=report.totals.failures,
        interrupted=settings.interrupted,
        min_capacity=settings.min_capacity,
        extra_verdicts=extra,
        fail_code=settings.fail_code,
        warnings=search_notes,
    )
    warnings = [w for u in util.values() for w in u.warnings]
    if soak is not None:
        warnings.extend(soak.warnings)
    if warnings:
        verdict = replace(verdict, warnings=tuple(dict.fromkeys([*verdict.warnings, *warnings])))
    return replace(
        report,
        slos=slos,
        judgements=judgements,
        settings=settings,
        capacity=analysis,
        utilization=util,
        plan=plan,
        cost=cost,
        verdict=verdict,
        soak=soak,
        stress=stress,
    )
