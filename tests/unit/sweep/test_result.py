"""A configuration's measurement read from its report, its decisions, and the JSON records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from locust_ml.analysis.verdict import RunVerdict
from locust_ml.options import Decisions
from locust_ml.sweep.configs import Config
from locust_ml.sweep.record import (
    OUTCOME_FILE,
    outcome_to_dict,
    read_outcome,
    result_to_dict,
    write_json,
)
from locust_ml.sweep.result import DONE, decide, failed, measured
from locust_ml.sweep.runner import measurement_from_report
from tests.report_fixtures import capacity, decided, fixture

CONFIG = Config((("batch", "4"), ("instances", "1")), 0.9)


def test_the_measurement_is_what_the_report_concluded() -> None:
    report = fixture("ramp_open_loop")
    m = measurement_from_report(report, "b4/report/report.json", report.duration_s)
    assert m.verdict == "PASS"
    assert m.slo_rps == 50.0
    assert m.slo_rps_ci == (45.406, 65.047)
    assert m.knee_rps == 66.415
    assert m.saturation_rps == 66.431
    assert m.bound == "bracketed"
    # p99 of the step that stands for the capacity (step 2), the percentile the SLO judges.
    assert m.latency_key == "p99"
    assert m.latency_at_capacity_ms == 161.023
    assert m.report == "b4/report/report.json"
    assert m.note is None


def test_no_capacity_and_an_invalid_run_keep_their_reasons() -> None:
    invalid = decided(
        capacity=capacity(None, notes=("SLO capacity: the first step failed (p99)",)),
        verdict=RunVerdict(passed=False, valid=False, reasons=("interrupted by SIGINT",)),
    )
    m = measurement_from_report(invalid, None, 1.0)
    assert m.verdict == "INVALID"
    assert m.verdict_reasons == ("interrupted by SIGINT",)
    assert m.slo_rps is None
    assert m.note == "SLO capacity: the first step failed (p99)"
    assert m.latency_at_capacity_ms is None


def test_decisions_use_the_configurations_own_price_over_the_global_one() -> None:
    m = measurement_from_report(fixture("ramp_open_loop"), None, 60.0)
    r = decide(measured(CONFIG, m), Decisions(price_per_hour=5.0, target_rps=200.0))
    assert r.price_per_hour == 0.9
    assert r.cost_per_million == pytest.approx(0.9 / (50.0 * 3600) * 1e6)
    assert r.replicas == 6  # ceil(200 / (50 x 0.8)) + 1
    unpriced = decide(measured(Config(()), m), Decisions(price_per_hour=5.0))
    assert unpriced.price_per_hour == 5.0
    assert unpriced.replicas is None


def test_an_outcome_reads_back_as_written(tmp_path: Path) -> None:
    m = measurement_from_report(fixture("ramp_open_loop"), "x/report/report.json", 60.1)
    fingerprint = {"ml_args": ["--ml-slo", "p99<250ms"], "server": "serve {batch}"}
    for result in (
        measured(CONFIG, m, 75.5, notes=("teardown command exited 1",)),
        failed(CONFIG, "the server exited with status 1", ("Traceback", "OOM"), 2.0),
    ):
        path = tmp_path / OUTCOME_FILE
        write_json(path, outcome_to_dict(result, fingerprint))
        back = read_outcome(path, CONFIG)
        assert back is not None
        assert back[0] == fingerprint
        assert back[1] == result


@pytest.mark.parametrize(
    "text",
    ["", "{", '{"fingerprint": {}}', '{"fingerprint": {}, "params": [], "status": "done"}'],
)
def test_an_unreadable_outcome_counts_as_not_finished(tmp_path: Path, text: str) -> None:
    path = tmp_path / OUTCOME_FILE
    path.write_text(text)
    assert read_outcome(path, CONFIG) is None
    assert read_outcome(tmp_path / "missing.json", CONFIG) is None


def test_an_outcome_of_other_parameters_is_not_this_configurations(tmp_path: Path) -> None:
    path = tmp_path / OUTCOME_FILE
    write_json(path, outcome_to_dict(failed(CONFIG, "x"), {}))
    assert read_outcome(path, Config((("batch", "8"), ("instances", "1")))) is None


def test_a_sweep_json_row_has_the_issues_fields() -> None:
    m = measurement_from_report(fixture("ramp_open_loop"), "b4/report/report.json", 60.1)
    r = decide(measured(CONFIG, m), Decisions(target_rps=200.0))
    row = json.loads(json.dumps(result_to_dict(r, "batch-4_instances-1", rank=1, pareto=True)))
    assert row["params"] == {"batch": "4", "instances": "1"}
    assert row["status"] == DONE
    for key in ("slo_rps", "slo_rps_ci", "knee_rps", "saturation_rps", "latency_at_capacity_ms"):
        assert row[key] is not None
    assert row["verdict"] == "PASS"
    assert row["replicas"] == 6
    assert row["cost_per_million_requests"] == pytest.approx(5.0, rel=1e-3)
    assert row["report"] == "b4/report/report.json"
