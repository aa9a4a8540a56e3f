"""Load steps: when each began and ended, and what was measured during it.

A *step* is a stretch of the test at one offered load (a user count for closed
loop, a target rate for open loop). Capacity analysis works per step, so every
sample is tagged with the step that was current when it was taken.

Three pieces, all pure:

* :class:`StepLog` — the master's record of step boundaries. It is told the
  current load (``observe``) and opens a new step whenever that changes, so it
  works with any shape, ours or a user's, and with manual changes in the web UI.
* :class:`StepSamples` — per (step, endpoint) accumulators: an HDR latency
  histogram plus request/failure/byte counts. Workers fill one and ship it as
  a delta (``drain_wire``); the master merges deltas exactly (``merge_wire``).
* :func:`summarize_steps` — turns the two into immutable :class:`StepStats`.

Samples taken before a worker heard of the first step carry step id 0; they
are the earliest of the run and are folded into the first step, so totals
always equal the number of requests sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES, LatencyHistogram

__all__ = [
    "EndpointKey",
    "EndpointStats",
    "StepLog",
    "StepSamples",
    "StepSpan",
    "StepStats",
    "Totals",
    "summarize_steps",
    "summarize_totals",
]

#: (request_type, name), as Locust names an endpoint in its stats table.
EndpointKey = tuple[str, str]


@dataclass(frozen=True)
class StepSpan:
    """One step's boundaries and load. ``end`` is None while the step runs."""

    id: int
    start: float
    end: float | None
    users: int | None
    offered_rps: float | None = None

    def closed(self, end: float) -> StepSpan:
        return StepSpan(self.id, self.start, end, self.users, self.offered_rps)


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
        self, now: float, *, users: int | None, offered_rps: float | None = None
    ) -> StepSpan | None:
        """Record the load at ``now``; return the new step if one opened."""
        cur = self._current
        if cur is not None and (cur.users, cur.offered_rps) == (users, offered_rps):
            return None
        if cur is not None:
            self._closed.append(cur.closed(max(now, cur.start)))
        self._current = StepSpan(
            id=(cur.id + 1) if cur else 1, start=now, end=None, users=users, offered_rps=offered_rps
        )
        return self._current

    def close(self, now: float) -> tuple[StepSpan, ...]:
        """End the running step at ``now`` (idempotent) and return all steps."""
        if self._current is not None:
            self._closed.append(self._current.closed(max(now, self._current.start)))
            self._current = None
        return tuple(self._closed)

    def spans(self, now: float) -> tuple[StepSpan, ...]:
        """All steps so far, the running one provisionally ending at ``now``."""
        cur = self._current
        tail = (cur.closed(max(now, cur.start)),) if cur else ()
        return (*self._closed, *tail)


@dataclass
class _Accumulator:
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    requests: int = 0
    failures: int = 0
    bytes: int = 0

    def merge(self, other: _Accumulator) -> None:
        self.latency.merge(other.latency)
        self.requests += other.requests
        self.failures += other.failures
        self.bytes += other.bytes


class StepSamples:
    """Per-step, per-endpoint accumulators; mergeable; bounded memory.

    Memory grows with steps x endpoints (each a fixed-size histogram), never
    with the number of requests.
    """

    def __init__(self) -> None:
        self._acc: dict[tuple[int, str, str], _Accumulator] = {}

    def record(
        self,
        step: int,
        endpoint: EndpointKey,
        latency_ms: float,
        *,
        failed: bool = False,
        nbytes: int = 0,
    ) -> None:
        key = (step, endpoint[0], endpoint[1])
        acc = self._acc.get(key)
        if acc is None:
            acc = self._acc[key] = _Accumulator()
        acc.latency.record_ms(latency_ms)
        acc.requests += 1
        acc.failures += int(failed)
        acc.bytes += nbytes

    def __len__(self) -> int:
        return len(self._acc)

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self._acc.values())

    def merge(self, other: StepSamples) -> None:
        for key, acc in other._acc.items():
            mine = self._acc.get(key)
            if mine is None:
                mine = self._acc[key] = _Accumulator()
            mine.merge(acc)

    def to_wire(self) -> list[dict[str, object]]:
        """A msgpack-friendly list of rows (lists and bytes only, no tuples/sets)."""
        return [
            {
                "step": step,
                "type": rtype,
                "name": name,
                "requests": acc.requests,
                "failures": acc.failures,
                "bytes": acc.bytes,
                "latency": dict(acc.latency.to_wire()),
            }
            for (step, rtype, name), acc in self._acc.items()
        ]

    def drain_wire(self) -> list[dict[str, object]]:
        """Return the wire form and reset: what a worker ships each report."""
        wire = self.to_wire()
        self._acc.clear()
        return wire

    @classmethod
    def from_wire(cls, rows: Iterable[Mapping[str, object]]) -> StepSamples:
        out = cls()
        for row in rows:
            try:
                step, rtype, name = row["step"], row["type"], row["name"]
                requests, failures, nbytes = row["requests"], row["failures"], row["bytes"]
                latency = row["latency"]
            except KeyError as exc:
                raise ValueError(f"malformed step sample row, missing {exc}") from None
            if not (
                isinstance(step, int)
                and isinstance(rtype, str)
                and isinstance(name, str)
                and isinstance(requests, int)
                and isinstance(failures, int)
                and isinstance(nbytes, int)
                and isinstance(latency, Mapping)
            ):
                raise ValueError(f"malformed step sample row: {row!r:.200}")
            acc = _Accumulator(LatencyHistogram.from_wire(latency), requests, failures, nbytes)
            key = (step, rtype, name)
            if key in out._acc:
                out._acc[key].merge(acc)
            else:
                out._acc[key] = acc
        return out

    def merge_wire(self, rows: Iterable[Mapping[str, object]]) -> None:
        self.merge(StepSamples.from_wire(rows))

    def by_step(self, first_step: int) -> dict[int, dict[EndpointKey, _Accumulator]]:
        """Accumulators grouped by step, step 0 folded into ``first_step``."""
        grouped: dict[int, dict[EndpointKey, _Accumulator]] = {}
        for (step, rtype, name), acc in self._acc.items():
            sid = first_step if step == 0 else step
            per = grouped.setdefault(sid, {})
            mine = per.get((rtype, name))
            if mine is None:
                mine = per[(rtype, name)] = _Accumulator()
            mine.merge(acc)
        return grouped


@dataclass(frozen=True)
class EndpointStats:
    """One endpoint's numbers within a step (or over the run)."""

    request_type: str
    name: str
    requests: int
    failures: int
    bytes: int
    achieved_rps: float | None
    latency_ms: Mapping[str, float | None]
    mean_ms: float | None
    max_ms: float | None


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
    latency_ms: Mapping[str, float | None]
    endpoints: tuple[EndpointStats, ...]

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
    latency_ms: Mapping[str, float | None]
    endpoints: tuple[EndpointStats, ...]


def _nan_to_none(x: float) -> float | None:
    return None if math.isnan(x) else x


def _rate(n: int, duration: float) -> float | None:
    return n / duration if duration > 0 else None


def _endpoint_stats(
    key: EndpointKey, acc: _Accumulator, duration: float, percentiles: Sequence[float]
) -> EndpointStats:
    return EndpointStats(
        request_type=key[0],
        name=key[1],
        requests=acc.requests,
        failures=acc.failures,
        bytes=acc.bytes,
        achieved_rps=_rate(acc.requests, duration),
        latency_ms={k: _nan_to_none(v) for k, v in acc.latency.percentiles_ms(percentiles).items()},
        mean_ms=_nan_to_none(acc.latency.mean_ms),
        max_ms=_nan_to_none(acc.latency.max_ms),
    )


def _combine(accs: Iterable[_Accumulator]) -> _Accumulator:
    total = _Accumulator()
    for acc in accs:
        total.merge(acc)
    return total


def summarize_steps(
    spans: Sequence[StepSpan],
    samples: StepSamples,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> tuple[StepStats, ...]:
    """One :class:`StepStats` per closed span, in order.

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
                latency_ms={
                    k: _nan_to_none(v) for k, v in total.latency.percentiles_ms(percentiles).items()
                },
                endpoints=tuple(
                    _endpoint_stats(key, acc, duration, percentiles)
                    for key, acc in sorted(per.items())
                ),
            )
        )
    return tuple(out)


def summarize_totals(
    samples: StepSamples,
    duration: float,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> Totals:
    """Totals over every sample, whatever step it carries."""
    per: dict[EndpointKey, _Accumulator] = {}
    for step_map in samples.by_step(first_step=0).values():
        for key, acc in step_map.items():
            per.setdefault(key, _Accumulator()).merge(acc)
    total = _combine(per.values())
    return Totals(
        requests=total.requests,
        failures=total.failures,
        latency_ms={
            k: _nan_to_none(v) for k, v in total.latency.percentiles_ms(percentiles).items()
        },
        endpoints=tuple(
            _endpoint_stats(key, acc, duration, percentiles) for key, acc in sorted(per.items())
        ),
    )
