"""Kneedle (Satopaa et al., 2011) for a concave increasing curve: where it bends.

This is the algorithm of the ``kneed`` package (``KneeLocator(x, y, S,
curve="concave", direction="increasing")``, its default ``interp1d``: no
smoothing, and offline: the first knee), written out here because importing
``kneed`` pulls in ``scipy.signal``, a second or more at every start of a
Locust process, for some forty lines of arithmetic. A differential test
(``tests/unit/analysis/test_kneedle.py``) checks that both find the same knee
on hundreds of curves; keep it so when changing anything below.

The steps, on ``n`` points sorted by ``x``:

1. Normalise ``x`` and ``y`` to [0, 1] (min to 0, max to 1).
2. The difference curve ``d = y_n - x_n``: how far the curve stands above
   the diagonal. A concave increasing curve bulges above it, most at the knee.
3. Local maxima and minima of ``d``, each point against its two neighbours
   with ``>=`` (``<=``), and the ends against themselves (``argrelextrema``
   with order 1 and mode ``clip``). On a plateau every point is both.
4. Each maximum ``i`` sets a threshold ``d[i] - S * mean(diff(x_n))``: a knee
   needs the curve to fall that far below its peak, ``S`` (the sensitivity)
   average x-steps' worth.
5. Walk from the first maximum. At a maximum take its threshold and start
   watching; at a minimum (also when it is a maximum too) the threshold is 0
   and watching stops until the next maximum. While watching, the first point
   whose successor falls below the threshold makes the last maximum the knee.
   The last point is never a knee.

No knee (``None``) when no maximum is followed by such a fall: a curve that
keeps rising as steeply as it started, or too few points to tell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["knee_index"]


def knee_index(x: Sequence[float], y: Sequence[float], *, sensitivity: float = 1.0) -> int | None:
    """Index of the knee of the concave increasing curve ``y(x)``, or None.

    ``x`` must be sorted ascending and both finite; a constant ``x`` or ``y``
    has no knee. Same answer as ``kneed.KneeLocator(x, y, S=sensitivity,
    curve="concave", direction="increasing").knee`` (which gives ``x`` at
    this index).

    >>> knee_index([1, 2, 3, 4, 5, 6], [10, 50, 80, 90, 92, 93])
    2
    >>> knee_index([1, 2, 3, 4], [1, 2, 3, 4]) is None
    True
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must be the same length, got {len(xs)} and {len(ys)}")
    if len(xs) == 0 or xs.max() == xs.min() or ys.max() == ys.min():
        return None  # the reference divides 0 by 0 here and finds nothing in the NaNs
    # The same float operations as the reference, in the same order: the same bits.
    x_n = (xs - xs.min()) / (xs.max() - xs.min())
    y_n = (ys - ys.min()) / (ys.max() - ys.min())
    d = y_n - x_n
    before = np.concatenate((d[:1], d[:-1]))  # the ends compare with themselves
    after = np.concatenate((d[1:], d[-1:]))
    maxima = (d >= before) & (d >= after)
    minima = (d <= before) & (d <= after)
    if not maxima.any():
        return None
    allowance = sensitivity * np.abs(np.diff(x_n).mean())
    threshold = 0.0
    at = 0
    watching = True
    for i in range(int(np.argmax(maxima)), len(d) - 1):
        if maxima[i]:
            threshold, at, watching = float(d[i] - allowance), i, True
        if minima[i]:
            threshold, watching = 0.0, False
        if watching and d[i + 1] < threshold:
            return at
    return None
