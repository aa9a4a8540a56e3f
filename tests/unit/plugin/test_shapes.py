from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import pytest

from locust_ml.errors import ConfigError
from locust_ml.plugin.shapes import CapacitySearchShape, MLShape, RampShape, effective_arrival


class Ramp(RampShape):
    start = 2
    add = 2
    max = 6
    step = "10s"
    spawn_rate = 5.0


class AnyShape(RampShape):
    start = 2
    max = 4
    add = 2
    step = "10s"


def _shape(cls: type[MLShape], elapsed: list[float], *, run: Any = None, **opts: object) -> Any:
    shape = cls()
    shape.get_run_time = lambda: elapsed[0]  # type: ignore[method-assign]
    shape.runner = SimpleNamespace(  # type: ignore[assignment]
        environment=SimpleNamespace(parsed_options=argparse.Namespace(**opts), locust_ml=run),
        worker_count=3,
    )
    return shape


def test_library_shape_is_abstract_and_subclass_is_not() -> None:
    assert RampShape.abstract is True
    assert Ramp.abstract is False


def test_ticks_follow_the_class_plan_then_stop() -> None:
    t = [0.0]
    shape = _shape(Ramp, t)
    seen = []
    for now in (0.0, 9.9, 10.0, 25.0, 29.99, 30.0):
        t[0] = now
        seen.append(shape.tick())
    assert seen == [(2, 5.0), (2, 5.0), (4, 5.0), (6, 5.0), (6, 5.0), None]
    assert Ramp.spec_text() == "ramp:spawn_rate=5,start=2,add=2,max=6,step=10s"


def test_the_option_overrides_class_attributes() -> None:
    t = [0.0]
    shape = _shape(Ramp, t, ml_shape=":start=1,factor=3,max=9,step=5s")
    assert shape.plan().levels() == (1, 3, 9)
    t[0] = 5.0
    assert shape.tick() == (3, 5.0)
    t[0] = 15.0
    assert shape.tick() is None


def test_reset_time_rereads_options() -> None:
    t = [0.0]
    shape = _shape(Ramp, t)
    assert shape.plan().spec.max == 6
    shape.runner.environment.parsed_options.ml_shape = "ramp:max=8"
    shape.reset_time()
    assert shape.plan().spec.max == 8


def test_an_additive_step_given_overrides_a_class_factor() -> None:
    class Doubling(RampShape):
        start = 1
        factor = 2.0
        max = 8

    assert _shape(Doubling, [0.0], ml_shape=":add=3").plan().levels() == (1, 4, 7, 8)


@pytest.mark.parametrize(
    ("spec", "at", "expected_ticks"),
    [
        # --ml-shape turns the locustfile's ramp into another test type
        (
            "spike:base=2,factor=3,spike=5s,recovery=20s",
            [0.0, 122.0, 140.0],
            [(2, 100.0), (6, 100.0), (2, 100.0)],
        ),
        ("soak:load=5,hold=1h,ramp=0", [0.0, 3599.0], [(5, 100.0), (5, 100.0)]),
    ],
)
def test_ml_shape_switches_kind_by_option(
    spec: str, at: list[float], expected_ticks: list[tuple[int, float]]
) -> None:
    t = [0.0]
    shape = _shape(AnyShape, t, ml_shape=spec)
    got = []
    for now in at:
        t[0] = now
        got.append(shape.tick())
    assert got == expected_ticks


def test_open_loop_keeps_a_steady_user_pool_and_exposes_the_rate() -> None:
    t = [0.0]
    shape = _shape(AnyShape, t, ml_arrival="poisson", ml_shape="ramp:start=20,add=30,max=50")
    assert shape.tick() == (8, 100.0)
    assert shape.current_tick.offered_rps == 20.0
    t[0] = 10.0
    assert shape.tick() == (8, 100.0)
    assert shape.current_tick.offered_rps == 50.0
    assert shape.current_tick.mode == "open"
    assert _shape(AnyShape, t, ml_open_loop="senders=2").open_users() == 3  # one per worker


def test_capacity_search_shape_reads_the_runs_measurement() -> None:
    t = [0.0]
    seen: list[int] = []
    run = SimpleNamespace(measurement=lambda tick: seen.append(tick.step))
    shape = _shape(
        CapacitySearchShape, t, run=run, ml_slo=["p99<100ms"], ml_shape="capacity-search:start=40"
    )
    first = shape.tick()
    assert first is not None
    assert shape.current_tick.offered_rps == 40.0
    t[0] = 1.0
    shape.tick()
    assert seen == [1]
    assert shape.search_result() is not None


def test_stages_shape_needs_a_file() -> None:
    shape = _shape(AnyShape, [0.0], ml_shape="stages")
    with pytest.raises(ConfigError, match=r"stages:file=stages\.yaml"):
        shape.tick()


def test_effective_arrival_prefers_the_option_then_the_shape_class() -> None:
    env = SimpleNamespace(
        parsed_options=argparse.Namespace(),
        shape_class=CapacitySearchShape.__new__(CapacitySearchShape),
    )
    assert effective_arrival(env).kind == "poisson"
    env.parsed_options = argparse.Namespace(ml_arrival="constant")
    assert effective_arrival(env).kind == "constant"
    assert (
        effective_arrival(SimpleNamespace(parsed_options=None, shape_class=None)).kind == "closed"
    )


def test_every_soak_and_spike_phase_length_is_a_key() -> None:
    t = [0.0]
    soak = _shape(AnyShape, t, ml_shape="soak:load=10,ramp=10s,hold=30s,down=5s")
    plan = soak.plan()
    assert plan.duration == 45.0
    assert [s.tick.label for s in plan.steps()][-1] == "ramp-down"
    no_down = _shape(AnyShape, t, ml_shape="soak:hold=30s,down=0")
    assert [s.tick.label for s in no_down.plan().steps()][-1] == "hold"
    spike = _shape(
        AnyShape, t, ml_shape="spike:base=2,factor=4,base_time=15s,spike=15s,recovery=15s"
    )
    assert [(s.start, s.end) for s in spike.plan().steps()] == [
        (0.0, 15.0),
        (15.0, 30.0),
        (30.0, 45.0),
    ]


def test_the_plan_is_described_with_its_total_length() -> None:
    t = [0.0]
    shape = _shape(
        AnyShape, t, ml_shape="spike:base=2,factor=4,base_time=15s,spike=15s,recovery=15s"
    )
    opts = shape.options()
    assert shape.describe(opts) == (
        "spike plan: baseline 2 users for 15 s, spike to 8 users for 15 s, recovery 15 s; "
        "total 45 s; closed loop"
    )
    assert shape.describe(opts, run_time=20.0).endswith("(--run-time ends it at 20 s); closed loop")
    ramp = _shape(Ramp, t)
    assert (
        ramp.describe(ramp.options())
        == "ramp plan: 3 steps of 10 s, 2 users to 6 users; total 30 s; closed loop"
    )
    search = _shape(
        CapacitySearchShape, t, ml_slo=["p99<100ms"], ml_shape="capacity-search:max_time=10m"
    )
    assert search.describe(search.options()) == (
        "capacity search: a saturation probe, then steps judged as soon as the statistics "
        "allow (at most 10 min in all); open loop, poisson"
    )
