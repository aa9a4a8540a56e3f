"""SIGINT and SIGTERM in the middle of a test: the report is still written, whole.

A person pressing Ctrl-C, or CI killing a job that ran over its time, must not
lose what was measured: the report lands with everything up to the signal,
marked partial (and therefore invalid, exit code 2), and no file in the report
directory is half-written.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, ROOT

pytestmark = pytest.mark.slow


def _ramp(out: Path, top: int = 32) -> list[str]:
    # A short ramp with slow spawning: 1, 2, 4, ... 32 users, 2 s steps, 4 users/s,
    # so the delays below land in a step, in spawning, and early and late in the run.
    return [
        str(BIN / "locust"),
        "-f",
        "locustfiles/summarizer.py",
        "--headless",
        "--ml-server-backend",
        "simulated",
        "--ml-shape",
        f"ramp:start=1,factor=2,max={top},step=2s,spawn_rate=4",
        "--ml-prompt-tokens",
        "const:20",
        "--ml-output-tokens",
        "const:2",
        "--ml-report-dir",
        str(out),
    ]


def _servers_of(pid: int) -> list[int]:
    """Live processes started as the embedded server of locust process ``pid``.

    The plugin gives its server ``LOCUST_ML_PARENT_PID``; this finds them
    even after they were adopted by init (Linux ``/proc``).
    """
    marker = f"LOCUST_ML_PARENT_PID={pid}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _no_server_left(pid: int) -> bool:
    """Wait (bounded) for the embedded server of ``pid`` to be gone."""
    deadline = time.monotonic() + 15
    while _servers_of(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _servers_of(pid)


def _interrupt(out: Path, wait_for: str, delay: float, signals: list[signal.Signals]) -> str:
    """Start the ramp, signal it ``delay`` s after the line ``wait_for``; its whole output."""
    proc = subprocess.Popen(
        _ramp(out),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if wait_for in line:
                break
        time.sleep(delay)
        first, *later = signals
        proc.send_signal(first)
        if later:
            # A second signal while the first is handled (as timeout(1) signals
            # the process, then its group). Sent once the first is seen: two
            # signals that land before Python runs its handler are one (a
            # crowded machine showed it).
            for line in proc.stdout:
                seen.append(line)
                if "stopping the users" in line:
                    break
            for sig in later:
                proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = "".join(seen) + rest
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert _no_server_left(proc.pid), "the embedded server outlived the run"
    return output


def _server_pid(output: str) -> int:
    match = re.search(r"reference server ready at \S+ in [\d.]+ s \(pid (\d+)\)", output)
    assert match is not None, output[-2000:]
    return int(match.group(1))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM


@pytest.mark.parametrize(
    ("delay", "signals"),
    [
        (0.5, [SIGINT]),
        (3.0, [SIGTERM, SIGTERM]),
        (6.0, [SIGINT, SIGTERM]),
    ],
    ids=["0.5s-INT", "3s-TERM-TERM", "6s-INT-TERM"],
)
def test_signals_at_any_point_of_the_load_end_in_one_orderly_shutdown(
    tmp_path: Path, delay: float, signals: list[signal.Signals]
) -> None:
    """Issue 13: users stopped, then the report, then the server; once; exit 2.

    The report lands whole: every file complete, marked partial, nothing
    half-written or temporary left (a person pressing Ctrl-C, or CI killing a
    job that ran over its time, loses nothing that was measured). The signals
    land while step 1 spawns, in step 2, and later with users still spawning.
    """
    out = tmp_path / "r"
    output = _interrupt(out, "step 1 started", delay, signals)
    name = signals[0].name
    assert output.count(f"locust-ml: {name}: stopping the users, then writing the report") == 1
    if len(signals) > 1:
        assert f"already stopping (first {name}); ignored until the report is written" in output
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"]["partial"] is True
    assert report["verdict"]["exit_code"] == 2
    assert any(
        f"interrupted ({name} while load was running)" in r for r in report["verdict"]["reasons"]
    )
    assert report["totals"]["requests"] > 0
    # Nothing failed: the server was stopped after the users, not before (no refused connections).
    assert report["totals"]["failures"] == 0, report["totals"]
    assert report.get("errors", []) == []
    assert "refused" not in output.lower()
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.json",
        "report.md",
        "steps.csv",
    ]
    html = (out / "report.html").read_text()
    assert html.rstrip().endswith("</html>")
    assert "partial" in html.lower()
    assert (out / "report.md").read_text().strip()
    rows = list(csv.DictReader((out / "steps.csv").open()))
    assert len(rows) == len(report["steps"])
    order = [
        output.index(s) for s in ("stopping the users", "report written to", "locust-ml report:")
    ]
    assert order == sorted(order)
    assert _gone(_server_pid(output))


def test_a_signal_before_the_load_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "r"
    output = _interrupt(out, "starting the reference server", 0.0, [SIGTERM])
    errors = [ln for ln in output.splitlines() if "ERROR/locust_ml" in ln]
    assert errors == [errors[0]]
    assert "SIGTERM before the load started: nothing was sent; no report" in errors[0]
    assert not out.exists()


def test_a_signal_during_locusts_own_stop_changes_nothing(tmp_path: Path) -> None:
    """The schedule ended and Locust is stopping: the report is whole and not 'interrupted'."""
    out = tmp_path / "r"
    cmd = _ramp(out, top=2)  # two 2 s steps, then Locust stops by itself
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Shape test stopping" in line:
                proc.send_signal(SIGINT)
                break
        rest, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = "".join(seen) + rest
    assert "Traceback" not in output
    assert "stopping the users" not in output
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"]["partial"] is False
    assert proc.returncode == report["verdict"]["exit_code"], output[-2000:]
    assert report["totals"]["failures"] == 0
