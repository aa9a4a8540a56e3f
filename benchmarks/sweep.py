"""``locust-ml sweep`` against a server whose SLO capacity per configuration is known.

The target is the reference server's simulated backend: a batch of ``n``
requests takes exactly ``base_ms + per_item_ms * n``; ``--instances`` model
instances share one FIFO queue, and each takes up to ``--max-batch-size``
waiting requests once that many wait or the oldest has waited
``--max-queue-delay-ms`` (5 ms). The sweep varies the batch size (1, 2, 4,
8, 16, 32) and the instances (1, 2) with base 20 ms, **10 ms per item**, and
the SLO **p99 < 200 ms** (errors under the 1 % ceiling; the queue limit is
raised to 512 so that shedding never decides first).

Why a middle batch wins. Larger batches raise the saturation throughput,
``X_sat = instances * B / (base + per_item * B)``, towards ``instances /
per_item`` (200 requests/s here) - but a request waits for the batch in
progress and then runs in its own, so its latency is up to two batch
times, and with 10 ms per item a full batch of 16 already takes 180 ms.
Below saturation a dynamic batcher runs smaller batches, so a large
``max-batch-size`` does not forbid a load, it stops helping: the queue's
random peaks fill the big batches, those take longer, and more requests
wait behind them. With two instances sharing the queue, a batch of 8 keeps
the p99 under 200 ms up to about 138 requests/s; 4 saturates first, 16 and
32 break the p99 at lower rates.

The "model" figure of each configuration is derived from those scheduling
rules alone, with no HTTP and no Locust: an exact discrete-event simulation
of the backend (:func:`model_capacity`: Poisson arrivals, seeded, 40,000
requests per rate, the highest rate whose p99 stays under the SLO, found by
bisection to 0.5 %). A closed form exists for X_sat, not for a p99 under
batching, so this is the derivation. The measured figure is the SLO
capacity of each configuration's capacity search (its defaults, as a user
runs them), read from the sweep's ``sweep.json``; HTTP and Locust add a few
milliseconds to every latency, so measured figures are expected a little
below the model's.

Printed: every configuration's measured SLO capacity with its 95 % interval
against the model (and X_sat), the configuration the sweep chose against
the model's best, and the total sweep time. Run on a quiet machine::

    .venv/bin/python benchmarks/sweep.py                 # 12 configurations, ~25 min
    .venv/bin/python benchmarks/sweep.py --batches 4,8,16 --instances 2   # a reduced grid

Options it does not know go to ``locust-ml sweep``: on a busy machine, where
the load generator falls behind and runs come out INVALID, ``--out DIR
--retry-failed`` measures those again and prints the comparison anew.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_MS = 20.0
PER_ITEM_MS = 10.0
DELAY_MS = 5.0  # --max-queue-delay-ms, the server's default
SLO_MS = 200.0
QUEUE_LIMIT = 512
PRICE = 1.2
TARGET_RPS = 1000.0


@dataclass(frozen=True)
class Model:
    batch: int
    instances: int

    @property
    def x_sat(self) -> float:
        return self.instances * self.batch / ((BASE_MS + PER_ITEM_MS * self.batch) / 1000.0)


def p99_ms(rate: float, batch: int, instances: int, gaps: list[float], warmup: int = 4000) -> float:
    """p99 latency (ms) of the backend's scheduling at ``rate``, Poisson arrivals.

    ``gaps`` are unit-mean exponential inter-arrival times (the same for
    every rate: common random numbers keep the p99 monotone in the rate).
    """
    n = len(gaps)
    arrivals = []
    t = 0.0
    for g in gaps:
        t += g / rate
        arrivals.append(t)
    free = [0.0] * instances
    delay = DELAY_MS / 1000.0
    latencies: list[float] = []
    i = 0
    while i < n:
        k = min(range(instances), key=free.__getitem__)
        now = max(free[k], arrivals[i])
        # Batch formation: a full batch waiting, or the oldest waited the delay.
        full_at = arrivals[i + batch - 1] if i + batch - 1 < n else float("inf")
        start = max(now, min(full_at, arrivals[i] + delay))
        j = i
        while j < n and j - i < batch and arrivals[j] <= start:
            j += 1
        end = start + (BASE_MS + PER_ITEM_MS * (j - i)) / 1000.0
        latencies.extend(end - arrivals[q] for q in range(max(i, warmup), j))
        free[k] = end
        i = j
    latencies.sort()
    return latencies[int(0.99 * len(latencies))] * 1000.0


def model_capacity(m: Model, requests: int = 40_000, seed: int = 7) -> float:
    """The highest Poisson rate whose p99 stays under the SLO (bisection to 0.5 %)."""
    rng = random.Random(seed)
    gaps = [rng.expovariate(1.0) for _ in range(requests)]
    low, high = 0.02 * m.x_sat, 0.995 * m.x_sat
    if p99_ms(low, m.batch, m.instances, gaps) > SLO_MS:
        return 0.0
    if p99_ms(high, m.batch, m.instances, gaps) <= SLO_MS:
        return high
    while high / low > 1.005:
        mid = (low * high) ** 0.5
        if p99_ms(mid, m.batch, m.instances, gaps) <= SLO_MS:
            low = mid
        else:
            high = mid
    return low


def run_sweep(batches: str, instances: str, out: Path, extra: list[str]) -> tuple[int, float]:
    """``locust-ml sweep`` as a user types it; (exit code, seconds)."""
    server = (
        f"{sys.executable} -m locust_ml.cli serve --backend simulated --port {{port}} "
        f"--base-ms {BASE_MS:g} --per-item-ms {PER_ITEM_MS:g} --queue-limit {QUEUE_LIMIT} "
        "--max-batch-size {batch} --instances {instances}"
    )
    argv = [
        sys.executable,
        "-m",
        "locust_ml.cli",
        "sweep",
        "-f",
        "locustfiles/summarizer.py",
        "--server",
        server,
        "--param",
        f"batch={batches}",
        "--param",
        f"instances={instances}",
        "--ml-slo",
        f"p99<{SLO_MS:g}ms",
        "--ml-price-per-hour",
        str(PRICE),
        "--ml-target-rps",
        str(TARGET_RPS),
        # The workload, not the search: short prompts keep the load generator's
        # CPU low (the simulated backend ignores token counts).
        "--ml-profile",
        "none",
        "--ml-prompt-tokens",
        "const:20",
        "--ml-output-tokens",
        "const:2",
        "--ml-nvml",
        "off",
        "--out",
        str(out),
        *extra,
    ]
    began = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, check=False, timeout=4 * 3600)
    return proc.returncode, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="1,2,4,8,16,32")
    parser.add_argument("--instances", default="1,2")
    parser.add_argument("--out", help="the sweep's folder (default: a new temporary one)")
    parser.add_argument(
        "--model-only", action="store_true", help="print the model's figures, run nothing"
    )
    opts, extra = parser.parse_known_args()
    models = [
        Model(int(b), int(i)) for b in opts.batches.split(",") for i in opts.instances.split(",")
    ]
    began = time.monotonic()
    truth = {(m.batch, m.instances): model_capacity(m) for m in models}
    print(
        f"model (discrete-event simulation of the backend, p99 < {SLO_MS:g} ms): "
        f"{time.monotonic() - began:.0f} s",
        flush=True,
    )
    if opts.model_only:
        for m in models:
            print(
                f"batch={m.batch} instances={m.instances}: X_sat {m.x_sat:.1f}, "
                f"model {truth[(m.batch, m.instances)]:.1f}"
            )
        return 0
    out = Path(opts.out) if opts.out else Path(tempfile.mkdtemp(prefix="locust-ml-sweep-"))
    code, seconds = run_sweep(opts.batches, opts.instances, out, extra)
    data: dict[str, Any] = json.loads((out / "sweep.json").read_text())
    print()
    print(
        f"{'configuration':<22} {'X_sat':>6} {'model':>6} {'measured':>8} {'error':>7} "
        f"{'95% interval':>13} {'in?':>4} {'verdict':>7} {'p99@cap':>7} {'time':>5}"
    )
    errors = []
    for row in data["configs"]:
        b, i = int(row["params"]["batch"]), int(row["params"]["instances"])
        m = Model(b, i)
        want = truth[(b, i)]
        got = row["slo_rps"]
        err = None if got is None or want == 0 else got / want - 1
        if err is not None:
            errors.append(abs(err))
        ci = row["slo_rps_ci"]
        inside = ci is not None and ci[0] <= want <= (ci[1] if ci[1] is not None else 1e12)
        top = "-" if ci is None else ("open" if ci[1] is None else f"{ci[1]:.1f}")
        ci_text = "-" if ci is None else f"{ci[0]:.1f}-{top}"
        lat = row["latency_at_capacity_ms"]
        print(
            f"{row['label']:<22} {m.x_sat:>6.1f} {want:>6.1f} "
            f"{'-' if got is None else f'{got:.1f}':>8} {'-' if err is None else f'{err:+.1%}':>7} "
            f"{ci_text:>13} {'yes' if inside else 'NO':>4} {row['verdict'] or row['status']:>7} "
            f"{'-' if lat is None else f'{lat:.0f}':>7} {row['elapsed_s']:>4.0f}s",
            flush=True,
        )
    best_model = max(truth, key=lambda k: truth[k])
    chosen = data["best"]
    print()
    print(
        f"model best: batch={best_model[0]} instances={best_model[1]} "
        f"({truth[best_model]:.1f} req/s; runner-up "
        + ", ".join(
            f"batch={k[0]} instances={k[1]} {v:.1f}"
            for k, v in sorted(truth.items(), key=lambda kv: -kv[1])[1:3]
        )
        + ")"
    )
    if chosen is None:
        print("sweep chose: nothing")
    else:
        key = (int(chosen["params"]["batch"]), int(chosen["params"]["instances"]))
        gap = truth[key] / truth[best_model] - 1 if truth[best_model] else 0.0
        print(
            f"sweep chose: {chosen['label']} (model capacity {truth[key]:.1f} req/s, "
            f"{gap:+.1%} vs the model's best): " + ("SAME" if key == best_model else "DIFFERENT")
        )
        print(f"recommendation: {chosen['recommendation']}")
    if errors:
        print(
            f"|measured / model - 1|: median {sorted(errors)[len(errors) // 2]:.1%}, "
            f"max {max(errors):.1%} over {len(errors)} configurations"
        )
    print(f"total sweep time: {seconds / 60:.1f} min (locust-ml sweep exit code {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
