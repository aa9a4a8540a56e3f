from __future__ import annotations

import math

import numpy as np
import pytest

from locust_ml.analysis.slo import SLO, SLOStats, parse_slos
from locust_ml.analysis.stability import (
    StabilityRule,
    StepObservation,
    WindowStats,
    min_samples,
    quantile_ci_ranks,
    samples_needed,
)
from locust_ml.errors import ConfigError


@pytest.mark.parametrize(
    ("p", "confidence", "two_sided", "n"),
    [
        (0.99, 0.95, False, 299),  # the max bounds p99 from above at 95 %
        (0.999, 0.95, False, 2995),
        (0.95, 0.95, False, 59),
        (0.5, 0.95, False, 5),
        (0.99, 0.99, False, 459),
        (0.5, 0.75, False, 2),  # 1 - 0.5**2 == 0.75 exactly: the boundary counts
        (0.99, 0.95, True, 368),
        (0.5, 0.95, True, 6),
    ],
)
def test_min_samples(p: float, confidence: float, two_sided: bool, n: int) -> None:
    assert min_samples(p, confidence, two_sided=two_sided) == n


@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_min_samples_is_the_closed_form_and_minimal(p: float, confidence: float) -> None:
    n = min_samples(p, confidence)
    assert 1 - p**n >= confidence > 1 - p ** (n - 1)
    two = min_samples(p, confidence, two_sided=True)
    assert quantile_ci_ranks(two, p, confidence) is not None
    assert quantile_ci_ranks(two - 1, p, confidence) is None


def test_sample_max_bounds_the_quantile_at_the_stated_confidence() -> None:
    """Monte Carlo against the exact p99 of an exponential: coverage >= 95 %."""
    rng = np.random.default_rng(7)
    n, reps = min_samples(0.99, 0.95), 4000
    true_p99 = -math.log(0.01)
    maxima = rng.standard_exponential((reps, n)).max(axis=1)
    coverage = float(np.mean(maxima >= true_p99))
    assert coverage == pytest.approx(1 - 0.99**n, abs=0.012)
    assert coverage > 0.94


def test_ci_ranks_cover_at_the_stated_confidence() -> None:
    rng = np.random.default_rng(11)
    n, p, reps = 1000, 0.99, 3000
    ranks = quantile_ci_ranks(n, p, 0.95)
    assert ranks == (983, 997)
    low, high = ranks
    sample = np.sort(rng.standard_exponential((reps, n)), axis=1)
    true_q = -math.log(1 - p)
    covered = (sample[:, low - 1] <= true_q) & (sample[:, high - 1] >= true_q)
    assert float(covered.mean()) > 0.94


@pytest.mark.parametrize(
    ("slos", "n"),
    [
        ([], 1),
        (["p99<500ms"], 299),
        (["p50<100ms", "p99.9<2s"], 2995),
        (["errors<1%"], 299),  # rule of three: 3/n < 1 %
        (["errors<5%", "p50<1s"], 59),
        (["p100<5s"], 1),  # the maximum has no finite floor
        (["errors<=0"], 1),
        (["ttft_p99<300ms", "itl_p95<50ms"], 299),
    ],
)
def test_samples_needed(slos: list[str], n: int) -> None:
    assert samples_needed(parse_slos(slos)) == n


@pytest.mark.parametrize(("p", "c"), [(0.0, 0.95), (1.0, 0.95), (0.99, 0.0), (0.99, 1.0)])
def test_min_samples_rejects_bad_probabilities(p: float, c: float) -> None:
    with pytest.raises(ConfigError):
        min_samples(p, c)


def _window(
    i: int, requests: int = 500, median: float | None = 10.0, spread: float = 4.0, s: float = 5.0
) -> WindowStats:
    lat = (
        {}
        if median is None
        else {"p25": median - spread / 2, "p50": median, "p75": median + spread / 2}
    )
    return WindowStats(start=i * s, end=(i + 1) * s, requests=requests, latency_ms=lat)


def _check(windows: list[WindowStats], samples: int = 10_000, needed: int = 299) -> list[str]:
    verdict = StabilityRule().check(windows, samples=samples, samples_needed=needed)
    assert verdict.stable is (not verdict.reasons)
    return list(verdict.reasons)


@pytest.mark.parametrize(
    ("windows", "samples", "match"),
    [
        ([_window(i) for i in range(3)], 10_000, None),
        ([_window(i) for i in range(2)], 10_000, "2 of 3 measurement windows"),
        ([_window(i) for i in range(3)], 100, "100 of 299 requests"),
        ([_window(0), _window(1), _window(2, requests=300)], 10_000, "throughput of window 3"),
        # one-sided: a window serving a burst faster is no sign of overload
        ([_window(0), _window(1), _window(2, requests=700)], 10_000, None),
        ([_window(0, median=10), _window(1, median=10), _window(2, median=13)], 10_000, "median"),
        ([_window(0), _window(1), _window(2, median=None)], 10_000, "without latency"),
        # an older window that disagrees a little does not matter
        ([_window(0, requests=450), *(_window(i) for i in range(1, 4))], 10_000, None),
        # a transient the warm-up missed keeps the step unstable until diluted
        ([_window(0, requests=1000), *(_window(i) for i in range(1, 4))], 10_000, "drifting"),
        ([_window(0, requests=1000), *(_window(i) for i in range(1, 12))], 10_000, None),
        # ...unless it ran the good way (throughput rising after a slow start)
        ([_window(0, requests=50), *(_window(i) for i in range(1, 4))], 10_000, None),
        # slow linear growth: the last three agree within 10 %, the step as a whole drifts
        (
            [_window(i, median=100 + 4 * i, spread=1) for i in range(20)],
            10_000,
            "median latency is drifting",
        ),
        # a steady climb of the median (a growing queue) is caught
        ([_window(i, median=10 * 1.12**i, spread=0.5) for i in range(3)], 10_000, "median"),
    ],
)
def test_rule(windows: list[WindowStats], samples: int, match: str | None) -> None:
    reasons = _check(windows, samples)
    if match is None:
        assert reasons == []
    else:
        assert any(match in r for r in reasons), reasons


def test_sampling_noise_alone_is_not_instability() -> None:
    """Small windows differ by Poisson noise; z standard errors absorb it."""
    # 40, 50, 58 requests in 5 s windows: +-16 % of the mean, within 3 sqrt(n)
    assert _check([_window(0, requests=40), _window(1, requests=50), _window(2, requests=58)]) == []
    # the same relative spread with 100x the requests is real drift
    reasons = _check(
        [_window(0, requests=4000), _window(1, requests=5000), _window(2, requests=5800)]
    )
    assert any("throughput" in r for r in reasons)


def test_median_noise_allowance_scales_with_spread_and_count() -> None:
    wide = [_window(i, requests=50, median=m, spread=20.0) for i, m in enumerate((10, 12, 14))]
    narrow = [_window(i, requests=5000, median=m, spread=2.0) for i, m in enumerate((10, 12, 14))]
    assert _check(wide) == []
    assert any("median" in r for r in _check(narrow))


@pytest.mark.parametrize(("per_window", "at_least"), [(25, 0.93), (250, 0.99)])
def test_stationary_random_windows_are_judged_stable(per_window: int, at_least: float) -> None:
    """Windows cut from one stationary lognormal process pass (nearly) always."""
    rng = np.random.default_rng(3)
    rule, stable, reps = StabilityRule(), 0, 300
    for _ in range(reps):
        windows = []
        for i in range(3):
            n = int(rng.poisson(per_window))
            lat = rng.lognormal(np.log(50), 0.6, n)
            q = {f"p{p}": float(np.percentile(lat, p)) for p in (25, 50, 75)}
            windows.append(WindowStats(i * 5.0, (i + 1) * 5.0, n, latency_ms=q))
        stable += rule.check(windows, samples=750, samples_needed=299).stable
    assert stable / reps >= at_least


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"windows": 1}, ">= 2 windows"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": 1.5}, "tolerance"),
        ({"z": -1.0}, "z must"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_rule_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StabilityRule(**kwargs)  # type: ignore[arg-type]


def test_rule_floor_and_window_percentiles() -> None:
    rule = StabilityRule(confidence=0.99)
    assert rule.samples_needed([SLO.latency(99, 500)]) == 459
    assert rule.window_percentiles() == (25.0, 50.0, 75.0)


def test_window_and_observation_rates() -> None:
    w = WindowStats(10.0, 15.0, 100)
    assert (w.seconds, w.rate) == (5.0, 20.0)
    assert WindowStats(0.0, 5.0, 100, achieved_rps=19.0).rate == 19.0
    assert WindowStats(5.0, 5.0, 0).rate == 0.0
    agg = SLOStats(requests=300, failure_ratio=0.0, latency_ms={})
    obs = StepObservation(
        step=1, offered=20.0, elapsed_in_step=30.0, windows=(w, _window(3)), aggregate=agg
    )
    assert obs.measured_s == 10.0
    assert obs.throughput == 30.0
    assert StepObservation(1, 20.0, 5.0, (), agg).throughput is None
    assert StepObservation(1, 20.0, 5.0, (), agg, achieved_rps=19.5).throughput == 19.5
