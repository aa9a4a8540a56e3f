from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from locust_ml.analysis.stress import FailureCounts, StressVerdict
from locust_ml.report.markdown import MAX_STEPS, escape_md, render_markdown, write_markdown
from tests.report_fixtures import fixture


def table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("|")]


def cells(row: str) -> list[str]:
    """A GFM table row's cells: split on pipes that are not backslash-escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a|b", "a\\|b"),
        ("`rm -rf`", "\\`rm -rf\\`"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a & b", "a &amp; b"),
        ("[click](http://x)", "\\[click\\](http://x)"),
        ("two\nlines\r\n", "two lines"),
        ("**bold** _it_", "\\*\\*bold\\*\\* \\_it\\_"),
        ("ping @team", "ping @\u200dteam"),
        (None, ""),
        (12.5, "12.5"),
        ("failed with Bearer abcdef12345", "failed with Bearer \\[redacted\\]"),
    ],
)
def test_escape_md(text: Any, expected: str) -> None:
    assert escape_md(text) == expected


def test_escape_md_shortens_long_text() -> None:
    assert escape_md("x" * 1000, limit=10) == "xxxxxxx..."


def test_full_summary() -> None:
    md = render_markdown(fixture("ramp_open_loop"))
    lines = md.splitlines()
    assert lines[0] == "### locust-ml: PASS - locustfiles/summarizer.py"
    assert "**Verdict: PASS** (exit code 0)" in md
    assert (
        "- **SLO capacity: 50.00 req/s per replica** (95% interval 45.41 - 65.05), "
        "limited by p99&lt;250ms: measured 387.6ms (fail)"
    ) in md
    assert "- knee: 66.42 req/s at p99 454.9 ms (step 4)" in md
    assert "- saturation: 66.43 req/s (step 5)" in md
    assert "- plan: **16 replicas** for 500.00 req/s at 70% target utilization" in md
    assert "- cost: **$13.89 per 1M requests**, $0.0663 per 1M output tokens at $2.50/h" in md
    assert "**Reasons**" not in md  # a passing run
    assert "partial run" not in md
    rows = table_rows(md)
    assert len(rows) == 2 + 6
    header = cells(rows[0])
    assert header == [
        "step",
        "users",
        "offered/s",
        "achieved/s",
        "requests",
        "fail%",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "ok/s",
        "judged",
        "GPU%",
    ]
    assert cells(rows[7])[:6] == ["6", "-", "90.00", "92.51", "830", "28.2%"]
    assert cells(rows[7])[-2:] == ["FAIL", "98"]


def test_strings_from_the_target_cannot_break_out() -> None:
    md = render_markdown(fixture("hostile"))
    assert "<script" not in md
    assert "<b>" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    rows = table_rows(md)
    width = len(cells(rows[0]))
    assert all(len(cells(r)) == width for r in rows)  # "peak | $5" stayed in its cell
    assert "peak \\| $5 \\`x\\`" in md
    assert all("\n" not in c for r in rows for c in cells(r))


def test_no_emoji_and_plain_verdict_words() -> None:
    for name, word in (("ramp_open_loop", "PASS"), ("hostile", "FAIL"), ("empty", "INVALID")):
        md = render_markdown(fixture(name))
        assert f"**Verdict: {word}**" in md
        assert all(ord(c) < 0x2000 or c == "\u200d" for c in md)


def test_empty_and_partial_report() -> None:
    md = render_markdown(fixture("empty"))
    assert "**Verdict: INVALID** (exit code 2) - **partial run**" in md
    assert "No steps: the test made no measurements." in md
    assert "- no requests were made" in md
    assert not table_rows(md)


def test_long_runs_are_cut_to_fit_a_comment() -> None:
    report = fixture("hostile")
    steps = tuple(replace(report.steps[0], id=i) for i in range(1, MAX_STEPS + 11))
    md = render_markdown(replace(report, steps=steps))
    assert len(table_rows(md)) == 2 + MAX_STEPS
    assert "10 more steps in report.html" in md


def test_write_markdown(tmp_path: Path) -> None:
    report = fixture("empty")
    path = write_markdown(report, tmp_path / "report.md")
    assert path.read_text() == render_markdown(report)


def test_no_knee_says_so_and_why() -> None:
    report = fixture("ramp_open_loop")
    assert report.capacity is not None
    why = "3 steps with latency data; a knee needs at least 4"
    capacity = replace(report.capacity, knee_rps=None, knee_note=why)
    md = render_markdown(replace(report, capacity=capacity))
    assert "- knee: no knee found (3 steps with latency data; a knee needs at least 4)" in md
    assert "- req/s" not in md


def test_a_spike_reports_its_verdict_before_the_capacity() -> None:
    report = fixture("ramp_open_loop")
    labels = ("baseline", "spike", "recovery")
    steps = tuple(replace(s, label=label) for s, label in zip(report.steps, labels, strict=False))
    stress = StressVerdict(
        kind="spike",
        breaking_point=None,
        last_good_load=None,
        last_good_step=None,
        load_unit="requests/s",
        failure_mode="none",
        failures=FailureCounts(requests=0, by_class={}),
        recovery_s=5.0,
        recovered=True,
        passed=True,
        reasons=(),
        watched_s=15.0,
    )
    md = render_markdown(replace(report, steps=(*steps, *report.steps[3:]), stress=stress))
    assert "**Spike: recovered 5 s after the spike ended (watched 15 s)**" in md
    assert md.index("**Spike:") < md.index("SLO capacity")
    assert "- errors during the spike: " in md


def test_secrets_are_redacted_where_they_are_written() -> None:
    report = fixture("hostile")
    reasons = ("step 2: the target said Authorization: Bearer sk-live-0123456789abcdefghij",)
    md = render_markdown(replace(report, verdict=replace(report.verdict, reasons=reasons)))
    assert "sk-live" not in md
    assert "- step 2: the target said Authorization: \\[redacted\\]" in md
