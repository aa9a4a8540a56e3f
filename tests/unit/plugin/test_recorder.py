from __future__ import annotations

import json
from pathlib import Path

import pytest

from locust_ml.plugin.options import MLOptions
from locust_ml.plugin.recorder import RunRecorder, sample_from_event


class FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class Boom(Exception):
    pass


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_local_run_steps_samples_and_report(tmp_path: Path) -> None:
    clock = FakeClock()
    announced: list[tuple[int, float]] = []
    rec = RunRecorder(
        "local",
        locustfile="locustfiles/summarizer.py",
        options=MLOptions(report_dir=str(tmp_path / "out")),
        clock=clock,
        send_step=lambda span: announced.append((span.id, span.start)),
    )
    rec.start()
    rec.record_event("POST", "/x", 5.0, 10)  # before the first step: folded into step 1
    assert rec.observe(2) is not None
    for _ in range(99):
        rec.record_event("POST", "/x", 10.0, 10)
    clock.t += 10
    assert rec.observe(2) is None
    assert rec.observe(4) is not None
    for _ in range(40):
        rec.record_event("POST", "/x", 50.0, 10, response=FakeResponse(503), exception=Boom())
    clock.t += 5
    rec.steps.close(clock())
    clock.t += 1  # quitting comes a little after test_stop
    report = rec.finish(target="http://127.0.0.1:1")
    assert report is not None
    assert announced == [(1, 1_700_000_000.0), (2, 1_700_000_010.0)]
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(s["id"], s["users"], s["requests"], s["failures"]) for s in data["steps"]] == [
        (1, 2, 100, 0),
        (2, 4, 40, 40),
    ]
    assert data["steps"][0]["achieved_rps"] == 10.0
    assert data["steps"][1]["achieved_rps"] == 8.0
    # Every request of step 2 failed: a failure's time is no latency of the service.
    assert data["steps"][1]["latency_ms"]["p99"] is None
    assert data["steps"][0]["latency_ms"]["p99"] == pytest.approx(10.0, rel=1e-3)
    assert data["steps"][1]["status"] == {"shed": 40}
    # The sample taken before step 1 had no step start, so no window.
    assert [(w["index"], w["requests"]) for w in data["steps"][0]["windows"]] == [(0, 99), (1, 0)]
    assert [(w["index"], w["requests"]) for w in data["steps"][1]["windows"]] == [(0, 40)]
    assert data["totals"]["requests"] == 140
    assert data["run"]["target"] == "http://127.0.0.1:1"
    assert rec.finish() is report  # idempotent
    text = rec.summary_text()
    assert "step summary" in text
    assert str(tmp_path / "out") in text


def test_progress_line_reports_the_step_that_ended() -> None:
    clock = FakeClock(0.0)
    rec = RunRecorder("local", clock=clock)
    rec.start()
    first = rec.observe(1)
    assert first is not None
    for _ in range(20):
        rec.record_event("GET", "/", 100.0, 0)
    clock.t = 10.0
    line = rec.progress_line(first.closed(10.0), first, 10.0)
    assert "2.00 req/s" in line
    assert "p99 100.0 ms" in line
    assert "20 requests" in line


def test_default_report_dir_is_named_after_locustfile_and_time() -> None:
    rec = RunRecorder("local", locustfile="locustfiles/summarizer.py", clock=FakeClock(0.0))
    rec.start()
    path = rec.report_dir()
    assert path.parent == Path("reports")
    assert path.name.startswith("summarizer-")


def test_workers_ship_deltas_and_master_merges_them() -> None:
    worker = RunRecorder("worker")
    master = RunRecorder("master", clock=FakeClock(0.0))
    master.start()
    master.observe(3)
    worker.set_step(1)
    for _ in range(7):
        worker.record_event("POST", "/x", 12.0, 0)
    master.merge_wire(worker.drain_wire())
    master.merge_wire(worker.drain_wire())  # an empty delta changes nothing
    assert master.samples.requests == 7
    assert worker.samples.requests == 0
    assert worker.finish() is None  # workers never write reports


def test_malformed_worker_data_is_noted_not_fatal() -> None:
    master = RunRecorder("master")
    master.merge_wire([{"step": "x"}])
    assert any("malformed" in n for n in master.notes)


def test_zero_users_open_no_step() -> None:
    rec = RunRecorder("local")
    rec.start()
    assert rec.observe(0) is None
    assert rec.steps.current is None


def test_unknown_role_is_rejected() -> None:
    with pytest.raises(ValueError, match="role"):
        RunRecorder("boss")


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


def test_worker_windows_follow_the_announced_step_start() -> None:
    clock = FakeClock(1000.0)
    worker = RunRecorder("worker", clock=clock, options=MLOptions(window_s=5.0))
    worker.set_step(3, start=990.0)
    worker.record_event("GET", "/", 1.0, 0, start_time=1000.0)  # ends 10 s into the step
    (row,) = [r for r in worker.drain_wire() if r["window"] is not None]
    assert (row["step"], row["window"]) == (3, 2)


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
