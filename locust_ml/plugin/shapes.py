"""Load shapes: few-line ``LoadTestShape`` wrappers around pure schedules.

The schedule decides (:mod:`locust_ml.schedules`); the shape only reads the
elapsed time and options. Shapes here are ``abstract = True`` because Locust
picks the first concrete shape visible in a locustfile, imported ones
included: subclass one (``class Ramp(RampShape): pass``) to use it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from locust import LoadTestShape

from locust_ml.plugin.options import read_options
from locust_ml.schedules import RampPlan, Tick

__all__ = ["RampShape"]


class RampShape(LoadTestShape):
    """A closed-loop step ramp (capacity test), configurable in code or by options.

    Class attributes give the defaults; ``--ml-ramp-start``, ``--ml-ramp-step``,
    ``--ml-ramp-factor``, ``--ml-ramp-max``, ``--ml-step-time`` and
    ``--ml-spawn-rate`` override them. The test ends after the last step.
    """

    abstract = True
    start_users: ClassVar[int] = 1
    step_users: ClassVar[int] = 1
    factor: ClassVar[float | None] = None
    max_users: ClassVar[int] = 10
    step_seconds: ClassVar[float] = 30.0
    spawn_rate: ClassVar[float] = 100.0

    _plan: RampPlan | None = None

    def plan(self) -> RampPlan:
        """The ramp, from class attributes overridden by options (built once per test)."""
        if self._plan is None:
            base = RampPlan(
                start_users=self.start_users,
                max_users=self.max_users,
                step_seconds=self.step_seconds,
                step_users=self.step_users,
                factor=self.factor,
                spawn_rate=self.spawn_rate,
            )
            runner = getattr(self, "runner", None)
            parsed = runner.environment.parsed_options if runner is not None else None
            given = {
                k: v
                for k, v in dataclasses.asdict(read_options(parsed).ramp).items()
                if v is not None
            }
            if "step_users" in given and "factor" not in given:
                given["factor"] = None  # an additive step on the command line wins
            self._plan = dataclasses.replace(base, **given)
        return self._plan

    def reset_time(self) -> None:
        super().reset_time()
        self._plan = None  # options may have changed in the web UI

    def current(self) -> Tick | None:
        return self.plan().at(self.get_run_time())

    def tick(self) -> tuple[int, float] | None:
        t = self.current()
        return None if t is None else (t.users, t.spawn_rate)
