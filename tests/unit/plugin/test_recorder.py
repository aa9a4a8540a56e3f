from __future__ import annotations

import pytest

from locust_ml.analysis.samples import StepSamples
from locust_ml.plugin.messages import StepAnnouncement
from locust_ml.plugin.recorder import SampleRecorder, sample_from_event


class FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_worker_windows_follow_the_announced_step_start() -> None:
    recorder = SampleRecorder(StepSamples(), clock=FakeClock(1000.0))
    recorder.set_step(StepAnnouncement(3, start=990.0, window_s=5.0))
    recorder.record_event("GET", "/", 1.0, 0, start_time=1000.0)  # ends 10 s into the step
    (row,) = [r for r in recorder.drain_wire() if r["window"] is not None]
    assert (row["step"], row["window"]) == (3, 2)


def test_sends_are_counted_apart_in_the_measured_part() -> None:
    clock = FakeClock(100.0)
    recorder = SampleRecorder(StepSamples(), clock=clock)
    recorder.set_step(StepAnnouncement(1, start=100.0, measure_from=105.0))
    recorder.count_sent()
    clock.t = 106.0
    recorder.count_sent()
    recorder.count("dropped")
    assert recorder.samples.events_of(1, 1) == {"sent": 2, "sent_measured": 1, "dropped": 1}


def test_a_worker_says_what_it_recorded_and_shipped() -> None:
    recorder = SampleRecorder(StepSamples())
    recorder.record_event("GET", "/", 1.0, 0)
    recorder.record_event("GET", "/", 1.0, 0, exception=TimeoutError())
    recorder.drain_wire()
    recorder.record_event("GET", "/", 1.0, 0)
    assert recorder.worker_summary("w1") == (
        "worker w1 sent 3 requests (1 failures); 1 of them were not reported to the master"
    )


def test_sample_from_event_reads_ml_context_and_classifies() -> None:
    ctx = {
        "locust_ml": {
            "intended": 99.5,
            "ttft_ms": 12.5,
            "itl_ms": [3.0, "4.0", None, 5.0],
            "tokens_in": 300,
            "tokens_out": 3,
            "bytes_sent": 2048,
        },
        "other": 1,
    }
    sample, end = sample_from_event(
        "POST",
        "/v1/chat/completions",
        250.0,
        999,
        response=FakeResponse(200),
        context=ctx,
        start_time=100.0,
    )
    assert end == 100.25
    assert sample.status == "ok"
    assert sample.corrected_ms == pytest.approx(750.0)  # from the intended start
    assert sample.lateness_ms == pytest.approx(500.0)
    assert sample.ttft_ms == 12.5
    assert sample.itl_ms == (3.0, 4.0, 5.0)
    assert (sample.tokens_in, sample.tokens_out, sample.bytes_sent, sample.bytes_received) == (
        300,
        3,
        2048,
        999,
    )


def test_sample_from_event_without_context_is_a_plain_sample() -> None:
    sample, end = sample_from_event("GET", "/", None, None, exception=TimeoutError())
    assert end is None
    assert sample.status == "timeout"
    assert sample.latency_ms == 0.0
    assert sample.corrected_ms is None
    assert sample.tokens_in is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, (None, None, None, 0)),  # absent: the common case for images
        (
            {"ttft_ms": 12, "tokens_in": 40, "tokens_out": 7, "bytes_sent": 900},
            (12.0, 40, 7, 900),
        ),
        (
            {"ttft_ms": "12.5", "tokens_in": 40.0, "tokens_out": True, "bytes_sent": "900"},
            (12.5, 40, 1, 900),
        ),
        (
            {"ttft_ms": float("nan"), "tokens_in": "x", "tokens_out": [], "bytes_sent": None},
            (None, None, None, 0),
        ),
    ],
)
def test_ml_fields_are_read_whatever_their_type(
    fields: dict[str, object], expected: tuple[object, ...]
) -> None:
    sample, _ = sample_from_event(
        "POST", "/x", 5.0, 10, response=FakeResponse(200), context={"locust_ml": fields}
    )
    got = (sample.ttft_ms, sample.tokens_in, sample.tokens_out, sample.bytes_sent)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
