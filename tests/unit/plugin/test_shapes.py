from __future__ import annotations

import argparse
from types import SimpleNamespace

from locust_ml.plugin.shapes import RampShape


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
