"""An embedded server never outlives its load generator, even one killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PARENT = """
import subprocess, sys, time
port_file = sys.argv[1]
child = subprocess.Popen([sys.executable, "-m", "locust_ml.cli", "serve", "--backend",
    "simulated", "--host", "127.0.0.1", "--port", "0", "--port-file", port_file,
    "--exit-with-parent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def test_server_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(port_file)], stdout=subprocess.PIPE, text=True
    )
    child_pid = None
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 60
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_file.exists(), "the server never became ready"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the server outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child_pid is not None and _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)
