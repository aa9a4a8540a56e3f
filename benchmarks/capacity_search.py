"""Capacity search accuracy against targets of analytically known capacity.

For two configurations of the reference server's simulated backend, runs
``locust --ml-shape capacity-search`` (open loop, Poisson arrivals) with
SLOs that break exactly at saturation (a deep queue: above X_sat latency grows
without bound; below it stays near one batch time), and compares the found
SLO-sustainable rate with X_sat = instances * B / ((base_ms + per_item_ms * B)
/ 1000). Target: within +-5 %, each search in <= 4 minutes of test time.
Run: ``.venv/bin/python benchmarks/capacity_search.py`` (about 8 minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

CONFIGS = [
    # (base_ms, per_item_ms, batch, instances, search start)
    (20.0, 5.0, 8, 1, 50.0),
    (40.0, 10.0, 16, 1, 30.0),
]


def x_sat(base: float, per_item: float, batch: int, instances: int) -> float:
    return instances * batch / ((base + per_item * batch) / 1000.0)


def main() -> int:
    ok = True
    print(
        f"{'config':<34} {'X_sat':>8} {'found':>8} {'first bad':>10} {'error':>7} "
        f"{'steps':>5} {'test time':>9}"
    )
    for base, per_item, batch, instances, start in CONFIGS:
        out = Path(tempfile.mkdtemp(prefix="locust-ml-search-"))
        began = time.monotonic()
        run = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                "locustfiles/summarizer.py",
                "--headless",
                "--ml-server-backend",
                "simulated",
                "--ml-server-args",
                f"--base-ms {base} --per-item-ms {per_item} --max-batch-size {batch} "
                f"--instances {instances} --queue-limit 5000",
                "--ml-shape",
                "capacity-search",
                "--ml-arrival",
                "poisson",
                "--ml-slo",
                "p99<1s",
                "--ml-slo",
                "errors<1%",
                "--ml-search-start",
                str(start),
                "--ml-search-factor",
                "2",
                "--ml-search-precision",
                "0.05",
                "--ml-warmup",
                "3s",
                "--ml-window",
                "3s",
                "--ml-search-step-time",
                "40s",
                "--ml-search-max-time",
                "240s",
                "--ml-prompt-tokens",
                "const:20",
                "--ml-output-tokens",
                "const:2",
                "--ml-nvml",
                "off",
                "--ml-report-dir",
                str(out),
                "--exit-code-on-error",
                "0",
                "--only-summary",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.monotonic() - began
        name = f"base {base:g} + {per_item:g}/item, B={batch}, x{instances}"
        report_path = out / "report.json"
        if not report_path.exists():
            print(f"{name}: locust failed:\n{run.stdout[-1500:]}\n{run.stderr[-1500:]}")
            return 1
        report = json.loads(report_path.read_text())
        search = report["search"]
        want = x_sat(base, per_item, batch, instances)
        found = search["sustainable"] or 0.0
        error = found / want - 1
        test_time = report["run"]["duration_s"]
        good = abs(error) <= 0.05 and test_time <= 240 + 30
        ok &= good
        print(
            f"{name:<34} {want:>8.1f} {found:>8.1f} {search['first_bad'] or 0:>10.1f} "
            f"{error:>+7.1%} {len(search['history']):>5} {test_time:>8.0f}s "
            f"{'PASS' if good else 'FAIL'}  ({wall:.0f} s wall; {search['reason']}; "
            f"report SLO capacity {report['capacity']['slo_rps'] or 0:.1f}, "
            f"exit {run.returncode})"
        )
    print(
        "capacity search within +-5% of the analytic SLO-sustainable rate: "
        + ("PASS" if ok else "FAIL")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
