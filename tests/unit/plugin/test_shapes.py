from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest

from locust_ml.errors import ConfigError
from locust_ml.plugin.shapes import CapacitySearchShape, RampShape, effective_arrival


class Ramp(RampShape):
    start_users = 2
    step_users = 2
    max_users = 6
    step_seconds = 10.0
    spawn_rate = 5.0


def _shape(elapsed: list[float], **opts: str) -> Ramp:
    shape = Ramp()
    shape.get_run_time = lambda: elapsed[0]  # type: ignore[method-assign]
    shape.runner = SimpleNamespace(  # type: ignore[assignment]
        environment=SimpleNamespace(parsed_options=argparse.Namespace(**opts))
    )
    return shape


def test_library_shape_is_abstract_and_subclass_is_not() -> None:
    assert RampShape.abstract is True
    assert Ramp.abstract is False


def test_ticks_follow_the_class_plan_then_stop() -> None:
    t = [0.0]
    shape = _shape(t)
    seen = []
    for now in (0.0, 9.9, 10.0, 25.0, 29.99, 30.0):
        t[0] = now
        seen.append(shape.tick())
    assert seen == [(2, 5.0), (2, 5.0), (4, 5.0), (6, 5.0), (6, 5.0), None]


def test_options_override_class_attributes() -> None:
    t = [0.0]
    shape = _shape(t, ml_ramp_start="1", ml_ramp_factor="3", ml_ramp_max="9", ml_step_time="5s")
    assert shape.plan().levels() == (1, 3, 9)
    t[0] = 5.0
    assert shape.tick() == (3, 5.0)
    t[0] = 15.0
    assert shape.tick() is None


def test_reset_time_rereads_options() -> None:
    t = [0.0]
    shape = _shape(t)
    assert shape.plan().max_users == 6
    shape.runner.environment.parsed_options.ml_ramp_max = "8"
    shape.reset_time()
    assert shape.plan().max_users == 8


def test_additive_step_option_overrides_a_class_factor() -> None:
    class Doubling(RampShape):
        start_users = 1
        factor = 2.0
        max_users = 8

    shape = Doubling()
    shape.runner = SimpleNamespace(  # type: ignore[assignment]
        environment=SimpleNamespace(parsed_options=argparse.Namespace(ml_ramp_step="3"))
    )
    assert shape.plan().levels() == (1, 4, 7, 8)


def _ml_shape(cls: type, elapsed: list[float], **opts: object) -> object:
    shape = cls()
    shape.get_run_time = lambda: elapsed[0]  # type: ignore[attr-defined]
    shape.runner = SimpleNamespace(  # type: ignore[attr-defined]
        environment=SimpleNamespace(parsed_options=argparse.Namespace(**opts)), worker_count=3
    )
    return shape


class AnyShape(RampShape):
    start_users = 2
    max_users = 4
    step_users = 2
    step_seconds = 10.0


@pytest.mark.parametrize(
    ("opts", "at", "expected_ticks"),
    [
        # --ml-shape turns the locustfile's ramp into another test type
        (
            {
                "ml_shape": "spike",
                "ml_spike_baseline": "2",
                "ml_spike_factor": "3",
                "ml_spike_time": "5s",
                "ml_spike_recovery": "20s",
            },
            [0.0, 122.0, 140.0],
            [(2, 100.0), (6, 100.0), (2, 100.0)],
        ),
        (
            {"ml_shape": "soak", "ml_soak_load": "5", "ml_soak_time": "1h", "ml_soak_ramp": "0"},
            [0.0, 3599.0],
            [(5, 100.0), (5, 100.0)],
        ),
    ],
)
def test_ml_shape_switches_kind_by_option(
    opts: dict[str, str], at: list[float], expected_ticks: list[tuple[int, float]]
) -> None:
    t = [0.0]
    shape = _ml_shape(AnyShape, t, **opts)
    got = []
    for now in at:
        t[0] = now
        got.append(shape.tick())  # type: ignore[attr-defined]
    assert got == expected_ticks


def test_open_loop_keeps_a_steady_user_pool_and_exposes_the_rate() -> None:
    t = [0.0]
    shape = _ml_shape(
        AnyShape, t, ml_arrival="poisson", ml_ramp_start="20", ml_ramp_step="30", ml_ramp_max="50"
    )
    assert shape.tick() == (8, 100.0)  # type: ignore[attr-defined]
    assert shape.current_tick.offered_rps == 20.0  # type: ignore[attr-defined]
    t[0] = 10.0
    assert shape.tick() == (8, 100.0)  # type: ignore[attr-defined]
    assert shape.current_tick.offered_rps == 50.0  # type: ignore[attr-defined]
    assert shape.current_tick.mode == "open"  # type: ignore[attr-defined]


def test_capacity_search_shape_reads_the_observation() -> None:
    t = [0.0]
    seen = []
    shape = _ml_shape(CapacitySearchShape, t, ml_slo=["p99<100ms"], ml_search_start="40")
    shape.observe = lambda tick: seen.append(tick.step) or None  # type: ignore[attr-defined]
    first = shape.tick()  # type: ignore[attr-defined]
    assert first is not None
    assert shape.current_tick.offered_rps == 40.0  # type: ignore[attr-defined]
    t[0] = 1.0
    shape.tick()  # type: ignore[attr-defined]
    assert seen == [1]
    assert shape.search_result() is not None  # type: ignore[attr-defined]


def test_stages_shape_needs_a_file() -> None:
    t = [0.0]
    shape = _ml_shape(AnyShape, t, ml_shape="stages")
    with pytest.raises(ConfigError, match="--ml-stages"):
        shape.tick()  # type: ignore[attr-defined]


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


def test_every_soak_and_spike_phase_length_is_an_option() -> None:
    t = [0.0]
    soak = _ml_shape(
        AnyShape,
        t,
        ml_shape="soak",
        ml_soak_load="10",
        ml_soak_ramp="10s",
        ml_soak_time="30s",
        ml_soak_ramp_down="5s",
    )
    plan = soak.plan()  # type: ignore[attr-defined]
    assert plan.duration == 45.0
    assert [s.tick.label for s in plan.steps()][-1] == "ramp-down"
    no_down = _ml_shape(AnyShape, t, ml_shape="soak", ml_soak_time="30s", ml_soak_ramp_down="0")
    assert [s.tick.label for s in no_down.plan().steps()][-1] == "hold"  # type: ignore[attr-defined]
    spike = _ml_shape(
        AnyShape,
        t,
        ml_shape="spike",
        ml_spike_baseline="2",
        ml_spike_factor="4",
        ml_spike_baseline_time="15s",
        ml_spike_time="15s",
        ml_spike_recovery="15s",
    )
    assert [(s.start, s.end) for s in spike.plan().steps()] == [  # type: ignore[attr-defined]
        (0.0, 15.0),
        (15.0, 30.0),
        (30.0, 45.0),
    ]


def test_the_plan_is_described_with_its_total_length() -> None:
    t = [0.0]
    shape = _ml_shape(
        AnyShape,
        t,
        ml_shape="spike",
        ml_spike_baseline="2",
        ml_spike_factor="4",
        ml_spike_baseline_time="15s",
        ml_spike_time="15s",
        ml_spike_recovery="15s",
    )
    opts = shape.options()  # type: ignore[attr-defined]
    assert shape.describe(opts) == (  # type: ignore[attr-defined]
        "spike plan: baseline 2 users for 15 s, spike to 8 users for 15 s, recovery 15 s; "
        "total 45 s; closed loop"
    )
    assert shape.describe(opts, run_time=20.0).endswith(  # type: ignore[attr-defined]
        "(--run-time ends it at 20 s); closed loop"
    )
    ramp = _shape(t)
    assert (
        ramp.describe(ramp.options())
        == "ramp plan: 3 steps of 10 s, 2 users to 6 users; total 30 s; closed loop"
    )
    search = _ml_shape(CapacitySearchShape, t, ml_slo=["p99<100ms"], ml_search_max_time="10m")
    assert search.describe(search.options()) == (  # type: ignore[attr-defined]
        "capacity search: a saturation probe, then steps judged as soon as the statistics "
        "allow (at most 10 min in all); open loop, poisson"
    )
