"""The control side of a run: steps, telemetry, the web UI, the embedded server, the report.

:class:`MasterRun` (a distributed master) and :class:`LocalRun` (a plain
``locust`` process, which also records: it is a
:class:`~locust_ml.plugin.run.LoadSide` too) share :class:`ControlSide`:

* at Locust's ``init`` (:meth:`ControlSide.prepare`): everything the run
  will need is checked before any load (:mod:`locust_ml.preflight`: exit 2,
  nothing sent), then the embedded reference server is started when there is
  no ``--host``, the target's models are asked for, and telemetry, the
  exporter, the web UI tabs and the signal handlers are installed;
* while a test runs: a greenlet (:meth:`ControlSide.follow`) opens a step
  whenever the load changes, announces it to the load side, and tells the
  open-loop senders their share of each step's arrivals; the shape's
  capacity search asks :meth:`ControlSide.measurement` for the running step;
* when it ends: the report is built (pure) and written once
  (:meth:`ControlSide.finish`), the process's exit code is the verdict's, and
  the step table and summary are printed after Locust's own tables
  (:meth:`ControlSide.close`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import gevent
import locust.runners
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, MasterRunner

from locust_ml.analysis.samples import Accumulator, StepSamples, window_index
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.steps import StepSpan
from locust_ml.analysis.utilization import Reading, UtilizationLog
from locust_ml.analysis.workers import Takeover, WorkerGap, WorkerRoster
from locust_ml.errors import ConfigError
from locust_ml.options import ignored_options
from locust_ml.plugin import embedded, preflight, signals, webui
from locust_ml.plugin.messages import RATE_MESSAGE, STEP_MESSAGE, StepAnnouncement
from locust_ml.plugin.openloop import RatePlan
from locust_ml.plugin.run import LoadSide, MLRun
from locust_ml.plugin.step_hook import StepHook
from locust_ml.plugin.telemetry import Exporter, TelemetryLoop, start_telemetry
from locust_ml.plugin.tracker import StepTracker
from locust_ml.report.console import format_capacity_summary, format_step_table
from locust_ml.report.model import ErrorCount, ReportSettings, RunInfo, RunReport, build_report
from locust_ml.report.options import report_settings
from locust_ml.report.outputs import write_report_files
from locust_ml.schedules import Tick
from locust_ml.server.embedded import EmbeddedServer
from locust_ml.telemetry.model import TelemetrySample, metric_spec
from locust_ml.telemetry.prometheus_scrape import parse_scrape_spec
from locust_ml.version import __version__

__all__ = ["ControlSide", "LocalRun", "MasterRun"]

logger = logging.getLogger("locust_ml")

#: How often the step follower checks for a load change (seconds).
STEP_POLL_SECONDS = 0.25
#: How often the master re-announces the current step: for late or reconnected
#: workers, and for the first announcement, which can race the spawn message
#: (a worker's test_start resets its step; samples tagged 0 fold into step 1).
STEP_REANNOUNCE_SECONDS = 1.0
#: Open loop, distributed: a step's arrivals start this long after it is
#: announced, so every worker has the plan before its first intended send time.
RATE_LEAD_SECONDS = 0.2


def _preload_soak_analysis() -> None:
    """A soak's verdict fits least squares with ``scipy.stats`` (for its p-value).

    The live capacity tab judges the soak as soon as the hold ends, while the
    ramp-down's users still run; imported then, scipy's second or more would
    block the event loop and every open-loop send due in it would go out
    late. A soak lasts minutes to hours: it pays the import before its load.
    Other runs never import scipy (the analysis they use is our own).
    """
    import scipy.stats  # noqa: F401


class ControlSide(MLRun):
    """Steps, telemetry, the web UI, the embedded server and the report (master, local)."""

    controls = True
    #: Every control side in this process: Locust's ``quit`` names no environment.
    instances: ClassVar[weakref.WeakSet[ControlSide]] = weakref.WeakSet()

    def __init__(self, environment: Any, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(environment, clock=clock)
        #: Locust options given that a locust-ml shape ignores (said once at the start).
        self.ignored_flags: tuple[str, ...] = ()
        self.server: EmbeddedServer | None = None
        self.telemetry: TelemetryLoop | None = None
        self.exporter: Exporter | None = None
        self.shutdown = signals.Shutdown()
        self._follower: gevent.Greenlet | None = None
        self._printed = False
        self._reset()
        ControlSide.instances.add(self)

    def _reset(self) -> None:
        #: The shape kind the run is judged as (ramp, soak...; None without a locust-ml shape).
        self.kind: str | None = None
        if self.shape is not None:
            with contextlib.suppress(ConfigError):  # the shape says so when it ticks
                self.kind = self.shape.spec(self.options).kind
        self.window_s = self._window_s()
        self.tracker = StepTracker(
            self.samples,
            window_s=self.window_s,
            slos=self.options.load.slos,
            announce=self.announce,
            step_hook=self._step_hook(),
            clock=self.clock,
            lagging=isinstance(self.environment.runner, MasterRunner),
        )
        self.settings = self._settings()
        self.utilization = UtilizationLog()
        self.roster = WorkerRoster()
        self.notes: list[str] = []
        self.search: SearchResult | None = None
        self.report: RunReport | None = None
        self.report_path: Path | None = None
        self.finished = False
        self.workers = 0
        #: CPU seconds spent on telemetry (see plugin/telemetry.py).
        self.telemetry_cpu_s = 0.0

    @property
    def steps(self) -> Any:
        """The step log (:class:`~locust_ml.analysis.steps.StepLog`) of the current test."""
        return self.tracker.steps

    def _window_s(self) -> float:
        from locust_ml.plugin.recorder import DEFAULT_WINDOW_S

        if self.shape is None:
            # No locust-ml shape: ``--ml-shape :window=2s`` still sets the windows.
            choice = self.options.load.shape
            window = choice.given.get("window") if choice is not None else None
            return float(window) if window else DEFAULT_WINDOW_S
        try:
            return self.shape.window_s()
        except ConfigError:
            return DEFAULT_WINDOW_S  # the shape reports its own error when it ticks

    def _settings(self) -> ReportSettings:
        warmup = 0.0
        if self.shape is not None:
            with contextlib.suppress(ConfigError):  # the shape says so when it ticks
                warmup = self.shape.spec(self.options).warmup or 0.0
        fail_code = getattr(self.environment.parsed_options, "exit_code_on_error", None)
        settings = report_settings(self.options.decisions, warmup_s=warmup)
        if isinstance(fail_code, int):
            settings = dataclasses.replace(settings, fail_code=fail_code)
        return settings

    def _step_hook(self) -> StepHook | None:
        command = self.options.load.step_hook
        return StepHook(command, spawn=gevent.spawn) if command else None

    # -- before any load -----------------------------------------------------
    def prepare(self) -> None:
        """At Locust's ``init``: check every input, start what the run needs.

        Raises ConfigError (one line, exit 2, nothing sent) for a bad input.
        """
        super().prepare()
        if embedded.needed(self.environment):
            # As the user typed them (the model name is added later), before anything starts.
            embedded.check_args(self.environment, self.options)
        self._step_hook()  # a bad command is exit 2 now, not a warning per step
        for spec in self.options.telemetry.scrape:
            parse_scrape_spec(spec)
        if self.shape is not None:
            # Build the plan once now, so an impossible shape (a negative
            # rate, a broken stages file) stops the run before it starts.
            self.shape.build_plan(self.options)
        opts = self.environment.parsed_options
        self.ignored_flags = tuple(
            flag
            for flag, name in (("-u/--users", "num_users"), ("-r/--spawn-rate", "spawn_rate"))
            if getattr(opts, name, None) is not None
        )
        signals.watch(self)
        if self.kind == "soak":
            _preload_soak_analysis()
        webui.install(self)
        if embedded.needed(self.environment):
            self.server = embedded.start(self.environment, self.options)
        if _starts_at_once(self.environment):
            # The web UI's START asks the same when pressed (webui.install).
            preflight.run_preflight(
                self.environment.user_classes, self.options, self.environment.host
            )
        self.telemetry, self.exporter = start_telemetry(self, self.server)

    # -- a test ----------------------------------------------------------------
    def start(self) -> None:
        super().start()
        self._reset()
        shape = self.shape
        if shape is not None:
            run_time = getattr(self.environment.parsed_options, "run_time", None)
            try:
                line = shape.describe(self.options, float(run_time) if run_time else None)
                logger.info("locust-ml: %s", line)
            except ConfigError:
                pass  # the shape reports its own error when it ticks
            if self.ignored_flags:
                logger.warning(
                    "locust-ml: %s ignored: the %s shape sets the load itself",
                    " and ".join(self.ignored_flags),
                    shape.kind_now,
                )
        # At each start: the web UI's class picker may have changed the classes.
        classes = self.environment.user_classes
        shape_class = type(shape) if shape is not None else None
        for line in ignored_options(self.options, classes, shape_class):
            logger.warning("locust-ml: %s", line)
        if self._follower is not None:
            self._follower.kill(block=False)
        self._follower = gevent.spawn(self.follow)
        if self.telemetry is not None:
            self.telemetry.start()

    def stop(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            follower.kill(block=False)
        super().stop()
        if self.telemetry is not None:
            self.telemetry.stop()  # a last reading while the step is still open
        self.tracker.close(partial=self.cut_short)
        if not getattr(self.environment.parsed_options, "headless", True):
            # Web UI runs can repeat: write this run's report once the last
            # worker reports (every 3 s) are in, without waiting for quit.
            gevent.spawn_later(self.report_delay, self.finish)

    @property
    def cut_short(self) -> bool:
        """Whether the test stopped before its shape's plan ended (stop, -t, a signal)."""
        shape = self.shape
        return shape is not None and (shape.cut_short or shape.current_tick is not None)

    #: Seconds after the load stops before a web UI run's report is written.
    report_delay: ClassVar[float] = 0.0
    #: Open loop: a step's arrivals start this long after it is announced.
    rate_lead: ClassVar[float] = 0.0

    def report_lag(self) -> float:
        """How far behind the samples can be (seconds): a master's lag the workers' reports."""
        return 0.0

    def announce(self, step: StepAnnouncement) -> None:
        """Tell the load side which step to record under."""
        raise NotImplementedError

    def announce_rate(self, make: Callable[[int, int], RatePlan], what: str) -> None:
        """Tell the open-loop senders their share: ``make(worker index, worker count)``."""
        raise NotImplementedError

    def follow(self) -> None:
        """Open a step whenever the load changes; announce it (and open-loop rates)."""
        since_announce = 0.0
        shape = self.shape
        peers: tuple[str, ...] = ()
        while True:
            runner = self.environment.runner
            self.watch(runner)
            if runner is not None:
                tick = shape.current_tick if shape is not None else None
                if shape is not None and tick is None:
                    span = None  # the schedule is over (or not started): no new step
                elif tick is not None:
                    span = self.tracker.observe(
                        tick.users if tick.mode == "closed" else int(runner.target_user_count),
                        tick.offered_rps if tick.mode == "open" else None,
                        mode=tick.mode,
                        label=tick.label,
                        key=tick.step,
                        warmup_s=tick.warmup_s,
                    )
                else:
                    span = self.tracker.observe(int(runner.target_user_count))
                now_peers = self.peers()
                cur = self.tracker.current
                if (
                    cur is not None
                    and tick is not None
                    and tick.driven
                    and (span is not None or now_peers != peers)
                ):
                    self._rates(cur, tick)
                peers = now_peers
                if span is not None:
                    since_announce = 0.0
                elif since_announce >= STEP_REANNOUNCE_SECONDS:
                    if cur is not None:
                        self.reannounce(cur)
                    since_announce = 0.0
            gevent.sleep(STEP_POLL_SECONDS)
            since_announce += STEP_POLL_SECONDS

    def peers(self) -> tuple[str, ...]:
        """The processes sending load (a master's live workers; none locally)."""
        return ()

    def watch(self, runner: Any) -> None:
        """Notice workers that went missing (a master only)."""

    def reannounce(self, span: StepSpan) -> None:
        """Announce the current step again (a master, for late workers)."""

    def _rates(self, span: StepSpan, tick: Tick) -> None:
        """Tell the senders their share of the step's arrivals (or of the probe's concurrency)."""
        shape = self.shape
        if shape is None:
            return
        opts = self.options
        start = max(span.start, self.clock()) + self.rate_lead
        arrival = str(shape.arrival_spec(opts))

        def make(index: int, count: int) -> RatePlan:
            return RatePlan(
                step=span.id,
                rate=span.offered_rps,
                start=start,
                arrival=arrival,
                seed=opts.seed,
                worker_index=index,
                worker_count=count,
                max_inflight=opts.load.open_loop.inflight,
                max_lateness_s=opts.load.open_loop.lateness,
                concurrency=tick.concurrency,
            )

        what = (
            f"{tick.concurrency} in flight" if tick.concurrency else f"{span.offered_rps:g} req/s"
        )
        self.announce_rate(make, f"step {span.id}: {what}")

    def measurement(self, tick: Tick) -> Any:
        """The running step's measurement so far (what the capacity search judges)."""
        return self.tracker.measurement(tick, lag_s=self.report_lag())

    # -- telemetry ------------------------------------------------------------
    def add_telemetry(self, samples: Sequence[TelemetrySample]) -> None:
        """Tag telemetry readings with the current step and window."""
        cur = self.tracker.current
        if cur is None:
            return  # between tests, or before the first step: no load to attribute to
        for s in samples:
            self.utilization.add(
                Reading(
                    step=cur.id,
                    window=window_index(s.timestamp, cur.start, self.window_s),
                    t=s.timestamp,
                    source=s.source,
                    metric=s.metric,
                    labels=s.labels,
                    value=s.value,
                    kind=metric_spec(s.metric).kind,
                )
            )

    def add_generator_cpu(self, percent: float) -> None:
        """The load generator's CPU (percent of a core, busiest process), now.

        Kept with the step's telemetry: a step where Locust itself was near a
        full core measured the generator, not the target (the verdict checks).
        """
        cur = self.tracker.current
        if cur is None:
            return
        t = self.clock()
        self.utilization.add(
            Reading(
                step=cur.id,
                window=window_index(t, cur.start, self.window_s),
                t=t,
                source="generator",
                metric="generator_cpu_percent",
                labels=(),
                value=float(percent),
            )
        )

    def live_totals(self) -> dict[tuple[str, str], Accumulator]:
        """Per-endpoint accumulators over the whole run so far (for the exporter)."""
        out: dict[tuple[str, str], Accumulator] = {}
        for per in self.samples.by_step(first_step=0).values():
            for key, acc in per.items():
                out.setdefault(key, Accumulator()).merge(acc)
        return out

    # -- the report -----------------------------------------------------------
    def report_dir(self) -> Path:
        if self.options.report.report_dir:
            return Path(self.options.report.report_dir)
        stem = Path(self.locustfile.split(",")[0]).stem or "locustfile"
        stamp = datetime.fromtimestamp(self.started_at or self.clock()).strftime("%Y%m%d-%H%M%S")
        return Path("reports") / f"{stem}-{stamp}"

    def first_request_ms(self) -> float | None:
        """The run's first request latency, when this process saw it."""
        return None

    def finish(self, interrupted: str | None = None) -> RunReport | None:
        """Build and write the report once per test (idempotent)."""
        if self.finished:
            return self.report
        self.finished = True
        shape = self.shape
        if shape is not None:
            self.search = shape.search_result()
            if self.search is not None:
                logger.info("locust-ml: capacity search: %s", self.search.summary())
        self.watch(self.environment.runner)
        if self.started_at is None and not self.samples.requests:
            return None
        now = self.clock()
        spans = self.tracker.steps.close(now, partial=self.cut_short or bool(interrupted))
        run = RunInfo(
            locustfile=self.locustfile,
            target=self.environment.host,
            started_at=self.started_at if self.started_at is not None else now,
            ended_at=now,
            mode="distributed" if self.role == "master" else "local",
            workers=self.workers,
            tool_version=__version__,
            telemetry_cpu_s=self.telemetry_cpu_s,
            shape=self.kind,
            server_ready_s=self.server.ready_seconds if self.server is not None else None,
            first_request_ms=self.first_request_ms(),
        )
        self.report = build_report(
            run,
            spans,
            self.samples,
            percentiles=self.options.report.percentiles,
            window_s=self.window_s,
            notes=[*self.notes, *self.roster.notes(self.started_at)],
            utilization=self.utilization,
            slos=self.options.load.slos,
            search=self.search,
            settings=dataclasses.replace(self.settings, interrupted=interrupted),
            errors=_errors(self.environment),
        )
        directory = self.report_dir()
        try:
            self.report_path = write_report_files(self.report, directory)["json"]
        except OSError as exc:
            logger.error("locust-ml: could not write the report to %s: %s", directory, exc)
            self.report_path = None
        if self.report_path is not None:
            logger.info("locust-ml: report written to %s", self.report_path)
        return self.report

    def quitting(self) -> None:
        """Locust quits: stop the load if it still runs, write the report, set the exit code."""
        runner = self.environment.runner
        interrupted = signals.interruption(self)
        if interrupted:
            interrupted = f"{interrupted} while load was running"
        if runner is not None and runner.state in (STATE_SPAWNING, STATE_RUNNING):
            # SIGTERM or Ctrl-C: Locust fires quitting before it stops the
            # users. Stop them first (a master also collects the workers'
            # final reports) so the report counts what Locust counts.
            interrupted = interrupted or "stopped by a signal while load was running"
            runner.quit()
        report = self.finish(interrupted)
        if report is not None:
            # One rule (analysis/verdict.py): the verdict's code is the
            # process's, Locust's --exit-code-on-error being the code of a
            # failed run, so the code printed is the code CI sees.
            self.environment.process_exit_code = report.verdict.exit_code
            if self.report_path is not None:
                signals.report_written(self, report.verdict.exit_code)

    def close(self) -> None:
        """Locust's ``quit``: the summary after Locust's tables, then stop what the run started."""
        if self.finished and not self._printed:
            self._printed = True  # quit fires again if two shutdowns overlap
            print(self.summary_text(), flush=True)
        telemetry, self.telemetry = self.telemetry, None
        if telemetry is not None:
            telemetry.close()
        exporter, self.exporter = self.exporter, None
        if exporter is not None:
            exporter.stop()
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def summary_text(self) -> str:
        if self.report is None:
            return "locust-ml: no requests were recorded; no report written"
        table = format_step_table(self.report) + "\n" + format_capacity_summary(self.report)
        where = (
            f"locust-ml report: {self.report_path.parent / 'report.html'}"
            if self.report_path
            else "locust-ml report: not written (see the error above)"
        )
        return f"{table}\n{where}"


class MasterRun(ControlSide):
    """A distributed master: announces steps to the workers and merges their samples."""

    role = "master"
    report_delay = 4.0
    rate_lead = RATE_LEAD_SECONDS

    def report_lag(self) -> float:
        return float(locust.runners.WORKER_REPORT_INTERVAL) + 0.5

    def announce(self, step: StepAnnouncement, client_id: str | None = None) -> None:
        runner = self.environment.runner
        if isinstance(runner, MasterRunner):
            runner.send_message(STEP_MESSAGE, step.to_message(), client_id=client_id)

    def reannounce(self, span: StepSpan) -> None:
        self.announce(self.tracker.announcement(span))

    def on_worker_connect(self, client_id: str) -> None:
        cur = self.tracker.current
        if cur is not None:
            self.announce(self.tracker.announcement(cur), client_id=client_id)

    def peers(self) -> tuple[str, ...]:
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            return ()
        return tuple(sorted(c.id for c in runner.clients.values() if c.state != STATE_MISSING))

    def announce_rate(self, make: Callable[[int, int], RatePlan], what: str) -> None:
        runner = self.environment.runner
        workers = self.peers()
        if not isinstance(runner, MasterRunner):
            return
        for index, client_id in enumerate(workers):
            runner.send_message(
                RATE_MESSAGE, make(index, len(workers)).to_message(), client_id=client_id
            )
        if workers:
            logger.info("locust-ml: %s over %d workers", what, len(workers))

    def watch(self, runner: Any) -> None:
        """Note workers that went missing (no heartbeats) or left while the load runs.

        Only while spawning or running: when the test stops, workers report
        ``client_stopped`` and are briefly gone from the master's list, which is
        no gap. Their open-loop share is re-split by :meth:`follow`, which
        leaves missing workers out of the rate plan.
        """
        if not isinstance(runner, MasterRunner):
            return
        self.workers = max(self.workers, runner.worker_count)
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            self.note_workers(
                {c.id: c.state == STATE_MISSING for c in list(runner.clients.values())}
            )

    def note_workers(self, workers: dict[str, bool]) -> list[WorkerGap]:
        """The workers now (id -> missing?): note (and log) any that stopped reporting."""
        cur = self.tracker.current
        open_loop = self.shape is not None and cur is not None and cur.mode == "open"
        rebalancing = bool(getattr(self.environment.parsed_options, "enable_rebalancing", False))
        load: Takeover = "rate" if open_loop else "users" if rebalancing else "none"
        gaps = self.roster.observe(
            self.clock(), workers, step=cur.id if cur is not None else None, load=load
        )
        for gap in gaps:
            logger.warning("locust-ml: %s", gap.note(self.started_at))
            if cur is not None and gap.back_at is None:
                # The step did not get its load (analysis/judge.py): count it there.
                self.samples.count_event(cur.id, "workers_lost")
        return gaps

    def merge_wire(self, rows: Any, worker: str | None = None) -> None:
        """Merge a worker's delta. Malformed data is noted, not fatal.

        With ``worker``, the delta's requests are added to that worker's tally
        (for the note if it stops reporting).
        """
        try:
            delta = StepSamples.from_wire(rows)
        except (ValueError, TypeError) as exc:
            note = f"ignored a malformed worker report: {exc}"
            if note not in self.notes:
                self.notes.append(note)
                logger.warning("locust-ml: %s", note)
            return
        self.samples.merge(delta)
        if worker is not None:
            failures = sum(
                acc.failures for per in delta.by_step(first_step=0).values() for acc in per.values()
            )
            cur = self.tracker.current
            self.roster.reported(
                worker,
                self.clock(),
                step=cur.id if cur is not None else None,
                requests=delta.requests,
                failures=failures,
            )


class LocalRun(ControlSide, LoadSide):
    """A plain ``locust`` process: it records its own requests and controls the test."""

    role = "local"

    def announce(self, step: StepAnnouncement) -> None:
        self.recorder.set_step(step)

    def announce_rate(self, make: Callable[[int, int], RatePlan], what: str) -> None:
        self.configure_driver(make(0, 1))

    def first_request_ms(self) -> float | None:
        return self.recorder.first_latency_ms


def _starts_at_once(environment: Any) -> bool:
    """Headless or ``--autostart``: the load starts without the web form's START."""
    opts = environment.parsed_options
    if opts is None:
        return True
    return bool(getattr(opts, "headless", False) or getattr(opts, "autostart", False))


def _errors(environment: Any) -> list[ErrorCount]:
    """Locust's error table (merged from the workers on a master)."""
    stats = getattr(environment, "stats", None)
    if stats is None:
        return []
    return [
        ErrorCount(str(e.method), str(e.name), str(e.error), int(e.occurrences))
        for e in stats.errors.values()
    ]
