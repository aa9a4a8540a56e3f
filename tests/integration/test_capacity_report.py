"""The capacity report against targets of analytically known capacity.

The reference server's simulated backend serves batches of up to B requests
in ``base_ms + per_item_ms * B`` on each of its instances, so its saturation
throughput is X_sat = instances * B / ((base_ms + per_item_ms * B) / 1000)
(docs/reference-server.md; benchmarks/simulated_saturation.py measures it
within 1%). A closed-loop ramp raising users by half from B/2 per instance to 4B
crosses it: once users >= ~2B per instance every batch is full,
throughput stays at X_sat and latency grows as users / X_sat. With the SLO
p99 < 3 batch times the last passing step is saturated (latency about 2.5
batch times) and the next fails - so SLO capacity and the knee sit at
X_sat. This test is the report's wiring from a real run (capacity, knee,
interval, verdict, cost and replicas by their formulas, every file), with
bounds loose enough for a busy machine and short steps;
the accuracy (+-5 % and +-10 % over many configurations, longer steps) is
benchmarks/capacity_report.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow

# (base_ms, per_item_ms, batch, instances): one configuration here; the benchmark
# (benchmarks/capacity_report.py) covers more, with longer steps.
CONFIGS = [(20.0, 5.0, 8, 1)]


def x_sat(base: float, per_item: float, batch: int, instances: int) -> float:
    return instances * batch / ((base + per_item * batch) / 1000.0)


@pytest.mark.parametrize(("base", "per_item", "batch", "instances"), CONFIGS)
def test_capacity_and_knee_match_the_analytic_saturation(
    tmp_path: Path, base: float, per_item: float, batch: int, instances: int
) -> None:
    want = x_sat(base, per_item, batch, instances)
    batch_ms = base + per_item * batch
    out = tmp_path / "r"
    start = max(1, batch * instances // 2)
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-backend",
            "simulated",
            "--ml-server-args",
            f"--base-ms {base} --per-item-ms {per_item} --max-batch-size {batch} "
            f"--instances {instances} --queue-limit 2000",
            "--ml-shape",
            f"ramp:start={start},factor=1.5,max={start * 8},step=3s,window=0.5s",
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
            "--ml-price-per-hour",
            "2.5",
            "--ml-target-rps",
            "1000",
            "--ml-report-dir",
            str(out),
        ],
        timeout=180,
    )
    report = json.loads((out / "report.json").read_text())
    capacity, verdict = report["capacity"], report["verdict"]
    summary = json.dumps({**capacity, "curve": None}, indent=1) + run.output[-2500:]
    assert 0.75 * want <= capacity["slo_rps"] <= 1.05 * want, summary
    assert 0.75 * want <= capacity["knee_rps"] <= 1.05 * want, summary
    assert 0.8 * want <= capacity["saturation_rps"] <= 1.05 * want, summary
    lo, hi = capacity["slo_rps_ci"]
    assert lo <= capacity["slo_rps"] <= hi
    # A ramp is a capacity test: steps past the limit fail by design.
    assert verdict["passed"], verdict
    assert run.returncode == verdict["exit_code"], (verdict, run.output[-2000:])
    # The plan and cost follow from the capacity by their formulas.
    slo_rps = capacity["slo_rps"]
    assert report["cost"]["per_million_requests"] == pytest.approx(
        2.5 / (slo_rps * 3600) * 1e6, rel=1e-4
    )
    assert report["plan"]["replicas"] == -(-1000 // (slo_rps * 0.8)) + 1
    # Every form of the report is on disk.
    for name in ("report.html", "report.md", "steps.csv"):
        assert (out / name).stat().st_size > 0, name
