"""In-process Locust runs through the plugin's listeners (local and master/worker).

These use real runners and a real HTTP target on loopback for about a second
per step: the glue is about timing and message order, which a fake clock
can't exercise. Step lengths are not asserted, only counts and structure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import gevent
import locust.runners
import pytest
from locust import task
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.plugin import hooks
from locust_ml.plugin.control import LocalRun, MasterRun
from locust_ml.plugin.run import WorkerRun
from locust_ml.plugin.users import TextUser


class Chat(TextUser):
    @task
    def one(self) -> None:
        self.generate()


def _options(tmp_path: Path) -> argparse.Namespace:
    return get_parser().parse_args(
        [
            "-f",
            "locustfiles/test_chat.py",
            "--headless",
            "--ml-report-dir",
            str(tmp_path / "report"),
            "--ml-prompt-tokens",
            "const:20",
            "--ml-output-tokens",
            "const:4",
        ]
    )


def _wait(predicate, timeout: float = 10.0) -> None:
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.05)


def test_local_run_records_each_step(tmp_path: Path, fake_target: str) -> None:
    env = Environment(
        user_classes=[Chat], events=Events(), host=fake_target, parsed_options=_options(tmp_path)
    )
    runner = env.create_local_runner()
    rec = hooks.bind(env)
    assert isinstance(rec, LocalRun)
    assert hooks.bind(env) is rec
    assert env.locust_ml is rec
    try:
        runner.start(2, spawn_rate=100)
        _wait(lambda: rec.steps.current is not None and env.stats.total.num_requests > 20)
        runner.start(4, spawn_rate=100)
        _wait(lambda: rec.steps.current is not None and rec.steps.current.users == 4)
        n = env.stats.total.num_requests
        _wait(lambda: env.stats.total.num_requests > n + 20)
        runner.stop()
    finally:
        runner.quit()
    report = rec.finish()
    assert report is not None
    assert [s.users for s in report.steps] == [2, 4]
    assert all(s.requests > 0 for s in report.steps)
    assert report.totals.requests == env.stats.total.num_requests
    assert report.totals.failures == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["totals"]["requests"] == env.stats.total.num_requests


def test_master_and_worker_merge_exactly(
    tmp_path: Path, fake_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locust.runners, "WORKER_REPORT_INTERVAL", 0.2)
    opts = _options(tmp_path)
    master_env = Environment(
        user_classes=[Chat], events=Events(), host=fake_target, parsed_options=opts
    )
    master = master_env.create_master_runner("127.0.0.1", 0)
    worker_env = Environment(user_classes=[Chat], events=Events(), parsed_options=opts)
    worker = worker_env.create_worker_runner("127.0.0.1", master.server.port)
    m_rec, w_rec = hooks.bind(master_env), hooks.bind(worker_env)
    assert isinstance(m_rec, MasterRun)
    assert isinstance(w_rec, WorkerRun)
    assert (m_rec.role, w_rec.role) == ("master", "worker")
    try:
        _wait(lambda: master.worker_count == 1)
        master.start(2, spawn_rate=100)
        _wait(lambda: master_env.stats.total.num_requests > 20)
        # The first announcement can race the spawn message (the worker's
        # test_start resets it; its early samples fold into step 1); the
        # master re-announces the current step periodically.
        _wait(lambda: w_rec.recorder.current_step == 1)
        master.start(3, spawn_rate=100)
        _wait(lambda: w_rec.recorder.current_step == 2)
        n = master_env.stats.total.num_requests
        _wait(lambda: master_env.stats.total.num_requests > n + 20)
        master.stop()
        _wait(lambda: worker.state == "stopped")
        gevent.sleep(0.6)  # the worker's last reports
        report = m_rec.finish()
    finally:
        master.quit()
        worker.quit()
    assert report is not None
    assert report.run.mode == "distributed"
    assert [s.users for s in report.steps] == [2, 3]
    assert report.steps[1].requests > 0
    assert report.totals.requests == master_env.stats.total.num_requests
    assert report.totals.requests == sum(s.requests for s in report.steps)


def test_web_ui_tab_serves_live_step_rows(
    tmp_path: Path, fake_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from locust_ml.plugin.webui import TAB_KEY, install

    # The web UI parses sys.argv to list extra options; give it Locust's, not pytest's.
    monkeypatch.setattr("sys.argv", ["locust", "-f", "locustfiles/summarizer.py"])
    env = Environment(
        user_classes=[Chat], events=Events(), host=fake_target, parsed_options=_options(tmp_path)
    )
    runner = env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", 0)
    rec = hooks.bind(env)
    assert isinstance(rec, LocalRun)
    install(rec)
    assert {"title": "ML steps", "key": TAB_KEY} in web_ui.template_args["extended_tabs"]
    try:
        runner.start(2, spawn_rate=100)
        _wait(lambda: env.stats.total.num_requests > 10 and rec.steps.current is not None)
        client = web_ui.app.test_client()
        body = client.get("/stats/requests").get_json()
    finally:
        runner.quit()
        web_ui.stop()
    (tab,) = [e for e in body["extended_stats"] if e["key"] == TAB_KEY]
    (row,) = tab["data"]
    assert row["step"] == 1
    assert row["users"] == 2
    assert row["requests"] > 0
    assert float(row["p99"]) > 0


def test_step_hook_runs_at_each_step_boundary(tmp_path: Path, fake_target: str) -> None:
    out = tmp_path / "hook.txt"
    script = (
        "import os; e = os.environ; open(e['HOOK_OUT'], 'a').write("
        "' '.join(e['LOCUST_ML_STEP_' + k] for k in ('EVENT', 'ID', 'USERS')) + '\\n')"
    )
    opts = _options(tmp_path)
    opts.ml_step_hook = f'{sys.executable} -c "{script}"'
    env = Environment(user_classes=[Chat], events=Events(), host=fake_target, parsed_options=opts)
    runner = env.create_local_runner()
    rec = hooks.bind(env)
    assert isinstance(rec, LocalRun)
    os.environ["HOOK_OUT"] = str(out)
    try:
        runner.start(1, spawn_rate=100)
        _wait(lambda: rec.steps.current is not None)
        runner.start(2, spawn_rate=100)
        _wait(lambda: rec.steps.current is not None and rec.steps.current.users == 2)
        runner.stop()
        _wait(lambda: out.exists() and len(out.read_text().splitlines()) == 4)
    finally:
        runner.quit()
        os.environ.pop("HOOK_OUT", None)
    assert sorted(out.read_text().splitlines()) == ["end 1 1", "end 2 2", "start 1 1", "start 2 2"]
