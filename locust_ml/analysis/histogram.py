"""Latency histograms with three significant digits, mergeable and bounded.

Locust rounds every response time to about two significant digits before it
counts it (``stats.py:bucket_response_time``), so its p99 can be several
percent off, and it keeps only cumulative stats. SLO decisions sit at the p99
of one load step, so we keep our own histograms: HDR histograms (the
``hdrhistogram`` package) covering 1 microsecond to 1 hour with 3 significant
decimal digits, i.e. any reported percentile is within 0.1 % of a recorded
value at that rank. Memory is fixed by the range and precision (about 24k
counters), not by the number of samples, and two histograms merge exactly by
adding counters, which is what lets workers ship deltas to the master.

Values are recorded in integer microseconds; the public interface speaks
milliseconds (floats), as Locust's ``request`` event does.

Percentiles use the nearest-rank definition: the ``q``-th percentile of ``n``
samples is the sample at rank ``ceil(q/100 * n)``, reported as the highest
value equivalent to it at the histogram's precision (so never below it). They
are read from a numpy cumulative sum over the counters (microseconds), since
the library's own percentile and mean loops run in Python (milliseconds). The
mean is exact: we keep the sum of recorded values beside the counters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
from hdrh.histogram import HdrHistogram

from locust_ml.config import DEFAULT_PERCENTILES

__all__ = [
    "DEFAULT_PERCENTILES",
    "LatencyHistogram",
    "percentile_key",
]

LOWEST_US: Final = 1
HIGHEST_US: Final = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS: Final = 3

#: Percentiles reported by default, as in ``report.json``'s ``latency_ms`` keys.


def percentile_key(q: float) -> str:
    """The report key of percentile ``q``: ``50 -> "p50"``, ``99.9 -> "p99.9"``."""
    if not 0.0 < q <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {q!r}")
    return f"p{q:g}"


class LatencyHistogram:
    """An HDR histogram of latencies in milliseconds.

    >>> h = LatencyHistogram()
    >>> for ms in (1.0, 2.0, 3.0, 4.0):
    ...     h.record_ms(ms)
    >>> h.count, round(h.percentile_ms(50), 3)
    (4, 2.0)

    Values outside 1 us .. 1 h are clamped into range and counted in
    :attr:`clamped`, so nothing is silently dropped.
    """

    __slots__ = ("_h", "clamped", "sum_us")

    def __init__(
        self,
        _hdr: HdrHistogram | None = None,
        clamped: int = 0,
        sum_us: int = 0,
        *,
        digits: int = SIGNIFICANT_DIGITS,
    ) -> None:
        # ``digits=2`` (1 % precision, ~26 kB instead of ~190 kB) is for the
        # many short measurement windows; reported percentiles use 3.
        self._h: HdrHistogram = _hdr or HdrHistogram(LOWEST_US, HIGHEST_US, digits)
        self.clamped = clamped
        self.sum_us = sum_us

    def record_ms(self, value_ms: float, count: int = 1) -> None:
        """Record ``count`` occurrences of ``value_ms`` milliseconds."""
        if math.isnan(value_ms):
            raise ValueError("latency is NaN")
        us = round(value_ms * 1000.0)
        if us < LOWEST_US or us > HIGHEST_US:
            self.clamped += count
            us = min(max(us, LOWEST_US), HIGHEST_US)
        self._h.record_value(us, count)
        self.sum_us += us * count

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts into this histogram (exact)."""
        if other.count:
            self._h.add(other._h)
        self.clamped += other.clamped
        self.sum_us += other.sum_us

    def copy(self) -> LatencyHistogram:
        clone = LatencyHistogram(digits=self.digits)
        clone.merge(self)
        return clone

    @property
    def digits(self) -> int:
        return int(self._h.significant_figures)

    def record_many_ms(self, values_ms: Iterable[float]) -> None:
        """Record each of ``values_ms`` (e.g. one stream's inter-token latencies)."""
        for v in values_ms:
            self.record_ms(v)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile_ms(self, q: float) -> float:
        """The value at percentile ``q`` (0-100], in ms; NaN when empty."""
        return self.percentiles_ms((q,))[percentile_key(q)]

    def percentiles_ms(self, qs: Iterable[float] = DEFAULT_PERCENTILES) -> dict[str, float]:
        """``{"p50": ..., "p99.9": ...}`` in ms (NaN values when empty)."""
        qs = tuple(qs)
        n = self.count
        if not n:
            return {percentile_key(q): math.nan for q in qs}
        cumulative = np.cumsum(np.ctypeslib.as_array(self._h.counts))
        out = {}
        for q in qs:
            rank = max(1, math.ceil(q * n / 100.0 - 1e-9))
            index = int(np.searchsorted(cumulative, rank))
            value = self._h.get_highest_equivalent_value(self._h.get_value_from_index(index))
            out[percentile_key(q)] = min(value, self._h.get_max_value()) / 1000.0
        return out

    def counts_at_or_below_us(self, bounds_us: Iterable[int]) -> list[int]:
        """How many samples are <= each bound (microseconds), e.g. for Prometheus buckets.

        Exact up to the precision: a sample in the same HDR sub-bucket as the
        bound (within 0.1 % above it) counts as <= the bound.
        """
        total = self.count
        bounds = list(bounds_us)
        if not total:
            return [0] * len(bounds)
        h = self._h
        cumulative = np.cumsum(np.ctypeslib.as_array(h.counts)[: h.counts_len])
        highest = int(h.highest_trackable_value)
        out = []
        for us in bounds:
            if us < LOWEST_US:
                out.append(0)
            elif us >= highest:
                out.append(total)
            else:
                out.append(int(cumulative[h.get_counts_array_index(us)]))
        return out

    @property
    def min_ms(self) -> float:
        return float(self._h.get_min_value()) / 1000.0 if self.count else math.nan

    @property
    def max_ms(self) -> float:
        return float(self._h.get_max_value()) / 1000.0 if self.count else math.nan

    @property
    def mean_ms(self) -> float:
        return self.sum_us / self.count / 1000.0 if self.count else math.nan

    def encode(self) -> bytes:
        """Compact, self-describing wire form (compressed HDR encoding)."""
        data: bytes = self._h.encode()
        return data

    def to_wire(self) -> Mapping[str, object]:
        """A msgpack-friendly mapping (Locust ships worker reports as msgpack)."""
        return {"hdr": self.encode(), "clamped": self.clamped, "sum_us": self.sum_us}

    @classmethod
    def from_wire(cls, wire: Mapping[str, object]) -> LatencyHistogram:
        hdr, clamped, sum_us = wire.get("hdr"), wire.get("clamped", 0), wire.get("sum_us", 0)
        if not (
            isinstance(hdr, bytes | str) and isinstance(clamped, int) and isinstance(sum_us, int)
        ):
            raise ValueError(f"malformed histogram on the wire: {sorted(wire)}")
        try:
            decoded = HdrHistogram.decode(hdr)
        except Exception as exc:  # the codec raises a variety of errors on garbage
            raise ValueError(f"malformed histogram on the wire: {exc}") from None
        return cls(decoded, clamped, sum_us)
