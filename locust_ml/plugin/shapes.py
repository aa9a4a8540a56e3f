"""Load shapes: few-line ``LoadTestShape`` wrappers around pure schedules.

The schedule decides (:mod:`locust_ml.schedules`, :mod:`locust_ml.analysis.search`);
the shape reads the elapsed time, the options, and - for the capacity search -
the recorder's measurement of the current step. Every shape here is
``abstract = True`` because Locust runs the first concrete shape visible in a
locustfile, imported ones included: subclass one (``class Shape(RampShape):
pass``) to use it.

One shape class serves every test type: ``--ml-shape`` switches a locustfile's
shape between ramp, soak, spike, stages and capacity-search (class attributes
give each kind's defaults), and ``--ml-arrival`` between closed loop (users)
and open loop (a target arrival rate). In open loop Locust's user count stays
steady - a pool of senders - and the rate travels to the workers as messages,
so the master's blocking ramps (Locust issue #2242) never delay a step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from locust import LoadTestShape

from locust_ml.analysis.search import CapacitySearch, SearchConfig, SearchResult
from locust_ml.analysis.stability import StabilityRule
from locust_ml.arrivals import ArrivalSpec, parse_arrival
from locust_ml.errors import ConfigError
from locust_ml.plugin.options import MLOptions, read_options
from locust_ml.schedules import (
    Plan,
    RampPlan,
    SoakPlan,
    SpikePlan,
    StagesPlan,
    Tick,
    describe_plan,
    format_seconds,
)

if TYPE_CHECKING:
    from locust_ml.analysis.stability import StepObservation

__all__ = [
    "CapacitySearchShape",
    "MLShape",
    "RampShape",
    "SoakShape",
    "SpikeShape",
    "StagesShape",
    "effective_arrival",
]

#: Open loop: Locust users (senders) per test unless --ml-pool-users says otherwise.
DEFAULT_POOL_USERS = 8


class MLShape(LoadTestShape):
    """Base of locust-ml shapes: builds the plan, ticks it, exposes the current tick.

    Class attributes are the defaults of each kind; options override them.
    Loads are users (closed loop) or requests/s (open loop).
    """

    abstract = True
    kind: ClassVar[str] = "ramp"
    #: Default arrival process when --ml-arrival isn't given ("closed" or e.g. "poisson").
    arrival: ClassVar[str] = "closed"
    spawn_rate: ClassVar[float] = 100.0
    warmup_s: ClassVar[float] = 0.0
    # ramp
    start_users: ClassVar[float] = 1
    step_users: ClassVar[float] = 1
    factor: ClassVar[float | None] = None
    max_users: ClassVar[float] = 10
    step_seconds: ClassVar[float] = 30.0
    # soak
    soak_load: ClassVar[float] = 10
    soak_seconds: ClassVar[float] = 4 * 3600.0
    soak_ramp_seconds: ClassVar[float] = 300.0
    soak_ramp_down_seconds: ClassVar[float] = 60.0
    # spike
    spike_baseline: ClassVar[float] = 10
    spike_factor: ClassVar[float] = 5.0
    spike_baseline_seconds: ClassVar[float] = 120.0
    spike_seconds: ClassVar[float] = 60.0
    spike_recovery_seconds: ClassVar[float] = 300.0
    # stages
    stages_file: ClassVar[str | None] = None
    # capacity search
    search_start: ClassVar[float] = 10
    search_factor: ClassVar[float] = 2.0
    search_precision: ClassVar[float] = 0.05
    search_max_seconds: ClassVar[float] = 3600.0
    search_step_seconds: ClassVar[float] = 120.0
    search_warmup_seconds: ClassVar[float] = 10.0

    _plan: Plan | None = None
    _options: MLOptions | None = None
    current_tick: Tick | None = None
    #: Set by the glue: returns the recorder's measurement of the current step.
    observe: Any = None

    # -- options -----------------------------------------------------------
    def options(self) -> MLOptions:
        if self._options is None:
            runner = getattr(self, "runner", None)
            parsed = runner.environment.parsed_options if runner is not None else None
            self._options = read_options(parsed)
        return self._options

    def arrival_spec(self) -> ArrivalSpec:
        """The arrival process: ``--ml-arrival`` if given, else the class's ``arrival``."""
        return self.options().shape.arrival or parse_arrival(self.arrival, option="arrival")

    @property
    def mode(self) -> str:
        return "open" if self.arrival_spec().is_open else "closed"

    # -- the plan ------------------------------------------------------------
    def plan(self) -> Plan:
        """The schedule, from class attributes overridden by options (once per test)."""
        if self._plan is None:
            self._plan = self.build_plan(self.options())
        return self._plan

    def build_plan(self, opts: MLOptions) -> Plan:
        o = opts.shape
        kind = o.kind or self.kind
        arrival = o.arrival or parse_arrival(self.arrival, option="arrival")
        mode = "open" if arrival.is_open else "closed"
        spawn = o.spawn_rate or self.spawn_rate
        warmup = self.warmup_s if o.warmup_s is None else o.warmup_s
        pool = o.pool_users
        if kind == "ramp":
            return _ramp(self, o, mode, spawn, warmup, pool)
        if kind == "soak":
            ramp_up = self.soak_ramp_seconds if o.soak_ramp_s is None else o.soak_ramp_s
            down = self.soak_ramp_down_seconds if o.soak_ramp_down_s is None else o.soak_ramp_down_s
            return SoakPlan(
                load=o.soak_load or self.soak_load,
                hold_s=o.soak_s or self.soak_seconds,
                ramp_up_s=ramp_up,
                ramp_up_steps=5 if ramp_up > 0 else 0,
                ramp_down_s=down,
                ramp_down_steps=1 if down > 0 else 0,
                mode=mode,  # type: ignore[arg-type]
                spawn_rate=spawn,
                warmup_s=warmup,
                pool_users=pool,
            )
        if kind == "spike":
            return SpikePlan(
                baseline=o.spike_baseline or self.spike_baseline,
                factor=o.spike_factor or self.spike_factor,
                baseline_s=o.spike_baseline_s or self.spike_baseline_seconds,
                spike_s=o.spike_s or self.spike_seconds,
                recovery_s=o.spike_recovery_s or self.spike_recovery_seconds,
                mode=mode,  # type: ignore[arg-type]
                spawn_rate=spawn,
                warmup_s=warmup,
                pool_users=pool,
            )
        if kind == "stages":
            path = o.stages or self.stages_file
            if not path:
                raise ConfigError("--ml-shape stages needs --ml-stages FILE (YAML or JSON)")
            return StagesPlan.from_file(path, spawn_rate=spawn, pool_users=pool)
        if kind == "capacity-search":
            return CapacitySearch(
                SearchConfig(
                    slos=o.slos,
                    mode=mode,  # type: ignore[arg-type]
                    start=o.search_start or self.search_start,
                    factor=o.search_factor or self.search_factor,
                    precision=o.search_precision or self.search_precision,
                    warmup_s=self.search_warmup_seconds if o.warmup_s is None else o.warmup_s,
                    max_step_s=o.search_step_s or self.search_step_seconds,
                    max_total_s=o.search_max_s or self.search_max_seconds,
                    spawn_rate=spawn,
                    pool_users=pool,
                    stability=StabilityRule(
                        tolerance=o.stability_tolerance, windows=3, min_windows=6
                    ),
                )
            )
        raise ConfigError(f"unknown shape kind {kind!r}")

    def describe(self, opts: MLOptions, run_time: float | None = None) -> str:
        """The plan in one line, with its total length (printed when a test starts).

        ``run_time`` is Locust's ``--run-time``: when it ends the test first, say so.
        """
        plan = self.build_plan(opts)
        text = describe_plan(plan)
        total: float | None = None
        if text is not None:
            total = getattr(plan, "duration", None)
        elif isinstance(plan, CapacitySearch):
            c = plan.config
            total = c.max_total_s
            text = (
                f"capacity search: steps of up to {format_seconds(c.max_step_s)}, "
                f"at most {format_seconds(c.max_total_s)} in all"
            )
        else:
            text = f"{type(plan).__name__}"
        if run_time and (total is None or run_time < total):
            text += f" (--run-time ends it at {format_seconds(run_time)})"
        return text

    def search_result(self) -> SearchResult | None:
        plan = self._plan
        if isinstance(plan, CapacitySearch):
            return plan.result or plan.stop()
        return None

    # -- Locust's interface -------------------------------------------------
    def reset_time(self) -> None:
        super().reset_time()
        self._plan = None  # options may have changed in the web UI
        self._options = None
        self.current_tick = None

    def tick(self) -> tuple[int, float] | None:
        plan = self.plan()
        observation: StepObservation | None = None
        if self.current_tick is not None and self.observe is not None:
            observation = self.observe(self.current_tick)
        t = plan.at(self.get_run_time(), observation)
        self.current_tick = t
        if t is None:
            return None
        if t.mode == "open":
            return (self.open_users(), t.spawn_rate)
        return (t.users, t.spawn_rate)

    def open_users(self) -> int:
        """Locust users for an open-loop test: a steady pool, at least one per worker."""
        runner = getattr(self, "runner", None)
        workers = int(getattr(runner, "worker_count", 0) or 0)
        return max(self.options().shape.pool_users or DEFAULT_POOL_USERS, workers, 1)


def _ramp(
    shape: MLShape, o: Any, mode: str, spawn: float, warmup: float, pool: int | None
) -> RampPlan:
    start = o.start or shape.start_users
    step = o.step or shape.step_users
    factor = shape.factor if o.factor is None else o.factor
    if o.step is not None and o.factor is None:
        factor = None  # an additive step on the command line wins over a class factor
    top = o.max or shape.max_users
    seconds = o.step_seconds or shape.step_seconds
    if mode == "open":
        return RampPlan(
            mode="open",
            start_rps=float(start),
            step_rps=float(step),
            max_rps=float(top),
            factor=factor,
            step_seconds=seconds,
            spawn_rate=spawn,
            warmup_s=warmup,
            pool_users=pool,
        )
    return RampPlan(
        start_users=round(start),
        step_users=max(1, round(step)),
        max_users=round(top),
        factor=factor,
        step_seconds=seconds,
        spawn_rate=spawn,
        warmup_s=warmup,
    )


class RampShape(MLShape):
    """A step ramp (the capacity test): load rises step by step to a maximum."""

    abstract = True
    kind = "ramp"


class SoakShape(MLShape):
    """Ramp up, hold for hours, ramp down: finds leaks and drift."""

    abstract = True
    kind = "soak"


class SpikeShape(MLShape):
    """Baseline, a spike to N x baseline, back to baseline while recovery is watched."""

    abstract = True
    kind = "spike"


class StagesShape(MLShape):
    """Stages from a YAML/JSON file (``stages_file`` or ``--ml-stages``)."""

    abstract = True
    kind = "stages"


class CapacitySearchShape(MLShape):
    """Step up until the SLO breaks or throughput stops rising, then bisect."""

    abstract = True
    kind = "capacity-search"
    arrival = "poisson"


def effective_arrival(environment: Any) -> ArrivalSpec:
    """The test's arrival process, the same on the master and on every worker.

    ``--ml-arrival`` when given, else the locustfile's shape class's
    ``arrival`` (Locust loads the locustfile, shape included, in every process).
    """
    given = read_options(environment.parsed_options).shape.arrival
    if given is not None:
        return given
    shape = getattr(environment, "shape_class", None)
    if isinstance(shape, MLShape):
        return parse_arrival(shape.arrival, option="arrival")
    return parse_arrival("closed")
