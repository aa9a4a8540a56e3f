"""The reference server as a real process: port file, readiness, a completion,
a stream cut short by the client, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _wait_for_port(path: Path, proc: subprocess.Popen[str], limit_s: float = 30.0) -> int:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        if path.exists():
            text = path.read_text()
            assert text.endswith("\n")  # written atomically: never partial
            return int(text)
        time.sleep(0.05)
    raise AssertionError("server never wrote its port file")


def _wait_ready(client: httpx.Client, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if client.get("/health/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("server never became ready")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust_ml.cli",
            "serve",
            "--port=0",
            f"--port-file={port_file}",
            "--backend=simulated",
            "--base-ms=5",
            "--per-item-ms=1",
            "--load-seconds=0.2",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _wait_for_port(port_file, proc)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def test_serve_answers_and_exits_cleanly_on_sigterm(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = server
    with httpx.Client(base_url=url, timeout=10.0) as client:
        assert client.get("/health/live").status_code == 200
        _wait_ready(client)
        r = client.post(
            "/v1/completions", json={"model": "summarizer", "prompt": "hi there", "max_tokens": 5}
        )
        assert r.status_code == 200
        assert r.json()["usage"]["completion_tokens"] == 5
        assert int(r.headers["X-Batch-Size"]) == 1

        # A stream read in full, then one the client abandons after two tokens.
        body = {"model": "summarizer", "prompt": "hi", "max_tokens": 3, "stream": True}
        with client.stream("POST", "/v1/completions", json=body) as s:
            events = [line for line in s.iter_lines() if line]
        assert events[-1] == "data: [DONE]"
        assert len(events) == 3 + 2  # tokens, usage, [DONE]
        body["max_tokens"] = 500
        with client.stream("POST", "/v1/completions", json=body) as s:
            for n, _line in enumerate(s.iter_lines()):
                if n == 2:
                    break
        assert client.get("/health/ready").status_code == 200

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert out.startswith("locust-ml serve: listening on http://127.0.0.1:")
    assert "backend=simulated" in out
