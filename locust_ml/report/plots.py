"""The report's two plots, drawn from the JSON form and embedded as inline SVG.

* **Latency vs throughput**: one point per step, achieved req/s against
  p50/p95/p99 latency, with the knee, the SLO capacity (and its confidence
  band), the saturation point and the latency SLO thresholds drawn on it. This
  is the picture a capacity number comes from: where latency turns up, and how
  far below that the SLO lets a replica run.
* **Time series**: the run window by window - latency, achieved and offered
  rate, failures and GPU utilization - with the steps shaded, so a reader can
  see whether a step was steady or drifting before trusting its numbers.

Why this shape:

* The plots read the typed report (``locust-ml report results.json``
  re-draws them from a saved file through
  :func:`~locust_ml.report.load.load_report`); latency is each step's judged
  latency (from the intended send time in open loop), the one rule
  :attr:`~locust_ml.analysis.steps.StepStats.judged_latency_ms` states.
* Figures are built on :class:`matplotlib.figure.Figure` directly, never
  ``pyplot``: no backend is selected, no global figure registry grows, nothing
  needs a display, and a Locust master (or a test) that imports this module is
  left as it was.
* SVG rather than PNG: crisp at any zoom, small for a few hundred points, and
  text stays text. The SVG is stripped of its XML prologue, namespace
  declarations and metadata (all of which carry ``http://`` URIs) so that the
  HTML page references no URL at all; the HTML parser puts inline ``<svg>``
  in the SVG namespace by itself. Element ids (and references to them) get
  a per-plot prefix, as ids are page-wide in HTML, and a fixed hash salt, so
  the same report always gives byte-identical SVG.
* Text from the run (step labels) is redacted
  (:func:`~locust_ml.report.redact.redact_text`) and drawn with
  ``parse_math=False``, so a ``$`` in a label is a dollar sign, not a
  mathtext error; matplotlib's SVG writer escapes ``<``/``>``/``&`` in text.

Each ``*_figure`` function returns ``None`` when there is nothing to draw (no
steps, no windows, no latency at all); the HTML says "no data" instead.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from locust_ml.analysis.capacity import CapacityAnalysis, CurvePoint, points_from_steps
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import StepStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.report.model import RunReport
from locust_ml.report.redact import redact_text

__all__ = [
    "curve_points",
    "figure_to_svg",
    "latency_slos",
    "latency_throughput_figure",
    "latency_throughput_svg",
    "timeseries_figure",
    "timeseries_svg",
]

#: Percentiles drawn on the latency-throughput curve, with their colours.
CURVE_PERCENTILES: Final = (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728"))
#: Spread of latencies (max / min) past which the latency axis is logarithmic.
LOG_SCALE_RATIO: Final = 20.0
GPU_METRIC: Final = "gpu_utilization_ratio"

_CAPACITY_COLOUR: Final = "#2ca02c"
_KNEE_COLOUR: Final = "#9467bd"
_STEP_SHADE: Final = "#000000"


def curve_points(report: RunReport) -> list[CurvePoint]:
    """The curve's points by achieved rate: the capacity analysis's, else the judged steps'."""
    c = report.capacity
    points = c.curve if c is not None else points_from_steps(report.steps, report.judgements)
    return sorted(points, key=lambda p: p.achieved_rps)


def latency_slos(slos: Sequence[SLO]) -> list[SLO]:
    """The request-latency SLOs (``p99<500ms``...), drawn as thresholds."""
    return [s for s in slos if s.metric == "latency"]


def _fmt_rate(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


#: Margins around the axes, in inches: room for tick labels of up to ~7 characters
#: and an axis label on the left, the x label below, a title above.
_MARGINS_IN: Final = {"left": 0.95, "right": 0.2, "bottom": 0.6, "top": 0.4}


def _margins(fig: Figure, hspace: float | None = None) -> None:
    """Fixed margins instead of a layout engine.

    Constrained (or tight) layout draws the figure once more to measure its
    text: half of the time a report's plots take (0.45 of 0.85 s per report
    here), paid at the end of every run. Our labels are short and known, so
    fixed margins in inches fit them at this figure width.
    """
    width, height = fig.get_size_inches()
    m = _MARGINS_IN
    fig.subplots_adjust(
        left=m["left"] / width,
        right=1.0 - m["right"] / width,
        bottom=m["bottom"] / height,
        top=1.0 - m["top"] / height,
        hspace=hspace,
    )


def latency_throughput_figure(report: RunReport) -> Figure | None:
    """Achieved req/s (x) vs latency percentiles (y), one point per step; None if empty."""
    points = curve_points(report)
    capacity = report.capacity
    key = capacity.latency_key if capacity is not None else "p99"
    series = [*CURVE_PERCENTILES]
    if key not in {k for k, _ in series}:
        series.append((key, "#8c564b"))
    ys = [y for p in points for k, _ in series if (y := _finite(p.latency_ms.get(k))) is not None]
    if not ys:
        return None

    fig = Figure(figsize=(9.0, 4.8))
    _margins(fig)
    ax = fig.add_subplot()
    for name, colour in series:
        xy = [
            (p.achieved_rps, y)
            for p in points
            if (y := _finite(p.latency_ms.get(name))) is not None
        ]
        if xy:
            ax.plot(*zip(*xy, strict=True), marker="o", ms=4, color=colour, label=name)
    _mark_steps(ax, points, key)
    thresholds = latency_slos(report.slos)
    for slo in thresholds:
        ax.axhline(slo.threshold, ls="--", lw=1, color="#7f7f7f", label=f"SLO {slo}")
    positive = [y for y in ys + [s.threshold for s in thresholds] if y > 0]
    if positive and max(positive) / min(positive) > LOG_SCALE_RATIO:
        _log_y(ax)
    if capacity is not None:
        _mark_capacity(ax, capacity)

    ax.set_xlabel("achieved requests/s")
    ax.set_ylabel(f"latency (ms{', log scale' if ax.get_yscale() == 'log' else ''})")
    ax.set_title("Latency vs throughput, one point per step (numbers: step ids)")
    ax.set_xlim(left=0)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    return fig


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _log_y(ax: Axes) -> None:
    """A log latency axis labelled 10, 20, 50, 100... (milliseconds read better than 10^2)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _mark_steps(ax: Axes, points: Sequence[CurvePoint], key: str) -> None:
    """Step ids next to the knee percentile's points; a cross on steps that failed."""
    failing = [
        (p.achieved_rps, y)
        for p in points
        if p.passed is False and (y := p.latency_ms.get(key)) is not None
    ]
    if failing:
        ax.plot(
            *zip(*failing, strict=True),
            ls="none",
            marker="x",
            ms=9,
            mew=2,
            color="#000000",
            label="step failed its SLOs",
        )
    for p in points:
        y = p.latency_ms.get(key)
        if p.step is not None and y is not None:
            ax.annotate(
                str(p.step),
                (p.achieved_rps, y),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color="#555555",
            )


def _mark_capacity(ax: Axes, capacity: CapacityAnalysis) -> None:
    """SLO capacity (with its interval), saturation and the knee, where known."""
    ci = capacity.slo_rps_ci
    if ci is not None and ci[1] is not None:
        ax.axvspan(
            ci[0], ci[1], color=_CAPACITY_COLOUR, alpha=0.15, lw=0, label="capacity 95% interval"
        )
    slo_rps = capacity.slo_rps
    if slo_rps is not None:
        ax.axvline(
            slo_rps, color=_CAPACITY_COLOUR, lw=2, label=f"SLO capacity {_fmt_rate(slo_rps)}/s"
        )
    saturation = capacity.saturation_rps
    if saturation is not None:
        ax.axvline(
            saturation,
            color="#444444",
            ls=":",
            lw=1.5,
            label=f"saturation {_fmt_rate(saturation)}/s",
        )
    knee_x, knee_y = capacity.knee_rps, _finite(capacity.knee_latency_ms)
    if knee_x is not None and knee_y is not None:
        ax.plot(
            [knee_x],
            [knee_y],
            ls="none",
            marker="*",
            ms=16,
            color=_KNEE_COLOUR,
            mec="#000000",
            label=f"knee {_fmt_rate(knee_x)}/s, {knee_y:.4g} ms",
        )
    elif knee_x is not None:
        ax.axvline(knee_x, color=_KNEE_COLOUR, ls="-.", label=f"knee {_fmt_rate(knee_x)}/s")


@dataclass(frozen=True)
class _Window:
    step: int
    index: int
    start: float
    end: float
    requests: int
    failures: int
    achieved_rps: float | None
    p50: float | None
    p99: float | None

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


def _windows(step: StepStats) -> list[_Window]:
    out = []
    for w in step.windows:
        lat = step.judged_window_ms(w)
        out.append(
            _Window(
                step=step.id,
                index=w.index,
                start=w.start,
                end=w.end,
                requests=w.requests,
                failures=w.failures,
                achieved_rps=w.achieved_rps,
                p50=lat.get("p50"),
                p99=lat.get("p99"),
            )
        )
    return out


def _gpu_by_window(rows: Sequence[SeriesStats]) -> dict[int, float]:
    """Mean GPU utilization (0..1) per window index, across all GPUs of the step."""
    acc: dict[int, list[float]] = {}
    for series in rows:
        if series.metric == GPU_METRIC:
            for index, value in series.window_means.items():
                acc.setdefault(index, []).append(value)
    return {i: sum(vs) / len(vs) for i, vs in sorted(acc.items())}


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _shade_steps(axes: Sequence[Axes], spans: Sequence[tuple[int, str, float, float]]) -> None:
    for n, (_, _, start, end) in enumerate(spans):
        if n % 2 == 0:
            for ax in axes:
                ax.axvspan(start, end, color=_STEP_SHADE, alpha=0.05, lw=0)
        for ax in axes:
            ax.axvline(start, color="#999999", lw=0.5)
    top = axes[0]
    for sid, label, start, end in spans:
        text = f"{sid}" if not label else f"{sid}: {redact_text(label)}"
        top.text(
            (start + end) / 2,
            1.02,
            text,
            transform=top.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            color="#555555",
            clip_on=False,
            parse_math=False,
        )


@dataclass
class _Timeline:
    """What the time series draw, in seconds since ``t0``."""

    t0: float
    windows: list[_Window]
    #: (step id, label, start, end)
    spans: list[tuple[int, str, float, float]]
    #: (start, end, offered rate) of open-loop steps
    offered: list[tuple[float, float, float]]
    #: (time, utilization 0..1), mean over GPUs per window
    gpu: list[tuple[float, float]]


def _timeline(report: RunReport) -> _Timeline | None:
    tl = _Timeline(0.0, [], [], [], [])
    for step in report.steps:
        ws = _windows(step)
        tl.windows += ws
        tl.spans.append((step.id, step.label, step.start, step.end))
        if step.offered_rps is not None:
            tl.offered.append((step.start, step.end, step.offered_rps))
        mids = {w.index: w.mid for w in ws}
        for index, util in _gpu_by_window(report.telemetry.get(step.id, ())).items():
            mid = mids.get(index)
            if mid is None and report.window_s is not None:
                mid = step.start + (index + 0.5) * report.window_s
            if mid is not None:
                tl.gpu.append((mid, util))
    if not tl.windows:
        return None
    starts = [w.start for w in tl.windows] + [s for _, _, s, _ in tl.spans]
    tl.t0 = min([*starts, report.run.started_at])
    return tl


def timeseries_figure(report: RunReport) -> Figure | None:
    """Per-window latency, rate, failures and GPU utilization over the run; None if empty."""
    tl = _timeline(report)
    if tl is None:
        return None
    panels = 4 if tl.gpu else 3
    fig = Figure(figsize=(9.0, 1.9 * panels + 0.6))
    _margins(fig, hspace=0.3)
    axes: list[Axes] = list(fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0])
    t0 = tl.t0
    _shade_steps(axes, [(sid, label, s - t0, e - t0) for sid, label, s, e in tl.spans])
    _latency_panel(axes[0], tl)
    _rate_panel(axes[1], tl)
    _failure_panel(axes[2], tl)
    if tl.gpu:
        gx, gy = zip(*sorted(tl.gpu), strict=True)
        axes[3].plot(
            [x - t0 for x in gx],
            [100 * y for y in gy],
            marker=".",
            color="#9467bd",
            label="mean over GPUs",
        )
        axes[3].set_ylabel("GPU util (%)")
        axes[3].set_ylim(0, 105)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("seconds since the run started (shaded bands and numbers: steps)")
    return fig


def _latency_panel(ax: Axes, tl: _Timeline) -> None:
    xs = [w.mid - tl.t0 for w in tl.windows]
    ax.plot(xs, [_nan(w.p50) for w in tl.windows], marker=".", color="#1f77b4", label="p50")
    ax.plot(xs, [_nan(w.p99) for w in tl.windows], marker=".", color="#d62728", label="p99")
    values = [v for w in tl.windows for v in (w.p50, w.p99) if v is not None and v > 0]
    if values and max(values) / min(values) > LOG_SCALE_RATIO:
        _log_y(ax)
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="upper left", fontsize=8)


def _rate_panel(ax: Axes, tl: _Timeline) -> None:
    xs = [w.mid - tl.t0 for w in tl.windows]
    rates = [_nan(w.achieved_rps) for w in tl.windows]
    ax.plot(xs, rates, marker=".", color="#2ca02c", label="achieved/s")
    for n, (start, end, rate) in enumerate(tl.offered):
        ax.hlines(
            rate,
            start - tl.t0,
            end - tl.t0,
            colors="#555555",
            linestyles="--",
            label="offered/s" if n == 0 else "_nolegend_",
        )
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)


def _failure_panel(ax: Axes, tl: _Timeline) -> None:
    ws = tl.windows
    ax.bar(
        [w.start - tl.t0 for w in ws],
        [w.failures / (w.end - w.start) if w.end > w.start else 0.0 for w in ws],
        width=[max(w.end - w.start, 0.0) for w in ws],
        align="edge",
        color="#d62728",
        alpha=0.8,
    )
    ax.set_ylabel("failures/s")
    ax.set_ylim(bottom=0)


_PROLOGUE: Final = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA: Final = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_XMLNS: Final = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
#: An element id, or a reference to one (``href="#id"``, ``url(#id)``).
_ID_REF: Final = re.compile(r'(?P<lead>\sid="|href="#|url\(#)(?P<id>[^")]+)')


def figure_to_svg(fig: Figure, name: str, *, title: str | None = None) -> str:
    """``fig`` as an inline ``<svg>`` element that references no URL.

    ``name`` salts the element ids (unique per plot in a page, stable across
    runs); ``title`` becomes the accessible name of the image.
    """
    buf = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"locust-ml-{name}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _PROLOGUE.sub("", buf.getvalue(), count=1)
    svg = _METADATA.sub("", svg, count=1)
    # Element ids are page-wide in HTML: give this plot's their own prefix.
    svg = _ID_REF.sub(lambda m: f"{m['lead']}{name}-{m['id']}", svg)
    head, sep, rest = svg.partition(">")
    head = _XMLNS.sub("", head)
    attrs = f' class="plot" data-plot="{name}" role="img"'
    if title is not None:
        attrs += f' aria-label="{_attr(title)}"'
    return head + attrs + sep + rest.rstrip() + "\n"


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def latency_throughput_svg(report: RunReport | Mapping[str, Any]) -> str | None:
    """The latency-throughput plot as inline SVG, or None when there is no data.

    The live web UI (``plugin/liveplot.py``) still hands the JSON form
    (``report.json``, or :func:`~locust_ml.report.json.curve_dict` while the
    test runs); it is read back through :mod:`.load`. Once the glue passes
    the typed report, this takes :class:`RunReport` only.
    """
    if not isinstance(report, RunReport):
        from locust_ml.report.load import curve_report_from_dict

        report = curve_report_from_dict(report)
    fig = latency_throughput_figure(report)
    if fig is None:
        return None
    return figure_to_svg(fig, "latency-throughput", title="Latency vs throughput per step")


def timeseries_svg(report: RunReport) -> str | None:
    """The time-series plot as inline SVG, or None when no step has windows."""
    fig = timeseries_figure(report)
    if fig is None:
        return None
    return figure_to_svg(fig, "timeseries", title="Latency, rate, failures and GPU over time")
