"""The step ramp, the capacity test: the load rises step by step to a maximum.

``--ml-shape ramp:start=1,factor=2,max=64,step=30s`` (or ``add=`` for a
constant increment). In closed loop the loads are user counts, in open loop
arrival rates in requests/s; the report finds the knee and the SLO capacity
on the steps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from locust_ml.config import key, optional_positive, positive, positive_duration
from locust_ml.errors import ConfigError
from locust_ml.schedules import (
    MAX_PLAN_STEPS,
    FixedPlan,
    LoadMode,
    PlannedStep,
    Tick,
    check_common,
    check_load,
    check_mode,
    format_seconds,
    load_text,
    pool_size,
)
from locust_ml.shapes.base import PlanContext, ShapeSpec

if TYPE_CHECKING:
    from locust_ml.analysis.judge import StepMeasurement

__all__ = ["RampPlan", "RampSpec"]

#: A step's load: users (int) or requests/s (float).
_Load = TypeVar("_Load", int, float)


@dataclass(frozen=True)
class RampSpec(ShapeSpec):
    """Parameters of a step ramp.

    >>> RampSpec(start=2, add=3, max=10).plan(PlanContext()).loads()
    (2.0, 5.0, 8.0, 10.0)
    """

    kind: ClassVar[str] = "ramp"
    start: float = key(1.0, positive, "load of step 1")
    add: float = key(1.0, positive, "load added at each step")
    factor: float | None = key(
        None, optional_positive, "multiply the load by this at each step instead of adding"
    )
    max: float = key(
        10.0,
        positive,
        "load of the last step (a step just below it, within a quarter step, is skipped)",
    )
    step: float = key(30.0, positive_duration, "time per step")

    @classmethod
    def merged(cls, base: ShapeSpec, given: Mapping[str, Any]) -> ShapeSpec:
        """An ``add`` given without ``factor`` wins over the locustfile's factor."""
        if "add" in given and "factor" not in given:
            given = {**given, "factor": None}
        return super().merged(base, given)

    def unused(self) -> frozenset[str]:
        return frozenset({"add"}) if self.factor else frozenset()

    def plan(self, context: PlanContext) -> RampPlan:
        return RampPlan(self, context.mode, context.pool_users)


@dataclass(frozen=True)
class RampPlan(FixedPlan):
    """A step ramp, closed or open loop.

    Loads go ``start``, then up by ``add`` (or times ``factor`` when given;
    in closed loop at least +1 user a step), each held ``step`` seconds; the
    last is ``max`` exactly, then the test ends. A last step that would add
    less than a quarter of a regular step (62 then 64 users with factor 1.5)
    measures nothing new and costs a whole step: the step before it goes to
    the maximum instead.

    >>> RampSpec(start=1, max=16, factor=2.0, step=10).plan(PlanContext()).levels()
    (1, 2, 4, 8, 16)
    >>> RampSpec(start=10, max=50, factor=2.0).plan(PlanContext("open")).loads()
    (10.0, 20.0, 40.0, 50.0)
    >>> RampSpec(start=8, max=64, factor=1.5).plan(PlanContext()).levels()
    (8, 12, 18, 27, 41, 64)
    >>> RampSpec(start=1, max=2, step=10).plan(PlanContext()).at(15.0).users
    2
    """

    spec: RampSpec
    mode: LoadMode = "closed"
    pool_users: int | None = None

    def __post_init__(self) -> None:
        s = self.spec
        check_mode(self.mode, "ramp")
        check_load("ramp start", self.mode, s.start)
        check_load("ramp add", self.mode, s.add)
        check_load("ramp max", self.mode, s.max)
        unit = "users" if self.mode == "closed" else "requests/s"
        if s.max < s.start:
            raise ConfigError(f"ramp max ({s.max:g} {unit}) must be >= ramp start ({s.start:g})")
        if s.factor is not None and not s.factor > 1.0:
            raise ConfigError(f"ramp factor must be > 1, got {s.factor:g}")
        if not s.step > 0:
            raise ConfigError(f"ramp step duration must be > 0 s, got {s.step:g}")
        check_common("ramp", s.spawn_rate, self.pool_users, s.warmup, s.step)
        steps = len(self.loads())
        if steps > MAX_PLAN_STEPS:
            raise ConfigError(f"ramp has {steps} steps; at most {MAX_PLAN_STEPS} are allowed")

    def loads(self) -> tuple[float, ...]:
        """The load of each step: users (closed loop) or requests/s (open loop)."""
        if self.mode == "closed":
            return tuple(float(u) for u in self.levels())
        s = self.spec
        rates = [float(s.start)]
        while rates[-1] < s.max * (1 - 1e-12) and len(rates) <= MAX_PLAN_STEPS:
            cur = rates[-1]
            rates.append(min(cur * s.factor if s.factor else cur + s.add, float(s.max)))
        return tuple(self._fold_short_last(rates, s.add))

    def levels(self) -> tuple[int, ...]:
        """The user count of each step (open loop: the starting pool), in order."""
        if self.mode == "open":
            return tuple(pool_size(r, self.pool_users) for r in self.loads())
        s = self.spec
        top, add = int(s.max), int(s.add)
        levels = [int(s.start)]
        while levels[-1] < top and len(levels) <= MAX_PLAN_STEPS:
            cur = levels[-1]
            nxt = max(cur + 1, math.ceil(cur * s.factor)) if s.factor else cur + add
            levels.append(min(nxt, top))
        return tuple(self._fold_short_last(levels, add))

    def _fold_short_last(self, values: list[_Load], step: float) -> list[_Load]:
        """``values`` without the step before the last when the last adds under a quarter step."""
        if len(values) < 3:
            return values
        prev, last = values[-2], values[-1]
        factor = self.spec.factor
        short = last / prev - 1.0 < (factor - 1.0) / 4 if factor else last - prev < step / 4
        if short:
            del values[-2]
        return values

    def steps(self) -> tuple[PlannedStep, ...]:
        s = self.spec
        return tuple(
            PlannedStep(
                i * s.step,
                (i + 1) * s.step,
                Tick.of(i + 1, load, self.mode, s.spawn_rate, s.warmup, pool_users=self.pool_users),
            )
            for i, load in enumerate(self.loads())
        )

    @property
    def duration(self) -> float:
        return len(self.loads()) * self.spec.step

    def at(self, elapsed: float, observation: StepMeasurement | None = None) -> Tick | None:
        steps = self.steps()
        index = int(max(elapsed, 0.0) // self.spec.step)
        return steps[index].tick if index < len(steps) else None

    def describe(self) -> str:
        """``ramp plan: 5 steps of 20 s, 1 user to 16 users; total 1 min 40 s``."""
        loads = self.loads()
        return (
            f"ramp plan: {len(loads)} steps of {format_seconds(self.spec.step)}, "
            f"{load_text(loads[0], self.mode)} to {load_text(loads[-1], self.mode)}; "
            f"total {format_seconds(self.duration)}"
        )
