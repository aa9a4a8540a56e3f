"""locustfiles/conversation.py against the reference server it starts: a real multi-turn run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow


def test_turns_resend_the_history_with_the_server_s_answers(tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            "locustfiles/conversation.py",
            "--headless",
            "--ml-shape",
            "ramp:start=2,max=2,step=8s",
            "--ml-conversation",
            "turns=3,think=0,system=2,system_tokens=600",
            "--ml-prompt-tokens",
            "const:50",
            "--ml-output-tokens",
            "const:10",
            "--ml-report-dir",
            str(out_dir),
        ]
    )
    assert run.returncode == 0, run.output[-4000:]
    report = json.loads((out_dir / "report.json").read_text())
    turns = {
        e["name"]: e for e in report["totals"]["endpoints"] if e["name"].startswith("/v1/chat")
    }
    assert set(turns) == {f"/v1/chat/completions turn {k}" for k in (1, 2, 3)}
    for k in (1, 2, 3):
        e = turns[f"/v1/chat/completions turn {k}"]
        assert e["requests"] > 0
        assert e["failures"] == 0
        # The server's own count of each turn's prompt: the system prompt, every
        # earlier question (50) and answer (10, as the server wrote it), the new one.
        assert e["tokens_in"] == e["requests"] * (600 + 50 * k + 10 * (k - 1))
        assert e["ttft_ms"]["p50"] is not None  # streamed: TTFT by turn
    step = report["steps"][0]
    assert step["prefix_cache_hit_rate"] > 0.5  # shared system prompts and histories hit
    assert "by turn" in run.output
    assert " ignored: only " not in run.output  # the locustfile's classes read its options
    assert "By turn" in (out_dir / "report.html").read_text()
