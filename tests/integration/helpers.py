"""Helpers for real-process tests: locust and the reference server as subprocesses.

Every process started here is ended here, by its PID, in a ``finally``; every
run is bounded by Locust's own schedule and a subprocess timeout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class LocustRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for a Locust master, which can't bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_locust(args: list[str], timeout: float = 120.0) -> LocustRun:
    """``locust ARGS`` to its end. ``--processes`` gets a master port of its own:
    Locust's default (5557) would join two tests' workers when tests run side by side."""
    if "--processes" in args and "--master-bind-port" not in args:
        port = str(free_port())
        args = [*args, "--master-bind-port", port, "--master-port", port]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [str(BIN / "locust"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"locust did not finish in {timeout} s:\n{out[-3000:]}\n{err[-3000:]}")
    return LocustRun(proc.returncode, out, err)


def locust_aggregated_count(json_prefix: Path) -> tuple[int, int]:
    """(requests, failures) from Locust's own final stats (``--json-file PREFIX``).

    Not ``--csv``: Locust rewrites the CSV once a second and not at exit, so
    its last rows can miss the final second.
    """
    entries = json.loads(Path(f"{json_prefix}.json").read_text())
    return (
        sum(int(e["num_requests"]) for e in entries),
        sum(int(e["num_failures"]) for e in entries),
    )


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]

    def served(self, endpoint: str = "chat") -> float:
        """Requests the server counted so far on endpoints containing ``endpoint``.

        The server is shared by the tests of a session: a test compares what
        it sent with the difference of two readings.
        """
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics") as resp:
            text = resp.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "locust_ml_server_requests"
            for sample in family.samples
            if sample.name.endswith("_total") and endpoint in sample.labels.get("endpoint", "")
        )
