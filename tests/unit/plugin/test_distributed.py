"""Master/worker correctness in one process: seeds, rate split, a worker that dies, counts.

The real-process version (separate ``locust --master``/``--worker``
processes, one killed with SIGKILL) is ``tests/integration/test_distributed.py``;
these run the same glue with real runners on loopback in a second or two, with
Locust's heartbeat and report intervals shortened. Only counts, plans and
notes are asserted, never speeds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import locust.runners
import pytest
from locust import task
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.analysis.samples import RequestSample, StepSamples
from locust_ml.plugin import hooks
from locust_ml.plugin.control import ControlSide, MasterRun
from locust_ml.plugin.recorder import SampleRecorder
from locust_ml.plugin.run import WorkerRun, load_side
from locust_ml.plugin.shapes import RampShape
from locust_ml.plugin.users import MLUser, TextUser


class Chat(TextUser):
    @task
    def one(self) -> None:
        self.generate()


class OpenShape(RampShape):
    pass


def _options(tmp_path: Path, *extra: str) -> argparse.Namespace:
    return get_parser().parse_args(
        [
            "-f",
            "locustfiles/test_chat.py",
            "--headless",
            "--ml-report-dir",
            str(tmp_path / "report"),
            "--ml-prompt-tokens",
            "uniform:10,400",
            "--ml-output-tokens",
            "uniform:1,50",
            "--ml-nvml",
            "off",
            *extra,
        ]
    )


@pytest.fixture(autouse=True)
def _json_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports are checked as objects: skip the HTML/plots (seconds of matplotlib)."""

    def write(report: Any, directory: Path) -> dict[str, Path]:
        return {"json": Path(directory) / "report.json"}

    monkeypatch.setattr("locust_ml.plugin.control.write_report_files", write)


def _wait(predicate: Any, timeout: float = 45.0) -> None:
    # A bound, not a pace: it passes as soon as the predicate holds. Generous
    # because this session runs beside the real-process tests (dev.py test).
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.05)


# -- payload seeds ----------------------------------------------------------------


def _draws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, worker_index: int, seed: int = 0
) -> list[Any]:
    """What the first user of a fresh worker process with ``worker_index`` would send."""
    # A fresh process: its users are numbered from 0 again.
    monkeypatch.setattr(sys.modules[MLUser.__module__], "_user_numbers", itertools.count())
    env = Environment(
        user_classes=[Chat],
        events=Events(),
        parsed_options=_options(tmp_path, "--ml-seed", str(seed)),
    )
    env.runner = SimpleNamespace(worker_index=worker_index)  # type: ignore[assignment]
    cls = type("Seeded", (Chat,), {"host": "http://127.0.0.1:9", "__module__": __name__})
    user: TextUser = cls(env)  # never sends: only its draws are compared
    user.on_start()
    out: list[Any] = []
    for _ in range(5):
        prompt, max_tokens = user.lengths()
        out.append((prompt, max_tokens, user.prompts.text(prompt)))
    return out


def test_each_worker_draws_its_own_payload_sequence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    per_worker = [_draws(monkeypatch, tmp_path, k) for k in range(3)]
    assert len({repr(d) for d in per_worker}) == 3  # three workers, three sequences
    # ... and each is reproducible from --ml-seed and the worker's index,
    assert _draws(monkeypatch, tmp_path, 1) == per_worker[1]
    # which another seed changes.
    assert _draws(monkeypatch, tmp_path, 1, seed=5) != per_worker[1]


# -- the recorder's counts -----------------------------------------------------------


def _sample(status: str = "ok") -> RequestSample:
    return RequestSample(("POST", "/v1/chat/completions"), 5.0, status=status)


def test_a_worker_counts_what_it_recorded_and_shipped(tmp_path: Path) -> None:
    rec = SampleRecorder(StepSamples())
    for status in ("ok", "ok", "shed", "ok"):
        rec.record(_sample(status))
    rows = rec.drain_wire()
    rec.record(_sample())
    assert rec.worker_summary("w1") == (
        "worker w1 sent 5 requests (1 failures); 1 of them were not reported to the master"
    )
    rec.drain_wire()
    assert rec.worker_summary("w1") == "worker w1 sent 5 requests (1 failures)"
    master = MasterRun(Environment(events=Events(), parsed_options=_options(tmp_path)))
    master.merge_wire(rows, worker="w1")
    tally = master.roster.tally("w1")
    assert (tally.reports, tally.requests, tally.failures) == (1, 4, 1)
    master.merge_wire([], worker="w1")  # an empty report is still a sign of life
    assert master.roster.tally("w1").reports == 2


def test_a_stopped_worker_becomes_a_report_note(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    env = Environment(events=Events(), parsed_options=_options(tmp_path))
    master = MasterRun(env, clock=lambda: now[0])
    master.start()
    master.tracker.observe(4)
    worker = SampleRecorder(StepSamples())
    for _ in range(7):
        worker.record(_sample())
    now[0] += 3
    master.merge_wire(worker.drain_wire(), worker="w-dead")
    assert master.note_workers({"w-dead": False}) == []
    now[0] += 4
    (gap,) = master.note_workers({"w-dead": True})
    assert gap.worker == "w-dead"
    report = master.finish()
    assert report is not None
    assert report.totals.requests == 7  # nothing it shipped is lost
    (note,) = [n for n in report.notes if "w-dead" in n]
    assert "stopped reporting at" in note
    assert "(3.0 s into the run, step 1)" in note
    assert "its 7 requests (0 failures) up to its last report are counted" in note


# -- real runners: split, a dead worker, re-split ----------------------------------


def _plan_of(env: Environment) -> Any:
    side = load_side(env)
    return None if side is None else side.driver._plan


def test_open_loop_shares_follow_workers_that_join_and_die(
    tmp_path: Path, fake_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locust.runners, "WORKER_REPORT_INTERVAL", 0.2)
    monkeypatch.setattr(locust.runners, "HEARTBEAT_INTERVAL", 0.2)
    monkeypatch.setattr(locust.runners, "HEARTBEAT_LIVENESS", 3)
    opts = _options(
        tmp_path,
        *("--ml-arrival", "poisson", "--ml-shape", "ramp:start=100,max=100,step=60s"),
        *("--ml-open-loop", "senders=4"),
    )
    master_env = Environment(
        user_classes=[Chat],
        shape_class=OpenShape(),
        events=Events(),
        host=fake_target,
        parsed_options=opts,
    )
    master = master_env.create_master_runner("127.0.0.1", 0)
    m_rec = hooks.bind(master_env)
    assert isinstance(m_rec, MasterRun)
    envs = [Environment(user_classes=[Chat], events=Events(), parsed_options=opts) for _ in "ab"]
    workers: list[Any] = []
    recs: list[WorkerRun] = []

    def join(env: Environment) -> None:
        workers.append(env.create_worker_runner("127.0.0.1", master.server.port))
        run = hooks.bind(env)
        assert isinstance(run, WorkerRun)
        recs.append(run)

    killed = False
    try:
        join(envs[0])
        _wait(lambda: master.worker_count == 1)
        master.start_shape()
        # Shapes tick on the master only: it sends the worker the whole rate.
        _wait(lambda: _plan_of(envs[0]) is not None)
        plan = _plan_of(envs[0])
        assert (plan.worker_index, plan.worker_count, plan.rate) == (0, 1, 100.0)
        assert not isinstance(recs[0], ControlSide)  # no steps of its own
        _wait(lambda: recs[0].recorder.shipped > 5)
        # A second worker joins: the rate is split over both.
        join(envs[1])
        _wait(lambda: all(p is not None and p.worker_count == 2 for p in map(_plan_of, envs)))
        plans = [_plan_of(e) for e in envs]
        assert sorted((p.worker_index, p.worker_count, p.rate) for p in plans) == [
            (0, 2, 100.0),
            (1, 2, 100.0),
        ]
        _wait(lambda: recs[1].recorder.shipped > 5)

        # Worker b dies: no quit message, no more heartbeats or reports.
        dead, dead_rec = workers[1], recs[1]
        dead.greenlet.kill(block=True)
        dead.stop()
        dead.client.close(linger=0)
        killed = True
        shipped_by_dead = dead_rec.recorder.shipped
        _wait(lambda: m_rec.roster.gaps)
        (gap,) = m_rec.roster.gaps
        assert gap.worker == dead.client_id
        # The survivor is told to carry the whole rate, and the run goes on.
        _wait(lambda: _plan_of(envs[0]).worker_count == 1)
        plan = _plan_of(envs[0])
        assert (plan.worker_index, plan.worker_count, plan.rate) == (0, 1, 100.0)
        n = recs[0].recorder.recorded
        _wait(lambda: recs[0].recorder.recorded > n + 20)
        assert master.state in ("spawning", "running")
        workers[0].stop()  # the survivor's users (the master would wait a second)
        # Everything shipped arrives: the survivor's last delta, and all of the dead one's.
        _wait(lambda: recs[0].recorder.shipped == recs[0].recorder.recorded)
        _wait(lambda: m_rec.samples.requests == recs[0].recorder.shipped + shipped_by_dead)
        report = m_rec.finish()
    finally:
        master.quit()
        for worker in workers[:1] if killed else workers:
            worker.quit()
    assert report is not None
    assert report.totals.requests == recs[0].recorder.recorded + shipped_by_dead
    assert report.totals.requests == master_env.stats.total.num_requests
    (note,) = [n for n in report.notes if dead.client_id in n]
    assert "stopped reporting at" in note
    assert f"its {m_rec.roster.tally(dead.client_id).requests} requests" in note
    assert m_rec.roster.tally(dead.client_id).requests == shipped_by_dead
    assert "carried its share of the arrival rate" in note


def test_a_worker_stopped_on_its_own_ships_its_last_requests(
    tmp_path: Path,
    fake_target: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Locust's worker sends a last report only when the master says quit; a
    # worker stopped itself (SIGTERM, Ctrl-C) would lose up to 3 s of requests.
    monkeypatch.setattr(locust.runners, "WORKER_REPORT_INTERVAL", 3.0)
    opts = _options(tmp_path)
    master_env = Environment(
        user_classes=[Chat], events=Events(), host=fake_target, parsed_options=opts
    )
    master = master_env.create_master_runner("127.0.0.1", 0)
    m_rec = hooks.bind(master_env)
    worker_env = Environment(user_classes=[Chat], events=Events(), parsed_options=opts)
    worker = worker_env.create_worker_runner("127.0.0.1", master.server.port)
    w_rec = hooks.bind(worker_env)
    assert isinstance(m_rec, MasterRun)
    assert isinstance(w_rec, WorkerRun)
    try:
        _wait(lambda: master.worker_count == 1)
        master.start(2, spawn_rate=100)
        _wait(lambda: w_rec.recorder.recorded > 20)
        assert w_rec.recorder.shipped < w_rec.recorder.recorded  # the next report is seconds away
        # What Locust's shutdown does on a worker: quitting, then the runner's
        # quit, which stops its greenlets (the periodic report among them).
        with caplog.at_level("INFO", logger="locust_ml"):
            worker_env.events.quitting.fire(environment=worker_env, reverse=True)
        worker.quit()
        _wait(lambda: m_rec.samples.requests == w_rec.recorder.recorded)
    finally:
        master.quit()
        worker.quit()
    (line,) = [r.getMessage() for r in caplog.records if "sent" in r.getMessage()]
    assert line == (
        f"locust-ml: worker {worker.client_id} sent {w_rec.recorder.recorded} requests (0 failures)"
    )
    assert m_rec.roster.tally(worker.client_id).requests == w_rec.recorder.recorded


def test_telemetry_and_the_embedded_server_stay_on_the_master(
    tmp_path: Path, fake_target: str
) -> None:
    opts = _options(tmp_path, "--ml-scrape", f"{fake_target}/metrics")
    master_env = Environment(user_classes=[Chat], events=Events(), host=fake_target)
    master_env.parsed_options = opts
    master = master_env.create_master_runner("127.0.0.1", 0)
    worker_env = Environment(user_classes=[Chat], events=Events(), parsed_options=opts)
    worker = worker_env.create_worker_runner("127.0.0.1", master.server.port)
    try:
        hooks._on_init(master_env)
        hooks._on_init(worker_env)
        run = master_env.locust_ml
        assert isinstance(run, MasterRun)
        assert run.telemetry is not None
        assert run.server is None  # a --host was given
        assert isinstance(worker_env.locust_ml, WorkerRun)  # no telemetry, server, exporter
        assert load_side(master_env) is None  # no users there: no arrival driver
        assert load_side(worker_env) is not None
    finally:
        master_env.locust_ml.close()
        master.quit()
        worker.quit()
