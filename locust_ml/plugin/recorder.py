"""Per-process state of a locust-ml run: samples, steps, and the report.

One :class:`RunRecorder` per Locust ``Environment``. Its role follows the
runner:

* **local** (a plain ``locust`` run): records samples, tracks steps, writes
  the report;
* **worker**: records samples under the step the master last announced, and
  ships them as deltas in ``report_to_master``; counts what it recorded and
  shipped, for the one line it logs at the end (:meth:`RunRecorder.worker_summary`);
* **master**: tracks steps (announcing each to the workers), merges worker
  deltas, keeps a per-worker tally and notes a worker that stops reporting
  (:mod:`locust_ml.analysis.workers`), writes the report.

The decisions (what a step is, how samples merge, what the report says) live
in the pure layer; this class only routes Locust's callbacks to it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.analysis.judge import StepMeasurement
from locust_ml.analysis.samples import Accumulator, RequestSample, StepSamples, window_index
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.slo import SLO, SLOStats, required_percentiles
from locust_ml.analysis.stability import StabilityRule
from locust_ml.analysis.status import classify
from locust_ml.analysis.steps import StepLog, StepSpan, WindowStats, summarize_steps
from locust_ml.analysis.utilization import Reading, UtilizationLog
from locust_ml.analysis.workers import Takeover, WorkerGap, WorkerRoster
from locust_ml.plugin.options import MLOptions, read_options
from locust_ml.plugin.step_hook import StepHook
from locust_ml.report.console import format_capacity_summary, format_ms, format_step_table
from locust_ml.report.model import ErrorCount, RunInfo, RunReport, build_report
from locust_ml.report.outputs import write_report_files
from locust_ml.schedules import Tick
from locust_ml.telemetry.model import TelemetrySample, metric_spec

__all__ = ["CONTEXT_KEY", "STEP_MESSAGE", "WIRE_KEY", "RunRecorder", "sample_from_event"]

logger = logging.getLogger("locust_ml")

#: Master -> worker message announcing the current step:
#: ``{"id": int, "start": float}`` (the step's start, master's epoch clock).
STEP_MESSAGE = "locust_ml:step"
#: Measurement window length without --ml-window or a locust-ml shape (seconds).
DEFAULT_WINDOW_S = 5.0
#: Key of our data inside Locust's worker report dict.
WIRE_KEY = "locust_ml"
#: Key of the ML fields a user puts in the ``context`` of a request (see
#: :func:`sample_from_event`).
CONTEXT_KEY = "locust_ml"


def _pcts(hist: LatencyHistogram, qs: Sequence[float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else v) for k, v in hist.percentiles_ms(qs).items()}


def _good_rules(slos: Sequence[SLO]) -> tuple[tuple[str, float, bool], ...]:
    """Per-request thresholds of the SLOs: (field, ms, inclusive) for latency and TTFT.

    A request is *good* (counts in goodput) when it succeeded and each of its
    latencies is within every such threshold; percentile and error-rate SLOs
    judge steps, not requests.
    """
    return tuple(
        (slo.metric, slo.threshold, slo.inclusive)
        for slo in slos
        if slo.metric in ("latency", "ttft")
    )


def _is_good(sample: RequestSample, rules: Sequence[tuple[str, float, bool]]) -> bool:
    if sample.status != "ok":
        return False
    for metric, limit, inclusive in rules:
        if metric == "latency":
            value: float | None = (
                sample.corrected_ms if sample.corrected_ms is not None else sample.latency_ms
            )
        else:
            value = sample.ttft_ms
        if value is None or value > limit or (value == limit and not inclusive):
            return False
    return True


def _num(x: Any) -> float | None:
    # Absent fields are the common case (no TTFT outside streams, no tokens for
    # images): answered without raising, which costs ~1 us a field per request.
    if x is None:
        return None
    if type(x) is int:
        return float(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _int(x: Any) -> int | None:
    if type(x) is int or x is None:
        return x
    v = _num(x)
    return None if v is None else int(v)


def sample_from_event(
    request_type: str,
    name: str,
    response_time: float | None,
    response_length: int | None,
    *,
    response: Any = None,
    exception: BaseException | None = None,
    context: Any = None,
    start_time: float | None = None,
) -> tuple[RequestSample, float | None]:
    """A :class:`RequestSample` (and its end time) from Locust's ``request`` event.

    ML fields come from ``context["locust_ml"]``, a dict a user passes with
    the request (Locust forwards ``context`` to the event untouched):
    ``intended`` (epoch seconds the open-loop schedule meant the request to
    start), ``ttft_ms``, ``itl_ms`` (a list), ``tokens_in``, ``tokens_out``,
    ``bytes_sent``. Anything missing or malformed is simply absent.
    """
    # This runs for every request a worker sends: the plain case (no ML
    # fields, numbers already numbers) takes the short path.
    rt = response_time if type(response_time) is float else _num(response_time)
    rt = 0.0 if rt is None or math.isnan(rt) or rt < 0 else rt
    start = start_time if type(start_time) is float else _num(start_time)
    end = None if start is None else start + rt / 1000.0
    status_code = getattr(response, "status_code", None)
    status = classify(status_code if isinstance(status_code, int) else None, exception)
    received = response_length if type(response_length) is int else (_int(response_length) or 0)
    ml = context.get(CONTEXT_KEY) if isinstance(context, dict) else None
    if not isinstance(ml, dict) or not ml:
        return RequestSample((request_type, name), rt, status, bytes_received=received), end
    intended = _num(ml.get("intended"))
    corrected = lateness = None
    if intended is not None and start is not None and end is not None:
        corrected = max((end - intended) * 1000.0, rt)
        lateness = max((start - intended) * 1000.0, 0.0)
    itl = ml.get("itl_ms")
    itl_ms = (
        tuple(v for v in (_num(x) for x in itl) if v is not None)
        if isinstance(itl, list | tuple)
        else ()
    )
    sample = RequestSample(
        endpoint=(request_type, name),
        latency_ms=rt,
        status=status,
        corrected_ms=corrected,
        lateness_ms=lateness,
        ttft_ms=_num(ml.get("ttft_ms")),
        itl_ms=itl_ms,
        bytes_sent=_int(ml.get("bytes_sent")) or 0,
        bytes_received=received,
        tokens_in=_int(ml.get("tokens_in")),
        tokens_out=_int(ml.get("tokens_out")),
    )
    return sample, end


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("locust-ml")
    except PackageNotFoundError:
        return "0+unknown"


class RunRecorder:
    """Routes one process's Locust callbacks to the pure step/sample layer."""

    def __init__(
        self,
        role: str,
        *,
        locustfile: str = "locustfile",
        options: MLOptions | None = None,
        clock: Callable[[], float] = time.time,
        send_step: Callable[[StepSpan], None] | None = None,
    ) -> None:
        if role not in ("local", "master", "worker"):
            raise ValueError(f"role must be local, master or worker, got {role!r}")
        self.role = role
        self.locustfile = locustfile
        self.options = options or MLOptions()
        self.clock = clock
        self.send_step = send_step
        self.target: str | None = None
        self.workers = 0
        self.notes: list[str] = []
        self.report: RunReport | None = None
        self.report_path: Path | None = None
        #: Runs --ml-step-hook at step boundaries (master/local; set by the glue).
        self.step_hook: StepHook | None = None
        #: CPU seconds the master spent on telemetry (see plugin/telemetry.py).
        self.telemetry_cpu_s = 0.0
        #: Seconds the embedded reference server took to become ready, if one was started.
        self.server_ready_s: float | None = None
        #: Locust options given that a locust-ml shape ignores (said once at the start).
        self.ignored_flags: tuple[str, ...] = ()
        self._reset()

    def _reset(self) -> None:
        self.samples = StepSamples()
        self.steps = StepLog()
        self.current_step = 0
        self.step_start: float | None = None
        #: When the current step's measured part begins (None: no warm-up).
        self.measure_from: float | None = None
        #: Length of the measurement windows (the master's, announced with each step).
        self.window_s = self.options.window_s or DEFAULT_WINDOW_S
        self.utilization = UtilizationLog()
        self.search: SearchResult | None = None
        self._good_rules = _good_rules(self.options.shape.slos)
        self.started_at: float | None = None
        self.finished = False
        #: Master: what each worker shipped, and the workers that stopped mid-test.
        self.roster = WorkerRoster()
        #: Worker/local: requests (and failures) recorded, and requests shipped.
        self.recorded = 0
        #: The first request's latency in this process (the cold-start section).
        self.first_latency_ms: float | None = None
        self.recorded_failures = 0
        self.shipped = 0
        self.summary_logged = False

    # -- lifecycle ---------------------------------------------------------
    def start(self, parsed_options: Any = None) -> None:
        """A test starts: forget the previous one (web UI runs can repeat)."""
        if parsed_options is not None:
            self.options = read_options(parsed_options)
        self._reset()
        self.report = None
        self.report_path = None
        self.notes = []
        self.telemetry_cpu_s = 0.0
        self.started_at = self.clock()

    # -- samples (local and workers) --------------------------------------
    def record(self, sample: RequestSample, end_time: float | None = None) -> None:
        """Add one request's sample to the current step (and its window)."""
        if self._good_rules:
            sample = dataclasses.replace(sample, good=_is_good(sample, self._good_rules))
        window = None
        measured = False
        if self.step_start is not None:
            end = self.clock() if end_time is None else end_time
            window = window_index(end, self.step_start, self.window_s)
            measured = self.measure_from is not None and end >= self.measure_from
        self.samples.add(self.current_step, sample, window, measured=measured)
        if self.first_latency_ms is None:
            self.first_latency_ms = sample.latency_ms
        self.recorded += 1
        self.recorded_failures += sample.failed

    def record_event(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        response_length: int | None,
        *,
        response: Any = None,
        exception: BaseException | None = None,
        context: Any = None,
        start_time: float | None = None,
    ) -> None:
        """Translate Locust's ``request`` event into a sample and record it."""
        sample, end = sample_from_event(
            request_type,
            name,
            response_time,
            response_length,
            response=response,
            exception=exception,
            context=context,
            start_time=start_time,
        )
        self.record(sample, end)

    def count_sent(self) -> None:
        """A request is about to be sent (the users call this).

        Sends are counted per step, and apart in the step's measured part:
        requests still in flight at a step's end are known, and completions
        can be compared with what was sent (a target falling behind) apart
        from what was offered (a load generator falling behind).
        """
        self.samples.count_event(self.current_step, "sent")
        if self.measure_from is not None and self.clock() >= self.measure_from:
            self.samples.count_event(self.current_step, "sent_measured")

    def add_telemetry(self, samples: Sequence[TelemetrySample]) -> None:
        """Tag telemetry readings with the current step and window (master/local)."""
        cur = self.steps.current
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

    def add_generator_cpu(self, percent: float, t: float) -> None:
        """The load generator's CPU (percent of a core, busiest process) at ``t``.

        Kept with the step's telemetry: a step where Locust itself was near a
        full core measured the generator, not the target (the verdict checks).
        """
        cur = self.steps.current
        if cur is None:
            return
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

    def set_step(
        self,
        step_id: int,
        start: float | None = None,
        measure_from: float | None = None,
        window_s: float | None = None,
    ) -> None:
        """A worker heard the master announce a step: when it started, when its
        measured part begins, and the window length."""
        self.current_step = step_id
        self.step_start = start
        self.measure_from = (
            measure_from
            if start is None or measure_from is None or (measure_from > start)
            else None
        )
        if window_s is not None and window_s > 0:
            self.window_s = window_s

    def drain_wire(self) -> list[dict[str, object]]:
        """This worker's samples since its last report, as wire rows (and forget them)."""
        self.shipped += self.samples.requests
        return self.samples.drain_wire()

    def merge_wire(self, rows: Any, worker: str | None = None) -> None:
        """Merge a worker's delta (master). Malformed data is noted, not fatal.

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
            cur = self.steps.current
            self.roster.reported(
                worker,
                self.clock(),
                step=cur.id if cur is not None else None,
                requests=delta.requests,
                failures=failures,
            )

    def watch_workers(
        self, workers: dict[str, bool], *, open_loop: bool, rebalancing: bool
    ) -> list[WorkerGap]:
        """The master's workers now (id -> missing?): note (and log) any that stopped."""
        cur = self.steps.current
        load: Takeover = "rate" if open_loop else "users" if rebalancing else "none"
        gaps = self.roster.observe(
            self.clock(), workers, step=cur.id if cur is not None else None, load=load
        )
        for gap in gaps:
            logger.warning("locust-ml: %s", gap.note(self.started_at))
        return gaps

    def worker_summary(self, worker: str) -> str:
        """A worker's one line at the end: what it sent, for checking the merged count."""
        line = f"worker {worker} sent {self.recorded} requests ({self.recorded_failures} failures)"
        unshipped = self.recorded - self.shipped
        if unshipped:
            line += f"; {unshipped} of them were not reported to the master"
        return line

    # -- steps (local and master) -----------------------------------------
    def observe(
        self,
        users: int,
        offered_rps: float | None = None,
        *,
        mode: str | None = None,
        label: str = "",
        key: object = None,
        warmup_s: float = 0.0,
    ) -> StepSpan | None:
        """Note the current load; open (and announce) a new step if it changed.

        ``key`` is the schedule's own step number when a locust-ml shape runs:
        two consecutive stages at the same load are still two steps, and the
        step takes that number (the report and the schedule say the same).
        """
        if users <= 0 and offered_rps is None and key is None:
            return None
        previous = self.steps.current
        now = self.clock()
        span = self.steps.observe(
            now,
            users=users,
            offered_rps=offered_rps,
            mode=mode,
            label=label,
            key=key,
            warmup_s=warmup_s,
            step_id=key if isinstance(key, int) else None,
        )
        if span is None:
            return None
        self.current_step = span.id
        self.step_start = span.start
        self.measure_from = span.measure_from if span.warmup_s > 0 else None
        if self.send_step is not None:
            self.send_step(span)
        if self.step_hook is not None:
            if previous is not None:
                self.step_hook.fire("end", previous.closed(now))
            self.step_hook.fire("start", span)
        logger.info("locust-ml: %s", self.progress_line(span, previous, now))
        return span

    def measurement(self, tick: Tick, *, lag_s: float = 0.0) -> StepMeasurement | None:
        """The current step's measured part so far, for the capacity search.

        The same quantities the report judges the finished step on
        (:func:`locust_ml.analysis.judge.measure_step`): counts and latency
        after the warm-up, and the complete windows after it. Locally every
        sample so far counts, over the time so far. On a master, workers
        report every few seconds, so counts and time run to the end of the
        last window every worker has reported (``lag_s`` ago): a window still
        filling must not look like a throughput drop.
        """
        span = self.steps.current
        if span is None or span.id != tick.step:
            return None
        now = self.clock()
        window_s = self.window_s
        first = span.start + tick.warmup_s
        horizon = now - lag_s
        if horizon <= first:
            return None
        open_loop = span.mode == "open"
        pcts = sorted(
            {
                *StabilityRule.window_percentiles(),
                *required_percentiles(self.options.shape.slos),
                50.0,
                99.0,
            }
        )
        windows: list[WindowStats] = []
        in_windows = Accumulator(digits=2)
        by_index = self.samples.windows_of(span.id)
        index = max(0, math.ceil((first - span.start) / window_s - 1e-9))
        while span.start + (index + 1) * window_s <= horizon + 1e-9:
            # Windows without completions are measurements too (none arrive
            # in a stalled or drained step): they have no accumulator.
            acc = by_index.get(index) or Accumulator(digits=2)
            w_start = span.start + index * window_s
            hist = (acc.hist("corrected") if open_loop else None) or acc.hist("latency")
            lat = {} if hist is None else _pcts(hist, pcts)
            windows.append(
                WindowStats(
                    w_start, w_start + window_s, acc.requests, acc.failures, lat, index=index
                )
            )
            in_windows.merge(acc)
            index += 1
        measured = (
            self.samples.measured_of(span.id)
            if tick.warmup_s > 0
            else self.samples.whole_of(span.id)
        )
        if lag_s > 0:
            counted = in_windows
            seconds = windows[-1].end - first if windows else 0.0
        else:
            counted = measured
            seconds = now - first
        hist = (measured.hist("corrected") if open_loop else None) or measured.hist("latency")
        ttft, itl = measured.hist("ttft"), measured.hist("itl")
        slos = self.options.shape.slos
        stats = SLOStats(
            requests=counted.requests,
            failure_ratio=counted.failures / counted.requests if counted.requests else 0.0,
            latency_ms={} if hist is None else _pcts(hist, pcts),
            ttft_ms=None if ttft is None else _pcts(ttft, required_percentiles(slos, "ttft")),
            itl_ms=None if itl is None else _pcts(itl, required_percentiles(slos, "itl")),
        )
        late = measured.hist("lateness")
        events = self.samples.events_of(span.id, 1)
        sent_key = "sent_measured" if tick.warmup_s > 0 else "sent"
        return StepMeasurement(
            step=tick.step,
            mode=span.mode,
            load=tick.load,
            seconds=seconds,
            stats=stats,
            ok=counted.ok,
            windows=tuple(windows),
            lateness_p99_ms=None if late is None else late.percentile_ms(99.0),
            dropped=events.get("dropped", 0),
            # On a master, sends arrive with the same lag as completions: both so far.
            sent=events.get(sent_key) if lag_s == 0 else None,
        )

    def progress_line(self, span: StepSpan, previous: StepSpan | None, now: float) -> str:
        load = f"{span.users} users" if span.offered_rps is None else f"{span.offered_rps:g} req/s"
        line = f"step {span.id} started: {load}"
        if previous is None:
            return line
        spans = self.steps.spans(now)
        stats = next(s for s in summarize_steps(spans, self.samples) if s.id == previous.id)
        rate = "-" if stats.achieved_rps is None else f"{stats.achieved_rps:.2f}"
        p99 = format_ms(stats.latency_ms.get("p99"))
        lag = ", worker data lags up to 3 s" if self.role == "master" else ""
        return (
            f"{line} (step {previous.id}: {rate} req/s, p99 {p99} ms, "
            f"{stats.requests} requests, {stats.failures} failures{lag})"
        )

    def close_steps(self, *, partial: bool = False) -> None:
        """The load stopped: end the running step (and tell the step hook).

        ``partial``: the step was cut short, before its planned end.
        """
        current = self.steps.current
        now = self.clock()
        self.steps.close(now, partial=partial)
        if current is not None and self.step_hook is not None:
            self.step_hook.fire("end", current.closed(now))

    # -- the report (local and master) ------------------------------------
    def report_dir(self) -> Path:
        if self.options.report_dir:
            return Path(self.options.report_dir)
        stem = Path(self.locustfile.split(",")[0]).stem or "locustfile"
        stamp = datetime.fromtimestamp(self.started_at or self.clock()).strftime("%Y%m%d-%H%M%S")
        return Path("reports") / f"{stem}-{stamp}"

    def finish(
        self,
        *,
        target: str | None = None,
        shape: str | None = None,
        interrupted: str | None = None,
        errors: Sequence[ErrorCount] = (),
        partial: bool = False,
        fail_code: int | None = None,
    ) -> RunReport | None:
        """Build and write the report once per test (idempotent).

        ``partial``: the running step (if any) was cut short; ``fail_code``
        is the exit code of a failed run (Locust's ``--exit-code-on-error``).
        """
        if self.role == "worker" or self.finished:
            return self.report
        self.finished = True
        if self.started_at is None and not self.samples.requests:
            return None
        now = self.clock()
        spans = self.steps.close(now, partial=partial or bool(interrupted))
        run = RunInfo(
            locustfile=self.locustfile,
            target=target if target is not None else self.target,
            started_at=self.started_at if self.started_at is not None else now,
            ended_at=now,
            mode="distributed" if self.role == "master" else "local",
            workers=self.workers,
            tool_version=_version(),
            telemetry_cpu_s=self.telemetry_cpu_s,
            shape=shape,
            server_ready_s=self.server_ready_s,
            first_request_ms=self.first_latency_ms if self.role == "local" else None,
        )
        self.report = build_report(
            run,
            spans,
            self.samples,
            percentiles=self.options.percentiles,
            window_s=self.window_s,
            notes=[*self.notes, *self.roster.notes(self.started_at)],
            utilization=self.utilization,
            slos=self.options.shape.slos,
            search=self.search,
            settings=dataclasses.replace(
                self.options.report,
                interrupted=interrupted,
                fail_code=self.options.report.fail_code if fail_code is None else fail_code,
            ),
            errors=errors,
        )
        directory = self.report_dir()
        try:
            self.report_path = write_report_files(self.report, directory)["json"]
        except OSError as exc:
            logger.error("locust-ml: could not write the report to %s: %s", directory, exc)
            self.report_path = None
        return self.report

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
