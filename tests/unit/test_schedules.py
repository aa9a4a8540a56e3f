from __future__ import annotations

import itertools

import pytest

from locust_ml.schedules import Plan, Tick, format_seconds, load_text, pool_size
from locust_ml.shapes import PlanContext, RampSpec, SoakSpec, SpikeSpec, Stage, StagesPlan


def test_steps_cover_every_fixed_plan_without_gaps() -> None:
    plans: list[Plan] = [
        SoakSpec(load=7, ramp=35, hold=60, down=10).plan(PlanContext()),
        SpikeSpec(base=3.5, factor=4).plan(PlanContext("open")),
        StagesPlan((Stage(1.5, users=1), Stage(2.5, users=3))),
        RampSpec(start=1, max=5, step=7).plan(PlanContext()),
    ]
    for plan in plans:
        steps = plan.steps()  # type: ignore[attr-defined]
        assert steps[0].start == 0.0
        assert all(a.end == b.start for a, b in itertools.pairwise(steps))
        assert steps[-1].end == plan.longest
        assert [s.tick.step for s in steps] == list(range(1, len(steps) + 1))
        assert plan.at(plan.longest) is None


def test_tick_helpers() -> None:
    assert Tick.of(3, 40, "open", 10.0, pool_users=None) == Tick(3, 40, 10.0, 40.0, "open")
    assert Tick.of(3, 40, "closed", 10.0, 2.0, "x") == Tick(3, 40, 10.0, None, "closed", 2.0, "x")
    assert Tick(1, 5, 1.0).load == 5.0
    assert Tick(1, 5, 1.0, 12.5, "open").load == 12.5
    assert Tick.probe(2, 8, 100.0).driven
    assert pool_size(0.01) == 1
    assert pool_size(99.5) == 100


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "0.25 s"), (45, "45 s"), (60, "1 min"), (114, "1 min 54 s"), (3600, "1 h")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_load_text() -> None:
    assert [load_text(1, "closed"), load_text(8, "closed"), load_text(2.5, "open")] == [
        "1 user",
        "8 users",
        "2.5 req/s",
    ]
