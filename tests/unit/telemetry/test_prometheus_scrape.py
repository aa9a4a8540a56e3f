"""The scrape path: recorded DCGM / Triton / vLLM texts, our own servers, real HTTP."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from locust_ml.errors import ConfigError
from locust_ml.server.metrics import ServerMetrics
from locust_ml.telemetry.gpu_agent import GpuAgentCollector
from locust_ml.telemetry.model import METRICS, SourceUnavailable, TelemetrySample, metric_spec
from locust_ml.telemetry.nvml import NvmlSource
from locust_ml.telemetry.prometheus_scrape import (
    KINDS,
    MAPPINGS,
    PrometheusScrapeSource,
    detect_kinds,
    map_exposition,
    parse_scrape_spec,
)
from tests.unit.telemetry.fakes import Endpoints, FakeNvml, exposition

MIB = 1024 * 1024


def mapped(text: str, kinds: tuple[str, ...] | None = None) -> list[TelemetrySample]:
    return list(map_exposition(text, source="src", timestamp=5.0, kinds=kinds).samples)


def index(samples: list[TelemetrySample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.metric, s.labels): s.value for s in samples}


def one(samples: list[TelemetrySample], metric: str, **labels: str) -> float:
    hits = [
        s.value
        for s in samples
        if s.metric == metric and all(s.label(k) == v for k, v in labels.items())
    ]
    assert len(hits) == 1, (metric, labels, hits)
    return hits[0]


def test_the_mapping_table_is_consistent() -> None:
    for row in MAPPINGS:
        assert row.kind in KINDS, row
        metric_spec(row.metric)  # every target is a canonical metric
        assert math.isfinite(row.scale), row
        assert row.scale > 0, row
        assert row.source.startswith(KINDS[row.kind].prefixes) or row.kind == "triton", row
    for kind in KINDS:
        assert any(row.kind == kind for row in MAPPINGS), kind
    # Summary parts come in pairs within a kind.
    for kind in KINDS:
        targets = {row.metric for row in MAPPINGS if row.kind == kind}
        for t in targets:
            if t.endswith("_sum"):
                assert t.removesuffix("_sum") + "_count" in targets, (kind, t)


def test_dcgm_units_become_base_units_and_labels_are_renamed() -> None:
    samples = mapped(exposition("dcgm.txt"))
    assert {s.source for s in samples} == {"src"}
    assert {s.timestamp for s in samples} == {5.0}
    gpu0 = {"gpu": "0"}
    assert one(samples, "gpu_utilization_ratio", **gpu0) == pytest.approx(0.98)
    assert one(samples, "gpu_memory_utilization_ratio", **gpu0) == pytest.approx(0.64)
    assert one(samples, "gpu_memory_used_bytes", **gpu0) == 73216 * MIB
    assert one(samples, "gpu_memory_free_bytes", **gpu0) == 7831 * MIB
    assert one(samples, "gpu_memory_total_bytes", **gpu0) == (73216 + 7831) * MIB  # derived
    assert one(samples, "gpu_power_watts", **gpu0) == pytest.approx(612.417)
    assert one(samples, "gpu_energy_joules_total", **gpu0) == pytest.approx(9876543.210)
    assert one(samples, "gpu_temperature_celsius", **gpu0) == 71
    assert one(samples, "gpu_sm_clock_hertz", **gpu0) == 1.98e9
    assert one(samples, "gpu_sm_active_ratio", **gpu0) == pytest.approx(0.913377)
    assert one(samples, "gpu_tensor_active_ratio", **gpu0) == pytest.approx(0.557306)
    assert one(samples, "gpu_utilization_ratio", gpu="1") == 0.0
    s = next(s for s in samples if s.metric == "gpu_power_watts" and s.label("gpu") == "1")
    assert dict(s.labels) == {
        "gpu": "1",
        "uuid": "GPU-2b71d0c4-8e39-4f5a-9d16-c03a5e8b7f21",
        "name": "NVIDIA H100 80GB HBM3",
    }  # Hostname, pci_bus_id, device, driver version dropped
    assert {s.metric for s in samples} <= set(METRICS)


def test_triton_counters_stay_counters_and_give_means_per_request() -> None:
    samples = mapped(exposition("triton.txt"))
    m = {"model": "resnet50_onnx", "version": "1"}
    queue = one(samples, "server_queue_seconds_sum", **m) / one(
        samples, "server_queue_seconds_count", **m
    )
    compute = one(samples, "server_compute_seconds_sum", **m) / one(
        samples, "server_compute_seconds_count", **m
    )
    request = one(samples, "server_request_seconds_sum", **m) / one(
        samples, "server_request_seconds_count", **m
    )
    batch = one(samples, "server_batch_size_sum", **m) / one(
        samples, "server_batch_size_count", **m
    )
    assert (queue, compute, request) == pytest.approx((0.008, 0.011, 0.021))
    assert batch == 48213 / 6027  # about 8 requests per execution
    assert one(samples, "server_requests_waiting", **m) == 37
    assert one(samples, "server_requests_total", outcome="success", **m) == 48213
    assert one(samples, "server_requests_total", outcome="failure", reason="REJECTED", **m) == 12
    uuid = "GPU-4f8a2c1e-93b7-5d0e-a6c4-1b2e7f9d3a58"
    assert one(samples, "gpu_utilization_ratio", uuid=uuid) == pytest.approx(0.87)
    assert one(samples, "gpu_memory_total_bytes", uuid=uuid) == 85899345920
    assert one(samples, "gpu_power_limit_watts", uuid=uuid) == 400
    assert one(samples, "gpu_energy_joules_total", uuid=uuid) == pytest.approx(512087.113)
    # CPU, pinned memory and model load time are not mapped.
    assert not [s for s in samples if "cpu" in s.metric]


def test_vllm_scheduler_cache_and_latency_histograms() -> None:
    samples = mapped(exposition("vllm.txt"))
    m = {"model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "0"}
    assert one(samples, "server_requests_running", **m) == 48
    assert one(samples, "server_requests_waiting", **m) == 11
    # Current and deprecated names both present: one series, not two.
    assert one(samples, "server_kv_cache_usage_ratio", **m) == pytest.approx(0.8734375)
    assert one(samples, "server_preemptions_total", **m) == 23
    assert one(samples, "server_requests_total", reason="stop", outcome="success") == 1712
    assert one(samples, "server_time_to_first_token_seconds_count", **m) == 1840
    ttft_mean = one(samples, "server_time_to_first_token_seconds_sum", **m) / 1840
    assert 0.1 < ttft_mean < 0.5
    # Before 0.11, inter-token latency was time_per_output_token_seconds.
    assert one(samples, "server_inter_token_seconds_count", **m) == 1840
    for name in ("server_queue_seconds", "server_compute_seconds", "server_request_seconds"):
        assert one(samples, name + "_count", **m) == 1840
    # Python runtime and process metrics of vLLM's registry are not mapped.
    assert not [s for s in samples if s.metric.startswith("process_")]


def test_an_earlier_row_wins_over_a_deprecated_name_whatever_the_order() -> None:
    text = (
        'vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.7\n'
        'vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.1\n'
    )
    assert one(mapped(text), "server_kv_cache_usage_ratio") == 0.1
    assert one(mapped(text.replace("kv_cache", "other")), "server_kv_cache_usage_ratio") == 0.7


def test_the_reference_server_metrics_map() -> None:
    registry = CollectorRegistry()
    m = ServerMetrics.create(registry, max_batch_size=8)
    m.queue_depth.set(5)
    m.running.set(8)
    m.requests.labels(endpoint="/v1/chat/completions", code="200").inc(41)
    m.requests.labels(endpoint="/v1/chat/completions", code="503").inc(2)
    for size in (8, 8, 4):
        m.batch_size.observe(size)
    m.queue_seconds.observe(0.25)
    m.queue_seconds.observe(0.75)
    m.inference_seconds.observe(0.06)
    m.generation_tokens.inc(300)
    samples = mapped(generate_latest(registry).decode())
    assert one(samples, "server_requests_waiting") == 5
    assert one(samples, "server_requests_running") == 8
    assert one(samples, "server_requests_total", code="503") == 2
    assert one(samples, "server_requests_total", code="200") == 41
    assert one(samples, "server_batch_size_sum") / one(samples, "server_batch_size_count") == 20 / 3
    assert one(samples, "server_queue_seconds_sum") == 1.0
    assert one(samples, "server_queue_seconds_count") == 2
    assert one(samples, "server_compute_seconds_sum") == pytest.approx(0.06)
    assert one(samples, "server_generation_tokens_total") == 300


def test_the_gpu_agent_output_round_trips_to_the_nvml_samples() -> None:
    nvml_samples = NvmlSource(nvml=FakeNvml.from_fixture("two_gpus_power_unsupported")).read(5.0)
    registry = CollectorRegistry(auto_describe=False)
    agent_source = NvmlSource(nvml=FakeNvml.from_fixture("two_gpus_power_unsupported"))
    registry.register(GpuAgentCollector(agent_source))
    text = generate_latest(registry).decode()
    assert detect_kinds(
        line.split("{")[0].split()[0] for line in text.splitlines() if line[:1] != "#"
    ) == ("gpu-agent",)
    scraped = mapped(text)
    expected = {(s.metric, s.labels): s.value for s in nvml_samples.samples}
    assert index(scraped) == pytest.approx(expected)


def test_both_kinds_map_when_triton_serves_vllm() -> None:
    text = exposition("triton.txt") + exposition("vllm.txt")
    samples = mapped(text)
    assert one(samples, "server_requests_waiting", model="resnet50_onnx") == 37
    assert one(samples, "server_requests_waiting", model="meta-llama/Llama-3.1-8B-Instruct") == 11


def test_a_given_kind_replaces_detection() -> None:
    with pytest.raises(SourceUnavailable, match="no mapped metric has a value yet"):
        mapped(exposition("triton.txt"), kinds=("dcgm",))


def test_non_finite_values_and_dcgm_blanks_are_gaps_not_samples() -> None:
    text = (
        'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a"} NaN\n'
        'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-a"} 40\n'
        # DCGM's "not supported" sentinels: DCGM_INT64_BLANK + 2 and DCGM_FP64_BLANK + 2.
        'DCGM_FI_DEV_MEMORY_TEMP{gpu="0",UUID="GPU-a"} 9223372036854775794\n'
        'DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-a"} 140737488355330.000000\n'
        'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",UUID="GPU-a"} 9223372036854775794\n'
    )
    reading = map_exposition(text, source="s", timestamp=0.0)
    assert [s.metric for s in reading.samples] == ["gpu_temperature_celsius"]
    assert reading.gaps == (
        "DCGM_FI_DEV_GPU_UTIL{gpu=0,uuid=GPU-a}: no value",
        "DCGM_FI_DEV_POWER_USAGE{gpu=0,uuid=GPU-a}: no value",
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=0,uuid=GPU-a}: no value",
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "answered an empty body"),
        ("<!doctype html><html><body>login</body></html>", "answered HTML or XML"),
        ('{"status": "ok"}\n', "answered something that is not Prometheus text"),
        (
            "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.21\n",
            "exposes no metric this tool maps (1 families, e.g. node_load1); known kinds:",
        ),
        ("# just a comment\n", "answered an exposition without samples"),
        ('DCGM_FI_DEV_GPU_UTIL{gpu="0" 5\n', "malformed exposition line: unclosed label braces"),
    ],
)
def test_garbage_gets_one_precise_reason(text: str, reason: str) -> None:
    with pytest.raises(SourceUnavailable) as info:
        mapped(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_scrape_specs() -> None:
    assert parse_scrape_spec(" dcgm=http://h:9400/metrics ") == ("dcgm", "http://h:9400/metrics")
    assert parse_scrape_spec("http://h:8002/metrics?x=a=b") == (None, "http://h:8002/metrics?x=a=b")
    assert parse_scrape_spec("gpu-agent=https://h/metrics")[0] == "gpu-agent"
    with pytest.raises(ConfigError, match="unknown kind 'dcmg'; expected one of dcgm, triton"):
        parse_scrape_spec("dcmg=http://h:9400/metrics")
    for bad in ("h:9400/metrics", "ftp://h/metrics", "dcgm=", "http://"):
        with pytest.raises(ConfigError, match="expected an http"):
            parse_scrape_spec(bad)
    with pytest.raises(ConfigError, match="unknown exporter kind"):
        PrometheusScrapeSource("http://h/metrics", kind="nope")


# Real HTTP endpoints on 127.0.0.1 serving recorded texts and failures.


@pytest.mark.parametrize(
    ("path", "kind"), [("dcgm", "dcgm"), ("triton", "triton"), ("vllm", "vllm")]
)
def test_scraping_real_local_endpoints(endpoints: Endpoints, path: str, kind: str) -> None:
    source = PrometheusScrapeSource(endpoints.url(path))
    before = source.kinds
    reading = source.read(7.0)
    assert (before, source.kinds) == (None, (kind,))
    assert PrometheusScrapeSource(endpoints.url(path), kind=kind).kinds == (kind,)
    assert source.name == endpoints.url(path)
    expected = mapped(exposition(f"{path}.txt"))
    assert index(list(reading.samples)) == index(expected)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("error", "answered HTTP 500 Internal Server Error"),
        ("missing", "answered HTTP 404 Not Found"),
        ("html", "answered HTML or XML, not Prometheus text"),
        ("binary", "answered binary data, not Prometheus text"),
        ("slow", "no answer within 0.2 s"),
    ],
)
def test_broken_endpoints_are_unavailable_with_one_reason(
    endpoints: Endpoints, path: str, reason: str
) -> None:
    source = PrometheusScrapeSource(endpoints.url(path), timeout=0.2)
    with pytest.raises(SourceUnavailable) as info:
        source.read(0.0)
    assert str(info.value).startswith(reason)


def test_a_closed_port_is_refused(endpoints: Endpoints) -> None:
    source = PrometheusScrapeSource(f"http://127.0.0.1:{endpoints.closed_port}/metrics")
    with pytest.raises(SourceUnavailable, match=r"^connection refused \(nothing listening\?\)$"):
        source.read(0.0)


def test_an_unknown_host_is_named() -> None:
    def fetch(url: str, timeout: float) -> str:
        import socket
        import urllib.error

        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    source = PrometheusScrapeSource("http://gpu-host.invalid:9400/metrics", fetch=fetch)
    with pytest.raises(SourceUnavailable, match=r"host not found \(Name or service not known\)"):
        source.read(0.0)


def test_label_values_with_braces_escapes_and_timestamps() -> None:
    text = (
        'locust_ml_server_requests_total{endpoint="/a}b",code="200"} 3 1700000000000\n'
        'locust_ml_server_requests_total{endpoint="say \\"hi\\"\\n",code="500"} 4\n'
        "locust_ml_server_queue_depth 2\n"
    )
    samples = mapped(text)
    assert one(samples, "server_requests_total", endpoint="/a}b") == 3
    assert one(samples, "server_requests_total", endpoint='say "hi"\n') == 4
    assert one(samples, "server_requests_waiting") == 2
    with pytest.raises(SourceUnavailable, match="expected a value after the labels"):
        mapped("locust_ml_server_queue_depth 2 3 4\n")
    with pytest.raises(SourceUnavailable, match="could not convert string to float"):
        mapped("locust_ml_server_queue_depth two\n")


# Prefix caching: vLLM, SGLang and the reference server, in prompt tokens.


def test_vllm_prefix_cache_counters_map() -> None:
    samples = mapped(exposition("vllm.txt"))
    m = {"model": "meta-llama/Llama-3.1-8B-Instruct", "engine": "0"}
    assert one(samples, "server_prefix_cache_queries_total", **m) == 1154272
    assert one(samples, "server_prefix_cache_hits_total", **m) == 301120
    older = 'vllm:gpu_prefix_cache_queries_total{model_name="m"} 10\n' + (
        'vllm:gpu_prefix_cache_hits_total{model_name="m"} 4\n'
    )
    assert one(mapped(older), "server_prefix_cache_hits_total") == 4


def test_sglang_is_detected_and_its_split_series_stay_apart() -> None:
    text = exposition("sglang.txt")
    assert detect_kinds(["sglang:num_queue_reqs"]) == ("sglang",)
    samples = mapped(text)
    m = {"model": "meta-llama/Llama-3.1-8B-Instruct"}
    assert one(samples, "server_requests_running", **m) == 24
    assert one(samples, "server_requests_waiting", **m) == 3
    assert one(samples, "server_kv_cache_usage_ratio", **m) == pytest.approx(0.28)
    queries = [s.value for s in samples if s.metric == "server_prefix_cache_queries_total"]
    hits = [s.value for s in samples if s.metric == "server_prefix_cache_hits_total"]
    assert sorted(queries) == [400000, 600000]  # streaming and not: both kept
    assert one(samples, "server_prefix_cache_hits_total", cache_source="host") == 50000
    assert sum(hits) / sum(queries) == pytest.approx(0.6)  # what sglang:cache_hit_rate says
    assert one(samples, "server_time_to_first_token_seconds_sum", **m) == 120


def test_the_reference_server_prefix_cache_counters_map() -> None:
    registry = CollectorRegistry()
    m = ServerMetrics.create(registry, max_batch_size=8)
    m.prefix_cache_queries.inc(2048)
    m.prefix_cache_hits.inc(1536)
    samples = mapped(generate_latest(registry).decode())
    assert one(samples, "server_prefix_cache_queries_total") == 2048
    assert one(samples, "server_prefix_cache_hits_total") == 1536
