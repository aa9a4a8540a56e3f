"""The canonical metric table and the sample type."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from locust_ml.telemetry.model import (
    GPU_LABELS,
    METRICS,
    TelemetrySample,
    labels_of,
    metric_spec,
)

BASE_UNITS = {
    "ratio",
    "bytes",
    "watts",
    "joules",
    "celsius",
    "hertz",
    "seconds",
    "requests",
    "tokens",
}


def test_every_metric_follows_prometheus_naming_and_base_units() -> None:
    for name, spec in METRICS.items():
        assert spec.name == name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert spec.unit in BASE_UNITS, (name, spec.unit)
        assert spec.help.endswith("."), name
        assert name.endswith("_total") == (spec.kind == "counter"), name
        unit_word = {"ratio": "ratio", "bytes": "bytes", "watts": "watts", "celsius": "celsius"}
        if spec.unit in unit_word:
            assert unit_word[spec.unit] in name, name


def test_gpu_metrics_carry_the_gpu_labels() -> None:
    for name, spec in METRICS.items():
        if name.startswith("gpu_"):
            assert spec.labels[:3] == GPU_LABELS, name


def test_summary_metrics_have_sum_and_count_sample_names() -> None:
    spec = METRICS["server_queue_seconds"]
    assert spec.kind == "summary"
    assert spec.sample_names == ("server_queue_seconds_sum", "server_queue_seconds_count")
    assert METRICS["gpu_power_watts"].sample_names == ("gpu_power_watts",)


def test_metric_spec_resolves_summary_parts_and_rejects_unknown_names() -> None:
    assert metric_spec("server_queue_seconds_sum") is METRICS["server_queue_seconds"]
    assert metric_spec("gpu_power_watts") is METRICS["gpu_power_watts"]
    with pytest.raises(KeyError, match="gpu_power_sum"):
        metric_spec("gpu_power_sum")
    with pytest.raises(KeyError):
        metric_spec("gpu_power_watts_count")  # a gauge has no parts


def test_samples_keep_labels_sorted_so_equal_series_compare_equal() -> None:
    a = TelemetrySample.of(1.0, "nvml", "gpu_power_watts", 5, uuid="U", gpu="0")
    b = TelemetrySample(1.0, "nvml", "gpu_power_watts", labels_of({"gpu": "0", "uuid": "U"}), 5.0)
    assert a == b
    assert a.series == ("nvml", "gpu_power_watts", (("gpu", "0"), ("uuid", "U")))
    assert a.label("uuid") == "U"
    assert a.label("pid", "-") == "-"
    assert isinstance(a.value, float)


def test_telemetry_imports_neither_locust_nor_gevent() -> None:
    """The glue runs these adapters in gevent's thread pool; they must not need gevent."""
    code = (
        "import sys\n"
        "import locust_ml.telemetry, locust_ml.telemetry.exporter, locust_ml.telemetry.gpu_agent\n"
        "print(','.join(m for m in ('locust', 'gevent') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    from locust_ml import telemetry

    assert set(telemetry.__all__) == {
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
    }
    assert all(hasattr(telemetry, name) for name in telemetry.__all__)
