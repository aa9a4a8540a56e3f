"""Knee, saturation and SLO capacity: the decisions a ramp of load steps supports.

A capacity test produces one point per load step: the throughput the target
achieved and its latency percentiles at that load. This module turns those
points into the three numbers a capacity plan starts from:

* **SLO capacity** (``slo_rps``): the highest throughput at which every SLO
  held. Steps are ordered by load; the first step that fails an SLO brackets
  the capacity with the last passing step below it, and the capacity is
  interpolated linearly between them at the point where the failing SLO's
  measure crosses its threshold. Latency grows convexly with load, so the
  straight line between the two steps lies above the true curve and crosses
  the threshold *early*: the interpolation errs low, never high. Passing
  steps above the first failure are not trusted (a noisy pass beyond a
  failure is not capacity).
* **Knee** (``knee_rps``): where more latency stops buying throughput, found
  with Kneedle (Satopaa et al., 2011; the ``kneed`` package, its authors'
  implementation) on good throughput against tail latency (see
  :func:`find_knee` for why this orientation).
* **Saturation** (``saturation_rps``): where achieved throughput stops
  tracking offered load. Open loop: the first step that completes (without
  failing) less than ``1 - tolerance`` of what was offered, the tolerance
  being 5% or three times the step's Poisson noise (``3/sqrt(n)``), whichever
  is larger; closed loop: the
  first step where adding users returns less than a tenth of the proportional
  gain. The saturation throughput is the best good throughput from there on.

The **confidence interval** on ``slo_rps`` is a bootstrap over measurement
windows: each replicate resamples every step's windows with replacement,
rescales the step's exact percentiles by the resampled windows' mean
percentile, re-judges the SLOs and recomputes the capacity. It reflects how
much the figure depends on which seconds of each step were measured.

Everything here is pure: plain data in, frozen data out, seeded randomness.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.slo import SLO, SLOStats, evaluate
from locust_ml.analysis.steps import StepStats, full_windows

__all__ = [
    "CapacityAnalysis",
    "CapacitySettings",
    "CurvePoint",
    "analyze_capacity",
    "find_knee",
    "find_saturation",
    "point_from_step",
    "points_from_steps",
    "slo_capacity",
]

#: Step labels that are not load levels: a capacity search's pause to drain the queue.
NOT_ON_CURVE = frozenset({"cooldown"})

#: Kneedle needs a few points to tell a bend from noise.
MIN_KNEE_POINTS = 4


@dataclass(frozen=True)
class CurvePoint:
    """One load step, as the capacity analysis sees it.

    ``load`` is what the test controlled (offered requests/s in open loop,
    users in closed loop). ``good_rps`` is the throughput of requests that
    succeeded. ``latency_ms`` is the latency the SLOs judge (from the
    intended send time in open loop). The window tuples carry the per-window
    measurements the bootstrap resamples.
    """

    step: int
    load: float
    achieved_rps: float
    good_rps: float
    requests: int
    failure_ratio: float
    latency_ms: Mapping[str, float | None]
    mode: str = "closed"
    offered_rps: float | None = None
    passed: bool | None = None
    #: ``passed`` came from a judge that saw more than these statistics (the
    #: capacity search judges each step after its warm-up): trust it, and keep
    #: it in bootstrap replicates, instead of re-judging the whole step.
    judged: bool = False
    ttft_ms: Mapping[str, float | None] | None = None
    itl_ms: Mapping[str, float | None] | None = None
    window_good_rps: tuple[float, ...] = ()
    window_latency_ms: tuple[Mapping[str, float | None], ...] = ()
    window_failure: tuple[tuple[int, int], ...] = ()  # (failures, requests) per window

    def slo_stats(self) -> SLOStats:
        return SLOStats(
            requests=self.requests,
            failure_ratio=self.failure_ratio,
            latency_ms=self.latency_ms,
            ttft_ms=self.ttft_ms,
            itl_ms=self.itl_ms,
        )


@dataclass(frozen=True)
class CapacitySettings:
    """Knobs of the analysis; the defaults are what the docs describe."""

    #: Percentile the knee is computed on.
    knee_percentile: float = 99.0
    #: Open loop: a step saturates when good throughput < (1 - this) x offered.
    saturation_tolerance: float = 0.05
    #: Closed loop: saturated when the marginal gain from more users is below this
    #: fraction of the proportional gain.
    marginal_gain: float = 0.1
    bootstrap: int = 400
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class CapacityAnalysis:
    """The capacity figures and how they were reached."""

    slo_rps: float | None
    slo_rps_ci: tuple[float, float] | None
    knee_rps: float | None
    knee_latency_ms: float | None
    knee_step: int | None
    saturation_rps: float | None
    saturation_step: int | None
    limiting_slo: str | None
    last_passing_step: int | None
    first_failing_step: int | None
    latency_key: str
    #: "bracketed" (a pass and a failure), "lower-bound" (every step passed),
    #: "none" (no step passed, or no SLOs).
    bound: str = "none"
    curve: tuple[CurvePoint, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- knee


def find_knee(
    latencies: Sequence[float], throughputs: Sequence[float]
) -> tuple[int | None, str | None]:
    """Index of the knee (Kneedle) of throughput against tail latency, or a reason.

    The curve is read the way a capacity planner reads it: as load rises,
    what does each millisecond of tail latency buy in throughput? Below the
    knee a little latency buys a lot; above it, latency grows while throughput
    stalls. Throughput against latency is then concave and increasing in
    both open loop (flat latency, then a wall) and closed loop (latency
    proportional to users once throughput has plateaued), and unlike
    latency-against-throughput it does not fold back when an overloaded
    target's throughput dips.

    Rule for short or noisy curves: fewer than :data:`MIN_KNEE_POINTS`
    points, or a throughput that does not rise by 10% over the range, gives
    no knee (``None`` and why) rather than a guess. Below the knee, tail
    latency is flat up to noise, so in latency order throughput zigzags;
    Kneedle runs on its upper envelope (the best throughput at each latency
    or less), and the knee is the step that set the envelope there.
    """
    pts = sorted(
        (float(x), float(y), i)
        for i, (x, y) in enumerate(zip(latencies, throughputs, strict=True))
        if math.isfinite(x) and math.isfinite(y)
    )
    if len(pts) < MIN_KNEE_POINTS:
        return None, f"{len(pts)} steps with latency data; a knee needs at least {MIN_KNEE_POINTS}"
    # Steps with the same tail latency (two loads past saturation that differ
    # by a user or two, read through the same histogram bucket) are one point
    # of the curve: the best throughput there, as the envelope would take it.
    distinct: dict[float, tuple[float, float, int]] = {}
    for p in pts:
        kept = distinct.get(p[0])
        if kept is None or p[1] > kept[1]:
            distinct[p[0]] = p
    pts = sorted(distinct.values())
    if len(pts) < MIN_KNEE_POINTS:
        return None, (
            f"{len(pts)} distinct tail latencies over the steps; "
            f"a knee needs at least {MIN_KNEE_POINTS}"
        )
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    if max(ys) <= 1.1 * max(min(ys), 1e-12):
        return None, "throughput did not rise by 10% over the tested range; no knee"
    from kneed import KneeLocator

    # On the raw zigzag Kneedle would take the first zig for a knee.
    envelope = list(itertools.accumulate(ys, max))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kneed warns (RuntimeWarning) when it finds none
        locator = KneeLocator(xs, envelope, S=1.0, curve="concave", direction="increasing")
    if locator.knee is None:
        return None, "Kneedle found no knee: throughput kept rising with latency"
    at = xs.index(float(locator.knee))
    # The step that set the envelope there: the best throughput at that latency or less.
    best = max(range(at + 1), key=lambda j: ys[j])
    return pts[best][2], None


# ---------------------------------------------------------------------- saturation


def find_saturation(
    points: Sequence[CurvePoint], settings: CapacitySettings = CapacitySettings()
) -> tuple[int | None, float | None]:
    """(index of the first saturated point, saturation throughput) or (None, None)."""
    for i, p in enumerate(points):
        saturated = False
        if p.mode == "open" and p.offered_rps:
            # Poisson arrivals put ~1/sqrt(n) noise on a step's count: allow 3 sigma.
            tolerance = max(settings.saturation_tolerance, 3.0 / math.sqrt(max(p.requests, 1)))
            saturated = p.good_rps < (1.0 - tolerance) * p.offered_rps
        elif i > 0:
            prev = points[i - 1]
            if prev.good_rps > 0 and prev.load > 0 and p.load > prev.load:
                gain = p.good_rps / prev.good_rps - 1.0
                proportional = p.load / prev.load - 1.0
                saturated = gain < settings.marginal_gain * proportional
        if saturated:
            start = i - 1 if p.mode != "open" and i > 0 else i
            best = max(q.good_rps for q in points[max(start, 0) :])
            # Open loop: the first saturated step cannot complete more than it
            # was offered, but a lower step may have done better than it.
            if p.mode == "open" and i > 0:
                best = max(best, points[i - 1].good_rps)
            return i, best
    return None, None


# -------------------------------------------------------------------- SLO capacity


def _crossing(lo: float, hi: float, threshold: float) -> float:
    """Fraction of the way from ``lo`` to ``hi`` where ``threshold`` is crossed."""
    if hi <= lo:
        return 0.0
    return min(max((threshold - lo) / (hi - lo), 0.0), 1.0)


def _measure(slo: SLO, p: CurvePoint) -> float | None:
    if slo.metric == "errors":
        return p.failure_ratio
    source = {"latency": p.latency_ms, "ttft": p.ttft_ms, "itl": p.itl_ms}.get(slo.metric)
    key = slo.key
    if source is None or key is None:
        return None
    value = source.get(key)
    return None if value is None or math.isnan(value) else value


def _passes(slos: Sequence[SLO], p: CurvePoint) -> bool:
    return evaluate(tuple(slos), p.slo_stats()).passed


def slo_capacity(
    points: Sequence[CurvePoint], slos: Sequence[SLO]
) -> tuple[float | None, str | None, int | None, int | None, str]:
    """(capacity, limiting SLO, last passing step, first failing step, bound).

    ``points`` must be ordered by load. See the module docstring for the rule.
    """
    if not slos or not points:
        return None, None, None, None, "none"
    verdicts = [p.passed if p.judged and p.passed is not None else _passes(slos, p) for p in points]
    first_fail = next((i for i, ok in enumerate(verdicts) if not ok), None)
    passing = [i for i, ok in enumerate(verdicts[:first_fail]) if ok]
    if not passing:
        return (
            None,
            None,
            None,
            points[first_fail].step if first_fail is not None else None,
            "none",
        )
    best = max(passing, key=lambda i: points[i].good_rps)
    p = points[best]
    if first_fail is None:
        return p.good_rps, None, p.step, None, "lower-bound"
    f = points[first_fail]
    capacity, limiting = p.good_rps, None
    for slo in slos:
        mf = _measure(slo, f)
        mp = _measure(slo, p)
        if mf is None or slo.admits(mf):
            continue
        # Both ends in good throughput, the unit of every capacity figure here: a
        # failing step's achieved or offered rate (failed requests included) would
        # put the bracket's top above what it delivered, and loosening the SLO
        # until that step passes would then lower the capacity. A step that shed
        # below the passing one leaves the capacity at the passing one.
        x_f = f.good_rps
        if mp is None or x_f <= p.good_rps:
            candidate = p.good_rps
        else:
            candidate = p.good_rps + _crossing(mp, mf, slo.threshold) * (x_f - p.good_rps)
        if limiting is None or candidate < capacity:
            capacity, limiting = candidate, str(slo)
    if limiting is None:  # failed for want of data (no latency at all): no interpolation
        limiting = "no data at the failing step"
    return capacity, limiting, p.step, f.step, "bracketed"


# ----------------------------------------------------------------------- bootstrap


def _replicates(p: CurvePoint, rng: np.random.Generator, count: int) -> list[CurvePoint]:
    """``count`` bootstrap replicates of ``p``, drawn in one vectorized pass.

    Each replicate resamples the step's windows with replacement: good
    throughput is the resampled windows' mean, each latency percentile the
    step's exact value scaled by the resampled windows' mean percentile over
    all windows' mean, and the failure ratio the resampled windows' pooled one.
    """
    n = len(p.window_good_rps)
    if n < 2:
        return [p] * count
    idx = rng.integers(0, n, size=(count, n))
    good = np.asarray(p.window_good_rps, dtype=float)[idx].mean(axis=1)
    scaled: dict[str, np.ndarray] = {}
    if len(p.window_latency_ms) == n:
        for key, value in p.latency_ms.items():
            window = [w.get(key) for w in p.window_latency_ms]
            if value is None or any(v is None for v in window):
                continue
            arr = np.asarray(window, dtype=float)
            base = float(arr.mean())
            if base > 0:
                scaled[key] = value * arr[idx].mean(axis=1) / base
    failure = np.full(count, p.failure_ratio)
    if len(p.window_failure) == n:
        fr = np.asarray(p.window_failure, dtype=float)
        fails, reqs = fr[idx, 0].sum(axis=1), fr[idx, 1].sum(axis=1)
        failure = np.where(reqs > 0, fails / np.maximum(reqs, 1.0), p.failure_ratio)
    ratio = good / p.good_rps if p.good_rps > 0 else np.ones(count)
    out = []
    for r in range(count):
        latency = dict(p.latency_ms)
        for key, values in scaled.items():
            latency[key] = float(values[r])
        out.append(
            CurvePoint(
                step=p.step,
                load=p.load,
                achieved_rps=p.achieved_rps * float(ratio[r]),
                good_rps=float(good[r]),
                requests=p.requests,
                failure_ratio=float(failure[r]),
                latency_ms=latency,
                mode=p.mode,
                offered_rps=p.offered_rps,
                ttft_ms=p.ttft_ms,
                itl_ms=p.itl_ms,
                passed=p.passed if p.judged else None,
                judged=p.judged,
            )
        )
    return out


def _bootstrap_ci(
    points: Sequence[CurvePoint], slos: Sequence[SLO], settings: CapacitySettings
) -> tuple[float, float] | None:
    if settings.bootstrap <= 0 or not any(len(p.window_good_rps) >= 2 for p in points):
        return None
    rng = np.random.default_rng(settings.seed)
    per_step = [_replicates(p, rng, settings.bootstrap) for p in points]
    values = []
    for r in range(settings.bootstrap):
        capacity = slo_capacity([reps[r] for reps in per_step], slos)[0]
        values.append(0.0 if capacity is None else capacity)
    alpha = (1.0 - settings.confidence) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


# ------------------------------------------------------------------------ analysis


def _finite(x: float | None) -> float:
    return math.nan if x is None else float(x)


def analyze_capacity(
    points: Sequence[CurvePoint],
    slos: Sequence[SLO],
    settings: CapacitySettings = CapacitySettings(),
) -> CapacityAnalysis:
    """Knee, saturation and SLO capacity of a run's load steps."""
    key = percentile_key(settings.knee_percentile)
    ordered = tuple(sorted((p for p in points if p.requests > 0), key=lambda p: p.load))
    notes: list[str] = []
    if len({p.mode for p in ordered}) > 1:
        notes.append("open- and closed-loop steps are mixed; loads are not comparable")
    knee_i, why = find_knee(
        [_finite(p.latency_ms.get(key)) for p in ordered], [p.good_rps for p in ordered]
    )
    if why:
        notes.append(f"knee: {why}")
    sat_i, sat_rps = find_saturation(ordered, settings)
    if sat_i is None and ordered:
        notes.append("saturation: achieved throughput kept up with the load at every step")
    capacity, limiting, last_ok, first_bad, bound = slo_capacity(ordered, slos)
    if not slos:
        notes.append("SLO capacity: no SLO was given (--ml-slo)")
    elif capacity is None:
        notes.append("SLO capacity: no step met every SLO")
    elif bound == "lower-bound":
        notes.append(
            "SLO capacity: every step met the SLOs; the figure is a lower bound "
            "(raise the load to find the limit)"
        )
    ci = _bootstrap_ci(ordered, slos, settings) if capacity is not None else None
    knee = ordered[knee_i] if knee_i is not None else None
    return CapacityAnalysis(
        slo_rps=capacity,
        slo_rps_ci=ci,
        knee_rps=knee.good_rps if knee else None,
        knee_latency_ms=(knee.latency_ms.get(key) if knee else None),
        knee_step=knee.step if knee else None,
        saturation_rps=sat_rps,
        saturation_step=ordered[sat_i].step if sat_i is not None else None,
        limiting_slo=limiting,
        last_passing_step=last_ok,
        first_failing_step=first_bad,
        latency_key=key,
        bound=bound,
        curve=ordered,
        notes=tuple(notes),
    )


# --------------------------------------------------------------- from step stats


def _judged_latency(step: StepStats) -> Mapping[str, float | None]:
    """Open-loop steps are judged on latency from the intended send time."""
    corrected = (step.extra_ms or {}).get("corrected") if step.mode == "open" else None
    return corrected or step.latency_ms


def point_from_step(step: StepStats, passed: bool | None = None) -> CurvePoint | None:
    """The step as a curve point, or None when it measured nothing."""
    if step.requests <= 0 or step.duration_s <= 0 or step.label in NOT_ON_CURVE:
        return None
    windows = full_windows(step.windows)
    window_good = tuple((w.requests - w.failures) / w.seconds for w in windows)
    if len(windows) >= 2:
        # The mean over full windows: the same estimator the bootstrap resamples,
        # free of the step's ragged end (see full_windows).
        good = sum(window_good) / len(window_good)
        achieved = sum(w.requests / w.seconds for w in windows) / len(windows)
    else:
        good = (step.requests - step.failures) / step.duration_s
        achieved = step.achieved_rps if step.achieved_rps is not None else good
    if step.mode == "open" and step.offered_rps is not None:
        load = step.offered_rps
    elif step.users is not None:
        load = float(step.users)
    else:
        load = achieved
    extra = step.extra_ms or {}
    return CurvePoint(
        step=step.id,
        load=load,
        achieved_rps=achieved,
        good_rps=good,
        requests=step.requests,
        failure_ratio=step.failure_ratio,
        latency_ms=_judged_latency(step),
        mode=step.mode,
        offered_rps=step.offered_rps,
        passed=passed,
        ttft_ms=extra.get("ttft"),
        itl_ms=extra.get("itl"),
        window_good_rps=window_good,
        window_latency_ms=tuple(
            (w.corrected_ms if step.mode == "open" and w.corrected_ms else w.latency_ms)
            for w in windows
        ),
        window_failure=tuple((w.failures, w.requests) for w in windows),
    )


def points_from_steps(
    steps: Sequence[StepStats],
    passed: Mapping[int, bool] | None = None,
    judged: Mapping[int, bool] | None = None,
) -> tuple[CurvePoint, ...]:
    """Curve points of ``steps``; ``judged`` verdicts (a search's) override ``passed``."""
    out = []
    for s in steps:
        p = point_from_step(s, (passed or {}).get(s.id))
        if p is not None and judged and s.id in judged:
            p = dataclasses.replace(p, passed=judged[s.id], judged=True)
        if p is not None:
            out.append(p)
    return tuple(out)
