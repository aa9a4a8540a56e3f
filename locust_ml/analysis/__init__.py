"""The pure analysis layer: histograms, steps (and later knee, capacity, cost).

Nothing here imports Locust, gevent, sockets or NVML; a test checks that
``import locust_ml.analysis`` leaves ``locust`` and ``gevent`` out of
``sys.modules``, because importing Locust monkey-patches the whole process.
"""

from __future__ import annotations

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES, LatencyHistogram, percentile_key
from locust_ml.analysis.judge import (
    JudgeRule,
    Outcome,
    StepJudgement,
    StepMeasurement,
    judge_step,
)
from locust_ml.analysis.samples import RequestSample, StepSamples
from locust_ml.analysis.search import (
    CapacitySearch,
    JudgedStep,
    SearchConfig,
    SearchResult,
    StopReason,
)
from locust_ml.analysis.slo import (
    SLO,
    SLOResult,
    SLOStats,
    SLOStatus,
    SLOVerdict,
    evaluate,
    parse_slo,
    parse_slos,
    required_percentiles,
)
from locust_ml.analysis.stability import (
    StabilityRule,
    StabilityVerdict,
    min_samples,
    quantile_ci_ranks,
    samples_needed,
)
from locust_ml.analysis.status import STATUS_CLASSES, classify
from locust_ml.analysis.steps import (
    EndpointStats,
    StepLog,
    StepSpan,
    StepStats,
    Totals,
    WindowStats,
    summarize_steps,
    summarize_totals,
)

__all__ = [
    "DEFAULT_PERCENTILES",
    "SLO",
    "STATUS_CLASSES",
    "CapacitySearch",
    "EndpointStats",
    "JudgeRule",
    "JudgedStep",
    "LatencyHistogram",
    "Outcome",
    "RequestSample",
    "SLOResult",
    "SLOStats",
    "SLOStatus",
    "SLOVerdict",
    "SearchConfig",
    "SearchResult",
    "StabilityRule",
    "StabilityVerdict",
    "StepJudgement",
    "StepLog",
    "StepMeasurement",
    "StepSamples",
    "StepSpan",
    "StepStats",
    "StopReason",
    "Totals",
    "WindowStats",
    "classify",
    "evaluate",
    "judge_step",
    "min_samples",
    "parse_slo",
    "parse_slos",
    "percentile_key",
    "quantile_ci_ranks",
    "required_percentiles",
    "samples_needed",
    "summarize_steps",
    "summarize_totals",
]
