from __future__ import annotations

import pytest

from locust_ml.errors import ConfigError
from locust_ml.shapes import (
    KINDS,
    PRESETS,
    PlanContext,
    RampSpec,
    SearchSpec,
    SoakSpec,
    parse_shape,
    resolve_spec,
    spec_text,
)


class Ramp:
    """A locustfile's shape class: its attributes are its kind's keys."""

    start = 1
    factor = 2.0
    max = 16
    step = "20s"
    warmup = 2.0


def test_the_class_attributes_are_the_keys() -> None:
    spec = resolve_spec(None, "ramp", Ramp)
    assert spec == RampSpec(start=1, factor=2.0, max=16, step=20.0, warmup=2.0)
    assert spec_text(spec) == "ramp:warmup=2s,start=1,factor=2,max=16,step=20s"


def test_given_keys_go_on_top_of_the_class() -> None:
    assert resolve_spec(parse_shape("ramp:max=32"), "ramp", Ramp) == RampSpec(
        start=1, factor=2.0, max=32, step=20.0, warmup=2.0
    )
    # Keys alone: the locustfile's own kind.
    assert resolve_spec(parse_shape(":step=5s"), "ramp", Ramp).step == 5.0


def test_another_kind_starts_from_its_defaults_with_the_common_keys() -> None:
    spec = resolve_spec(parse_shape("soak:load=20"), "ramp", Ramp)
    assert spec == SoakSpec(load=20, warmup=2.0)


def test_presets_are_a_kind_with_keys_and_take_more() -> None:
    choice = parse_shape("soak-1h:load=20")
    assert choice.kind == "soak"
    assert dict(choice.given) == {"hold": 3600.0, "ramp": 120.0, "load": 20.0}
    for name in PRESETS:
        assert parse_shape(name).kind in KINDS


def test_a_bare_value_is_the_stages_file() -> None:
    assert dict(parse_shape("stages:plan.yaml").given) == {"file": "plan.yaml"}


def test_every_kind_builds_its_plan_from_defaults() -> None:
    for kind, cls in KINDS.items():
        if kind == "stages":
            continue
        plan = cls().plan(PlanContext())
        assert plan.longest > 0
        assert plan.describe()


def test_search_keys_reach_the_search() -> None:
    spec = resolve_spec(parse_shape("capacity-search:precision=0.05,max_time=5m"), "ramp", Ramp)
    assert isinstance(spec, SearchSpec)
    config = spec.plan(PlanContext(mode="open")).config
    assert (config.precision, config.max_time, config.max_step) == (0.05, 300.0, 30.0)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("sideways", "unknown shape 'sideways'"),
        ("ramp:steps=3", "ramp has no key 'steps'; its keys are warmup, spawn_rate, window, start"),
        ("ramp:max=lots", "ramp max: expected a number"),
        ("ramp:max=10,max=20", "'max' is given twice"),
        ("ramp:max", "'max' in 'ramp:max' is not KEY=VALUE"),
        ("soak:hold=0", "soak hold: expected a duration > 0"),
        ("spike:recovery=0", "spike recovery: expected a duration > 0"),
        ("capacity-search:precision=0", "capacity-search precision: must be > 0"),
        ("capacity-search:precision=1.5", "expected a fraction in \\(0, 1\\)"),
        (":nosuch=1", "no shape kind has a key 'nosuch'"),
    ],
)
def test_bad_shapes_are_one_line_naming_the_key(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_shape(text)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("--ml-shape: ")


def test_keys_alone_must_fit_the_locustfiles_kind() -> None:
    with pytest.raises(ConfigError, match="the ramp shape has no key 'hold'"):
        resolve_spec(parse_shape(":hold=1h"), "ramp", Ramp)


def test_zero_is_never_a_silent_default() -> None:
    # Issue 15: `--ml-spike-recovery 0` became 300 s (an `or` fallback).
    with pytest.raises(ConfigError, match="recovery"):
        parse_shape("spike:recovery=0")
    assert resolve_spec(parse_shape("soak:down=0"), "ramp", Ramp).down == 0.0  # type: ignore[attr-defined]
