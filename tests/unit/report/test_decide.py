"""``decide``: SLO verdicts, capacity, plan, cost and the run verdict of a report,
and their JSON form (``capacity``, ``verdict``, ``cost``, ``plan``).

The reports here are built from hand-made step statistics - each step with
ten steady two-second windows, so that it is stable and the judgement turns
on its SLOs - and every figure can be worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest

from locust_ml.analysis.judge import Outcome
from locust_ml.analysis.planning import cost_per_million, replicas_needed
from locust_ml.analysis.slo import SLO, parse_slos
from locust_ml.analysis.steps import StepStats, Totals, WindowStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.report.json import report_to_dict
from locust_ml.report.model import ReportSettings, RunInfo, RunReport, decide

STEP_S = 20.0
WINDOW_S = 2.0
SLOS = parse_slos(["p99<200ms"])
#: users, achieved req/s, p99 ms: steps 1-4 meet p99<200ms, step 5 is the first to fail.
RAMP = [(2, 40.0, 50.0), (4, 80.0, 52.0), (8, 140.0, 60.0), (16, 180.0, 120.0)]
RAMP += [(32, 190.0, 400.0), (64, 185.0, 900.0)]
#: Closed loop: the good throughput at the largest user count that met the SLOs (step 4).
CAPACITY = 180.0
#: The 95 % interval: step 4 minus 1.96 standard errors (sqrt(n)/T) up to the larger of
#: step 5's and step 4's good throughput plus 1.96 of step 5's, capped by the saturation
#: (step 5, 190/s) plus its own.
CI = (180.0 - 1.959963984540054 * 3600**0.5 / 20, 190.0 + 1.959963984540054 * 3800**0.5 / 20)

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
CURVE_KEYS = {"step", "offered_rps", "achieved_rps", "latency_ms", "passed", "outcome"}
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
    start = 1000.0 + STEP_S * (sid - 1)
    judged = extra.get("corrected", latency)
    quartiles = {"p25": judged["p50"] * 0.8, "p50": judged["p50"], "p75": judged["p50"] * 1.2}
    windows = tuple(
        WindowStats(
            start + i * WINDOW_S,
            start + (i + 1) * WINDOW_S,
            round(rps * WINDOW_S),
            0,
            quartiles,
            index=i,
            corrected_ms=quartiles if corrected_p99 is not None else None,
        )
        for i in range(round(STEP_S / WINDOW_S))
    )
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
        windows=windows,
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
        window_s=WINDOW_S,
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
    assert c.slo_rps == CAPACITY
    assert c.slo_rps_ci == pytest.approx(CI, rel=1e-12)
    assert (c.last_passing_step, c.first_failing_step) == (4, 5)
    assert c.limiting_slo == "p99<200ms: measured 400ms (fail)"
    assert c.bound == "bracketed"
    # Doubling the users from 16 to 32 bought 5.6 %: saturated, at the best rate from step 4 on.
    assert (c.saturation_step, c.saturation_rps) == (5, 190.0)
    assert c.knee_step == 4
    assert c.knee_rps == 180.0
    assert [j.outcome for j in r.judgements.values()] == [Outcome.PASS] * 4 + [Outcome.SLO] * 2

    assert r.plan is not None
    assert r.plan.replicas == replicas_needed(1000.0, CAPACITY, 0.8, 1) == 8  # ceil(6.94) + 1
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
    assert cap["slo_rps"] == CAPACITY
    assert cap["slo_rps_ci"] == [round(x, 3) for x in CI]
    assert cap["bound"] == "bracketed"
    assert cap["knee_rps"] == 180.0
    assert cap["knee_latency_ms"] == 120.0
    assert (cap["knee_step"], cap["saturation_step"], cap["saturation_rps"]) == (4, 5, 190.0)
    assert cap["limiting_slo"] == "p99<200ms: measured 400ms (fail)"
    assert (cap["last_passing_step"], cap["first_failing_step"]) == (4, 5)
    assert cap["latency_key"] == "p99"
    assert isinstance(cap["notes"], list)
    assert [p["step"] for p in cap["curve"]] == [1, 2, 3, 4, 5, 6]
    for point, (_, rps, p99) in zip(cap["curve"], RAMP, strict=True):
        assert set(point) >= CURVE_KEYS
        assert point["offered_rps"] is None  # closed loop
        assert point["achieved_rps"] == rps
        assert set(point["latency_ms"]) >= {"p50", "p95", "p99", "p99.9"}
        assert point["latency_ms"]["p99"] == p99
    assert [p["passed"] for p in cap["curve"]] == [True] * 4 + [False] * 2
    assert [s["judgement"]["outcome"] for s in d["steps"]] == ["pass"] * 4 + ["slo"] * 2
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
    assert d["cost"]["rps"] == CAPACITY
    assert d["cost"]["per_million_requests"] == pytest.approx(
        3.06 / (CAPACITY * 3600) * 1e6, abs=1e-6
    )
    assert d["cost"]["instance"] == "g5.xlarge"
    assert set(d["plan"]) == PLAN_KEYS
    assert d["plan"]["target_rps"] == 1000.0
    assert d["plan"]["per_replica_rps"] == CAPACITY
    assert (d["plan"]["target_utilization"], d["plan"]["redundancy"]) == (0.8, 1)
    assert d["plan"]["replicas"] == 8
    assert d["plan"]["formula"] == "ceil(1000 / (180.00 x 0.8)) + 1 = 7 + 1 = 8"
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


def test_a_busy_generator_fails_its_step_and_makes_the_report_invalid() -> None:
    telemetry = {2: (series("generator_cpu_percent", 70.0, peak=96.0),)}
    r = decide(report(ramp_steps(), telemetry=telemetry), SLOS, PRICED)
    assert r.judgements[2].outcome is Outcome.GENERATOR
    assert (r.verdict.valid, r.verdict.exit_code) == (False, 2)
    assert r.verdict.reasons[0].startswith(
        "step 2, the first to fail, failed because of the load generator: "
        "the load generator's CPU reached 96%"
    )
    assert as_json(r)["verdict"]["exit_code"] == 2


def test_an_interrupted_run_is_partial() -> None:
    r = decide(report(ramp_steps()), SLOS, replace(PRICED, interrupted="SIGTERM"))
    assert (r.verdict.partial, r.verdict.valid, r.verdict.exit_code) == (True, False, 2)
    d = as_json(r)
    assert d["verdict"]["partial"] is True
    assert d["capacity"]["slo_rps"] == CAPACITY  # what was measured is reported


def test_a_step_cut_short_is_shown_but_never_judged_or_a_point_of_the_curve() -> None:
    steps = ramp_steps()[:5]
    steps[4] = replace(steps[4], partial=True)  # the test stopped during step 5
    r = decide(report(steps), SLOS, PRICED)
    assert 5 not in r.judgements
    assert r.capacity is not None
    assert [p.step for p in r.capacity.curve] == [1, 2, 3, 4]
    assert (r.capacity.slo_rps, r.capacity.bound) == (CAPACITY, "lower-bound")
    assert r.capacity.saturation_step is None
    assert (r.verdict.partial, r.verdict.valid, r.verdict.passed) == (True, True, True)
    assert any("partial" in w for w in r.verdict.warnings)


def test_min_capacity_fails_a_ramp_below_it() -> None:
    r = decide(report(ramp_steps()), SLOS, replace(PRICED, min_capacity=200.0))
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)
    assert r.verdict.reasons == (
        "SLO capacity 180.00 req/s is below the required 200 req/s (--ml-min-capacity)",
    )


def test_a_failed_run_exits_with_locusts_code_for_failures() -> None:
    r = decide(report(ramp_steps()), SLOS, replace(PRICED, min_capacity=200.0, fail_code=3))
    assert r.verdict.exit_code == 3


def test_the_same_steps_fail_a_non_capacity_test() -> None:
    r = decide(report(ramp_steps(), shape="stages"), SLOS, PRICED)
    assert (r.verdict.passed, r.verdict.valid, r.verdict.exit_code) == (False, True, 1)
    assert [x.split(":")[0] for x in r.verdict.reasons] == ["step 5", "step 6"]
    assert r.capacity is not None
    assert r.capacity.slo_rps == CAPACITY  # the figures don't depend on it


def test_no_step_meeting_the_slos_gives_no_capacity_plan_or_cost() -> None:
    r = decide(report(ramp_steps()), parse_slos(["p99<10ms"]), PRICED)
    assert r.capacity is not None
    assert r.capacity.slo_rps is None
    assert (r.plan, r.cost) == (None, None)
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)
    assert r.verdict.reasons[0].startswith("no step met the SLOs")
    d = as_json(r)
    assert d["capacity"]["slo_rps"] is None
    assert d["capacity"]["slo_rps_ci"] is None
    assert d["capacity"]["limiting_slo"] == "p99<10ms: measured 50ms (fail)"
    assert d["capacity"]["first_failing_step"] == 1
    assert (d["plan"], d["cost"]) == (None, None)
    assert d["verdict"]["exit_code"] == 1


def test_without_slos_the_error_ceiling_still_judges_and_gives_a_capacity() -> None:
    r = decide(report(ramp_steps()), (), PRICED)
    c = r.capacity
    assert c is not None
    # Every step answered without failures: the capacity is the throughput at the
    # largest user count, capped by the saturation the ramp measured.
    assert (c.slo_rps, c.last_passing_step, c.bound) == (185.0, 6, "saturated")
    assert c.knee_rps == 180.0
    assert all(j.passed for j in r.judgements.values())
    assert r.rule.describe() == "errors<=1% (default ceiling)"
    assert (r.verdict.passed, r.verdict.valid, r.verdict.exit_code) == (True, True, 0)


def test_failures_over_the_ceiling_fail_a_step_even_with_latency_only_slos() -> None:
    steps = ramp_steps()
    steps[2] = replace(steps[2], failures=round(0.02 * steps[2].requests))
    r = decide(report(steps), SLOS, PRICED)
    assert r.judgements[3].outcome is Outcome.SLO
    assert "above the 1% error ceiling" in r.judgements[3].reasons[0]
    assert r.capacity is not None
    assert (r.capacity.slo_rps, r.capacity.first_failing_step) == (80.0, 3)


def test_a_step_with_no_answers_fails_the_run_whatever_the_shape() -> None:
    steps = ramp_steps()[:3]
    steps[2] = replace(steps[2], requests=0, achieved_rps=0.0, in_flight=17)
    r = decide(report(steps), SLOS, PRICED)
    assert r.judgements[3].outcome is Outcome.NO_ANSWERS
    assert r.judgements[3].reasons == (
        "no request completed after the warm-up; 17 requests were in flight",
    )
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)
    assert r.verdict.reasons[0].startswith("the target answered nothing in step 3")


def test_an_all_failure_run_never_passes() -> None:
    steps = [replace(s, failures=s.requests) for s in ramp_steps()[:3]]
    r = decide(report(steps), SLOS, PRICED)
    assert r.capacity is not None
    assert r.capacity.slo_rps is None
    assert (r.verdict.passed, r.verdict.exit_code) == (False, 1)


def test_a_run_without_requests_is_invalid_and_its_capacity_null() -> None:
    steps = [replace(s, requests=0, achieved_rps=0.0) for s in ramp_steps()[:2]]
    r = replace(report(steps), totals=Totals(requests=0, failures=0, latency_ms={}, endpoints=()))
    r = decide(r, SLOS, PRICED)
    assert (r.verdict.valid, r.verdict.exit_code) == (False, 2)
    assert "no request completed; nothing was measured" in r.verdict.reasons
    d = as_json(r)
    assert d["capacity"]["slo_rps"] is None
    assert d["capacity"]["knee_rps"] is None
    assert d["capacity"]["saturation_rps"] is None
    assert (d["plan"], d["cost"]) == (None, None)


# -------------------------------------------------------------------- re-deciding


def test_a_decided_report_can_be_re_decided_with_other_slos() -> None:
    first = decide(report(ramp_steps()), SLOS, PRICED)
    looser = decide(first, parse_slos(["p99<600ms"]), PRICED)
    assert looser.capacity is not None
    assert first.capacity is not None
    assert first.capacity.slo_rps is not None
    assert looser.capacity.slo_rps is not None
    # Step 5 (32 users, 190/s, p99 400 ms) now passes; step 6 (900 ms) fails.
    assert looser.capacity.slo_rps == 190.0
    assert looser.capacity.slo_rps > first.capacity.slo_rps
    assert looser.plan is not None
    assert first.plan is not None
    assert looser.plan.replicas <= first.plan.replicas
    assert looser.slos == tuple(parse_slos(["p99<600ms"]))
    # The original is untouched (frozen data).
    assert first.capacity.slo_rps == CAPACITY


def test_open_loop_steps_are_decided_on_latency_from_the_intended_send() -> None:
    steps = [
        step(1, None, 50.0, 40.0, mode="open", offered=50.0, corrected_p99=45.0),
        step(2, None, 100.0, 45.0, mode="open", offered=100.0, corrected_p99=60.0),
        step(3, None, 150.0, 50.0, mode="open", offered=150.0, corrected_p99=140.0),
        step(4, None, 160.0, 60.0, mode="open", offered=200.0, corrected_p99=3000.0),
    ]
    r = decide(report(steps), [SLO.latency(99, 100)], PRICED)
    # Service latency passes everywhere; latency from the intended send fails at step 3.
    assert [j.passed for j in r.judgements.values()] == [True, True, False, False]
    assert r.capacity is not None
    assert r.capacity.first_failing_step == 3
    # Open loop: the offered rate of the highest passing step, all of it answered.
    assert r.capacity.slo_rps == 100.0
    d = as_json(r)
    assert [p["offered_rps"] for p in d["capacity"]["curve"]] == [50.0, 100.0, 150.0, 200.0]
    assert d["capacity"]["curve"][2]["latency_ms"]["p99"] == 140.0
