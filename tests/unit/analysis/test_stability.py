"""The stability rule: enough samples for the percentile, and no queue building."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest

from locust_ml.analysis.slo import SLO, parse_slos
from locust_ml.analysis.stability import (
    StabilityRule,
    WindowStats,
    min_samples,
    quantile_ci_ranks,
    samples_needed,
)
from locust_ml.errors import ConfigError
from tests.queue_target import QueueTarget, measurement


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


def _window(i: int, requests: int = 100, median: float | None = 10.0) -> WindowStats:
    lat = {} if median is None else {"p25": median * 0.8, "p50": median, "p75": median * 1.2}
    return WindowStats(start=float(i), end=float(i + 1), requests=requests, latency_ms=lat)


def _check(windows: list[WindowStats], samples: int = 10_000, needed: int = 299) -> list[str]:
    verdict = StabilityRule().check(windows, samples=samples, samples_needed=needed)
    assert verdict.stable is (not verdict.reasons)
    return list(verdict.reasons)


@pytest.mark.parametrize(
    ("windows", "samples", "match"),
    [
        ([_window(i) for i in range(5)], 10_000, None),
        ([_window(i) for i in range(4)], 10_000, "4 of 5 measurement windows"),
        ([_window(i) for i in range(5)], 100, "100 of 299 requests"),
        # wandering is not growth: a queue near saturation disagrees by half and more
        ([_window(i, median=m) for i, m in enumerate((10, 16, 9, 15, 8, 14, 10))], 10_000, None),
        # a steady climb of the median (a growing queue) is caught...
        ([_window(i, median=10 + 3 * i) for i in range(8)], 10_000, "rising steadily"),
        # ...and so is throughput falling steadily
        ([_window(i, requests=100 - 8 * i) for i in range(8)], 10_000, "throughput is falling"),
        # a significant but small trend (a warm cache, 2 % over the step) is not a reason
        ([_window(i, median=10 + 0.03 * i) for i in range(8)], 10_000, None),
        # a queue that rose early and levelled off: the later half is flat
        ([_window(i, median=min(10 + 5 * i, 40) + i % 2) for i in range(16)], 10_000, None),
        (
            [_window(0), _window(1), _window(2), _window(3, median=None), _window(4, median=None)],
            10_000,
            "3 of 5 windows had completed requests",
        ),
    ],
)
def test_rule(windows: list[WindowStats], samples: int, match: str | None) -> None:
    reasons = _check(windows, samples)
    if match is None:
        assert reasons == []
    else:
        assert any(match in r for r in reasons), reasons


def test_a_day_of_windows_is_judged_in_bounded_memory() -> None:
    """A 24 h hold in five-second windows: 11,520 in the trend test's later two thirds.

    Theil-Sen over every window would hold 11,520**2 slopes (1 GB per array,
    at the end of the run, before the report is written); the rule bins them.
    """
    import tracemalloc

    n = 24 * 3600 // 5
    noise = np.random.default_rng(11).normal(0.0, 1.0, n)
    rising = [_window(i, median=50 + 40 * i / n + e) for i, e in enumerate(noise)]
    flat = [_window(i, median=50 + e) for i, e in enumerate(noise)]
    tracemalloc.start()
    try:
        # The later two thirds rise by 40 * 2/3 from a median of about 76.7: 35 %.
        (reason,) = _check(rising, 10**7)
        assert _check(flat, 10**7) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "rising steadily through the step: 35% across 11520 windows" in reason
    assert peak < 200e6, peak


@pytest.mark.parametrize(("per_window", "at_least"), [(25, 0.97), (250, 0.97)])
def test_stationary_random_windows_are_judged_stable(per_window: int, at_least: float) -> None:
    """Windows cut from one stationary lognormal process pass (nearly) always."""
    rng = np.random.default_rng(3)
    rule, stable, reps = StabilityRule(), 0, 300
    for _ in range(reps):
        windows = []
        for i in range(10):
            n = int(rng.poisson(per_window))
            lat = rng.lognormal(np.log(50), 0.6, n)
            q = {f"p{p}": float(np.percentile(lat, p)) for p in (25, 50, 75)}
            windows.append(WindowStats(float(i), i + 1.0, n, latency_ms=q))
        stable += rule.check(windows, samples=750, samples_needed=299).stable
    assert stable / reps >= at_least


def _queue_stable(rho: float, seed: int, seconds: float = 20.0) -> bool:
    """A step at ``rho`` x saturation of the simulated backend, after a run just below it."""
    target = QueueTarget(seed=seed, queue_limit=5000)
    target.open_loop(0.95 * rho * target.xsat, 15.0)
    t0 = target.now + 2.0
    target.open_loop(rho * target.xsat, seconds + 2.0)
    m = measurement(target, 1, "open", rho * target.xsat, t0, t0 + seconds)
    return StabilityRule().check(m.windows, samples=m.requests, samples_needed=299).stable


def test_a_queue_near_saturation_is_stable_and_an_overloaded_one_is_not() -> None:
    """Against the reference server's batching model (tests/queue_target.py), 20 s steps."""
    near = sum(_queue_stable(0.95, seed) for seed in range(12))
    over = sum(_queue_stable(1.10, seed) for seed in range(12))
    assert near >= 10  # wandering, but not growing
    assert over <= 2  # growing 10 % of the rate per second


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_windows": 4}, ">= 5 windows"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"tolerance": 1.5}, "tolerance"),
        ({"alpha": 0.0}, "alpha"),
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


def test_window_rates() -> None:
    w = WindowStats(10.0, 15.0, 100)
    assert (w.seconds, w.rate) == (5.0, 20.0)
    assert WindowStats(0.0, 5.0, 100, achieved_rps=19.0).rate == 19.0
    assert WindowStats(5.0, 5.0, 0).rate == 0.0


def test_doctests() -> None:
    from locust_ml.analysis import stability

    assert doctest.testmod(stability).failed == 0


def test_judging_steps_and_knees_imports_neither_scipy_nor_kneed() -> None:
    """The analysis a run does while its load runs: the stability rule, the live knee.

    Importing scipy.stats and kneed for them cost every Locust start two seconds.
    """
    code = (
        "import sys\n"
        "from locust_ml.analysis.capacity import find_knee\n"
        "from locust_ml.analysis.stability import StabilityRule, WindowStats, quantile_ci_ranks\n"
        "rising = [WindowStats(i, i + 1, 100, latency_ms={'p50': 10.0 + 5 * i})\n"
        "          for i in range(9)]\n"
        "assert not StabilityRule().check(rising, samples=900, samples_needed=299).stable\n"
        "assert find_knee([10, 11, 12, 20, 40, 80], [10, 20, 30, 35, 36, 36])[0] is not None\n"
        "assert quantile_ci_ranks(10**6, 0.99) is not None\n"
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('scipy', 'kneed')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
