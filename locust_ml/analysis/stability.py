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

**(b) Consecutive windows agree.** The glue cuts the post-warm-up part of a
step into windows of equal length (a few seconds each). Over the last ``k``
windows (default 3) two statistics must each stay within a relative tolerance
``tol`` (default 10 %) of their mean over those windows, widened by ``z``
standard errors (default 2) of each window's own estimate so that sampling
noise alone does not read as instability:

* throughput ``r_i = requests_i / seconds_i``: ``|r_i - mean| <= tol*mean +
  z*sqrt(requests_i)/seconds_i`` (a window's count is at most as noisy as a
  Poisson count, whose standard deviation is its square root);
* median latency ``m_i``: ``|m_i - mean| <= tol*mean + z*iqr_i/sqrt(n_i)``,
  where ``iqr_i = p75 - p25`` of the window. The standard error of a sample
  median is ``1 / (2 f(m) sqrt(n))``; estimating the density at the median by
  its average over the interquartile range, ``f(m) ~ 0.5 / iqr``, gives
  ``iqr / sqrt(n)`` (about 8 % above the exact value for a normal, 10 % for an
  exponential: slightly conservative).

Both checks are one-sided, in the direction that means overload: a window
counts against stability when its throughput is *below* the others or its
median latency *above* them, and drift only when throughput falls or latency
rises. A step whose latency settles downward after a transient, or that
serves a burst a little faster, is not at risk of flipping its verdict;
measured on a batching server at 75 % of its capacity, two-sided checks on
1-2 s windows kept judging such steps unstable (queueing makes the median
wander far more than its sampling error), which biased the search low.

The rule errs toward waiting: a false "unstable" costs one more window, a
false "stable" judges a transient. With the defaults, three windows cut from
one stationary process are judged stable about 97 % of the time at 25
requests per window and essentially always at 250 (a test checks this).

Agreement of the last ``k`` windows alone misses slow drift: a queue growing
linearly moves each window by a shrinking fraction of its mean (10 s of
growth is 10 % of 100 s of it). So, once there are more than ``k`` windows,
the mean of the last ``k`` must also be within ``tol`` (plus ``z`` standard
errors of that mean) of the mean over *all* post-warm-up windows: under
linear growth the two differ by about half, however long the step runs; in a
stationary step they agree. An early transient the warm-up did not cover
keeps the step unstable until later windows dilute it, which errs the same
way (wait rather than judge a transient).

**(c) No steady trend.** A queue fed a few percent above capacity grows
slowly and steadily: each window a little worse than the last, never enough
for (b). With five or more windows, a one-sided Mann-Kendall test at 1 % and
a rise across the windows above ``tol`` of their median make the step
unstable (:func:`_trend`).

We watch the *median* rather than the SLO's tail percentile because the
point of (b) is to detect drift (a queue that keeps growing raises every
percentile, the median included), and a tail percentile of a few-second
window is mostly noise: p99 of 100 requests is their maximum. The tail is
judged on the whole post-warm-up sample, whose size (a) controls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.slo import SLO, SLOStats
from locust_ml.analysis.steps import WindowStats
from locust_ml.errors import ConfigError

__all__ = [
    "WINDOW_PERCENTILES",
    "StabilityRule",
    "StabilityVerdict",
    "StepObservation",
    "WindowStats",
    "min_samples",
    "quantile_ci_ranks",
    "samples_needed",
]

#: Percentiles the rule reads from each window: the median and the quartiles.
WINDOW_PERCENTILES: Final[tuple[float, ...]] = (25.0, 50.0, 75.0)


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
    from scipy import stats

    _check_probabilities(p, confidence)
    tail = (1.0 - confidence) / 2.0
    dist = stats.binom(n, p)
    k_low = int(dist.ppf(tail))  # smallest k with P(B <= k) >= tail
    if dist.cdf(k_low) > tail:
        k_low -= 1
    k_high = int(dist.ppf(1.0 - tail))  # smallest k with P(B >= k + 1) <= tail
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
class StepObservation:
    """What the glue measured in the current step, for the capacity search.

    ``offered`` is the step's load (users or requests/s, as the tick asked);
    ``windows`` and ``aggregate`` cover only the time after the step's warm-up;
    ``achieved_rps`` is the post-warm-up aggregate throughput (requests
    completed per second).
    """

    step: int
    offered: float
    elapsed_in_step: float
    windows: tuple[WindowStats, ...]
    aggregate: SLOStats
    achieved_rps: float | None = None

    @property
    def measured_s(self) -> float:
        """Seconds covered by the windows."""
        return self.windows[-1].end - self.windows[0].start if self.windows else 0.0

    @property
    def throughput(self) -> float | None:
        """``achieved_rps``, else computed from the aggregate and the windows."""
        if self.achieved_rps is not None:
            return self.achieved_rps
        seconds = self.measured_s
        return self.aggregate.requests / seconds if seconds > 0 else None


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


def _spread(window: WindowStats) -> float:
    q25 = window.latency_ms.get(percentile_key(25.0))
    q75 = window.latency_ms.get(percentile_key(75.0))
    if q25 is None or q75 is None or math.isnan(q25) or math.isnan(q75):
        return 0.0
    return max(q75 - q25, 0.0)


def _disagreements(
    name: str,
    values: Sequence[float],
    errors: Sequence[float],
    tolerance: float,
    z: float,
    worse: int,
) -> list[str]:
    """Windows off their mean in the ``worse`` direction (+1: higher is worse, -1: lower)."""
    mean = sum(values) / len(values)
    out = []
    for i, (v, se) in enumerate(zip(values, errors, strict=True)):
        allowed = tolerance * abs(mean) + z * se
        if (v - mean) * worse > allowed:
            out.append(
                f"{name} of window {i + 1} of the last {len(values)} is {v:.4g}, "
                f"{abs(v - mean) / mean if mean else math.inf:.0%} off their mean {mean:.4g} "
                f"(allowed {allowed:.4g})"
            )
    return out


@dataclass(frozen=True)
class StabilityRule:
    """Parts (a) and (b) of the module docstring, with their parameters.

    >>> rule = StabilityRule(windows=2, tolerance=0.1)
    >>> w = [WindowStats(0, 5, 500, latency_ms={"p25": 9, "p50": 10, "p75": 12}),
    ...      WindowStats(5, 10, 510, latency_ms={"p25": 9, "p50": 10.4, "p75": 12})]
    >>> rule.check(w, samples=1010, samples_needed=299).stable
    True
    """

    windows: int = 3
    tolerance: float = 0.10
    z: float = 2.0
    confidence: float = 0.95
    #: Windows needed before any judgement (at least ``windows``). More than
    #: ``windows`` makes the drift check below always run: a queue growing
    #: through a short step raises its last windows above the step's mean.
    min_windows: int = 0

    def __post_init__(self) -> None:
        if self.windows < 2:
            raise ConfigError(f"stability needs >= 2 windows to compare, got {self.windows}")
        if not 0.0 < self.tolerance < 1.0:
            raise ConfigError(f"stability tolerance must be in (0, 1), got {self.tolerance!r}")
        if not self.z >= 0.0:
            raise ConfigError(f"stability z must be >= 0, got {self.z!r}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"stability confidence must be in (0, 1), got {self.confidence!r}")

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
        needed = max(self.windows, self.min_windows)
        if len(windows) < needed:
            reasons.append(f"{len(windows)} of {needed} measurement windows so far")
            return StabilityVerdict(False, samples, samples_needed, tuple(reasons))
        k, key = self.windows, percentile_key(50.0)
        rates = [w.rate for w in windows]
        rate_se = [
            math.sqrt(max(w.requests, 1)) / w.seconds if w.seconds > 0 else 0.0 for w in windows
        ]
        reasons += self._compare("throughput", rates, rate_se, worse=-1)
        medians = [w.latency_ms.get(key) for w in windows]
        if any(m is None or math.isnan(m) for m in medians[-k:]):
            reasons.append("a window without latency data (no completed requests)")
        else:
            kept = [
                (float(m), w)
                for m, w in zip(medians, windows, strict=True)
                if m is not None and not math.isnan(m)
            ]
            lat = [m for m, _ in kept]
            lat_se = [_spread(w) / math.sqrt(max(w.requests, 1)) for _, w in kept]
            reasons += self._compare("median latency", lat, lat_se, worse=+1)
        return StabilityVerdict(not reasons, samples, samples_needed, tuple(reasons))

    def _compare(
        self, name: str, values: Sequence[float], errors: Sequence[float], *, worse: int
    ) -> list[str]:
        """(b): the last ``k`` windows agree, and their mean has not drifted the bad way."""
        k, tol, z = self.windows, self.tolerance, self.z
        reasons = _disagreements(name, values[-k:], errors[-k:], tol, z, worse)
        if len(values) > k:
            recent = sum(values[-k:]) / k
            overall = sum(values) / len(values)
            noise = math.sqrt(sum(e * e for e in errors[-k:]) / k) / math.sqrt(k)
            allowed = tol * abs(overall) + z * noise
            if (recent - overall) * worse > allowed:
                reasons.append(
                    f"{name} is drifting: {recent:.4g} over the last {k} windows vs "
                    f"{overall:.4g} over all {len(values)} after warm-up (allowed {allowed:.4g})"
                )
        if not reasons:
            reasons += _trend(name, values, tol, worse)
        return reasons


#: Windows needed before the trend test can speak (5 in perfect order: p = 1/120).
TREND_MIN_WINDOWS = 5
TREND_ALPHA = 0.01


def _trend(name: str, values: Sequence[float], tol: float, worse: int) -> list[str]:
    """(c): a steady trend the bad way through the whole step (a queue building).

    The drift check above compares means and lets a slow, steady rise of up
    to about twice the tolerance through (last ``k`` vs all windows differ by
    half the rise). A queue fed 5 % above capacity grows by exactly such a
    steady rise, and its step would pass. So, with at least
    :data:`TREND_MIN_WINDOWS` windows, a Mann-Kendall test (Kendall's tau of
    the values against time, one-sided) significant at 1 % *and* a rise
    across the windows (Theil-Sen slope x span) above ``tol`` of the median
    mark the step unstable. Both conditions: a stationary step passes the
    test 99 % of the time, and a significant but immaterial trend (a warm
    cache shaving 2 %) is not a reason to wait.
    """
    n = len(values)
    if n < TREND_MIN_WINDOWS:
        return []
    from scipy.stats import kendalltau, theilslopes

    xs = list(range(n))
    ys = [v * worse for v in values]
    tau = kendalltau(xs, ys, alternative="greater")
    if not tau.pvalue < TREND_ALPHA:
        return []
    slope = float(theilslopes(ys, xs).slope)
    level = abs(sorted(values)[n // 2])
    rise = slope * (n - 1)
    if level > 0 and rise > tol * level:
        direction = "rising" if worse > 0 else "falling"
        return [
            f"{name} is {direction} steadily through the step: {rise / level:.0%} across "
            f"{n} windows (Kendall p = {float(tau.pvalue):.2g}); a queue is building"
        ]
    return []
