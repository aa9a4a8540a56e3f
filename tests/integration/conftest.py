"""Fixtures for real-process tests (see ``helpers.py``)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT, Server


@pytest.fixture
def simulated_server(tmp_path: Path) -> Iterator[Server]:
    """A ``locust-ml serve --backend simulated`` process on a free port."""
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust_ml.cli",
            "serve",
            "--backend",
            "simulated",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--base-ms",
            "2",
            "--per-item-ms",
            "1",
            "--max-batch-size",
            "8",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline:
            if port_file.exists() and port_file.read_text().strip().isdigit():
                url = f"http://127.0.0.1:{port_file.read_text().strip()}"
                try:
                    with urllib.request.urlopen(f"{url}/health/ready", timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
            assert proc.poll() is None, "the reference server exited early"
            time.sleep(0.05)
        else:
            pytest.fail("the reference server did not become ready")
        assert url is not None
        yield Server(url, proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
