"""The soak verdict: does anything drift or leak while the load is held?

A soak test holds one production-like load for hours. What it finds is not a
bad step - the per-step SLO verdict covers that - but a *trend*: tail latency
or the error rate creeping up (queues, fragmentation, thermal throttling, log
growth), or memory that only grows (a leak on the GPU or in the server
process). This module fits a trend to each such series over the hold and says
which ones rise significantly, by how much, and where they will be after
``project_hours`` (24 h by default) of the same load.

**Series.** Per measurement window of the held steps:

* ``latency_pXX`` - the window's latency percentile of each latency SLO
  (``p99`` without one), in ms; open-loop steps use the latency corrected for
  coordinated omission (``corrected_ms``), as their SLO verdict does;
* ``error_rate`` - failures / requests of the window;
* ``gpu_memory_used_bytes`` (per GPU) and ``process_resident_memory_bytes``
  (per target process) - the telemetry's mean over the window
  (``SeriesStats.window_means``), placed in time by its window index.

**Which windows.** Only steps labelled ``hold`` (``SoakPlan``'s held load;
``labels=`` changes this): the ramps change the load, so a trend across them
measures the ramp, not the system. Within a held step, windows that start
inside its first ``warmup_s`` seconds are dropped (queues fill, caches and
allocators warm up; a one-off rise there is not a leak), and so is a final
window shorter than half a window (its percentile rests on a few requests).
Time ``t`` is each window's midpoint, in hours since the start of the first
held step's post-warm-up part.

**The fit.** Each series gets two slopes:

* the **Theil-Sen** slope (median of the pairwise slopes,
  :func:`locust_ml.analysis.trend_test.theil_sen`) with its line through
  ``median(y) - slope * median(t)``. This is the reported ``slope_per_hour``
  and the line every derived number comes from. With a 29 % breakdown point
  it ignores the outliers a soak always has (a GC pause, a retried
  connection, one window of p99 = max of a few requests) and a one-off level
  change early in the hold, either of which tilts a least-squares line.
* the **Mann-Kendall** test (Kendall's tau between ``t`` and ``y``,
  :func:`locust_ml.analysis.trend_test.kendall_p_rising`, one-sided:
  "rising") gives ``p_value``. It
  is the rank test Theil-Sen's slope belongs to (Sen 1968), so the decision
  and the estimate are robust in the same way; a least-squares p-value
  measures the least-squares slope, which one outlier moves.

The ordinary least-squares slope and its p-value
(:func:`scipy.stats.linregress`) are reported beside them for comparison
(``ols_slope_per_hour``, ``ols_p_value``); they decide nothing. More than
``max_points`` windows (a 24 h soak has 17,280 five-second windows) are
first reduced to ``max_points`` consecutive bins (median value, mean time):
Theil-Sen costs ``O(n**2)`` memory, and binning also dampens the short-range
correlation between neighbouring windows that makes tests on raw windows too
eager.

**Derived numbers**, from the Theil-Sen line ``y(t) = a + b*t``:

* ``start_value = y(t_first)``, ``end_value = y(t_last)`` (fitted, not one
  noisy window); ``relative_change = (end - start) / start``;
* ``projected_value = y(project_hours)``: the value after ``project_hours``
  hours of held load (clipped to what the metric can reach: >= 0, an error
  rate <= 1, GPU memory <= the GPU's total);
* ``hours_to_limit = (limit - a) / b``: when the line reaches the series'
  limit - the SLO threshold for latency and errors, the GPU's
  ``gpu_memory_total_bytes`` for GPU memory (none for process memory).

**Flagged** (drift for latency and errors, a leak for memory) when all hold:
enough data; the slope is positive and ``p_value < alpha`` (0.01); and the
effect is material - a rise of more than ``min_relative_change`` (10 %) over
the run, or the line reaching its limit by ``project_hours``. The materiality
test keeps a statistically significant but harmless trend (1 MiB over 80 GB,
a p99 1 % higher after four hours) from failing a run; the projection catches
a slow rise that would matter only later. Relative change needs a positive
start; near zero (an error rate that starts at 0) the rise is measured
against a floor (0.1 percentage point of error rate, 1 ms, 1 MiB).

**Enough data** means at least ``min_windows`` (10) windows with a value.
The smallest one-sided Mann-Kendall p-value of ``n`` points is ``1/n!`` (a
perfectly ordered series, the most extreme of ``n!`` orderings): 0.042 at
4, 0.0083 at 5, so below 5 windows nothing can be significant at 0.01 and
at 5 or 6 only a perfectly monotone series is. With 10, a noisy trend can
reach significance and Theil-Sen's median tolerates two outliers; below
that a projection is a guess, and the trend says "not enough data" instead.

A verdict **passes** when no trend is flagged. ``conclusive`` is False when
the latency series lacked data (a soak too short, or without windows): then
nothing about drift can be said, which is not the same as "no drift".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import StepStats
from locust_ml.analysis.trend_test import (
    THEIL_SEN_MAX_POINTS,
    binned,
    kendall_p_rising,
    theil_sen,
)
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.errors import ConfigError

__all__ = [
    "DEFAULT_MEMORY_METRICS",
    "SoakConfig",
    "SoakTrend",
    "SoakVerdict",
    "TrendFit",
    "fit_trend",
    "soak_verdict",
]

#: Telemetry gauges watched for leaks.
DEFAULT_MEMORY_METRICS: Final = ("gpu_memory_used_bytes", "process_resident_memory_bytes")
#: The telemetry gauge that caps ``gpu_memory_used_bytes`` of the same GPU.
GPU_TOTAL_METRIC: Final = "gpu_memory_total_bytes"
#: Labels that identify one series of a metric in its name (others are kept in ``labels``).
_NAME_LABELS: Final = ("gpu", "pid")
_HOUR: Final = 3600.0
#: Relative change is measured against at least this much (by unit), so a
#: series starting at ~0 needs a real rise to count.
_FLOORS: Final = {"ms": 1.0, "ratio": 0.001, "bytes": float(1 << 20)}


@dataclass(frozen=True)
class SoakConfig:
    """The soak verdict's knobs (see the module docstring for each rule).

    >>> SoakConfig(project_hours=48).project_hours
    48.0
    """

    project_hours: float = 24.0
    warmup_s: float = 0.0
    labels: tuple[str, ...] = ("hold",)
    min_windows: int = 10
    alpha: float = 0.01
    min_relative_change: float = 0.10
    max_points: int = 240
    #: Window length in seconds; None infers it from the steps' windows.
    window_s: float | None = None
    memory_metrics: tuple[str, ...] = DEFAULT_MEMORY_METRICS

    def __post_init__(self) -> None:
        checks = (
            (
                math.isfinite(self.project_hours) and self.project_hours > 0,
                f"soak projection must be > 0 hours, got {self.project_hours!r}",
            ),
            (
                math.isfinite(self.warmup_s) and self.warmup_s >= 0,
                f"soak warm-up must be >= 0 s, got {self.warmup_s!r}",
            ),
            (
                self.min_windows >= 3,
                f"soak minimum windows must be >= 3, got {self.min_windows!r}",
            ),
            (0 < self.alpha < 1, f"soak alpha must be in (0, 1), got {self.alpha!r}"),
            (
                math.isfinite(self.min_relative_change) and self.min_relative_change >= 0,
                f"soak minimum relative change must be >= 0, got {self.min_relative_change!r}",
            ),
            (
                self.min_windows <= self.max_points <= THEIL_SEN_MAX_POINTS,
                f"soak max points ({self.max_points!r}) must be >= the minimum windows "
                f"({self.min_windows!r}) and <= {THEIL_SEN_MAX_POINTS}",
            ),
            (
                self.window_s is None or (math.isfinite(self.window_s) and self.window_s > 0),
                f"soak window must be > 0 s, got {self.window_s!r}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        object.__setattr__(self, "project_hours", float(self.project_hours))
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "memory_metrics", tuple(self.memory_metrics))


@dataclass(frozen=True)
class SoakTrend:
    """One series' trend over the hold. Values are in ``unit``; slopes per hour.

    ``start_value``/``end_value`` are the robust line at the first and last
    window, ``projected_value`` at ``projected_hours``. Every number is None
    when there was not enough data (``enough_data`` False).
    """

    name: str
    unit: str
    n: int
    slope_per_hour: float | None
    p_value: float | None
    start_value: float | None
    end_value: float | None
    projected_value: float | None
    projected_hours: float
    flagged: bool
    reason: str
    kind: str = "latency"  # latency | errors | memory
    source: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    enough_data: bool = True
    significant: bool = False
    relative_change: float | None = None
    span_hours: float | None = None
    limit: float | None = None
    hours_to_limit: float | None = None
    ols_slope_per_hour: float | None = None
    ols_p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: NaN and infinities become None; floats keep 6 significant digits."""
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "source": self.source,
            "labels": dict(self.labels),
            "n": self.n,
            "enough_data": self.enough_data,
            "slope_per_hour": _json(self.slope_per_hour),
            "p_value": _json(self.p_value),
            "significant": self.significant,
            "start_value": _json(self.start_value),
            "end_value": _json(self.end_value),
            "relative_change": _json(self.relative_change),
            "span_hours": _json(self.span_hours),
            "projected_value": _json(self.projected_value),
            "projected_hours": _json(self.projected_hours),
            "limit": _json(self.limit),
            "hours_to_limit": _json(self.hours_to_limit),
            "ols_slope_per_hour": _json(self.ols_slope_per_hour),
            "ols_p_value": _json(self.ols_p_value),
            "flagged": self.flagged,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class SoakVerdict:
    """All trends of a soak test. ``passed``: no trend flagged."""

    trends: tuple[SoakTrend, ...]
    passed: bool
    reasons: tuple[str, ...]
    #: False when the latency series had too little data to judge drift at all.
    conclusive: bool = True
    warnings: tuple[str, ...] = ()
    steps: tuple[int, ...] = ()
    window_s: float | None = None
    span_hours: float | None = None
    config: SoakConfig = field(default_factory=SoakConfig)

    @property
    def flagged(self) -> tuple[SoakTrend, ...]:
        return tuple(t for t in self.trends if t.flagged)

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "passed": self.passed,
            "conclusive": self.conclusive,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "steps": list(self.steps),
            "window_s": _json(self.window_s),
            "span_hours": _json(self.span_hours),
            "project_hours": _json(c.project_hours),
            "rule": {
                "labels": list(c.labels),
                "warmup_s": _json(c.warmup_s),
                "min_windows": c.min_windows,
                "alpha": c.alpha,
                "min_relative_change": c.min_relative_change,
                "slope": "theil-sen",
                "test": "mann-kendall",
            },
            "trends": [t.to_dict() for t in self.trends],
        }


def _json(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


# --------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class TrendFit:
    """A fitted trend: Theil-Sen slope (per hour) and line, Mann-Kendall and OLS p-values."""

    slope: float  # per hour (Theil-Sen)
    intercept: float  # at t = 0 h
    p_value: float  # Mann-Kendall, one-sided (rising)
    ols_slope: float
    ols_p_value: float


def fit_trend(
    t_hours: Sequence[float], values: Sequence[float], *, max_points: int = 240
) -> TrendFit:
    """Theil-Sen slope and line, one-sided Mann-Kendall p-value, and OLS for comparison.

    ``t_hours`` must hold at least two distinct times. A constant series has
    slope 0 and p-value 1.

    Theil-Sen and Mann-Kendall are :mod:`locust_ml.analysis.trend_test`;
    least squares is ``scipy.stats.linregress`` (for its t-distribution
    p-value), imported here on the first call, which costs a second or more.
    Not only the final report calls this: the web UI's live capacity tab
    judges the soak too, as soon as a hold step has ended - during the
    ramp-down step, while users still run - so a soak run imports scipy
    before its load (``plugin/control.py``, ``_preload_soak_analysis``).

    >>> fit = fit_trend([0, 1, 2, 3, 4, 5], [10, 12, 14, 16, 18, 100])
    >>> fit.slope, round(fit.intercept, 6), fit.p_value < 0.01
    (2.0, 10.0, True)
    """
    t, y = binned(t_hours, values, max_points)
    if np.ptp(y) == 0:
        return TrendFit(0.0, float(y[0]), 1.0, 0.0, 1.0)
    slope, intercept = theil_sen(t, y)
    p = kendall_p_rising(t, y)
    # Least squares' p-value needs the t distribution, and that is scipy's:
    # the first soak verdict of a process pays its import (a second or more).
    from scipy import stats

    ols = stats.linregress(t, y)
    return TrendFit(
        slope=slope,
        intercept=intercept,
        p_value=1.0 if math.isnan(p) else p,
        ols_slope=float(ols.slope),
        ols_p_value=float(ols.pvalue),
    )


# --------------------------------------------------------------------------- series


@dataclass
class _Series:
    name: str
    kind: str
    unit: str
    source: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    limit: float | None = None
    upper: float | None = None  # the metric's own maximum (1 for a ratio)
    points: list[tuple[float, float]] = field(default_factory=list)


def _infer_window_s(steps: Iterable[StepStats]) -> float | None:
    lengths = [w.seconds for s in steps for w in s.windows if w.seconds > 0]
    return max(lengths) if lengths else None


def _window_span(step: StepStats, index: int, window_s: float) -> tuple[float, float]:
    start = step.start + index * window_s
    return start, min(start + window_s, step.end)


def _kept(start: float, end: float, step: StepStats, c: SoakConfig, window_s: float) -> bool:
    """Post-warm-up, and not a final sliver shorter than half a window."""
    return start >= step.start + c.warmup_s - 1e-9 and end - start >= 0.5 * window_s - 1e-9


def _label_name(metric: str, labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k in _NAME_LABELS} or dict(labels)
    if not shown:
        return metric
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
    return f"{metric}{{{inner}}}"


def _request_series(
    held: Sequence[StepStats], slos: Sequence[SLO], c: SoakConfig, window_s: float, t0: float
) -> list[_Series]:
    latency_slos = {s.key: s for s in slos if s.metric == "latency" and s.key}
    keys = sorted(latency_slos, key=lambda k: latency_slos[k].percentile or 0.0) or ["p99"]
    errors = next((s for s in slos if s.metric == "errors"), None)
    out = [
        _Series(
            f"latency_{k}",
            "latency",
            "ms",
            limit=latency_slos[k].threshold if k in latency_slos else None,
        )
        for k in keys
    ]
    err = _Series(
        "error_rate", "errors", "ratio", limit=errors.threshold if errors else None, upper=1.0
    )
    for step in held:
        for w in step.windows:
            if not _kept(w.start, w.end, step, c, window_s) or w.requests <= 0:
                continue
            t = ((w.start + w.end) / 2 - t0) / _HOUR
            table = step.judged_window_ms(w)
            for k, series in zip(keys, out, strict=True):
                v = table.get(k)
                if v is not None and math.isfinite(v):
                    series.points.append((t, float(v)))
            err.points.append((t, w.failures / w.requests))
    return [*out, err]


def _memory_series(
    held: Sequence[StepStats],
    telemetry: Mapping[int, Sequence[SeriesStats]],
    c: SoakConfig,
    window_s: float,
    t0: float,
) -> list[_Series]:
    found: dict[tuple[str, str, tuple[tuple[str, str], ...]], _Series] = {}
    totals: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for step in held:
        for row in telemetry.get(step.id, ()):
            labels = tuple(sorted(row.labels.items()))
            if row.metric == GPU_TOTAL_METRIC and row.mean is not None:
                totals.setdefault((row.source, labels), []).append(row.mean)
            if row.metric not in c.memory_metrics or row.kind != "gauge":
                continue
            key = (row.source, row.metric, labels)
            series = found.get(key)
            if series is None:
                series = found[key] = _Series(
                    _label_name(row.metric, row.labels),
                    "memory",
                    "bytes",
                    source=row.source,
                    labels=dict(row.labels),
                )
            for index, mean in row.window_means.items():
                start, end = _window_span(step, int(index), window_s)
                if _kept(start, end, step, c, window_s) and math.isfinite(mean):
                    series.points.append((((start + end) / 2 - t0) / _HOUR, float(mean)))
    for (source, metric, labels), series in found.items():
        if metric == "gpu_memory_used_bytes":
            got = totals.get((source, labels))
            if got is None:  # the same GPU from another source
                gpu = dict(labels).get("gpu")
                got = next(
                    (
                        v
                        for (_, lab), v in sorted(totals.items())
                        if gpu and dict(lab).get("gpu") == gpu
                    ),
                    None,
                )
            series.limit = series.upper = max(got) if got else None
    # Names must tell series apart; add the source where two share a name.
    names = [s.name for s in found.values()]
    out = sorted(found.values(), key=lambda s: (s.name, s.source or ""))
    for s in out:
        if names.count(s.name) > 1:
            s.name = f"{s.name}@{s.source}"
    return out


# --------------------------------------------------------------------------- judging


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.4g} ms"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "bytes":
        if abs(value) >= 1 << 30:
            return f"{value / (1 << 30):.4g} GiB"
        return f"{value / (1 << 20):.4g} MiB"
    return f"{value:.4g} {unit}"


def _clip(value: float, series: _Series) -> float:
    value = max(value, 0.0)
    return min(value, series.upper) if series.upper is not None else value


def _judge(series: _Series, c: SoakConfig) -> SoakTrend:
    pts = sorted(series.points)
    n = len(pts)
    base: dict[str, Any] = {
        "name": series.name,
        "unit": series.unit,
        "n": n,
        "projected_hours": c.project_hours,
        "kind": series.kind,
        "source": series.source,
        "labels": series.labels,
        "limit": series.limit,
    }
    if n < c.min_windows or len({t for t, _ in pts}) < 2:
        return SoakTrend(
            **base,
            slope_per_hour=None,
            p_value=None,
            start_value=None,
            end_value=None,
            projected_value=None,
            flagged=False,
            enough_data=False,
            reason=f"{series.name}: not enough data ({n} windows, need {c.min_windows})",
        )
    t = [p[0] for p in pts]
    fit = fit_trend(t, [p[1] for p in pts], max_points=c.max_points)
    start = fit.intercept + fit.slope * t[0]
    end = fit.intercept + fit.slope * t[-1]
    on_line = fit.intercept + fit.slope * c.project_hours
    projected = _clip(on_line, series)
    rise = end - start
    floor = _FLOORS.get(series.unit, 0.0)
    relative = rise / start if start > 0 else None
    material_rise = rise > c.min_relative_change * max(start, floor)
    significant = fit.slope > 0 and fit.p_value < c.alpha
    hours_to_limit = None
    if series.limit is not None and fit.slope > 0:
        hours_to_limit = max((series.limit - fit.intercept) / fit.slope, 0.0)
    reaches_limit = hours_to_limit is not None and hours_to_limit <= c.project_hours
    flagged = significant and (material_rise or reaches_limit)

    what = {"latency": "drift", "errors": "drift", "memory": "leak"}[series.kind]
    change = (
        f"{relative * 100:+.3g}% over {t[-1] - t[0]:.3g} h"
        if relative is not None
        else f"{_fmt(start, series.unit)} -> {_fmt(end, series.unit)} over {t[-1] - t[0]:.3g} h"
    )
    slope_text = f"{_fmt(fit.slope, series.unit)}/h, p={fit.p_value:.2g}"
    proj = f"{_fmt(projected, series.unit)} at {c.project_hours:g} h"
    if projected != on_line:
        proj += f" (capped; the line gives {_fmt(on_line, series.unit)})"
    if flagged:
        why = []
        if material_rise:
            why.append(f"{change} (more than {c.min_relative_change * 100:g}%)")
        if reaches_limit and hours_to_limit is not None and series.limit is not None:
            why.append(
                f"reaches the limit {_fmt(series.limit, series.unit)} in {hours_to_limit:.3g} h"
            )
        reason = f"{series.name}: {what}: rising {slope_text}; {'; '.join(why)}; {proj}"
    elif significant:
        reason = f"{series.name}: rising ({slope_text}) but not materially: {change}; {proj}"
    elif fit.slope > 0 and fit.p_value < 0.5:
        reason = f"{series.name}: no significant rise ({slope_text}, alpha {c.alpha:g})"
    else:
        reason = f"{series.name}: flat or falling ({slope_text})"
    return SoakTrend(
        **base,
        slope_per_hour=fit.slope,
        p_value=fit.p_value,
        start_value=start,
        end_value=end,
        projected_value=projected,
        flagged=flagged,
        reason=reason,
        significant=significant,
        relative_change=relative,
        span_hours=t[-1] - t[0],
        hours_to_limit=hours_to_limit,
        ols_slope_per_hour=fit.ols_slope,
        ols_p_value=fit.ols_p_value,
    )


def soak_verdict(
    steps: Sequence[StepStats],
    telemetry_by_step: Mapping[int, Sequence[SeriesStats]] | None = None,
    slos: Sequence[SLO] = (),
    *,
    project_hours: float = 24.0,
    warmup_s: float = 0.0,
    window_s: float | None = None,
    config: SoakConfig | None = None,
) -> SoakVerdict | None:
    """Judge the held steps of a soak test; None when no step is a hold (not a soak).

    ``telemetry_by_step`` is the report's telemetry (step id -> series);
    ``slos`` choose the latency percentiles watched and the limits projected
    to. ``config`` overrides every knob at once (then ``project_hours``,
    ``warmup_s`` and ``window_s`` are ignored).
    """
    c = config or SoakConfig(project_hours=project_hours, warmup_s=warmup_s, window_s=window_s)
    held = sorted((s for s in steps if s.label in c.labels), key=lambda s: s.start)
    if not held:
        return None
    ws = c.window_s or _infer_window_s(held)
    ids = tuple(s.id for s in held)
    if ws is None:
        trend = _judge(_Series("latency_p99", "latency", "ms"), c)
        message = "no measurement windows in the held steps: no trend can be fitted"
        return SoakVerdict((trend,), True, (), False, (message,), ids, None, None, c)
    t0 = held[0].start + c.warmup_s
    series = _request_series(held, slos, c, ws, t0)
    series += _memory_series(held, telemetry_by_step or {}, c, ws, t0)
    trends = tuple(_judge(s, c) for s in series)
    flagged = tuple(t.reason for t in trends if t.flagged)
    warnings = tuple(t.reason for t in trends if not t.enough_data)
    conclusive = all(t.enough_data for t in trends if t.kind == "latency")
    spans = [t.span_hours for t in trends if t.span_hours is not None]
    return SoakVerdict(
        trends=trends,
        passed=not flagged,
        reasons=flagged,
        conclusive=conclusive,
        warnings=warnings,
        steps=ids,
        window_s=ws,
        span_hours=max(spans) if spans else None,
        config=c,
    )
