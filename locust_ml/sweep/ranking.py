"""Which configuration to run: the ranking rule, the Pareto front, the recommendation.

**The rule.** A configuration can be chosen when its run is VALID and PASSED
(a capacity test passes when it found an SLO capacity, and reaches
``--ml-min-capacity`` if one is given) and its SLO capacity is above zero.
INVALID, FAILED, failed-to-start and skipped configurations are listed
with the reason and never chosen: a figure the run itself does not trust
must not become a recommendation. The eligible ones are ranked

* by **cost per 1M requests at SLO capacity**, cheapest first, when prices
  are given (``--ml-price-per-hour``, or a price per configuration in a
  configurations file): ``price / (slo_rps x 3600) x 1e6``, so a faster but
  dearer configuration wins only if it is cheaper per request;
* otherwise by **SLO capacity per replica**, highest first: with one price
  for all, or none, the most requests per replica is the cheapest anyway.

Ties keep the configurations' order. The first is the recommendation.

**The lead.** Each capacity has a 95 % interval (from the search:
:mod:`locust_ml.analysis.capacity`); costs map it through the cost formula
(the top of the capacity interval gives the bottom of the cost interval).
When the best's and the runner-up's intervals overlap, the lead is within
what the measurement can tell apart, and the recommendation says so:
either is a defensible choice, and a tighter search (``precision=``) or
other criteria must decide.

**The Pareto front** (:func:`pareto_front`) marks the configurations no other
beats on both axes at once: more throughput per replica *and* less latency
at capacity (or a lower cost *and* less latency). The ranking picks one
point of it; the front shows what the others trade.

Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from locust_ml.sweep.result import DONE, ConfigResult

__all__ = [
    "BY_CAPACITY",
    "BY_COST",
    "Lead",
    "Ranking",
    "cost_interval",
    "ineligible_reason",
    "lead",
    "pareto_front",
    "rank",
    "recommendation",
    "score",
]

BY_COST: Final = "cost"
BY_CAPACITY: Final = "capacity"


def ineligible_reason(result: ConfigResult) -> str | None:
    """Why ``result`` cannot be chosen, or None when it can."""
    if result.status != DONE or result.measurement is None:
        return result.reason or result.status
    m = result.measurement
    if m.verdict == "INVALID":
        why = "; ".join(m.verdict_reasons[:2])
        return "INVALID run" + (f": {why}" if why else "")
    if m.slo_rps is None or m.slo_rps <= 0:
        return m.note or "no SLO capacity"
    if m.verdict != "PASS":
        why = "; ".join(m.verdict_reasons[:2])
        return "FAIL" + (f": {why}" if why else "")
    return None


def score(result: ConfigResult, by: str) -> float | None:
    """Higher is better: minus the cost, or the capacity; None when not eligible."""
    if ineligible_reason(result) is not None:
        return None
    if by == BY_COST:
        cost = result.cost_per_million
        return None if cost is None else -cost
    return result.slo_rps


@dataclass(frozen=True)
class Ranking:
    """The eligible configurations in rank order, then the others with why."""

    by: str
    ranked: tuple[ConfigResult, ...]
    others: tuple[tuple[ConfigResult, str], ...]

    @property
    def best(self) -> ConfigResult | None:
        return self.ranked[0] if self.ranked else None

    @property
    def runner_up(self) -> ConfigResult | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    @property
    def rule(self) -> str:
        if self.by == BY_COST:
            return "cheapest per 1M requests at SLO capacity, among valid, passed configurations"
        return "highest SLO capacity per replica, among valid, passed configurations"


def rank(results: Sequence[ConfigResult], by: str) -> Ranking:
    """Rank ``results`` (already decided: :func:`~locust_ml.sweep.result.decide`) by ``by``."""
    scored = [(i, r, score(r, by)) for i, r in enumerate(results)]
    ranked = sorted(((i, r, s) for i, r, s in scored if s is not None), key=lambda t: (-t[2], t[0]))
    others = []
    for _, r, s in scored:
        if s is None:
            why = ineligible_reason(r)
            if why is None:  # eligible, but no price to rank it by
                why = "no price per hour"
            others.append((r, why))
    return Ranking(by, tuple(r for _, r, _ in ranked), tuple(others))


# --------------------------------------------------------------------- intervals and the lead


def cost_interval(result: ConfigResult) -> tuple[float, float | None] | None:
    """The cost per 1M requests over the capacity's interval: (low, high or None: unbounded)."""
    m, price = result.measurement, result.price_per_hour
    if m is None or m.slo_rps_ci is None or price is None:
        return None
    low_cap, high_cap = m.slo_rps_ci
    low = 0.0 if high_cap is None or high_cap <= 0 else _per_million(price, high_cap)
    high = None if low_cap <= 0 else _per_million(price, low_cap)
    return low, high


def _per_million(price: float, rps: float) -> float:
    return price / (rps * 3600.0) * 1_000_000.0


def _interval(result: ConfigResult, by: str) -> tuple[float, float | None] | None:
    if by == BY_COST:
        return cost_interval(result)
    m = result.measurement
    return None if m is None else m.slo_rps_ci


def _overlap(a: tuple[float, float | None], b: tuple[float, float | None]) -> bool:
    a_high = math.inf if a[1] is None else a[1]
    b_high = math.inf if b[1] is None else b[1]
    return a[0] <= b_high and b[0] <= a_high


@dataclass(frozen=True)
class Lead:
    """How far the best is ahead of the runner-up, and whether the intervals tell them apart."""

    #: Relative lead: by cost, the share of the runner-up's cost the best saves
    #: (1 - best / runner-up); by capacity, the best's capacity / the runner-up's - 1.
    ratio: float
    #: None when either has no interval.
    overlap: bool | None


def lead(ranking: Ranking) -> Lead | None:
    """The best's lead over the runner-up (None with fewer than two ranked)."""
    best, second = ranking.best, ranking.runner_up
    if best is None or second is None:
        return None
    if ranking.by == BY_COST:
        b, s = best.cost_per_million, second.cost_per_million
        ratio = (1.0 - b / s) if b is not None and s else 0.0
    else:
        b, s = best.slo_rps, second.slo_rps
        ratio = (b / s - 1.0) if b is not None and s else math.inf
    ib, is_ = _interval(best, ranking.by), _interval(second, ranking.by)
    return Lead(ratio, None if ib is None or is_ is None else _overlap(ib, is_))


# --------------------------------------------------------------------- Pareto


def pareto_front(points: Sequence[tuple[float, float] | None]) -> frozenset[int]:
    """Indices of the points no other point beats on both axes (x: more is better, y: less).

    A point is dominated when another has x >= and y <= with one of them strict.
    ``None`` points (no measurement) are never on the front.
    """
    front = set()
    for i, p in enumerate(points):
        if p is None:
            continue
        dominated = any(
            q is not None and q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1])
            for j, q in enumerate(points)
            if j != i
        )
        if not dominated:
            front.add(i)
    return frozenset(front)


# --------------------------------------------------------------------- the paragraph


def _rps(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _money(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:.2f}" if abs(x) >= 1 else f"${x:.3g}"


def _ci(ci: tuple[float, float | None] | None, fmt: str = "rps") -> str:
    if ci is None:
        return ""
    show = _rps if fmt == "rps" else _money
    high = "open" if ci[1] is None else show(ci[1])
    return f"{show(ci[0])}-{high}"


def recommendation(ranking: Ranking) -> str:
    """The console's closing paragraph: what to run, what it gives, and how sure it is."""
    best = ranking.best
    if best is None:
        n = len(ranking.others)
        return (
            f"No recommendation: none of the {n} configurations is valid, passed and has an SLO "
            "capacity (see the reasons in the table)."
        )
    m = best.measurement
    if m is None:  # eligible results are measured; a ranking is never built otherwise
        raise ValueError(f"{best.label} is ranked without a measurement")
    parts = [f"Recommended: {best.label}."]
    cap = f"SLO capacity {_rps(m.slo_rps)} req/s per replica"
    if m.slo_rps_ci is not None:
        cap += f" (95% interval {_ci(m.slo_rps_ci)})"
    if m.bound == "lower-bound":
        cap += ", a lower bound (no step failed its SLO)"
    parts.append(cap[0].upper() + cap[1:] + ".")
    if best.replicas is not None and best.target_rps is not None:
        parts.append(f"{best.replicas} replicas for {best.target_rps:g} req/s.")
    if best.cost_per_million is not None and best.price_per_hour is not None:
        parts.append(
            f"{_money(best.cost_per_million)} per 1M requests at {_money(best.price_per_hour)}/h."
        )
    parts.append(_lead_sentence(ranking))
    return " ".join(p for p in parts if p)


def _lead_sentence(ranking: Ranking) -> str:
    second = ranking.runner_up
    gap = lead(ranking)
    if second is None or gap is None:
        return "No other configuration qualified, so there is no runner-up to compare with."
    if ranking.by == BY_COST:
        ahead = (
            f"It costs {gap.ratio:.0%} less per 1M requests than the runner-up, {second.label} "
            f"({_money(second.cost_per_million)})"
        )
        mine, theirs = cost_interval(ranking.ranked[0]), cost_interval(second)
        show = "money"
    else:
        ahead = (
            f"It sustains {gap.ratio:.0%} more than the runner-up, {second.label} "
            f"({_rps(second.slo_rps)} req/s)"
        )
        m0, m1 = ranking.ranked[0].measurement, second.measurement
        mine = None if m0 is None else m0.slo_rps_ci
        theirs = None if m1 is None else m1.slo_rps_ci
        show = "rps"
    if gap.overlap is None:
        return ahead + "; without both intervals the lead's significance is unknown."
    spans = f"{_ci(mine, show)} vs {_ci(theirs, show)}"
    if gap.overlap:
        return (
            f"{ahead}, but their 95% intervals overlap ({spans}): the lead is within the "
            "measurement's uncertainty, so either is a sound choice (a tighter search, "
            "precision=, can separate them)."
        )
    return f"{ahead}; their 95% intervals do not overlap ({spans}), so the lead is real."
