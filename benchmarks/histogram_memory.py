"""Memory of our per-step accumulators: flat in the number of samples.

Records 10 million samples (lognormal latencies, streaming fields included)
into one step's accumulators - first 1 million, then 9 million more - and
prints the process's peak RSS growth and the accumulators' own size after
each. The growth from 1M to 10M must be ~0: memory depends on steps x windows
x endpoints, not on requests. Run: ``.venv/bin/python benchmarks/histogram_memory.py``
(about two minutes: the HDR library records in Python).
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from locust_ml.analysis.samples import RequestSample, StepSamples, window_index

KEY = ("POST", "/v1/chat/completions")
CHUNK = 100_000


def rss_mb() -> float:
    # ru_maxrss is in kB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def accumulator_mb(samples: StepSamples) -> float:
    wire = samples.to_wire()
    counters = sum(
        len(h["hdr"])
        for row in wire
        for h in row["acc"]["hists"].values()  # type: ignore[index,union-attr]
    )
    return counters / 1e6


def fill(samples: StepSamples, rng: np.random.Generator, n: int, t0: float) -> None:
    for start in range(0, n, CHUNK):
        lat = rng.lognormal(5.0, 0.6, CHUNK)
        for i, v in enumerate(lat):
            t = t0 + (start + i) * 1e-4  # 10k req/s
            samples.add(
                1,
                RequestSample(KEY, float(v), corrected_ms=float(v) * 1.1, ttft_ms=float(v) / 4),
                window=window_index(t, t0, 60.0),
            )


def main() -> int:
    rng = np.random.default_rng(1)
    samples = StepSamples()
    base = rss_mb()
    began = time.perf_counter()
    fill(samples, rng, 1_000_000, 0.0)
    at_1m = rss_mb()
    print(
        f"after  1,000,000 samples: peak RSS +{at_1m - base:7.1f} MB "
        f"(encoded histograms {accumulator_mb(samples):.3f} MB), {len(samples)} accumulators"
    )
    fill(samples, rng, 9_000_000, 100.0)
    at_10m = rss_mb()
    print(
        f"after 10,000,000 samples: peak RSS +{at_10m - base:7.1f} MB "
        f"(encoded histograms {accumulator_mb(samples):.3f} MB), {len(samples)} accumulators"
    )
    print(
        f"growth from 1M to 10M: {at_10m - at_1m:+.1f} MB "
        f"(the 10M run spans 17 one-minute windows, 2-digit histograms of 26 kB each); "
        f"{time.perf_counter() - began:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
