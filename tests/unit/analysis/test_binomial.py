"""The binomial CDF and quantiles (analysis/binomial.py) against scipy.stats.binom.

And the interval ranks built on them (``stability.quantile_ci_ranks``)
against what they were computed with before: scipy's ``binom.ppf`` and
``cdf``. Seeded draws of ``n`` from 1 to 10**6, ``p`` mostly in 0.5..0.999
(the percentiles SLOs name) and confidences up to 1 - 1e-12.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import stats

from locust_ml.analysis.binomial import Binomial
from locust_ml.analysis.stability import quantile_ci_ranks

#: Draws of (n, p, confidence) for the interval ranks.
DRAWS = 500


def _draws(seed: int, count: int) -> list[tuple[int, float, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = round(10 ** rng.uniform(0.0, 6.0))
        if i % 3:
            p = float(rng.uniform(0.5, 0.999))
        else:
            p = float(rng.choice([0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.01, 0.25]))
        confidence = 1.0 - 10 ** -rng.uniform(0.3, 12.0)
        out.append((n, p, confidence))
    return out


def _scipy_ranks(n: int, p: float, confidence: float) -> tuple[int, int] | None:
    """quantile_ci_ranks as it was written on scipy.stats.binom."""
    tail = (1.0 - confidence) / 2.0
    dist = stats.binom(n, p)
    k_low = int(dist.ppf(tail))
    if dist.cdf(k_low) > tail:
        k_low -= 1
    k_high = int(dist.ppf(1.0 - tail))
    low, high = k_low + 1, k_high + 1
    if low < 1 or high > n:
        return None
    return low, high


def test_ci_ranks_match_scipy() -> None:
    found = 0
    for n, p, confidence in _draws(20240614, DRAWS):
        expected = _scipy_ranks(n, p, confidence)
        assert quantile_ci_ranks(n, p, confidence) == expected, (n, p, confidence)
        found += expected is not None
    assert DRAWS // 4 < found < DRAWS  # intervals and "too few samples" both occur


@pytest.mark.parametrize(
    ("n", "p"),
    [
        *[(1, 0.5), (2, 0.999), (10, 0.3), (299, 0.99), (1000, 0.99), (2995, 0.999)],
        *[(10**6, 0.5), (10**6, 0.99), (10**6, 0.999), (123_457, 0.95), (10**6, 1e-4)],
    ],
)
def test_quantiles_match_scipy(n: int, p: float) -> None:
    """Every tail a confidence can have, down to 1e-16 and up to 1 - 1e-12."""
    ours, theirs = Binomial(n, p), stats.binom(n, p)
    qs = [f * 10.0**-e for e in range(1, 17) for f in (1.0, 2.5, 5.0)]
    qs += [1.0 - q for q in qs if q >= 1e-12] + [0.5]
    for q in qs:
        assert ours.quantile(q) == int(theirs.ppf(q)), q


@pytest.mark.parametrize(("n", "p"), [(7, 0.5), (1000, 0.99), (54_321, 0.9), (10**6, 0.999)])
def test_cdf_matches_scipy(n: int, p: float) -> None:
    ours, theirs = Binomial(n, p), stats.binom(n, p)
    mid, sd = n * p, math.sqrt(n * p * (1 - p))
    ks = sorted({max(0, min(n, round(mid + z * sd))) for z in np.linspace(-9, 9, 37)})
    for k in ks:
        expected = float(theirs.cdf(k))
        assert ours.cdf(k) == pytest.approx(expected, rel=1e-11, abs=1e-300), k
    assert ours.cdf(-1) == 0.0
    assert ours.cdf(n) == 1.0


def test_edges() -> None:
    assert Binomial(5, 0.5).quantile(1.0) == 5  # scipy's convention, and the smallest k
    assert Binomial(0, 0.5).quantile(0.5) == 0
    with pytest.raises(ValueError, match="0 < q <= 1"):
        Binomial(5, 0.5).quantile(0.0)
    with pytest.raises(ValueError, match="0 < p < 1"):
        Binomial(5, 1.0)
    with pytest.raises(ValueError, match="n >= 0"):
        Binomial(-1, 0.5)


def test_doctests() -> None:
    from locust_ml.analysis import binomial

    assert doctest.testmod(binomial).failed == 0
