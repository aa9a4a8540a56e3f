"""Load steps: when each began and ended, and what was measured during it.

A *step* is a stretch of the test at one offered load (a user count for closed
loop, a target rate for open loop). Capacity analysis works per step, so every
sample is tagged with the step that was current when it was taken.

* :class:`StepLog` - the master's record of step boundaries. It is told the
  current load (``observe``) and opens a new step whenever that changes, so it
  works with any shape, ours or a user's, and with manual changes in the web UI.
* :func:`summarize_steps` / :func:`summarize_totals` - turn the log and the
  merged :class:`~locust_ml.analysis.samples.StepSamples` into immutable
  :class:`StepStats` and :class:`Totals`.

**One number per step.** A step's figures - throughput, failure ratio,
latency percentiles, tokens/s - are those of its *measured part*: the
requests that completed after its warm-up (``warmup_s`` from its start)
until it ended, over that stretch of time. The step table, the capacity
curve, the capacity search's judgement, the CSV, the plots, the web UI and
the exporter all read these same fields. Counts over the whole step, warm-up
included, are kept apart (``all_requests``, ``all_failures``): they add up
to the run's totals, which equal Locust's own counts.

A step that did not run to its planned end (the test was stopped, ``-t``
ran out, a signal) is ``partial``: shown, but never judged and never a
point of the capacity curve.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.samples import (
    HISTOGRAM_FIELDS,
    Accumulator,
    EndpointKey,
    StepSamples,
    judged_latency,
)

__all__ = [
    "EndpointStats",
    "StepLog",
    "StepSpan",
    "StepStats",
    "Totals",
    "WindowStats",
    "full_windows",
    "measured_windows",
    "summarize_steps",
    "summarize_totals",
]


@dataclass(frozen=True)
class StepSpan:
    """One step's boundaries and load. ``end`` is None while the step runs.

    ``warmup_s`` is the start of the step not measured; ``partial`` marks a
    step cut short before its planned end.
    """

    id: int
    start: float
    end: float | None
    users: int | None
    offered_rps: float | None = None
    mode: str = "closed"
    label: str = ""
    warmup_s: float = 0.0
    partial: bool = False

    @property
    def measure_from(self) -> float:
        """When the step's measured part begins (its start plus the warm-up)."""
        return self.start + self.warmup_s

    def closed(self, end: float, *, partial: bool = False) -> StepSpan:
        return dataclasses.replace(self, end=end, partial=partial)


class StepLog:
    """Opens a new step each time the observed load changes.

    >>> log = StepLog()
    >>> log.observe(0.0, users=2).id
    1
    >>> log.observe(5.0, users=2) is None   # same load: same step
    True
    >>> log.observe(10.0, users=4).id
    2
    >>> [(s.id, s.start, s.end) for s in log.close(12.0)]
    [(1, 0.0, 10.0), (2, 10.0, 12.0)]
    """

    def __init__(self) -> None:
        self._closed: list[StepSpan] = []
        self._current: StepSpan | None = None

    @property
    def current(self) -> StepSpan | None:
        return self._current

    def observe(
        self,
        now: float,
        *,
        users: int | None,
        offered_rps: float | None = None,
        mode: str | None = None,
        label: str = "",
        key: object = None,
        warmup_s: float = 0.0,
        step_id: int | None = None,
    ) -> StepSpan | None:
        """Record the load at ``now``; return the new step if one opened.

        ``step_id`` numbers the new step (a schedule's own step number, so
        the report and the schedule name steps alike); by default steps are
        numbered 1, 2, 3...

        A step changes when ``key`` (a schedule's own step number) changes,
        or - without a key - when the users, the offered rate or the mode do.
        """
        cur = self._current
        mode = mode or ("closed" if offered_rps is None else "open")
        # A schedule's step number identifies its steps; without one, the load does.
        ident = (key, mode) if key is not None else (users, offered_rps, mode)
        if cur is not None and self._ident == ident:
            return None
        if cur is not None:
            self._closed.append(cur.closed(max(now, cur.start)))
        self._ident = ident
        last = cur.id if cur else (self._closed[-1].id if self._closed else 0)
        self._current = StepSpan(
            id=step_id if step_id is not None and step_id > last else last + 1,
            start=now,
            end=None,
            users=users,
            offered_rps=offered_rps,
            mode=mode,
            label=label,
            warmup_s=max(warmup_s, 0.0),
        )
        return self._current

    _ident: tuple[object, ...] = ()

    def close(self, now: float, *, partial: bool = False) -> tuple[StepSpan, ...]:
        """End the running step at ``now`` (idempotent) and return all steps.

        ``partial``: the running step is cut short (the test stopped before
        its planned end).
        """
        if self._current is not None:
            cur = self._current
            self._closed.append(cur.closed(max(now, cur.start), partial=partial))
            self._current = None
            self._ident = ()
        return tuple(self._closed)

    def spans(self, now: float) -> tuple[StepSpan, ...]:
        """All steps so far, the running one provisionally ending at ``now``."""
        cur = self._current
        tail = (cur.closed(max(now, cur.start)),) if cur else ()
        return (*self._closed, *tail)


Percentiles = Mapping[str, float | None]


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's numbers within a step (or over the run)."""

    request_type: str
    name: str
    requests: int
    failures: int
    status: Mapping[str, int]
    bytes_sent: int
    bytes_received: int
    tokens_in: int
    tokens_out: int
    achieved_rps: float | None
    latency_ms: Percentiles
    mean_ms: float | None
    max_ms: float | None
    #: Other latency-like fields with data: corrected, lateness, ttft, itl.
    extra_ms: Mapping[str, Percentiles]


@dataclass(frozen=True)
class WindowStats:
    """One measurement window of a step (endpoints combined).

    Windows are fixed-length slices of a step counted from its start
    (the shape's ``window`` key). They carry what the stability rule reads (throughput and
    latency quartiles, see :mod:`.stability`) and what time series plot.
    ``achieved_rps`` defaults to ``requests / (end - start)``.
    """

    start: float
    end: float
    requests: int
    failures: int = 0
    latency_ms: Percentiles = field(default_factory=dict)
    achieved_rps: float | None = None
    index: int = 0
    corrected_ms: Percentiles | None = None

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def rate(self) -> float:
        """Achieved requests per second in this window."""
        if self.achieved_rps is not None:
            return self.achieved_rps
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class StepStats:
    """What one step measured: the rows of the step table and of ``report.json``.

    Every figure (``achieved_rps``, ``requests``, ``failures``, ``status``,
    latency, endpoints, tokens/s) is over the step's measured part (see the
    module docstring); ``all_requests``/``all_failures`` count the whole step.
    """

    id: int
    start: float
    end: float
    users: int | None
    offered_rps: float | None
    achieved_rps: float | None
    requests: int
    failures: int
    latency_ms: Percentiles
    endpoints: tuple[EndpointStats, ...]
    mode: str = "closed"
    label: str = ""
    status: Mapping[str, int] | None = None
    extra_ms: Mapping[str, Percentiles] | None = None
    tokens_out_per_s: float | None = None
    windows: tuple[WindowStats, ...] = ()
    #: Requests that met every per-request SLO, per second (None without SLOs).
    goodput_rps: float | None = None
    #: Open-loop arrivals that waited for a free slot ("late") or were not sent
    #: ("dropped"), and requests sent ("sent", when the users count them).
    events: Mapping[str, int] = field(default_factory=dict)
    warmup_s: float = 0.0
    partial: bool = False
    #: Requests and failures over the whole step, warm-up included (-1: as measured).
    all_requests: int = -1
    all_failures: int = -1
    #: Requests still in flight when the step ended (None: not counted).
    in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.all_requests < 0:
            object.__setattr__(self, "all_requests", self.requests)
        if self.all_failures < 0:
            object.__setattr__(self, "all_failures", self.failures)

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def measure_from(self) -> float:
        return self.start + self.warmup_s

    @property
    def measured_s(self) -> float:
        """Seconds of the measured part (0 when the step ended in its warm-up)."""
        return max(self.end - self.measure_from, 0.0)

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def ok(self) -> int:
        """Successful requests in the measured part."""
        return self.requests - self.failures

    @property
    def ok_rps(self) -> float | None:
        """Successful answers per second in the measured part: the step's good throughput."""
        seconds = self.measured_s
        return self.ok / seconds if seconds > 0 else None

    @property
    def judged_latency_ms(self) -> Percentiles:
        """The latency the SLOs judge: from the intended send time in open loop.

        :func:`~locust_ml.analysis.samples.judged_latency` states the rule;
        every table, plot and judgement of a finished step asks this.
        """
        corrected = (self.extra_ms or {}).get("corrected")
        return judged_latency(self.mode == "open", self.latency_ms, corrected or None)

    def judged_window_ms(self, window: WindowStats) -> Percentiles:
        """:attr:`judged_latency_ms` of one of this step's windows (the same rule)."""
        return judged_latency(self.mode == "open", window.latency_ms, window.corrected_ms or None)


@dataclass(frozen=True)
class Totals:
    """The whole run, warm-ups included: equals Locust's aggregated counts."""

    requests: int
    failures: int
    latency_ms: Percentiles
    endpoints: tuple[EndpointStats, ...]
    status: Mapping[str, int] | None = None
    events: Mapping[str, int] = field(default_factory=dict)


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _rate(n: int, duration: float) -> float | None:
    return n / duration if duration > 0 else None


def _pcts(acc: Accumulator, name: str, percentiles: Sequence[float]) -> Percentiles | None:
    h = acc.hist(name)
    if h is None or not h.count:
        return None
    return {k: _nan_to_none(v) for k, v in h.percentiles_ms(percentiles).items()}


def _latency(acc: Accumulator, percentiles: Sequence[float]) -> Percentiles:
    got = _pcts(acc, "latency", percentiles)
    if got is None:
        from locust_ml.analysis.histogram import percentile_key

        return {percentile_key(q): None for q in percentiles}
    return got


def _extra(acc: Accumulator, percentiles: Sequence[float]) -> dict[str, Percentiles]:
    out = {}
    for name in HISTOGRAM_FIELDS[1:]:
        got = _pcts(acc, name, percentiles)
        if got is not None:
            out[name] = got
    return out


def _endpoint_stats(
    key: EndpointKey, acc: Accumulator, duration: float, percentiles: Sequence[float]
) -> EndpointStats:
    lat = acc.hist("latency")
    return EndpointStats(
        request_type=key[0],
        name=key[1],
        requests=acc.requests,
        failures=acc.failures,
        status=dict(sorted(acc.status.items())),
        bytes_sent=acc.bytes_sent,
        bytes_received=acc.bytes_received,
        tokens_in=acc.tokens_in,
        tokens_out=acc.tokens_out,
        achieved_rps=_rate(acc.requests, duration),
        latency_ms=_latency(acc, percentiles),
        mean_ms=None if lat is None else _nan_to_none(lat.mean_ms),
        max_ms=None if lat is None else _nan_to_none(lat.max_ms),
        extra_ms=_extra(acc, percentiles),
    )


def _combine(accs: Iterable[Accumulator]) -> Accumulator:
    total = Accumulator()
    for acc in accs:
        total.merge(acc)
    return total


def _windows(
    samples: StepSamples,
    span: StepSpan,
    end: float,
    window_s: float | None,
    percentiles: Sequence[float],
) -> tuple[WindowStats, ...]:
    if not window_s:
        return ()
    out = []
    recorded = samples.windows_of(span.id)
    # Every window of the step, those without a completion included (a stalled
    # or starting step has them; the stability rule must see them as the
    # capacity search does while the step runs).
    last = max([*recorded, math.ceil((end - span.start) / window_s - 1e-9) - 1, -1])
    for index in range(last + 1):
        acc = recorded.get(index) or Accumulator(digits=2)
        w_start = span.start + index * window_s
        w_end = min(w_start + window_s, end)
        if w_end <= w_start:
            continue
        out.append(
            WindowStats(
                index=index,
                start=w_start,
                end=w_end,
                requests=acc.requests,
                failures=acc.failures,
                achieved_rps=_rate(acc.requests, w_end - w_start),
                latency_ms=_latency(acc, percentiles),
                corrected_ms=_pcts(acc, "corrected", percentiles),
            )
        )
    return tuple(out)


def full_windows(windows: Sequence[WindowStats]) -> tuple[WindowStats, ...]:
    """``windows`` without the ones cut short (under half the longest), usually the last.

    A step rarely ends on a window boundary; its last window may last a few
    milliseconds and hold one batch's completions, a rate of hundreds per
    second that is an artefact of its length. Time series read full windows
    only; totals still count every request.
    """
    longest = max((w.seconds for w in windows), default=0.0)
    return tuple(w for w in windows if w.seconds >= 0.5 * longest)


def measured_windows(step: StepStats, window_s: float | None) -> tuple[WindowStats, ...]:
    """The complete windows of ``step``'s measured part: what its stability is judged on.

    A window counts when it starts at or after the end of the warm-up and
    lasts the whole window length (the capacity search judges a running step
    on exactly these: the windows that are over).
    """
    if not window_s:
        return ()
    eps = 1e-6 * max(window_s, 1.0)
    return tuple(
        w
        for w in step.windows
        if w.start >= step.measure_from - eps and w.seconds >= window_s - eps
    )


def summarize_steps(
    spans: Sequence[StepSpan],
    samples: StepSamples,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    *,
    window_s: float | None = None,
    with_goodput: bool = False,
) -> tuple[StepStats, ...]:
    """One :class:`StepStats` per span, in order.

    A step's figures are its measured part's (module docstring): the
    requests recorded as measured over ``end - (start + warmup_s)``; a step
    without a warm-up is measured whole. Samples tagged with a step id no
    span knows (a race at the very end) are not dropped here:
    :func:`summarize_totals` still counts them.
    """
    if not spans:
        return ()
    grouped = samples.by_step(first_step=spans[0].id)
    measured = samples.by_step(first_step=spans[0].id, measured=True)
    out = []
    sent_so_far = done_so_far = 0
    counts_sent = False
    for span in spans:
        end = span.end if span.end is not None else span.start
        whole = grouped.get(span.id, {})
        per = measured.get(span.id, {}) if span.warmup_s > 0 else whole
        seconds = max(end - (span.start + span.warmup_s), 0.0)
        total = _combine(per.values())
        everything = _combine(whole.values())
        events = samples.events_of(span.id, spans[0].id)
        sent_so_far += events.get("sent", 0)
        done_so_far += everything.requests
        counts_sent = counts_sent or "sent" in events
        out.append(
            StepStats(
                id=span.id,
                start=span.start,
                end=end,
                users=span.users,
                offered_rps=span.offered_rps,
                achieved_rps=_rate(total.requests, seconds),
                requests=total.requests,
                failures=total.failures,
                latency_ms=_latency(total, percentiles),
                endpoints=tuple(
                    _endpoint_stats(key, acc, seconds, percentiles)
                    for key, acc in sorted(per.items())
                ),
                mode=span.mode,
                label=span.label,
                status=dict(sorted(total.status.items())),
                extra_ms=_extra(total, percentiles),
                tokens_out_per_s=(
                    _rate(total.tokens_out, seconds) if total.token_requests else None
                ),
                windows=_windows(samples, span, end, window_s, percentiles),
                goodput_rps=_rate(total.good, seconds) if with_goodput else None,
                events=events,
                warmup_s=span.warmup_s,
                partial=span.partial,
                all_requests=everything.requests,
                all_failures=everything.failures,
                in_flight=max(sent_so_far - done_so_far, 0) if counts_sent else None,
            )
        )
    return tuple(out)


def summarize_totals(
    samples: StepSamples,
    duration: float,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> Totals:
    """Totals over every sample, whatever step it carries."""
    per: dict[EndpointKey, Accumulator] = {}
    for step_map in samples.by_step(first_step=0).values():
        for key, acc in step_map.items():
            per.setdefault(key, Accumulator()).merge(acc)
    total = _combine(per.values())
    return Totals(
        requests=total.requests,
        failures=total.failures,
        latency_ms=_latency(total, percentiles),
        endpoints=tuple(
            _endpoint_stats(key, acc, duration, percentiles) for key, acc in sorted(per.items())
        ),
        status=dict(sorted(total.status.items())),
        events=samples.events_total(),
    )
