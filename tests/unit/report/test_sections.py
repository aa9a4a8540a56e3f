"""The report's words (``report/sections.py``): what each shape's sections say, and leave out."""

from __future__ import annotations

import doctest
from typing import Any

from locust_ml.report import sections
from locust_ml.report.sections import (
    breaking_point_rows,
    run_rows,
    settings_rows,
    soak_trends,
    spike_summary,
)


def test_doctests() -> None:
    assert doctest.testmod(sections).failed == 0


def _spike(**stress: Any) -> dict[str, Any]:
    steps = [
        {"id": 1, "label": "baseline", "users": 10, "requests": 600, "failures": 0},
        {"id": 2, "label": "spike", "users": 50, "requests": 2000, "failures": 300},
        {"id": 3, "label": "recovery", "users": 10, "requests": 600, "failures": 0},
    ]
    return {"steps": steps, "stress": {"kind": "spike", "load_unit": "users", **stress}}


def test_a_spike_that_did_not_recover_says_so_first() -> None:
    s = spike_summary(_spike(recovered=False, watched_s=50.0, passed=False, failure_mode="x"))
    assert s is not None
    assert s.headline == "did not recover within the 50 s watched after the spike"
    assert s.passed is False
    rows = dict(s.rows)
    assert rows["loads"] == (
        "baseline 10 users (step 1), spike 50 users (step 2), recovery 10 users (step 3)"
    )
    assert rows["errors during the spike"] == "300 of 2,000 requests failed (15.0%)"
    assert rows["failure mode"] == "x"  # an unknown mode is shown as it is


def test_failures_from_the_spike_on_are_counted_by_class() -> None:
    s = spike_summary(
        _spike(
            recovered=True,
            recovery_s=20.0,
            watched_s=50.0,
            failure_mode="graceful",
            failures={
                "requests": 2600,
                "failures": 300,
                "by_class": {"ok": 2300, "shed": 280, "timeout": 20, "invalid": 0},
            },
        )
    )
    assert s is not None
    rows = dict(s.rows)
    assert rows["failures from the spike on"] == "300 of 2,600: shed 280, timeout 20"
    assert rows["failure mode"].startswith("graceful: the server refused work")


def test_sections_of_other_shapes_are_absent() -> None:
    ramp = {"stress": {"kind": "ramp", "breaking_point": None, "recovered": False}}
    assert spike_summary(ramp) is None
    assert breaking_point_rows(ramp) == []
    assert soak_trends(ramp) is None
    assert breaking_point_rows(_spike(breaking_point={"step": 2})) == []  # the spike says it
    assert soak_trends({"soak": None}) is None


def test_odd_values_give_dashes_not_errors() -> None:
    odd: dict[str, Any] = {
        "stress": {"kind": "spike", "watched_s": "x", "failures": [], "breaking_point": 3},
        "steps": "no",
        "soak": {"passed": "maybe", "trends": [{"n": None, "unit": 3}, "bad"]},
        "settings": {"target_utilization": "high", "redundancy": None},
        "run": {"mode": "distributed", "workers": None, "duration_s": float("nan")},
    }
    s = spike_summary(odd)
    assert s is not None
    assert s.headline == "did not recover within the - watched after the spike"
    trends = soak_trends(odd)
    assert trends is not None
    assert len(trends.rows) == 2
    assert settings_rows(odd) == [("planned utilization (--ml-target-utilization)", "high")]
    rows = dict(run_rows(odd))
    assert rows["duration"] == "-"
    assert rows["load generation"] == "distributed"
    assert dict(run_rows({"run": {"mode": "distributed", "workers": 4}}))["load generation"] == (
        "distributed, 4 workers"
    )
