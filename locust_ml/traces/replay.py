"""Arrival statistics of a trace, and the data to replay its arrival pattern.

From a timestamp column we keep two things:

* **Statistics** for synthetic open-loop arrivals: the mean rate, the
  coefficient of variation (CV) of inter-arrival gaps (1 for a Poisson process;
  above 1 is burstier), and the shape of a gamma distribution fitted to the
  gaps by maximum likelihood (location 0; shape < 1 means bursty). A gamma
  process with that shape and the mean rate is the usual stand-in for "this
  traffic, at any rate"; the method-of-moments shape ``1 / CV²`` is recorded
  too since the two differ when the gaps have a heavy tail. Also a coarse
  rate-over-time curve (requests per bucket) for plots and sanity checks.
* **Replay data**: every gap itself, so a load test can send requests at the
  trace's exact relative times (or a time-scaled copy of them). Offsets from
  the first request are rounded to whole microseconds and stored as
  differences, so rounding never accumulates: the ``k``-th replayed time is
  within 0.5 us of the trace's. Gaps are packed (see
  :mod:`locust_ml.traces.packing`): the Azure conversation trace's 19,365
  gaps take ~65 KB.

Rows of a trace need not be sorted by time; the arrival pattern is the sorted
times, and ``sorted_in_trace`` says whether they were.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from locust_ml.errors import TraceError
from locust_ml.traces.packing import pack_uints, unpack_uints
from locust_ml.traces.schema import Field

__all__ = ["Arrivals", "fit_arrivals"]

_BUCKETS_S = (1, 5, 10, 30, 60, 300, 600, 3600, 86_400)
_MAX_BUCKETS = 100
_NS_PER_US = 1000


@dataclass(frozen=True, eq=False)
class Arrivals:
    """Arrival statistics and replay gaps of one trace's timestamp column."""

    column: str
    count: int
    start_epoch_ns: int
    duration_s: float
    mean_rate: float
    gap_cv: float
    gamma_shape: float
    gamma_scale: float
    gaps_us: npt.NDArray[np.int64]
    sorted_in_trace: bool = True
    rate_bucket_s: float = 60.0
    rate_curve: tuple[int, ...] = ()
    gap_summary: Mapping[str, float] = field(default_factory=dict)

    @property
    def start(self) -> str:
        """The first timestamp as ISO 8601 UTC with nanoseconds."""
        seconds, ns = divmod(self.start_epoch_ns, 1_000_000_000)
        when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"

    def gaps_s(self) -> npt.NDArray[np.float64]:
        """The ``count - 1`` inter-arrival gaps in seconds, in trace order."""
        return self.gaps_us / 1e6

    def timestamps_s(self) -> npt.NDArray[np.float64]:
        """Every arrival time in seconds from the first (which is 0.0)."""
        return np.concatenate(([0], np.cumsum(self.gaps_us))) / 1e6

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "count": self.count,
            "start": self.start,
            "start_epoch_ns": self.start_epoch_ns,
            "duration_s": round(self.duration_s, 6),
            "mean_rate_per_s": self.mean_rate,
            "gap_mean_s": round(self.duration_s / max(self.count - 1, 1), 9),
            "gap_cv": self.gap_cv,
            "gamma_shape": self.gamma_shape,
            "gamma_scale_s": self.gamma_scale,
            "gamma_shape_moments": round(1 / self.gap_cv**2, 6) if self.gap_cv > 0 else None,
            "gap_summary_s": dict(self.gap_summary),
            "sorted_in_trace": self.sorted_in_trace,
            "rate_curve": {"bucket_s": self.rate_bucket_s, "counts": list(self.rate_curve)},
            "replay": {"unit": "us", "gaps": pack_uints(self.gaps_us)},
        }

    @classmethod
    def from_json(cls, f: Field) -> Arrivals:
        count = f["count"].int(minimum=2)
        replay = f["replay"]
        replay["unit"].str(choices=("us",))
        gaps_field = replay["gaps"]
        gaps = unpack_uints(gaps_field)
        if gaps.size != count - 1:
            raise gaps_field.error(f"expected {count - 1} gaps (count - 1), got {gaps.size}")
        curve = f.get("rate_curve")
        bucket = curve["bucket_s"].number(positive=True) if curve else 60.0
        counts = tuple(int(c.int(minimum=0)) for c in curve["counts"].items()) if curve else ()
        summary_f = f.get("gap_summary_s")
        summary = {k: summary_f[k].number() for k in summary_f.dict()} if summary_f else {}
        sorted_f = f.get("sorted_in_trace")
        return cls(
            column=f["column"].str(),
            count=count,
            start_epoch_ns=f["start_epoch_ns"].int(),
            duration_s=f["duration_s"].number(positive=True),
            mean_rate=f["mean_rate_per_s"].number(positive=True),
            gap_cv=f["gap_cv"].number(minimum=0),
            gamma_shape=f["gamma_shape"].number(positive=True),
            gamma_scale=f["gamma_scale_s"].number(positive=True),
            gaps_us=gaps,
            sorted_in_trace=bool(sorted_f.value) if sorted_f else True,
            rate_bucket_s=bucket,
            rate_curve=counts,
            gap_summary=summary,
        )


#: Gamma shape reported for gaps that do not vary: the limit of k = 1/cv**2 as cv -> 0.
MAX_GAMMA_SHAPE = 1e6


def _gamma_fit(positive: npt.NDArray[np.float64], mean: float) -> tuple[float, float]:
    """Gamma shape and scale of the positive gaps, by maximum likelihood.

    Evenly spaced arrivals (a synthetic or rate-limited trace) have gaps that
    do not vary; scipy's fit then fails ("the function value at x=inf is
    NaN"), so they get the limit instead: a very large shape, the scale that
    keeps their mean. Any other failure falls back to the moments (or to
    exponential gaps when there are too few to say).
    """
    from scipy import stats

    if positive.size > 1 and float(positive.std()) <= 1e-9 * float(positive.mean()):
        return MAX_GAMMA_SHAPE, float(positive.mean()) / MAX_GAMMA_SHAPE
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            shape, _, scale = (
                stats.gamma.fit(positive, floc=0) if positive.size > 1 else (1, 0, mean)
            )
    except (ValueError, RuntimeError, FloatingPointError):
        var = float(positive.var()) if positive.size > 1 else 0.0
        shape, scale = (mean * mean / var, var / mean) if var > 0 else (1.0, mean)
    if not (math.isfinite(shape) and shape > 0 and math.isfinite(scale) and scale > 0):
        shape, scale = 1.0, mean
    return float(min(shape, MAX_GAMMA_SHAPE)), float(scale)


def fit_arrivals(column: str, timestamps_ns: npt.NDArray[np.int64], *, file: str) -> Arrivals:
    """Arrival statistics and replay gaps from a timestamp column (any order)."""
    ts = np.asarray(timestamps_ns, dtype=np.int64)
    if ts.size < 2:
        raise TraceError(
            f"{file}, column {column!r}: {ts.size} timestamp(s); at least 2 are needed "
            "to derive arrival gaps"
        )
    is_sorted = bool(np.all(ts[1:] >= ts[:-1]))
    if not is_sorted:
        ts = np.sort(ts, kind="stable")
    offsets_us = (ts - ts[0] + _NS_PER_US // 2) // _NS_PER_US
    gaps_us = np.diff(offsets_us)
    duration = float(offsets_us[-1]) / 1e6
    if duration <= 0:
        raise TraceError(
            f"{file}, column {column!r}: every timestamp is the same instant (to the "
            "microsecond); expected arrivals spread over time"
        )
    gaps = gaps_us / 1e6
    mean = float(gaps.mean())
    cv = float(gaps.std() / mean)
    shape, scale = _gamma_fit(gaps[gaps > 0], mean)
    bucket = next((b for b in _BUCKETS_S if duration / b <= _MAX_BUCKETS), _BUCKETS_S[-1])
    nbuckets = max(1, math.ceil(duration / bucket))
    curve = np.bincount((offsets_us // (bucket * 1_000_000)).astype(np.int64), minlength=nbuckets)
    summary = {
        "min": float(gaps.min()),
        "p50": float(np.percentile(gaps, 50)),
        "p90": float(np.percentile(gaps, 90)),
        "p99": float(np.percentile(gaps, 99)),
        "max": float(gaps.max()),
    }
    return Arrivals(
        column=column,
        count=int(ts.size),
        start_epoch_ns=int(ts[0]),
        duration_s=duration,
        mean_rate=(ts.size - 1) / duration,
        gap_cv=cv,
        gamma_shape=float(shape),
        gamma_scale=float(scale),
        gaps_us=gaps_us.astype(np.int64),
        sorted_in_trace=is_sorted,
        rate_bucket_s=float(bucket),
        rate_curve=tuple(int(c) for c in curve),
        gap_summary=summary,
    )
