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
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_test_still_writes_a_whole_partial_report(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [
            str(BIN / "locust"),
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-backend",
            "simulated",
            "--ml-ramp-start",
            "1",
            "--ml-ramp-factor",
            "2",
            "--ml-ramp-max",
            "64",
            "--ml-step-time",
            "4s",
            "--ml-slo",
            "p99<2s",
            "--ml-prompt-tokens",
            "const:20",
            "--ml-output-tokens",
            "const:2",
            "--ml-report-dir",
            str(out),
            "--run-time",
            "60s",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        # Wait for the second step to begin (bounded), then interrupt.
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "step 2 started" in line or time.monotonic() > deadline:
                break
        assert any("step 2 started" in line for line in seen), "".join(seen[-30:])
        time.sleep(1.5)
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    output = "".join(seen) + rest
    assert proc.returncode == 2, output[-3000:]
    report = json.loads((out / "report.json").read_text())
    verdict = report["verdict"]
    assert verdict["partial"] is True
    assert verdict["valid"] is False
    assert any("interrupted" in r for r in verdict["reasons"])
    assert report["totals"]["requests"] > 0
    assert [s["id"] for s in report["steps"]][:2] == [1, 2]
    # Whole files, no temporaries left behind.
    html = (out / "report.html").read_text()
    assert html.rstrip().endswith("</html>")
    assert "partial" in html.lower()
    assert (out / "report.md").read_text().strip()
    rows = list(csv.DictReader((out / "steps.csv").open()))
    assert len(rows) == len(report["steps"])
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
