"""The run object on a fake clock: steps, samples, the report, master-side merging."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.analysis.samples import StepSamples
from locust_ml.plugin.control import LocalRun, MasterRun
from locust_ml.plugin.messages import StepAnnouncement
from locust_ml.plugin.recorder import SampleRecorder
from locust_ml.plugin.run import load_side, run_of


class FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class FakeClock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _environment(*args: str) -> Environment:
    options = get_parser().parse_args(["-f", "locustfiles/summarizer.py", "--headless", *args])
    return Environment(events=Events(), parsed_options=options, host="http://127.0.0.1:1")


def _local(tmp_path: Path, clock: FakeClock) -> LocalRun:
    run = LocalRun(_environment("--ml-report-dir", str(tmp_path / "out")), clock=clock)
    run.start()
    return run


def _event(run: LocalRun, ms: float, **kw: object) -> None:
    run.on_request(request_type="POST", name="/x", response_time=ms, response_length=10, **kw)


def test_a_local_run_records_steps_and_writes_its_report(tmp_path: Path) -> None:
    clock = FakeClock()
    run = _local(tmp_path, clock)
    assert run_of(run.environment) is run
    assert load_side(run.environment) is run
    _event(run, 5.0)  # before the first step: folded into step 1
    assert run.tracker.observe(2) is not None
    assert run.recorder.current_step == 1  # the local recorder heard the step
    for _ in range(99):
        _event(run, 10.0)
    clock.t += 10
    assert run.tracker.observe(2) is None
    assert run.tracker.observe(4) is not None
    for _ in range(40):
        _event(run, 50.0, response=FakeResponse(503), exception=RuntimeError())
    clock.t += 5
    run.tracker.steps.close(clock())
    clock.t += 1  # quitting comes a little after test_stop
    report = run.finish()
    assert report is not None
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
    assert data["totals"]["requests"] == 140
    assert data["run"]["target"] == "http://127.0.0.1:1"
    assert data["run"]["first_request_ms"] == 5.0
    assert run.finish() is report  # idempotent
    text = run.summary_text()
    assert "step summary" in text
    assert str(tmp_path / "out") in text


def test_progress_line_reports_the_step_that_ended(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    run = _local(tmp_path, clock)
    first = run.tracker.observe(1)
    assert first is not None
    for _ in range(20):
        _event(run, 100.0)
    clock.t = 10.0
    line = run.tracker.progress_line(first.closed(10.0), first, 10.0)
    assert "2.00 req/s" in line
    assert "p99 100.0 ms" in line
    assert "20 requests" in line


def test_zero_users_open_no_step(tmp_path: Path) -> None:
    run = _local(tmp_path, FakeClock())
    assert run.tracker.observe(0) is None
    assert run.tracker.current is None


def test_default_report_dir_is_named_after_locustfile_and_time() -> None:
    run = LocalRun(_environment(), clock=FakeClock(0.0))
    run.start()
    path = run.report_dir()
    assert path.parent == Path("reports")
    assert path.name.startswith("summarizer-")


def test_a_master_merges_worker_deltas_and_notes_malformed_ones() -> None:
    master = MasterRun(_environment(), clock=FakeClock(0.0))
    master.start()
    master.tracker.observe(3)
    worker = SampleRecorder(StepSamples())
    worker.set_step(StepAnnouncement(1))
    for _ in range(7):
        worker.record_event("POST", "/x", 12.0, 0)
    master.merge_wire(worker.drain_wire(), "w1")
    master.merge_wire(worker.drain_wire(), "w1")  # an empty delta changes nothing
    assert master.samples.requests == 7
    assert worker.samples.requests == 0
    master.merge_wire([{"step": "x"}])
    assert any("malformed" in n for n in master.notes)


def test_a_new_test_forgets_the_last(tmp_path: Path) -> None:
    run = _local(tmp_path, FakeClock())
    run.tracker.observe(1)
    _event(run, 1.0)
    run.environment.parsed_options.ml_slo = ["p99<1s"]  # the web form changed it
    run.start()
    assert run.samples.requests == 0
    assert run.tracker.current is None
    assert [str(s) for s in run.options.slos] == ["p99<1000ms"]


def test_options_are_read_as_argparse_gives_them() -> None:
    run = LocalRun(_environment("--ml-open-loop", "senders=3"))
    assert run.options.load.open_loop.senders == 3
    assert isinstance(run.environment.parsed_options, argparse.Namespace)


def test_a_shape_kind_runs_in_a_locustfile_without_a_shape_class(tmp_path: Path) -> None:
    """Locust runs only a locustfile's own shape class: ``--ml-shape`` must not be ignored."""
    from locust_ml.plugin.shapes import CapacitySearchShape, RampShape

    env = _environment("--ml-shape", "ramp:max=4,step=5s", "--ml-report-dir", str(tmp_path))
    env.create_local_runner()
    run = LocalRun(env)
    assert isinstance(env.shape_class, RampShape)
    assert env.shape_class.runner is env.runner
    assert run.shape is env.shape_class
    assert run.shape.spec().max == 4.0  # type: ignore[attr-defined]

    env = _environment("--ml-shape", "quick-search", "--ml-report-dir", str(tmp_path))
    env.create_local_runner()
    assert isinstance(LocalRun(env).shape, CapacitySearchShape)

    # Keys without a kind leave Locust's -u users (the common keys still apply).
    env = _environment("--ml-shape", ":window=1s")
    env.create_local_runner()
    assert LocalRun(env).shape is None
    assert env.shape_class is None
