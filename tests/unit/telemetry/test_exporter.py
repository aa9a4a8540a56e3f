"""The master's exporter: HDR -> Prometheus buckets, and an exposition Prometheus accepts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest, make_wsgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.telemetry.exporter import (
    DEFAULT_LATENCY_BOUNDS_S,
    Buckets,
    EndpointLatency,
    ExporterSnapshot,
    RequestCount,
    exporter_registry,
    hdr_to_buckets,
)
from locust_ml.telemetry.model import TelemetrySample
from locust_ml.telemetry.nvml import NvmlSource
from locust_ml.telemetry.prometheus_scrape import map_exposition
from locust_ml.telemetry.sampler import SourceStatus
from tests.integration.prometheus import promtool_check_metrics, run_prometheus, serve_wsgi
from tests.unit.telemetry.fakes import FakeNvml, exposition

PRECISION = 1e-3  # three significant digits


def exact_le(values_ms: np.ndarray, bound_s: float) -> int:
    return int(np.count_nonzero(values_ms <= bound_s * 1000.0))


def test_buckets_match_exact_counts_within_the_histograms_precision() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(np.log(80), 0.9, 20_000), rng.pareto(1.5, 2_000) * 500])
    values = np.round(values * 1000) / 1000  # whole microseconds, as recorded
    hist = LatencyHistogram()
    for v in values:
        hist.record_ms(float(v))
    b = hdr_to_buckets(hist)
    assert b.bounds == DEFAULT_LATENCY_BOUNDS_S
    assert b.count == len(values)
    for bound, got in zip(b.bounds, b.cumulative, strict=False):
        low = exact_le(values, bound * (1 - PRECISION))
        high = exact_le(values, bound * (1 + PRECISION))
        assert low <= got <= high, (bound, low, got, high)
    assert b.sum_seconds == pytest.approx(values.sum() / 1000.0, rel=1e-9)
    assert list(b.cumulative) == sorted(b.cumulative)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10_000_000), min_size=1, max_size=200))
def test_a_latency_equal_to_a_bound_counts_in_it(values_us: list[int]) -> None:
    hist = LatencyHistogram()
    for us in values_us:
        hist.record_ms(us / 1000.0)
    bounds = sorted({us / 1e6 for us in values_us})
    b = hdr_to_buckets(hist, bounds)
    for bound, got in zip(bounds, b.cumulative, strict=False):
        assert got >= sum(1 for us in values_us if us <= round(bound * 1e6))
    assert b.cumulative[-1] == len(values_us)


def test_empty_histograms_and_bad_bounds() -> None:
    b = hdr_to_buckets(LatencyHistogram(), (0.1, 1.0))
    assert b == Buckets((0.1, 1.0), (0, 0, 0), 0.0)
    for bad in ((1.0, 0.5), (0.0, 1.0), (0.1, math.inf), (0.1, 0.1)):
        with pytest.raises(ValueError, match="finite, positive and increasing"):
            hdr_to_buckets(LatencyHistogram(), bad)
    with pytest.raises(ValueError, match="2 bounds need 3 cumulative counts"):
        Buckets((0.1, 1.0), (1, 2), 0.0)


def test_bounds_outside_the_histogram_range() -> None:
    hist = LatencyHistogram()
    hist.record_ms(5.0)
    b = hdr_to_buckets(hist, (1e-7, 0.001, 7200.0))
    assert b.cumulative == (0, 0, 1, 1)


def snapshot() -> ExporterSnapshot:
    hist = LatencyHistogram()
    for ms in (12.0, 40.0, 95.0, 480.0, 2300.0):
        hist.record_ms(ms)
    nvml = NvmlSource(nvml=FakeNvml.from_fixture("h100_load")).read(100.0).samples
    triton = map_exposition(exposition("triton.txt"), source="triton", timestamp=100.0).samples
    return ExporterSnapshot(
        requests=(
            RequestCount("/v1/chat/completions", "POST", "ok", 120),
            RequestCount("/v1/chat/completions", "POST", "shed", 3),
            RequestCount("/v1/embeddings", "POST", "timeout", 1),
        ),
        latencies=(EndpointLatency("/v1/chat/completions", "POST", hdr_to_buckets(hist)),),
        users=16,
        target_rps=42.5,
        step_id=3,
        step_mode="open",
        telemetry=(*nvml, *triton),
        telemetry_status=(
            SourceStatus("nvml", state="ok"),
            SourceStatus("triton", state="ok"),
            SourceStatus("dcgm", state="unavailable", reason="connection refused"),
            SourceStatus("later", state="pending"),
        ),
    )


def exposition_of(snap: ExporterSnapshot) -> str:
    return generate_latest(exporter_registry(lambda: snap)).decode()


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_exposition_parses_with_conventional_names_and_types() -> None:
    fams = families(exposition_of(snapshot()))
    types = {name: f.type for name, f in fams.items()}
    assert types["locust_ml_requests"] == "counter"
    assert types["locust_ml_request_duration_seconds"] == "histogram"
    assert types["locust_ml_users"] == types["locust_ml_target_rps"] == "gauge"
    assert types["locust_ml_step"] == "gauge"
    assert types["locust_ml_telemetry_gpu_utilization_ratio"] == "gauge"
    assert types["locust_ml_telemetry_gpu_energy_joules"] == "counter"
    assert types["locust_ml_telemetry_server_queue_seconds"] == "summary"
    assert types["locust_ml_telemetry_source_up"] == "gauge"

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples
    }

    def lab(**kw: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(kw.items()))

    chat = {"endpoint": "/v1/chat/completions", "method": "POST"}
    assert samples[("locust_ml_requests_total", lab(status="shed", **chat))] == 3
    bucket = "locust_ml_request_duration_seconds_bucket"
    assert samples[(bucket, lab(le="0.1", **chat))] == 3
    assert samples[(bucket, lab(le="+Inf", **chat))] == 5
    assert samples[("locust_ml_request_duration_seconds_count", lab(**chat))] == 5
    assert samples[("locust_ml_request_duration_seconds_sum", lab(**chat))] == pytest.approx(2.927)
    assert samples[("locust_ml_users", ())] == 16
    assert samples[("locust_ml_target_rps", ())] == 42.5
    assert samples[("locust_ml_step", (("mode", "open"),))] == 3
    gpu = next(
        (labels, v)
        for (name, labels), v in samples.items()
        if name == "locust_ml_telemetry_gpu_power_watts"
    )
    assert dict(gpu[0])["source"] == "nvml"
    assert dict(gpu[0])["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu[1] == pytest.approx(612.417)
    up = {dict(k)["source"]: v for (n, k), v in samples.items() if n.endswith("source_up")}
    assert up == {"nvml": 1.0, "triton": 1.0, "dcgm": 0.0}  # pending sources are left out
    queue = [
        v
        for (n, k), v in samples.items()
        if n == "locust_ml_telemetry_server_queue_seconds_count"
        and dict(k)["model"] == "resnet50_onnx"
    ]
    assert queue == [48213]


def test_a_closed_loop_snapshot_has_no_target_rate_and_half_summaries_are_dropped() -> None:
    snap = ExporterSnapshot(
        users=4,
        telemetry=(
            TelemetrySample.of(1.0, "s", "server_queue_seconds_sum", 3.0),
            TelemetrySample.of(1.0, "s", "not_a_metric_we_know", 1.0),
            TelemetrySample.of(1.0, "s", "server_requests_waiting", 2.0),
            TelemetrySample.of(2.0, "s", "server_requests_waiting", 5.0),
        ),
    )
    fams = families(exposition_of(snap))
    assert "locust_ml_target_rps" not in fams
    assert "locust_ml_step" not in fams
    assert "locust_ml_telemetry_server_queue_seconds" not in fams
    waiting = fams["locust_ml_telemetry_server_requests_waiting"]
    assert [s.value for s in waiting.samples] == [5.0]


def test_registering_does_not_call_the_snapshot() -> None:
    def snapshot_not_ready() -> ExporterSnapshot:
        raise AssertionError("called at registration")

    registry = exporter_registry(snapshot_not_ready)
    with pytest.raises(AssertionError):
        generate_latest(registry)


def test_promtool_accepts_the_exposition(promtool: str) -> None:
    code, output = promtool_check_metrics(exposition_of(snapshot()), promtool)
    assert code == 0, output
    assert output == "", output  # no lint warning either


@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_exporter(prometheus_binary: str, tmp_path: Path) -> None:
    calls = 0

    def growing() -> ExporterSnapshot:
        nonlocal calls
        calls += 1  # 10 more requests per scrape: a rate Prometheus can compute
        base = snapshot()
        ok = RequestCount("/v1/chat/completions", "POST", "ok", 10 * calls)
        return ExporterSnapshot(**{**base.__dict__, "requests": (ok,)})

    app = make_wsgi_app(exporter_registry(growing))
    with (
        serve_wsgi(app) as url,
        run_prometheus([url.removeprefix("http://")], tmp_path, binary=prometheus_binary) as prom,
    ):
        got = prom.wait_for('locust_ml_requests_total{status="ok"}')
        assert got[0]["metric"]["endpoint"] == "/v1/chat/completions"
        rate = prom.wait_for(
            'rate(locust_ml_requests_total{status="ok"}[10s])',
            accept=lambda r: bool(r) and float(r[0]["value"][1]) > 0,
        )
        assert float(rate[0]["value"][1]) > 0
        p99 = prom.wait_for(
            "histogram_quantile(0.99, sum by (le) (locust_ml_request_duration_seconds_bucket))"
        )
        assert 1.5 <= float(p99[0]["value"][1]) <= 3.0
        power = prom.wait_for('locust_ml_telemetry_gpu_power_watts{source="nvml"}')
        assert float(power[0]["value"][1]) == pytest.approx(612.417)
        assert prom.targets()[0]["health"] == "up"
