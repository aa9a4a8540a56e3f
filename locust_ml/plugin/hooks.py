"""Locust event listeners: the plugin's wiring into a Locust process.

Importing this module (``import locust_ml`` in a locustfile does) registers,
at module level on ``locust.events``:

* ``init_command_line_parser`` — our ``--ml-*`` options;
* ``init`` — creates the process's :class:`RunRecorder`, starts the embedded
  reference server when there is no ``--host``, and :func:`bind`\\ s the
  per-environment listeners;
* ``quitting`` — builds and writes the report (master or local). It is
  module-level on purpose: on a master, ``test_stop`` can fire before the last
  worker reports arrive, and a ``quitting`` listener registered inside
  ``init`` was observed to miss them (see ``shared/LOCUST_NOTES.md``);
* ``quit`` — prints the step table after Locust's own tables, so the run ends
  with our summary and the report's path; stops the embedded server.

A worker's ``quitting`` listener is the exception: :func:`bind` registers it
after Locust's own (``quitting`` fires in reverse order), so it runs before
the worker tells the master it quit. It stops the users, ships what the
master has not yet received, and logs one line, ``locust-ml: worker <id>
sent N requests (M failures)``, so a distributed run's merged count can be
checked against the sum over its workers.

Everything here translates callbacks; decisions live in the pure layer.
"""

from __future__ import annotations

import logging
import shlex
import sys
import weakref
from typing import Any

import gevent
import gevent.lock
import locust
from locust.env import Environment
from locust.runners import (
    STATE_MISSING,
    STATE_RUNNING,
    STATE_SPAWNING,
    MasterRunner,
    Runner,
    WorkerRunner,
)

from locust_ml.analysis.steps import StepSpan
from locust_ml.arrivals import parse_arrival
from locust_ml.errors import EXIT_CONFIG, EXIT_TARGET, ConfigError, DependencyError, TargetError
from locust_ml.plugin import preflight, signals, webui
from locust_ml.plugin.openloop import RATE_MESSAGE, ArrivalDriver, RatePlan
from locust_ml.plugin.options import MLOptions, add_options, read_options
from locust_ml.plugin.recorder import STEP_MESSAGE, WIRE_KEY, RunRecorder
from locust_ml.plugin.shapes import MLShape
from locust_ml.plugin.step_hook import StepHook
from locust_ml.plugin.telemetry import Exporter, TelemetryLoop, build_sources
from locust_ml.preflight import preflight as check_inputs
from locust_ml.report.model import ErrorCount
from locust_ml.schedules import StagesPlan
from locust_ml.server.embedded import EmbeddedServer, check_server_args, split_server_args
from locust_ml.telemetry.prometheus_scrape import parse_scrape_spec
from locust_ml.telemetry.sampler import TelemetrySampler

__all__ = ["bind", "recorder_for"]

logger = logging.getLogger("locust_ml")

#: Open loop, distributed: a step's arrivals start this long after it is
#: announced, so every worker has the plan before its first intended send time.
RATE_LEAD_SECONDS = 0.2
#: How often the master/local runner checks for a load change (seconds).
STEP_POLL_SECONDS = 0.25
#: How often the master re-announces the current step: for late or reconnected
#: workers, and for the first announcement, which can race the spawn message
#: (a worker's test_start resets its step; samples tagged 0 fold into step 1).
STEP_REANNOUNCE_SECONDS = 1.0

_recorders: weakref.WeakKeyDictionary[Environment, RunRecorder] = weakref.WeakKeyDictionary()
_servers: weakref.WeakKeyDictionary[Environment, EmbeddedServer] = weakref.WeakKeyDictionary()
_trackers: weakref.WeakKeyDictionary[Environment, gevent.Greenlet] = weakref.WeakKeyDictionary()
_drivers: weakref.WeakKeyDictionary[Environment, ArrivalDriver] = weakref.WeakKeyDictionary()
_telemetry: weakref.WeakKeyDictionary[Environment, TelemetryLoop] = weakref.WeakKeyDictionary()
_exporters: weakref.WeakKeyDictionary[Environment, Exporter] = weakref.WeakKeyDictionary()
_printed: weakref.WeakSet[Environment] = weakref.WeakSet()


def recorder_for(environment: Environment) -> RunRecorder | None:
    """The recorder bound to ``environment``, if any."""
    return _recorders.get(environment)


def driver_for(environment: Environment) -> ArrivalDriver | None:
    """The open-loop arrival driver of ``environment`` (workers and local runs)."""
    return _drivers.get(environment)


def _role(runner: Runner | None) -> str:
    if isinstance(runner, WorkerRunner):
        return "worker"
    if isinstance(runner, MasterRunner):
        return "master"
    return "local"


def _fail(message: str, code: int) -> None:
    """One clear line and an exit code, instead of Locust's traceback wall."""
    logger.error("locust-ml: %s", message)
    sys.stderr.flush()
    raise SystemExit(code)


def _needs_embedded_server(environment: Environment) -> bool:
    from locust_ml.plugin.users import MLUser

    if environment.host:
        return False
    return any(
        issubclass(cls, MLUser) and not getattr(cls, "host", None)
        for cls in environment.user_classes
    )


class _Listeners:
    """The per-environment listeners, bound to one recorder."""

    def __init__(self, environment: Environment, rec: RunRecorder) -> None:
        self.environment = environment
        self.rec = rec

    def attach(self) -> None:
        events = self.environment.events
        events.request.add_listener(self.on_request)
        events.report_to_master.add_listener(self.on_report_to_master)
        events.worker_report.add_listener(self.on_worker_report)
        events.worker_connect.add_listener(self.on_worker_connect)
        events.test_start.add_listener(self.on_test_start)
        events.test_stop.add_listener(self.on_test_stop)
        runner = self.environment.runner
        if self.rec.role == "worker" and runner is not None:
            runner.register_message(STEP_MESSAGE, self.on_step_message)
            runner.register_message(RATE_MESSAGE, self.on_rate_message)
            events.quitting.add_listener(self.on_worker_quitting)

    def send_step(self, span: StepSpan, client_id: str | None = None) -> None:
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            message = {
                "id": span.id,
                "start": span.start,
                "measure_from": span.measure_from if span.warmup_s > 0 else None,
                "window": self.rec.window_s,
            }
            runner.send_message(STEP_MESSAGE, message, client_id=client_id)

    def on_step_message(self, msg: Any, **_: Any) -> None:
        data = getattr(msg, "data", None)
        if not isinstance(data, dict):
            return

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, int | float) else None

        step = data.get("id")
        if isinstance(step, int):
            self.rec.set_step(step, num("start"), num("measure_from"), num("window"))

    def on_rate_message(self, msg: Any, **_: Any) -> None:
        driver = _drivers.get(self.environment)
        try:
            plan = RatePlan.from_message(getattr(msg, "data", None))
            if driver is not None:
                driver.configure(plan)
        except (ValueError, ConfigError) as exc:
            logger.error("locust-ml: ignored an open-loop plan: %s", exc)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        self.rec.record_event(
            request_type,
            name,
            response_time,
            response_length,
            response=response,
            exception=exception,
            context=context,
            start_time=start_time,
        )

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[WIRE_KEY] = self.rec.drain_wire()

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        # Every report counts as a sign of life, samples or not (see watch_workers).
        self.rec.merge_wire(data.get(WIRE_KEY) or [], worker=client_id)

    def on_worker_quitting(self, environment: Environment, **_: Any) -> None:
        """A worker quits: stop its users, ship what it hasn't reported, log its count.

        Locust's worker sends a last report when the master tells it to quit,
        but not when it is stopped itself (SIGTERM, Ctrl-C on the worker):
        without this, what it recorded since its last report (up to 3 s of
        requests) would never reach the report.
        """
        rec = self.rec
        if rec.summary_logged:  # quitting can fire twice
            return
        rec.summary_logged = True
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            if runner.state in (STATE_SPAWNING, STATE_RUNNING):
                runner.stop()
            if rec.recorded > rec.shipped:
                try:
                    runner._send_stats()  # what Locust does on the master's "quit"
                except Exception as exc:  # the master may be gone; the line below says so
                    logger.warning("locust-ml: could not send the last report: %s", exc)
        worker = getattr(runner, "client_id", "?")
        logger.info("locust-ml: %s", rec.worker_summary(str(worker)))

    def on_worker_connect(self, client_id: str, **_: Any) -> None:
        cur = self.rec.steps.current
        if cur is not None:
            self.send_step(cur, client_id=client_id)

    def on_test_start(self, environment: Environment, **_: Any) -> None:
        rec = self.rec
        try:
            rec.start(environment.parsed_options)
            if rec.role != "worker":
                rec.step_hook = _step_hook(rec)
        except ConfigError as exc:
            logger.error("locust-ml: %s", exc)
            if environment.runner is not None:
                environment.runner.quit()
            return
        if rec.role != "worker":
            shape = environment.shape_class
            if isinstance(shape, MLShape):
                rec.window_s = shape.window_s()
                _log_plan(environment, rec)
                if rec.ignored_flags:
                    logger.warning(
                        "locust-ml: %s ignored: the %s shape sets the load itself",
                        " and ".join(rec.ignored_flags),
                        shape.kind_now,
                    )
            old = _trackers.pop(environment, None)
            if old is not None:
                old.kill(block=False)
            _trackers[environment] = gevent.spawn(_track_steps, environment, rec)
            loop = _telemetry.get(environment)
            if loop is not None:
                loop.start()

    def on_test_stop(self, environment: Environment, **_: Any) -> None:
        tracker = _trackers.pop(environment, None)
        if tracker is not None:
            tracker.kill(block=False)
        driver = _drivers.get(environment)
        if driver is not None:
            driver.stop()
        rec = self.rec
        if rec.role == "worker":
            return
        loop = _telemetry.get(environment)
        if loop is not None:
            loop.stop()  # a last reading while the step is still open
        rec.close_steps(partial=_cut_short(environment))
        if not getattr(environment.parsed_options, "headless", True):
            # Web UI runs can repeat: write this run's report once the last
            # worker reports (every 3 s) are in, without waiting for quit.
            delay = 4.0 if rec.role == "master" else 0.0
            gevent.spawn_later(delay, _finish, environment, rec)


def _cut_short(environment: Environment) -> bool:
    """Whether the test stopped before its shape's plan ended (stop, -t, a signal)."""
    shape = environment.shape_class
    if isinstance(shape, MLShape):
        return shape.cut_short or shape.current_tick is not None
    return False


def _note_ignored_options(environment: Environment, rec: RunRecorder) -> None:
    """At init (before Locust fills in headless defaults): were -u/-r given?"""
    opts = environment.parsed_options
    rec.ignored_flags = tuple(
        flag
        for flag, name in (("-u/--users", "num_users"), ("-r/--spawn-rate", "spawn_rate"))
        if getattr(opts, name, None) is not None
    )


def _log_plan(environment: Environment, rec: RunRecorder) -> None:
    """One line with the shape's plan and its total length, as the test starts."""
    shape = environment.shape_class
    if not isinstance(shape, MLShape):
        return
    run_time = getattr(environment.parsed_options, "run_time", None)
    try:
        line = shape.describe(rec.options, float(run_time) if run_time else None)
    except ConfigError:
        return  # the shape reports its own error when it ticks
    logger.info("locust-ml: %s", line)


def _step_hook(rec: RunRecorder) -> StepHook | None:
    return StepHook(rec.options.step_hook, spawn=gevent.spawn) if rec.options.step_hook else None


def bind(environment: Environment) -> RunRecorder:
    """Create the recorder for ``environment`` and attach its listeners.

    Called from ``init``; tests that build an ``Environment`` with their own
    ``Events`` call it directly. Idempotent per environment.
    """
    existing = _recorders.get(environment)
    if existing is not None:
        return existing
    options = read_options(environment.parsed_options)
    locustfile = str(getattr(environment.parsed_options, "locustfile", None) or "locustfile")
    rec = RunRecorder(_role(environment.runner), locustfile=locustfile, options=options)
    listeners = _Listeners(environment, rec)
    rec.send_step = listeners.send_step
    listeners.attach()
    _recorders[environment] = rec
    if rec.role != "master":
        from locust_ml.traces.timeline import load_timestamps

        _drivers[environment] = ArrivalDriver(
            record_event=lambda event, _step: rec.samples.count_event(rec.current_step, event),
            load_timestamps=load_timestamps,
        )
    return rec


def _track_steps(environment: Environment, rec: RunRecorder) -> None:
    """Open a step whenever the load changes; announce it (and open-loop rates)."""
    since_announce = 0.0
    shape = environment.shape_class if isinstance(environment.shape_class, MLShape) else None
    if shape is not None:
        shape.observe = lambda tick: rec.measurement(tick, lag_s=_report_lag(environment))
    workers: tuple[str, ...] = ()
    while True:
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            rec.workers = max(rec.workers, runner.worker_count)
            if runner.state in (STATE_SPAWNING, STATE_RUNNING):
                _watch_workers(environment, rec, runner, open_loop=shape is not None)
        if runner is not None:
            tick = shape.current_tick if shape is not None else None
            if shape is not None and tick is None:
                span = None  # the schedule is over (or not started): no new step
            elif tick is not None:
                span = rec.observe(
                    tick.users if tick.mode == "closed" else int(runner.target_user_count),
                    tick.offered_rps if tick.mode == "open" else None,
                    mode=tick.mode,
                    label=tick.label,
                    key=tick.step,
                    warmup_s=tick.warmup_s,
                )
            else:
                span = rec.observe(int(runner.target_user_count))
            now_workers = _worker_ids(runner)
            cur = rec.steps.current
            announce = span is not None or now_workers != workers
            if (
                cur is not None
                and tick is not None
                and tick.driven
                and shape is not None
                and announce
            ):
                _announce_rate(environment, rec, shape, cur, now_workers, tick.concurrency)
            workers = now_workers
            if span is not None:
                since_announce = 0.0
            elif rec.role == "master" and since_announce >= STEP_REANNOUNCE_SECONDS:
                if cur is not None and rec.send_step is not None:
                    rec.send_step(cur)
                since_announce = 0.0
        gevent.sleep(STEP_POLL_SECONDS)
        since_announce += STEP_POLL_SECONDS


def _watch_workers(
    environment: Environment, rec: RunRecorder, runner: MasterRunner, *, open_loop: bool
) -> None:
    """Note workers that went missing (no heartbeats) or left while the load runs.

    Only while spawning or running: when the test stops, workers report
    ``client_stopped`` and are briefly gone from the master's list, which is
    no gap. Their open-loop share is re-split by ``_track_steps``, which
    leaves missing workers out of the rate plan.
    """
    cur = rec.steps.current
    rec.watch_workers(
        {c.id: c.state == STATE_MISSING for c in list(runner.clients.values())},
        open_loop=open_loop and cur is not None and cur.mode == "open",
        rebalancing=bool(getattr(environment.parsed_options, "enable_rebalancing", False)),
    )


def _collect_search(environment: Environment, rec: RunRecorder) -> None:
    """A capacity search's outcome into the report (stopping it if still running)."""
    shape = environment.shape_class
    if isinstance(shape, MLShape) and not rec.finished:
        rec.search = shape.search_result()
        if rec.search is not None:
            logger.info("locust-ml: capacity search: %s", rec.search.summary())


def _report_lag(environment: Environment) -> float:
    """How far behind the master's view of worker samples can be (seconds)."""
    import locust.runners

    if isinstance(environment.runner, MasterRunner):
        return float(locust.runners.WORKER_REPORT_INTERVAL) + 0.5
    return 0.0


def _worker_ids(runner: Runner) -> tuple[str, ...]:
    if not isinstance(runner, MasterRunner):
        return ()
    return tuple(sorted(c.id for c in runner.clients.values() if c.state not in (STATE_MISSING,)))


def _announce_rate(
    environment: Environment,
    rec: RunRecorder,
    shape: MLShape,
    span: StepSpan,
    workers: tuple[str, ...],
    concurrency: int | None = None,
) -> None:
    """Tell every worker (or the local driver) its share of the step's arrivals.

    ``concurrency`` asks for a closed loop run by the senders instead (the
    capacity search's probe): that many requests in flight, split over them.
    """
    opts = rec.options.shape
    runner = environment.runner
    lead = RATE_LEAD_SECONDS if isinstance(runner, MasterRunner) else 0.0
    start = max(span.start, rec.clock()) + lead

    def plan(index: int, count: int) -> RatePlan:
        return RatePlan(
            step=span.id,
            rate=span.offered_rps,
            start=start,
            arrival=str(shape.arrival_spec()),
            seed=rec.options.seed,
            worker_index=index,
            worker_count=count,
            max_inflight=opts.max_inflight,
            max_lateness_s=opts.max_lateness_s,
            concurrency=concurrency,
        )

    if isinstance(runner, MasterRunner):
        for index, client_id in enumerate(workers):
            runner.send_message(
                RATE_MESSAGE, plan(index, len(workers)).to_message(), client_id=client_id
            )
        if workers:
            logger.info(
                "locust-ml: step %s: %s over %d workers",
                span.id,
                f"{concurrency} in flight" if concurrency else f"{span.offered_rps:g} req/s",
                len(workers),
            )
        return
    driver = _drivers.get(environment)
    if driver is not None:
        driver.configure(plan(0, 1))


def _finish(environment: Environment, rec: RunRecorder, interrupted: str | None = None) -> None:
    """Build and write the report once (after a web UI test stops, or at quitting)."""
    if rec.finished:
        return
    _collect_search(environment, rec)
    if isinstance(environment.runner, MasterRunner):
        rec.workers = max(rec.workers, environment.runner.worker_count)
    shape = environment.shape_class
    kind = (rec.options.shape.kind or shape.kind) if isinstance(shape, MLShape) else None
    fail_code = getattr(environment.parsed_options, "exit_code_on_error", None)
    rec.finish(
        target=environment.host,
        shape=kind,
        interrupted=interrupted,
        errors=_errors(environment),
        partial=_cut_short(environment),
        fail_code=fail_code if isinstance(fail_code, int) else None,
    )
    if rec.report_path is not None:
        logger.info("locust-ml: report written to %s", rec.report_path)


@locust.events.init_command_line_parser.add_listener
def _on_init_command_line_parser(parser: Any, **_: Any) -> None:
    add_options(parser)


def _preload_analysis() -> None:
    """Import what the analysis imports lazily, before any load runs.

    ``scipy.stats`` (the stability rule's trend test, soak trends) and
    ``kneed`` (the live capacity tab) take a second or more to import here;
    imported mid-run, that second blocks the event loop and every open-loop
    send due in it goes out late (measured: p99 lateness 1.1 s in the step
    where the search first judged a trend).
    """
    import kneed  # noqa: F401
    import scipy.stats  # noqa: F401


def _check_before_load(environment: Environment) -> None:
    """What the run needs later, checked now (:mod:`locust_ml.preflight`): exit 2, nothing sent.

    A stages file that fixes the loop mode by itself sets ``--ml-arrival`` for
    the run, which workers receive with the spawn message.
    """
    options = read_options(environment.parsed_options)
    shape = environment.shape_class if isinstance(environment.shape_class, MLShape) else None
    worker = isinstance(environment.runner, WorkerRunner)
    plan = shape.build_plan(options) if shape is not None and not worker else None
    checked = check_inputs(
        arrival=options.shape.arrival,
        default_arrival=parse_arrival(shape.arrival if shape else "closed", option="arrival"),
        plan_mode=plan.mode if isinstance(plan, StagesPlan) else None,
        stages_source=str(options.shape.stages or (shape.stages_file if shape else "") or ""),
        report_dir=None if worker else (options.report_dir or "reports"),
    )
    if not worker and _needs_embedded_server(environment):
        # As the user typed them (the model name is added later), before anything starts.
        check_server_args(
            _embedded_backend(environment, options), split_server_args(options.server_args)
        )
    if checked.arrival is not None and environment.parsed_options is not None:
        environment.parsed_options.ml_arrival = str(checked.arrival)
    for note in checked.notes:
        logger.info("locust-ml: %s", note)


@locust.events.init.add_listener
def _on_init(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    try:
        _check_before_load(environment)
        rec = bind(environment)
        if rec.role != "worker":
            _step_hook(rec)  # validate the command now: a bad one is exit 2, not a warning
            for spec in rec.options.scrape:
                parse_scrape_spec(spec)  # before anything starts
            shape = environment.shape_class
            if isinstance(shape, MLShape):
                # Build the plan once now, so an impossible shape (a negative
                # rate, a broken stages file) stops the run before it starts.
                shape.build_plan(rec.options)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
        return
    if rec.role == "worker":
        return
    _note_ignored_options(environment, rec)
    signals.watch(environment)
    _preload_analysis()
    webui.install(environment, rec)
    server = (
        _start_embedded_server(environment, rec) if _needs_embedded_server(environment) else None
    )
    rec.target = environment.host
    try:
        if _starts_at_once(environment):
            # The web UI's START asks the same when pressed (webui.install).
            preflight.run_preflight(environment.user_classes, rec.options, environment.host)
        _start_telemetry(environment, rec, server)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)


def _starts_at_once(environment: Environment) -> bool:
    """Headless or ``--autostart``: the load starts without the web form's START."""
    opts = environment.parsed_options
    if opts is None:
        return True
    return bool(getattr(opts, "headless", False) or getattr(opts, "autostart", False))


def _embedded_backend(environment: Environment, options: MLOptions) -> str:
    """``--ml-server-backend`` if given, else the first ML user class's ``server_backend``.

    So ``image_classifier.py`` starts the image backend without an option,
    while the option still picks another (``simulated`` for a summarizer run).
    """
    from locust_ml.plugin.users import MLUser

    if getattr(environment.parsed_options, "ml_server_backend", None):
        return options.server_backend
    for cls in environment.user_classes:
        backend = getattr(cls, "server_backend", None) if issubclass(cls, MLUser) else None
        if backend:
            return str(backend)
    return options.server_backend


def _embedded_models(environment: Environment, rec: RunRecorder) -> list[str]:
    """The model names the ML users will send, in user-class order, without repeats."""
    from locust_ml.plugin.text_users import TextUser
    from locust_ml.plugin.users import MLUser

    names: list[str] = []
    for cls in environment.user_classes:
        if not issubclass(cls, MLUser):
            continue
        if issubclass(cls, TextUser):
            try:
                name = cls.settings_for(rec.options).model
            except ConfigError:
                continue  # the user says so itself when it starts
        else:
            name = rec.options.users.model or str(getattr(cls, "model", "") or "")
        if name and name not in names:
            names.append(name)
    return names


def _embedded_server_args(environment: Environment, rec: RunRecorder) -> str:
    """``--ml-server-args``, plus ``--model-name`` for the users' model unless it names one.

    So a locustfile's ``model = "my-model"`` works against the embedded
    server as written; the server serves one name, the first user class's.
    """
    args = rec.options.server_args
    if "--model-name" in args:
        return args
    models = _embedded_models(environment, rec)
    if not models:
        return args
    if len(models) > 1:
        logger.warning(
            "locust-ml: the embedded server serves one model, %r; users asking for %s will fail "
            "(give --host for a server that serves them all)",
            models[0],
            ", ".join(repr(m) for m in models[1:]),
        )
    return f"{args} --model-name {shlex.quote(models[0])}".strip()


def _start_embedded_server(environment: Environment, rec: RunRecorder) -> EmbeddedServer | None:
    try:
        server = EmbeddedServer(
            _embedded_backend(environment, rec.options), _embedded_server_args(environment, rec)
        )
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
        return None
    extra = server.extra_args
    at = extra.index("--model-name") + 1 if "--model-name" in extra else len(extra)
    model = repr(extra[at]) if at < len(extra) else "the backend's own"
    logger.info(
        "locust-ml: no --host given; starting the reference server (backend=%s, model %s)",
        server.backend,
        model,
    )
    try:
        url = server.start(timeout=rec.options.server_timeout)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
        return None
    except (TargetError, DependencyError) as exc:
        _fail(str(exc), EXIT_TARGET)
        return None
    _servers[environment] = server
    rec.server_ready_s = server.ready_seconds
    environment.host = url
    logger.info(
        "locust-ml: reference server ready at %s in %.2f s (pid %s)",
        url,
        server.ready_seconds or 0.0,
        server.pid,
    )
    return server


def _start_telemetry(
    environment: Environment, rec: RunRecorder, server: EmbeddedServer | None
) -> None:
    """Telemetry sources and the exporter, on the master or the local process."""
    opts = rec.options
    sources = build_sources(
        nvml=opts.nvml,
        scrape=opts.scrape,
        server_pid=server.pid if server is not None else None,
        server_url=server.url if server is not None else None,
    )
    loop = None
    if sources and opts.telemetry_interval > 0:
        warn = logger.warning if opts.nvml == "on" or opts.scrape else logger.info
        sampler = TelemetrySampler(sources, warn=lambda msg: warn("locust-ml: %s", msg))
        loop = TelemetryLoop(sampler, rec, opts.telemetry_interval)
        _telemetry[environment] = loop
    if opts.exporter_port is not None:
        exporter = Exporter(
            rec, environment, host=opts.exporter_host, port=opts.exporter_port, telemetry=loop
        )
        _exporters[environment] = exporter
        logger.info(
            "locust-ml: Prometheus exporter at http://%s:%s/metrics", exporter.host, exporter.port
        )


@locust.events.usage_monitor.add_listener
def _on_usage_monitor(environment: Environment, cpu_usage: float, **_: Any) -> None:
    """Every ~10 s: the busiest load-generating process's CPU, for the validity verdict."""
    rec = _recorders.get(environment)
    if rec is None or rec.role == "worker":
        return
    busiest = float(cpu_usage)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        busiest = max([busiest, *(float(c.cpu_usage) for c in runner.clients.values())])
    rec.add_generator_cpu(busiest, rec.clock())


def _errors(environment: Environment) -> list[ErrorCount]:
    """Locust's error table (merged from the workers on a master)."""
    stats = getattr(environment, "stats", None)
    if stats is None:
        return []
    return [
        ErrorCount(str(e.method), str(e.name), str(e.error), int(e.occurrences))
        for e in stats.errors.values()
    ]


#: One ``quitting`` at a time: Locust's SIGTERM handler can run its shutdown while the
#: main greenlet runs its own; the second waits for the first's report.
_quitting_lock = gevent.lock.Semaphore()


@locust.events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    with _quitting_lock:
        _quit_and_report(environment)


def _quit_and_report(environment: Environment) -> None:
    rec = _recorders.get(environment)
    if rec is not None and rec.role != "worker":
        runner = environment.runner
        interrupted = signals.interruption(environment)
        if interrupted:
            interrupted = f"{interrupted} while load was running"
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            # SIGTERM or Ctrl-C: Locust fires quitting before it stops the
            # users. Stop them first (a master also collects the workers'
            # final reports) so the report counts what Locust counts.
            interrupted = interrupted or "stopped by a signal while load was running"
            runner.quit()
        _finish(environment, rec, interrupted)
        report = rec.report
        if report is not None:
            # One rule (analysis/verdict.py): the verdict's code is the
            # process's, Locust's --exit-code-on-error being the code of a
            # failed run, so the code printed is the code CI sees.
            environment.process_exit_code = report.verdict.exit_code
            if rec.report_path is not None:
                signals.report_written(environment, report.verdict.exit_code)


@locust.events.quit.add_listener
def _on_quit(**_: Any) -> None:
    for environment, rec in list(_recorders.items()):
        if rec.role != "worker" and rec.finished and environment not in _printed:
            _printed.add(environment)  # quit fires again if two shutdowns overlap
            print(rec.summary_text(), flush=True)
        loop = _telemetry.pop(environment, None)
        if loop is not None:
            loop.close()
        exporter = _exporters.pop(environment, None)
        if exporter is not None:
            exporter.stop()
        server = _servers.pop(environment, None)
        if server is not None:
            server.stop()
