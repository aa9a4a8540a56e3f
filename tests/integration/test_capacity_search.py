"""The capacity search from its defaults, as a real Locust run (the glue end to end).

Against the reference server's simulated backend (base 20 ms + 5 ms per item,
batch 8: X_sat = 8 / 0.060 s = 133.3 requests/s) with ``--ml-shape
capacity-search``, an SLO, a coarse precision (30 %) and steps of at most
10 s to keep the test under a minute: the saturation probe runs on the
arrival driver's concurrency plans, the search's Poisson steps are judged,
the report decides with the search's own judgements. Accuracy from the
defaults, over many targets, is benchmarks/capacity_search.py's job; here
the figures need only be sane (within the precision asked for).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow

X_SAT = 8 / 0.060


def test_the_default_search_probes_then_brackets_the_capacity(tmp_path: Path) -> None:
    out = tmp_path / "r"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-backend",
            "simulated",
            "--ml-server-args",
            "--base-ms 20 --per-item-ms 5 --max-batch-size 8",
            "--ml-shape",
            "capacity-search:precision=0.3,max_step=10s",
            "--ml-slo",
            "p99<2s",
            "--ml-prompt-tokens",
            "const:20",
            "--ml-output-tokens",
            "const:2",
            "--ml-profile",
            "none",
            "--ml-nvml",
            "off",
            "--ml-report-dir",
            str(out),
        ],
        timeout=240,
    )
    report = json.loads((out / "report.json").read_text())
    assert run.returncode == report["verdict"]["exit_code"] == 0, run.output[-4000:]
    search = report["search"]
    assert search["reason"] == "converged", search["summary"]
    phases = [j["phase"] for j in search["history"]]
    assert phases[0] == "probe"
    assert "probe" not in phases[phases.index("step-up") :]
    # The search's step ids are the report's (cooldowns are steps of the report too).
    ids = {s["id"] for s in report["steps"]}
    assert all(j["step"] in ids for j in search["history"])
    probe = [s for s in report["steps"] if s["label"] == "probe"]
    assert [s["users"] for s in probe][:3] == [1, 2, 4]  # concurrency, doubling
    assert all(s["mode"] == "closed" for s in probe)
    searched = [s for s in report["steps"] if s["label"] in ("step-up", "bisect", "step-down")]
    assert all(s["mode"] == "open" and s["warmup_s"] > 0 for s in searched)
    assert all(s["judgement"] is not None for s in searched)
    cap = report["capacity"]
    assert X_SAT / 1.3 - 5 <= cap["slo_rps"] <= 1.05 * X_SAT, run.stdout[-3000:]
    low, high = cap["slo_rps_ci"]
    assert low <= cap["slo_rps"] <= high
    assert "SLO capacity per replica" in run.stdout
    assert run.stdout.count("SLO capacity per replica") == 1  # one capacity, not two
