"""The report's cold-start section: time to ready, first request vs warm median."""

from __future__ import annotations

import json

import pytest

from locust_ml.analysis.steps import StepStats, Totals
from locust_ml.report.json import report_to_dict
from locust_ml.report.load import report_from_dict
from locust_ml.report.model import RunInfo, RunReport, cold_start


def _step(step_id: int, requests: int, p50: float | None) -> StepStats:
    return StepStats(
        id=step_id,
        start=0.0,
        end=10.0,
        users=1,
        offered_rps=None,
        achieved_rps=requests / 10.0,
        requests=requests,
        failures=0,
        latency_ms={"p50": p50},
        endpoints=(),
    )


def _run(ready: float | None, first: float | None) -> RunInfo:
    return RunInfo(
        locustfile="x.py",
        target=None,
        started_at=0.0,
        ended_at=20.0,
        mode="local",
        server_ready_s=ready,
        first_request_ms=first,
    )


def test_first_request_is_compared_with_the_first_measured_steps_median() -> None:
    c = cold_start(_run(2.5, 900.0), [_step(1, 0, None), _step(2, 100, 45.0)])
    assert c is not None
    assert (c.time_to_ready_s, c.first_request_ms, c.warm_p50_ms) == (2.5, 900.0, 45.0)
    assert c.first_vs_warm == pytest.approx(20.0)


def test_no_cold_start_facts_no_section() -> None:
    assert cold_start(_run(None, None), [_step(1, 10, 5.0)]) is None
    c = cold_start(_run(1.0, None), [_step(1, 10, 5.0)])
    assert c is not None
    assert c.first_vs_warm is None


def test_cold_start_survives_the_json_round_trip() -> None:
    report = RunReport(
        run=_run(1.25, 80.0),
        percentiles=(50.0,),
        window_s=None,
        steps=(_step(1, 100, 40.0),),
        totals=Totals(requests=100, failures=0, latency_ms={"p50": 40.0}, endpoints=()),
    )
    data = json.loads(json.dumps(report_to_dict(report)))
    assert data["coldstart"] == {
        "time_to_ready_s": 1.25,
        "first_request_ms": 80.0,
        "warm_p50_ms": 40.0,
        "first_vs_warm": 2.0,
    }
    assert report_from_dict(data).cold_start == report.cold_start
