"""Real ``locust`` processes running ``locustfiles/summarizer.py`` end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.helpers import Server, locust_aggregated_count, run_locust

pytestmark = pytest.mark.slow

RAMP = ["--ml-shape", "ramp:start=1,factor=2,max=4,step=2s,window=0.25s"]
SMALL = ["--ml-prompt-tokens", "uniform:50,150", "--ml-output-tokens", "uniform:4,12"]


def _report(path: Path) -> dict:
    return json.loads((path / "report.json").read_text())


def _check_report(report: dict, json_prefix: Path, users: list[int]) -> None:
    requests, failures = locust_aggregated_count(json_prefix)
    assert report["schema_version"]
    assert [s["users"] for s in report["steps"]] == users
    assert [s["id"] for s in report["steps"]] == list(range(1, len(users) + 1))
    for step in report["steps"]:
        assert step["requests"] > 0
        assert step["end"] > step["start"]
        assert step["offered_rps"] is None  # closed loop
        assert step["achieved_rps"] == pytest.approx(
            step["requests"] / (step["end"] - step["start"]), rel=1e-2
        )
        lat = step["latency_ms"]
        assert set(lat) == {"p50", "p90", "p95", "p99", "p99.9"}
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["p99.9"]
    # Every request sent is counted, and equals Locust's own aggregated count.
    assert report["totals"]["requests"] == requests
    assert report["totals"]["failures"] == failures
    assert sum(s["requests"] for s in report["steps"]) == requests


def test_without_host_the_reference_server_is_started_and_stopped(tmp_path: Path) -> None:
    """The locustfile as its docstring says: no --host, prompts from azure_conv (the
    default profile), streamed, outputs kept short."""
    out_dir = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-shape",
            "ramp:start=1,factor=2,max=2,step=2s,window=0.25s",
            *("--ml-stream", "on", "--ml-output-tokens", "const:8"),
            "--ml-report-dir",
            str(out_dir),
            "--json-file",
            str(tmp_path / "locust"),
        ]
    )
    assert run.returncode == 0, run.output[-4000:]
    report = _report(out_dir)
    _check_report(report, tmp_path / "locust", [1, 2])
    assert report["totals"]["failures"] == 0
    assert report["run"]["target"].startswith("http://127.0.0.1:")
    assert "backend=summarizer" in run.output
    for step in report["steps"]:
        assert step["ttft_ms"]["p50"] > 0
        assert step["itl_ms"]["p50"] >= 0
        assert step["tokens_out_per_s"] > 0
    (endpoint,) = report["totals"]["endpoints"]
    assert endpoint["tokens_out"] == 8 * endpoint["requests"]  # ignore_eos: exactly max_tokens
    assert endpoint["tokens_in"] > 0
    # The summary table and the report's path close the output.
    tail = run.stdout.strip().splitlines()
    assert "locust-ml step summary" in run.stdout
    assert tail[-1] == f"locust-ml report: {out_dir / 'report.html'}"
    for name in ("report.json", "report.html", "report.md", "steps.csv"):
        assert (out_dir / name).stat().st_size > 0, name
    # The embedded server was stopped: its PID is gone.
    pid = int(re.search(r"reference server ready at \S+ in [\d.]+ s \(pid (\d+)\)", run.output)[1])
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_with_host_nothing_is_started_and_counts_match_the_server(
    tmp_path: Path, simulated_server: Server
) -> None:
    out_dir = tmp_path / "report"
    served_before = simulated_server.served()
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            *RAMP,
            *SMALL,
            "--host",
            simulated_server.url,
            "--ml-report-dir",
            str(out_dir),
            "--json-file",
            str(tmp_path / "locust"),
        ]
    )
    assert run.returncode == 0, run.output[-4000:]
    assert "starting the reference server" not in run.output
    report = _report(out_dir)
    _check_report(report, tmp_path / "locust", [1, 2, 4])
    assert report["run"]["target"] == simulated_server.url
    # Ground truth from the other side: the server served every request answered
    # and at most those sent. Locust kills its users when the run ends, so a
    # request then in flight (one per user of the last step at most) is sent and
    # may be served, but never answered.
    served = simulated_server.served() - served_before
    answered = report["totals"]["requests"]
    sent = sum(s["sent"] for s in report["steps"])
    assert answered <= served <= sent, (answered, served, sent)
    assert sent - answered <= report["steps"][-1]["users"], (answered, sent)


def test_bad_option_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-prompt-tokens",
            "zipf:2",
            "--ml-report-dir",
            str(tmp_path / "r"),
        ],
        timeout=60,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.output
    errors = [ln for ln in run.stderr.splitlines() if "locust-ml:" in ln]
    assert len(errors) == 1
    assert "--ml-prompt-tokens" in errors[0]
    assert not (tmp_path / "r").exists()


def test_embedded_server_not_ready_in_time_is_exit_3(tmp_path: Path) -> None:
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-timeout",
            "1",
            "--ml-server-args",
            "--load-seconds 30",
            "--ml-report-dir",
            str(tmp_path / "r"),
        ],
        timeout=60,
    )
    assert run.returncode == 3
    assert "Traceback" not in run.output
    assert "not ready after 1 s" in run.stderr


def test_run_time_ends_a_shape_run_with_a_complete_report(tmp_path: Path) -> None:
    """``-t 6s`` caps the locustfile's ramp (20 s steps): the step then running is partial."""
    import time

    out = tmp_path / "report"
    began = time.monotonic()
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "-t",
            "6s",
            "-u",
            "3",
            *("--ml-image-format", "png"),  # a TextUser's run has no image to format
            "--ml-report-dir",
            str(out),
        ],
        timeout=60,
    )
    wall = time.monotonic() - began
    assert wall < 16.0, run.output[-3000:]
    report = _report(out)
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.html", "report.md"}
    assert report["steps"][-1]["partial"] is True
    assert report["verdict"]["partial"] is True
    assert run.returncode == report["verdict"]["exit_code"], run.output[-3000:]
    assert "(--run-time ends it at 6 s)" in run.stderr
    assert "-u/--users ignored: the ramp shape sets the load itself" in run.stderr
    assert (
        "--ml-image-format ignored: only ImageUser reads it; this run has Summarizer" in run.stderr
    )
    assert "partial" in run.stdout
