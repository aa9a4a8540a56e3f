"""The master's Prometheus exporter: live request rate, latency, load and telemetry.

Grafana next to a running test wants what the end-of-test report will say,
live: requests per second by endpoint and outcome, latency histograms, the
users or the target rate, the current step, and the GPU and server metrics the
telemetry sampler scrapes. This module turns one frozen
:class:`ExporterSnapshot` into Prometheus metric families, in a custom
collector (prometheus_client's ``Collector``) that calls an injected
``snapshot()`` at scrape time - so the exporter holds no state of its own and
can never disagree with the run.

Names follow Prometheus conventions (base units, ``_total`` on counters,
snake_case, a ``locust_ml_`` namespace)::

    locust_ml_requests_total{endpoint,method,status}      counter
    locust_ml_request_duration_seconds{endpoint,method}   histogram
    locust_ml_users                                        gauge
    locust_ml_target_rps                                   gauge (open loop only)
    locust_ml_step{mode}                                   gauge: the current step id
    locust_ml_telemetry_source_up{source}                  gauge: 1 ok, 0 unavailable
    locust_ml_telemetry_<canonical metric>{source,...}     the scraped telemetry

A telemetry metric keeps its canonical kind: gauges stay gauges, counters
stay counters, and ``summary`` metrics are exposed as summaries (``_sum`` and
``_count``, no quantiles), so ``rate(x_sum[1m]) / rate(x_count[1m])`` is the
mean, as for any Prometheus summary.

Latency comes from our HDR histograms; :func:`hdr_to_buckets` converts one
into cumulative Prometheus buckets (pure, numpy only). Serving is the glue's
job::

    registry = exporter_registry(snapshot)           # its own CollectorRegistry
    app = prometheus_client.make_wsgi_app(registry)  # a WSGI app for any server
    gevent.pywsgi.WSGIServer(("127.0.0.1", port), app).start()
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.telemetry.families import telemetry_families
from locust_ml.telemetry.model import TelemetrySample
from locust_ml.telemetry.sampler import SourceStatus

__all__ = [
    "DEFAULT_LATENCY_BOUNDS_S",
    "NAMESPACE",
    "TELEMETRY_PREFIX",
    "Buckets",
    "EndpointLatency",
    "ExporterCollector",
    "ExporterSnapshot",
    "RequestCount",
    "exporter_registry",
    "hdr_to_buckets",
]

NAMESPACE: Final = "locust_ml"
#: Prefix of the telemetry families: ``locust_ml_telemetry_gpu_utilization_ratio``.
TELEMETRY_PREFIX: Final = NAMESPACE + "_telemetry_"

#: Histogram bounds (seconds) for inference latencies: milliseconds (a small
#: classifier) to minutes (a long generation).
DEFAULT_LATENCY_BOUNDS_S: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip


@dataclass(frozen=True)
class Buckets:
    """Cumulative histogram buckets, as Prometheus exposes them.

    ``cumulative[i]`` counts observations <= ``bounds[i]`` seconds; the last
    entry (one more than ``bounds``) is the total, the ``+Inf`` bucket.
    """

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum_seconds: float

    def __post_init__(self) -> None:
        if len(self.cumulative) != len(self.bounds) + 1:
            raise ValueError(
                f"{len(self.bounds)} bounds need {len(self.bounds) + 1} cumulative counts "
                f"(the last one is +Inf), got {len(self.cumulative)}"
            )

    @property
    def count(self) -> int:
        return self.cumulative[-1]


def _check_bounds(bounds: Sequence[float]) -> tuple[float, ...]:
    out = tuple(float(b) for b in bounds)
    if not all(math.isfinite(b) and b > 0 for b in out) or any(
        b >= c for b, c in itertools.pairwise(out)
    ):
        raise ValueError(f"bucket bounds must be finite, positive and increasing, got {out}")
    return out


def hdr_to_buckets(
    hist: LatencyHistogram, bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS_S
) -> Buckets:
    """Cumulative Prometheus buckets (seconds) from one of our HDR histograms.

    Exact up to the histogram's precision: an observation within 0.1 % above a
    bound (in the same HDR sub-bucket as the bound) counts as <= the bound, so
    a latency of exactly the bound always does.

    >>> h = LatencyHistogram()
    >>> for ms in (4.0, 10.0, 30.0, 700.0):
    ...     h.record_ms(ms)
    >>> b = hdr_to_buckets(h, (0.005, 0.01, 0.1, 1.0))
    >>> b.cumulative, round(b.sum_seconds, 3)
    ((1, 2, 3, 4, 4), 0.744)
    """
    edges = _check_bounds(bounds)
    total = hist.count
    if not total:
        return Buckets(edges, (0,) * (len(edges) + 1), 0.0)
    out = hist.counts_at_or_below_us(math.floor(round(bound * 1e6, 6)) for bound in edges)
    out.append(total)
    return Buckets(edges, tuple(out), hist.sum_us / 1e6)


@dataclass(frozen=True)
class RequestCount:
    """Requests so far to one endpoint with one outcome (a status class)."""

    endpoint: str
    method: str
    status: str
    count: int


@dataclass(frozen=True)
class EndpointLatency:
    """The latency histogram of one endpoint since the test started."""

    endpoint: str
    method: str
    buckets: Buckets


@dataclass(frozen=True)
class ExporterSnapshot:
    """Everything the exporter shows, as of one moment. Cumulative since test start.

    ``status`` values of :class:`RequestCount` are the status classes of
    :mod:`locust_ml.analysis.status` (``ok``, ``shed``, ``timeout``, ...).
    ``telemetry`` holds the latest sample of each series (the sampler's
    ``latest()``); ``telemetry_status`` its ``status()``.
    """

    requests: tuple[RequestCount, ...] = ()
    latencies: tuple[EndpointLatency, ...] = ()
    users: int | None = None
    target_rps: float | None = None
    step_id: int | None = None
    step_mode: str | None = None
    telemetry: tuple[TelemetrySample, ...] = ()
    telemetry_status: tuple[SourceStatus, ...] = ()


def _gauge(name: str, help_: str, value: float, **labels: str) -> Metric:
    family = Metric(name, help_, "gauge")
    family.add_sample(name, labels, value)
    return family


class ExporterCollector(Collector):
    """A prometheus_client collector over ``snapshot()``, called at each scrape.

    ``snapshot`` runs in the scraping request's context (a gevent greenlet on
    the master): keep it cheap - copying counters and converting histograms
    with :func:`hdr_to_buckets` takes tens of microseconds per endpoint.
    """

    def __init__(self, snapshot: Callable[[], ExporterSnapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        # Telemetry families depend on what is scraped; declare none up front so
        # registering does not call snapshot() before the run exists.
        return []

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot()
        yield from self._requests(snap)
        yield from self._load(snap)
        yield from telemetry_families(snap.telemetry, TELEMETRY_PREFIX)
        if snap.telemetry_status:
            up = Metric(
                TELEMETRY_PREFIX + "source_up",
                "1 when the telemetry source's latest read succeeded, 0 when it failed.",
                "gauge",
            )
            for status in snap.telemetry_status:
                if status.state != "pending":
                    up.add_sample(up.name, {"source": status.source}, 1.0 if status.ok else 0.0)
            yield up

    @staticmethod
    def _requests(snap: ExporterSnapshot) -> Iterable[Metric]:
        requests = Metric(
            NAMESPACE + "_requests",
            "Requests sent, by endpoint, method and status class (ok, shed, timeout, ...).",
            "counter",
        )
        for r in snap.requests:
            labels = {"endpoint": r.endpoint, "method": r.method, "status": r.status}
            requests.add_sample(requests.name + "_total", labels, float(r.count))
        yield requests
        duration = HistogramMetricFamily(
            NAMESPACE + "_request_duration_seconds",
            "Request latency in seconds (from the intended send time in open-loop tests).",
            labels=("endpoint", "method"),
        )
        for lat in snap.latencies:
            b = lat.buckets
            les = [repr(bound) for bound in b.bounds] + ["+Inf"]  # Go-style: 0.005, 1.0
            duration.add_metric(
                [lat.endpoint, lat.method],
                buckets=[(le, float(c)) for le, c in zip(les, b.cumulative, strict=True)],
                sum_value=b.sum_seconds,
            )
        yield duration

    @staticmethod
    def _load(snap: ExporterSnapshot) -> Iterable[Metric]:
        if snap.users is not None:
            yield _gauge(NAMESPACE + "_users", "Simulated users running.", float(snap.users))
        if snap.target_rps is not None:
            yield _gauge(
                NAMESPACE + "_target_rps",
                "Offered arrival rate of an open-loop test, requests per second.",
                snap.target_rps,
            )
        if snap.step_id is not None:
            yield _gauge(
                NAMESPACE + "_step",
                "Id of the current load step (1, 2, ...); mode is closed or open loop.",
                float(snap.step_id),
                mode=snap.step_mode or "",
            )


def exporter_registry(snapshot: Callable[[], ExporterSnapshot]) -> CollectorRegistry:
    """A fresh registry (never the process-global one) holding the exporter's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExporterCollector(snapshot))
    return registry
