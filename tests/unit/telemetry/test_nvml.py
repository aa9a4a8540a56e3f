"""The NVML source against recorded readings replayed through a fake ``pynvml``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest

from locust_ml.telemetry.model import SourceUnavailable, TelemetrySample
from locust_ml.telemetry.nvml import NvmlSource, load_nvml
from tests.unit.telemetry.fakes import FakeNvml


def by_metric(samples: Sequence[TelemetrySample]) -> dict[str, float]:
    return {s.metric: s.value for s in samples if s.metric != "gpu_process_memory_used_bytes"}


def test_idle_a100_readings_in_base_units_with_device_labels() -> None:
    nvml = FakeNvml.from_fixture("a100_idle")
    reading = NvmlSource(nvml=nvml).read(1000.0)
    assert reading.gaps == ()
    values = by_metric(reading.samples)
    assert values == {
        "gpu_utilization_ratio": 0.0,
        "gpu_memory_utilization_ratio": 0.0,
        "gpu_memory_used_bytes": 4718592.0,
        "gpu_memory_free_bytes": 85899345920.0 - 4718592.0,
        "gpu_memory_total_bytes": 85899345920.0,
        "gpu_power_watts": 61.234,
        "gpu_power_limit_watts": 400.0,
        "gpu_energy_joules_total": 41472118.234,
        "gpu_temperature_celsius": 31.0,
        "gpu_sm_clock_hertz": 210e6,
    }
    for s in reading.samples:
        assert s.timestamp == 1000.0
        assert s.source == "nvml"
        assert dict(s.labels) == {
            "gpu": "0",
            "uuid": "GPU-4f8a2c1e-93b7-5d0e-a6c4-1b2e7f9d3a58",
            "name": "NVIDIA A100-SXM4-80GB",
        }


def test_h100_under_load_reports_per_process_memory() -> None:
    reading = NvmlSource(nvml=FakeNvml.from_fixture("h100_load")).read(0.0)
    values = by_metric(reading.samples)
    assert values["gpu_utilization_ratio"] == pytest.approx(0.98)
    assert values["gpu_memory_utilization_ratio"] == pytest.approx(0.64)
    assert values["gpu_power_watts"] == pytest.approx(612.417)
    assert values["gpu_sm_clock_hertz"] == 1.98e9
    procs = [s for s in reading.samples if s.metric == "gpu_process_memory_used_bytes"]
    assert [(s.label("pid"), s.label("gpu"), s.value) for s in procs] == [
        ("48213", "0", 76772540416.0)
    ]


def test_unsupported_power_on_one_gpu_is_a_gap_not_a_failure() -> None:
    reading = NvmlSource(nvml=FakeNvml.from_fixture("two_gpus_power_unsupported")).read(0.0)
    per_gpu: dict[str, set[str]] = {}
    for s in reading.samples:
        per_gpu.setdefault(s.label("gpu"), set()).add(s.metric)
    assert "gpu_power_watts" in per_gpu["0"]
    assert "gpu_power_watts" not in per_gpu["1"]
    assert "gpu_energy_joules_total" not in per_gpu["1"]
    assert {"gpu_utilization_ratio", "gpu_temperature_celsius"} <= per_gpu["1"]
    assert reading.gaps == (
        "gpu 0 (NVIDIA RTX A6000): per-process memory hidden for some processes",
        "gpu 1 (Quadro P400): power not supported",
        "gpu 1 (Quadro P400): power limit not supported",
        "gpu 1 (Quadro P400): energy not supported",
    )
    # The process whose memory NVML hides is skipped; the other one is there.
    pids = [s.label("pid") for s in reading.samples if s.metric == "gpu_process_memory_used_bytes"]
    assert pids == ["3121"]


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("no_library", "NVML library not found (libnvidia-ml.so): no NVIDIA driver on this host"),
        ("driver_not_loaded", "the NVIDIA driver is not loaded (does nvidia-smi work here?)"),
        ("no_devices", "NVML found no GPU on this host"),
    ],
)
def test_no_gpu_becomes_one_clear_unavailable_reason(fixture: str, reason: str) -> None:
    with pytest.raises(SourceUnavailable) as info:
        NvmlSource(nvml=FakeNvml.from_fixture(fixture)).read(0.0)
    assert str(info.value) == reason


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    with pytest.raises(SourceUnavailable, match=r"pip install 'locust-ml\[gpu\]'"):
        load_nvml()
    with pytest.raises(SourceUnavailable, match="nvidia-ml-py is not installed"):
        NvmlSource().read(0.0)


def test_init_once_and_shutdown_on_close() -> None:
    nvml = FakeNvml.from_fixture("a100_idle")
    source = NvmlSource(nvml=nvml)
    for t in range(3):
        source.read(float(t))
    assert nvml.calls.count("nvmlInit") == 1
    source.close()
    source.close()
    assert nvml.calls.count("nvmlShutdown") == 1
    assert not nvml.initialized
    assert source.driver_version == "535.161.08"


def test_close_before_any_read_does_not_touch_nvml() -> None:
    nvml = FakeNvml.from_fixture("a100_idle")
    NvmlSource(nvml=nvml).close()
    assert nvml.calls == []


def test_an_unexpected_exception_in_one_call_is_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml.from_fixture("a100_idle")

    def broken(handle: object) -> int:
        raise OSError("ioctl failed")

    monkeypatch.setattr(nvml, "nvmlDeviceGetPowerUsage", broken)
    reading = NvmlSource(nvml=nvml).read(0.0)
    assert reading.gaps == ("gpu 0 (NVIDIA A100-SXM4-80GB): power failed: ioctl failed",)
    assert "gpu_power_watts" not in by_metric(reading.samples)


def test_a_lost_gpu_answering_nothing_makes_the_source_unavailable() -> None:
    recording = FakeNvml.from_fixture("a100_idle").recording
    device = recording["devices"][0]
    for key in list(device):
        if key not in ("nvmlDeviceGetName", "nvmlDeviceGetUUID"):
            device[key] = {"error": "GPU_IS_LOST"}
    with pytest.raises(SourceUnavailable, match="GPU is lost") as info:
        NvmlSource(nvml=FakeNvml(recording)).read(0.0)
    assert "\n" not in str(info.value)


def test_the_real_nvml_path_reads_or_says_why_not() -> None:
    """On this machine: real nvidia-ml-py, real (or missing) driver. Never another error."""
    pytest.importorskip("pynvml")
    source = NvmlSource()
    reason = ""
    try:
        samples = list(source.read(0.0).samples)
    except SourceUnavailable as exc:  # no GPU here: a reason, one line
        samples, reason = [], str(exc)
    finally:
        source.close()
    if samples:
        assert any(s.metric == "gpu_memory_total_bytes" and s.value > 0 for s in samples)
    else:
        assert reason
        assert "\n" not in reason
