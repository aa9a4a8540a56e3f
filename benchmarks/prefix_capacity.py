"""SLO capacity with shared prefixes vs the same lengths without, against the formula.

The simulated backend charges ``per_prompt_token_ms`` for each prompt token
its prefix cache does not hold, so its saturation throughput depends on the
mean uncached prompt length ``U`` of the workload:

    X_sat = B / ((base_ms + B * (per_item_ms + per_prompt_token_ms * U)) / 1000)

Two workloads of the same lengths (2,304 prompt tokens, 8 output tokens),
each run with ``locustfiles/conversation.py`` (``ConversationUser``, one turn
per conversation: independent requests) against a simulated server
(base 40 ms, 10 ms per request, 0.01 ms per uncached prompt token, batch 8):

* **shared**: every prompt starts with one of 4 system prompts of 2,048
  tokens picked by Zipf popularity (s = 1), then a 256-token message: after
  the first use of each, 4 blocks (2,048 tokens) hit and ``U`` is 256;
* **unshared**: a 2,304-token prompt of random text (the default 11-token
  system prompt, then 2,293 tokens): nothing to share, ``U`` is 2,304.

Each is searched as a new user would: ``--ml-shape capacity-search`` and a
loose SLO (p99 < 2 s, errors under the default 1 % ceiling), nothing about
the search set by hand (as ``benchmarks/capacity_search.py``), so the SLO
capacity is the saturation. The report's SLO capacity is printed next to
X_sat for the nominal ``U`` and for the ``U`` the server counted (its
prefix-cache counters: the first use of each system prompt is a miss).
Target: within 10 % of X_sat.

Run by hand on a quiet machine (about 4 minutes)::

    python benchmarks/prefix_capacity.py
"""

from __future__ import annotations

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

from locust_ml.server.config import ServerConfig, saturation_rps  # noqa: E402 - path fix-up
from locust_ml.server.embedded import EmbeddedServer  # noqa: E402

BIN = Path(sys.executable).parent
TOLERANCE = 0.10
SERVER = ServerConfig(
    backend="simulated", base_ms=40.0, per_item_ms=10.0, per_prompt_token_ms=0.01, max_batch_size=8
)
PROMPT = 2304
WORKLOADS = {
    # name: (conversation keys, new message tokens, nominal uncached tokens)
    "shared": ("turns=1,think=0,system=4,system_tokens=2048,zipf=1", 256, 256),
    "unshared": ("turns=1,think=0,system=0", PROMPT - 11, PROMPT),
}


def _counters(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()  # noqa: S310
    pattern = r"^locust_ml_server_(prefix_cache_queries|prefix_cache_hits)_total (\S+)$"
    found = {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.M)}
    found["requests"] = sum(
        float(m.group(2))
        for m in re.finditer(r"^locust_ml_server_requests_total\{(.*)\} (\S+)$", text, re.M)
        if 'code="200"' in m.group(1) and "/v1/chat/completions" in m.group(1)
    )
    return found


def run(name: str) -> dict[str, float | str]:
    keys, message, nominal = WORKLOADS[name]
    out = Path(tempfile.mkdtemp(prefix=f"locust-ml-prefix-{name}-"))
    args = (
        f"--base-ms {SERVER.base_ms} --per-item-ms {SERVER.per_item_ms} "
        f"--per-prompt-token-ms {SERVER.per_prompt_token_ms} "
        f"--max-batch-size {SERVER.max_batch_size} --queue-limit 5000"
    )
    with EmbeddedServer("simulated", args) as server:
        url = server.start(timeout=60)
        began = time.monotonic()
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                "locustfiles/conversation.py",
                "--headless",
                "--host",
                url,
                "--ml-conversation",
                keys,
                "--ml-prompt-tokens",
                f"const:{message}",
                "--ml-output-tokens",
                "const:8",
                "--ml-shape",
                "capacity-search",
                "--ml-slo",
                "p99<2s",
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
        seen = _counters(url)
    report = json.loads((out / "report.json").read_text())
    measured_u = (seen["prefix_cache_queries"] - seen["prefix_cache_hits"]) / max(
        seen["requests"], 1.0
    )
    cap = report["capacity"]
    return {
        "slo_rps": cap["slo_rps"] or 0.0,
        "knee": cap["knee_rps"] or 0.0,
        "saturation": cap["saturation_rps"] or 0.0,
        "nominal_u": float(nominal),
        "measured_u": measured_u,
        "x_nominal": saturation_rps(SERVER, uncached_tokens=nominal),
        "x_measured": saturation_rps(SERVER, uncached_tokens=measured_u),
        "hit_rate": seen["prefix_cache_hits"] / max(seen["prefix_cache_queries"], 1.0),
        "valid": str(report["verdict"]["valid"]),
        "seconds": elapsed,
    }


def main() -> int:
    ok = True
    results = {}
    print(
        f"{'workload':<9} {'U nominal':>9} {'U server':>9} {'hit rate':>8} {'X_sat':>7} "
        f"{'SLO cap':>8} {'error':>7} {'saturated':>9} {'valid':>6} {'time':>5}"
    )
    for name in WORKLOADS:
        r = results[name] = run(name)
        slo, want = float(r["slo_rps"]), float(r["x_measured"])
        error = slo / want - 1.0
        good = abs(error) <= TOLERANCE
        ok &= good
        print(
            f"{name:<9} {r['nominal_u']:>9.0f} {r['measured_u']:>9.1f} {r['hit_rate']:>8.3f} "
            f"{want:>7.2f} {slo:>8.2f} {error:>+7.1%} {float(r['saturation']):>9.2f} "
            f"{r['valid']:>6} {r['seconds']:>4.0f}s "
            f"{'PASS' if good else 'FAIL'}"
        )
    shared, unshared = results["shared"], results["unshared"]
    print(
        f"capacity ratio shared/unshared: measured "
        f"{float(shared['slo_rps']) / max(float(unshared['slo_rps']), 1e-9):.2f}, formula "
        f"{float(shared['x_measured']) / float(unshared['x_measured']):.2f} "
        f"(nominal U: {float(shared['x_nominal']) / float(unshared['x_nominal']):.2f})"
    )
    print(f"SLO capacity within +-{TOLERANCE:.0%} of X_sat: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
