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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.samples import (
    HISTOGRAM_FIELDS,
    Accumulator,
    EndpointKey,
    RequestSample,
    StepSamples,
)

__all__ = [
    "EndpointKey",
    "EndpointStats",
    "RequestSample",
    "StepLog",
    "StepSamples",
    "StepSpan",
    "StepStats",
    "Totals",
    "WindowStats",
    "full_windows",
    "summarize_steps",
    "summarize_totals",
]


@dataclass(frozen=True)
class StepSpan:
    """One step's boundaries and load. ``end`` is None while the step runs."""

    id: int
    start: float
    end: float | None
    users: int | None
    offered_rps: float | None = None
    mode: str = "closed"
    label: str = ""

    def closed(self, end: float) -> StepSpan:
        return StepSpan(
            self.id, self.start, end, self.users, self.offered_rps, self.mode, self.label
        )


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
    ) -> StepSpan | None:
        """Record the load at ``now``; return the new step if one opened.

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
        self._current = StepSpan(
            id=(cur.id + 1) if cur else (self._closed[-1].id + 1 if self._closed else 1),
            start=now,
            end=None,
            users=users,
            offered_rps=offered_rps,
            mode=mode,
            label=label,
        )
        return self._current

    _ident: tuple[object, ...] = ()

    def close(self, now: float) -> tuple[StepSpan, ...]:
        """End the running step at ``now`` (idempotent) and return all steps."""
        if self._current is not None:
            self._closed.append(self._current.closed(max(now, self._current.start)))
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
    (``--ml-window``). They carry what the stability rule reads (throughput and
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
    """What one step measured: the rows of the step table and of ``report.json``."""

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
    #: Open-loop arrivals that waited for a free slot ("late") or were not sent ("dropped").
    events: Mapping[str, int] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


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
    for index, acc in samples.windows_of(span.id).items():
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
    second that is an artefact of its length. Rates, stability checks and
    resampling read full windows only; totals still count every request.
    """
    longest = max((w.seconds for w in windows), default=0.0)
    return tuple(w for w in windows if w.seconds >= 0.5 * longest)


def summarize_steps(
    spans: Sequence[StepSpan],
    samples: StepSamples,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    *,
    window_s: float | None = None,
    with_goodput: bool = False,
) -> tuple[StepStats, ...]:
    """One :class:`StepStats` per span, in order.

    ``achieved_rps`` is requests completed during the step divided by the
    step's wall-clock length (spawn time included: it is part of the step).
    Samples tagged with a step id no span knows (a race at the very end) are
    not dropped here; :func:`summarize_totals` still counts them.
    """
    if not spans:
        return ()
    grouped = samples.by_step(first_step=spans[0].id)
    out = []
    for span in spans:
        end = span.end if span.end is not None else span.start
        duration = end - span.start
        per = grouped.get(span.id, {})
        total = _combine(per.values())
        out.append(
            StepStats(
                id=span.id,
                start=span.start,
                end=end,
                users=span.users,
                offered_rps=span.offered_rps,
                achieved_rps=_rate(total.requests, duration),
                requests=total.requests,
                failures=total.failures,
                latency_ms=_latency(total, percentiles),
                endpoints=tuple(
                    _endpoint_stats(key, acc, duration, percentiles)
                    for key, acc in sorted(per.items())
                ),
                mode=span.mode,
                label=span.label,
                status=dict(sorted(total.status.items())),
                extra_ms=_extra(total, percentiles),
                tokens_out_per_s=(
                    _rate(total.tokens_out, duration) if total.token_requests else None
                ),
                windows=_windows(samples, span, end, window_s, percentiles),
                goodput_rps=_rate(total.good, duration) if with_goodput else None,
                events=samples.events_of(span.id, spans[0].id),
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
