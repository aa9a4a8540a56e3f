from __future__ import annotations

import pytest

from locust_ml.analysis.utilization import Reading, UtilizationLog

GPU0 = (("gpu", "0"),)
GPU1 = (("gpu", "1"),)


def _r(
    step: int,
    t: float,
    metric: str,
    value: float,
    kind: str = "gauge",
    labels=GPU0,
    window: int | None = None,
) -> Reading:
    return Reading(step, window, t, "nvml", metric, labels, value, kind)


def test_gauges_are_summarized_per_step_and_window() -> None:
    log = UtilizationLog()
    for i, v in enumerate([0.2, 0.4, 0.6, 0.8]):
        log.add(_r(1, float(i), "gpu_utilization_ratio", v, window=i // 2))
    log.add(_r(2, 10.0, "gpu_utilization_ratio", 0.9))
    (row,) = log.step_stats(1)
    assert row.samples == 4
    assert row.mean == pytest.approx(0.5)
    assert (row.min, row.max, row.last) == (0.2, 0.8, 0.8)
    assert row.window_means == {0: pytest.approx(0.3), 1: pytest.approx(0.7)}
    assert log.steps() == (1, 2)


def test_mean_of_averages_across_gpus() -> None:
    log = UtilizationLog()
    log.add(_r(1, 0.0, "gpu_utilization_ratio", 0.4, labels=GPU0))
    log.add(_r(1, 0.0, "gpu_utilization_ratio", 0.8, labels=GPU1))
    assert log.mean_of(1, "gpu_utilization_ratio") == pytest.approx(0.6)
    assert log.mean_of(1, "gpu_power_watts") is None


def test_counter_rate_survives_a_restart() -> None:
    log = UtilizationLog()
    for t, v in [(0.0, 100.0), (1.0, 110.0), (2.0, 5.0), (3.0, 15.0)]:  # restart at t=2
        log.add(_r(1, t, "process_cpu_seconds_total", v, kind="counter", labels=()))
    (row,) = log.step_stats(1)
    assert row.kind == "counter"
    assert row.rate_per_s == pytest.approx((10.0 + 5.0 + 10.0) / 3.0)
    assert row.mean is None


def test_summary_parts_give_the_step_mean() -> None:
    log = UtilizationLog()
    for t, s, c in [(0.0, 10.0, 100.0), (1.0, 12.5, 110.0), (2.0, 15.0, 120.0)]:
        log.add(_r(3, t, "server_queue_seconds_sum", s, kind="summary", labels=()))
        log.add(_r(3, t, "server_queue_seconds_count", c, kind="summary", labels=()))
    (row,) = log.step_stats(3)
    assert (row.metric, row.kind) == ("server_queue_seconds", "summary")
    assert row.mean == pytest.approx(5.0 / 20.0)


def test_non_finite_values_are_ignored() -> None:
    log = UtilizationLog()
    log.add(_r(1, 0.0, "gpu_power_watts", float("nan")))
    assert len(log) == 0
