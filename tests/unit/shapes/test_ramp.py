from __future__ import annotations

import pytest

from locust_ml.errors import ConfigError
from locust_ml.schedules import Tick
from locust_ml.shapes import PlanContext, RampPlan, RampSpec
from tests.shape_walk import walk

CLOSED = PlanContext()
OPEN = PlanContext(mode="open")


@pytest.mark.parametrize(
    ("keys", "levels"),
    [
        ({"start": 2, "add": 3, "max": 10}, (2, 5, 8, 10)),
        ({"start": 1, "factor": 2.0, "max": 16}, (1, 2, 4, 8, 16)),
        ({"start": 1, "factor": 1.1, "max": 4}, (1, 2, 3, 4)),
        ({"start": 5, "max": 5}, (5,)),
        ({"start": 3, "factor": 3.0, "max": 20}, (3, 9, 20)),
        # A last step under a quarter of a regular one: the step before goes to the max.
        ({"start": 8, "factor": 1.5, "max": 64}, (8, 12, 18, 27, 41, 64)),
        ({"start": 1, "factor": 2.0, "max": 20}, (1, 2, 4, 8, 16, 20)),
        ({"start": 10, "add": 10, "max": 42}, (10, 20, 30, 42)),
        ({"start": 10, "add": 10, "max": 43}, (10, 20, 30, 40, 43)),
        ({"start": 1, "factor": 2.0, "max": 3}, (1, 2, 3)),
    ],
)
def test_levels(keys: dict[str, float], levels: tuple[int, ...]) -> None:
    assert RampSpec(step=10, **keys).plan(CLOSED).levels() == levels


def test_at_walks_the_steps_then_stops() -> None:
    plan = RampSpec(start=1, add=1, max=3, step=10, spawn_rate=5).plan(CLOSED)
    assert plan.at(0.0) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(9.999) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(10.0) == Tick(step=2, users=2, spawn_rate=5)
    assert plan.at(29.9) == Tick(step=3, users=3, spawn_rate=5)
    assert plan.at(30.0) is None
    assert plan.duration == 30.0
    assert plan.at(-1.0) == Tick(step=1, users=1, spawn_rate=5)


def test_open_ramp_offers_rates_and_a_user_pool() -> None:
    plan = RampSpec(start=10, add=15, max=50, step=20, warmup=5).plan(OPEN)
    assert plan.loads() == (10.0, 25.0, 40.0, 50.0)
    assert plan.levels() == (10, 25, 40, 50)  # Little's law at 1 s per request
    assert plan.duration == 80.0
    assert walk(plan, [0, 19.9, 20, 79.9, 80]) == [
        (1, 10, 10.0, "open", 5, ""),
        (1, 10, 10.0, "open", 5, ""),
        (2, 25, 25.0, "open", 5, ""),
        (4, 50, 50.0, "open", 5, ""),
        None,
    ]
    assert RampSpec(start=10, max=41, factor=2).plan(OPEN).loads() == (10.0, 20.0, 41.0)
    assert RampSpec(start=10, max=50, factor=2).plan(OPEN).loads() == (10.0, 20.0, 40.0, 50.0)
    fixed = RampSpec(start=5, max=40, factor=2).plan(PlanContext("open", pool_users=3))
    assert fixed.loads() == (5.0, 10.0, 20.0, 40.0)
    assert fixed.levels() == (3, 3, 3, 3)


def test_closed_ramp_keeps_its_ticks() -> None:
    plan = RampSpec(start=1, max=2, step=10, warmup=2).plan(CLOSED)
    assert plan.at(15.0) == Tick(step=2, users=2, spawn_rate=100.0, warmup_s=2)
    assert plan.at(15.0, None) == plan.at(15.0)
    assert [s.start for s in plan.steps()] == [0.0, 10.0]


@pytest.mark.parametrize(
    ("spec", "context", "match"),
    [
        (RampSpec(start=0), CLOSED, "ramp start must be > 0 users"),
        (RampSpec(start=5, max=2), CLOSED, "ramp max"),
        (RampSpec(step=0), CLOSED, "duration"),
        (RampSpec(add=0.5), CLOSED, "ramp add must be a whole number"),
        (RampSpec(start=1.5), CLOSED, "whole number of users"),
        (RampSpec(factor=1.0), CLOSED, "factor"),
        (RampSpec(spawn_rate=0), CLOSED, "spawn"),
        (RampSpec(start=-1), OPEN, "ramp start must be > 0 requests/s"),
        (RampSpec(start=10, max=5), OPEN, "ramp max"),
        (RampSpec(step=10, warmup=10), CLOSED, "warm-up"),
        (RampSpec(), PlanContext(pool_users=0), "pool users"),
        (RampSpec(start=0.001, add=0.001, max=1e6), OPEN, "steps"),
        (RampSpec(), PlanContext(mode="sideways"), "mode must be"),  # type: ignore[arg-type]
    ],
)
def test_impossible_ramps_are_one_clear_config_error(
    spec: RampSpec, context: PlanContext, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        spec.plan(context)
    assert "\n" not in str(info.value)


def test_an_add_given_wins_over_the_locustfiles_factor() -> None:
    base = RampSpec(factor=2.0, max=16)
    assert RampSpec.merged(base, {"add": 4.0}) == RampSpec(add=4.0, max=16)
    assert RampSpec.merged(base, {"max": 32.0}) == RampSpec(factor=2.0, max=32)


def test_describe() -> None:
    plan = RampSpec(start=10, max=50, factor=2.0).plan(OPEN)
    assert isinstance(plan, RampPlan)
    assert plan.describe() == "ramp plan: 4 steps of 30 s, 10 req/s to 50 req/s; total 2 min"
