"""The capacity report's SLO capacity and knee against analytically known targets.

For three configurations of the reference server's simulated backend
(X_sat = instances * B / ((base_ms + per_item_ms * B) / 1000), measured within
1% by benchmarks/simulated_saturation.py) runs a closed-loop ramp raising
users by half from B/2 per instance to 4B with 15 s steps and the SLO p99 < 3 batch
times, which the first fully saturated step meets and the next breaks (see
tests/integration/test_capacity_report.py for the reasoning), and prints the
report's SLO capacity, knee and saturation next to X_sat. Targets: SLO
capacity within +-5% and the knee within +-10%; the run must also be valid.

Run: ``.venv/bin/python benchmarks/capacity_report.py`` (about 5 minutes).
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

# (base_ms, per_item_ms, batch, instances)
CONFIGS = [(20.0, 5.0, 8, 1), (40.0, 10.0, 16, 1), (50.0, 5.0, 4, 2), (10.0, 2.5, 8, 1)]


def x_sat(base: float, per_item: float, batch: int, instances: int) -> float:
    return instances * batch / ((base + per_item * batch) / 1000.0)


def run_one(base: float, per_item: float, batch: int, instances: int) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="locust-ml-capacity-"))
    start = max(1, batch * instances // 2)
    batch_ms = base + per_item * batch
    subprocess.run(
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
            f"ramp:start={start},factor=1.5,max={start * 8},step=15s,window=3s",
            "--ml-slo",
            f"p99<{3 * batch_ms:g}ms",
            "--ml-slo",
            "errors<1%",
            "--ml-prompt-tokens",
            "const:20",
            "--ml-output-tokens",
            "const:2",
            "--ml-nvml",
            "off",
            "--ml-report-dir",
            str(out),
            "--only-summary",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return json.loads((out / "report.json").read_text())  # type: ignore[no-any-return]


def main() -> int:
    ok = True
    print(
        f"{'config':<30} {'X_sat':>7} {'SLO cap':>8} {'error':>7} {'knee':>8} {'error':>7} "
        f"{'saturation':>10} {'valid':>6} {'time':>5}"
    )
    for base, per_item, batch, instances in CONFIGS:
        began = time.monotonic()
        report = run_one(base, per_item, batch, instances)
        want = x_sat(base, per_item, batch, instances)
        cap = report["capacity"]
        assert isinstance(cap, dict)
        verdict = report["verdict"]
        assert isinstance(verdict, dict)
        slo, knee, sat = cap["slo_rps"] or 0.0, cap["knee_rps"] or 0.0, cap["saturation_rps"] or 0.0
        e_slo, e_knee = slo / want - 1, knee / want - 1
        good = abs(e_slo) <= 0.05 and abs(e_knee) <= 0.10 and bool(verdict["valid"])
        ok &= good
        name = f"{base:g} + {per_item:g}/item, B={batch}, x{instances}"
        print(
            f"{name:<30} {want:>7.1f} {slo:>8.1f} {e_slo:>+7.1%} {knee:>8.1f} {e_knee:>+7.1%} "
            f"{sat:>10.1f} {verdict['valid']!s:>6} {time.monotonic() - began:>4.0f}s "
            f"{'PASS' if good else 'FAIL'}"
        )
        if not verdict["valid"]:
            print("   invalid: " + "; ".join(verdict["reasons"]))
    print("SLO capacity within +-5% and knee within +-10% of X_sat: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
