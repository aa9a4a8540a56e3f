from __future__ import annotations

import pytest

from locust_ml.errors import ConfigError
from locust_ml.shapes import PlanContext, SpikeSpec
from tests.shape_walk import walk


def test_baseline_spike_recovery_closed_loop() -> None:
    spec = SpikeSpec(base=10, factor=5, base_time=60, spike=30, recovery=120, warmup=10)
    assert walk(spec.plan(PlanContext()), [0, 59.9, 60, 89.9, 90, 209.9, 210]) == [
        (1, 10, None, "closed", 10, "baseline"),
        (1, 10, None, "closed", 10, "baseline"),
        (2, 50, None, "closed", 0.0, "spike"),
        (2, 50, None, "closed", 0.0, "spike"),
        (3, 10, None, "closed", 0.0, "recovery"),
        (3, 10, None, "closed", 0.0, "recovery"),
        None,
    ]


def test_open_loop_rates_jump() -> None:
    spec = SpikeSpec(base=20, factor=2.5, base_time=5, spike=5, recovery=5)
    assert walk(spec.plan(PlanContext("open")), [0, 5, 10, 15]) == [
        (1, 20, 20.0, "open", 0.0, "baseline"),
        (2, 50, 50.0, "open", 0.0, "spike"),
        (3, 20, 20.0, "open", 0.0, "recovery"),
        None,
    ]


def test_spawn_rates_and_peaks() -> None:
    spike = SpikeSpec(base=3, factor=2.5, spawn_rate=50).plan(PlanContext())
    assert spike.peak == 8.0  # round(7.5): users are whole
    assert {s.tick.spawn_rate for s in spike.steps()} == {50.0}
    assert SpikeSpec(base=3, factor=2.5).plan(PlanContext("open")).peak == 7.5


@pytest.mark.parametrize(
    ("spec", "mode", "match"),
    [
        (SpikeSpec(factor=1.0), "closed", "factor must be > 1"),
        (SpikeSpec(base=1, factor=1.2), "closed", "rounds to no extra user"),
        (SpikeSpec(spike=0), "closed", "spike must be > 0"),
        (SpikeSpec(base=-1), "open", "baseline must be > 0"),
        (SpikeSpec(spawn_rate=0), "closed", "spawn rate"),
    ],
)
def test_impossible_spikes(spec: SpikeSpec, mode: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        spec.plan(PlanContext(mode=mode))  # type: ignore[arg-type]


def test_describe() -> None:
    spec = SpikeSpec(base=20, factor=5, base_time=60, spike=30, recovery=120)
    assert spec.plan(PlanContext("open")).describe() == (
        "spike plan: baseline 20 req/s for 1 min, spike to 100 req/s for 30 s, "
        "recovery 2 min; total 3 min 30 s"
    )
