"""locustfiles/trace_replay.py against the reference server it starts: a real replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from locust_ml.traces.mooncake import prefix_reuse, read_mooncake
from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow

TRACE = Path(__file__).resolve().parents[2] / "data" / "traces" / "mooncake_synthetic_trace.jsonl"


def test_the_first_requests_replay_with_the_trace_s_lengths_and_prefixes(tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            "locustfiles/trace_replay.py",
            "--headless",
            "--ml-trace",
            f"{TRACE},limit=60,time_scale=0.1",
            "--ml-report-dir",
            str(out_dir),
        ]
    )
    report = json.loads((out_dir / "report.json").read_text())
    # On a busy machine the sends' lateness can make the verdict INVALID (exit 2):
    # the run itself must have replayed the trace.
    assert run.returncode == report["verdict"]["exit_code"], run.output[-4000:]
    assert "backend=simulated" in run.output
    assert " ignored: only " not in run.output  # the locustfile's classes read its options
    rows = read_mooncake(TRACE, limit=60).requests
    totals = report["totals"]
    assert totals["requests"] == 60
    assert totals["failures"] == 0
    (endpoint,) = totals["endpoints"]
    # The server counted exactly the trace's input lengths, and generated its outputs.
    assert endpoint["tokens_in"] == sum(r.input_length for r in rows)
    assert endpoint["tokens_out"] == sum(r.output_length for r in rows)
    step, cooldown = report["steps"]
    assert (step["label"], cooldown["label"]) == ("replay", "cooldown")
    assert cooldown["offered_rps"] == 0
    # One trace second in ten: the replay's rate is the trace's, times ten.
    span = (rows[-1].timestamp_ms - rows[0].timestamp_ms) / 1000 * 0.1
    assert step["offered_rps"] == pytest.approx(59 / span, rel=1e-3)
    expected = prefix_reuse(rows).rate  # 4.1 %: request 41 is the first to share blocks
    assert expected > 0.03
    assert step["prefix_cache_hit_rate"] == pytest.approx(expected, abs=0.01)
