"""Telemetry adapters: GPU and server metrics read while a load test runs.

Sources (each blocks; the Locust glue polls them from a thread pool):

* :class:`NvmlSource` - this host's GPUs through NVML (nvidia-ml-py);
* :class:`PrometheusScrapeSource` - a DCGM exporter, Triton, vLLM, our
  reference server or our gpu-agent, mapped by the table in
  :mod:`~locust_ml.telemetry.prometheus_scrape`;
* :class:`ProcessSource` - CPU seconds and RSS of a local process.

:class:`TelemetrySampler` polls them, warns once about a failing source and
keeps going. :mod:`~locust_ml.telemetry.exporter` is the master's Prometheus
exporter, :mod:`~locust_ml.telemetry.gpu_agent` the ``locust-ml gpu-agent``
sidecar. Nothing here imports Locust or gevent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from locust_ml.lazy import lazy_exports

__all__ = [
    "METRICS",
    "MetricSpec",
    "NvmlSource",
    "ProcessSource",
    "PrometheusScrapeSource",
    "SourceReading",
    "SourceStatus",
    "SourceUnavailable",
    "TelemetrySample",
    "TelemetrySampler",
    "TelemetrySource",
    "metric_spec",
    "parse_scrape_spec",
]

# Loaded on first use (PEP 562): ``locust-ml gpu-agent --help`` imports a
# submodule, and should not pay for prometheus-client's parser to do so.
_LAZY = {
    "METRICS": "model",
    "MetricSpec": "model",
    "SourceReading": "model",
    "SourceUnavailable": "model",
    "TelemetrySample": "model",
    "TelemetrySource": "model",
    "metric_spec": "model",
    "NvmlSource": "nvml",
    "ProcessSource": "process",
    "PrometheusScrapeSource": "prometheus_scrape",
    "parse_scrape_spec": "prometheus_scrape",
    "SourceStatus": "sampler",
    "TelemetrySampler": "sampler",
}

if TYPE_CHECKING:
    from locust_ml.telemetry.model import (
        METRICS,
        MetricSpec,
        SourceReading,
        SourceUnavailable,
        TelemetrySample,
        TelemetrySource,
        metric_spec,
    )
    from locust_ml.telemetry.nvml import NvmlSource
    from locust_ml.telemetry.process import ProcessSource
    from locust_ml.telemetry.prometheus_scrape import PrometheusScrapeSource, parse_scrape_spec
    from locust_ml.telemetry.sampler import SourceStatus, TelemetrySampler


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"locust_ml.telemetry.{module}" for name, module in _LAZY.items()}
)
