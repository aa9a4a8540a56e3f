"""Telemetry and the exporter during real Locust runs.

* The embedded reference server is read every second (its /metrics and its
  process), and every step of the report carries those readings.
* A real Prometheus scrapes the master's exporter during the run and its HTTP
  API answers with a non-zero request rate.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, ROOT, run_locust
from tests.integration.prometheus import find_prometheus, run_prometheus

pytestmark = pytest.mark.slow

SMALL = ["--ml-prompt-tokens", "const:50", "--ml-output-tokens", "const:4"]
SIM = ["--ml-server-backend", "simulated", "--ml-server-args", "--base-ms 5 --per-item-ms 1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_each_step_carries_the_targets_telemetry(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-shape",
            "ramp:start=1,add=3,max=4,step=4s",
            *SMALL,
            *SIM,
            "--ml-report-dir",
            str(out),
            "--ml-nvml",
            "off",
        ]
    )
    assert run.returncode == 0, run.output[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [s["users"] for s in report["steps"]] == [1, 4]
    for step in report["steps"]:
        by_metric = {(r["source"], r["metric"]): r for r in step["telemetry"]}
        rss = by_metric[("target-process", "process_resident_memory_bytes")]
        assert rss["samples"] >= 2
        assert rss["mean"] > 10e6  # a Python server holds tens of MB
        cpu = by_metric[("target-process", "process_cpu_seconds_total")]
        assert cpu["kind"] == "counter"
        assert cpu["rate_per_s"] > 0  # the server worked during the step
        assert ("target", "server_requests_running") in by_metric or (
            "target",
            "server_queue_depth",
        ) in by_metric
        assert step["gpu_utilization"] is None  # no GPU here, and it says so
    assert not any("target" in n for n in report["notes"]), report["notes"]


@pytest.mark.skipif(find_prometheus() is None, reason="prometheus not installed (apt-get)")
def test_prometheus_scrapes_the_exporter_during_a_run(tmp_path: Path) -> None:
    port = _free_port()
    out = tmp_path / "r"
    args = [
        str(BIN / "locust"),
        "-f",
        "locustfiles/summarizer.py",
        "--headless",
        "--ml-shape",
        "ramp:start=2,max=2,step=60s",  # ended by SIGINT once Prometheus has seen it
        *SMALL,
        *SIM,
        "--ml-report-dir",
        str(out),
        "--ml-nvml",
        "off",
        "--ml-exporter",
        str(str(port)),
    ]
    with run_prometheus([f"127.0.0.1:{port}"], tmp_path) as prom:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            rate = prom.wait_for(
                'sum(rate(locust_ml_requests_total{status="ok"}[5s]))',
                timeout=40,
                accept=lambda r: bool(r) and float(r[0]["value"][1]) > 0,
            )
            step = prom.wait_for("locust_ml_step", timeout=10)
            users = prom.wait_for("locust_ml_users", timeout=10)
            p99 = prom.wait_for(
                "histogram_quantile(0.99, sum by (le) "
                "(rate(locust_ml_request_duration_seconds_bucket[5s])))",
                timeout=10,
                accept=lambda r: bool(r) and r[0]["value"][1] not in ("NaN", "+Inf"),
            )
        finally:
            try:
                proc.send_signal(signal.SIGINT)  # as Ctrl-C: the report of what ran, partial
                proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert float(rate[0]["value"][1]) > 10  # the simulated server answers hundreds per second
    assert step[0]["metric"]["mode"] == "closed"
    assert float(users[0]["value"][1]) == 2
    assert 0 < float(p99[0]["value"][1]) < 1.0
    # Interrupted, so partial and invalid (exit 2); the report is the other tests' to check.
    assert proc.returncode == 2
