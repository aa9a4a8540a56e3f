"""Per-request samples and their mergeable, bounded accumulators.

Every request a user sends becomes one :class:`RequestSample`: its endpoint,
its outcome class (:mod:`.status`), its service latency, and the ML fields
that exist for it - latency from the *intended* send time and the send's
lateness (open loop), time to first token and inter-token latencies
(streams), bytes and tokens each way.

Samples are not kept. They are added to accumulators keyed by step and
endpoint: one over the whole step (warm-up included: the run's totals, equal
to Locust's counts) and one over the step's *measured* part, the samples that
completed after its warm-up (every figure a step reports: throughput, failure
ratio, percentiles); and by step, measurement window and endpoint (for
stability judgements, soak trends and time series).

**Latency is the latency of answers.** Only successful requests (status
``ok``) enter the latency-like histograms (latency, corrected, TTFT, ITL): a
refused connection answers in a millisecond and a timeout in a minute, and
either would make the percentiles of a failing target look like those of a
fast or a slow one. Failures are counted (by class) and judged by the error
ratio; the send's lateness, a property of the load generator, is kept for
every request. Accumulators hold HDR
histograms - created only for the fields that occur, 3 significant digits
per step, 2 per window - and counters, so memory grows with steps x windows x
endpoints, never with the number of requests. Workers ship accumulators as
deltas (:meth:`StepSamples.drain_wire`); the master adds them exactly.

Samples taken before a worker heard of the first step carry step id 0 and
are counted in the first step (they are the earliest of the run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.analysis.status import STATUS_CLASSES

__all__ = [
    "HISTOGRAM_FIELDS",
    "MEASURED",
    "WHOLE",
    "Accumulator",
    "EndpointKey",
    "RequestSample",
    "StepSamples",
    "judged_latency",
    "window_index",
]

#: (request_type, name), as Locust names an endpoint in its stats table.
EndpointKey = tuple[str, str]

#: The latency-like fields kept as histograms, in report order.
HISTOGRAM_FIELDS: Final = ("latency", "corrected", "lateness", "ttft", "itl")
#: Fields recorded in window accumulators (the rest only per step).
_WINDOW_FIELDS: Final = ("latency", "corrected", "ttft", "itl")
_WINDOW_DIGITS: Final = 2

_L = TypeVar("_L")


def judged_latency(open_loop: bool, latency: _L, corrected: _L | None) -> _L:
    """The latency the SLOs judge: ``corrected`` (from the intended send time) in open loop.

    In open loop a request that waited for a free slot waited as a user
    would (coordinated omission), so its latency counts from when it was
    meant to leave; closed-loop users send when the last answer came, so
    their latency is the service's. ``corrected`` stands in only when it
    holds data (pass None otherwise). This is the one place the rule lives:
    :attr:`~locust_ml.analysis.steps.StepStats.judged_latency_ms` (finished
    steps and their windows) and :meth:`Accumulator.judged_hist` (live
    histograms) apply it, and every table, plot and judgement asks them.
    """
    return corrected if open_loop and corrected is not None else latency


@dataclass(frozen=True, slots=True)
class RequestSample:
    """One request's measurements. Times in milliseconds.

    ``latency_ms`` is Locust's response time (from the actual send to the end
    of the response). ``corrected_ms`` is measured from the intended send time
    of an open-loop arrival, so it includes time spent waiting for a free
    user: the coordinated-omission-corrected latency. ``lateness_ms`` is the
    actual minus the intended send time.
    """

    endpoint: EndpointKey
    latency_ms: float
    status: str = "ok"
    corrected_ms: float | None = None
    lateness_ms: float | None = None
    ttft_ms: float | None = None
    itl_ms: Sequence[float] = ()
    bytes_sent: int = 0
    bytes_received: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    #: Whether the request met every per-request SLO (None: no SLO given).
    good: bool | None = None

    @property
    def failed(self) -> bool:
        return self.status != "ok"


@dataclass
class Accumulator:
    """Counters and histograms of a set of samples; ``merge`` is exact."""

    digits: int = 3
    requests: int = 0
    status: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    bytes_received: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    token_requests: int = 0
    good: int = 0
    hists: dict[str, LatencyHistogram] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return self.requests - self.status.get("ok", 0)

    def hist(self, name: str) -> LatencyHistogram | None:
        return self.hists.get(name)

    def judged_hist(self, open_loop: bool) -> LatencyHistogram | None:
        """The histogram SLOs judge: corrected in open loop (while it has data), else latency.

        The same rule as :attr:`~locust_ml.analysis.steps.StepStats.judged_latency_ms`
        (:func:`judged_latency`), for the glue that reads live accumulators.
        """
        corrected = self.hists.get("corrected")
        has_data = corrected is not None and corrected.count > 0
        return judged_latency(open_loop, self.hist("latency"), corrected if has_data else None)

    def _h(self, name: str) -> LatencyHistogram:
        h = self.hists.get(name)
        if h is None:
            h = self.hists[name] = LatencyHistogram(digits=self.digits)
        return h

    @property
    def ok(self) -> int:
        """Requests that succeeded."""
        return self.status.get("ok", 0)

    def add(self, s: RequestSample, fields: Sequence[str] = HISTOGRAM_FIELDS) -> None:
        self.requests += 1
        self.good += int(bool(s.good))
        self.status[s.status] = self.status.get(s.status, 0) + 1
        self.bytes_sent += s.bytes_sent
        self.bytes_received += s.bytes_received
        if s.tokens_in is not None or s.tokens_out is not None:
            self.token_requests += 1
            self.tokens_in += s.tokens_in or 0
            self.tokens_out += s.tokens_out or 0
        if s.lateness_ms is not None and "lateness" in fields:
            self._h("lateness").record_ms(max(s.lateness_ms, 0.0))
        if s.status != "ok":
            return  # a failure's time is not a latency of the service (module docstring)
        self._h("latency").record_ms(max(s.latency_ms, 0.0))
        if s.corrected_ms is not None and "corrected" in fields:
            self._h("corrected").record_ms(max(s.corrected_ms, 0.0))
        if s.ttft_ms is not None and "ttft" in fields:
            self._h("ttft").record_ms(max(s.ttft_ms, 0.0))
        if s.itl_ms and "itl" in fields:
            self._h("itl").record_many_ms(max(v, 0.0) for v in s.itl_ms)

    def merge(self, other: Accumulator) -> None:
        self.requests += other.requests
        self.good += other.good
        for k, v in other.status.items():
            self.status[k] = self.status.get(k, 0) + v
        self.bytes_sent += other.bytes_sent
        self.bytes_received += other.bytes_received
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.token_requests += other.token_requests
        for name, h in other.hists.items():
            mine = self.hists.get(name)
            if mine is None:
                self.hists[name] = h.copy()
            else:
                mine.merge(h)

    def to_wire(self) -> dict[str, object]:
        return {
            "digits": self.digits,
            "requests": self.requests,
            "status": dict(self.status),
            "bytes": [self.bytes_sent, self.bytes_received],
            "tokens": [self.tokens_in, self.tokens_out, self.token_requests],
            "good": self.good,
            "hists": {k: dict(h.to_wire()) for k, h in self.hists.items()},
        }

    @classmethod
    def from_wire(cls, wire: Mapping[str, object]) -> Accumulator:
        digits, requests, status = wire.get("digits", 3), wire.get("requests"), wire.get("status")
        nbytes, tokens, hists = wire.get("bytes"), wire.get("tokens"), wire.get("hists")
        good = wire.get("good", 0)
        if not (
            isinstance(digits, int)
            and isinstance(requests, int)
            and isinstance(good, int)
            and isinstance(status, Mapping)
            and isinstance(nbytes, list | tuple)
            and len(nbytes) == 2
            and isinstance(tokens, list | tuple)
            and len(tokens) == 3
            and isinstance(hists, Mapping)
            and all(isinstance(k, str) and isinstance(v, int) for k, v in status.items())
            and all(isinstance(x, int) for x in (*nbytes, *tokens))
            and all(isinstance(k, str) and isinstance(v, Mapping) for k, v in hists.items())
        ):
            raise ValueError("malformed accumulator on the wire")
        if sum(status.values()) != requests or any(k not in STATUS_CLASSES for k in status):
            raise ValueError("malformed accumulator on the wire: inconsistent status counts")
        return cls(
            digits=digits,
            requests=requests,
            status=dict(status),
            bytes_sent=nbytes[0],
            bytes_received=nbytes[1],
            tokens_in=tokens[0],
            tokens_out=tokens[1],
            token_requests=tokens[2],
            good=good,
            hists={k: LatencyHistogram.from_wire(v) for k, v in hists.items()},
        )


#: The part of a step an accumulator covers: a measurement window's index,
#: :data:`WHOLE` (the whole step) or :data:`MEASURED` (after its warm-up).
Part = int | str | None
WHOLE: Final = None
MEASURED: Final = "measured"

#: (step, part, request_type, name)
_Key = tuple[int, Part, str, str]


class StepSamples:
    """Accumulators per (step, part, endpoint); see :data:`Part`.

    ``window`` is the index of a fixed-length measurement window counted from
    the step's start (None: not windowed, e.g. no step start known yet);
    ``measured`` says the sample completed after the step's warm-up.
    """

    def __init__(self) -> None:
        self._acc: dict[_Key, Accumulator] = {}
        #: Per-step counts of things that are not completed requests: requests
        #: sent ("sent"), open-loop arrivals that waited for a free slot
        #: ("late") or were never sent ("dropped").
        self._events: dict[tuple[int, str], int] = {}

    def count_event(self, step: int, event: str, n: int = 1) -> None:
        key = (step, event)
        self._events[key] = self._events.get(key, 0) + n

    def events_of(self, step: int, first_step: int) -> dict[str, int]:
        """Event counts of ``step`` (step 0 counted in ``first_step``)."""
        out: dict[str, int] = {}
        for (s, event), n in self._events.items():
            if s == step or (s == 0 and step == first_step):
                out[event] = out.get(event, 0) + n
        return dict(sorted(out.items()))

    def events_total(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (_, event), n in self._events.items():
            out[event] = out.get(event, 0) + n
        return dict(sorted(out.items()))

    def _get(self, key: _Key) -> Accumulator:
        acc = self._acc.get(key)
        if acc is None:
            windowed = isinstance(key[1], int)
            acc = self._acc[key] = Accumulator(digits=_WINDOW_DIGITS if windowed else 3)
        return acc

    def add(
        self,
        step: int,
        sample: RequestSample,
        window: int | None = None,
        *,
        measured: bool = False,
    ) -> None:
        rtype, name = sample.endpoint
        self._get((step, WHOLE, rtype, name)).add(sample)
        if measured:
            self._get((step, MEASURED, rtype, name)).add(sample)
        if window is not None:
            self._get((step, window, rtype, name)).add(sample, _WINDOW_FIELDS)

    def record(
        self,
        step: int,
        endpoint: EndpointKey,
        latency_ms: float,
        *,
        failed: bool = False,
        nbytes: int = 0,
        window: int | None = None,
        measured: bool = False,
    ) -> None:
        """Shorthand for a plain sample (tests, simple users)."""
        self.add(
            step,
            RequestSample(
                endpoint, latency_ms, status="other" if failed else "ok", bytes_received=nbytes
            ),
            window,
            measured=measured,
        )

    def __len__(self) -> int:
        return len(self._acc)

    @property
    def requests(self) -> int:
        return sum(a.requests for (_, part, _, _), a in self._acc.items() if part is WHOLE)

    def merge(self, other: StepSamples) -> None:
        for key, acc in other._acc.items():
            self._get(key).merge(acc)
        for (step, event), n in other._events.items():
            self.count_event(step, event, n)

    def to_wire(self) -> list[dict[str, object]]:
        """A msgpack-friendly list of rows (lists, dicts and bytes only)."""
        rows: list[dict[str, object]] = [
            {"step": step, "window": part, "type": rtype, "name": name, "acc": acc.to_wire()}
            for (step, part, rtype, name), acc in self._acc.items()
        ]
        rows.extend(
            {"step": step, "event": event, "count": n} for (step, event), n in self._events.items()
        )
        return rows

    def drain_wire(self) -> list[dict[str, object]]:
        """Return the wire form and reset: what a worker ships each report."""
        wire = self.to_wire()
        self._acc.clear()
        self._events.clear()
        return wire

    @classmethod
    def from_wire(cls, rows: Iterable[Mapping[str, object]]) -> StepSamples:
        out = cls()
        for row in rows:
            if not isinstance(row, Mapping):
                raise ValueError(f"malformed step sample row: {row!r:.200}")
            if "event" in row:
                step, event, count = row.get("step"), row.get("event"), row.get("count")
                if not (
                    isinstance(step, int) and isinstance(event, str) and isinstance(count, int)
                ):
                    raise ValueError(f"malformed step sample row: {row!r:.200}")
                out.count_event(step, event, count)
                continue
            step, part = row.get("step"), row.get("window")
            rtype, name, acc = row.get("type"), row.get("name"), row.get("acc")
            if not (
                isinstance(step, int)
                and (part is None or part == MEASURED or (isinstance(part, int) and part >= 0))
                and isinstance(rtype, str)
                and isinstance(name, str)
                and isinstance(acc, Mapping)
            ):
                raise ValueError(f"malformed step sample row: {row!r:.200}")
            out._get((step, part, rtype, name)).merge(Accumulator.from_wire(acc))
        return out

    def merge_wire(self, rows: Iterable[Mapping[str, object]]) -> None:
        self.merge(StepSamples.from_wire(rows))

    def by_step(
        self, first_step: int, *, measured: bool = False
    ) -> dict[int, dict[EndpointKey, Accumulator]]:
        """Whole-step (or measured) accumulators by step; step 0 is folded into ``first_step``."""
        wanted = MEASURED if measured else WHOLE
        grouped: dict[int, dict[EndpointKey, Accumulator]] = {}
        for (step, part, rtype, name), acc in self._acc.items():
            if part != wanted:
                continue
            per = grouped.setdefault(first_step if step == 0 else step, {})
            mine = per.get((rtype, name))
            if mine is None:
                mine = per[(rtype, name)] = Accumulator()
            mine.merge(acc)
        return grouped

    def windows_of(self, step: int) -> dict[int, Accumulator]:
        """The window accumulators of ``step``, endpoints combined, by window index."""
        out: dict[int, Accumulator] = {}
        for (s, part, _, _), acc in self._acc.items():
            if s == step and isinstance(part, int):
                mine = out.get(part)
                if mine is None:
                    mine = out[part] = Accumulator(digits=_WINDOW_DIGITS)
                mine.merge(acc)
        return dict(sorted(out.items()))

    def measured_of(self, step: int) -> Accumulator:
        """The measured accumulator of ``step``, endpoints combined (empty if none)."""
        return self._combined(step, MEASURED)

    def whole_of(self, step: int) -> Accumulator:
        """The whole-step accumulator of ``step``, endpoints combined (empty if none)."""
        return self._combined(step, WHOLE)

    def _combined(self, step: int, wanted: Part) -> Accumulator:
        out = Accumulator()
        for (s, part, _, _), acc in self._acc.items():
            if s == step and part == wanted:
                out.merge(acc)
        return out


def window_index(t: float, step_start: float, window_s: float) -> int:
    """The window of a sample ending at ``t`` in a step starting at ``step_start``."""
    return max(0, math.floor((t - step_start) / window_s))
