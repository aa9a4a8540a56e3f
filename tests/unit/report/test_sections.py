"""The report's words (``report/sections.py``): what each shape's sections say, and leave out."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from locust_ml.analysis.stress import BreakingPoint, FailureCounts, StressVerdict
from locust_ml.report.model import ReportSettings, RunReport
from locust_ml.report.sections import (
    breaking_point_rows,
    knee_of,
    run_rows,
    saturation_of,
    settings_rows,
    soak_trends,
    spike_summary,
)
from tests.report_fixtures import capacity, fixture


def _spike(**stress: Any) -> RunReport:
    base = fixture("hostile")
    steps = tuple(
        replace(base.steps[0], id=i, label=label, users=users, requests=requests, failures=failed)
        for i, label, users, requests, failed in (
            (1, "baseline", 10, 600, 0),
            (2, "spike", 50, 2000, 300),
            (3, "recovery", 10, 600, 0),
        )
    )
    fields: dict[str, Any] = {
        "kind": "spike",
        "breaking_point": None,
        "last_good_load": None,
        "last_good_step": None,
        "load_unit": "users",
        "failure_mode": "none",
        "failures": FailureCounts(requests=0, by_class={}),
        "recovery_s": None,
        "recovered": False,
        "passed": True,
        "reasons": (),
        **stress,
    }
    return replace(base, steps=steps, stress=StressVerdict(**fields), soak=None)


def test_knee_and_saturation_say_where_or_why_not() -> None:
    c = replace(capacity(50.0), knee_rps=54.76, knee_latency_ms=179.8, knee_step=4)
    assert knee_of(c) == "54.76 req/s at p99 179.8 ms (step 4)"
    none = replace(c, knee_rps=None, knee_note="2 steps with latency data")
    assert knee_of(none) == "no knee found (2 steps with latency data)"
    assert knee_of(replace(none, knee_note=None)) == "no knee found"
    assert saturation_of(replace(c, saturation_rps=62.36, saturation_step=5)) == (
        "62.36 req/s (step 5)"
    )
    kept_up = replace(c, notes=("saturation: kept up with the load at every step",))
    assert saturation_of(kept_up) == "not reached (kept up with the load at every step)"


def test_a_spike_that_did_not_recover_says_so_first() -> None:
    s = spike_summary(_spike(recovered=False, watched_s=50.0, passed=False))
    assert s is not None
    assert s.headline == "did not recover within the 50 s watched after the spike"
    assert s.passed is False
    rows = dict(s.rows)
    assert rows["loads"] == (
        "baseline 10 users (step 1), spike 50 users (step 2), recovery 10 users (step 3)"
    )
    assert rows["errors during the spike"] == "300 of 2,000 requests failed (15.0%)"
    assert rows["failure mode"].startswith("none: nothing failed")


def test_failures_from_the_spike_on_are_counted_by_class() -> None:
    s = spike_summary(
        _spike(
            recovered=True,
            recovery_s=20.0,
            watched_s=50.0,
            failure_mode="graceful",
            failures=FailureCounts(
                requests=2600, by_class={"ok": 2300, "shed": 280, "timeout": 20, "invalid": 0}
            ),
        )
    )
    assert s is not None
    assert s.headline == "recovered 20 s after the spike ended (watched 50 s)"
    rows = dict(s.rows)
    assert rows["failures from the spike on"] == "300 of 2,600: shed 280, timeout 20"
    assert rows["failure mode"].startswith("graceful: the server refused work")


def test_sections_of_other_shapes_are_absent() -> None:
    ramp = replace(fixture("ramp_open_loop"), soak=None)
    assert ramp.stress is not None
    assert spike_summary(ramp) is None
    assert soak_trends(ramp) is None
    point = BreakingPoint(step=2, label="spike", load=50.0, unit="users", reasons=())
    spike = _spike(breaking_point=point)
    assert breaking_point_rows(spike) == []  # the spike says it
    summary = spike_summary(spike)
    assert summary is not None
    assert dict(summary.rows)["broke at"] == "step 2 (50 users)"
    assert breaking_point_rows(replace(ramp, stress=None)) == []


def test_settings_left_out_when_never_given() -> None:
    report = replace(fixture("empty"), settings=ReportSettings(price_per_hour=2.5, instance="g5"))
    rows = dict(settings_rows(report))
    assert rows["price per replica-hour (--ml-price-per-hour)"] == "$2.5"
    assert rows["instance type (--ml-instance)"] == "g5"
    assert rows["planned utilization (--ml-target-utilization)"] == "80%"
    assert "required capacity (--ml-min-capacity)" not in rows
    assert "interrupted" not in rows


def test_run_rows_say_how_the_load_was_made() -> None:
    report = fixture("empty")
    rows = dict(run_rows(report))
    assert rows["load generation"] == "one process"
    assert rows["duration"] == "1.0 s"
    assert rows["made by"] == "locust-ml 0.1.0, report schema 2.0"
    distributed = replace(report, run=replace(report.run, mode="distributed", workers=4))
    assert dict(run_rows(distributed))["load generation"] == "distributed, 4 workers"
