"""The capacity search from its defaults, against targets whose capacity is known.

Every run is what a new user types: the locustfile, ``--ml-shape
capacity-search``, an SLO, the target - nothing about the search itself (no
start, factor, warm-up, window, step time or precision). The targets vary
instead:

* the reference server's simulated backend in six configurations spanning
  1-4 instances, batch 1-32 and a saturation of 20-400 requests/s, whose
  capacity under a loose SLO (p99 < 2 s, errors under the 1 % ceiling) is the
  analytic saturation ``X_sat = instances * B / ((base_ms + per_item_ms * B)
  / 1000)``; searched open loop (Poisson, the default) and closed loop
  (``--ml-arrival closed``);
* a third-party batching server, LitServe, installed from PyPI into its own
  virtualenv (benchmarks/third_party.py), whose saturation an independent
  HTTP client (asyncio, not Locust) measures in the same run, just before
  each search (open and closed loop).

For each: the SLO capacity against the truth (+-5 %; the third-party server
+-7 %), whether the report's 95 % interval contains the truth, the verdict
(VALID expected) and the test time (<= 180 s expected). Every case is
printed, failures included.

Run on a quiet machine (no test suite or other load): ``.venv/bin/python
benchmarks/capacity_search.py`` (about 25 minutes; ``--only NAME`` runs one
configuration, ``--skip-third-party`` leaves the PyPI server out).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SLO = "p99<2s"
TOLERANCE = 0.05
THIRD_PARTY_TOLERANCE = 0.07
MAX_TEST_S = 180.0


@dataclass(frozen=True)
class Simulated:
    name: str
    base_ms: float
    per_item_ms: float
    batch: int
    instances: int
    mode: str  # "open" (the default) or "closed"
    queue_limit: int = 64  # the server's default

    @property
    def x_sat(self) -> float:
        return self.instances * self.batch / ((self.base_ms + self.per_item_ms * self.batch) / 1e3)

    def server_args(self) -> str:
        return (
            f"--base-ms {self.base_ms:g} --per-item-ms {self.per_item_ms:g} "
            f"--max-batch-size {self.batch} --instances {self.instances} "
            f"--queue-limit {self.queue_limit}"
        )


CONFIGS = [
    Simulated("B1 x1, 20/s", 45.0, 5.0, 1, 1, "open"),
    Simulated("B8 x1, 114/s", 30.0, 5.0, 8, 1, "open"),
    Simulated("B16 x1, 80/s", 40.0, 10.0, 16, 1, "closed", queue_limit=512),
    Simulated("B4 x3, 200/s", 20.0, 10.0, 4, 3, "open", queue_limit=256),
    Simulated("B32 x2, 246/s", 100.0, 5.0, 32, 2, "open", queue_limit=512),
    Simulated("B8 x4, 400/s", 40.0, 5.0, 8, 4, "open", queue_limit=512),
    Simulated("B8 x3, 300/s", 40.0, 5.0, 8, 3, "closed", queue_limit=512),
]


@dataclass
class Row:
    name: str
    mode: str
    truth: float
    found: float | None
    ci: tuple[float, float | None] | None
    verdict: str
    test_s: float
    steps: int
    reason: str
    tolerance: float

    @property
    def error(self) -> float | None:
        return None if self.found is None else self.found / self.truth - 1.0

    @property
    def covered(self) -> bool:
        if self.ci is None:
            return False
        low, high = self.ci
        return low <= self.truth <= (high if high is not None else float("inf"))

    @property
    def ok(self) -> bool:
        e = self.error
        return (
            e is not None
            and abs(e) <= self.tolerance
            and self.covered
            and self.verdict == "VALID"
            and self.test_s <= MAX_TEST_S
        )


def run_search(
    args: list[str], mode: str
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """One ``locust`` capacity search as a new user runs it; its report.json."""
    out = Path(tempfile.mkdtemp(prefix="locust-ml-search-"))
    arrival = ["--ml-arrival", "closed"] if mode == "closed" else []
    run = subprocess.run(
        [
            str(BIN / "locust"),
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--only-summary",
            "--ml-shape",
            "capacity-search",
            "--ml-slo",
            SLO,
            *arrival,
            # The workload, not the search: short prompts keep the load
            # generator's CPU low (the simulated backend ignores token counts).
            "--ml-profile",
            "none",
            "--ml-prompt-tokens",
            "const:20",
            "--ml-output-tokens",
            "const:2",
            *args,
            "--ml-report-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    path = out / "report.json"
    if not path.exists():
        raise RuntimeError(f"no report:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return json.loads(path.read_text()), run


def row(name: str, mode: str, truth: float, report: dict[str, Any], tolerance: float) -> Row:
    cap = report["capacity"]
    verdict = report["verdict"]
    ci = cap.get("slo_rps_ci")
    search = report.get("search") or {}
    return Row(
        name=name,
        mode=mode,
        truth=truth,
        found=cap.get("slo_rps"),
        ci=None if ci is None else (ci[0], ci[1]),
        verdict="VALID" if verdict["valid"] else "INVALID",
        test_s=float(report["run"]["duration_s"]),
        steps=len(search.get("history") or ()),
        reason=str(search.get("reason")),
        tolerance=tolerance,
    )


def print_row(r: Row) -> None:
    found = "-" if r.found is None else f"{r.found:.1f}"
    err = "-" if r.error is None else f"{r.error:+.1%}"
    ci = "-" if r.ci is None else f"{r.ci[0]:.1f}-{'open' if r.ci[1] is None else f'{r.ci[1]:.1f}'}"
    print(
        f"{r.name:<22} {r.mode:<6} {r.truth:>7.1f} {found:>7} {err:>7} {ci:>13} "
        f"{'yes' if r.covered else 'NO':>4} {r.verdict:>7} {r.test_s:>6.0f}s {r.steps:>5} "
        f"{r.reason:<11} {'PASS' if r.ok else 'FAIL'}",
        flush=True,
    )


def third_party_rows() -> list[Row]:
    """LitServe from PyPI, its saturation measured first by an independent client."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import third_party

    third_party.ensure_venv()
    config = third_party.ServerConfig(max_batch_size=8, base_ms=40.0, per_item_ms=5.0)
    rows = []
    for mode in ("open", "closed"):
        with third_party.serve(config) as url:
            measured = third_party.sweep(url, (16, 32), 15.0)
            truth = max(m.rps for m in measured)
            print(
                f"  independent client: {truth:.1f} req/s at saturation "
                f"({', '.join(f'{m.concurrency} in flight: {m.rps:.1f}' for m in measured)}; "
                f"formula {config.expected_rps:.1f})",
                flush=True,
            )
            report, _ = run_search(["--host", url], mode)
        rows.append(row("LitServe B8 (PyPI)", mode, truth, report, THIRD_PARTY_TOLERANCE))
        print_row(rows[-1])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the configuration whose name contains this")
    parser.add_argument("--skip-third-party", action="store_true")
    opts = parser.parse_args()
    print(
        f"{'target':<22} {'loop':<6} {'truth':>7} {'found':>7} {'error':>7} {'95% interval':>13} "
        f"{'in?':>4} {'verdict':>7} {'time':>7} {'steps':>5} {'stopped':<11} result",
        flush=True,
    )
    rows: list[Row] = []
    began = time.monotonic()
    for c in CONFIGS:
        if opts.only and opts.only not in c.name:
            continue
        args = [
            "--ml-server-backend",
            "simulated",
            "--ml-server-args",
            c.server_args(),
            "--ml-nvml",
            "off",
        ]
        report, _ = run_search(args, c.mode)
        rows.append(row(c.name, c.mode, c.x_sat, report, TOLERANCE))
        print_row(rows[-1])
    if not opts.skip_third_party and not opts.only:
        rows += third_party_rows()
    passed = sum(r.ok for r in rows)
    print(
        f"{passed} of {len(rows)} within tolerance, interval holding the truth, VALID, "
        f"<= {MAX_TEST_S:.0f} s ({time.monotonic() - began:.0f} s wall in all): "
        + ("PASS" if passed == len(rows) else "FAIL")
    )
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
