"""``decide``: SLO verdicts, capacity, plan, cost and the run verdict of a report,
and their JSON form (``capacity``, ``verdict``, ``cost``, ``plan``).

The reports here are built from hand-made step statistics, so every figure
can be worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from locust_ml.analysis.planning import cost_per_million, replicas_needed
from locust_ml.analysis.slo import SLO, parse_slos
from locust_ml.analysis.steps import StepStats, Totals
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.report.json import report_to_dict
from locust_ml.report.model import ReportSettings, RunInfo, RunReport, decide

STEP_S = 20.0
SLOS = parse_slos(["p99<200ms"])
#: users, achieved req/s, p99 ms: steps 1-4 meet p99<200ms, step 5 is the first to fail.
RAMP = [(2, 40.0, 50.0), (4, 80.0, 52.0), (8, 140.0, 60.0), (16, 180.0, 120.0)]
RAMP += [(32, 190.0, 400.0), (64, 185.0, 900.0)]
#: 180 + (200 - 120) / (400 - 120) * (190 - 180)
CAPACITY = 180.0 + 80.0 / 280.0 * 10.0

CAPACITY_KEYS = {
    "slo_rps",
    "slo_rps_ci",
    "knee_rps",
    "knee_latency_ms",
    "knee_step",
    "saturation_rps",
    "saturation_step",
    "limiting_slo",
    "last_passing_step",
    "first_failing_step",
    "latency_key",
    "curve",
    "utilization",
    "notes",
}
CURVE_KEYS = {"step", "offered_rps", "achieved_rps", "latency_ms", "passed"}
UTILIZATION_KEYS = {
    "step",
    "gpu_utilization",
    "gpu_memory_used_bytes",
    "gpu_memory_ratio",
    "target_cpu_cores",
    "generator_cpu_percent",
    "warnings",
}
VERDICT_KEYS = {"passed", "valid", "partial", "reasons", "warnings", "exit_code"}
COST_KEYS = {
    "price_per_hour",
    "rps",
    "per_million_requests",
    "tokens_out_per_s",
    "per_million_output_tokens",
    "instance",
}
PLAN_KEYS = {"target_rps", "per_replica_rps", "target_utilization", "redundancy", "replicas"}
PLAN_KEYS |= {"formula"}


def step(
    sid: int,
    users: int | None,
    rps: float,
    p99: float,
    *,
    failures: int = 0,
    mode: str = "closed",
    offered: float | None = None,
    corrected_p99: float | None = None,
    tokens_out_per_s: float | None = None,
) -> StepStats:
    requests = round(rps * STEP_S)
    latency = {"p50": p99 / 3, "p90": p99 / 2, "p95": p99 * 0.6, "p99": p99, "p99.9": p99 * 1.5}
    extra = {}
    if corrected_p99 is not None:
        extra["corrected"] = {k: v * corrected_p99 / p99 for k, v in latency.items()}
    return StepStats(
        id=sid,
        start=1000.0 + STEP_S * (sid - 1),
        end=1000.0 + STEP_S * sid,
        users=users,
        offered_rps=offered,
        achieved_rps=rps,
        requests=requests,
        failures=failures,
        latency_ms=latency,
        endpoints=(),
        mode=mode,
        extra_ms=extra,
        tokens_out_per_s=tokens_out_per_s,
    )


def series(metric: str, mean: float, *, peak: float | None = None) -> SeriesStats:
    return SeriesStats(
        source="nvml",
        metric=metric,
        labels={"gpu": "0"},
        kind="gauge",
        samples=20,
        mean=mean,
        min=mean,
        max=mean if peak is None else peak,
        last=mean,
        rate_per_s=None,
        window_means={},
    )


def report(
    steps: Sequence[StepStats],
    *,
    shape: str | None = "ramp",
    telemetry: Mapping[int, tuple[SeriesStats, ...]] | None = None,
) -> RunReport:
    run = RunInfo(
        locustfile="locustfiles/summarizer.py",
        target="http://127.0.0.1:8000",
        started_at=1000.0,
        ended_at=1000.0 + STEP_S * len(steps),
        mode="local",
        shape=shape,
    )
    totals = Totals(
        requests=sum(s.requests for s in steps),
        failures=sum(s.failures for s in steps),
        latency_ms={},
        endpoints=(),
    )
    return RunReport(
        run=run,
        percentiles=(50.0, 90.0, 95.0, 99.0, 99.9),
        window_s=None,
        steps=tuple(steps),
        totals=totals,
        telemetry=dict(telemetry or {}),
    )


def ramp_steps(**kw: Any) -> list[StepStats]:
    return [step(i, users, rps, p99, **kw) for i, (users, rps, p99) in enumerate(RAMP, start=1)]


def as_json(r: RunReport) -> dict[str, Any]:
    """``report_to_dict`` through strict JSON, as a reader of report.json gets it."""
    text = json.dumps(report_to_dict(r), allow_nan=False)
    out: dict[str, Any] = json.loads(text)
    return out


PRICED = ReportSettings(
    price_per_hour=3.06,
    instance="g5.xlarge",
    target_rps=1000.0,
    target_utilization=0.8,
    redundancy=1,
)


# ------------------------------------------------------------------ a capacity ramp


def test_a_ramp_is_decided_into_capacity_plan_cost_and_verdict() -> None:
    r = decide(report(ramp_steps()), SLOS, PRICED)
    c = r.capacity
    assert c is not None
    assert c.slo_rps == pytest.approx(CAPACITY, rel=1e-12)
    assert (c.last_passing_step, c.first_failing_step, c.limiting_slo) == (4, 5, "p99<200ms")
    assert c.bound == "bracketed"
    # Doubling the users from 16 to 32 bought 5.6 %: saturated, at the best rate from step 4 on.
    assert (c.saturation_step, c.saturation_rps) == (5, 190.0)
    assert c.knee_step == 4
    assert c.knee_rps == 180.0
    assert [v.passed for v in r.slo_verdicts.values()] == [True] * 4 + [False] * 2

    assert r.plan is not None
    assert r.plan.replicas == replicas_needed(1000.0, CAPACITY, 0.8, 1) == 8  # ceil(6.84) + 1
    assert r.plan.per_replica_rps == c.slo_rps
    assert r.cost is not None
    assert r.cost.rps == c.slo_rps
    assert r.cost.per_million_requests == cost_per_million(3.06, c.slo_rps)
    assert r.cost.per_million_requests == pytest.approx(3.06 / (CAPACITY * 3600) * 1e6)
    assert r.cost.instance == "g5.xlarge"
    assert r.cost.tokens_out_per_s is None
    assert r.cost.per_million_output_tokens is None

    assert (r.verdict.passed, r.verdict.valid, r.verdict.partial) == (True, True, False)
    assert r.verdict.exit_code == 0
    assert r.slos == tuple(SLOS)
    assert r.settings == PRICED


def test_the_json_carries_the_contract_keys() -> None:
    telemetry = {4: (series("gpu_utilization_ratio", 0.6),)}
    d = as_json(decide(report(ramp_steps(), telemetry=telemetry), SLOS, PRICED))

    cap = d["capacity"]
    assert set(cap) >= CAPACITY_KEYS
    assert cap["slo_rps"] == round(CAPACITY, 3)
    assert cap["knee_rps"] == 180.0
    assert cap["knee_latency_ms"] == 120.0
    assert (cap["knee_step"], cap["saturation_step"], cap["saturation_rps"]) == (4, 5, 190.0)
    assert cap["limiting_slo"] == "p99<200ms"
    assert (cap["last_passing_step"], cap["first_failing_step"]) == (4, 5)
    assert cap["latency_key"] == "p99"
    assert cap["slo_rps_ci"] is None  # no measurement windows to resample
    assert isinstance(cap["notes"], list)
    assert [p["step"] for p in cap["curve"]] == [1, 2, 3, 4, 5, 6]
    for point, (_, rps, p99) in zip(cap["curve"], RAMP, strict=True):
        assert set(point) >= CURVE_KEYS
        assert point["offered_rps"] is None  # closed loop
        assert point["achieved_rps"] == rps
        assert set(point["latency_ms"]) >= {"p50", "p95", "p99", "p99.9"}
        assert point["latency_ms"]["p99"] == p99
    assert [p["passed"] for p in cap["curve"]] == [True] * 4 + [False] * 2
    assert set(cap["utilization"]) == {"knee", "slo_capacity"}
    for where in ("knee", "slo_capacity"):
        u = cap["utilization"][where]
        assert set(u) >= UTILIZATION_KEYS
        assert u["step"] == 4
        assert u["gpu_utilization"] == 0.6
        assert u["warnings"] == []

    assert set(d["verdict"]) == VERDICT_KEYS
    assert d["verdict"] == {
        "passed": True,
        "valid": True,
        "partial": False,
        "reasons": [],
        "warnings": [],
        "exit_code": 0,
    }
    assert set(d["cost"]) == COST_KEYS
    assert d["cost"]["price_per_hour"] == 3.06
    assert d["cost"]["rps"] == round(CAPACITY, 3)
    assert d["cost"]["per_million_requests"] == pytest.approx(
        3.06 / (CAPACITY * 3600) * 1e6, abs=1e-6
    )
    assert d["cost"]["instance"] == "g5.xlarge"
    assert set(d["plan"]) == PLAN_KEYS
    assert d["plan"]["target_rps"] == 1000.0
    assert d["plan"]["per_replica_rps"] == round(CAPACITY, 3)
    assert (d["plan"]["target_utilization"], d["plan"]["redundancy"]) == (0.8, 1)
    assert d["plan"]["replicas"] == 8
    assert d["plan"]["formula"] == "ceil(1000 / (182.86 x 0.8)) + 1 = 7 + 1 = 8"
    assert d["slos"] == ["p99<200ms"]
    assert d["run"]["shape"] == "ramp"


def test_output_tokens_at_capacity_are_costed_per_million() -> None:
    steps = ramp_steps()
    steps[3] = replace(steps[3], tokens_out_per_s=180.0 * 50)  # 50 tokens a request
    r = decide(report(steps), SLOS, PRICED)
    assert r.cost is not None
    tokens = 50 * CAPACITY
    assert r.cost.tokens_out_per_s == pytest.approx(tokens, rel=1e-12)
    assert r.cost.per_million_output_tokens == pytest.approx(
        cost_per_million(3.06, tokens), rel=1e-12
    )
    d = as_json(r)
    assert d["cost"]["tokens_out_per_s"] == round(tokens, 3)


def test_no_plan_or_cost_without_their_options() -> None:
    r = decide(report(ramp_steps()), SLOS, ReportSettings())
    assert r.capacity is not None
    assert r.capacity.slo_rps is not None
    assert (r.plan, r.cost) == (None, None)
    d = as_json(r)
    assert (d["plan"], d["cost"]) == (None, None)


def test_utilization_warnings_reach_the_verdict() -> None:
    telemetry = {
        4: (
            series("gpu_utilization_ratio", 0.95),
            series("gpu_memory_used_bytes", 76e9),
            series("gpu_memory_total_bytes", 80e9),
        ),
        2: (series("gpu_utilization_ratio", 0.1),),  # neither the knee nor capacity
    }
    r = decide(report(ramp_steps(), telemetry=telemetry), SLOS, PRICED)
    assert r.verdict.passed
    assert r.verdict.valid  # warnings, not reasons
    assert r.verdict.warnings == (
        "GPU 95% busy at the knee: no headroom for bursts",
        "GPU memory 95% used at the knee: little room for larger batches",
        "GPU 95% busy at SLO capacity: no headroom for bursts",
        "GPU memory 95% used at SLO capacity: little room for larger batches",
    )
    d = as_json(r)
    assert d["capacity"]["utilization"]["slo_capacity"]["gpu_memory_ratio"] == 0.95
    assert d["verdict"]["warnings"] == list(r.verdict.warnings)


# ------------------------------------------------------------------- the verdict


def test_a_busy_generator_makes_the_report_invalid() -> None:
    telemetry = {2: (series("generator_cpu_percent", 70.0, peak=96.0),)}
    r = decide(report(ramp_steps(), telemetry=telemetry), SLOS, PRICED)
    assert (r.verdict.valid, r.verdict.exit_code) == (False, 2)
    assert r.verdict.reasons[0].startswith("step 2: the load generator's CPU reached 96%")
    assert as_json(r)["verdict"]["exit_code"] == 2


def test_an_interrupted_run_is_partial() -> None:
    r = decide(report(ramp_steps()), SLOS, replace(PRICED, interrupted="SIGTERM"))
    assert (r.verdict.partial, r.verdict.valid, r.verdict.exit_code) == (True, False, 2)
    d = as_json(r)
    assert d["verdict"]["partial"] is True
    assert d["capacity"]["slo_rps"] == round(CAPACITY, 3)  # what was measured is reported


def test_min_capacity_fails_a_ramp_below_it() -> None:
    r = decide(report(ramp_steps()), SLOS, replace(PRICED, min_capacity=200.0))
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)
    assert r.verdict.reasons == (
        "SLO capacity 182.86 req/s is below the required 200 req/s (--ml-min-capacity)",
    )


def test_the_same_steps_fail_a_non_capacity_test() -> None:
    r = decide(report(ramp_steps(), shape="stages"), SLOS, PRICED)
    assert (r.verdict.passed, r.verdict.valid, r.verdict.exit_code) == (False, True, 1)
    assert [x.split(":")[0] for x in r.verdict.reasons] == ["step 5", "step 6"]
    assert r.capacity is not None
    assert r.capacity.slo_rps == pytest.approx(CAPACITY)  # the figures don't depend on it


def test_no_step_meeting_the_slos_gives_no_capacity_plan_or_cost() -> None:
    r = decide(report(ramp_steps()), parse_slos(["p99<10ms"]), PRICED)
    assert r.capacity is not None
    assert r.capacity.slo_rps is None
    assert (r.plan, r.cost) == (None, None)
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)
    d = as_json(r)
    assert d["capacity"]["slo_rps"] is None
    assert d["capacity"]["slo_rps_ci"] is None
    assert d["capacity"]["limiting_slo"] is None
    assert d["capacity"]["first_failing_step"] == 1
    assert (d["plan"], d["cost"]) == (None, None)
    assert d["verdict"]["exit_code"] == 1


def test_without_slos_there_is_a_knee_but_no_capacity() -> None:
    r = decide(report(ramp_steps()), (), PRICED)
    assert r.capacity is not None
    assert r.capacity.slo_rps is None
    assert r.capacity.knee_rps == 180.0
    assert r.slo_verdicts == {}
    assert (r.plan, r.cost) == (None, None)
    assert (r.verdict.passed, r.verdict.valid, r.verdict.exit_code) == (True, True, 0)
    d = as_json(r)
    assert d["slos"] == []
    assert d["capacity"]["slo_rps"] is None
    assert any("no SLO was given" in n for n in d["capacity"]["notes"])
    assert all(p["passed"] is None for p in d["capacity"]["curve"])


def test_a_run_without_requests_is_invalid_and_its_capacity_null() -> None:
    steps = [replace(s, requests=0, achieved_rps=0.0) for s in ramp_steps()[:2]]
    r = decide(report(steps), SLOS, PRICED)
    assert r.capacity is None
    assert (r.verdict.valid, r.verdict.exit_code) == (False, 2)
    assert "no request completed; nothing was measured" in r.verdict.reasons
    d = as_json(r)
    # Readers code against null and missing keys alike (the contract); these are there.
    assert d["capacity"]["slo_rps"] is None
    assert d["capacity"]["knee_rps"] is None
    assert d["capacity"]["saturation_rps"] is None
    assert d["capacity"]["curve"] == []
    assert d["capacity"]["utilization"] == {"knee": None, "slo_capacity": None}
    assert (d["plan"], d["cost"]) == (None, None)


# -------------------------------------------------------------------- re-deciding


def test_a_decided_report_can_be_re_decided_with_other_slos() -> None:
    first = decide(report(ramp_steps()), SLOS, PRICED)
    looser = decide(first, parse_slos(["p99<600ms"]), PRICED)
    assert looser.capacity is not None
    assert first.capacity is not None
    assert first.capacity.slo_rps is not None
    assert looser.capacity.slo_rps is not None
    # 190 + (600 - 400) / (900 - 400) * (185 - 190) -> the last step shed: 190.
    assert looser.capacity.slo_rps == 190.0
    assert looser.capacity.slo_rps > first.capacity.slo_rps
    assert looser.plan is not None
    assert first.plan is not None
    assert looser.plan.replicas <= first.plan.replicas
    assert looser.slos == tuple(parse_slos(["p99<600ms"]))
    # The original is untouched (frozen data).
    assert first.capacity.slo_rps == pytest.approx(CAPACITY)


def test_open_loop_steps_are_decided_on_latency_from_the_intended_send() -> None:
    steps = [
        step(1, None, 50.0, 40.0, mode="open", offered=50.0, corrected_p99=45.0),
        step(2, None, 100.0, 45.0, mode="open", offered=100.0, corrected_p99=60.0),
        step(3, None, 150.0, 50.0, mode="open", offered=150.0, corrected_p99=140.0),
        step(4, None, 160.0, 60.0, mode="open", offered=200.0, corrected_p99=3000.0),
    ]
    r = decide(report(steps), [SLO.latency(99, 100)], PRICED)
    # Service latency passes everywhere; latency from the intended send fails at step 3.
    assert [v.passed for v in r.slo_verdicts.values()] == [True, True, False, False]
    assert r.capacity is not None
    assert r.capacity.first_failing_step == 3
    # 100 + (100 - 60) / (140 - 60) * (150 - 100)
    assert r.capacity.slo_rps == pytest.approx(125.0)
    d = as_json(r)
    assert [p["offered_rps"] for p in d["capacity"]["curve"]] == [50.0, 100.0, 150.0, 200.0]
    assert d["capacity"]["curve"][2]["latency_ms"]["p99"] == 140.0
