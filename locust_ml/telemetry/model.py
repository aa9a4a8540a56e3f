"""Telemetry samples, the canonical metrics, and the contract every source keeps.

A load test reads the same few facts from very different places: GPU
utilization from NVML on this host, from a DCGM exporter, from Triton's
``nv_gpu_utilization``; queue depth from vLLM, Triton or our reference
server. Each adapter translates its source's names and units into one
*canonical* vocabulary, so the report, the exporter and the glue deal with
``gpu_utilization_ratio`` in base units and never with ``DCGM_FI_DEV_GPU_UTIL``
in percent.

A canonical metric is a row of :data:`METRICS` (name, unit, kind, help,
whether higher is better), not a class. Kinds follow Prometheus:

* ``gauge`` - a level (utilization, bytes in use, requests waiting);
* ``counter`` - cumulative since the source started (name ends ``_total``);
  the glue turns two readings into a rate over a step;
* ``summary`` - a pair of counters ``<name>_sum`` and ``<name>_count`` taken
  from a server's histogram or duration counters; the mean over a step is
  ``delta(sum) / delta(count)``. Samples carry the part in their name.

Every source implements :class:`TelemetrySource`: ``read(timestamp)`` blocks
(NVML calls, HTTP), returns a :class:`SourceReading`, and raises
:class:`SourceUnavailable` with one clear reason when it cannot read at all.
Partial gaps (one GPU without a power sensor) are reported, not raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from locust_ml.errors import LocustMLError

__all__ = [
    "GPU_LABELS",
    "METRICS",
    "MetricKind",
    "MetricSpec",
    "SourceReading",
    "SourceUnavailable",
    "TelemetrySample",
    "TelemetrySource",
    "labels_of",
    "metric_spec",
]

MetricKind = Literal["gauge", "counter", "summary"]
Labels = tuple[tuple[str, str], ...]

#: Labels every per-GPU sample carries where the source knows them: the device
#: index (as NVML and DCGM number it), its UUID, and its product name.
GPU_LABELS: Final = ("gpu", "uuid", "name")


class SourceUnavailable(LocustMLError, RuntimeError):
    """A telemetry source cannot be read; the message is the reason, in one line.

    Raised by :meth:`TelemetrySource.read` only. The sampler catches it, warns
    once, records the reason in its status, and retries later: telemetry never
    stops a load test.
    """


@dataclass(frozen=True)
class TelemetrySample:
    """One reading of one canonical metric from one source.

    ``metric`` is a canonical name from :data:`METRICS`, with ``_sum`` or
    ``_count`` appended for the parts of a ``summary`` metric. ``value`` is a
    float in the metric's base unit. ``labels`` is sorted, so equal series
    compare equal.

    >>> s = TelemetrySample.of(12.0, "nvml", "gpu_power_watts", 61.2, gpu="0", uuid="GPU-1")
    >>> s.labels
    (('gpu', '0'), ('uuid', 'GPU-1'))
    >>> s.series
    ('nvml', 'gpu_power_watts', (('gpu', '0'), ('uuid', 'GPU-1')))
    """

    timestamp: float
    source: str
    metric: str
    labels: Labels
    value: float

    @classmethod
    def of(
        cls, timestamp: float, source: str, metric: str, value: float, **labels: str
    ) -> TelemetrySample:
        return cls(timestamp, source, metric, labels_of(labels), float(value))

    @property
    def series(self) -> tuple[str, str, Labels]:
        """What identifies the series this sample belongs to (not its time or value)."""
        return (self.source, self.metric, self.labels)

    def label(self, name: str, default: str = "") -> str:
        for key, value in self.labels:
            if key == name:
                return value
        return default


def labels_of(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """Labels as a sorted tuple of pairs (the form :class:`TelemetrySample` keeps)."""
    items = labels.items() if isinstance(labels, Mapping) else labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True)
class MetricSpec:
    """A canonical metric: a row of :data:`METRICS`.

    ``higher_is_better`` is None where neither direction is good in itself
    (memory in use, requests waiting are facts to correlate, not scores).
    """

    name: str
    unit: str
    kind: MetricKind
    help: str
    higher_is_better: bool | None = None
    labels: tuple[str, ...] = field(default=())

    @property
    def sample_names(self) -> tuple[str, ...]:
        """The names samples of this metric carry (two for a summary)."""
        if self.kind == "summary":
            return (self.name + "_sum", self.name + "_count")
        return (self.name,)


def _m(
    name: str,
    unit: str,
    kind: MetricKind,
    help_: str,
    higher_is_better: bool | None = None,
    labels: tuple[str, ...] = (),
) -> MetricSpec:
    return MetricSpec(name, unit, kind, help_, higher_is_better, labels)


_GPU = GPU_LABELS

#: The canonical metrics, in the order documentation and exports list them.
#: Units are base units: ratio (0..1), bytes, watts, joules, celsius, hertz,
#: seconds, requests, tokens. See ``docs/metrics.md``.
# fmt: off
METRICS: Final[Mapping[str, MetricSpec]] = {
    spec.name: spec
    for spec in (
        # GPU, per device.
        _m("gpu_utilization_ratio", "ratio", "gauge",
           "Fraction of the sample period during which a kernel ran on the GPU.", True, _GPU),
        _m("gpu_memory_utilization_ratio", "ratio", "gauge",
           "Fraction of the sample period during which device memory was read or written.",
           None, _GPU),
        _m("gpu_sm_active_ratio", "ratio", "gauge",
           "Fraction of cycles an SM had at least one warp assigned (DCGM profiling).", True, _GPU),
        _m("gpu_tensor_active_ratio", "ratio", "gauge",
           "Fraction of cycles the tensor pipes were active (DCGM profiling).", True, _GPU),
        _m("gpu_memory_used_bytes", "bytes", "gauge",
           "Device memory in use.", None, _GPU),
        _m("gpu_memory_free_bytes", "bytes", "gauge",
           "Device memory free.", None, _GPU),
        _m("gpu_memory_total_bytes", "bytes", "gauge",
           "Device memory installed (as the driver reports it).", None, _GPU),
        _m("gpu_power_watts", "watts", "gauge",
           "Power draw of the board.", False, _GPU),
        _m("gpu_power_limit_watts", "watts", "gauge",
           "Enforced power limit of the board.", None, _GPU),
        _m("gpu_energy_joules_total", "joules", "counter",
           "Energy consumed since the source started counting.", False, _GPU),
        _m("gpu_temperature_celsius", "celsius", "gauge",
           "GPU die temperature.", False, _GPU),
        _m("gpu_sm_clock_hertz", "hertz", "gauge",
           "Current SM clock.", None, _GPU),
        _m("gpu_process_memory_used_bytes", "bytes", "gauge",
           "Device memory used by one compute process.", None, (*_GPU, "pid")),
        # Inference server, per model or endpoint where the server says.
        _m("server_requests_running", "requests", "gauge",
           "Requests being executed (in a running batch)."),
        _m("server_requests_waiting", "requests", "gauge",
           "Requests queued, not yet executing (the queue depth)."),
        _m("server_kv_cache_usage_ratio", "ratio", "gauge",
           "Fraction of the KV-cache blocks in use."),
        _m("server_requests_total", "requests", "counter",
           "Requests the server finished, by outcome where the server tells it."),
        _m("server_preemptions_total", "requests", "counter",
           "Running requests preempted to free KV-cache (vLLM).", False),
        _m("server_prompt_tokens_total", "tokens", "counter",
           "Prompt tokens processed (prefill)."),
        _m("server_generation_tokens_total", "tokens", "counter",
           "Tokens generated (decode).", True),
        _m("server_queue_seconds", "seconds", "summary",
           "Time requests waited before execution (sum and count of requests).", False),
        _m("server_compute_seconds", "seconds", "summary",
           "Time spent executing requests or batches (sum and count).", False),
        _m("server_request_seconds", "seconds", "summary",
           "Server-side end-to-end request time (sum and count).", False),
        _m("server_time_to_first_token_seconds", "seconds", "summary",
           "Server-side time to first token (sum and count).", False),
        _m("server_inter_token_seconds", "seconds", "summary",
           "Server-side time between output tokens (sum and count).", False),
        _m("server_prefix_cache_queries_total", "tokens", "counter",
           "Prompt tokens looked up in the prefix cache."),
        _m("server_prefix_cache_hits_total", "tokens", "counter",
           "Prompt tokens found in the prefix cache (not prefilled again); over queries: "
           "the token hit rate.", True),
        _m("server_batch_size", "requests", "summary",
           "Requests (or sequences) per executed batch (sum and count of batches).", True),
        # A local process (the embedded reference server), for leak detection.
        _m("process_cpu_seconds_total", "seconds", "counter",
           "User plus system CPU time of the process.", None, ("pid",)),
        _m("process_resident_memory_bytes", "bytes", "gauge",
           "Resident set size of the process.", None, ("pid",)),
    )
}
# fmt: on


def metric_spec(sample_metric: str) -> MetricSpec:
    """The :class:`MetricSpec` of a sample's ``metric`` (``_sum``/``_count`` resolved).

    >>> metric_spec("server_queue_seconds_count").name
    'server_queue_seconds'
    """
    spec = METRICS.get(sample_metric)
    if spec is not None:
        return spec
    for suffix in ("_sum", "_count"):
        if sample_metric.endswith(suffix):
            spec = METRICS.get(sample_metric.removesuffix(suffix))
            if spec is not None and spec.kind == "summary":
                return spec
    raise KeyError(f"unknown telemetry metric {sample_metric!r}; expected a name from METRICS")


@dataclass(frozen=True)
class SourceReading:
    """What one ``read`` returned: samples, and what was missing from them.

    ``gaps`` are short human-readable notes ("gpu 1: gpu_power_watts not
    supported"); the sampler keeps them in the source's status so the report
    can say what is missing without failing the whole source.
    """

    samples: Sequence[TelemetrySample]
    gaps: tuple[str, ...] = ()


class TelemetrySource(Protocol):
    """What the sampler polls. Implementations block; none assumes gevent."""

    @property
    def name(self) -> str:
        """A short, stable name (``nvml``, a URL, ``process:1234``) used in samples."""
        ...

    def read(self, timestamp: float) -> SourceReading:
        """Read every metric once, stamping samples with ``timestamp``.

        Raises :class:`SourceUnavailable` (one-line reason) when nothing can be read.
        """
        ...

    def close(self) -> None:
        """Release what ``read`` acquired (NVML handles, sockets). Idempotent."""
        ...
