"""The soak test: ramp up, hold one load for hours, ramp down; finds leaks and drift.

``--ml-shape soak:load=20,hold=4h,ramp=5m,down=1m``. The report judges the
hold (trends in latency, memory, errors: :mod:`locust_ml.analysis.soak`),
not a capacity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from locust_ml.config import duration, key, positive, positive_duration
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

__all__ = ["SoakPlan", "SoakSpec"]

#: Steps of the ramp-up, and of the ramp-down, when they are on.
RAMP_UP_STEPS = 5
RAMP_DOWN_STEPS = 1


@dataclass(frozen=True)
class SoakSpec(ShapeSpec):
    """Parameters of a soak."""

    kind: ClassVar[str] = "soak"
    load: float = key(10.0, positive, "load to hold")
    hold: float = key(4 * 3600.0, positive_duration, "how long to hold it")
    ramp: float = key(300.0, duration, f"time to ramp up to it, in {RAMP_UP_STEPS} steps (0: none)")
    down: float = key(
        60.0, duration, "time to ramp down after the hold, one step at half the load (0: none)"
    )

    def plan(self, context: PlanContext) -> SoakPlan:
        return SoakPlan(
            self,
            context.mode,
            context.pool_users,
            ramp_up_steps=RAMP_UP_STEPS if self.ramp > 0 else 0,
            ramp_down_steps=RAMP_DOWN_STEPS if self.down > 0 else 0,
        )


@dataclass(frozen=True)
class SoakPlan(FixedPlan):
    """Ramp up, hold, ramp down.

    The ramp-up has ``ramp_up_steps`` equal steps over ``spec.ramp`` at
    ``load * i / (n + 1)`` (i = 1..n), so no ramp step repeats the hold's
    load; the ramp-down mirrors it. The warm-up is excluded at the start of
    the hold. Steps are labelled ``ramp-up``, ``hold``, ``ramp-down``.

    >>> plan = SoakPlan(SoakSpec(load=30, ramp=60, hold=3600, down=30), ramp_up_steps=2,
    ...                 ramp_down_steps=2)
    >>> steps = [(s.start, s.tick.users, s.tick.label) for s in plan.steps()]
    >>> steps  # doctest: +NORMALIZE_WHITESPACE
    [(0.0, 10, 'ramp-up'), (30.0, 20, 'ramp-up'), (60.0, 30, 'hold'),
     (3660.0, 20, 'ramp-down'), (3675.0, 10, 'ramp-down')]
    """

    spec: SoakSpec
    mode: LoadMode = "closed"
    pool_users: int | None = None
    ramp_up_steps: int = RAMP_UP_STEPS
    ramp_down_steps: int = RAMP_DOWN_STEPS

    def __post_init__(self) -> None:
        s = self.spec
        check_mode(self.mode, "soak")
        check_load("soak load", self.mode, s.load)
        if not s.hold > 0:
            raise ConfigError(f"soak hold must be > 0 s, got {s.hold:g}")
        for name, seconds, steps in (
            ("ramp-up", s.ramp, self.ramp_up_steps),
            ("ramp-down", s.down, self.ramp_down_steps),
        ):
            if seconds < 0 or steps < 0 or (seconds > 0) != (steps > 0):
                raise ConfigError(
                    f"soak {name}: duration ({seconds:g} s) and steps ({steps}) must both be "
                    "zero (no ramp) or both positive"
                )
        check_common("soak", s.spawn_rate, self.pool_users, s.warmup, s.hold)

    def _level(self, fraction: float) -> float:
        x = self.spec.load * fraction
        return float(max(1, round(x))) if self.mode == "closed" else x

    def steps(self) -> tuple[PlannedStep, ...]:
        s, up, down = self.spec, self.ramp_up_steps, self.ramp_down_steps
        segments = [
            Segment(s.ramp / up, self._level(i / (up + 1)), "ramp-up") for i in range(1, up + 1)
        ]
        segments.append(Segment(s.hold, float(s.load), "hold", s.warmup))
        segments += [
            Segment(s.down / down, self._level((down + 1 - i) / (down + 1)), "ramp-down")
            for i in range(1, down + 1)
        ]
        return build_steps(segments, self.mode, s.spawn_rate, self.pool_users)

    def describe(self) -> str:
        """``soak plan: 10 users; 5 ramp-up steps over 10 s, hold 30 s, ...; total 45 s``."""
        s = self.spec
        phases = []
        # Closed-loop rounding can merge ramp-up steps: count the steps that run.
        ups = sum(1 for step in self.steps() if step.tick.label == "ramp-up")
        if s.ramp > 0:
            phases.append(
                f"{ups} ramp-up step{'s' if ups != 1 else ''} over {format_seconds(s.ramp)}"
            )
        phases.append(f"hold {format_seconds(s.hold)}")
        if s.down > 0:
            phases.append(f"ramp-down {format_seconds(s.down)}")
        return (
            f"soak plan: {load_text(s.load, self.mode)}; {', '.join(phases)}; "
            f"total {format_seconds(self.duration)}"
        )
