"""The pure analysis layer: histograms, steps (and later knee, capacity, cost).

Nothing here imports Locust, gevent, sockets or NVML; a test checks that
``import locust_ml.analysis`` leaves ``locust`` and ``gevent`` out of
``sys.modules``, because importing Locust monkey-patches the whole process.
"""

from __future__ import annotations

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES, LatencyHistogram, percentile_key
from locust_ml.analysis.steps import (
    EndpointStats,
    StepLog,
    StepSamples,
    StepSpan,
    StepStats,
    Totals,
    summarize_steps,
    summarize_totals,
)

__all__ = [
    "DEFAULT_PERCENTILES",
    "EndpointStats",
    "LatencyHistogram",
    "StepLog",
    "StepSamples",
    "StepSpan",
    "StepStats",
    "Totals",
    "percentile_key",
    "summarize_steps",
    "summarize_totals",
]
