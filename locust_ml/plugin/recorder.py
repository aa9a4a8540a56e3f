"""The load side of a run: every request's sample, recorded under the current step.

Locust fires its ``request`` event for every request; the listener hands it
to :meth:`SampleRecorder.record_event`, which turns it into a
:class:`~locust_ml.analysis.samples.RequestSample` (ML fields from the
request's ``context``, :data:`~locust_ml.plugin.messages.CONTEXT_KEY`) and
adds it to the step, window and measured part it belongs to. A local run
records and reports in one process; a worker records and ships what it
recorded since its last report (:meth:`SampleRecorder.drain_wire`), counting
what it recorded and shipped for the one line it logs at the end.

Which step is current is told to the recorder (:meth:`SampleRecorder.set_step`):
by the master's announcement on a worker, by the step tracker in a local run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from locust_ml.analysis.samples import RequestSample, StepSamples, window_index
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.status import classify
from locust_ml.plugin.messages import CONTEXT_KEY, StepAnnouncement

__all__ = ["CONTEXT_KEY", "DEFAULT_WINDOW_S", "SampleRecorder", "sample_from_event"]

#: Measurement window length without a locust-ml shape (seconds).
DEFAULT_WINDOW_S = 5.0


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


class SampleRecorder:
    """Records one process's requests into ``samples`` under the current step."""

    def __init__(
        self,
        samples: StepSamples,
        slos: Sequence[SLO] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.samples = samples
        self.clock = clock
        self._good_rules = _good_rules(slos)
        self.current_step = 0
        self.step_start: float | None = None
        #: When the current step's measured part begins (None: no warm-up).
        self.measure_from: float | None = None
        #: Length of the measurement windows (the master's, announced with each step).
        self.window_s = DEFAULT_WINDOW_S
        #: Requests (and failures) recorded, and requests shipped to the master.
        self.recorded = 0
        self.recorded_failures = 0
        self.shipped = 0
        #: The first request's latency in this process (the cold-start section).
        self.first_latency_ms: float | None = None

    def set_step(self, step: StepAnnouncement) -> None:
        """The step to record under: when it started, when its measured part
        begins, and the window length."""
        self.current_step = step.step
        self.step_start = step.start
        self.measure_from = (
            step.measure_from
            if step.start is None or step.measure_from is None or step.measure_from > step.start
            else None
        )
        if step.window_s is not None and step.window_s > 0:
            self.window_s = step.window_s

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

    def count(self, event: str) -> None:
        """An arrival the open-loop driver sent late or dropped, in the current step."""
        self.samples.count_event(self.current_step, event)

    def drain_wire(self) -> list[dict[str, object]]:
        """This worker's samples since its last report, as wire rows (and forget them)."""
        self.shipped += self.samples.requests
        return self.samples.drain_wire()

    def worker_summary(self, worker: str) -> str:
        """A worker's one line at the end: what it sent, for checking the merged count."""
        line = f"worker {worker} sent {self.recorded} requests ({self.recorded_failures} failures)"
        unshipped = self.recorded - self.shipped
        if unshipped:
            line += f"; {unshipped} of them were not reported to the master"
        return line
