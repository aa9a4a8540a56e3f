"""One locust-ml run per Locust ``Environment``: ``environment.locust_ml``.

The run object owns what one process of a test holds: the options, the
samples, and - by role - the parts below. Locust's callbacks reach it
through :mod:`locust_ml.plugin.hooks`, which only translates them; users
read what they need from it (:func:`load_side`), never the listeners.

* :class:`LoadSide` records every request (:class:`~locust_ml.plugin.recorder.SampleRecorder`)
  and runs the open-loop arrival driver: a worker (:class:`WorkerRun`) and a
  local run;
* the control side (:mod:`locust_ml.plugin.control`: ``MasterRun``,
  ``LocalRun``) tracks steps, reads telemetry, serves the exporter and the
  web UI, starts the embedded server, and writes the report.

Master and worker are classes, not branches on a role string. Each test
(the web UI can run several) starts with :meth:`MLRun.start`, which reads
the options again and forgets the previous test's samples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from locust.runners import STATE_RUNNING, STATE_SPAWNING

from locust_ml.analysis.samples import StepSamples
from locust_ml.arrivals import parse_arrival
from locust_ml.errors import ConfigError
from locust_ml.options import MLOptions, read_options
from locust_ml.plugin.messages import RATE_MESSAGE, STEP_MESSAGE, StepAnnouncement
from locust_ml.plugin.openloop import ArrivalDriver, RatePlan
from locust_ml.plugin.recorder import SampleRecorder
from locust_ml.plugin.shapes import SHAPES_BY_KIND, MLShape
from locust_ml.preflight import preflight as check_inputs
from locust_ml.shapes import StagesPlan
from locust_ml.traces.timeline import load_timestamps

__all__ = ["LoadSide", "MLRun", "WorkerRun", "load_side", "run_of"]

logger = logging.getLogger("locust_ml")


def run_of(environment: Any) -> MLRun | None:
    """The run bound to ``environment``, if any."""
    run = getattr(environment, "locust_ml", None)
    return run if isinstance(run, MLRun) else None


def load_side(environment: Any) -> LoadSide | None:
    """The run's load side (workers and local runs), which users send through."""
    run = getattr(environment, "locust_ml", None)
    return run if isinstance(run, LoadSide) else None


def _give_shape(environment: Any, options: MLOptions, *, announce: bool) -> None:
    """``--ml-shape KIND`` in a locustfile without a shape class: run that kind's shape.

    Locust only runs a shape class the locustfile defines; without this the
    option would be ignored and the run would silently be Locust's ``-u``
    users. Given at ``init``, before Locust decides between its shape and
    ``-u/-r`` (``start_automatic_run`` and the web UI read
    ``environment.shape_class`` when the test starts).
    """
    choice = options.load.shape
    # Keys without a kind (``:window=1s``) keep Locust's -u users: the common
    # keys (window, warm-up) still apply to their steps.
    if getattr(environment, "shape_class", None) is not None or choice is None or not choice.kind:
        return
    shape = SHAPES_BY_KIND[choice.kind]()
    shape.runner = environment.runner
    environment.shape_class = shape
    if announce:
        logger.info(
            "locust-ml: the locustfile has no shape class; --ml-shape %s runs as %s",
            choice.kind,
            type(shape).__name__,
        )


class MLRun:
    """What every process of a run holds: the environment, the options, the samples."""

    role: ClassVar[str] = ""
    #: Whether this process runs the shape and writes the report (master, local).
    controls: ClassVar[bool] = False

    def __init__(self, environment: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.environment = environment
        self.clock = clock
        self.options: MLOptions = read_options(environment.parsed_options)
        _give_shape(environment, self.options, announce=self.controls)
        self.shape: MLShape | None = (
            environment.shape_class if isinstance(environment.shape_class, MLShape) else None
        )
        self.locustfile = str(
            getattr(environment.parsed_options, "locustfile", None) or "locustfile"
        )
        self.samples = StepSamples()
        self.started_at: float | None = None
        environment.locust_ml = self

    def prepare(self) -> None:
        """At Locust's ``init``, before any load: check what the run will need.

        Raises ConfigError (one line, exit 2, nothing sent): an arrival process
        that contradicts the plan, a trace file that can't be read, a report
        directory that can't be written (:mod:`locust_ml.preflight`). A stages
        file that fixes the loop mode by itself sets ``--ml-arrival`` for the
        run, which workers receive with the spawn message.
        """
        options, shape = self.options, self.shape
        plan = spec = None
        if shape is not None and self.controls:
            plan, spec = shape.build_plan(options), shape.spec(options)
        checked = check_inputs(
            arrival=options.load.arrival,
            default_arrival=(
                shape.default_arrival(options) if shape is not None else parse_arrival("closed")
            ),
            plan_mode=plan.mode if isinstance(plan, StagesPlan) else None,
            stages_source=str(getattr(spec, "file", None) or ""),
            report_dir=(options.report.report_dir or "reports") if self.controls else None,
        )
        if checked.arrival is not None:
            self.environment.parsed_options.ml_arrival = str(checked.arrival)
            self.options = read_options(self.environment.parsed_options)
        for note in checked.notes:
            logger.info("locust-ml: %s", note)

    def start(self) -> None:
        """A test starts: read the options again (the web form may have changed them),
        forget the previous test's samples. Raises ConfigError for a bad option."""
        self.options = read_options(self.environment.parsed_options)
        self.samples = StepSamples()
        self.started_at = self.clock()

    def stop(self) -> None:
        """The test's load stopped."""


class LoadSide(MLRun):
    """Records requests and runs the open-loop driver (a worker, or a local run)."""

    def __init__(self, environment: Any, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(environment, clock=clock)
        self.recorder = SampleRecorder(self.samples, self.options.load.slos, clock=clock)
        self.driver = ArrivalDriver(
            record_event=lambda event, _step: self.recorder.count(event),
            load_timestamps=load_timestamps,
        )
        #: The open-loop plan this process last got: its step and its share of the arrivals.
        self.rate_plan: RatePlan | None = None

    def start(self) -> None:
        super().start()
        self.recorder = SampleRecorder(self.samples, self.options.load.slos, clock=self.clock)

    def stop(self) -> None:
        super().stop()
        self.driver.stop()

    def on_request(self, **event: Any) -> None:
        """Locust's ``request`` event: one request's sample into the current step."""
        self.recorder.record_event(
            event.get("request_type", ""),
            event.get("name", ""),
            event.get("response_time"),
            event.get("response_length"),
            response=event.get("response"),
            exception=event.get("exception"),
            context=event.get("context"),
            start_time=event.get("start_time"),
        )

    def configure_driver(self, plan: RatePlan) -> None:
        """This process's share of an open-loop step (or of the probe's concurrency)."""
        self.rate_plan = plan
        self.driver.configure(plan)


class WorkerRun(LoadSide):
    """A worker: records under the master's steps, ships samples, sends its open-loop share."""

    role = "worker"

    def __init__(self, environment: Any, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(environment, clock=clock)
        #: Whether the worker's last line was logged (``quitting`` can fire twice).
        self.summary_logged = False
        runner = environment.runner
        if runner is not None:
            runner.register_message(STEP_MESSAGE, self.on_step_message)
            runner.register_message(RATE_MESSAGE, self.on_rate_message)

    def start(self) -> None:
        super().start()
        self.summary_logged = False

    def on_step_message(self, msg: Any, **_: Any) -> None:
        step = StepAnnouncement.from_message(getattr(msg, "data", None))
        if step is not None:
            self.recorder.set_step(step)

    def on_rate_message(self, msg: Any, **_: Any) -> None:
        try:
            self.configure_driver(RatePlan.from_message(getattr(msg, "data", None)))
        except (ValueError, ConfigError) as exc:
            logger.error("locust-ml: ignored an open-loop plan: %s", exc)

    def report(self) -> list[dict[str, object]]:
        """What goes into this worker's next report to the master."""
        return self.recorder.drain_wire()

    def quitting(self) -> None:
        """The worker quits: stop its users, ship what it hasn't reported, log its count.

        Locust's worker sends a last report when the master tells it to quit,
        but not when it is stopped itself (SIGTERM, Ctrl-C on the worker):
        without this, what it recorded since its last report (up to 3 s of
        requests) would never reach the report.
        """
        if self.summary_logged:
            return
        self.summary_logged = True
        runner = self.environment.runner
        if runner is not None:
            if runner.state in (STATE_SPAWNING, STATE_RUNNING):
                runner.stop()
            if self.recorder.recorded > self.recorder.shipped:
                try:
                    runner._send_stats()  # what Locust does on the master's "quit"
                except Exception as exc:  # the master may be gone; the line below says so
                    logger.warning("locust-ml: could not send the last report: %s", exc)
        worker = getattr(runner, "client_id", "?")
        logger.info("locust-ml: %s", self.recorder.worker_summary(str(worker)))
        if self.rate_plan is not None and self.driver.sent == 0:
            # Its share of the arrivals was never sent; the report's shortfall says
            # so, this says why (seen once on a crowded machine, cause unknown).
            logger.warning(
                "locust-ml: worker %s got open-loop plans but sent nothing: %s",
                worker,
                "none of its users started"
                if self.driver.users_seen == 0
                else f"{self.driver.users_seen} users started, none took an arrival",
            )
