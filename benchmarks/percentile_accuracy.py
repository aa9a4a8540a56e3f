"""Percentile accuracy: our merged worker histograms vs Locust's own stats.

For several latency distributions (light- and heavy-tailed), draws samples,
splits them across 4 simulated workers, ships each worker's histogram over
the wire format and merges them as the master does, and prints p50..p99.9
next to the exact nearest-rank percentiles of the raw samples and next to
Locust's ``StatsEntry`` percentiles (which round response times to ~2
significant digits). Run: ``.venv/bin/python benchmarks/percentile_accuracy.py``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from locust.stats import RequestStats, StatsEntry

from locust_ml.analysis.samples import RequestSample, StepSamples
from locust_ml.analysis.steps import StepSpan, summarize_steps

N = 200_000
WORKERS = 4
PCTS = (50.0, 90.0, 95.0, 99.0, 99.9)
KEY = ("POST", "/x")

DISTRIBUTIONS = {
    "lognormal(4, 0.5)": lambda r, n: r.lognormal(4.0, 0.5, n),
    "lognormal(5, 1.2)": lambda r, n: r.lognormal(5.0, 1.2, n),
    "pareto(a=1.5)x20": lambda r, n: (r.pareto(1.5, n) + 1) * 20.0,
    "exponential(80)": lambda r, n: r.exponential(80.0, n),
    "bimodal 30/2000": lambda r, n: np.where(r.random(n) < 0.95, 30.0, 2000.0) + r.random(n) * 5,
}


def exact(values: np.ndarray, q: float) -> float:
    rank = max(1, math.ceil(q * len(values) / 100.0 - 1e-9))
    return float(np.sort(values)[rank - 1])


def main() -> int:
    rng = np.random.default_rng(20261128)
    worst_ours = 0.0
    print(f"{N:,} samples per distribution, {WORKERS} workers merged; relative error vs exact")
    print(
        f"{'distribution':<20} {'pct':>6} {'exact ms':>10} {'ours':>10} {'err':>8}"
        f" {'locust':>9} {'err':>8}"
    )
    for name, draw in DISTRIBUTIONS.items():
        values = draw(rng, N)
        master = StepSamples()
        for part in np.array_split(values, WORKERS):
            worker = StepSamples()
            for v in part:
                worker.add(1, RequestSample(KEY, float(v)))
            master.merge_wire(worker.drain_wire())
        (step,) = summarize_steps([StepSpan(1, 0.0, 1.0, 1)], master, PCTS)
        entry = StatsEntry(RequestStats(), "x", "POST")
        for v in values:
            entry.log(float(v), 0)
        for q in PCTS:
            want = exact(values, q)
            ours = step.latency_ms[f"p{q:g}"] or math.nan
            theirs = float(entry.get_response_time_percentile(q / 100.0))
            e_ours, e_theirs = (ours - want) / want, (theirs - want) / want
            worst_ours = max(worst_ours, abs(e_ours))
            print(
                f"{name:<20} {'p' + format(q, 'g'):>6} {want:>10.3f} {ours:>10.3f}"
                f" {e_ours:>+8.3%} {theirs:>9.1f} {e_theirs:>+8.2%}"
            )
    verdict = "PASS" if worst_ours <= 0.01 else "FAIL"
    print(f"worst relative error of ours: {worst_ours:.3%} (target <= 1%): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
