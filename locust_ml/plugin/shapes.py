"""Load shapes: few-line ``LoadTestShape`` wrappers around pure schedules.

The schedule decides (:mod:`locust_ml.shapes`, :mod:`locust_ml.analysis.search`);
the shape reads the elapsed time, the options, and - for the capacity search -
the run's measurement of the current step. Every shape here is
``abstract = True`` because Locust runs the first concrete shape visible in a
locustfile, imported ones included: subclass one (``class Shape(RampShape):
pass``) to use it.

A shape class's attributes are its kind's keys, the same names as on the
command line (``class Ramp(RampShape): start = 1; factor = 2; max = 16;
step = "20s"``); ``--ml-shape`` overrides them, or switches the run to
another kind (soak, spike, stages, capacity-search), and ``--ml-arrival``
switches between closed loop (users) and open loop (a target arrival
rate). In open loop Locust's user count stays steady - a pool of senders -
and the rate travels to the workers as messages, so the master's blocking
ramps (Locust issue #2242) never delay a step. The capacity search runs open
loop (Poisson arrivals) unless ``--ml-arrival`` says otherwise.

Locust ignores ``--run-time`` when a shape class exists; ours read it
(``use_common_options``): the shape ends the test when the time is up, the
step then running is marked partial, and the report is written as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from locust import LoadTestShape

from locust_ml.analysis.judge import DEFAULT_ERROR_CEILING
from locust_ml.analysis.search import CapacitySearch, SearchResult
from locust_ml.analysis.stability import StabilityRule
from locust_ml.arrivals import ArrivalSpec, parse_arrival
from locust_ml.options import MLOptions, read_options
from locust_ml.schedules import Plan, Tick, format_seconds
from locust_ml.shapes import PlanContext, ShapeSpec, resolve_spec, spec_text

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

#: Open loop: Locust users (senders) per test unless --ml-open-loop senders= says otherwise.
DEFAULT_POOL_USERS = 8
#: Arrival process of a capacity search when --ml-arrival is not given.
SEARCH_ARRIVAL = "poisson"
#: Measurement windows: a capacity search's (it judges steps as soon as it can).
SEARCH_WINDOW_S = 1.0
#: Other shapes' windows: a tenth of the shortest step, within these bounds.
WINDOW_BOUNDS_S = (0.5, 5.0)


class MLShape(LoadTestShape):
    """Base of locust-ml shapes: builds the plan, ticks it, exposes the current tick.

    Class attributes named like the kind's keys (:mod:`locust_ml.shapes`)
    give the locustfile's defaults; options override them.
    """

    abstract = True
    #: Locust: this shape reads --run-time (and says that it ignores -u/-r).
    use_common_options: ClassVar[bool] = True
    kind: ClassVar[str] = "ramp"
    #: Default arrival process when --ml-arrival isn't given ("closed" or e.g. "poisson").
    arrival: ClassVar[str] = "closed"

    _plan: Plan | None = None
    _options: MLOptions | None = None
    current_tick: Tick | None = None
    #: True once --run-time ended the test before the plan did.
    cut_short: bool = False

    # -- options -----------------------------------------------------------
    def options(self) -> MLOptions:
        if self._options is None:
            runner = getattr(self, "runner", None)
            parsed = runner.environment.parsed_options if runner is not None else None
            self._options = read_options(parsed)
        return self._options

    def spec(self, opts: MLOptions | None = None) -> ShapeSpec:
        """The run's shape parameters: this class's for its kind, ``--ml-shape``'s on top."""
        opts = opts or self.options()
        return resolve_spec(opts.load.shape, self.kind, type(self))

    @classmethod
    def spec_text(cls) -> str:
        """This class's shape as ``--ml-shape`` writes it (the web form's default)."""
        return spec_text(resolve_spec(None, cls.kind, cls))

    @property
    def kind_now(self) -> str:
        """The shape kind this run uses: ``--ml-shape``'s if given, else the class's."""
        return self.spec().kind

    def arrival_spec(self, opts: MLOptions | None = None) -> ArrivalSpec:
        """The arrival process (see :func:`effective_arrival`)."""
        opts = opts or self.options()
        return _arrival(opts.load.arrival, self.spec(opts).kind, self.arrival)

    def default_arrival(self, opts: MLOptions | None = None) -> ArrivalSpec:
        """The arrival process when ``--ml-arrival`` is not given (Poisson for a search)."""
        opts = opts or self.options()
        return _arrival(None, self.spec(opts).kind, self.arrival)

    @property
    def mode(self) -> str:
        return "open" if self.arrival_spec().is_open else "closed"

    def window_s(self) -> float:
        """The measurement window length: the spec's ``window``, else the shape's default.

        A capacity search judges steps as soon as it can, on one-second
        windows; a fixed plan gets ten windows in its shortest step, within
        :data:`WINDOW_BOUNDS_S` (a step's stability needs five).
        """
        given = self.spec().window
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
        """The plan ``opts`` ask for (ConfigError when it is impossible)."""
        arrival = self.arrival_spec(opts)
        context = PlanContext(
            mode="open" if arrival.is_open else "closed",
            pool_users=opts.load.open_loop.senders,
            slos=opts.load.slos,
            error_ceiling=DEFAULT_ERROR_CEILING,
            stability=StabilityRule(tolerance=opts.decisions.stability_tolerance),
        )
        return self.spec(opts).plan(context)

    def describe(self, opts: MLOptions, run_time: float | None = None) -> str:
        """The shape, its loop and its plan in one line, with its total length.

        Printed when a test starts. ``run_time`` is Locust's ``--run-time``:
        when it ends the test first, say so.
        """
        arrival = self.arrival_spec(opts)
        loop = f"open loop, {arrival}" if arrival.is_open else "closed loop"
        plan = self.build_plan(opts)
        text = plan.describe()
        if run_time and run_time < plan.longest:
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
        if self.current_tick is not None:
            measurement = self._measure(self.current_tick)
        t = plan.at(elapsed, measurement)
        self.current_tick = t
        if t is None:
            return None
        if t.driven:
            return (self.open_users(), t.spawn_rate)
        return (t.users, t.spawn_rate)

    def _measure(self, tick: Tick) -> StepMeasurement | None:
        """The run's measurement of the current step so far (what a search judges)."""
        runner = getattr(self, "runner", None)
        run: Any = getattr(getattr(runner, "environment", None), "locust_ml", None)
        return None if run is None else run.measurement(tick)

    def open_users(self) -> int:
        """Locust users for an open-loop test: a steady pool, at least one per worker."""
        runner = getattr(self, "runner", None)
        workers = int(getattr(runner, "worker_count", 0) or 0)
        senders = self.options().load.open_loop.senders
        return max(senders or DEFAULT_POOL_USERS, workers, 1)


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
    """Stages from a YAML/JSON file (class attribute ``file``, or ``--ml-shape stages:FILE``)."""

    abstract = True
    kind = "stages"


class CapacitySearchShape(MLShape):
    """Probe the target's saturation, then bracket and bisect the SLO capacity."""

    abstract = True
    kind = "capacity-search"
    arrival = SEARCH_ARRIVAL


#: The shape class that runs each ``--ml-shape`` kind in a locustfile without one.
SHAPES_BY_KIND: dict[str, type[MLShape]] = {
    cls.kind: cls for cls in (RampShape, SoakShape, SpikeShape, StagesShape, CapacitySearchShape)
}


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
    opts = read_options(environment.parsed_options)
    shape = getattr(environment, "shape_class", None)
    if isinstance(shape, MLShape):
        return shape.arrival_spec(opts)
    return opts.load.arrival or parse_arrival("closed")
