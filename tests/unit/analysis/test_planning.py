"""Replicas, cost and utilization at capacity: exact formulas, exact tests."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.planning import (
    GENERATOR_CPU_LIMIT,
    HIGH_UTILIZATION,
    LOW_UTILIZATION,
    UtilizationAt,
    cost_per_million,
    plan_replicas,
    replicas_needed,
    utilization_at,
)
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.errors import ConfigError

# ---------------------------------------------------------------------- replicas


@pytest.mark.parametrize(
    ("target", "capacity", "utilization", "redundancy", "replicas"),
    [
        (1000, 120, 0.8, 1, 12),  # 1000 / 96 = 10.4 -> 11, + 1 spare
        (100, 125, 0.8, 1, 2),  # 100 / 100 = 1 exactly: 1 replica + 1 spare
        (100, 125, 0.8, 0, 1),
        (9, 1.2, 0.75, 0, 10),  # 9 / 0.9 is 10.000000000000002 in floats
        (14, 0.7, 0.8, 2, 27),  # 14 / 0.56 is 25.000000000000004 in floats
        (300, 125, 0.8, 1, 4),  # 300 / 100 = 3 exactly
        (301, 125, 0.8, 1, 5),  # just over: one more
        (0, 50, 0.8, 1, 1),  # no traffic: only the spare
        (0.5, 50, 1.0, 0, 1),  # any traffic needs a replica
        (500, 100, 1.0, 0, 5),
    ],
)
def test_replicas_needed_exact_cases(
    target: float, capacity: float, utilization: float, redundancy: int, replicas: int
) -> None:
    assert replicas_needed(target, capacity, utilization, redundancy) == replicas


def test_the_float_edge_does_not_add_a_replica() -> None:
    assert math.ceil(100 / (125 * 0.8)) == 1
    assert replicas_needed(100, 125, 0.8, 0) == 1
    assert math.ceil(9 / (1.2 * 0.75)) == 11  # what a bare ceil would say
    assert replicas_needed(9, 1.2, 0.75, 0) == 10  # 9 / 0.9 is exactly 10


def test_defaults_are_80_percent_and_one_spare() -> None:
    assert replicas_needed(1000, 120) == 12


def test_plan_carries_its_formula() -> None:
    plan = plan_replicas(1000, 120, 0.8, 1)
    assert (plan.target_rps, plan.per_replica_rps, plan.target_utilization) == (1000, 120, 0.8)
    assert (plan.redundancy, plan.replicas) == (1, 12)
    assert plan.formula == "ceil(1000 / (120.00 x 0.8)) + 1 = 11 + 1 = 12"
    assert plan_replicas(0, 50, 0.5, 2).formula == "ceil(0 / (50.00 x 0.5)) + 2 = 0 + 2 = 2"


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"capacity": 0.0}, "capacity per replica"),
        ({"capacity": -5.0}, "capacity per replica"),
        ({"capacity": math.nan}, "capacity per replica"),
        ({"capacity": math.inf}, "capacity per replica"),
        ({"target_utilization": 0.0}, "--ml-target-utilization"),
        ({"target_utilization": 1.2}, "--ml-target-utilization"),
        ({"target_utilization": math.nan}, "--ml-target-utilization"),
        ({"redundancy": -1}, "--ml-redundancy"),
        ({"target_rps": -1.0}, "--ml-target-rps"),
        ({"target_rps": math.nan}, "--ml-target-rps"),
        ({"target_rps": math.inf}, "--ml-target-rps"),
    ],
)
def test_bad_plan_inputs_raise_config_errors_naming_the_option(
    kwargs: dict[str, float], option: str
) -> None:
    args: dict[str, float] = {
        "target_rps": 100.0,
        "capacity": 50.0,
        "target_utilization": 0.8,
        "redundancy": 1,
    }
    args.update(kwargs)
    bad = next(iter(kwargs.values()))
    with pytest.raises(ConfigError, match=re.escape(option)) as err:
        replicas_needed(**args)  # type: ignore[arg-type]
    assert repr(bad) in str(err.value)
    with pytest.raises(ConfigError, match=re.escape(option)):
        plan_replicas(**args)  # type: ignore[arg-type]


targets = st.floats(0.0, 1e7, allow_nan=False)
capacities = st.floats(1e-3, 1e5, allow_nan=False)
utilizations = st.floats(0.01, 1.0)
redundancies = st.integers(0, 3)


@settings(max_examples=200, deadline=None)
@given(targets, targets, capacities, utilizations, redundancies)
def test_replicas_never_decrease_when_the_target_rises(
    a: float, b: float, capacity: float, utilization: float, redundancy: int
) -> None:
    low, high = sorted((a, b))
    assert replicas_needed(low, capacity, utilization, redundancy) <= replicas_needed(
        high, capacity, utilization, redundancy
    )


@settings(max_examples=200, deadline=None)
@given(targets, capacities, capacities, utilizations, redundancies)
def test_replicas_never_increase_when_a_replica_serves_more(
    target: float, a: float, b: float, utilization: float, redundancy: int
) -> None:
    low, high = sorted((a, b))
    assert replicas_needed(target, high, utilization, redundancy) <= replicas_needed(
        target, low, utilization, redundancy
    )


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1e5), st.floats(1.0, 1e5), st.floats(0.2, 1.0), redundancies)
def test_replicas_are_enough_and_no_more(
    target: float, capacity: float, utilization: float, redundancy: int
) -> None:
    """The fewest working replicas whose budgeted throughput covers the target:
    the exact rational answer, up to the 1e-9 rounding that absorbs float error
    (which it can while the quotient is below ~1e6 replicas, as here)."""
    n = replicas_needed(target, capacity, utilization, redundancy) - redundancy
    exact = Fraction(target) / (Fraction(capacity) * Fraction(utilization))
    assert n >= 0
    assert n >= exact - Fraction(1, 10**8)
    assert n - 1 < exact


# -------------------------------------------------------------------------- cost


def test_cost_per_million_examples() -> None:
    assert cost_per_million(3.06, 100.0) == pytest.approx(8.5, rel=1e-12)
    assert cost_per_million(3.6, 1.0) == pytest.approx(1000.0, rel=1e-12)  # $3.6/h at 1/s
    assert cost_per_million(0.0, 10.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 1e4), st.floats(1e-3, 1e6))
def test_the_cost_formula_is_exact(price: float, rps: float) -> None:
    cost = cost_per_million(price, rps)
    assert cost == price / (rps * 3600) * 1e6
    assert cost * rps * 3600 / 1e6 == pytest.approx(price, rel=1e-12, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.01, 1e4), st.floats(1e-3, 1e6), st.floats(1.01, 100.0))
def test_more_throughput_costs_less_per_million(price: float, rps: float, factor: float) -> None:
    assert cost_per_million(price, rps * factor) < cost_per_million(price, rps)


@pytest.mark.parametrize(
    ("price", "rps", "match"),
    [
        (-1.0, 10.0, "--ml-price-per-hour"),
        (math.nan, 10.0, "--ml-price-per-hour"),
        (math.inf, 10.0, "--ml-price-per-hour"),
        (1.0, 0.0, "throughput > 0"),
        (1.0, -3.0, "throughput > 0"),
        (1.0, math.nan, "throughput > 0"),
        (1.0, math.inf, "throughput > 0"),
    ],
)
def test_bad_cost_inputs_raise_config_errors(price: float, rps: float, match: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(match)):
        cost_per_million(price, rps)


# -------------------------------------------------------------------- utilization


def row(
    metric: str, mean: float | None, *, rate: float | None = None, gpu: str = "0"
) -> SeriesStats:
    return SeriesStats(
        source="nvml" if metric.startswith("gpu") else "process",
        metric=metric,
        labels={"gpu": gpu},
        kind="counter" if rate is not None else "gauge",
        samples=10,
        mean=mean,
        min=mean,
        max=mean,
        last=mean,
        rate_per_s=rate,
        window_means={},
    )


def test_utilization_without_telemetry_is_all_unknown() -> None:
    assert utilization_at(4, [], "the knee") == UtilizationAt(step=4)


def test_utilization_reads_each_metric() -> None:
    rows = [
        row("gpu_utilization_ratio", 0.5, gpu="0"),
        row("gpu_utilization_ratio", 0.7, gpu="1"),
        row("gpu_memory_used_bytes", 30e9, gpu="0"),
        row("gpu_memory_used_bytes", 50e9, gpu="1"),
        row("gpu_memory_total_bytes", 80e9, gpu="0"),
        row("gpu_memory_total_bytes", 80e9, gpu="1"),
        row("process_cpu_seconds_total", None, rate=1.5),
        row("process_cpu_seconds_total", None, rate=0.25, gpu="x"),
        row("process_resident_memory_bytes", 2e9),
        row("generator_cpu_percent", 40.0),
        row("generator_cpu_percent", 60.0, gpu="w2"),
        row("some_other_metric", 123.0),
    ]
    u = utilization_at(7, rows, "the knee")
    assert u.step == 7
    assert u.gpu_utilization == pytest.approx(0.6)  # the mean over GPUs
    assert u.gpu_memory_used_bytes == pytest.approx(40e9)
    assert u.gpu_memory_ratio == pytest.approx(0.5)
    assert u.target_cpu_cores == pytest.approx(1.75)  # processes add up
    assert u.target_rss_bytes == pytest.approx(2e9)
    assert u.generator_cpu_percent == 60.0  # the busiest generator
    assert u.warnings == ()


@pytest.mark.parametrize(
    ("gpu", "warning"),
    [
        (0.95, "GPU 95% busy at the knee: no headroom for bursts"),
        (0.2, "GPU only 20% busy at the knee: paying for idle capacity"),
        (HIGH_UTILIZATION, None),  # the limits themselves are fine
        (LOW_UTILIZATION, None),
        (0.6, None),
    ],
)
def test_gpu_headroom_warnings(gpu: float, warning: str | None) -> None:
    u = utilization_at(1, [row("gpu_utilization_ratio", gpu)], "the knee")
    assert u.warnings == (() if warning is None else (warning,))


def test_gpu_memory_and_generator_cpu_warnings() -> None:
    rows = [
        row("gpu_utilization_ratio", 0.8),
        row("gpu_memory_used_bytes", 76e9),
        row("gpu_memory_total_bytes", 80e9),
        row("generator_cpu_percent", 97.0),
    ]
    u = utilization_at(3, rows, "SLO capacity")
    assert u.gpu_memory_ratio == pytest.approx(0.95)
    assert u.warnings == (
        "GPU memory 95% used at SLO capacity: little room for larger batches",
        "load generator CPU at 97% at SLO capacity: Locust may be the bottleneck",
    )
    calm = utilization_at(3, [row("generator_cpu_percent", GENERATOR_CPU_LIMIT)], "x")
    assert calm.warnings == ()


def test_memory_ratio_needs_the_total() -> None:
    u = utilization_at(1, [row("gpu_memory_used_bytes", 79e9)], "the knee")
    assert u.gpu_memory_used_bytes == 79e9
    assert u.gpu_memory_ratio is None
    assert u.warnings == ()
