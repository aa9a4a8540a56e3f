"""Does the reference server's prefix cache hit what a Mooncake trace's block ids say?

Starts the reference server (simulated backend, prefix cache of 2**31 blocks:
unbounded for this trace) and replays the first N requests (default 500) of
``data/traces/mooncake_synthetic_trace.jsonl`` with ``locustfiles/trace_replay.py``
at its timestamps, stretched by ``--time-scale`` (default 0.2: five times its
speed). Each prompt is its 512-token blocks' texts cut to its input length.
Then prints, side by side:

* the server's token hit rate: ``locust_ml_server_prefix_cache_hits_total /
  ..._queries_total`` read from its ``/metrics`` after the replay;
* the rate the trace's ``hash_ids`` alone give: a request's hits are its
  leading blocks up to the first id no earlier request had, capped at its
  ``input_length`` (:func:`locust_ml.traces.mooncake.prefix_reuse`);
* the report's per-step hit rate (the same counters, scraped during the run
  with ``--ml-scrape``).

Target: the server's rate within 0.02 of the trace's. The server caches
whole blocks only, so a partial last block that an earlier request had is a
hit by the ids' rule and a miss on the server; requests sent at nearly the
same time may reach the server out of order. Both are small here.

Run by hand (about a minute: 28 s of replay at the default scale)::

    python benchmarks/trace_prefix_hits.py [--requests 500] [--time-scale 0.2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from locust_ml.server.embedded import EmbeddedServer  # noqa: E402 - after the path fix-up
from locust_ml.traces.mooncake import prefix_reuse, read_mooncake  # noqa: E402

TRACE = REPO / "data" / "traces" / "mooncake_synthetic_trace.jsonl"
TOLERANCE = 0.02
BIN = Path(sys.executable).parent


def counters(url: str) -> tuple[float, float]:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(
            r"^locust_ml_server_prefix_cache_(queries|hits)_total (\S+)$", text, re.M
        )
    }
    return found["queries"], found["hits"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--time-scale", type=float, default=0.2)
    args = parser.parse_args()
    rows = read_mooncake(TRACE, limit=args.requests).requests
    expected = prefix_reuse(rows)
    out = Path(tempfile.mkdtemp(prefix="locust-ml-trace-hits-"))
    server = EmbeddedServer(
        "simulated",
        "--prefix-cache-blocks 2147483648 --max-prompt-tokens 262144 --queue-limit 4096",
    )
    with server:
        url = server.start(timeout=60)
        began = time.monotonic()
        run = subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                "locustfiles/trace_replay.py",
                "--headless",
                "--host",
                url,
                "--ml-trace",
                f"{TRACE},limit={args.requests},time_scale={args.time_scale}",
                "--ml-scrape",
                f"{url}/metrics",
                "--ml-nvml",
                "off",
                "--ml-report-dir",
                str(out),
                "--only-summary",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        elapsed = time.monotonic() - began
        queries, hits = counters(url)
    report = json.loads((out / "report.json").read_text())
    step = report["steps"][0]
    server_rate = hits / queries
    ok = abs(server_rate - expected.rate) <= TOLERANCE and queries == expected.prompt_tokens
    print(f"trace: {TRACE.name}, first {len(rows)} requests, time_scale {args.time_scale:g}")
    print(
        f"locust exit code {run.returncode} ({report['verdict']['exit_code']} in the report), "
        f"{elapsed:.0f} s"
    )
    print(
        f"requests answered: {report['totals']['requests']}, failed: {report['totals']['failures']}"
    )
    print(f"prompt tokens: server counted {queries:,.0f}, trace says {expected.prompt_tokens:,}")
    print(f"hit tokens:    server counted {hits:,.0f}, trace ids give {expected.hit_tokens:,}")
    print(
        f"token hit rate: server {server_rate:.4f}  trace ids {expected.rate:.4f}  "
        f"difference {server_rate - expected.rate:+.4f} (target within +-{TOLERANCE})"
    )
    print(f"report's step hit rate (scraped during the run): {step['prefix_cache_hit_rate']}")
    lateness = step.get("lateness_ms") or {}
    print(f"send lateness p50/p99: {lateness.get('p50')} / {lateness.get('p99')} ms")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
