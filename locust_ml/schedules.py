"""Pure load schedules: what load to offer at each moment of a test.

Locust's ``LoadTestShape.tick()`` reads the wall clock itself, which makes
shapes untestable without sleeping. Here a schedule is a pure function of the
elapsed time, ``plan.at(elapsed) -> Tick | None`` (None: the test is over),
and the Locust shape (:mod:`locust_ml.plugin.shapes`) is a few-line wrapper.
Every tick names its step, so samples and telemetry can be grouped per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from locust_ml.errors import ConfigError

__all__ = ["Plan", "RampPlan", "Tick"]


@dataclass(frozen=True)
class Tick:
    """The load a schedule asks for now."""

    step: int
    users: int
    spawn_rate: float
    offered_rps: float | None = None


class Plan(Protocol):
    """A schedule: the tick at ``elapsed`` seconds, or None when finished."""

    def at(self, elapsed: float) -> Tick | None: ...


@dataclass(frozen=True)
class RampPlan:
    """A closed-loop step ramp: the capacity test.

    User counts go ``start_users``, then up by ``step_users`` (or times
    ``factor`` when given, at least +1 each step), each held ``step_seconds``;
    the last level is ``max_users`` exactly, then the test ends.

    >>> RampPlan(start_users=2, step_users=3, max_users=10, step_seconds=30).levels()
    (2, 5, 8, 10)
    >>> RampPlan(start_users=1, max_users=16, factor=2.0, step_seconds=10).levels()
    (1, 2, 4, 8, 16)
    >>> RampPlan(start_users=1, max_users=2, step_seconds=10).at(15.0)
    Tick(step=2, users=2, spawn_rate=100.0, offered_rps=None)
    """

    start_users: int = 1
    max_users: int = 10
    step_seconds: float = 30.0
    step_users: int = 1
    factor: float | None = None
    spawn_rate: float = 100.0

    def __post_init__(self) -> None:
        if self.start_users < 1:
            raise ConfigError(f"ramp start must be >= 1 user, got {self.start_users}")
        if self.max_users < self.start_users:
            raise ConfigError(
                f"ramp max ({self.max_users}) must be >= ramp start ({self.start_users})"
            )
        if not self.step_seconds > 0:
            raise ConfigError(f"ramp step duration must be > 0 s, got {self.step_seconds}")
        if self.step_users < 1:
            raise ConfigError(f"ramp step must be >= 1 user, got {self.step_users}")
        if self.factor is not None and not self.factor > 1.0:
            raise ConfigError(f"ramp factor must be > 1, got {self.factor}")
        if not self.spawn_rate > 0:
            raise ConfigError(f"spawn rate must be > 0 users/s, got {self.spawn_rate}")

    def levels(self) -> tuple[int, ...]:
        """The user count of each step, in order."""
        levels = [self.start_users]
        while levels[-1] < self.max_users:
            cur = levels[-1]
            nxt = (
                max(cur + 1, math.ceil(cur * self.factor)) if self.factor else cur + self.step_users
            )
            levels.append(min(nxt, self.max_users))
        return tuple(levels)

    @property
    def duration(self) -> float:
        return len(self.levels()) * self.step_seconds

    def at(self, elapsed: float) -> Tick | None:
        levels = self.levels()
        index = int(max(elapsed, 0.0) // self.step_seconds)
        if index >= len(levels):
            return None
        return Tick(step=index + 1, users=levels[index], spawn_rate=self.spawn_rate)
