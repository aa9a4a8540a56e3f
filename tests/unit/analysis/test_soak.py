from __future__ import annotations

import doctest
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.slo import parse_slos
from locust_ml.analysis.soak import SoakConfig, SoakTrend, SoakVerdict, fit_trend, soak_verdict
from locust_ml.analysis.steps import StepStats, WindowStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.errors import ConfigError

WINDOW_S = 5.0
HOUR = 3600.0
GIB = float(1 << 30)


Values = Sequence[float] | np.ndarray[Any, np.dtype[np.float64]]


def _step(
    p99s: Values,
    *,
    step_id: int = 2,
    start: float = 1000.0,
    label: str = "hold",
    failures: Sequence[int] | None = None,
    requests: int = 200,
    mode: str = "closed",
    corrected: Sequence[float] | None = None,
    window_s: float = WINDOW_S,
) -> StepStats:
    """A held step whose window ``i`` has p99 ``p99s[i]`` (and ``failures[i]``)."""
    fails = failures or [0] * len(p99s)
    windows = tuple(
        WindowStats(
            start=start + i * window_s,
            end=start + (i + 1) * window_s,
            requests=requests,
            failures=fails[i],
            latency_ms={"p50": v / 4, "p99": v},
            index=i,
            corrected_ms=None
            if corrected is None
            else {"p50": corrected[i] / 4, "p99": corrected[i]},
        )
        for i, v in enumerate(p99s)
    )
    return StepStats(
        id=step_id,
        start=start,
        end=start + len(p99s) * window_s,
        users=10,
        offered_rps=40.0 if mode == "open" else None,
        achieved_rps=requests / window_s,
        requests=requests * len(p99s),
        failures=sum(fails),
        latency_ms={"p99": float(np.median(p99s)) if len(p99s) else None},
        endpoints=(),
        mode=mode,
        label=label,
        windows=windows,
    )


def _gauge(metric: str, values: Values, labels: dict[str, str] | None = None) -> SeriesStats:
    return SeriesStats(
        source="nvml",
        metric=metric,
        labels=labels if labels is not None else {"gpu": "0"},
        kind="gauge",
        samples=5 * len(values),
        mean=float(np.mean(values)),
        min=float(np.min(values)),
        max=float(np.max(values)),
        last=float(values[-1]),
        rate_per_s=None,
        window_means=dict(enumerate(float(v) for v in values)),
    )


def _midpoints_h(n: int, window_s: float = WINDOW_S) -> np.ndarray:
    """Window midpoints in hours since the hold's start (no warm-up)."""
    return (np.arange(n) + 0.5) * window_s / HOUR


def _trend(verdict: SoakVerdict | None, name: str) -> SoakTrend:
    assert verdict is not None
    return next(t for t in verdict.trends if t.name == name)


# --------------------------------------------------------------------------- applicability


def test_not_a_soak_without_a_hold_step() -> None:
    ramp = [_step([100.0] * 20, label=""), _step([100.0] * 20, step_id=3, label="spike")]
    assert soak_verdict(ramp, {}, ()) is None


def test_ramp_steps_are_ignored() -> None:
    """Ramp-up at low latency before a flat hold is not a rising trend."""
    rng = np.random.default_rng(1)
    ramp = _step([50.0] * 30, step_id=1, start=0.0, label="ramp-up")
    hold = _step(200 * rng.lognormal(0, 0.1, 120), step_id=2, start=150.0)
    down = _step([40.0] * 10, step_id=3, start=750.0, label="ramp-down")
    v = soak_verdict([ramp, hold, down], {}, ())
    assert v is not None
    assert v.steps == (2,)
    assert v.passed
    assert _trend(v, "latency_p99").n == 120


# --------------------------------------------------------------------------- false alarms


def test_flat_noisy_series_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    v = soak_verdict([_step(200 * rng.lognormal(0, 0.2, 240))], {}, ())
    assert v is not None
    trend = _trend(v, "latency_p99")
    assert not trend.flagged
    assert v.passed
    assert v.conclusive
    assert "latency_p99" in trend.reason


def test_false_alarm_rate_on_flat_series_is_small() -> None:
    """200 seeded flat series (one-sided test at alpha 1 %, plus a 10 % effect): <= 2.5 %."""
    flagged = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        v = soak_verdict([_step(300 * rng.lognormal(0, 0.25, 90))], {}, ())
        flagged += _trend(v, "latency_p99").flagged
    assert flagged <= 5


# --------------------------------------------------------------------------- drift and leaks


def test_latency_drift_is_flagged_with_its_slope() -> None:
    """p99 from 200 ms rising 60 ms/h over 2 h (+60 %): drift, slope recovered within 10 %."""
    rng = np.random.default_rng(5)
    n = int(2 * HOUR / WINDOW_S)
    t = _midpoints_h(n)
    p99 = (200 + 60 * t) * rng.lognormal(0, 0.1, n)
    v = soak_verdict([_step(p99)], {}, ())
    trend = _trend(v, "latency_p99")
    assert trend.flagged
    assert v is not None
    assert not v.passed
    assert v.reasons == (trend.reason,)
    assert "drift" in trend.reason
    assert trend.slope_per_hour == pytest.approx(60, rel=0.1)
    assert trend.p_value is not None
    assert trend.p_value < 1e-6
    assert trend.relative_change == pytest.approx(0.6, rel=0.15)


def test_memory_leak_slope_and_projection_are_exact_without_noise() -> None:
    """RSS 2 GiB + 0.5 GiB/h over 1 h: projection to 24 h is 2 + 12 GiB, exactly."""
    n = int(HOUR / WINDOW_S)
    t = _midpoints_h(n)
    rss = 2 * GIB + 0.5 * GIB * t
    telemetry = {2: (_gauge("process_resident_memory_bytes", rss, {"pid": "77"}),)}
    v = soak_verdict([_step([100.0] * n)], telemetry, ())
    trend = _trend(v, 'process_resident_memory_bytes{pid="77"}')
    assert trend.kind == "memory"
    assert trend.unit == "bytes"
    assert trend.flagged
    assert "leak" in trend.reason
    assert trend.slope_per_hour == pytest.approx(0.5 * GIB, rel=1e-9)
    assert trend.projected_hours == 24.0
    assert trend.projected_value == pytest.approx(2 * GIB + 12 * GIB, rel=1e-9)
    assert trend.start_value == pytest.approx(rss[0], rel=1e-9)
    assert trend.end_value == pytest.approx(rss[-1], rel=1e-9)
    assert trend.limit is None
    assert trend.hours_to_limit is None
    # latency is flat (constant): not flagged, and the verdict fails on the leak alone
    assert not _trend(v, "latency_p99").flagged
    assert v is not None
    assert v.reasons == (trend.reason,)


def test_memory_leak_slope_is_recovered_through_noise() -> None:
    rng = np.random.default_rng(11)
    n = int(1.5 * HOUR / WINDOW_S)
    t = _midpoints_h(n)
    used = 20 * GIB + 3 * GIB * t + rng.normal(0, 0.2 * GIB, n)
    telemetry = {2: (_gauge("gpu_memory_used_bytes", used),)}
    v = soak_verdict([_step([100.0] * n)], telemetry, (), project_hours=48)
    trend = _trend(v, 'gpu_memory_used_bytes{gpu="0"}')
    assert trend.flagged
    assert trend.slope_per_hour == pytest.approx(3 * GIB, rel=0.05)
    assert trend.projected_value == pytest.approx(20 * GIB + 3 * GIB * 48, rel=0.05)


def test_a_slow_gpu_leak_is_flagged_when_it_reaches_total_memory_in_time() -> None:
    """+2 GiB/h from 70 of 80 GiB: +2.9 % over the hour, but full in 5 h."""
    n = int(HOUR / WINDOW_S)
    t = _midpoints_h(n)
    used = 70 * GIB + 2 * GIB * t
    total = [80 * GIB] * n
    telemetry = {
        2: (_gauge("gpu_memory_used_bytes", used), _gauge("gpu_memory_total_bytes", total))
    }
    v = soak_verdict([_step([100.0] * n)], telemetry, ())
    trend = _trend(v, 'gpu_memory_used_bytes{gpu="0"}')
    assert trend.relative_change is not None
    assert trend.relative_change < 0.10
    assert trend.limit == 80 * GIB
    assert trend.hours_to_limit == pytest.approx(5.0, rel=1e-9)
    assert trend.flagged
    assert "reaches the limit 80 GiB in 5 h" in trend.reason
    assert trend.projected_value == 80 * GIB  # 118 GiB on the line; a GPU holds 80
    # with a 4 h horizon the limit is out of reach, and 2.9 % is not material
    v4 = soak_verdict([_step([100.0] * n)], telemetry, (), project_hours=4)
    assert not _trend(v4, 'gpu_memory_used_bytes{gpu="0"}').flagged


def test_latency_projected_past_the_slo_is_drift() -> None:
    """+8 % over one hour (not material) but p99<300ms is crossed after ~10 h."""
    rng = np.random.default_rng(2)
    n = int(HOUR / WINDOW_S)
    t = _midpoints_h(n)
    p99 = (200 + 16 * t) * rng.lognormal(0, 0.03, n)
    slos = parse_slos(["p99<300ms", "errors<1%"])
    v = soak_verdict([_step(p99)], {}, slos)
    trend = _trend(v, "latency_p99")
    assert trend.limit == 300.0
    assert trend.relative_change is not None
    assert trend.relative_change < 0.10
    assert trend.hours_to_limit == pytest.approx(100 / 16, rel=0.15)
    assert trend.flagged
    assert "reaches the limit 300 ms" in trend.reason
    assert _trend(v, "error_rate").limit == 0.01
    assert soak_verdict([_step(p99)], {}, ()) is not None
    assert not _trend(soak_verdict([_step(p99)], {}, ()), "latency_p99").flagged


def test_rising_error_rate_is_drift_and_zero_errors_are_flat() -> None:
    n = 240
    fails = [i // 40 for i in range(n)]  # 0..5 of 200 requests: 0 % -> 2.5 %
    v = soak_verdict([_step([100.0] * n, failures=fails)], {}, ())
    trend = _trend(v, "error_rate")
    assert trend.unit == "ratio"
    assert trend.flagged
    assert trend.relative_change is None  # starts at 0: no relative change
    assert trend.projected_value is not None
    assert trend.projected_value <= 1.0
    quiet = _trend(soak_verdict([_step([100.0] * n)], {}, ()), "error_rate")
    assert not quiet.flagged
    assert quiet.slope_per_hour == 0.0
    assert quiet.p_value == 1.0


def test_the_slo_percentiles_are_the_series_watched() -> None:
    v = soak_verdict([_step([100.0] * 30)], {}, parse_slos(["p99<1s", "p50<80ms"]))
    assert v is not None
    names = [t.name for t in v.trends]
    assert names == ["latency_p50", "latency_p99", "error_rate"]
    assert _trend(v, "latency_p50").limit == 80.0


def test_open_loop_uses_the_corrected_latency() -> None:
    n = 360
    t = _midpoints_h(n)
    service = [100.0] * n
    corrected = list(100 + 400 * t)  # a queue building up: only the corrected latency shows it
    v = soak_verdict([_step(service, mode="open", corrected=corrected)], {}, ())
    trend = _trend(v, "latency_p99")
    assert trend.flagged
    assert trend.slope_per_hour == pytest.approx(400, rel=1e-9)


# --------------------------------------------------------------------------- robustness


def test_outliers_do_not_fool_the_robust_slope() -> None:
    """Late GC-pause windows (10x p99) tilt least squares, not Theil-Sen."""
    rng = np.random.default_rng(7)
    n = 240
    p99 = 200 * rng.lognormal(0, 0.1, n)
    late = rng.choice(np.arange(n // 2, n), size=12, replace=False)
    p99[late] *= 10
    v = soak_verdict([_step(p99)], {}, ())
    trend = _trend(v, "latency_p99")
    assert not trend.flagged
    assert trend.start_value is not None
    assert trend.ols_slope_per_hour is not None
    assert trend.slope_per_hour is not None
    span = trend.span_hours or 0.0
    assert abs(trend.slope_per_hour) * span < 0.05 * trend.start_value
    assert trend.ols_slope_per_hour * span > 0.3 * trend.start_value


def test_an_early_step_change_is_not_a_leak() -> None:
    """An allocator that grows once early in the hold, then stays: not a trend."""
    rng = np.random.default_rng(8)
    n = 360
    used = np.where(np.arange(n) < n // 10, 10 * GIB, 14 * GIB) + rng.normal(0, 0.05 * GIB, n)
    v = soak_verdict([_step([100.0] * n)], {2: (_gauge("gpu_memory_used_bytes", used),)}, ())
    trend = _trend(v, 'gpu_memory_used_bytes{gpu="0"}')
    assert not trend.flagged
    assert trend.slope_per_hour is not None
    assert trend.ols_slope_per_hour is not None
    assert abs(trend.slope_per_hour) < 0.1 * trend.ols_slope_per_hour


def test_warm_up_windows_are_dropped() -> None:
    """A rise over the first 5 minutes (a quarter of the hold: more than Theil-Sen resists)."""
    n = 240
    p99 = [50.0 + 3 * i if i < 60 else 230.0 for i in range(n)]
    rng = np.random.default_rng(4)
    p99 = list(np.array(p99) * rng.lognormal(0, 0.05, n))
    without = _trend(soak_verdict([_step(p99)], {}, ()), "latency_p99")
    assert without.flagged
    with_warmup = soak_verdict([_step(p99)], {}, (), warmup_s=300.0)
    trend = _trend(with_warmup, "latency_p99")
    assert trend.n == n - 60
    assert not trend.flagged


def test_long_soaks_are_binned_and_keep_the_slope() -> None:
    n = 3000  # ~4.2 h of 5 s windows, binned to 240 points
    t = _midpoints_h(n)
    rng = np.random.default_rng(9)
    p99 = (200 + 10 * t) * rng.lognormal(0, 0.1, n)
    trend = _trend(soak_verdict([_step(p99)], {}, ()), "latency_p99")
    assert trend.n == n
    assert trend.slope_per_hour == pytest.approx(10, rel=0.15)
    assert trend.flagged  # +21 % over the run


def test_fit_of_an_exact_line_with_an_outlier() -> None:
    fit = fit_trend([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 5, 7, 9, 11, 13, 15, 17, 1000])
    assert fit.slope == 2.0
    assert fit.intercept == pytest.approx(1.0)
    assert fit.ols_slope > 2.0


# --------------------------------------------------------------------------- not enough data


def test_too_few_windows_is_not_enough_data() -> None:
    v = soak_verdict([_step([100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0])], {}, ())
    assert v is not None
    trend = _trend(v, "latency_p99")
    assert not trend.enough_data
    assert not trend.flagged
    assert trend.slope_per_hour is None
    assert trend.projected_value is None
    assert "not enough data (6 windows, need 10)" in trend.reason
    assert v.passed
    assert not v.conclusive
    assert trend.reason in v.warnings


def test_a_hold_without_windows_is_inconclusive() -> None:
    step = StepStats(2, 0.0, 600.0, 10, None, 5.0, 3000, 0, {"p99": 100.0}, (), label="hold")
    v = soak_verdict([step], {}, ())
    assert v is not None
    assert v.passed
    assert not v.conclusive
    assert v.window_s is None
    assert "no measurement windows" in v.warnings[0]


def test_a_final_sliver_window_is_dropped() -> None:
    step = _step([100.0] * 20)
    sliver = WindowStats(step.end, step.end + 1.0, 3, 0, {"p99": 5000.0}, index=20)
    step = StepStats(**{**step.__dict__, "end": step.end + 1.0, "windows": (*step.windows, sliver)})
    assert _trend(soak_verdict([step], {}, ()), "latency_p99").n == 20


# --------------------------------------------------------------------------- output


def test_to_dict_is_json_safe() -> None:
    n = 120
    rss = 1 * GIB + 0.1 * GIB * _midpoints_h(n)
    telemetry = {2: (_gauge("process_resident_memory_bytes", rss, {"pid": "1"}),)}
    v = soak_verdict([_step([100.0] * n)], telemetry, parse_slos(["p99<300ms"]))
    assert v is not None
    d = v.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["project_hours"] == 24.0
    assert d["rule"]["slope"] == "theil-sen"
    assert {t["name"] for t in d["trends"]} == {
        "latency_p99",
        "error_rate",
        'process_resident_memory_bytes{pid="1"}',
    }
    short = soak_verdict([_step([100.0] * 3)], {}, ())
    assert short is not None
    sd = short.to_dict()
    json.dumps(sd, allow_nan=False)
    assert sd["trends"][0]["slope_per_hour"] is None
    assert sd["conclusive"] is False


def test_series_of_the_same_gpu_from_two_sources_are_told_apart() -> None:
    n = 30
    a = _gauge("gpu_memory_used_bytes", [GIB] * n)
    b = SeriesStats(**{**a.__dict__, "source": "dcgm"})
    v = soak_verdict([_step([100.0] * n)], {2: (a, b)}, ())
    assert v is not None
    names = {t.name for t in v.trends if t.kind == "memory"}
    assert names == {'gpu_memory_used_bytes{gpu="0"}@dcgm', 'gpu_memory_used_bytes{gpu="0"}@nvml'}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"project_hours": 0},
        {"project_hours": math.inf},
        {"warmup_s": -1},
        {"min_windows": 2},
        {"alpha": 1.0},
        {"min_relative_change": -0.1},
        {"max_points": 5},
        {"window_s": 0.0},
    ],
)
def test_bad_config_is_a_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        SoakConfig(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None)
@given(
    # millisecond resolution: adding the shift keeps distinct values distinct (ranks intact)
    values=st.lists(st.floats(1.0, 1000.0).map(lambda x: round(x, 3)), min_size=10, max_size=40),
    shift=st.floats(0.0, 1e4),
)
def test_adding_a_constant_never_changes_the_slope(values: list[float], shift: float) -> None:
    a = _trend(soak_verdict([_step(values)], {}, ()), "latency_p99")
    b = _trend(soak_verdict([_step([v + shift for v in values])], {}, ()), "latency_p99")
    assert a.slope_per_hour is not None
    assert b.slope_per_hour is not None
    assert b.slope_per_hour == pytest.approx(a.slope_per_hour, abs=1e-6 * (1 + shift) * 720)
    assert b.p_value == pytest.approx(a.p_value, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(1.0, 1000.0), min_size=10, max_size=40))
def test_a_falling_series_is_never_flagged(values: list[float]) -> None:
    falling = sorted(values, reverse=True)
    assert not _trend(soak_verdict([_step(falling)], {}, ()), "latency_p99").flagged


def test_doctests() -> None:
    from locust_ml.analysis import soak

    assert doctest.testmod(soak).failed == 0
