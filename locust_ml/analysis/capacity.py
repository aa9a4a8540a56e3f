"""SLO capacity, knee and saturation: the decisions a set of judged load steps supports.

A capacity test produces one point per load step: the load offered, the good
throughput achieved and the latency, and the step's judgement
(:mod:`locust_ml.analysis.judge`: passed, or why not). This module turns them
into the three numbers a capacity plan starts from. The capacity search, the
report, ``locust-ml report`` and the web UI all use it.

**SLO capacity** (``slo_rps``) is the highest *good* throughput the target
sustained in a step that passed: stable, enough samples, every SLO met and
errors under the ceiling. Good means successful answers: shed, failed and
timed-out requests never count. Steps are ordered by load; the first failing
step ends the search for it (a noisy pass above a failure is not capacity).
A step that failed only because it could not be judged - too few requests
for its percentile, or not stable (a ramp's first, short steps) - bounds
nothing when a step at a higher load passed: latency does not fall as load
rises, so it is left out rather than read as the limit.
Among the passing steps below it the one at the highest load gives the
figure:

* open loop, its offered arrival rate times its success ratio: a stable step
  answers what it was offered, and the count of arrivals in a few seconds
  adds the generator's own Poisson noise (``±1/sqrt(n)``) that says nothing
  about the target - but never more than the saturation throughput the run
  measured (or the step's own measured good throughput, if higher): no
  target sustains more than it can complete;
* closed loop, its measured good throughput: the throughput at the largest
  user count that met the SLOs. (Where adding users stopped raising
  throughput is the knee and the saturation, below; it never cuts the SLO
  capacity short.)

``bound`` says what limits it: ``bracketed`` (a failing step above it),
``saturated`` (no failing step, but the target's throughput stopped rising:
more load cannot add capacity), ``lower-bound`` (every step passed and the
load never reached saturation: raise it), ``none`` (no step passed).

**The interval** ``slo_rps_ci`` covers where the truth can be, at 95 %: from
the figure minus 1.96 standard errors of its step's measured good throughput
(a count over time: ``sqrt(n)/T``) up to the first failing step's load -
open loop its offered rate, closed loop the larger of its good throughput
and the passing one's - plus 1.96 of that step's standard errors; and never
above the saturation throughput plus its own 1.96 standard errors, since no
SLO can be met at a throughput the target cannot deliver. Without a failing
step or a saturation the top is open (None).

**Knee** (``knee_rps``): where more latency stops buying throughput, found
with Kneedle (Satopaa et al., 2011; :mod:`locust_ml.analysis.kneedle`, the
algorithm of its authors' ``kneed`` package) on good throughput against tail
latency (see :func:`find_knee`), over the run's closed-loop steps when it has
enough of them (a search's saturation probe), else over all of its steps.

**Saturation** (``saturation_rps``): where achieved throughput stops tracking
the load. Open loop: the first step that completes (without failing) less
than ``1 - tolerance`` of what was offered, the tolerance being 5 % or three
times the step's Poisson noise, whichever is larger; closed loop: the first
step where adding users returns less than a tenth of the proportional gain.
The saturation throughput is the best good throughput from there on.

Everything here is pure: plain data in, frozen data out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.judge import StepJudgement
from locust_ml.analysis.kneedle import knee_index
from locust_ml.analysis.steps import StepStats

__all__ = [
    "NOT_ON_CURVE",
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
#: Step labels that measure the target but are not capacity judgements.
PROBE_LABELS = frozenset({"probe"})
#: Failures that say the step could not be judged, not that the target failed it:
#: below a step that passed at a higher load they bound nothing.
UNRESOLVED = frozenset({"too-few", "unstable"})

#: Kneedle needs a few points to tell a bend from noise.
MIN_KNEE_POINTS = 4
#: Two-sided 95 % normal quantile, for the interval.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class CurvePoint:
    """One load step, as the capacity analysis sees it.

    ``load`` is what the test controlled (offered requests/s in open loop,
    users in closed loop). ``achieved_rps`` and ``good_rps`` are the step's
    measured throughputs (every answer, successful answers), the same figures
    as its row in the step table; ``good_se`` is the standard error of
    ``good_rps``. ``latency_ms`` is the latency the SLOs judge (from the
    intended send time in open loop). ``passed``/``outcome``/``reasons`` are
    the step's judgement.
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
    outcome: str | None = None
    reasons: tuple[str, ...] = ()
    label: str = ""
    good_se: float = 0.0

    @property
    def probe(self) -> bool:
        return self.label in PROBE_LABELS

    @property
    def sustained_rps(self) -> float:
        """The good throughput this step stands for as a capacity figure (module docstring)."""
        if self.mode == "open" and self.offered_rps is not None:
            return self.offered_rps * (1.0 - self.failure_ratio)
        return self.good_rps


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


@dataclass(frozen=True)
class CapacityAnalysis:
    """The capacity figures and how they were reached."""

    slo_rps: float | None
    slo_rps_ci: tuple[float, float | None] | None
    knee_rps: float | None
    knee_latency_ms: float | None
    knee_step: int | None
    saturation_rps: float | None
    saturation_step: int | None
    #: Why the first failing step failed (its judgement's reasons), if one did.
    limiting_slo: str | None
    last_passing_step: int | None
    first_failing_step: int | None
    latency_key: str
    #: "bracketed", "saturated", "lower-bound" or "none" (module docstring).
    bound: str = "none"
    curve: tuple[CurvePoint, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Why there is no knee, when there is none.
    knee_note: str | None = None


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
        return None, "throughput did not rise by 10% over the tested range"
    # On the raw zigzag Kneedle would take the first zig for a knee.
    envelope = list(itertools.accumulate(ys, max))
    at = knee_index(xs, envelope, sensitivity=1.0)
    if at is None:
        return None, "Kneedle found no knee: throughput kept rising with latency"
    # The step that set the envelope there: the best throughput at that latency or less.
    best = max(range(at + 1), key=lambda j: ys[j])
    return pts[best][2], None


# ---------------------------------------------------------------------- saturation


def find_saturation(
    points: Sequence[CurvePoint], settings: CapacitySettings = CapacitySettings()
) -> tuple[int | None, float | None]:
    """(index of the first saturated point, saturation throughput) or (None, None).

    ``points`` are ordered by load and of one mode.
    """
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


@dataclass(frozen=True)
class _Capacity:
    rps: float | None
    ci: tuple[float, float | None] | None
    limiting: str | None
    last_pass: int | None
    first_fail: int | None
    bound: str


def _upper_end(p: CurvePoint, f: CurvePoint) -> float:
    """The top of the bracket's failing end, with its noise (module docstring)."""
    if f.mode == "open" and f.offered_rps is not None:
        rate = f.offered_rps
        return rate * (1.0 + Z95 / math.sqrt(max(f.requests, 1)))
    top = max(f.good_rps, p.good_rps)
    se = f.good_se if f.good_rps >= p.good_rps else p.good_se
    return top + Z95 * se


def slo_capacity(
    points: Sequence[CurvePoint],
    *,
    saturation: CurvePoint | None = None,
) -> _Capacity:
    """The SLO capacity of judged ``points`` (one mode, ordered by load); module docstring.

    ``saturation`` is the point that measured the target's saturation
    throughput, when one did; it caps the interval and can stand in for a
    failing step.
    """
    judged = [p for p in points if p.passed is not None]
    first = next(
        (
            i
            for i, p in enumerate(judged)
            if not p.passed
            and not (p.outcome in UNRESOLVED and any(q.passed for q in judged[i + 1 :]))
        ),
        None,
    )
    passing = [p for p in judged[:first] if p.passed and p.good_rps > 0]
    failing = judged[first] if first is not None else None
    limiting = None
    if failing is not None:
        limiting = "; ".join(failing.reasons) or (failing.outcome or "failed")
    if not passing:
        return _Capacity(None, None, limiting, None, failing.step if failing else None, "none")
    p = max(passing, key=lambda q: q.load)
    rps = p.sustained_rps
    if saturation is not None and saturation.good_rps > 0:
        rps = min(rps, max(saturation.good_rps, p.good_rps))
    if p.mode == "open":
        lower = rps * (1.0 - Z95 / math.sqrt(max(p.requests, 1)))
    else:
        lower = rps - Z95 * p.good_se
    upper: float | None = None
    bound = "lower-bound"
    if failing is not None:
        upper, bound = _upper_end(p, failing), "bracketed"
    if saturation is not None and saturation.good_rps > 0:
        cap = saturation.good_rps + Z95 * saturation.good_se
        if upper is None:
            bound = "saturated"
        upper = cap if upper is None else min(upper, cap)
    if upper is not None:
        upper = max(upper, rps)
    return _Capacity(
        rps,
        (max(lower, 0.0), upper),
        limiting,
        p.step,
        failing.step if failing else None,
        bound,
    )


# ------------------------------------------------------------------------ analysis


def _finite(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _knee_curve(points: Sequence[CurvePoint]) -> tuple[CurvePoint, ...]:
    """The steps the knee and saturation read: a closed-loop set if it has enough points."""
    closed = [p for p in points if p.mode == "closed"]
    opened = [p for p in points if p.mode == "open"]
    if len(closed) >= MIN_KNEE_POINTS or not opened:
        chosen = closed or list(points)
    elif len(opened) >= MIN_KNEE_POINTS or len(opened) >= len(closed):
        chosen = opened
    else:
        chosen = closed
    return tuple(sorted(chosen, key=lambda p: p.load))


def analyze_capacity(
    points: Sequence[CurvePoint],
    settings: CapacitySettings = CapacitySettings(),
    *,
    latency_key: str | None = None,
) -> CapacityAnalysis:
    """SLO capacity, knee and saturation of a run's judged steps."""
    key = latency_key or percentile_key(settings.knee_percentile)
    notes: list[str] = []
    measured = [p for p in points if p.requests > 0 or p.passed is not None]
    # The capacity is judged over the test's own steps (a search's probe only measures).
    capacity_points = [p for p in measured if not p.probe]
    modes = {p.mode for p in capacity_points}
    if len(modes) > 1:
        notes.append("open- and closed-loop steps are mixed; their loads are not comparable")
    ordered = tuple(sorted(capacity_points, key=lambda p: (p.mode != "open", p.load)))
    knee_curve = _knee_curve([p for p in measured if p.requests > 0])
    knee_i, why = find_knee(
        [_finite(p.latency_ms.get(key)) for p in knee_curve], [p.good_rps for p in knee_curve]
    )
    sat_i, sat_rps = find_saturation(knee_curve, settings)
    saturation = None
    if sat_i is not None and sat_rps is not None:
        # The point that set the saturation throughput (find_saturation looks
        # from the step before the saturated one on).
        saturation = max(knee_curve[max(sat_i - 1, 0) :], key=lambda p: p.good_rps)
    if sat_i is None and any(p.good_rps > 0 for p in knee_curve):
        notes.append("saturation: throughput kept rising with the load at every step")
    cap = slo_capacity(ordered, saturation=saturation)
    if cap.rps is None:
        if cap.first_fail is not None:
            notes.append(f"SLO capacity: the first step failed ({cap.limiting})")
        elif not ordered:
            notes.append("SLO capacity: no step was judged")
    elif cap.bound == "lower-bound":
        notes.append(
            "SLO capacity: every step passed and the target never saturated; the figure "
            "is a lower bound (raise the load to find the limit)"
        )
    knee = knee_curve[knee_i] if knee_i is not None else None
    return CapacityAnalysis(
        slo_rps=cap.rps,
        slo_rps_ci=cap.ci,
        knee_rps=knee.good_rps if knee else None,
        knee_latency_ms=(knee.latency_ms.get(key) if knee else None),
        knee_step=knee.step if knee else None,
        saturation_rps=sat_rps,
        saturation_step=knee_curve[sat_i].step if sat_i is not None else None,
        limiting_slo=cap.limiting,
        last_passing_step=cap.last_pass,
        first_failing_step=cap.first_fail,
        latency_key=key,
        bound=cap.bound,
        curve=tuple(sorted(measured, key=lambda p: p.step)),
        notes=tuple(notes),
        knee_note=why,
    )


# --------------------------------------------------------------- from step stats


def point_from_step(step: StepStats, judgement: StepJudgement | None = None) -> CurvePoint | None:
    """The step as a curve point, or None when it is not one (partial, a cooldown)."""
    if step.partial or step.label in NOT_ON_CURVE:
        return None
    seconds = step.measured_s
    if seconds <= 0:
        return None
    good = step.ok / seconds
    achieved = step.requests / seconds
    if step.mode == "open" and step.offered_rps is not None:
        load = step.offered_rps
    elif step.users is not None:
        load = float(step.users)
    else:
        load = achieved
    return CurvePoint(
        step=step.id,
        load=load,
        achieved_rps=achieved,
        good_rps=good,
        requests=step.requests,
        failure_ratio=step.failure_ratio,
        latency_ms=step.judged_latency_ms,
        mode=step.mode,
        offered_rps=step.offered_rps,
        passed=None if judgement is None else judgement.passed,
        outcome=None if judgement is None else str(judgement.outcome),
        reasons=() if judgement is None else judgement.reasons,
        label=step.label,
        good_se=math.sqrt(step.ok) / seconds,
    )


def points_from_steps(
    steps: Sequence[StepStats], judgements: Mapping[int, StepJudgement] | None = None
) -> tuple[CurvePoint, ...]:
    """Curve points of ``steps`` with their judgements (None where a step was not judged)."""
    out = []
    for s in steps:
        p = point_from_step(s, (judgements or {}).get(s.id))
        if p is not None:
            out.append(p)
    return tuple(out)
