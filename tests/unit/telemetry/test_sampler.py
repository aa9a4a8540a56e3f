"""The sampler: warn once, record what is missing, back off, recover; fake clock throughout."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from locust_ml.telemetry.model import SourceReading, SourceUnavailable, TelemetrySample
from locust_ml.telemetry.nvml import NvmlSource
from locust_ml.telemetry.sampler import SourceStatus, TelemetrySampler
from tests.unit.telemetry.fakes import FakeNvml


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class Scripted:
    """A source whose reads follow a script: a value, or an exception to raise."""

    name: str
    script: list[float | BaseException]
    gaps: tuple[str, ...] = ()
    reads: list[float] = field(default_factory=list)
    closed: int = 0

    def read(self, timestamp: float) -> SourceReading:
        self.reads.append(timestamp)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, BaseException):
            raise step
        return SourceReading(
            [TelemetrySample.of(timestamp, self.name, "server_requests_waiting", step)], self.gaps
        )

    def close(self) -> None:
        self.closed += 1


def test_every_source_is_read_once_per_sample_with_the_clock_time() -> None:
    clock = Clock()
    a, b = Scripted("a", [1.0]), Scripted("b", [2.0])
    sampler = TelemetrySampler([a, b], clock=clock, warn=pytest.fail)
    assert [s.state for s in sampler.status()] == ["pending", "pending"]
    samples = sampler.sample()
    assert [(s.source, s.value, s.timestamp) for s in samples] == [
        ("a", 1.0, 1000.0),
        ("b", 2.0, 1000.0),
    ]
    assert [s.describe() for s in sampler.status()] == ["a: ok, 1 samples", "b: ok, 1 samples"]
    assert sampler.latest() == tuple(samples)
    assert sampler.missing() == ()


def test_a_failing_source_warns_once_backs_off_and_recovers() -> None:
    clock = Clock()
    warnings: list[str] = []
    down = SourceUnavailable("connection refused (nothing listening?)")
    flaky = Scripted("dcgm", [down, down, down, 3.0])
    steady = Scripted("nvml", [1.0])
    sampler = TelemetrySampler([flaky, steady], clock=clock, warn=warnings.append)

    read_times = []
    for second in range(12):
        clock.t = 1000.0 + second
        before = len(flaky.reads)
        sampler.sample()
        if len(flaky.reads) > before:
            read_times.append(second)
    # Retries after 1, 2 and 4 seconds, then ok and read every time again.
    assert read_times == [0, 1, 3, 7, 8, 9, 10, 11]
    assert len(steady.reads) == 12  # the healthy source never waits
    assert warnings == [
        "telemetry source 'dcgm' unavailable: connection refused (nothing listening?); "
        "the test goes on without it (retrying quietly)"
    ]
    status = sampler.status()[0]
    assert status == SourceStatus(
        source="dcgm",
        state="ok",
        reason="connection refused (nothing listening?)",
        first_failure=1000.0,
        last_failure=1003.0,
        last_success=1011.0,
        failures=3,
        samples=5,
    )
    assert sampler.missing() == (
        "dcgm: ok, 5 samples (3 failed reads, last: connection refused (nothing listening?))",
    )


def test_while_unavailable_the_status_says_why_and_latest_drops_stale_values() -> None:
    clock = Clock()
    source = Scripted("vllm", [5.0, SourceUnavailable("answered HTTP 500 Internal Server Error")])
    sampler = TelemetrySampler([source], clock=clock, warn=lambda m: None)
    sampler.sample()
    assert [s.value for s in sampler.latest()] == [5.0]
    clock.t += 1
    assert sampler.sample() == []
    status = sampler.status()[0]
    assert not status.ok
    assert (status.state, status.first_failure, status.samples) == ("unavailable", 1001.0, 1)
    assert sampler.latest() == ()
    assert sampler.missing() == (
        "vllm: unavailable: answered HTTP 500 Internal Server Error (1 samples before)",
    )


def test_backoff_is_capped() -> None:
    clock = Clock()
    source = Scripted("x", [SourceUnavailable("down")])
    sampler = TelemetrySampler([source], clock=clock, warn=lambda m: None, retry_max_s=4.0)
    for second in range(40):
        clock.t = 1000.0 + second
        sampler.sample()
    gaps = [b - a for a, b in zip(source.reads, source.reads[1:], strict=False)]
    assert gaps[:3] == [1.0, 2.0, 4.0]
    assert set(gaps[2:]) == {4.0}


def test_unexpected_exceptions_are_contained_and_reasons_are_one_line() -> None:
    warnings: list[str] = []
    source = Scripted("buggy", [ZeroDivisionError("division by zero\nsecond line")])
    sampler = TelemetrySampler([source], clock=Clock(), warn=warnings.append)
    assert sampler.sample() == []
    assert sampler.status()[0].reason == "ZeroDivisionError: division by zero second line"
    assert len(warnings) == 1


def test_gaps_are_kept_and_warned_once() -> None:
    clock = Clock()
    warnings: list[str] = []
    nvml = NvmlSource(nvml=FakeNvml.from_fixture("two_gpus_power_unsupported"))
    sampler = TelemetrySampler([nvml], clock=clock, warn=warnings.append)
    for _ in range(3):
        sampler.sample()
        clock.t += 1
    assert len(warnings) == 1
    assert warnings[0].startswith("telemetry source 'nvml' is missing: gpu 0 (NVIDIA RTX A6000)")
    status = sampler.status()[0]
    assert status.ok
    assert "gpu 1 (Quadro P400): power not supported" in status.gaps
    assert len(status.gaps) == 4  # the same gaps each time, kept once
    assert "missing: " in sampler.missing()[0]


def test_no_gpu_here_is_one_warning_and_the_test_goes_on() -> None:
    warnings: list[str] = []
    sampler = TelemetrySampler(
        [NvmlSource(nvml=FakeNvml.from_fixture("no_library"))], clock=Clock(), warn=warnings.append
    )
    assert sampler.sample() == []
    assert warnings == [
        "telemetry source 'nvml' unavailable: NVML library not found (libnvidia-ml.so): "
        "no NVIDIA driver on this host; the test goes on without it (retrying quietly)"
    ]


def test_duplicate_names_are_refused_and_close_reaches_every_source() -> None:
    with pytest.raises(ValueError, match=r"unique, got \['a'\]"):
        TelemetrySampler([Scripted("a", [1.0]), Scripted("a", [1.0])])

    class Broken(Scripted):
        def close(self) -> None:
            raise OSError("already gone")

    a, b = Broken("a", [1.0]), Scripted("b", [1.0])
    sampler = TelemetrySampler([a, b], clock=Clock())
    sampler.close()
    assert b.closed == 1
    assert sampler.sources == ("a", "b")


def test_default_warning_goes_to_logging(caplog: pytest.LogCaptureFixture) -> None:
    sampler = TelemetrySampler([Scripted("x", [SourceUnavailable("down")])], clock=Clock())
    with caplog.at_level("WARNING", logger="locust_ml.telemetry"):
        sampler.sample()
    assert "telemetry source 'x' unavailable: down" in caplog.text
