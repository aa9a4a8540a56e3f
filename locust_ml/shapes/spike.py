"""The spike test: a baseline, a sudden spike to N x the baseline, then recovery.

``--ml-shape spike:base=10,factor=5,base_time=2m,spike=1m,recovery=5m``. The
report leads with the spike verdict (recovered or not, how fast, errors
during the spike: :mod:`locust_ml.analysis.stress`), not a capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from locust_ml.config import key, positive, positive_duration
from locust_ml.errors import ConfigError
from locust_ml.schedules import (
    FixedPlan,
    LoadMode,
    PlannedStep,
    Segment,
    build_steps,
    check_common,
    check_load,
    check_mode,
    format_seconds,
    load_text,
)
from locust_ml.shapes.base import PlanContext, ShapeSpec

__all__ = ["SpikePlan", "SpikeSpec"]


@dataclass(frozen=True)
class SpikeSpec(ShapeSpec):
    """Parameters of a spike."""

    kind: ClassVar[str] = "spike"
    base: float = key(10.0, positive, "baseline load")
    factor: float = key(5.0, positive, "the spike is this many times the baseline")
    base_time: float = key(120.0, positive_duration, "time at the baseline before the spike")
    spike: float = key(60.0, positive_duration, "spike duration")
    recovery: float = key(
        300.0, positive_duration, "time at the baseline after the spike, watched for recovery"
    )

    def plan(self, context: PlanContext) -> SpikePlan:
        return SpikePlan(self, context.mode, context.pool_users)


@dataclass(frozen=True)
class SpikePlan(FixedPlan):
    """Three steps labelled ``baseline``, ``spike`` and ``recovery``.

    In closed loop the spike's sharpness is set by ``spawn_rate`` (users
    started per second); in open loop the rate jumps at once.

    >>> spec = SpikeSpec(base=20, factor=5, base_time=60, spike=30, recovery=120)
    >>> steps = SpikePlan(spec, "open").steps()
    >>> [(s.start, s.end, s.tick.offered_rps, s.tick.label) for s in steps]
    [(0.0, 60.0, 20.0, 'baseline'), (60.0, 90.0, 100.0, 'spike'), (90.0, 210.0, 20.0, 'recovery')]
    """

    spec: SpikeSpec
    mode: LoadMode = "closed"
    pool_users: int | None = None

    def __post_init__(self) -> None:
        s = self.spec
        check_mode(self.mode, "spike")
        check_load("spike baseline", self.mode, s.base)
        if not s.factor > 1.0:
            raise ConfigError(
                f"spike factor must be > 1 (a multiple of the baseline), got {s.factor:g}"
            )
        if self.mode == "closed" and round(s.base * s.factor) <= s.base:
            raise ConfigError(f"spike of {s.factor:g} x {s.base:g} users rounds to no extra user")
        for name, seconds in (
            ("base_time", s.base_time),
            ("spike", s.spike),
            ("recovery", s.recovery),
        ):
            if not seconds > 0:
                raise ConfigError(f"spike {name} must be > 0 s, got {seconds:g}")
        check_common("spike", s.spawn_rate, self.pool_users, s.warmup, s.base_time)

    @property
    def peak(self) -> float:
        """The spike's load: users (rounded) or requests/s."""
        peak = float(self.spec.base * self.spec.factor)
        return float(round(peak)) if self.mode == "closed" else peak

    def steps(self) -> tuple[PlannedStep, ...]:
        s = self.spec
        segments = [
            Segment(s.base_time, float(s.base), "baseline", s.warmup),
            Segment(s.spike, self.peak, "spike"),
            Segment(s.recovery, float(s.base), "recovery"),
        ]
        return build_steps(segments, self.mode, s.spawn_rate, self.pool_users)

    def describe(self) -> str:
        """``spike plan: baseline 2 users for 15 s, spike to 8 users for 15 s, ...``."""
        s = self.spec
        return (
            f"spike plan: baseline {load_text(s.base, self.mode)} for "
            f"{format_seconds(s.base_time)}, spike to {load_text(self.peak, self.mode)} for "
            f"{format_seconds(s.spike)}, recovery {format_seconds(s.recovery)}; "
            f"total {format_seconds(self.duration)}"
        )
