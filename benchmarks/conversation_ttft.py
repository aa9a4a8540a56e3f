"""TTFT by conversation turn, with the reference server's prefix cache on and off.

Runs ``locustfiles/conversation.py`` as written (4-turn conversations that
start with one of 64 system prompts of 1,536 tokens, questions of about 300
tokens, answers of about 48, streamed; 2 users for 30 s) against the
reference server it starts, twice per backend: with its prefix cache (the
default, 4,096 blocks) and with ``--prefix-cache-blocks 0``. Prints each
turn's mean prompt length and TTFT p50/p90 from the reports' "by turn"
figures, and the server's hit rate.

Expected: with the cache, TTFT falls after turn 1 (turn 1 prefills the
system prompt and the question; later turns only what came after the last
full 512-token block of the previous turn's prompt: its tail, the answer
and the new question), although prompts grow by ~350 tokens a turn;
without it, every turn prefills the whole history and TTFT does not fall.

Backends: ``summarizer`` (real prefill compute, noisy on a shared machine)
and ``simulated`` with ``--per-prompt-token-ms 0.05`` (exact prefill cost).

Run by hand (about 3 minutes)::

    python benchmarks/conversation_ttft.py [--seconds 30] [--backend summarizer]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BACKENDS = {"summarizer": "", "simulated": "--per-prompt-token-ms 0.05"}


def run(backend: str, cache: bool, seconds: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="locust-ml-turns-"))
    server_args = BACKENDS[backend] + ("" if cache else " --prefix-cache-blocks 0")
    proc = subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            "locustfiles/conversation.py",
            "--headless",
            "--ml-server-backend",
            backend,
            "--ml-server-args",
            server_args.strip(),
            "--ml-shape",
            f"ramp:start=2,max=2,step={seconds}s",
            "--ml-nvml",
            "off",
            "--ml-report-dir",
            str(out),
            "--only-summary",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    if not (out / "report.json").exists():
        raise SystemExit(
            f"no report ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def turns(report: dict[str, Any]) -> list[tuple[int, int, float, float, float]]:
    """(turn, requests, mean prompt tokens, TTFT p50, TTFT p90) of each turn."""
    rows = []
    for e in report["totals"]["endpoints"]:
        name = e["name"]
        if " turn " not in name:
            continue
        ok = e["requests"] - e["failures"]
        ttft = e.get("ttft_ms") or {}
        rows.append(
            (
                int(name.rsplit(" ", 1)[1]),
                e["requests"],
                e["tokens_in"] / ok if ok else 0.0,
                ttft.get("p50") or 0.0,
                ttft.get("p90") or 0.0,
            )
        )
    return sorted(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    args = parser.parse_args()
    ok = True
    for backend in BACKENDS if args.backend == "both" else [args.backend]:
        for cache in (True, False):
            report = run(backend, cache, args.seconds)
            rows = turns(report)
            hit = report["steps"][0].get("prefix_cache_hit_rate")
            label = "cache on" if cache else "cache off (--prefix-cache-blocks 0)"
            print(f"{backend}, {label}: server hit rate {hit}")
            print(
                f"  {'turn':>4} {'requests':>8} {'prompt tok':>10} {'TTFT p50':>9} {'TTFT p90':>9}"
            )
            for turn, n, tokens, p50, p90 in rows:
                print(f"  {turn:>4} {n:>8} {tokens:>10.0f} {p50:>9.1f} {p90:>9.1f}")
            first = rows[0][3]
            later = [r[3] for r in rows[1:]]
            falls = all(t < first for t in later)
            expected = falls if cache else not falls
            ok &= expected and len(rows) == 4
            verdict = "falls after turn 1" if falls else "does not fall after turn 1"
            print(f"  TTFT p50 {verdict}: {'as expected' if expected else 'NOT as expected'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
