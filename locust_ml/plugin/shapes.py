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
so the master's blocking ramps (Locust issue #2242) never delay a step. The
capacity search runs open loop (Poisson arrivals) unless ``--ml-arrival``
says otherwise, whatever the locustfile's shape class would use for a ramp.

Locust ignores ``--run-time`` when a shape class exists; ours read it
(``use_common_options``): the shape ends the test when the time is up, the
step then running is marked partial, and the report is written as usual.
"""

from __future__ import annotations

import dataclasses
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
    from locust_ml.analysis.judge import StepMeasurement

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
#: Arrival process of a capacity search when --ml-arrival is not given.
SEARCH_ARRIVAL = "poisson"
#: Measurement windows: a capacity search's (it judges steps as soon as it can).
SEARCH_WINDOW_S = 1.0
#: Other shapes' windows: a tenth of the shortest step, within these bounds.
WINDOW_BOUNDS_S = (0.5, 5.0)


class MLShape(LoadTestShape):
    """Base of locust-ml shapes: builds the plan, ticks it, exposes the current tick.

    Class attributes are the defaults of each kind; options override them.
    Loads are users (closed loop) or requests/s (open loop).
    """

    abstract = True
    #: Locust: this shape reads --run-time (and says that it ignores -u/-r).
    use_common_options: ClassVar[bool] = True
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
    # capacity search (None: the search's own defaults, analysis/search.py)
    search_start: ClassVar[float | None] = None
    search_precision: ClassVar[float | None] = None
    search_max_seconds: ClassVar[float | None] = None
    search_step_seconds: ClassVar[float | None] = None

    _plan: Plan | None = None
    _options: MLOptions | None = None
    current_tick: Tick | None = None
    #: True once --run-time ended the test before the plan did.
    cut_short: bool = False
    #: Set by the glue: returns the recorder's measurement of the current step.
    observe: Any = None

    # -- options -----------------------------------------------------------
    def options(self) -> MLOptions:
        if self._options is None:
            runner = getattr(self, "runner", None)
            parsed = runner.environment.parsed_options if runner is not None else None
            self._options = read_options(parsed)
        return self._options

    @property
    def kind_now(self) -> str:
        """The shape kind this run uses: ``--ml-shape`` if given, else the class's."""
        return self.options().shape.kind or self.kind

    def arrival_spec(self) -> ArrivalSpec:
        """The arrival process (see :func:`effective_arrival`)."""
        return _arrival(self.options().shape.arrival, self.kind_now, self.arrival)

    @property
    def mode(self) -> str:
        return "open" if self.arrival_spec().is_open else "closed"

    def window_s(self) -> float:
        """The measurement window length: ``--ml-window``, else the shape's default.

        A capacity search judges steps as soon as it can, on one-second
        windows; a fixed plan gets ten windows in its shortest step, within
        :data:`WINDOW_BOUNDS_S` (a step's stability needs five).
        """
        given = self.options().window_s
        if given:
            return given
        plan = self.plan()
        if isinstance(plan, CapacitySearch):
            return SEARCH_WINDOW_S
        steps = getattr(plan, "steps", None)
        lengths = [s.end - s.start for s in steps()] if callable(steps) else []
        low, high = WINDOW_BOUNDS_S
        return min(max(min(lengths, default=10 * high) / 10.0, low), high)

    # -- the plan ------------------------------------------------------------
    def plan(self) -> Plan:
        """The schedule, from class attributes overridden by options (once per test)."""
        if self._plan is None:
            self._plan = self.build_plan(self.options())
        return self._plan

    def build_plan(self, opts: MLOptions) -> Plan:
        o = opts.shape
        kind = o.kind or self.kind
        arrival = _arrival(o.arrival, kind, self.arrival)
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
            given: dict[str, Any] = {
                "start": _first(o.search_start, self.search_start),
                "precision": _first(o.search_precision, self.search_precision),
                "warmup_s": o.warmup_s,
                "max_step_s": _first(o.search_step_s, self.search_step_seconds),
                "max_total_s": _first(o.search_max_s, self.search_max_seconds),
            }
            config = SearchConfig(
                slos=o.slos,
                mode=mode,  # type: ignore[arg-type]
                spawn_rate=spawn,
                pool_users=pool,
                error_ceiling=opts.report.error_ceiling,
                stability=StabilityRule(tolerance=opts.report.stability_tolerance),
            )
            changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
            return CapacitySearch(dataclasses.replace(config, **changes) if changes else config)
        raise ConfigError(f"unknown shape kind {kind!r}")

    def describe(self, opts: MLOptions, run_time: float | None = None) -> str:
        """The shape, its loop and its plan in one line, with its total length.

        Printed when a test starts. ``run_time`` is Locust's ``--run-time``:
        when it ends the test first, say so.
        """
        kind = opts.shape.kind or self.kind
        arrival = _arrival(opts.shape.arrival, kind, self.arrival)
        loop = f"open loop, {arrival}" if arrival.is_open else "closed loop"
        plan = self.build_plan(opts)
        text = describe_plan(plan)
        total: float | None = None
        if text is not None:
            total = getattr(plan, "duration", None)
        elif isinstance(plan, CapacitySearch):
            c = plan.config
            total = c.max_total_s
            text = (
                f"capacity search: a saturation probe, then steps judged as soon as the "
                f"statistics allow (at most {format_seconds(c.max_total_s)} in all)"
                if c.mode == "open" and c.start is None
                else f"capacity search: steps judged as soon as the statistics allow "
                f"(at most {format_seconds(c.max_total_s)} in all)"
            )
        else:
            text = f"{type(plan).__name__}"
        if run_time and (total is None or run_time < total):
            text += f" (--run-time ends it at {format_seconds(run_time)})"
        return f"{text}; {loop}"

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
        self.cut_short = False

    def run_time_limit(self) -> float | None:
        """Locust's ``--run-time`` in seconds, if given (the shape ends the test then)."""
        runner = getattr(self, "runner", None)
        parsed = runner.environment.parsed_options if runner is not None else None
        limit = getattr(parsed, "run_time", None)
        return float(limit) if isinstance(limit, int | float) and limit > 0 else None

    def tick(self) -> tuple[int, float] | None:
        plan = self.plan()
        elapsed = self.get_run_time()
        limit = self.run_time_limit()
        if limit is not None and elapsed >= limit:
            self.cut_short = self.current_tick is not None
            self.current_tick = None
            return None
        measurement: StepMeasurement | None = None
        if self.current_tick is not None and self.observe is not None:
            measurement = self.observe(self.current_tick)
        t = plan.at(elapsed, measurement)
        self.current_tick = t
        if t is None:
            return None
        if t.driven:
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
    """Probe the target's saturation, then bracket and bisect the SLO capacity."""

    abstract = True
    kind = "capacity-search"
    arrival = SEARCH_ARRIVAL


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _arrival(given: ArrivalSpec | None, kind: str, class_default: str) -> ArrivalSpec:
    if given is not None:
        return given
    if kind == "capacity-search":
        return parse_arrival(SEARCH_ARRIVAL, option="arrival")
    return parse_arrival(class_default, option="arrival")


def effective_arrival(environment: Any) -> ArrivalSpec:
    """The test's arrival process, the same on the master and on every worker.

    ``--ml-arrival`` when given; else Poisson for a capacity search; else the
    locustfile's shape class's ``arrival`` (Locust loads the locustfile,
    shape included, in every process, and sends the master's options to the
    workers with the spawn message).
    """
    opts = read_options(environment.parsed_options).shape
    shape = getattr(environment, "shape_class", None)
    if isinstance(shape, MLShape):
        return _arrival(opts.arrival, opts.kind or shape.kind, shape.arrival)
    return opts.arrival or parse_arrival("closed")
