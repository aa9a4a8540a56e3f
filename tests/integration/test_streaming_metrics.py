"""Streaming metrics of TextUser against a server whose per-token timing is known.

``locust-ml serve --backend simulated --base-ms 200 --per-item-ms 0
--max-batch-size 1`` runs each request alone for exactly 200 ms and streams
its tokens evenly over that time: token k of m at ``start + 200 ms x k / m``.
With 10 tokens, the first arrives ~20 ms after the request starts (plus HTTP
overhead) and every later one 20 ms after the previous. The summarizer
locustfile, streaming through a real ``locust`` process, must report that.
The bounds are generous: they must hold on a loaded two-core machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from locust_ml.server.embedded import EmbeddedServer
from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow


@pytest.fixture
def paced_server() -> Iterator[str]:
    with EmbeddedServer("simulated", "--base-ms 200 --per-item-ms 0 --max-batch-size 1") as srv:
        yield srv.start(timeout=30)


def test_ttft_and_itl_match_the_servers_token_pacing(tmp_path: Path, paced_server: str) -> None:
    out_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--host",
            paced_server,
            "--ml-stream",
            "on",
            "--ml-output-tokens",
            "const:10",
            "--ml-shape",
            "ramp:start=1,max=1,step=4s",
            "--ml-report-dir",
            str(out_dir),
        ]
    )
    assert run.returncode == 0, run.output[-4000:]
    (step,) = json.loads((out_dir / "report.json").read_text())["steps"]
    assert step["failures"] == 0
    assert step["requests"] >= 8  # ~5 a second for 4 s
    ttft, itl, latency = step["ttft_ms"], step["itl_ms"], step["latency_ms"]
    # First token: 200 ms / 10 after the batch starts, plus HTTP overhead.
    assert 15 <= ttft["p50"] <= 60, ttft
    # Later tokens: 20 ms apart.
    assert 15 <= itl["p50"] <= 30, itl
    assert itl["p90"] <= 45, itl
    # The whole stream: 200 ms plus overhead (Locust's response time is the stream's).
    assert 195 <= latency["p50"] <= 300, latency
    (endpoint,) = step["endpoints"]
    assert endpoint["tokens_out"] == 10 * endpoint["requests"]
