from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from locust_ml.analysis.slo import parse_slos
from locust_ml.analysis.steps import StepStats
from locust_ml.report.json import curve_dict, report_to_dict
from locust_ml.report.model import RunReport
from locust_ml.report.plots import (
    curve_points,
    figure_to_svg,
    latency_slos,
    latency_throughput_figure,
    latency_throughput_svg,
    timeseries_figure,
    timeseries_svg,
)
from tests.report_fixtures import FIXTURES, fixture, fixture_json


def line(ax: Axes, label: str) -> Line2D:
    return next(ln for ln in ax.get_lines() if ln.get_label() == label)


def legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def with_steps(report: RunReport, *steps: StepStats) -> RunReport:
    return replace(report, steps=steps)


def test_curve_points_come_from_the_capacity_curve() -> None:
    report = fixture("ramp_open_loop")
    assert report.capacity is not None
    points = curve_points(report)
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    assert points[3] == report.capacity.curve[3]
    assert points[4].passed is False


def test_without_an_analysis_the_judged_steps_are_the_curve() -> None:
    report = replace(fixture("ramp_open_loop"), capacity=None)
    points = curve_points(report)
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    # Open-loop steps: latency from the intended send time, as the console shows it.
    step = report.steps[1]
    assert points[1].latency_ms == step.judged_latency_ms
    assert points[1].latency_ms["p99"] != step.latency_ms["p99"]
    assert points[4].passed is False


def test_latency_slos_keep_request_latency_only() -> None:
    slos = latency_slos(parse_slos(["p99<500ms", "p95<=2s", "errors<1%", "ttft_p99<300ms"]))
    assert [str(s) for s in slos] == ["p99<500ms", "p95<=2000ms"]
    assert [s.threshold for s in slos] == [500.0, 2000.0]


def test_latency_throughput_marks_knee_capacity_saturation_and_slos() -> None:
    fig = latency_throughput_figure(fixture("ramp_open_loop"))
    assert fig is not None
    texts = legend_texts(fig)
    assert {"p50", "p95", "p99", "SLO p99<250ms", "capacity 95% interval"} <= set(texts)
    assert any(t.startswith("knee 66.4/s") for t in texts)
    assert "SLO capacity 50/s" in texts
    assert any(t.startswith("saturation 66.4/s") for t in texts)
    assert "step failed its SLOs" in texts
    # p50 64 ms .. p99 1034 ms: 16x, under 20x: a linear latency axis...
    assert fig.axes[0].get_yscale() == "linear"
    # ...and with a faster first step, more than 20x: logarithmic.
    report = fixture("ramp_open_loop")
    assert report.capacity is not None
    first = report.capacity.curve[0]
    fast = replace(first, latency_ms={**first.latency_ms, "p50": 30.0})
    capacity = replace(report.capacity, curve=(fast, *report.capacity.curve[1:]))
    wide = latency_throughput_figure(replace(report, capacity=capacity))
    assert wide is not None
    assert wide.axes[0].get_yscale() == "log"


def test_latency_axis_is_linear_when_the_range_is_small() -> None:
    fig = latency_throughput_figure(fixture("hostile"))
    assert fig is not None
    assert fig.axes[0].get_yscale() == "linear"


def test_no_data_gives_no_figure() -> None:
    empty = fixture("empty")
    hostile = fixture("hostile")
    step = hostile.steps[0]
    no_latency = replace(step, latency_ms={"p50": None, "p99": None}, windows=())
    for report in (empty, replace(with_steps(hostile, no_latency), capacity=None)):
        assert latency_throughput_figure(report) is None
        assert timeseries_figure(report) is None
        assert latency_throughput_svg(report) is None
        assert timeseries_svg(report) is None


def test_one_step_is_enough() -> None:
    report = fixture("ramp_open_loop")
    report = replace(with_steps(report, report.steps[0]), capacity=None)
    assert latency_throughput_figure(report) is not None
    assert timeseries_figure(report) is not None


def test_timeseries_has_a_gpu_panel_only_with_gpu_telemetry() -> None:
    report = fixture("ramp_open_loop")
    fig = timeseries_figure(report)
    assert fig is not None
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "latency (ms)",
        "requests/s",
        "failures/s",
        "GPU util (%)",
    ]
    # Mean of the two GPUs in window 0 of step 1, as a percentage.
    gpu_line = line(fig.axes[3], "mean over GPUs")
    gpus = [t for t in report.telemetry[1] if t.metric == "gpu_utilization_ratio"]
    assert len(gpus) == 2
    expected = sum(s.window_means[0] for s in gpus) / 2 * 100
    assert gpu_line.get_ydata()[0] == pytest.approx(expected)

    telemetry = {
        step: tuple(t for t in rows if t.metric != "gpu_utilization_ratio")
        for step, rows in report.telemetry.items()
    }
    fig = timeseries_figure(replace(report, telemetry=telemetry))
    assert fig is not None
    assert len(fig.axes) == 3


def test_timeseries_uses_corrected_latency_for_open_loop_windows() -> None:
    report = fixture("ramp_open_loop")
    fig = timeseries_figure(report)
    assert fig is not None
    p99 = line(fig.axes[0], "p99")
    first = report.steps[0].windows[0]
    assert first.corrected_ms is not None
    assert p99.get_ydata()[0] == first.corrected_ms["p99"]
    assert p99.get_xdata()[0] == pytest.approx(
        (first.start + first.end) / 2 - report.run.started_at
    )


def test_timeseries_tolerates_windows_without_latency_or_rate() -> None:
    report = fixture("hostile")
    step = report.steps[0]
    windows = (
        replace(step.windows[0], latency_ms={"p50": None, "p99": None}),
        replace(step.windows[1], achieved_rps=None),
    )
    report = replace(report, steps=(replace(step, windows=windows), *report.steps[1:]))
    assert timeseries_figure(replace(report, window_s=None)) is not None


def test_svg_is_inline_self_contained_and_deterministic() -> None:
    report = fixture("hostile")
    svg = latency_throughput_svg(report)
    assert svg is not None
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    for forbidden in ("http://", "https://", "<?xml", "<!DOCTYPE", "<metadata", "xmlns"):
        assert forbidden not in svg
    assert 'data-plot="latency-throughput"' in svg
    assert latency_throughput_svg(report) == svg


def test_svg_escapes_text_from_the_run_and_keeps_dollars_literal() -> None:
    svg = timeseries_svg(fixture("hostile"))
    assert svg is not None
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$5" in svg  # drawn as text, not parsed as mathtext


def test_labels_are_redacted_where_they_are_drawn() -> None:
    report = fixture("hostile")
    step = replace(report.steps[0], label="key sk-ABCDEFGHIJKLMNOP0123")
    svg = timeseries_svg(replace(report, steps=(step, *report.steps[1:])))
    assert svg is not None
    assert "sk-ABCDEFGH" not in svg
    assert "1: key [redacted]" in svg


def test_the_live_plot_reads_the_json_forms_the_web_ui_hands_it() -> None:
    """plugin/liveplot.py passes report.json's form, or curve_dict's while the test runs."""
    report = fixture("ramp_open_loop")
    assert report.capacity is not None
    drawn = latency_throughput_svg(report)
    assert latency_throughput_svg(report_to_dict(report)) == drawn
    live = curve_dict(report.steps, report.judgements, report.capacity, report.slos)
    assert latency_throughput_svg(live) == drawn
    assert latency_throughput_svg(curve_dict(report.steps[:1], {}, None, ())) is not None
    assert latency_throughput_svg(fixture_json("empty")) is None


def test_two_plots_never_share_element_ids_and_references_resolve() -> None:
    fig = Figure()
    fig.add_subplot().plot([1, 2], [1, 2], marker="o")
    a, b = figure_to_svg(fig, "a"), figure_to_svg(fig, "b")
    ids_a, ids_b = set(re.findall(r' id="([^"]+)"', a)), set(re.findall(r' id="([^"]+)"', b))
    assert ids_a
    assert not ids_a & ids_b
    refs = re.findall(r'href="#([^"]+)"', a) + re.findall(r"url\(#([^)]+)\)", a)
    assert refs
    assert set(refs) <= ids_a


def test_plotting_leaves_pyplot_and_the_backend_alone() -> None:
    code = (
        "import sys, matplotlib\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        "from locust_ml.report.load import load_report\n"
        "from locust_ml.report.plots import latency_throughput_svg\n"
        f"r = load_report({str(FIXTURES / 'hostile.json')!r})\n"
        "assert latency_throughput_svg(r)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() == backend\n"
        "assert matplotlib.rcParams['svg.fonttype'] == 'path'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
