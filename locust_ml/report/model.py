"""The run report: immutable data that every writer serializes.

Built once on the master when the test ends (pure: from the step log, the
merged samples, and what the run knew about itself). Writers in this package
(:mod:`.json`, :mod:`.console`) only turn it into bytes or text; they decide
nothing. ``SCHEMA_VERSION`` versions the JSON form: fields may be added
within a major version, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.samples import StepSamples
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.slo import SLO, SLOStats, SLOVerdict, evaluate, required_percentiles
from locust_ml.analysis.steps import (
    StepSpan,
    StepStats,
    Totals,
    summarize_steps,
    summarize_totals,
)
from locust_ml.analysis.utilization import SeriesStats, UtilizationLog

__all__ = ["SCHEMA_VERSION", "RunInfo", "RunReport", "build_report"]

SCHEMA_VERSION = "1.0"


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

    @property
    def duration_s(self) -> float:
        return self.run.ended_at - self.run.started_at


def slo_stats(step: StepStats) -> SLOStats:
    """What the SLOs judge in a step: open-loop latency from the intended send time."""
    extra = step.extra_ms or {}
    latency = extra.get("corrected") if step.mode == "open" else None
    return SLOStats(
        requests=step.requests,
        failure_ratio=step.failure_ratio,
        latency_ms=latency or step.latency_ms,
        ttft_ms=extra.get("ttft"),
        itl_ms=extra.get("itl"),
    )


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
) -> RunReport:
    """Summarize steps and totals into a :class:`RunReport`."""
    pct = tuple(percentiles)
    pct = tuple(sorted({*pct, *required_percentiles(slos)}))
    steps = summarize_steps(spans, samples, pct, window_s=window_s, with_goodput=bool(slos))
    all_notes = list(notes)
    if not spans and samples.requests:
        all_notes.append("no load step was observed; only totals are reported")
    return RunReport(
        run=run,
        percentiles=pct,
        window_s=window_s,
        steps=steps,
        totals=summarize_totals(samples, run.ended_at - run.started_at, pct),
        notes=tuple(all_notes),
        slos=tuple(slos),
        slo_verdicts={s.id: evaluate(tuple(slos), slo_stats(s)) for s in steps} if slos else {},
        search=search,
        telemetry=(
            {}
            if utilization is None
            else {s.id: utilization.step_stats(s.id) for s in steps if utilization.step_stats(s.id)}
        ),
    )
