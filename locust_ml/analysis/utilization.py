"""Telemetry readings grouped per load step: how busy the target was at each load.

The master reads GPU and server metrics about once a second and tags every
reading with the current step and measurement window. This module keeps, per
(step, series), what the report needs - not every reading, so memory grows
with steps x series (plus one mean per window for time series), not with the
test's length:

* a **gauge** (utilization, bytes in use, queue depth): count, mean, min, max,
  first and last value, and the mean of each window;
* a **counter** (cumulative since the source started): the increase over the
  step and the time it spans, giving a rate; a decrease means the source
  restarted, and the increase is then counted from the new value;
* a **summary** part (``<name>_sum`` / ``<name>_count``, e.g. a server's
  queue-time histogram): both parts' increases, giving the step's mean as
  delta(sum) / delta(count).

Pure: readings are plain data (the glue converts the telemetry adapters'
samples), so this works the same on recorded data in tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Reading", "SeriesStats", "UtilizationLog"]

Labels = tuple[tuple[str, str], ...]
#: (source, metric as sampled, labels)
SeriesKey = tuple[str, str, Labels]


@dataclass(frozen=True, slots=True)
class Reading:
    """One telemetry reading, tagged with its step and window."""

    step: int
    window: int | None
    t: float
    source: str
    metric: str
    labels: Labels
    value: float
    kind: str = "gauge"  # gauge | counter | summary


@dataclass
class _Series:
    kind: str
    n: int = 0
    total: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    first: float = math.nan
    last: float = math.nan
    t_first: float = math.nan
    t_last: float = math.nan
    increase: float = 0.0
    windows: dict[int, list[float]] = field(default_factory=dict)  # window -> [sum, n]

    def add(self, r: Reading) -> None:
        v = r.value
        if self.n == 0:
            self.first, self.t_first = v, r.t
        elif self.kind != "gauge":
            self.increase += v - self.last if v >= self.last else v  # a restart counts from 0
        self.n += 1
        self.total += v
        self.lo = min(self.lo, v)
        self.hi = max(self.hi, v)
        self.last, self.t_last = v, r.t
        if r.window is not None:
            acc = self.windows.setdefault(r.window, [0.0, 0.0])
            acc[0] += v
            acc[1] += 1


@dataclass(frozen=True)
class SeriesStats:
    """One series over one step."""

    source: str
    metric: str
    labels: Mapping[str, str]
    kind: str
    samples: int
    mean: float | None
    min: float | None
    max: float | None
    last: float | None
    #: counters: increase per second over the step; summaries: see ``mean``.
    rate_per_s: float | None
    #: gauges: the mean of each window, by window index.
    window_means: Mapping[int, float]


class UtilizationLog:
    """Telemetry readings aggregated per (step, series)."""

    def __init__(self) -> None:
        self._series: dict[tuple[int, SeriesKey], _Series] = {}

    def add(self, reading: Reading) -> None:
        if not math.isfinite(reading.value):
            return
        key = (reading.step, (reading.source, reading.metric, reading.labels))
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series(reading.kind)
        s.add(reading)

    def extend(self, readings: Iterable[Reading]) -> None:
        for r in readings:
            self.add(r)

    def __len__(self) -> int:
        return len(self._series)

    def steps(self) -> tuple[int, ...]:
        return tuple(sorted({step for step, _ in self._series}))

    def step_stats(self, step: int) -> tuple[SeriesStats, ...]:
        """Every series seen in ``step``; summaries merged into one row each."""
        rows: list[SeriesStats] = []
        parts: dict[tuple[str, str, Labels], dict[str, _Series]] = {}
        for (s_step, (source, metric, labels)), s in sorted(self._series.items()):
            if s_step != step:
                continue
            if s.kind == "summary":
                base, _, part = metric.rpartition("_")
                parts.setdefault((source, base, labels), {})[part] = s
                continue
            span = s.t_last - s.t_first
            rate = s.increase / span if s.kind == "counter" and span > 0 else None
            rows.append(
                SeriesStats(
                    source=source,
                    metric=metric,
                    labels=dict(labels),
                    kind=s.kind,
                    samples=s.n,
                    mean=s.total / s.n if s.kind == "gauge" else None,
                    min=s.lo if s.kind == "gauge" else None,
                    max=s.hi if s.kind == "gauge" else None,
                    last=s.last,
                    rate_per_s=rate,
                    window_means=(
                        {w: a[0] / a[1] for w, a in sorted(s.windows.items())}
                        if s.kind == "gauge"
                        else {}
                    ),
                )
            )
        for (source, base, labels), p in sorted(parts.items()):
            total, count = p.get("sum"), p.get("count")
            mean = (
                total.increase / count.increase
                if total is not None and count is not None and count.increase > 0
                else None
            )
            rows.append(
                SeriesStats(
                    source=source,
                    metric=base,
                    labels=dict(labels),
                    kind="summary",
                    samples=max(x.n for x in p.values()),
                    mean=mean,
                    min=None,
                    max=None,
                    last=None,
                    rate_per_s=None,
                    window_means={},
                )
            )
        return tuple(rows)

    def mean_of(self, step: int, metric: str) -> float | None:
        """The mean of ``metric`` over the step, across all its series (e.g. all GPUs)."""
        vals = [r.mean for r in self.step_stats(step) if r.metric == metric and r.mean is not None]
        return sum(vals) / len(vals) if vals else None
