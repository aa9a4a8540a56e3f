"""Is a series rising? Kendall's tau test (one-sided) and the Theil-Sen slope.

The stability rule asks it of each step's windows while the load runs, the
soak verdict of a hold's hours. Both used ``scipy.stats`` (``kendalltau``
with ``alternative="greater"``, ``theilslopes``), which takes a second or
more to import: at every start of a Locust process, or mid-run, where that
second stalls the event loop. What they need of it is small and written out
here, computing what scipy computes, as scipy computes it (1.17); a
differential test (``tests/unit/analysis/test_trend_test.py``) holds the two
to the same p-values (within 1e-12, relative) and the same slopes.

**Kendall's tau test** (the Mann-Kendall trend test when ``x`` is time):
over the ``n(n-1)/2`` pairs, ``S`` = concordant - discordant pairs; pairs
tied in ``x`` or in ``y`` count for neither. Under no association ``S`` is
symmetric about 0, and the p-value of "``y`` rises with ``x``" is ``P(S' >=
S)``:

* exactly, from the distribution of the number of inversions of a random
  permutation (Kendall 1970), when there are no ties and ``n <= 33`` or at
  most one pair is out of order either way (scipy's ``method="auto"``);
* otherwise from the normal approximation, ``S`` over its standard
  deviation with the tie correction (Kendall 1970, eq. 4.3)::

      var = (n(n-1)(2n+5) - sum_x t(t-1)(2t+5) - sum_y u(u-1)(2u+5)) / 18
            + sum_x t(t-1) * sum_y u(u-1) / (2n(n-1))
            + sum_x t(t-1)(t-2) * sum_y u(u-1)(u-2) / (9n(n-1)(n-2))

  for tie groups of sizes ``t`` (in ``x``) and ``u`` (in ``y``).

The normal tail is ``0.5 erfc(z/sqrt 2)`` as cephes evaluates it; Python's
``erf`` and ``erfc`` (the C library's) differ from cephes's in the last
bits (6e-14 at most, relative, measured), hence "within 1e-12" rather than
equal - and below 1e-300, where the two round subnormal numbers
differently, only "both tiny".

Pairs are counted by merging, not one by one: the discordant pairs are the
inversions of ``y`` ordered by ``x``, counted level by level of a bottom-up
merge sort in O(n log^2 n) time and O(n) memory, so a day-long step's
10,000 windows cost milliseconds, like scipy's.

**Theil-Sen** (Sen 1968): the slope is the median of the slopes between
all pairs of points with different ``x``; it ignores up to ~29 % of
outliers, where least squares follows one wild window. The line passes
through (median x, median y). All the slopes are computed, as scipy does:
O(n^2) memory (0.8 GB per n-by-n array at 10,000 points, so a day-long
step's windows would exhaust the machine at the end of the run, report
unwritten). It takes at most :data:`THEIL_SEN_MAX_POINTS` points; a longer
series is first reduced to consecutive bins (:func:`binned`: mean x, median
y), which also dampens the short-range correlation of neighbouring windows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["THEIL_SEN_MAX_POINTS", "binned", "kendall_p_rising", "theil_sen"]

#: What a series may be given as.
Series = Sequence[float] | np.ndarray

#: log(DBL_MAX): past it cephes's erfc returns 0 (scipy's normal tail below ~1e-308).
CEPHES_MAXLOG = 7.09782712893383996843e2

#: Up to this many points, no ties: the exact distribution (as scipy's "auto").
EXACT_MAX_N = 33

#: Points :func:`theil_sen` takes at most: its n-by-n arrays are then 32 MB each.
THEIL_SEN_MAX_POINTS = 2_000


def kendall_p_rising(x: Series, y: Series) -> float:
    """One-sided p-value of Kendall's tau test that ``y`` rises with ``x``.

    ``scipy.stats.kendalltau(x, y, alternative="greater").pvalue``: NaN when
    ``x`` or ``y`` holds a NaN or is constant (or has fewer than 2 points).

    >>> round(kendall_p_rising([0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6]), 6)
    0.001389
    >>> kendall_p_rising([0, 1, 2, 3, 4], [3, 3, 3, 3, 3])
    nan
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be two series of one length, got {xs.shape} and {ys.shape}")
    n = len(xs)
    if np.isnan(xs).any() or np.isnan(ys).any():
        return math.nan
    rx = _dense_ranks(xs)
    ry = _dense_ranks(ys)
    x_tie, x0, x1 = _tie_sums(rx)
    y_tie, y0, y1 = _tie_sums(ry)
    both_tie = _tie_sums(rx * n + ry)[0]
    # Ordered by x (and by y within equal x), every pair whose y falls is discordant.
    dis = _inversions(ry[np.lexsort((ry, rx))])
    total = n * (n - 1) // 2
    if total in (x_tie, y_tie):  # every pair tied on one side: no test
        return math.nan
    if x_tie == 0 and y_tie == 0 and (n <= EXACT_MAX_N or min(dis, total - dis) <= 1):
        return _exact_p_rising(n, total - dis)
    s = total - x_tie - y_tie + both_tie - 2 * dis
    # scipy's expression, operation for operation (the same rounding).
    m = n * (n - 1.0)
    var = (m * (2 * n + 5) - x1 - y1) / 18 + (2 * x_tie * y_tie) / m + x0 * y0 / (9 * m * (n - 2))
    return _normal_sf(s / math.sqrt(var))


def theil_sen(x: Series, y: Series) -> tuple[float, float]:
    """``(slope, intercept)`` of the Theil-Sen line through the points ``(x, y)``.

    ``scipy.stats.theilslopes(y, x)``'s ``slope`` and ``intercept``. Needs at
    least two distinct ``x``.

    >>> theil_sen([0, 1, 2, 3, 4], [1, 3, 5, 7, 100])
    (2.0, 1.0)
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be two series of one length, got {xs.shape} and {ys.shape}")
    if len(xs) > THEIL_SEN_MAX_POINTS:
        raise ValueError(
            f"{len(xs)} points for Theil-Sen, at most {THEIL_SEN_MAX_POINTS}: bin them first "
            "(binned)"
        )
    dx = xs[:, np.newaxis] - xs
    dy = ys[:, np.newaxis] - ys
    apart = dx > 0
    if not apart.any():
        raise ValueError(f"a slope needs two distinct x values, got {xs.tolist()!r}")
    slopes = dy[apart] / dx[apart]
    slopes.sort()
    slope = float(np.median(slopes))
    return slope, float(np.median(ys) - slope * np.median(xs))


def binned(x: Series, y: Series, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` consecutive bins of the series: mean x, median y.

    ``x`` is in ascending order (times, window numbers); a series of at most
    ``max_points`` comes back as it is. Bins differ in size by one point at
    most.

    >>> [a.tolist() for a in binned([0, 1, 2, 3, 4, 5], [1, 9, 2, 2, 3, 30], 3)]
    [[0.5, 2.5, 4.5], [5.0, 2.0, 16.5]]
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    if len(xs) <= max_points:
        return xs, ys
    parts = np.array_split(np.arange(len(xs)), max_points)
    return (
        np.array([xs[p].mean() for p in parts]),
        np.array([np.median(ys[p]) for p in parts]),
    )


def _dense_ranks(v: np.ndarray) -> np.ndarray:
    """0 for the smallest value, 1 for the next distinct one...; equal values share one."""
    ranks: np.ndarray = np.unique(v, return_inverse=True)[1].astype(np.int64)
    return ranks


def _tie_sums(ranks: np.ndarray) -> tuple[int, int, int]:
    """Tied pairs, ``sum t(t-1)(t-2)`` and ``sum t(t-1)(2t+5)`` over groups of equal ranks."""
    t = [int(c) for c in np.unique(ranks, return_counts=True)[1] if c > 1]
    return (
        sum(c * (c - 1) // 2 for c in t),
        sum(c * (c - 1) * (c - 2) for c in t),
        sum(c * (c - 1) * (2 * c + 5) for c in t),
    )


def _inversions(ranks: np.ndarray) -> int:
    """Pairs ``i < j`` with ``ranks[i] > ranks[j]`` (ranks in 0..n-1), by bottom-up merge sort.

    O(n log^2 n) time and O(n) memory: a step of a day's soak has some
    10,000 windows, whose 50 million pairs would not fit comparing each.
    At each level, runs of ``width`` are sorted; for every element of a
    right-hand run, the larger elements of its left-hand partner are counted
    by binary search, all runs at once (keys offset by the pair's number).
    """
    n = len(ranks)
    index = np.arange(n)
    values = ranks.astype(np.int64)
    count = 0
    width = 1
    while width < n:
        pair = index // (2 * width)
        right = (index // width) % 2 == 1
        keys = pair * n + values  # sorted within each run; pairs never overlap
        left_keys = keys[~right]  # so sorted throughout
        at_most = np.searchsorted(left_keys, keys[right], side="right")
        pair_end = np.searchsorted(left_keys, (pair[right] + 1) * n, side="left")
        count += int((pair_end - at_most).sum())
        values = np.sort(keys) - pair * n  # merged: runs of 2 * width
        width *= 2
    return count


def _exact_p_rising(n: int, concordant: int) -> float:
    """``P(C' >= concordant)`` for ``n`` untied points (scipy's ``_kendall_p_exact``, "greater").

    Works in the nearer tail of the symmetric distribution and takes the
    complement when the statistic is on the other side. Only ``n <= 33``,
    or a count within one of either end, reaches here.
    """
    total = n * (n - 1) // 2
    in_right_tail = concordant >= total - concordant
    c = min(concordant, total - concordant)
    mass: float
    if n == 2:
        prob, mass = 1.0, 0.5
    elif c == 0:
        prob = 2.0 / math.factorial(n) if n < 171 else 0.0
        mass = prob / 2
    elif c == 1:
        prob = 2.0 / math.factorial(n - 1) if n < 172 else 0.0
        mass = (n - 1) / math.factorial(n)
    else:
        # Counts of permutations of 1..j with k inversions, k <= c, for j = 3..n
        # (Mahonian numbers), as scipy adds them up in floats.
        counts = np.zeros(c + 1)
        counts[0:2] = 1.0
        for j in range(3, n + 1):
            counts = np.cumsum(counts)
            if j <= c:
                counts[j:] -= counts[: c + 1 - j]
        prob = float(2.0 * np.sum(counts) / math.factorial(n))
        mass = float(counts[-1] / math.factorial(n))
    prob = prob / 2 if in_right_tail else 1 - prob / 2 + mass
    return min(max(prob, 0.0), 1.0)


def _normal_sf(z: float) -> float:
    """``P(Z > z)``, standard normal: cephes's ``ndtr(-z)``."""
    x = -z * math.sqrt(0.5)
    if abs(x) < 1.0:
        return 0.5 + 0.5 * math.erf(x)
    # cephes's erfc gives up (0) where exp(-x**2) would underflow; the C library's goes on.
    y = 0.5 * math.erfc(abs(x)) if x * x <= CEPHES_MAXLOG else 0.0
    return 1.0 - y if x > 0 else y
