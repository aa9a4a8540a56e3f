"""Kendall's one-sided test and Theil-Sen (analysis/trend_test.py) against scipy.stats.

scipy stays a dependency (trace fitting, payloads) and is the oracle here:
on seeded series - with and without ties, n from 2 to 60, up to the soak's
240 bins, and a few of up to 20,000 - both sides of the exact/asymptotic
switch - the p-values must agree within 1e-12 (relative; or both be below
1e-300) and the Theil-Sen line exactly.
"""

from __future__ import annotations

import doctest
import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from scipy import stats

from locust_ml.analysis.trend_test import (
    EXACT_MAX_N,
    THEIL_SEN_MAX_POINTS,
    binned,
    kendall_p_rising,
    theil_sen,
)

Series = tuple[list[float], list[float]]


def _scipy_p(x: list[float], y: list[float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        return float(stats.kendalltau(x, y, alternative="greater").pvalue)


def _same_p(got: float, expected: float) -> bool:
    if math.isnan(expected):
        return math.isnan(got)
    # Below 1e-300 cephes and the C library round subnormals differently.
    return got == pytest.approx(expected, rel=1e-12, abs=1e-300)


def _series(rng: np.random.Generator, n: int, kind: int) -> list[float]:
    """A window series: noise, trend, both, rounded into ties, or a level shift."""
    t = np.arange(n)
    slope = rng.choice([0.0, rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.05)])
    y = rng.normal(0, 1, n) + slope * t
    if kind == 1:
        y = np.round(y * rng.choice([1.0, 2.0, 4.0]))  # many ties
    elif kind == 2:
        y = rng.integers(0, 3, n).astype(float)  # heavy ties
    elif kind == 3:
        y = np.where(t > n // 2, y + 3.0, y)  # a step up
    return [float(v) for v in y]


def _windows() -> Iterator[Series]:
    """Evenly spaced windows (what the stability rule tests), 4 kinds x n = 5..60."""
    rng = np.random.default_rng(20240612)
    for n in range(5, 61):
        for kind in range(4):
            for _ in range(3):
                yield [float(i) for i in range(n)], _series(rng, n, kind)


def _timed() -> Iterator[Series]:
    """Uneven times, some tied (what a soak's bins could be), n up to 240."""
    rng = np.random.default_rng(20240613)
    for i in range(120):
        n = int(rng.integers(2, 241))
        t = np.sort(rng.uniform(0.0, 4.0, n))
        if i % 3 == 0:
            t = np.round(t, 1)  # tied times
        yield [float(v) for v in t], _series(rng, n, i % 4)


def _near_ordered() -> Iterator[Series]:
    """Perfectly ordered, reversed, or one swap away: the exact path beyond n = 33."""
    for n in (2, 3, 4, 5, 20, EXACT_MAX_N, EXACT_MAX_N + 1, 40, 60, 100, 171, 172, 200):
        up = [float(i) for i in range(n)]
        for y in (up, up[::-1]):
            yield up, y
            if n >= 2:
                swapped = y.copy()
                swapped[n // 2 - 1], swapped[n // 2] = swapped[n // 2], swapped[n // 2 - 1]
                yield up, swapped
                two = swapped.copy()
                if n >= 6:
                    two[1], two[2] = two[2], two[1]  # two pairs out of order: normal beyond 33
                    yield up, two


CASES = {"windows": _windows, "timed": _timed, "near-ordered": _near_ordered}


@pytest.mark.parametrize("family", CASES)
def test_kendall_p_matches_scipy(family: str) -> None:
    compared = 0
    for x, y in CASES[family]():
        expected = _scipy_p(x, y)
        assert _same_p(kendall_p_rising(x, y), expected), (x, y, expected)
        compared += not math.isnan(expected)
    assert compared > 0.9 * sum(1 for _ in CASES[family]()) or family == "timed"


@pytest.mark.parametrize("family", CASES)
def test_theil_sen_matches_scipy(family: str) -> None:
    for x, y in CASES[family]():
        if len(set(x)) < 2:
            continue
        expected = stats.theilslopes(y, x)
        assert theil_sen(x, y) == (expected.slope, expected.intercept), (x, y)


@pytest.mark.parametrize("n", [1000, 4097, 20000])
def test_long_series_match_scipy(n: int) -> None:
    """A day's soak step has ~10,000 windows: counted by merging, not pair by pair."""
    rng = np.random.default_rng(n)
    x = [float(i) for i in range(n)]
    for y in (
        np.round(rng.normal(0, 20, n) + 1e-3 * np.arange(n)),  # ties, a faint trend
        rng.normal(0, 1, n) - 1e-5 * np.arange(n),  # no ties, a fainter fall
    ):
        assert _same_p(kendall_p_rising(x, list(y)), _scipy_p(x, list(y)))


def test_both_p_value_paths_are_taken() -> None:
    """Without ties up to n = 33 the exact distribution; with ties the normal one."""
    ordered = [float(i) for i in range(10)]
    exact = kendall_p_rising(ordered, ordered)
    assert exact == pytest.approx(1.0 / math.factorial(10), rel=1e-12)
    tied = [*ordered[:-1], ordered[-2]]
    normal = kendall_p_rising(ordered, tied)
    assert 0.0 < normal < 1e-3
    assert normal == pytest.approx(_scipy_p(ordered, tied), rel=1e-12)


def test_constant_or_nan_input_gives_nan() -> None:
    assert math.isnan(kendall_p_rising([0.0, 1.0, 2.0], [5.0, 5.0, 5.0]))
    assert math.isnan(kendall_p_rising([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(kendall_p_rising([0.0, 1.0, 2.0], [1.0, math.nan, 3.0]))
    assert math.isnan(kendall_p_rising([0.0], [1.0]))
    assert math.isnan(_scipy_p([0.0, 1.0, 2.0], [1.0, math.nan, 3.0]))


def test_infinities_are_ranked_like_scipy() -> None:
    x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, -math.inf, 2.0, math.inf, math.inf, 3.0]
    assert _same_p(kendall_p_rising(x, y), _scipy_p(x, y))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        kendall_p_rising([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="one length"):
        theil_sen([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="two distinct x"):
        theil_sen([1.0, 1.0], [1.0, 2.0])


def test_theil_sen_takes_a_bounded_number_of_points_and_binned_reduces_to_it() -> None:
    n = THEIL_SEN_MAX_POINTS + 1
    x = np.arange(n, dtype=float)
    with pytest.raises(ValueError, match="bin them first"):
        theil_sen(x, 3 * x)
    bx, by = binned(x, 3 * x + 1, THEIL_SEN_MAX_POINTS)
    assert len(bx) == len(by) == THEIL_SEN_MAX_POINTS
    assert theil_sen(bx, by) == pytest.approx((3.0, 1.0))
    short = [0.0, 1.0, 2.0]
    assert [a.tolist() for a in binned(short, short, 3)] == [short, short]
    with pytest.raises(ValueError, match="max_points"):
        binned(short, short, 0)


def test_doctests() -> None:
    from locust_ml.analysis import trend_test

    assert doctest.testmod(trend_test).failed == 0
