"""Telemetry's CPU overhead on the load generator, at 1 Hz.

Starts the reference server (simulated backend) and two local endpoints
serving recorded DCGM-exporter and vLLM expositions, then runs Locust for
30 s with telemetry reading all three every second (plus the server's own
/metrics), with enough users to keep Locust busy as a load generator is in a
capacity test. The report's ``run.telemetry_cpu_s`` is the CPU the master spent
on telemetry (measured around each read in its thread and the tagging in the
event loop); Locust's own CPU comes from ``getrusage(RUSAGE_CHILDREN)`` around
the run. Target: telemetry < 1 % of Locust's CPU.
Run: ``.venv/bin/python benchmarks/telemetry_overhead.py``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FIXTURES = ROOT / "tests" / "fixtures" / "exposition"


def serve_text(text: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the DCGM exporter and vLLM answer

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/metrics"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="locust-ml-bench-"))
    port_file = tmp / "port"
    server = subprocess.Popen(
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
            "0.05",
            "--max-batch-size",
            "64",
            "--max-queue-delay-ms",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dcgm, dcgm_url = serve_text((FIXTURES / "dcgm.txt").read_bytes())
    vllm, vllm_url = serve_text((FIXTURES / "vllm.txt").read_bytes())
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise SystemExit("the reference server did not start")
            time.sleep(0.05)
        host = f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(0.5)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.monotonic()
        run = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                "locustfiles/summarizer.py",
                "--headless",
                "--host",
                host,
                "--ml-shape",
                "ramp:start=32,max=32,step=30s",
                "--ml-prompt-tokens",
                "const:100",
                "--ml-output-tokens",
                "const:8",
                "--ml-nvml",
                "off",
                "--ml-scrape",
                f"dcgm={dcgm_url}",
                "--ml-scrape",
                f"vllm={vllm_url}",
                "--ml-scrape",
                f"locust-ml={host}/metrics",
                "--ml-report-dir",
                str(tmp / "report"),
                "--only-summary",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        wall = time.monotonic() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:])
            return 1
        locust_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        report = json.loads((tmp / "report" / "report.json").read_text())
        tele = report["run"]["telemetry_cpu_s"]
        step = report["steps"][0]
        series = len(step["telemetry"])
        print(
            f"Locust ran {wall:.1f} s: {report['totals']['requests']} requests "
            f"({step['achieved_rps']:.0f} req/s), {series} telemetry series per step, "
            "3 endpoints read at 1 Hz"
        )
        print(
            f"Locust process CPU: {locust_cpu:.2f} s ({locust_cpu / wall:.0%} of a core); "
            f"telemetry CPU: {tele:.3f} s ({tele / wall * 1000:.1f} ms per second of test)"
        )
        print(
            f"telemetry overhead: {tele / locust_cpu:.2%} of Locust's CPU (target < 1%): "
            f"{'PASS' if tele / locust_cpu < 0.01 else 'FAIL'}"
        )
        return 0
    finally:
        server.terminate()
        server.wait(10)
        dcgm.shutdown()
        vllm.shutdown()


if __name__ == "__main__":
    sys.exit(main())
