"""The console summary: the knee in words, a spike's verdict first, the top error."""

from __future__ import annotations

from dataclasses import replace

from locust_ml.analysis.stress import FailureCounts, StressVerdict
from locust_ml.report.console import format_capacity_summary
from locust_ml.report.model import ErrorCount, ReportSettings, decide
from tests.unit.report.test_decide import SLOS, ramp_steps, report, step


def test_no_knee_is_one_line_that_says_why() -> None:
    r = decide(report(ramp_steps()[:2]), SLOS, ReportSettings())
    text = format_capacity_summary(r)
    knee = [line for line in text.splitlines() if "knee" in line]
    assert len(knee) == 1, knee
    assert knee[0].startswith("  knee: no knee found (")
    assert "req/s at" not in knee[0]


def test_the_knee_when_there_is_one() -> None:
    r = decide(report(ramp_steps()), SLOS, ReportSettings())
    assert r.capacity is not None
    assert r.capacity.knee_rps is not None
    assert f"  knee: {r.capacity.knee_rps:.2f} req/s at p99 " in format_capacity_summary(r)


def test_the_most_frequent_error_is_named_under_the_verdict() -> None:
    steps = [step(1, 4, 100.0, 2.0, failures=2000), step(2, 8, 200.0, 2.0, failures=4000)]
    errors = (
        ErrorCount("POST", "/v1/chat/completions", "HTTP 404: no model `my-model`", 5990),
        ErrorCount("POST", "/v1/chat/completions", "timeout", 10),
    )
    r = replace(decide(report(steps), (), ReportSettings()), errors=errors)
    lines = format_capacity_summary(r).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("verdict: "))
    assert lines[at + 1] == (
        "  top error (5990 of 6000 failures): POST /v1/chat/completions: "
        "HTTP 404: no model `my-model`"
    )


def test_no_error_line_without_failures_and_long_messages_are_cut() -> None:
    r = decide(report(ramp_steps()), SLOS, ReportSettings())
    assert "top error" not in format_capacity_summary(r)
    steps = [step(1, 4, 100.0, 2.0, failures=10)]
    long = ErrorCount("POST", "/x", "boom\n" + "x" * 500, 10)
    text = format_capacity_summary(
        replace(decide(report(steps), (), ReportSettings()), errors=(long,))
    )
    (line,) = [ln for ln in text.splitlines() if "top error" in ln]
    assert "\n" not in line
    assert line.endswith("...")
    assert len(line) < 300


def test_a_spike_summary_leads_with_the_spike_verdict() -> None:
    steps = [step(1, 2, 50.0, 40.0), step(2, 8, 100.0, 80.0, failures=3), step(3, 2, 50.0, 41.0)]
    steps = [
        replace(s, label=label)
        for s, label in zip(steps, ("baseline", "spike", "recovery"), strict=True)
    ]
    r = decide(report(steps, shape="spike"), (), ReportSettings())
    stress = StressVerdict(
        kind="spike",
        breaking_point=None,
        last_good_load=8.0,
        last_good_step=2,
        load_unit="users",
        failure_mode="not graceful",
        failures=FailureCounts(4000, {"ok": 3997, "server_error": 3}, (2, 3)),
        recovery_s=5.0,
        recovered=True,
        passed=False,
        reasons=("failed not gracefully",),
        watched_s=20.0,
        recovery_criteria=("p99<60ms", "errors<1%"),
        baseline_p99_ms=40.0,
        after_p99_ms=41.0,
    )
    lines = format_capacity_summary(replace(r, stress=stress)).splitlines()
    assert lines[0] == "locust-ml spike: recovered 5 s after the spike ended (watched 20 s) (FAIL)"
    assert "  errors during the spike: 3 of 2,000 requests failed (0.1%)" in lines
    assert (
        "  failure mode: not graceful: errors, timeouts or dropped connections, not 429/503"
        in lines
    )
    assert "  - failed not gracefully" in lines
    capacity = next(i for i, x in enumerate(lines) if x.startswith("locust-ml capacity"))
    assert capacity > lines.index("  - failed not gracefully")
