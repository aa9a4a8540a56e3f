"""Our Kneedle (analysis/kneedle.py) against kneed's, its reference implementation.

``kneed`` is a dev dependency kept as the oracle: every curve below must get
the same knee from both, or no knee from both. The curves are drawn from a
seeded generator in families that exercise the algorithm's corners: smooth
saturating curves, the upper envelopes of zigzags (what capacity.py feeds
it), plateaus and exact ties (points that are both a maximum and a minimum
of the difference curve), raw zigzags, decreasing and convex curves, and
short ones of 2 to 6 points.
"""

from __future__ import annotations

import doctest
import itertools
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from locust_ml.analysis.kneedle import knee_index

kneed = pytest.importorskip("kneed")

#: Curves per family; seven families.
PER_FAMILY = 200

Curve = tuple[list[float], list[float]]


def _xs(rng: np.random.Generator, n: int) -> list[float]:
    """Sorted distinct x: evenly spaced integers half the time, else random gaps."""
    if rng.random() < 0.5:
        return [float(i) for i in range(1, n + 1)]
    return [float(v) for v in np.cumsum(rng.uniform(0.1, 10.0, n))]


def _saturating(rng: np.random.Generator) -> Curve:
    n = int(rng.integers(4, 30))
    xs = _xs(rng, n)
    scale = rng.uniform(0.05, 2.0) * (xs[-1] - xs[0] + 1.0)
    noise = rng.uniform(0, 3)
    return xs, [100.0 * (1.0 - np.exp(-(x - xs[0]) / scale)) + rng.normal(0, noise) for x in xs]


def _envelope(rng: np.random.Generator) -> Curve:
    xs, ys = _saturating(rng)
    noisy = [y + rng.normal(0, 15) for y in ys]
    return xs, list(itertools.accumulate(noisy, max))


def _plateaus(rng: np.random.Generator) -> Curve:
    """Integer levels held for a few points: exact ties in y and in the difference curve."""
    n = int(rng.integers(4, 25))
    levels = np.cumsum(rng.integers(0, 4, n) * (rng.random(n) < 0.6))
    return [float(i) for i in range(n)], [float(v) for v in levels]


def _zigzag(rng: np.random.Generator) -> Curve:
    n = int(rng.integers(4, 25))
    return _xs(rng, n), [float(v) for v in rng.integers(0, 6, n)]


def _other_shapes(rng: np.random.Generator) -> Curve:
    """Decreasing, convex, linear and S-shaped curves: knees kneed may or may not find."""
    n = int(rng.integers(4, 25))
    xs = _xs(rng, n)
    t = np.linspace(0.0, 1.0, n)
    shape = int(rng.integers(0, 4))
    ys = [t**3, 1.0 - t**0.5, t, 1.0 / (1.0 + np.exp(-12 * (t - 0.5)))][shape]
    return xs, [float(v) for v in ys * 50 + rng.normal(0, rng.uniform(0, 2), n)]


def _short(rng: np.random.Generator) -> Curve:
    n = int(rng.integers(2, 7))
    xs = _xs(rng, n)
    if rng.random() < 0.5:
        return xs, [float(v) for v in rng.integers(0, 4, n)]
    return xs, [float(v) for v in rng.uniform(0, 10, n)]


def _exact_fractions(rng: np.random.Generator) -> Curve:
    """Evenly spaced x with y on a grid of the same step: d ties to the last bit."""
    n = int(rng.integers(3, 12))
    steps = rng.integers(0, 3, n - 1)
    ys = np.concatenate(([0], np.cumsum(steps)))
    return [float(i) for i in range(n)], [float(v) for v in ys]


FAMILIES: dict[str, Callable[[np.random.Generator], Curve]] = {
    "saturating": _saturating,
    "envelope": _envelope,
    "plateaus": _plateaus,
    "zigzag": _zigzag,
    "other": _other_shapes,
    "short": _short,
    "exact": _exact_fractions,
}


def _curves(family: str) -> Iterator[Curve]:
    rng = np.random.default_rng([20240611, list(FAMILIES).index(family)])
    for _ in range(PER_FAMILY):
        yield FAMILIES[family](rng)


def _kneed_knee(xs: list[float], ys: list[float], s: float) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns when it finds no knee, numpy on 0/0
        locator = kneed.KneeLocator(xs, ys, S=s, curve="concave", direction="increasing")
    return None if locator.knee is None else float(locator.knee)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_knee_as_kneed(family: str) -> None:
    found = 0
    for n, (xs, ys) in enumerate(_curves(family)):
        s = 1.0 if n % 4 else 0.5 + n % 3  # the default, and now and then 0.5, 1.5, 2.5
        expected = _kneed_knee(xs, ys, s)
        at = knee_index(xs, ys, sensitivity=s)
        got = None if at is None else xs[at]
        assert got == expected, (family, n, s, xs, ys)
        found += got is not None
    # Knees are found (and so compared) in every family; "no knee" is common
    # too, except among zigzags, whose every drop makes one.
    assert found > 0, family
    assert found < PER_FAMILY or family == "zigzag", (family, found)


def test_degenerate_curves_have_no_knee() -> None:
    assert knee_index([], []) is None
    assert knee_index([1.0], [2.0]) is None
    assert knee_index([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) is None
    assert knee_index([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    for xs, ys in (([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]), ([1.0, 2.0], [2.0, 1.0])):
        assert (knee_index(xs, ys) is None) == (_kneed_knee(xs, ys, 1.0) is None)


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="same length"):
        knee_index([1.0, 2.0], [1.0])


def test_doctests() -> None:
    from locust_ml.analysis import kneedle

    assert doctest.testmod(kneedle).failed == 0
