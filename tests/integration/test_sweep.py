"""``locust-ml sweep`` for real: servers started, waited for and stopped; a failure; a resume.

Three configurations of the reference server's simulated backend, each
measured by a short ramp (three 2 s steps) rather than the capacity search,
to keep the test short (the search's accuracy is benchmarks/sweep.py's
job). ``batch=oops`` cannot start: ``locust-ml serve --max-batch-size oops``
exits with a usage error, which the sweep records with the server's own
last line while the others complete. The sweep is interrupted (SIGINT, as
Ctrl-C) while the third configuration runs: its server must be gone at once,
and running the same command again measures that configuration only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT

pytestmark = pytest.mark.slow


def _command(out: Path) -> list[str]:
    server = (
        f"{sys.executable} -m locust_ml.cli serve --backend simulated --port {{port}} "
        "--base-ms 2 --per-item-ms 1 --max-batch-size {batch}"
    )
    return [
        sys.executable,
        "-m",
        "locust_ml.cli",
        "sweep",
        "-f",
        "locustfiles/summarizer.py",
        "--server",
        server,
        "--param",
        "batch=1,oops,4",
        "--ml-shape",
        "ramp:start=2,factor=2,max=8,step=2s",
        "--ml-slo",
        "p50<1s",
        "--ml-prompt-tokens",
        "const:20",
        "--ml-output-tokens",
        "const:2",
        "--ml-profile",
        "none",
        "--ml-nvml",
        "off",
        "--ml-price-per-hour",
        "1.2",
        "--ready-timeout",
        "30",
        "--out",
        str(out),
    ]


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, int(port))) == 0


def _wait_for(path: Path, proc: subprocess.Popen[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{path} never appeared:\n{out[-3000:]}\n{err[-3000:]}")
        time.sleep(0.1)


def test_a_sweep_starts_fails_one_is_interrupted_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    first = subprocess.Popen(
        _command(out), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        # Interrupt once the third configuration's search is under way.
        _wait_for(out / "batch-4" / "locust.stdout.log", first, 120)
        time.sleep(2.0)
        first.send_signal(signal.SIGINT)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "interrupted; finished configurations are kept" in stdout
    urls = re.findall(r"target ready at (http://127\.0\.0\.1:\d+)", stdout)
    assert len(urls) == 2  # batch=1, then batch=4 (batch=oops never got ready)
    assert not any(_listening(u) for u in urls)  # every server stopped, the interrupted one too

    # batch=1 finished; batch=oops failed with the server's own words; batch=4 did not finish.
    assert json.loads((out / "batch-1" / "outcome.json").read_text())["status"] == "done"
    failed = json.loads((out / "batch-oops" / "outcome.json").read_text())
    assert failed["status"] == "failed"
    assert failed["reason"] == "the server exited with status 2 before it was ready"
    assert "invalid int value: 'oops'" in failed["log_tail"][-1]
    assert not (out / "batch-4" / "outcome.json").exists()
    partial = json.loads((out / "sweep.json").read_text())
    assert partial["complete"] is False

    second = subprocess.run(
        _command(out), cwd=ROOT, capture_output=True, text=True, env=env, timeout=180, check=False
    )
    assert second.returncode in (0, 1), second.stdout[-3000:] + second.stderr[-3000:]
    assert "batch=1: finished before, kept" in second.stdout
    assert "batch=oops: finished before, kept (FAILED" in second.stdout
    assert re.findall(r"^\[\d/3\] (.*)$", second.stdout, re.M) == ["batch=4"]

    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["schema_version"] == "1.0"
    assert sweep["complete"] is True
    rows = {c["label"]: c for c in sweep["configs"]}
    assert rows["batch=oops"]["status"] == "failed"
    for label in ("batch=1", "batch=4"):
        row = rows[label]
        assert row["status"] == "done"
        assert (out / row["report"]).is_file()
        assert (out / row["folder"] / "server.stderr.log").is_file()
        assert row["verdict"] in ("PASS", "FAIL", "INVALID")
    html = (out / "sweep.html").read_text()
    assert "batch=oops" in html
    assert "Recommend" in html
