"""Open-loop load in real Locust processes: rates, distribution, coordinated omission."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.helpers import Server, run_locust

pytestmark = pytest.mark.slow

TOKENS = ["--ml-prompt-tokens", "const:30", "--ml-output-tokens", "const:4", "--ml-nvml", "off"]
#: Small requests and a loose latency SLO that only sets the generator's
#: allowance (p99 lateness 10 % of it, docs/load-shapes.md): these tests check
#: counts and rates, and two real-process tests may share the machine's cores.
SMALL = [*TOKENS, "--ml-slo", "p99<30s"]


def _steady_rate(step: dict, skip: int = 1) -> float:
    """Achieved rate over the step's whole windows, after the first ``skip``."""
    windows = [w for w in step["windows"] if w["index"] >= skip]
    full = [
        w
        for w in windows
        if w["end"] - w["start"] > 0.999 * (windows[0]["end"] - windows[0]["start"])
    ]
    seconds = sum(w["end"] - w["start"] for w in full)
    return sum(w["requests"] for w in full) / seconds


class _StallingChat(BaseHTTPRequestHandler):
    """An OpenAI-like endpoint that answers in ~2 ms, but stalls everything once for 1.5 s."""

    protocol_version = "HTTP/1.1"
    first: float | None = None
    lock = threading.Lock()
    STALL_AT, STALL_FOR = 2.0, 1.5
    BODY = json.dumps(
        {
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    ).encode()

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.monotonic()
        with self.lock:
            if type(self).first is None:
                type(self).first = now
        stall_start = (type(self).first or now) + self.STALL_AT
        if stall_start <= now < stall_start + self.STALL_FOR:
            time.sleep(stall_start + self.STALL_FOR - now)
        else:
            time.sleep(0.002)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args: object) -> None:
        pass


def _stalling_server() -> tuple[ThreadingHTTPServer, str]:
    handler = type("Stall", (_StallingChat,), {"first": None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_open_loop_latency_shows_a_stall_that_closed_loop_hides(tmp_path: Path) -> None:
    results = {}
    for mode, args in {
        "closed": ["--ml-shape", "ramp:start=1,max=1,step=6s"],
        "open": ["--ml-arrival", "constant", "--ml-shape", "ramp:start=20,max=20,step=6s"],
    }.items():
        server, url = _stalling_server()
        try:
            run = run_locust(
                [
                    "-f",
                    "locustfiles/summarizer.py",
                    "--headless",
                    "--host",
                    url,
                    *args,
                    *TOKENS,  # a p99 SLO would need more requests than 6 s of a stall give
                    "--ml-report-dir",
                    str(tmp_path / mode),
                ],
                timeout=60,
            )
        finally:
            server.shutdown()
        assert run.returncode == 0, run.output[-3000:]
        (results[mode],) = json.loads((tmp_path / mode / "report.json").read_text())["steps"]
    closed, opened = results["closed"], results["open"]
    # Closed loop: the one user waited out the stall in a single request; the
    # hundreds of others were fast, so the service latency's p99 hides it.
    assert closed["requests"] > 200
    assert closed["latency_ms"]["p99"] < 100
    # Open loop: every arrival during the stall waited; measured from the
    # intended send time, p95 and p99 show ~1-1.5 s (a quarter of the arrivals
    # came during the stall). The service latency alone (from the actual send)
    # shows it too here, because the pool is not capped.
    assert opened["corrected_ms"]["p99"] > 1200
    assert opened["corrected_ms"]["p95"] > 800
    assert opened["requests"] == pytest.approx(120, rel=0.1)


def test_a_stages_file_of_rates_runs_open_loop_without_ml_arrival(
    tmp_path: Path, simulated_server: Server
) -> None:
    # Issue 13: the shape's closed-loop default crashed the step tracker and ran
    # the users closed loop, about 20x the planned rate; the run passed.
    stages = tmp_path / "rates.json"
    stages.write_text('[{"duration": 4, "rate": 10}]')
    out = tmp_path / "r"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--host",
            simulated_server.url,
            "--ml-shape",
            f"stages:file={stages}",
            *SMALL,
            "--ml-report-dir",
            str(out),
        ],
        timeout=60,
    )
    assert "Traceback" not in run.output, run.output[-3000:]
    notes = [ln for ln in run.stderr.splitlines() if "gives rates (open loop)" in ln]
    assert len(notes) == 1
    assert "arrivals are poisson" in notes[0]
    report = json.loads((out / "report.json").read_text())
    (step,) = report["steps"]
    assert step["mode"] == "open"
    assert step["offered_rps"] == 10
    # Open loop at 10/s for 4 s: about 40 arrivals, nothing like a closed-loop flood.
    assert 15 <= step["requests"] <= 70, step["requests"]
