from __future__ import annotations

import pytest

from locust_ml.errors import ConfigError
from locust_ml.shapes import PlanContext, SoakPlan, SoakSpec
from tests.shape_walk import walk


def test_ramp_hold_ramp_down_with_warmup_on_the_hold() -> None:
    spec = SoakSpec(load=30, ramp=60, hold=3600, down=30, warmup=120)
    plan = SoakPlan(spec, ramp_up_steps=2, ramp_down_steps=2)
    assert walk(plan, [0, 29.9, 30, 60, 3659.9, 3660, 3689.9, 3690]) == [
        (1, 10, None, "closed", 0.0, "ramp-up"),
        (1, 10, None, "closed", 0.0, "ramp-up"),
        (2, 20, None, "closed", 0.0, "ramp-up"),
        (3, 30, None, "closed", 120, "hold"),
        (3, 30, None, "closed", 120, "hold"),
        (4, 20, None, "closed", 0.0, "ramp-down"),
        (5, 10, None, "closed", 0.0, "ramp-down"),
        None,
    ]


def test_open_loop_without_a_ramp_down() -> None:
    spec = SoakSpec(load=90, ramp=20, hold=7200, down=0)
    plan = SoakPlan(spec, "open", pool_users=50, ramp_up_steps=2, ramp_down_steps=0)
    assert walk(plan, [0, 10, 20, 7219.9, 7220]) == [
        (1, 50, 30.0, "open", 0.0, "ramp-up"),
        (2, 50, 60.0, "open", 0.0, "ramp-up"),
        (3, 50, 90.0, "open", 0.0, "hold"),
        (3, 50, 90.0, "open", 0.0, "hold"),
        None,
    ]


def test_closed_loop_rounding_merges_repeated_levels() -> None:
    plan = SoakPlan(SoakSpec(load=2, ramp=40, hold=100, down=0), ramp_up_steps=4, ramp_down_steps=0)
    # levels 0.4, 0.8, 1.2, 1.6 -> 1, 1, 1, 2 users
    assert walk(plan, [0, 29.9, 30, 139.9, 140]) == [
        (1, 1, None, "closed", 0.0, "ramp-up"),
        (1, 1, None, "closed", 0.0, "ramp-up"),
        (2, 2, None, "closed", 0.0, "hold"),
        (2, 2, None, "closed", 0.0, "hold"),
        None,
    ]


def test_the_spec_turns_ramps_off_with_zero() -> None:
    plan = SoakSpec(load=4, ramp=0, hold=30, down=0).plan(PlanContext())
    assert [s.tick.label for s in plan.steps()] == ["hold"]
    assert plan.duration == 30.0


@pytest.mark.parametrize(
    ("spec", "mode", "match"),
    [
        (SoakSpec(load=0), "closed", "soak load must be > 0"),
        (SoakSpec(load=-5), "open", "soak load must be > 0 requests/s"),
        (SoakSpec(load=2.5), "closed", "whole number of users"),
        (SoakSpec(hold=0), "closed", "hold must be > 0"),
        (SoakSpec(hold=60, warmup=60), "closed", "warm-up"),
    ],
)
def test_impossible_soaks(spec: SoakSpec, mode: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        spec.plan(PlanContext(mode=mode))  # type: ignore[arg-type]


def test_ramp_steps_and_durations_must_agree() -> None:
    with pytest.raises(ConfigError, match="ramp-up"):
        SoakPlan(SoakSpec(ramp=60), ramp_up_steps=0)
    with pytest.raises(ConfigError, match="ramp-down"):
        SoakPlan(SoakSpec(down=0), ramp_down_steps=2)


def test_describe_says_the_total_length() -> None:
    assert SoakSpec(load=4, ramp=10, hold=30, down=0).plan(PlanContext()).describe() == (
        "soak plan: 4 users; 3 ramp-up steps over 10 s, hold 30 s; total 40 s"
    )
    assert SoakSpec(load=40, hold=4 * 3600).plan(PlanContext()).describe() == (
        "soak plan: 40 users; 5 ramp-up steps over 5 min, hold 4 h, ramp-down 1 min; "
        "total 4 h 6 min"
    )
