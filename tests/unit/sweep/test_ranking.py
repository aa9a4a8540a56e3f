"""The ranking rule, the lead and its intervals, the Pareto front, the recommendation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locust_ml.options import Decisions
from locust_ml.sweep.configs import Config
from locust_ml.sweep.ranking import (
    BY_CAPACITY,
    BY_COST,
    cost_interval,
    lead,
    pareto_front,
    rank,
    recommendation,
)
from locust_ml.sweep.result import ConfigResult, Measurement, decide, failed, measured, skipped


def _result(
    name: str,
    cap: float | None,
    *,
    verdict: str = "PASS",
    ci: tuple[float, float | None] | None = None,
    price: float | None = None,
    p99: float = 100.0,
) -> ConfigResult:
    if ci is None and cap is not None:
        ci = (cap * 0.95, cap * 1.05)
    m = Measurement(
        verdict=verdict,
        verdict_reasons=("step 3 had too few requests",) if verdict == "INVALID" else (),
        slo_rps=cap,
        slo_rps_ci=ci if cap is not None else None,
        latency_ms={"p99": p99},
        bound="bracketed",
    )
    return measured(Config((("c", name),), price), m)


def _decided(results: list[ConfigResult], **kw: float) -> list[ConfigResult]:
    return [decide(r, Decisions(**kw)) for r in results]  # type: ignore[arg-type]


def test_without_prices_the_most_capacity_per_replica_wins() -> None:
    results = _decided([_result("a", 50.0), _result("b", 80.0), _result("c", 60.0)])
    r = rank(results, BY_CAPACITY)
    assert [x.label for x in r.ranked] == ["c=b", "c=c", "c=a"]
    assert r.best is results[1]


def test_with_prices_the_cheapest_per_request_wins_even_if_slower() -> None:
    results = _decided([_result("fast", 400.0, price=3.67), _result("slow", 40.0, price=0.2)])
    r = rank(results, BY_COST)
    assert [x.label for x in r.ranked] == ["c=slow", "c=fast"]
    assert results[1].cost_per_million == pytest.approx(0.2 / (40 * 3600) * 1e6)


def test_invalid_failed_no_capacity_and_skipped_are_shown_never_chosen() -> None:
    c = Config((("c", "x"),))
    results = _decided(
        [
            _result("invalid", 500.0, verdict="INVALID"),
            _result("fail", None, verdict="FAIL"),
            failed(c, "the server exited with status 1 before it was ready"),
            skipped(Config((("c", "y"),)), "early stop"),
            _result("ok", 10.0),
        ]
    )
    r = rank(results, BY_CAPACITY)
    assert [x.label for x in r.ranked] == ["c=ok"]
    reasons = {res.label: why for res, why in r.others}
    assert reasons["c=invalid"].startswith("INVALID run: step 3")
    assert "no SLO capacity" in reasons["c=fail"]
    assert reasons["c=x"] == "the server exited with status 1 before it was ready"
    assert reasons["c=y"] == "early stop"


def test_a_configuration_that_fails_its_min_capacity_is_not_chosen() -> None:
    results = _decided([_result("below", 30.0, verdict="FAIL"), _result("ok", 20.0)])
    assert rank(results, BY_CAPACITY).best is results[1]


def test_ties_keep_the_order_given() -> None:
    results = _decided([_result("a", 50.0), _result("b", 50.0)])
    assert rank(results, BY_CAPACITY).best is results[0]


def test_the_lead_says_whether_the_intervals_overlap() -> None:
    apart = _decided([_result("a", 100.0, ci=(95.0, 105.0)), _result("b", 80.0, ci=(75.0, 85.0))])
    gap = lead(rank(apart, BY_CAPACITY))
    assert gap is not None
    assert gap.ratio == pytest.approx(0.25)
    assert gap.overlap is False
    close = _decided([_result("a", 100.0, ci=(90.0, None)), _result("b", 95.0, ci=(85.0, 99.0))])
    gap = lead(rank(close, BY_CAPACITY))
    assert gap is not None
    assert gap.overlap is True


def test_a_cost_interval_maps_the_capacity_interval_through_the_cost_formula() -> None:
    r = decide(_result("a", 100.0, ci=(80.0, 125.0), price=3.6), Decisions())
    low, high = cost_interval(r) or (0.0, 0.0)
    assert low == pytest.approx(3.6 / (125 * 3600) * 1e6)
    assert high == pytest.approx(3.6 / (80 * 3600) * 1e6)
    open_top = decide(_result("b", 100.0, ci=(80.0, None), price=3.6), Decisions())
    assert (cost_interval(open_top) or (1.0, 1.0))[0] == 0.0


def test_the_recommendation_is_one_paragraph_with_plan_cost_and_lead() -> None:
    results = _decided(
        [
            _result("b8", 262.4, ci=(255.0, 270.1), price=1.2),
            _result("b16", 230.0, ci=(220.0, 240.0), price=1.2),
        ],
        target_rps=1000.0,
    )
    text = recommendation(rank(results, BY_COST))
    assert "\n" not in text
    assert text.startswith("Recommended: c=b8. SLO capacity 262.4 req/s per replica")
    assert "(95% interval 255.0-270.1)" in text
    assert "6 replicas for 1000 req/s" in text  # ceil(1000 / (262.4 x 0.8)) + 1
    assert "$1.27 per 1M requests at $1.20/h" in text
    # 1 - (1.2 / 262.4) / (1.2 / 230.0) = 12 % less
    assert "costs 12% less per 1M requests than the runner-up, c=b16 ($1.45)" in text
    assert "do not overlap" in text
    assert "the lead is real" in text


def test_overlapping_intervals_are_called_out_as_within_the_uncertainty() -> None:
    results = _decided([_result("a", 100.0, ci=(90.0, 110.0)), _result("b", 98.0)])
    text = recommendation(rank(results, BY_CAPACITY))
    assert "2% more than the runner-up" in text
    assert "overlap (90.0-110.0 vs 93.1-102.9)" in text
    assert "within the measurement's uncertainty" in text


def test_no_eligible_configuration_means_no_recommendation() -> None:
    results = _decided([_result("a", 100.0, verdict="INVALID")])
    assert recommendation(rank(results, BY_CAPACITY)).startswith("No recommendation")
    single = _decided([_result("a", 100.0)])
    assert "no runner-up" in recommendation(rank(single, BY_CAPACITY))


def test_pareto_front_keeps_what_no_other_beats_on_both_axes() -> None:
    points = [(100.0, 50.0), (80.0, 30.0), (90.0, 60.0), None, (100.0, 50.0), (60.0, 30.0)]
    # (90, 60) is beaten by (100, 50); (60, 30) by (80, 30); equal points are both kept.
    assert pareto_front(points) == {0, 1, 4}


@given(
    st.lists(
        st.tuples(st.floats(0, 1e4, allow_nan=False), st.floats(0, 1e4, allow_nan=False)),
        min_size=1,
        max_size=12,
    )
)
def test_the_front_is_never_empty_and_holds_the_best_on_each_axis(
    points: list[tuple[float, float]],
) -> None:
    front = pareto_front(points)
    assert front
    top = max(p[0] for p in points)
    assert any(points[i][0] == top for i in front)
    low = min(p[1] for p in points)
    assert any(points[i][1] == low for i in front)
    for i in front:
        assert not any(
            q[0] >= points[i][0] and q[1] <= points[i][1] and q != points[i] for q in points
        )


def test_a_failed_configuration_costs_nothing_and_needs_no_replicas() -> None:
    r = decide(failed(Config(()), "no"), Decisions(price_per_hour=1.0, target_rps=10.0))
    assert r.cost_per_million is None
    assert r.replicas is None
    assert r.price_per_hour == 1.0
    assert math.isclose(r.target_rps or 0.0, 10.0)
