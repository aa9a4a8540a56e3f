"""The capacity search: probe the target's saturation, then bracket and bisect its SLO capacity.

``--ml-shape capacity-search`` (with ``--ml-slo``): the main job, right from
its defaults. The algorithm, and why each default is what it is, is
:mod:`locust_ml.analysis.search`; these are the keys a user may change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from locust_ml.analysis.search import CapacitySearch, SearchConfig
from locust_ml.config import fraction, key, optional_duration, optional_positive, positive_duration
from locust_ml.shapes.base import PlanContext, ShapeSpec

__all__ = ["SearchSpec"]

_DEFAULTS = SearchConfig()


@dataclass(frozen=True)
class SearchSpec(ShapeSpec):
    """Parameters of a capacity search (defaults: :class:`~.analysis.search.SearchConfig`)."""

    kind: ClassVar[str] = "capacity-search"
    #: The search sets each step's warm-up from the probe unless given.
    warmup: float | None = key(  # type: ignore[assignment]
        None,
        optional_duration,
        "start of each step left out of its measurements; auto: twice the probe's median "
        f"latency at saturation, {_DEFAULTS.min_warmup_s:g}-{_DEFAULTS.max_warmup_s:g} s",
        shown="auto",
    )
    start: float | None = key(
        None,
        optional_positive,
        "closed loop: the first user count (1); open loop: a first rate to try instead of "
        "probing the target's saturation first",
    )
    precision: float = key(
        _DEFAULTS.precision, fraction, "stop when first failing / last passing load - 1 <= this"
    )
    max_time: float = key(_DEFAULTS.max_time, positive_duration, "the whole search at most")
    max_step: float = key(
        _DEFAULTS.max_step,
        positive_duration,
        "judge a step after at most this long (longer while a slow target answers the requests "
        "its SLO percentile needs)",
    )

    def plan(self, context: PlanContext) -> CapacitySearch:
        config = SearchConfig(
            slos=context.slos,
            mode=context.mode,
            start=self.start,
            precision=self.precision,
            warmup_s=self.warmup,
            max_step=self.max_step,
            max_time=self.max_time,
            spawn_rate=self.spawn_rate,
            pool_users=context.pool_users,
            error_ceiling=context.error_ceiling,
            stability=context.stability or _DEFAULTS.stability,
        )
        return CapacitySearch(config)
