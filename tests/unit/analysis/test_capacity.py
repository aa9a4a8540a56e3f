"""SLO capacity, its interval, the knee and the saturation (analysis/capacity.py).

Points are judged steps (passed or not, by ``judge_step``); here the
judgements are given, so every figure can be worked out by hand. The search
and the report against a simulated server are tested in test_search.py.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.capacity import (
    MIN_KNEE_POINTS,
    Z95,
    CapacitySettings,
    CurvePoint,
    analyze_capacity,
    find_knee,
    find_saturation,
    point_from_step,
    points_from_steps,
)
from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement, judge_step, measure_step
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import StepStats, WindowStats


def pt(
    step: int,
    good: float,
    p99: float,
    *,
    mode: str = "closed",
    offered: float | None = None,
    requests: int = 1000,
    passed: bool | None = None,
    load: float | None = None,
    failure_ratio: float = 0.0,
    seconds: float = 10.0,
) -> CurvePoint:
    """A point of ``good`` req/s at p99 ``p99``; load is users 1, 2, ... or the offered rate."""
    return CurvePoint(
        step=step,
        load=load if load is not None else (offered if offered is not None else float(step)),
        achieved_rps=good / (1.0 - failure_ratio),
        good_rps=good,
        requests=requests,
        failure_ratio=failure_ratio,
        latency_ms={"p50": p99 / 3, "p99": p99},
        mode=mode,
        offered_rps=offered,
        passed=passed,
        outcome=None if passed is None else ("pass" if passed else "slo"),
        reasons=() if passed in (None, True) else (f"failed at step {step}",),
        good_se=math.sqrt(good * seconds) / seconds,
    )


# ------------------------------------------------------------------ SLO capacity


def test_closed_loop_capacity_is_the_largest_passing_user_count_below_the_first_failure() -> None:
    points = [
        pt(1, 50.0, 20.0, passed=True),
        pt(2, 95.0, 25.0, passed=True),
        pt(3, 120.0, 90.0, passed=True),
        pt(4, 130.0, 400.0, passed=False),
        pt(5, 131.0, 100.0, passed=True),  # a noisy pass above a failure is not capacity
    ]
    a = analyze_capacity(points)
    assert (a.slo_rps, a.last_passing_step, a.first_failing_step) == (120.0, 3, 4)
    assert (a.bound, a.limiting_slo) == ("bracketed", "failed at step 4")
    se = points[3].good_se
    low = 120.0 - Z95 * points[2].good_se
    assert a.slo_rps_ci == pytest.approx((low, 130.0 + Z95 * se))


def test_throughput_that_stopped_rising_never_cuts_the_capacity_short() -> None:
    # A plateau from 4 users on, every step within its SLOs: the capacity is the
    # throughput at the largest count (the knee and saturation are where it bent).
    points = [
        pt(i, min(30.0 * u, 120.0) + i * 0.1, 10.0 * u, passed=True, load=float(u))
        for i, u in enumerate((1, 2, 4, 8, 16), start=1)
    ]
    a = analyze_capacity(points)
    assert (a.slo_rps, a.last_passing_step) == (pytest.approx(120.5), 5)
    assert a.bound == "saturated"
    assert a.saturation_step is not None


def test_open_loop_capacity_is_the_offered_rate_answered_capped_by_saturation() -> None:
    points = [
        pt(1, 49.0, 20.0, mode="open", offered=50.0, passed=True),
        pt(2, 97.0, 30.0, mode="open", offered=100.0, passed=True, failure_ratio=0.005),
        pt(3, 118.0, 3000.0, mode="open", offered=150.0, passed=False),
    ]
    a = analyze_capacity(points)
    # 100/s offered, 99.5 % of it answered (the count of 97/s carries Poisson noise).
    assert a.slo_rps == pytest.approx(99.5)
    assert a.slo_rps_ci == pytest.approx(
        (99.5 * (1 - Z95 / math.sqrt(1000)), 118.0 + Z95 * points[2].good_se)
    )
    # A step offered above what the target completes at saturation cannot stand for more.
    above = [*points[:1], replace(points[1], offered_rps=125.0, load=125.0), points[2]]
    assert analyze_capacity(above).slo_rps == pytest.approx(118.0)


def test_every_step_passing_below_saturation_is_a_lower_bound_and_says_so() -> None:
    a = analyze_capacity([pt(i, 10.0 * i, 10.0, passed=True) for i in range(1, 5)])
    assert (a.slo_rps, a.bound) == (40.0, "lower-bound")
    assert a.slo_rps_ci is not None
    assert a.slo_rps_ci[1] is None  # no failing step, no saturation: the top is open
    assert any("lower bound" in n for n in a.notes)


def test_no_passing_step_gives_no_capacity_and_names_the_first_failure() -> None:
    a = analyze_capacity([pt(1, 10.0, 900.0, passed=False), pt(2, 12.0, 950.0, passed=False)])
    assert (a.slo_rps, a.slo_rps_ci, a.bound, a.first_failing_step) == (None, None, "none", 1)
    assert a.limiting_slo == "failed at step 1"


def test_zero_good_throughput_is_never_a_capacity() -> None:
    a = analyze_capacity([pt(1, 0.0, 10.0, passed=True), pt(2, 0.0, 10.0, passed=True)])
    assert a.slo_rps is None


def test_probe_steps_measure_but_do_not_decide_the_capacity() -> None:
    probe = [
        replace(
            pt(i, min(40.0 * 2 ** (i - 1), 120.0), 10.0 * i), label="probe", load=2.0 ** (i - 1)
        )
        for i in range(1, 6)
    ]
    searched = [
        pt(6, 106.0, 200.0, mode="open", offered=108.0, passed=True),
        pt(7, 119.0, 900.0, mode="open", offered=120.0, passed=False),
    ]
    a = analyze_capacity([*probe, *searched])
    assert (a.slo_rps, a.last_passing_step, a.first_failing_step) == (108.0, 6, 7)
    assert a.saturation_step is not None
    assert a.saturation_step <= 5  # read from the probe's closed-loop curve
    assert not any("mixed" in n for n in a.notes)


# ----------------------------------------------------------------------- knee


@pytest.mark.parametrize("n", range(MIN_KNEE_POINTS))
def test_fewer_than_four_points_give_no_knee_and_a_reason(n: int) -> None:
    lat = [10.0, 20.0, 400.0][:n]
    rps = [10.0, 90.0, 100.0][:n]
    index, why = find_knee(lat, rps)
    assert index is None
    assert why == f"{n} steps with latency data; a knee needs at least {MIN_KNEE_POINTS}"
    a = analyze_capacity([pt(i + 1, r, x) for i, (x, r) in enumerate(zip(lat, rps, strict=True))])
    assert a.knee_rps is None
    assert a.knee_step is None
    assert a.knee_note == why


def test_points_without_latency_do_not_count_toward_the_knee() -> None:
    index, why = find_knee([10.0, math.nan, 20.0, 30.0, math.inf], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert index is None
    assert why is not None
    assert why.startswith("3 steps")


def test_steps_with_the_same_tail_latency_are_one_point_of_the_curve() -> None:
    # A closed-loop ramp capped at 64 users after 62: both steps saturated, both
    # p99s read through the same histogram bucket (a real run's figures).
    p99 = [163.071, 206.463, 263.935, 367.359, 602.623, 818.687, 818.687]
    good = [49.6, 60.0, 69.6, 75.6, 80.0, 80.0, 80.0]
    assert find_knee(p99, good) == find_knee(p99[:-1], good[:-1]) == (3, None)
    # The best throughput at that latency stands for it, whichever step had it.
    assert find_knee([*p99[:-2], 818.687, 818.687], [*good[:-2], 79.0, 80.5])[0] == 3
    assert find_knee([10.0, 10.0, 20.0, 30.0], [1.0, 2.0, 3.0, 3.1])[1] == (
        f"3 distinct tail latencies over the steps; a knee needs at least {MIN_KNEE_POINTS}"
    )


def test_knee_needs_rising_throughput() -> None:
    index, why = find_knee([10.0, 20.0, 30.0, 40.0], [100.0, 104.0, 108.0, 109.0])
    assert index is None
    assert why is not None
    assert "did not rise by 10%" in why


def test_knee_is_the_corner_of_a_hand_made_curve() -> None:
    # Throughput rises steeply with latency, then stalls: the corner is at 50 ms.
    lat = [10.0, 20.0, 30.0, 40.0, 50.0, 200.0, 400.0, 800.0]
    rps = [20.0, 45.0, 70.0, 90.0, 100.0, 101.0, 101.5, 102.0]
    index, why = find_knee(lat, rps)
    assert why is None
    assert index == 4
    # Input order does not matter: the index refers to the caller's order.
    order = [5, 0, 7, 3, 1, 6, 4, 2]
    index, _ = find_knee([lat[i] for i in order], [rps[i] for i in order])
    assert index is not None
    assert order[index] == 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1.0, 1e4), min_size=4, max_size=20, unique=True),
    st.lists(st.floats(0.1, 1e4), min_size=20, max_size=20),
    st.integers(-8, 8),
    st.integers(-8, 8),
)
def test_knee_does_not_move_when_latency_or_throughput_is_rescaled(
    latencies: list[float], throughputs: list[float], lat_exp: int, rps_exp: int
) -> None:
    """Kneedle normalizes both axes; powers of two rescale floats exactly."""
    rps = throughputs[: len(latencies)]
    base = find_knee(latencies, rps)
    scaled = find_knee([x * 2.0**lat_exp for x in latencies], [y * 2.0**rps_exp for y in rps])
    assert scaled[0] == base[0]


# -------------------------------------------------------------------- saturation


def test_open_loop_saturates_where_good_throughput_falls_behind_the_offered() -> None:
    def points(requests: int) -> list[CurvePoint]:
        return [
            pt(1, 50.0, 10.0, mode="open", offered=50.0, requests=requests),
            pt(2, 99.0, 11.0, mode="open", offered=100.0, requests=requests),
            pt(3, 140.0, 14.0, mode="open", offered=145.0, requests=requests),  # 96.6 %
            pt(4, 150.0, 900.0, mode="open", offered=200.0, requests=requests),
            pt(5, 147.0, 4000.0, mode="open", offered=250.0, requests=requests),
        ]

    strict = CapacitySettings(saturation_tolerance=0.02)
    assert find_saturation(points(100_000)) == (3, 150.0)  # the 5 % default
    assert find_saturation(points(100_000), strict) == (2, 150.0)
    # 1000 requests count to +-3.2 % (1/sqrt(n)): 3 sigma of it is no shortfall.
    assert find_saturation(points(1000), strict) == (3, 150.0)


def test_open_loop_saturation_credits_a_better_step_below() -> None:
    points = [
        pt(1, 100.0, 10.0, mode="open", offered=100.0),
        pt(2, 120.0, 500.0, mode="open", offered=150.0),
        pt(3, 110.0, 900.0, mode="open", offered=200.0),
    ]
    assert find_saturation(points) == (1, 120.0)
    points[0] = pt(1, 130.0, 10.0, mode="open", offered=130.0)
    assert find_saturation(points) == (1, 130.0)


def test_closed_loop_saturates_when_more_users_buy_little() -> None:
    points = [
        pt(1, 100.0, 10.0),
        pt(2, 190.0, 11.0),
        pt(3, 200.0, 20.0),
        pt(4, 201.0, 40.0),
    ]
    points = [replace(p, load=float(users)) for p, users in zip(points, (1, 2, 4, 8), strict=True)]
    # Step 3: doubling the users bought 5 %, under a tenth of the 100 % proportional gain.
    index, rps = find_saturation(points)
    assert index == 2
    assert rps == 201.0


def test_no_saturation_when_throughput_keeps_up() -> None:
    points = [replace(pt(i, 10.0 * i, 10.0), load=float(i)) for i in range(1, 6)]
    assert find_saturation(points) == (None, None)
    a = analyze_capacity(points)
    assert a.saturation_rps is None
    assert a.saturation_step is None
    assert any(n.startswith("saturation:") for n in a.notes)


# -------------------------------------------------------------- points from steps


def _step(mode: str = "open", **kw: object) -> StepStats:
    base: dict[str, object] = {
        "id": 3,
        "start": 100.0,
        "end": 120.0,
        "users": 8,
        "offered_rps": 60.0 if mode == "open" else None,
        "achieved_rps": 55.0,
        "requests": 1100,
        "failures": 100,
        "latency_ms": {"p50": 10.0, "p99": 40.0},
        "endpoints": (),
        "mode": mode,
        "extra_ms": {"corrected": {"p50": 12.0, "p99": 90.0}},
    }
    base.update(kw)
    return StepStats(**base)  # type: ignore[arg-type]


def test_a_point_carries_the_steps_measured_figures_and_its_judgement() -> None:
    j = StepJudgement(3, Outcome.SLO, ("p99<50ms: measured 90ms (fail)",))
    p = point_from_step(_step("open", warmup_s=5.0), j)
    assert p is not None
    assert (p.load, p.offered_rps, p.mode) == (60.0, 60.0, "open")
    # 1000 good of 1100 over the 15 s after the warm-up.
    assert (p.good_rps, p.achieved_rps) == (pytest.approx(1000 / 15), pytest.approx(1100 / 15))
    assert p.good_se == pytest.approx(math.sqrt(1000) / 15)
    assert p.latency_ms == {"p50": 12.0, "p99": 90.0}  # from the intended send time
    assert (p.passed, p.outcome, p.reasons) == (False, "slo", j.reasons)
    closed = point_from_step(_step("closed"))
    assert closed is not None
    assert (closed.load, closed.latency_ms["p99"], closed.passed) == (8.0, 40.0, None)


def test_partial_and_cooldown_steps_and_steps_ended_in_their_warm_up_are_no_points() -> None:
    assert point_from_step(_step(partial=True)) is None
    assert point_from_step(_step(label="cooldown")) is None
    assert point_from_step(_step(warmup_s=20.0)) is None
    assert len(points_from_steps([_step(), _step(partial=True)])) == 1


# ------------------------------------------------------------------- properties


def _ramp(p99s: list[float], rates: list[float]) -> list[StepStats]:
    steps = []
    for i, (p99, rate) in enumerate(zip(p99s, rates, strict=True), start=1):
        q = {"p25": p99 / 4, "p50": p99 / 3, "p75": p99 / 2}
        windows = tuple(
            WindowStats(10.0 * i + k, 10.0 * i + k + 1, round(rate), 0, q, index=k)
            for k in range(10)
        )
        steps.append(
            StepStats(
                id=i,
                start=10.0 * i,
                end=10.0 * i + 10,
                users=2**i,
                offered_rps=None,
                achieved_rps=rate,
                requests=round(rate * 10),
                failures=0,
                latency_ms={"p50": p99 / 3, "p99": p99},
                endpoints=(),
                windows=windows,
            )
        )
    return steps


@st.composite
def ramps(draw: st.DrawFn) -> list[StepStats]:
    n = draw(st.integers(2, 8))
    p99s = sorted(draw(st.lists(st.floats(1.0, 5000.0), min_size=n, max_size=n)))
    rates = sorted(draw(st.lists(st.floats(40.0, 400.0), min_size=n, max_size=n)))
    return _ramp(p99s, rates)


@settings(max_examples=80, deadline=None)
@given(ramps(), st.floats(1.0, 5000.0), st.floats(1.0, 5.0))
def test_capacity_never_decreases_when_an_slo_is_loosened(
    steps: list[StepStats], threshold: float, looser: float
) -> None:
    def capacity(ms: float) -> float:
        rule = JudgeRule(slos=(SLO.latency(99, ms),))
        judged = {s.id: judge_step(measure_step(s, 1.0), rule, final=True) for s in steps}
        return analyze_capacity(points_from_steps(steps, judged)).slo_rps or 0.0  # type: ignore[arg-type]

    assert capacity(threshold * looser) >= capacity(threshold)


@settings(max_examples=80, deadline=None)
@given(ramps(), st.floats(1.0, 5000.0))
def test_the_interval_holds_the_capacity(steps: list[StepStats], threshold: float) -> None:
    rule = JudgeRule(slos=(SLO.latency(99, threshold),))
    judged = {s.id: judge_step(measure_step(s, 1.0), rule, final=True) for s in steps}
    a = analyze_capacity(points_from_steps(steps, judged))  # type: ignore[arg-type]
    if a.slo_rps is None:
        assert a.slo_rps_ci is None
        return
    assert a.slo_rps_ci is not None
    low, high = a.slo_rps_ci
    assert low <= a.slo_rps
    assert high is None or a.slo_rps <= high


def test_a_low_step_that_could_not_be_judged_is_no_limit_when_a_higher_one_passed() -> None:
    too_few = replace(pt(1, 5.0, 20.0, passed=False), outcome="too-few")
    points = [too_few, pt(2, 40.0, 30.0, passed=True), pt(3, 60.0, 900.0, passed=False)]
    a = analyze_capacity(points)
    assert (a.slo_rps, a.last_passing_step, a.first_failing_step) == (40.0, 2, 3)
    # ...but above the last pass, or failing on an SLO, it is the limit.
    slo_fail = replace(pt(1, 5.0, 20.0, passed=False), outcome="slo")
    assert analyze_capacity([slo_fail, *points[1:]]).slo_rps is None
    assert analyze_capacity([pt(1, 40.0, 30.0, passed=True), too_few]).first_failing_step == 1
