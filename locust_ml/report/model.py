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

    @property
    def duration_s(self) -> float:
        return self.run.ended_at - self.run.started_at


def build_report(
    run: RunInfo,
    spans: Sequence[StepSpan],
    samples: StepSamples,
    *,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    window_s: float | None = None,
    notes: Sequence[str] = (),
    utilization: UtilizationLog | None = None,
) -> RunReport:
    """Summarize steps and totals into a :class:`RunReport`."""
    pct = tuple(percentiles)
    steps = summarize_steps(spans, samples, pct, window_s=window_s)
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
        telemetry=(
            {}
            if utilization is None
            else {s.id: utilization.step_stats(s.id) for s in steps if utilization.step_stats(s.id)}
        ),
    )
