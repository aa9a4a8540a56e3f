"""In which order a sweep runs its configurations, and when it may stop early.

``--strategy grid`` (the default) runs every configuration, in the order
given. ``--strategy quick[:NAME]`` is for a numeric parameter whose score is
unimodal - batch size is the usual one: throughput rises with the batch until
a batch's latency breaks the SLO or the hardware saturates, then falls. For
each combination of the *other* parameters it runs ``NAME``'s values in
ascending order and stops that combination once the score has fallen on
both sides of the best value seen - the values below it scored less (the
walk came up through them), and the next value above scores less too (when
the best is the smallest value, only that side): the values further up are
not measured. This is Triton Model
Analyzer's quick search reduced to one axis. Without ``NAME`` the one
parameter whose every value is a number is used.

The score is the ranking's (:func:`~locust_ml.sweep.ranking.score`): minus
the cost per 1M requests when prices are given, else the SLO capacity. A
configuration that failed to start, or cannot be chosen (INVALID, no
capacity), scores below every measured one, so a batch size that runs out
of memory stops the walk too.

The risk is the one of any early stop: a noisy dip one value past the best
ends the walk, and a second peak further up is never seen. The grid stays
the default for that reason.

The planner is pure (:func:`next_config`): given the configurations and the
scores of those finished so far, it says what to run next and what to skip,
so a resumed sweep makes the same decisions from the saved results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from locust_ml.errors import ConfigError
from locust_ml.sweep.configs import Config

__all__ = ["GRID", "QUICK", "Plan", "Strategy", "next_config", "parse_strategy"]

GRID: Final = "grid"
QUICK: Final = "quick"


@dataclass(frozen=True)
class Strategy:
    """``grid``, or ``quick`` along one numeric parameter."""

    kind: str = GRID
    param: str | None = None

    @property
    def text(self) -> str:
        return self.kind if self.param is None else f"{self.kind}:{self.param}"


def _numeric(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def parse_strategy(text: str, configs: Sequence[Config]) -> Strategy:
    """``grid``, ``quick`` or ``quick:NAME``, checked against the configurations."""
    kind, _, name = text.strip().partition(":")
    kind, name = kind.strip(), name.strip()
    if kind == GRID and not name:
        return Strategy()
    if kind != QUICK:
        raise ConfigError(f"--strategy {text!r}: expected grid, quick or quick:NAME")
    names = [n for n, _ in configs[0].params] if configs else []
    numeric = [n for n in names if all(_numeric(c.values[n]) is not None for c in configs)]
    if not name:
        if len(numeric) != 1:
            what = "no parameter is" if not numeric else f"{', '.join(numeric)} are"
            raise ConfigError(f"--strategy quick: {what} numeric; name the one to walk: quick:NAME")
        name = numeric[0]
    if name not in names:
        raise ConfigError(
            f"--strategy {text!r}: {name!r} is not a parameter (parameters: "
            f"{', '.join(names) or 'none'})"
        )
    if name not in numeric:
        bad = next(c.values[name] for c in configs if _numeric(c.values[name]) is None)
        raise ConfigError(
            f"--strategy {text!r}: {name}={bad} is not a number; quick walks a numeric parameter"
        )
    return Strategy(QUICK, name)


@dataclass(frozen=True)
class Plan:
    """What to run next (None: nothing left) and what the strategy skips, by config key."""

    next: Config | None
    skipped: Mapping[str, str] = field(default_factory=dict)


def _groups(strategy: Strategy, configs: Sequence[Config]) -> list[list[Config]]:
    """Runs of configurations that the strategy walks one after the other."""
    if strategy.kind == GRID or strategy.param is None:
        return [list(configs)]
    name = strategy.param
    groups: dict[tuple[tuple[str, str], ...], list[Config]] = {}
    for c in configs:
        rest = tuple(p for p in c.params if p[0] != name)
        groups.setdefault(rest, []).append(c)
    return [sorted(g, key=lambda c: _numeric(c.values[name]) or 0.0) for g in groups.values()]


def _stop_after(group: Sequence[Config], scores: Mapping[str, float | None]) -> int | None:
    """Index of the best value once the score fell right after it, else None.

    Only the finished prefix of ``group`` counts (a walk is in ascending
    order, so every value left of the best already scored no higher). Among
    equal scores the last is the best: a plateau that then falls stops there.
    """
    prefix: list[float] = []
    for c in group:
        if c.key not in scores:
            break
        s = scores[c.key]
        prefix.append(-math.inf if s is None else s)
    if len(prefix) < 2 or max(prefix) == -math.inf:
        return None
    best = max(range(len(prefix)), key=lambda i: (prefix[i], i))
    if best + 1 < len(prefix) and prefix[best + 1] < prefix[best]:
        return best
    return None


def next_config(
    strategy: Strategy, configs: Sequence[Config], scores: Mapping[str, float | None]
) -> Plan:
    """The next configuration to run, given the scores of the finished ones (by key).

    ``scores`` holds every finished configuration: its score (higher is
    better), or None when it failed or cannot be chosen.
    """
    skipped: dict[str, str] = {}
    upcoming: Config | None = None
    for group in _groups(strategy, configs):
        stop = None if strategy.kind == GRID else _stop_after(group, scores)
        for i, c in enumerate(group):
            if stop is not None and i > stop + 1:
                if c.key not in scores:
                    best, after = group[stop], group[stop + 1]
                    skipped[c.key] = (
                        f"early stop: {after.label} scored below {best.label} "
                        f"(--strategy {strategy.text})"
                    )
                continue
            if upcoming is None and c.key not in scores:
                upcoming = c
    return Plan(upcoming, skipped)
