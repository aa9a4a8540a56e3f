"""The control side's steps: which step is running, and what it has measured so far.

A step opens whenever the offered load changes (a new tick of the shape, or
a new user count without a locust-ml shape). :class:`StepTracker` keeps the
step log (:class:`~locust_ml.analysis.steps.StepLog`), tells the load side
which step to record under (``announce``: a message to the workers, or the
local recorder), runs ``--ml-step-hook`` at step boundaries, logs one
progress line per step, and measures the running step for the capacity
search exactly as the report will judge it once it ends
(:meth:`StepTracker.measurement`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.analysis.judge import StepMeasurement
from locust_ml.analysis.samples import Accumulator, StepSamples
from locust_ml.analysis.slo import SLO, SLOStats, required_percentiles
from locust_ml.analysis.stability import StabilityRule
from locust_ml.analysis.steps import StepLog, StepSpan, WindowStats, summarize_steps
from locust_ml.plugin.messages import StepAnnouncement
from locust_ml.plugin.step_hook import StepHook
from locust_ml.report.console import format_ms
from locust_ml.schedules import Tick

__all__ = ["StepTracker"]

logger = logging.getLogger("locust_ml")


def _pcts(hist: LatencyHistogram, qs: Sequence[float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else v) for k, v in hist.percentiles_ms(qs).items()}


class StepTracker:
    """The step log of one test, on the master or in a local run."""

    def __init__(
        self,
        samples: StepSamples,
        *,
        window_s: float,
        slos: Sequence[SLO] = (),
        announce: Callable[[StepAnnouncement], None] | None = None,
        step_hook: StepHook | None = None,
        clock: Callable[[], float] = time.time,
        lagging: bool = False,
    ) -> None:
        self.samples = samples
        self.window_s = window_s
        self.slos = tuple(slos)
        self.announce = announce
        self.step_hook = step_hook
        self.clock = clock
        #: A master's view of the samples lags the workers' reports.
        self.lagging = lagging
        self.steps = StepLog()

    @property
    def current(self) -> StepSpan | None:
        return self.steps.current

    def announcement(self, span: StepSpan) -> StepAnnouncement:
        """What the load side needs to know of ``span``."""
        return StepAnnouncement(
            span.id,
            span.start,
            span.measure_from if span.warmup_s > 0 else None,
            self.window_s,
        )

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
        if self.announce is not None:
            self.announce(self.announcement(span))
        if self.step_hook is not None:
            if previous is not None:
                self.step_hook.fire("end", previous.closed(now))
            self.step_hook.fire("start", span)
        logger.info("locust-ml: %s", self.progress_line(span, previous, now))
        return span

    def close(self, *, partial: bool = False) -> tuple[StepSpan, ...]:
        """The load stopped: end the running step (and tell the step hook).

        ``partial``: the step was cut short, before its planned end.
        """
        current = self.steps.current
        now = self.clock()
        spans = self.steps.close(now, partial=partial)
        if current is not None and self.step_hook is not None:
            self.step_hook.fire("end", current.closed(now))
        return spans

    def progress_line(self, span: StepSpan, previous: StepSpan | None, now: float) -> str:
        load = f"{span.users} users" if span.offered_rps is None else f"{span.offered_rps:g} req/s"
        line = f"step {span.id} started: {load}"
        if previous is None:
            return line
        spans = self.steps.spans(now)
        stats = next(s for s in summarize_steps(spans, self.samples) if s.id == previous.id)
        rate = "-" if stats.achieved_rps is None else f"{stats.achieved_rps:.2f}"
        p99 = format_ms(stats.latency_ms.get("p99"))
        lag = ", worker data lags up to 3 s" if self.lagging else ""
        return (
            f"{line} (step {previous.id}: {rate} req/s, p99 {p99} ms, "
            f"{stats.requests} requests, {stats.failures} failures{lag})"
        )

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
            {*StabilityRule.window_percentiles(), *required_percentiles(self.slos), 50.0, 99.0}
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
            hist = acc.judged_hist(open_loop)
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
        hist = measured.judged_hist(open_loop)
        ttft, itl = measured.hist("ttft"), measured.hist("itl")
        stats = SLOStats(
            requests=counted.requests,
            failure_ratio=counted.failures / counted.requests if counted.requests else 0.0,
            latency_ms={} if hist is None else _pcts(hist, pcts),
            ttft_ms=None if ttft is None else _pcts(ttft, required_percentiles(self.slos, "ttft")),
            itl_ms=None if itl is None else _pcts(itl, required_percentiles(self.slos, "itl")),
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
            workers_lost=events.get("workers_lost", 0),
        )
