"""The early-stop strategy: which configuration runs next, and which are skipped."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locust_ml.errors import ConfigError
from locust_ml.sweep.configs import Config, grid, parse_param
from locust_ml.sweep.strategy import GRID, QUICK, Strategy, next_config, parse_strategy

BATCHES = ("1", "2", "4", "8", "16", "32")


def _walk(
    strategy: Strategy, configs: tuple[Config, ...], score: Callable[[Config], float | None]
) -> tuple[list[str], dict[str, str]]:
    """Run the planner to the end with a score per configuration; (run order, skipped)."""
    scores: dict[str, float | None] = {}
    order = []
    for _ in range(len(configs) + 1):
        plan = next_config(strategy, configs, scores)
        if plan.next is None:
            by_key = {c.key: c.label for c in configs}
            return order, {by_key[k]: why for k, why in plan.skipped.items()}
        order.append(plan.next.label)
        scores[plan.next.key] = score(plan.next)
    raise AssertionError("the planner did not end")


def test_grid_runs_everything_in_the_order_given() -> None:
    configs = grid([parse_param("batch=1,2"), parse_param("instances=1,2")])
    order, skipped = _walk(Strategy(), configs, lambda c: 1.0)
    assert order == [c.label for c in configs]
    assert skipped == {}


def test_quick_stops_once_the_score_falls_after_the_best() -> None:
    configs = grid([parse_param("batch=" + ",".join(BATCHES))])
    capacity = {"1": 20.0, "2": 35.0, "4": 60.0, "8": 70.0, "16": 65.0, "32": 80.0}
    order, skipped = _walk(Strategy(QUICK, "batch"), configs, lambda c: capacity[c.values["batch"]])
    # 16 fell below 8 (and 4 is below 8): 32 is never measured, even though it would win.
    assert order == ["batch=1", "batch=2", "batch=4", "batch=8", "batch=16"]
    assert list(skipped) == ["batch=32"]
    assert "batch=16 scored below batch=8" in skipped["batch=32"]


def test_quick_walks_each_combination_of_the_other_params_in_ascending_order() -> None:
    configs = grid([parse_param("batch=8,1,4,2"), parse_param("instances=1,2")])
    peak = {"1": 1, "2": 4}  # instances=1 peaks at batch 1, instances=2 at batch 4
    order, skipped = _walk(
        Strategy(QUICK, "batch"),
        configs,
        lambda c: -abs(float(c.values["batch"]) - peak[c.values["instances"]]),
    )
    assert order == [
        "batch=1 instances=1",
        "batch=2 instances=1",
        "batch=1 instances=2",
        "batch=2 instances=2",
        "batch=4 instances=2",
        "batch=8 instances=2",
    ]
    assert set(skipped) == {"batch=4 instances=1", "batch=8 instances=1"}


def test_a_failed_configuration_counts_as_a_fall() -> None:
    configs = grid([parse_param("batch=1,2,4,8")])
    order, skipped = _walk(
        Strategy(QUICK, "batch"), configs, lambda c: None if c.values["batch"] == "4" else 1.0
    )
    assert order == ["batch=1", "batch=2", "batch=4"]
    assert list(skipped) == ["batch=8"]


def test_nothing_measured_yet_never_stops() -> None:
    configs = grid([parse_param("batch=1,2,4")])
    order, skipped = _walk(Strategy(QUICK, "batch"), configs, lambda c: None)
    assert len(order) == 3
    assert skipped == {}


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=8))
def test_quick_never_skips_the_best_of_a_unimodal_curve(raw: list[float]) -> None:
    # A unimodal curve: rising strictly to a peak, then falling strictly.
    values = sorted(set(raw))
    if len(values) < 2:
        return
    peak = len(values) // 2
    scores = values[: peak + 1] + sorted(values[: peak + 1], reverse=True)[1:]
    configs = grid([parse_param("batch=" + ",".join(str(i) for i in range(len(scores))))])
    order, _ = _walk(Strategy(QUICK, "batch"), configs, lambda c: scores[int(c.values["batch"])])
    assert f"batch={peak}" in order
    assert len(order) <= peak + 2


def test_parse_strategy_picks_or_checks_the_numeric_parameter() -> None:
    one = grid([parse_param("batch=1,2"), parse_param("gpu=t4,a10")])
    assert parse_strategy("grid", one).kind == GRID
    assert parse_strategy("quick", one) == Strategy(QUICK, "batch")
    two = grid([parse_param("batch=1,2"), parse_param("instances=1,2")])
    with pytest.raises(ConfigError, match="batch, instances are numeric; name the one"):
        parse_strategy("quick", two)
    assert parse_strategy("quick:instances", two) == Strategy(QUICK, "instances")
    with pytest.raises(ConfigError, match="gpu=t4 is not a number"):
        parse_strategy("quick:gpu", one)
    with pytest.raises(ConfigError, match="'size' is not a parameter"):
        parse_strategy("quick:size", one)
    with pytest.raises(ConfigError, match="expected grid, quick"):
        parse_strategy("random", one)
