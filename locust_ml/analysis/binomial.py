"""The binomial distribution's CDF and quantiles, for order-statistic intervals.

The number of samples below a true percentile is Binomial(n, p)
(:mod:`locust_ml.analysis.stability`), so its quantiles give the ranks of a
distribution-free interval for that percentile. ``scipy.stats.binom`` has
them, at a second or more of import; this computes the same integers
(a differential test holds the two equal over thousands of ``(n, p, q)``).

How: the probabilities ``P(B = k)`` relative to the most likely one (the mode,
``floor((n + 1) p)``), walking out from it on both sides by the ratio of
neighbours, ``P(k + 1) / P(k) = (n - k) / (k + 1) * p / (1 - p)``, until a
term is below 1e-40 of the mode's - what lies beyond is too little to move
any probability a caller can ask about (the smallest tail of a confidence
in (0, 1), in floats, is 5.5e-17). Normalising by their sum needs no
factorials and no ``lgamma`` (whose rounding, at ``n`` in the millions,
would already show in the ninth digit), and only the ``~27 sqrt(n p (1-p))``
terms around the mode are ever computed: ``n`` in the millions takes
milliseconds. The CDF below the mode is the sum from the left, above it one
minus the sum from the right, so both tails keep their relative precision.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from functools import cached_property

__all__ = ["Binomial"]

#: Terms below this fraction of the mode's probability are left out.
NEGLIGIBLE = 1e-40


@dataclass(frozen=True)
class Binomial:
    """Binomial(n, p): ``cdf(k)`` and ``quantile(q)`` as ``scipy.stats.binom`` gives them.

    >>> b = Binomial(1000, 0.99)
    >>> b.quantile(0.025), b.quantile(0.975)
    (983, 996)
    >>> round(b.cdf(983), 4)
    0.0264
    """

    n: int
    p: float

    def __post_init__(self) -> None:
        if self.n < 0 or not 0.0 < self.p < 1.0:
            raise ValueError(f"Binomial needs n >= 0 and 0 < p < 1, got n={self.n!r}, p={self.p!r}")

    def cdf(self, k: int) -> float:
        """``P(B <= k)``."""
        lo, values = self._cdf
        if k < lo:
            return 0.0
        return values[k - lo] if k - lo < len(values) else 1.0

    def quantile(self, q: float) -> int:
        """The smallest ``k`` with ``P(B <= k) >= q``, for ``0 < q <= 1``.

        Where ``P(B <= k)`` is within a few units of the last place of 1 for
        several ``k`` (``q`` above ``1 - 1e-12`` or so), scipy does not
        return the smallest: its root finder stops elsewhere on the flat.
        """
        if not 0.0 < q <= 1.0:
            raise ValueError(f"a quantile needs 0 < q <= 1, got {q!r}")
        if q == 1.0:
            return self.n
        lo, values = self._cdf
        return lo + bisect.bisect_left(values, q)

    @cached_property
    def _cdf(self) -> tuple[int, list[float]]:
        """(first k kept, ``P(B <= k)`` for k from there to the last kept)."""
        n, p = self.n, self.p
        odds = p / (1.0 - p)
        mode = min(n, math.floor((n + 1) * p))
        below = []  # P(k) / P(mode) for k = mode - 1, mode - 2, ...
        term, k = 1.0, mode
        while k > 0:
            term *= k / ((n - k + 1) * odds)
            if term < NEGLIGIBLE:
                break
            below.append(term)
            k -= 1
        above = []  # for k = mode + 1, mode + 2, ...
        term, k = 1.0, mode
        while k < n:
            term *= (n - k) / (k + 1) * odds
            if term < NEGLIGIBLE:
                break
            above.append(term)
            k += 1
        left = list(itertools.accumulate(reversed(below)))  # P(B <= k) * total, below the mode
        right = list(itertools.accumulate(reversed(above)))  # P(B >= k) * total, above it
        total = math.fsum(below) + 1.0 + math.fsum(above)
        values = [s / total for s in left]  # k = lo .. mode - 1
        values += [1.0 - s / total for s in reversed(right)]  # k = mode .. hi - 1
        values.append(1.0)  # k = hi: nothing kept above it
        return mode - len(below), values
