"""Scrape Prometheus endpoints (DCGM exporter, Triton, vLLM, ours) into canonical samples.

When the load generator runs on another machine than the GPUs, GPU and
server facts come from the Prometheus endpoints the serving stack already
has. Each speaks its own names and units (DCGM: ``DCGM_FI_DEV_FB_USED`` in
MiB; Triton: ``nv_inference_queue_duration_us``, a counter in microseconds;
vLLM: ``vllm:num_requests_waiting``; SGLang: ``sglang:num_queue_reqs``). One
:data:`MAPPINGS` table translates
them: a row names the exporter kind, the sample name as exposed, which labels
to keep (renamed), a required label match, constant labels, the canonical
metric and a scale factor to base units. **A new server is new rows, not a
new class.**

The kind of an endpoint is detected from the metric names present (DCGM's
``DCGM_FI_`` prefix, Triton's ``nv_inference_``/``nv_gpu_``, vLLM's
``vllm:``, SGLang's ``sglang:``, our reference server's ``locust_ml_server_``,
the gpu-agent's
``locust_ml_gpu_``), or given (``dcgm=http://host:9400/metrics``). Triton
serving vLLM exposes both families, and both map.

Counters stay counters (canonical names ending ``_total``); histogram and
duration counters become the ``_sum``/``_count`` parts of a canonical
``summary`` metric. Rates and means over a step are the glue's business.

Parsing uses ``prometheus_client.parser``, which is exact but slow (about
100 microseconds for a DCGM line with seven labels), and a vLLM endpoint
exposes hundreds of histogram bucket lines we never use. So lines are
filtered by metric name with plain string operations first; only the lines
some row maps are parsed, and their label blocks - the expensive part, and
the same scrape after scrape - are parsed once and cached. The full parse
runs only to explain an endpoint that answered nothing we know.

Anything wrong with an endpoint (refused, timed out, HTTP 500, HTML, binary,
an empty or foreign exposition) raises :class:`SourceUnavailable` with one
line saying which, and the sampler carries on.
"""

from __future__ import annotations

import functools
import http.client
import math
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from prometheus_client.parser import text_string_to_metric_families

from locust_ml.errors import ConfigError
from locust_ml.telemetry.model import (
    METRICS,
    Labels,
    SourceReading,
    SourceUnavailable,
    TelemetrySample,
    labels_of,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DERIVED",
    "KINDS",
    "MAPPINGS",
    "ExporterKind",
    "Fetch",
    "MappingRow",
    "PrometheusScrapeSource",
    "detect_kinds",
    "fetch_text",
    "map_exposition",
    "parse_scrape_spec",
]

#: Seconds a scrape may take before the endpoint counts as unavailable this time.
DEFAULT_TIMEOUT_S: Final = 2.0
#: Largest exposition read (a DCGM exporter on 8 GPUs is ~100 KiB).
MAX_BYTES: Final = 32 * 1024 * 1024

#: ``fetch(url, timeout_s) -> text``: raises OSError (urllib's errors are
#: OSErrors) or ValueError/UnicodeDecodeError on failure.
Fetch = Callable[[str, float], str]

LabelMap = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ExporterKind:
    """A family of endpoints: how to recognise it, and its usual labels."""

    name: str
    title: str
    prefixes: tuple[str, ...]
    #: (label as exposed, canonical label) pairs kept by default; others dropped.
    labels: LabelMap
    #: Values at or above this are the exporter's "no value" sentinels, not data.
    blank_at: float = math.inf


_GPU_AGENT_LABELS: Final = (("gpu", "gpu"), ("uuid", "uuid"), ("name", "name"), ("pid", "pid"))

#: The kinds ``--ml-scrape KIND=URL`` accepts, in detection order.
KINDS: Final = {
    k.name: k
    for k in (
        ExporterKind(
            "dcgm",
            "NVIDIA DCGM exporter",
            ("DCGM_FI_",),
            (("gpu", "gpu"), ("UUID", "uuid"), ("modelName", "name"), ("GPU_I_ID", "gpu_instance")),
            # DCGM reports a field it cannot read as a blank sentinel: 2**47 for
            # floats (DCGM_FP64_BLANK), about 2**63 for integers, plus 1..3 for
            # not found / not supported / no permission. No real reading is that big.
            blank_at=float(2**47),
        ),
        ExporterKind(
            "triton",
            "NVIDIA Triton Inference Server",
            ("nv_inference_", "nv_gpu_"),
            (("model", "model"), ("version", "version"), ("gpu_uuid", "uuid")),
        ),
        ExporterKind("vllm", "vLLM", ("vllm:",), (("model_name", "model"), ("engine", "engine"))),
        ExporterKind(
            "sglang",
            "SGLang",
            ("sglang:",),
            # Kept so that series SGLang splits (by TP rank, streaming or not, the
            # tier a cached token came from) stay apart instead of overwriting
            # each other; the report sums them.
            (
                ("model_name", "model"),
                ("tp_rank", "tp_rank"),
                ("is_streaming", "is_streaming"),
                ("cache_source", "cache_source"),
            ),
        ),
        ExporterKind(
            "locust-ml",
            "locust-ml reference server",
            ("locust_ml_server_",),
            (("endpoint", "endpoint"), ("code", "code")),
        ),
        ExporterKind("gpu-agent", "locust-ml gpu-agent", ("locust_ml_gpu_",), _GPU_AGENT_LABELS),
    )
}


@dataclass(frozen=True)
class MappingRow:
    """One exposed sample name of one kind, and the canonical sample it becomes.

    ``source`` is the sample name exactly as it appears on a line of the
    exposition (``nv_inference_request_success``, ``vllm:prompt_tokens_total``,
    ``vllm:time_to_first_token_seconds_sum``). ``labels`` (None: the kind's
    defaults) lists the (exposed, canonical) label pairs kept; ``match`` the
    label values a sample must have; ``const`` labels added to every sample.
    When two rows yield the same canonical series, the earlier row wins (so
    a server's current name is listed before its deprecated one).
    """

    kind: str
    source: str
    metric: str
    scale: float = 1.0
    labels: LabelMap | None = None
    match: LabelMap = ()
    const: LabelMap = ()

    def label_map(self) -> LabelMap:
        return KINDS[self.kind].labels if self.labels is None else self.labels


_MIB: Final = 1024.0 * 1024.0
_US: Final = 1e-6
_SUCCESS: Final = (("outcome", "success"),)


def _rows(kind: str, *entries: tuple[str, str] | tuple[str, str, float]) -> list[MappingRow]:
    return [MappingRow(kind, e[0], e[1], e[2] if len(e) == 3 else 1.0) for e in entries]


def _agent_rows() -> list[MappingRow]:
    # The gpu-agent exposes every per-GPU canonical metric as locust_ml_<name>.
    return [
        MappingRow("gpu-agent", "locust_ml_" + spec.name, spec.name)
        for spec in METRICS.values()
        if spec.name.startswith("gpu_") and spec.kind != "summary"
    ]


#: The mapping table. Units: DCGM memory in MiB, clocks in MHz, utilization in
#: percent, energy in mJ; Triton durations in microseconds, utilization 0..1;
#: vLLM already in base units (its ``*_perc`` gauges are 0..1 despite the name).
MAPPINGS: Final[tuple[MappingRow, ...]] = (
    *_rows(
        "dcgm",
        ("DCGM_FI_DEV_GPU_UTIL", "gpu_utilization_ratio", 0.01),
        ("DCGM_FI_DEV_MEM_COPY_UTIL", "gpu_memory_utilization_ratio", 0.01),
        ("DCGM_FI_PROF_SM_ACTIVE", "gpu_sm_active_ratio"),
        ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gpu_tensor_active_ratio"),
        ("DCGM_FI_DEV_FB_USED", "gpu_memory_used_bytes", _MIB),
        ("DCGM_FI_DEV_FB_FREE", "gpu_memory_free_bytes", _MIB),
        ("DCGM_FI_DEV_FB_TOTAL", "gpu_memory_total_bytes", _MIB),
        ("DCGM_FI_DEV_POWER_USAGE", "gpu_power_watts"),
        ("DCGM_FI_DEV_POWER_MGMT_LIMIT", "gpu_power_limit_watts"),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "gpu_energy_joules_total", 0.001),
        ("DCGM_FI_DEV_GPU_TEMP", "gpu_temperature_celsius"),
        ("DCGM_FI_DEV_SM_CLOCK", "gpu_sm_clock_hertz", 1e6),
    ),
    *_rows(
        "triton",
        ("nv_gpu_utilization", "gpu_utilization_ratio"),
        ("nv_gpu_memory_used_bytes", "gpu_memory_used_bytes"),
        ("nv_gpu_memory_total_bytes", "gpu_memory_total_bytes"),
        ("nv_gpu_power_usage", "gpu_power_watts"),
        ("nv_gpu_power_limit", "gpu_power_limit_watts"),
        ("nv_energy_consumption", "gpu_energy_joules_total"),
        ("nv_inference_pending_request_count", "server_requests_waiting"),
        ("nv_inference_queue_duration_us", "server_queue_seconds_sum", _US),
        ("nv_inference_request_success", "server_queue_seconds_count"),
        ("nv_inference_compute_infer_duration_us", "server_compute_seconds_sum", _US),
        ("nv_inference_request_success", "server_compute_seconds_count"),
        ("nv_inference_request_duration_us", "server_request_seconds_sum", _US),
        ("nv_inference_request_success", "server_request_seconds_count"),
        ("nv_inference_count", "server_batch_size_sum"),
        ("nv_inference_exec_count", "server_batch_size_count"),
    ),
    MappingRow("triton", "nv_inference_request_success", "server_requests_total", const=_SUCCESS),
    MappingRow(
        "triton",
        "nv_inference_request_failure",
        "server_requests_total",
        labels=(("model", "model"), ("version", "version"), ("reason", "reason")),
        const=(("outcome", "failure"),),
    ),
    *_rows(
        "vllm",
        ("vllm:num_requests_running", "server_requests_running"),
        ("vllm:num_requests_waiting", "server_requests_waiting"),
        ("vllm:kv_cache_usage_perc", "server_kv_cache_usage_ratio"),
        ("vllm:gpu_cache_usage_perc", "server_kv_cache_usage_ratio"),  # before 0.10
        ("vllm:num_preemptions_total", "server_preemptions_total"),
        ("vllm:prompt_tokens_total", "server_prompt_tokens_total"),
        ("vllm:generation_tokens_total", "server_generation_tokens_total"),
        ("vllm:request_queue_time_seconds_sum", "server_queue_seconds_sum"),
        ("vllm:request_queue_time_seconds_count", "server_queue_seconds_count"),
        ("vllm:request_inference_time_seconds_sum", "server_compute_seconds_sum"),
        ("vllm:request_inference_time_seconds_count", "server_compute_seconds_count"),
        ("vllm:e2e_request_latency_seconds_sum", "server_request_seconds_sum"),
        ("vllm:e2e_request_latency_seconds_count", "server_request_seconds_count"),
        ("vllm:time_to_first_token_seconds_sum", "server_time_to_first_token_seconds_sum"),
        ("vllm:time_to_first_token_seconds_count", "server_time_to_first_token_seconds_count"),
        ("vllm:inter_token_latency_seconds_sum", "server_inter_token_seconds_sum"),
        ("vllm:inter_token_latency_seconds_count", "server_inter_token_seconds_count"),
        # Before 0.11 the same histogram was time_per_output_token_seconds.
        ("vllm:time_per_output_token_seconds_sum", "server_inter_token_seconds_sum"),
        ("vllm:time_per_output_token_seconds_count", "server_inter_token_seconds_count"),
        # Prefix caching, in prompt tokens (V1 engine; 0.8-0.9 named them gpu_prefix_...).
        ("vllm:prefix_cache_queries_total", "server_prefix_cache_queries_total"),
        ("vllm:prefix_cache_hits_total", "server_prefix_cache_hits_total"),
        ("vllm:gpu_prefix_cache_queries_total", "server_prefix_cache_queries_total"),
        ("vllm:gpu_prefix_cache_hits_total", "server_prefix_cache_hits_total"),
    ),
    MappingRow(
        "vllm",
        "vllm:request_success_total",
        "server_requests_total",
        labels=(("model_name", "model"), ("engine", "engine"), ("finished_reason", "reason")),
        const=_SUCCESS,
    ),
    *_rows(
        "sglang",
        ("sglang:num_running_reqs", "server_requests_running"),
        ("sglang:num_queue_reqs", "server_requests_waiting"),
        ("sglang:token_usage", "server_kv_cache_usage_ratio"),
        ("sglang:prompt_tokens_total", "server_prompt_tokens_total"),
        ("sglang:generation_tokens_total", "server_generation_tokens_total"),
        # Every prompt token is looked up in the radix cache; cached_tokens are the hits.
        ("sglang:prompt_tokens_total", "server_prefix_cache_queries_total"),
        ("sglang:cached_tokens_total", "server_prefix_cache_hits_total"),
        ("sglang:time_to_first_token_seconds_sum", "server_time_to_first_token_seconds_sum"),
        ("sglang:time_to_first_token_seconds_count", "server_time_to_first_token_seconds_count"),
        ("sglang:inter_token_latency_seconds_sum", "server_inter_token_seconds_sum"),
        ("sglang:inter_token_latency_seconds_count", "server_inter_token_seconds_count"),
        ("sglang:e2e_request_latency_seconds_sum", "server_request_seconds_sum"),
        ("sglang:e2e_request_latency_seconds_count", "server_request_seconds_count"),
    ),
    *_rows(
        "locust-ml",
        ("locust_ml_server_queue_depth", "server_requests_waiting"),
        ("locust_ml_server_running_requests", "server_requests_running"),
        ("locust_ml_server_requests_total", "server_requests_total"),
        ("locust_ml_server_prompt_tokens_total", "server_prompt_tokens_total"),
        ("locust_ml_server_generation_tokens_total", "server_generation_tokens_total"),
        ("locust_ml_server_prefix_cache_queries_total", "server_prefix_cache_queries_total"),
        ("locust_ml_server_prefix_cache_hits_total", "server_prefix_cache_hits_total"),
        ("locust_ml_server_queue_seconds_sum", "server_queue_seconds_sum"),
        ("locust_ml_server_queue_seconds_count", "server_queue_seconds_count"),
        ("locust_ml_server_inference_seconds_sum", "server_compute_seconds_sum"),
        ("locust_ml_server_inference_seconds_count", "server_compute_seconds_count"),
        ("locust_ml_server_batch_size_sum", "server_batch_size_sum"),
        ("locust_ml_server_batch_size_count", "server_batch_size_count"),
    ),
    *_agent_rows(),
)

#: Canonical gauges computed when a source lacks them: (target, addends).
#: DCGM's default counters have used and free framebuffer memory, not total.
DERIVED: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("gpu_memory_total_bytes", ("gpu_memory_used_bytes", "gpu_memory_free_bytes")),
)


_NAME_END = re.compile(r"[\s{]")


def _line_name(line: str) -> str:
    match = _NAME_END.search(line)
    return line[: match.start()] if match else line


def _sample_names(text: str, starts: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Sample lines of an exposition grouped by metric name (comments skipped).

    With ``starts``, only lines beginning with one of those prefixes are
    looked at - a C-level ``str.startswith`` per line - which keeps a scrape of
    a big exposition (a server's histograms, many GPUs) cheap at 1 Hz.
    """
    lines: dict[str, list[str]] = {}
    for raw in text.splitlines():
        text_line = raw.lstrip() if raw[:1] in (" ", "\t") else raw
        if starts is not None and not text_line.startswith(starts):
            continue
        line = text_line.rstrip()
        if not line or line[0] == "#":
            continue
        lines.setdefault(_line_name(line), []).append(line)
    return lines


def detect_kinds(names: Iterable[str]) -> tuple[str, ...]:
    """The kinds whose prefixes appear among ``names``, in :data:`KINDS` order.

    >>> detect_kinds(["nv_inference_count", "vllm:num_requests_running"])
    ('triton', 'vllm')
    """
    names = tuple(names)
    return tuple(
        kind.name
        for kind in KINDS.values()
        if any(name.startswith(kind.prefixes) for name in names)
    )


def _explain_unknown(text: str, names: Sequence[str]) -> str:
    """Why an exposition with no known metric name yields nothing: a precise reason."""
    head = text.lstrip()[:40]
    if not head:
        return "answered an empty body"
    if head.startswith("<"):
        return f"answered HTML or XML, not Prometheus text ({head!r}...)"
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # the parser raises ValueError, IndexError, ...
        return f"answered something that is not Prometheus text: {_first_line(exc)}"
    if not families:
        return "answered an exposition without samples"
    known = ", ".join(sorted(KINDS))
    shown = ", ".join(sorted(names)[:3])
    return (
        f"exposes no metric this tool maps ({len(families)} families, e.g. {shown}); "
        f"known kinds: {known}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


@functools.lru_cache(maxsize=8192)
def _parse_labels(block: str) -> tuple[tuple[str, str], ...]:
    """The labels of a ``{...}`` block, parsed by prometheus_client (cached).

    Label parsing (quoting, escapes) is where the parser spends its time, and
    an endpoint repeats the same label blocks scrape after scrape with new
    values, so each distinct block is parsed once.
    """
    families = list(text_string_to_metric_families(f"m{block} 0\n"))
    return tuple(families[0].samples[0].labels.items())


def _parse_line(name: str, line: str) -> tuple[dict[str, str], float]:
    """(labels, value) of one sample line whose metric name is ``name``."""
    rest = line[len(name) :]
    try:
        if rest.startswith("{"):
            end = rest.rfind("}")  # the value and timestamp after it hold no brace
            if end < 0:
                raise ValueError(f"unclosed label braces in {line[:80]!r}")
            labels = dict(_parse_labels(rest[: end + 1]))
            rest = rest[end + 1 :]
        else:
            labels = {}
        fields = rest.split()
        if len(fields) not in (1, 2):  # a value, and maybe a timestamp we ignore
            raise ValueError(f"expected a value after the labels in {line[:80]!r}")
        return labels, float(fields[0])
    except Exception as exc:  # ValueError from the parser or float(), IndexError, ...
        raise SourceUnavailable(f"malformed exposition line: {_first_line(exc)}") from None


def map_exposition(
    text: str,
    *,
    source: str,
    timestamp: float,
    kinds: Sequence[str] | None = None,
) -> SourceReading:
    """Canonical samples from one exposition text.

    ``kinds`` None detects them from the names present. Raises
    :class:`SourceUnavailable` when nothing maps, saying why.
    """
    return _map(text, source, timestamp, kinds)[0]


def _kind_prefixes() -> tuple[str, ...]:
    return tuple(p for kind in KINDS.values() for p in kind.prefixes)


@functools.lru_cache(maxsize=64)
def _rows_for(use: tuple[str, ...]) -> dict[str, list[tuple[int, MappingRow]]]:
    """Mapping rows of the kinds in ``use``, by exposed sample name (cached)."""
    rows: dict[str, list[tuple[int, MappingRow]]] = {}
    for index, row in enumerate(MAPPINGS):
        if row.kind in use:
            rows.setdefault(row.source, []).append((index, row))
    return rows


def _map(
    text: str, source: str, timestamp: float, kinds: Sequence[str] | None
) -> tuple[SourceReading, tuple[str, ...]]:
    use = tuple(kinds) if kinds else detect_kinds(_sample_names(text, _kind_prefixes()))
    if not use:
        raise SourceUnavailable(_explain_unknown(text, list(_sample_names(text))))
    rows = _rows_for(use)
    by_name = _sample_names(text, tuple(rows))
    best: dict[tuple[str, Labels], tuple[int, float]] = {}
    gaps: dict[str, None] = {}
    for name, name_rows in rows.items():
        for line in by_name.get(name, ()):
            labels, value = _parse_line(name, line)
            for index, row in name_rows:
                if any(labels.get(k) != v for k, v in row.match):
                    continue
                kept = [(dst, labels[src]) for src, dst in row.label_map() if src in labels]
                key = (row.metric, labels_of([*kept, *row.const]))
                if not math.isfinite(value) or value >= KINDS[row.kind].blank_at:
                    where = ",".join(f"{k}={v}" for k, v in key[1])
                    gaps[f"{name}{{{where}}}: no value"] = None
                    continue
                if key not in best or index < best[key][0]:
                    best[key] = (index, value * row.scale)
    if not best:
        names = ", ".join(sorted(KINDS[k].title for k in use))
        raise SourceUnavailable(f"no mapped metric has a value yet ({names})")
    _derive(best)
    ordered = sorted(best.items(), key=lambda item: (item[1][0], item[0]))
    samples = [
        TelemetrySample(timestamp, source, metric, labels, value)
        for (metric, labels), (_, value) in ordered
    ]
    return SourceReading(samples, tuple(gaps)), use


def _derive(best: dict[tuple[str, Labels], tuple[int, float]]) -> None:
    last = len(MAPPINGS)
    for target, addends in DERIVED:
        label_sets = {labels for metric, labels in best if metric == addends[0]}
        for labels in label_sets:
            if (target, labels) in best:
                continue
            parts = [best.get((metric, labels)) for metric in addends]
            if all(p is not None for p in parts):
                best[(target, labels)] = (last, sum(p[1] for p in parts if p is not None))


def fetch_text(url: str, timeout: float) -> str:
    """GET ``url`` as Prometheus text (format 0.0.4); raises OSError/ValueError."""
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body: bytes = response.read(MAX_BYTES + 1)
        charset = response.headers.get_content_charset()
    return _decode(body, charset)


class KeepAliveFetch:
    """``fetch(url, timeout)`` over one persistent HTTP/1.1 connection per host.

    Reading an endpoint every second over a new TCP connection each time costs
    more CPU than parsing its answer; a kept-alive connection is reused, and
    re-opened once when the server closed it in between.
    """

    def __init__(self, connect: Connect | None = None) -> None:
        self._conns: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self._connect = connect

    def __call__(self, url: str, timeout: float) -> str:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        key = (parts.scheme, parts.netloc)
        for attempt in (1, 2):
            conn = self._conns.get(key)
            if conn is None:
                if parts.scheme == "https":
                    conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout)
                elif self._connect is not None:
                    conn = _Connection(parts.netloc, timeout, self._connect)
                else:
                    conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
                self._conns[key] = conn
            try:
                conn.request("GET", path, headers={"Accept": _ACCEPT})
                response = conn.getresponse()
                body = response.read(MAX_BYTES + 1)
            except (
                http.client.RemoteDisconnected,
                http.client.CannotSendRequest,
                http.client.ResponseNotReady,
                ConnectionResetError,
                BrokenPipeError,
            ):
                self._drop(key)
                if attempt == 2:
                    raise
                continue
            except Exception:
                self._drop(key)
                raise
            if response.status != 200:
                self._drop(key)
                raise urllib.error.HTTPError(
                    url, response.status, response.reason, response.headers, None
                )
            if response.will_close:
                self._drop(key)
            return _decode(body, response.headers.get_content_charset())
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self, key: tuple[str, str]) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for key in list(self._conns):
            self._drop(key)


#: ``socket.create_connection``'s signature: (address, timeout, source_address).
Connect = Callable[..., socket.socket]


class _Connection(http.client.HTTPConnection):
    """An HTTP connection whose socket comes from an injected ``create_connection``.

    The Locust glue reads endpoints in a native thread of gevent's pool, where
    gevent's cooperative sockets only add overhead: it injects the original,
    blocking ``socket.create_connection``.
    """

    def __init__(self, netloc: str, timeout: float, connect: Connect) -> None:
        super().__init__(netloc, timeout=timeout)
        self._connect_fn = connect

    def connect(self) -> None:
        source = getattr(self, "source_address", None)
        self.sock = self._connect_fn((self.host, self.port), self.timeout, source)


def _decode(body: bytes, charset: str | None) -> str:
    if len(body) > MAX_BYTES:
        raise ValueError(f"answered more than {MAX_BYTES // (1024 * 1024)} MiB")
    if b"\x00" in body:
        raise ValueError("answered binary data, not Prometheus text")
    return body.decode(charset or "utf-8")


_ACCEPT: Final = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


def _fetch_reason(exc: BaseException, timeout: float) -> str:
    """One line for a failed fetch."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"answered HTTP {exc.code} {exc.reason}".rstrip()
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    for kinds, text in _FETCH_REASONS:
        if isinstance(reason, kinds):
            return text.format(timeout=timeout)
    if isinstance(reason, socket.gaierror):
        return f"host not found ({reason.strerror or reason})"
    return _first_line(reason) if isinstance(reason, BaseException) else str(reason)


_FETCH_REASONS: Final[tuple[tuple[type[BaseException], str], ...]] = (
    (TimeoutError, "no answer within {timeout:g} s"),
    (ConnectionRefusedError, "connection refused (nothing listening?)"),
    (UnicodeDecodeError, "answered binary data, not Prometheus text"),
)


class PrometheusScrapeSource:
    """A Prometheus endpoint read as canonical samples, once per ``read``.

    >>> text = 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} 87\\n'
    >>> src = PrometheusScrapeSource("http://gpu-host:9400/metrics", fetch=lambda u, t: text)
    >>> [(s.metric, s.value) for s in src.read(0.0).samples]
    [('gpu_utilization_ratio', 0.87)]
    >>> src.kinds
    ('dcgm',)
    """

    def __init__(
        self,
        url: str,
        *,
        kind: str | None = None,
        name: str | None = None,
        fetch: Fetch | None = None,
        connect: Connect | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        _check_url(url, url)
        if kind is not None and kind not in KINDS:
            raise ConfigError(
                f"unknown exporter kind {kind!r} for {url}; expected one of {', '.join(KINDS)}"
            )
        self.url = url
        self._name = name or url
        self._keepalive = KeepAliveFetch(connect) if fetch is None else None
        self._fetch: Fetch = fetch or self._keepalive  # type: ignore[assignment]
        self._timeout = timeout
        self._given: tuple[str, ...] | None = (kind,) if kind else None
        self._kinds: tuple[str, ...] | None = self._given

    @property
    def name(self) -> str:
        return self._name

    @property
    def kinds(self) -> tuple[str, ...] | None:
        """The kinds given, or detected at the last read (None before)."""
        return self._kinds

    def read(self, timestamp: float) -> SourceReading:
        try:
            text = self._fetch(self.url, self._timeout)
        except Exception as exc:  # urllib raises OSError subclasses, decode ValueError
            raise SourceUnavailable(_fetch_reason(exc, self._timeout)) from None
        # Detected at every read (cheap): Triton shows its vLLM backend's metrics
        # only once the model is loaded.
        reading, self._kinds = _map(text, self._name, timestamp, self._given)
        return reading

    def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.close()


def _check_url(url: str, spec: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        port_ok = parts.port is None or parts.port >= 0  # .port raises on "x" or 99999
    except ValueError:  # also "http://[", an unclosed IPv6 address
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"scrape target {spec!r}: expected an http(s) URL such as "
            f"http://gpu-host:9400/metrics, optionally as KIND=URL with KIND one of "
            f"{', '.join(KINDS)}"
        )


def parse_scrape_spec(spec: str) -> tuple[str | None, str]:
    """``"dcgm=http://h:9400/metrics"`` -> ``("dcgm", url)``; a bare URL -> ``(None, url)``.

    >>> parse_scrape_spec("vllm=http://127.0.0.1:8000/metrics")
    ('vllm', 'http://127.0.0.1:8000/metrics')
    >>> parse_scrape_spec("http://127.0.0.1:9400/metrics")
    (None, 'http://127.0.0.1:9400/metrics')
    """
    spec = spec.strip()
    kind: str | None = None
    url = spec
    head, sep, rest = spec.partition("=")
    if sep and "://" not in head:
        kind, url = head.strip(), rest.strip()
        if kind not in KINDS:
            raise ConfigError(
                f"scrape target {spec!r}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
            )
    _check_url(url, spec)
    return kind, url
