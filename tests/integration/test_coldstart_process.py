"""``locust-ml coldstart`` against real processes: the reference server, and bad commands.

The reference server's ``--load-seconds`` is a cold start with a known lower
bound: ``/health/ready`` cannot answer 200 before that long after the process
starts. Every process here is started by the code under test, in its own
process group, and must be gone when ``coldstart`` returns; the tests check
that by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from locust_ml.cli import main

pytestmark = pytest.mark.slow

PY = shlex.quote(sys.executable)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie awaiting its reaper)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        time.sleep(0.05)
    return False


def _kill_if_left(pid_file: Path) -> None:
    """Safety net: end a child the code under test failed to stop (by its PID)."""
    if pid_file.exists():
        for line in pid_file.read_text().split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line), signal.SIGKILL)


def test_reference_server_cold_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "model": "summarizer",
                "messages": [{"role": "user", "content": "Cold starts are slow. Warm is fast."}],
                "max_tokens": 4,
            }
        )
    )
    out = tmp_path / "coldstart.json"
    command = (
        f"{PY} -m locust_ml.cli serve --backend simulated --port {port} "
        "--load-seconds 0.5 --base-ms 2 --per-item-ms 1"
    )
    code = main(
        [
            "coldstart",
            "--cmd",
            command,
            "--url",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            "--request-json",
            str(request),
            "-k",
            "2",
            "-w",
            "5",
            "--timeout",
            "60",
            "-o",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(out.read_text())
    assert data["ready_url"] == f"http://127.0.0.1:{port}/health/ready"
    assert len(data["trials"]) == 2
    for trial in data["trials"]:
        # Not ready before --load-seconds: a lower bound the server guarantees.
        assert trial["ready_s"] >= 0.5
        assert trial["first_request_ms"] > 0
        assert len(trial["warm_ms"]) == 5
    assert data["summary"]["ready_s"]["min"] >= 0.5
    assert "time to ready" in captured.out
    assert "first / warm p50" in captured.out
    # The server was stopped: nothing listens on its port any more.
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
        pass


def test_a_command_that_exits_early_is_one_line_and_exit_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = "import sys; print('starting'); sys.stderr.write('boom: no weights\\n'); sys.exit(4)"
    code = main(
        [
            "coldstart",
            "--cmd",
            f"{PY} -c {shlex.quote(script)}",
            "--url",
            f"http://127.0.0.1:{_free_port()}/",
            "-k",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1
    assert "exited with status 4 before it was ready: boom: no weights" in err


def test_a_server_with_a_bad_option_reports_its_own_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = _free_port()
    code = main(
        [
            "coldstart",
            "--cmd",
            f"{PY} -m locust_ml.cli serve --backend simulated --port {port} --max-batch-size 0",
            "--url",
            f"http://127.0.0.1:{port}/v1/chat/completions",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1
    assert "exited with status 2 before it was ready" in err
    assert "--max-batch-size" in err


def test_never_ready_is_stopped_even_if_it_ignores_sigterm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The child ignores SIGTERM and starts a grandchild in its process group
    # (which inherits the ignored SIGTERM); both write their PIDs, then sleep
    # without ever serving.
    pids = tmp_path / "pids"
    script = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {g.pid}')\n"
        "time.sleep(60)\n"
    )
    try:
        code = main(
            [
                "coldstart",
                "--cmd",
                f"{PY} -c {shlex.quote(script)} {shlex.quote(str(pids))}",
                "--url",
                f"http://127.0.0.1:{_free_port()}/",
                "-k",
                "1",
                "--timeout",
                "3",
                "--grace",
                "0.5",
            ]
        )
        err = capsys.readouterr().err
        assert code == 3
        assert err.count("\n") == 1
        assert "was not ready after 3 s" in err
        child, grandchild = (int(x) for x in pids.read_text().split())
        assert _gone(child, within_s=0.1)  # reaped before coldstart returned
        assert _gone(grandchild)  # the group's SIGKILL reached it too
    finally:
        _kill_if_left(pids)
