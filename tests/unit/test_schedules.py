from __future__ import annotations

import pytest

from locust_ml.errors import ConfigError
from locust_ml.schedules import RampPlan, Tick


@pytest.mark.parametrize(
    ("kwargs", "levels"),
    [
        ({"start_users": 2, "step_users": 3, "max_users": 10}, (2, 5, 8, 10)),
        ({"start_users": 1, "factor": 2.0, "max_users": 16}, (1, 2, 4, 8, 16)),
        ({"start_users": 1, "factor": 1.1, "max_users": 4}, (1, 2, 3, 4)),
        ({"start_users": 5, "max_users": 5}, (5,)),
        ({"start_users": 3, "factor": 3.0, "max_users": 20}, (3, 9, 20)),
    ],
)
def test_levels(kwargs: dict[str, object], levels: tuple[int, ...]) -> None:
    assert RampPlan(step_seconds=10, **kwargs).levels() == levels  # type: ignore[arg-type]


def test_at_walks_the_steps_then_stops() -> None:
    plan = RampPlan(start_users=1, step_users=1, max_users=3, step_seconds=10, spawn_rate=5)
    assert plan.at(0.0) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(9.999) == Tick(step=1, users=1, spawn_rate=5)
    assert plan.at(10.0) == Tick(step=2, users=2, spawn_rate=5)
    assert plan.at(29.9) == Tick(step=3, users=3, spawn_rate=5)
    assert plan.at(30.0) is None
    assert plan.duration == 30.0
    assert plan.at(-1.0) == Tick(step=1, users=1, spawn_rate=5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_users": 0}, "start"),
        ({"start_users": 5, "max_users": 2}, "max"),
        ({"step_seconds": 0}, "duration"),
        ({"step_users": 0}, "step"),
        ({"factor": 1.0}, "factor"),
        ({"spawn_rate": 0}, "spawn"),
    ],
)
def test_invalid_ramps_raise_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RampPlan(**kwargs)  # type: ignore[arg-type]
