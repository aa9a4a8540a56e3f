"""When has a load step been measured long enough to be judged?

A step is judged on its post-warm-up measurements. Judging too early reads a
transient (caches filling, a queue still building) or a percentile estimated
from too few requests; waiting too long wastes test time. The rule here has
two parts, and a step is *stable* when both hold.

**(a) Enough samples for the percentile, at a stated confidence.** Let
``xi_p`` be the true ``p``-quantile of latency and ``X(1) <= ... <= X(n)`` the
sorted sample. Whatever the latency distribution (only continuity is assumed),
the number ``B`` of samples below ``xi_p`` is Binomial(n, p), so order
statistics give distribution-free confidence bounds:

* ``P(X(r) >= xi_p) = P(B <= r - 1)``; for the maximum, ``P(X(n) >= xi_p) =
  1 - p**n``. The sample can bound the p-quantile from above with confidence
  ``c`` only if ``1 - p**n >= c``, i.e. ``n >= log(1 - c) / log(p)``.
  For p99 at 95 % that is **n >= 299**, for p99.9 n >= 2995, for p50 n >= 5.
  This is :func:`min_samples`, the default floor: below it, *no* rank of the
  sample is a (1 - alpha) upper bound for the percentile, so no reading of it
  can support "p99 < threshold" at that confidence. We use the one-sided bound
  because an SLO is a one-sided claim.
* ``two_sided=True`` asks for an equal-tailed interval ``[X(l), X(u)]``, which
  exists once ``p**n <= alpha/2`` and ``(1-p)**n <= alpha/2`` (p99 at 95 %:
  n >= 368). :func:`quantile_ci_ranks` gives the ranks for any n.
* An error-rate SLO ``errors < e`` is the same question about a proportion:
  with no failures in ``n`` requests, the one-sided (1 - alpha) upper bound on
  the failure rate is ``1 - alpha**(1/n)`` (about ``3/n`` at 95 %, the "rule of
  three"), which is below ``e`` once ``n >= min_samples(1 - e, c)``. So
  ``errors<1%`` needs 299 requests at 95 %, like p99.

The floor is a minimum, not a precision guarantee: it says the sample can
bound the percentile at all, not how tightly. Tightness comes from (b) and
from the step length.

**(b) No queue building.** The glue cuts the post-warm-up part of a step
into windows of equal length (a second each in a capacity search). A step
is in a steady state when nothing grows without bound through it: with at
least ``min_windows`` (5) windows, a one-sided Mann-Kendall test (Kendall's
tau of each window's median latency against time) at ``alpha`` (1 %) *and*
a rise across the windows (Theil-Sen slope x span) above ``tolerance`` (25 %)
of their median make the step unstable; the same for throughput falling.
The slope of more than 2,000 windows (a day-long step) is that of 2,000
consecutive bins (:func:`~locust_ml.analysis.trend_test.binned`): Theil-Sen
holds the slope of every pair at once.
The test reads the later two thirds of the windows (at least five): a queue
that settles into a steady state rises first and then levels off, which
near saturation takes longer than any warm-up one would wait for, while an
overloaded one keeps rising to the end. On the batching model, 20 s steps
after a step at 95 % of the load: all windows passed 90 % of steps at 97 %
of saturation and no step at 110 %; the later half passed all at 97 % but
30 % at 110 %; two thirds, 93 % and 7 % (and 27 % at 105 %, where the
SLOs, the error ceiling and the search's probe do the rest).
Both conditions: a significant but immaterial trend (a warm cache shaving
2 %) is not a reason to fail a step, and an immaterial wobble is not
significant.

Why not more (earlier versions also required the last three windows to
agree within 10 %, and their mean to match the step's): near saturation a
stationary queue *wanders* - its relaxation time grows as ``1/(1 -
sqrt(rho))**2``, about 14 s at 95 % load on a 100 req/s target, 19 s at
90 % on a 20 req/s one - so its window medians disagree by 50 % and more for
stretches longer than a step, while it is perfectly sustainable. Simulated
against the reference server's batching model (tests/queue_target.py),
those checks failed a fifth of the steps at 90 % load of a 20 req/s target;
the trend test alone passed all of them and still failed steps 6 % above
saturation as often. What catches overload sooner is elsewhere: the SLOs,
the error ceiling, completions falling behind arrivals and, in a capacity
search, the saturation its probe measured.

We watch the *median* rather than the SLO's tail percentile because the
point is to detect growth (a queue that keeps growing raises every
percentile, the median included), and a tail percentile of a one-second
window is mostly noise: p99 of 100 requests is their maximum. The tail is
judged on the whole post-warm-up sample, whose size (a) controls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from locust_ml.analysis.binomial import Binomial
from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import WindowStats
from locust_ml.analysis.trend_test import (
    THEIL_SEN_MAX_POINTS,
    binned,
    kendall_p_rising,
    theil_sen,
)
from locust_ml.errors import ConfigError

__all__ = [
    "WINDOW_PERCENTILES",
    "StabilityRule",
    "StabilityVerdict",
    "WindowStats",
    "min_samples",
    "quantile_ci_ranks",
    "samples_needed",
]

#: Percentiles the rule reads from each window: the median and the quartiles.
WINDOW_PERCENTILES: Final[tuple[float, ...]] = (25.0, 50.0, 75.0)
#: Windows needed before the trend test can speak (5 in perfect order: p = 1/120).
TREND_MIN_WINDOWS: Final = 5


def _check_probabilities(p: float, confidence: float) -> None:
    if not 0.0 < p < 1.0:
        raise ConfigError(f"quantile must be in (0, 1), got {p!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")


def min_samples(p: float, confidence: float = 0.95, *, two_sided: bool = False) -> int:
    """Fewest samples whose order statistics can bound the ``p``-quantile.

    One-sided (default): the smallest ``n`` with ``1 - p**n >= confidence``, so
    the sample maximum is an upper confidence bound. Two-sided: the smallest
    ``n`` for which an equal-tailed interval ``[X(l), X(u)]`` exists.

    >>> min_samples(0.99), min_samples(0.999), min_samples(0.5)
    (299, 2995, 5)
    >>> min_samples(0.99, two_sided=True)
    368
    """
    _check_probabilities(p, confidence)
    alpha = 1.0 - confidence
    tails = (alpha / 2.0,) if two_sided else (alpha,)

    def covered(n: int) -> bool:
        top = p**n  # P(B = n): every sample below the quantile
        bottom = (1.0 - p) ** n  # P(B = 0): every sample above it
        if two_sided:
            return top <= tails[0] and bottom <= tails[0]
        return top <= tails[0]

    bound = math.log(tails[0]) / math.log(p)
    if two_sided:
        bound = max(bound, math.log(tails[0]) / math.log(1.0 - p))
    n = max(1, math.ceil(bound - 1e-9))
    while not covered(n):  # float rounding in the closed form: settle it exactly
        n += 1
    while n > 1 and covered(n - 1):
        n -= 1
    return n


def quantile_ci_ranks(n: int, p: float, confidence: float = 0.95) -> tuple[int, int] | None:
    """1-based ranks ``(l, u)`` of the equal-tailed CI ``[X(l), X(u)]`` for the p-quantile.

    None when ``n`` samples are too few for such an interval.

    >>> quantile_ci_ranks(1000, 0.99)
    (983, 997)
    >>> quantile_ci_ranks(300, 0.99) is None
    True
    """
    _check_probabilities(p, confidence)
    tail = (1.0 - confidence) / 2.0
    below = Binomial(n, p)  # B: how many of the n samples fall below the p-quantile
    k_low = below.quantile(tail)  # smallest k with P(B <= k) >= tail
    if below.cdf(k_low) > tail:
        k_low -= 1
    k_high = below.quantile(1.0 - tail)  # smallest k with P(B >= k + 1) <= tail
    low, high = k_low + 1, k_high + 1
    if low < 1 or high > n:
        return None
    return low, high


def samples_needed(slos: Iterable[SLO], confidence: float = 0.95) -> int:
    """The sample floor (part (a)) for judging ``slos``: the largest of theirs.

    Latency-like SLOs need :func:`min_samples` of their percentile; ``errors <
    e`` needs ``min_samples(1 - e)``. A p100 (maximum) SLO and an ``errors<=0``
    SLO have no finite floor and add none. Streaming SLOs (TTFT, ITL) are
    counted in requests, which is exact for TTFT and conservative for ITL.
    """
    needed = 1
    for slo in slos:
        q = slo.percentile or 100.0
        p = 1.0 - slo.threshold if slo.metric == "errors" else q / 100.0
        if 0.0 < p < 1.0:
            needed = max(needed, min_samples(p, confidence))
    return needed


@dataclass(frozen=True)
class StabilityVerdict:
    """The rule's answer; ``reasons`` say what is still missing when not stable."""

    stable: bool
    samples: int
    samples_needed: int
    reasons: tuple[str, ...] = ()

    @property
    def enough_samples(self) -> bool:
        return self.samples >= self.samples_needed


@dataclass(frozen=True)
class StabilityRule:
    """Parts (a) and (b) of the module docstring, with their parameters.

    >>> rule = StabilityRule()
    >>> flat = [WindowStats(i, i + 1, 100, latency_ms={"p50": 10 + i % 2}) for i in range(6)]
    >>> rule.check(flat, samples=600, samples_needed=299).stable
    True
    >>> rising = [WindowStats(i, i + 1, 100, latency_ms={"p50": 10 + 5 * i}) for i in range(6)]
    >>> rule.check(rising, samples=600, samples_needed=299).stable
    False
    """

    tolerance: float = 0.25
    confidence: float = 0.95
    #: Windows needed before any judgement (the trend test needs five).
    min_windows: int = 5
    #: Significance of the one-sided trend test.
    alpha: float = 0.01

    def __post_init__(self) -> None:
        if self.min_windows < TREND_MIN_WINDOWS:
            raise ConfigError(
                f"stability needs >= {TREND_MIN_WINDOWS} windows for its trend test, "
                f"got {self.min_windows}"
            )
        if not 0.0 < self.tolerance < 1.0:
            raise ConfigError(f"stability tolerance must be in (0, 1), got {self.tolerance!r}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"stability confidence must be in (0, 1), got {self.confidence!r}")
        if not 0.0 < self.alpha < 0.5:
            raise ConfigError(f"stability alpha must be in (0, 0.5), got {self.alpha!r}")

    @staticmethod
    def window_percentiles() -> tuple[float, ...]:
        """The latency percentiles each window must carry."""
        return WINDOW_PERCENTILES

    def samples_needed(self, slos: Iterable[SLO]) -> int:
        """Part (a)'s floor for ``slos`` at this rule's confidence."""
        return samples_needed(slos, self.confidence)

    def check(
        self, windows: Sequence[WindowStats], *, samples: int, samples_needed: int
    ) -> StabilityVerdict:
        """Judge the post-warm-up ``windows`` (oldest first) and sample count."""
        reasons: list[str] = []
        if samples < samples_needed:
            reasons.append(
                f"{samples} of {samples_needed} requests needed for the SLO percentile at "
                f"{self.confidence:.0%} confidence"
            )
        if len(windows) < self.min_windows:
            reasons.append(f"{len(windows)} of {self.min_windows} measurement windows so far")
            return StabilityVerdict(False, samples, samples_needed, tuple(reasons))
        key = percentile_key(50.0)
        medians = [w.latency_ms.get(key) for w in windows]
        lat = [float(m) for m in medians if m is not None and not math.isnan(m)]
        if len(lat) < self.min_windows:
            reasons.append(
                f"{len(lat)} of {len(windows)} windows had completed requests; "
                f"{self.min_windows} are needed"
            )
        else:
            reasons += _trend("median latency", _recent(lat), self.tolerance, +1, self.alpha)
        rates = _recent([w.rate for w in windows])
        reasons += _trend("throughput", rates, self.tolerance, -1, self.alpha)
        return StabilityVerdict(not reasons, samples, samples_needed, tuple(reasons))


def _recent(values: Sequence[float]) -> Sequence[float]:
    """The later two thirds of ``values`` (at least :data:`TREND_MIN_WINDOWS` of them).

    A queue settling into a steady state near saturation rises early and
    then levels off; one that is overloaded rises all the way. Leaving the
    first third out lets the settling pass; keeping two thirds keeps the
    test's power (module docstring).
    """
    return values[-max(TREND_MIN_WINDOWS, (2 * len(values) + 2) // 3) :]


def _trend(name: str, values: Sequence[float], tol: float, worse: int, alpha: float) -> list[str]:
    """(b): a steady trend the bad way through the step (a queue building).

    ``worse`` is +1 when higher is worse (latency), -1 when lower is
    (throughput). See the module docstring for the two conditions.
    """
    n = len(values)
    if n < TREND_MIN_WINDOWS:
        return []
    xs = list(range(n))
    ys = [v * worse for v in values]
    p_value = kendall_p_rising(xs, ys)  # NaN (all windows equal) is no trend
    if not p_value < alpha:
        return []
    # A day-long step has tens of thousands of windows: their slope from bins
    # (Theil-Sen holds every pair's slope at once), in units of one window.
    slope, _ = theil_sen(*binned(xs, ys, THEIL_SEN_MAX_POINTS))
    level = abs(sorted(values)[n // 2])
    rise = slope * (n - 1)
    if level > 0 and rise > tol * level:
        direction = "rising" if worse > 0 else "falling"
        return [
            f"{name} is {direction} steadily through the step: {rise / level:.0%} across "
            f"{n} windows (Kendall p = {p_value:.2g}); a queue is building"
        ]
    return []
