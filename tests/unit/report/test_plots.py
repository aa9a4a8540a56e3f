from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from locust_ml.report.plots import (
    curve_points,
    figure_to_svg,
    latency_slos,
    latency_throughput_figure,
    latency_throughput_svg,
    timeseries_figure,
    timeseries_svg,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report_json"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def line(ax: Axes, label: str) -> Line2D:
    return next(ln for ln in ax.get_lines() if ln.get_label() == label)


def legend_texts(fig: Figure) -> list[str]:
    legend = fig.axes[0].get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def test_curve_points_come_from_the_capacity_curve() -> None:
    report = load("ramp_open_loop")
    points = curve_points(report)
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    assert points[3].achieved_rps == report["capacity"]["curve"][3]["achieved_rps"]
    assert points[4].passed is False
    assert points[0].latency_ms["p99"] == report["capacity"]["curve"][0]["latency_ms"]["p99"]


@pytest.mark.parametrize("capacity", [None, {}, {"curve": []}, "junk"])
def test_curve_points_fall_back_to_the_steps(capacity: Any) -> None:
    report = load("ramp_open_loop")
    report["capacity"] = capacity
    points = curve_points(report)
    assert [p.step for p in points] == [1, 2, 3, 4, 5, 6]
    # Open-loop steps: latency from the intended send time, as the console shows it.
    step = report["steps"][1]
    assert points[1].latency_ms["p99"] == step["corrected_ms"]["p99"]
    assert points[1].latency_ms["p99"] != step["latency_ms"]["p99"]
    assert points[4].passed is False


def test_curve_points_skip_steps_without_a_rate_and_sort_by_rate() -> None:
    report = {
        "steps": [
            {"id": 1, "achieved_rps": 30.0, "latency_ms": {"p99": 10.0}},
            {"id": 2, "achieved_rps": None, "latency_ms": {"p99": 20.0}},
            {"id": 3, "achieved_rps": 10.0, "latency_ms": {"p99": None}},
        ]
    }
    points = curve_points(report)
    assert [p.step for p in points] == [3, 1]
    assert points[0].latency_ms["p99"] is None


def test_latency_slos_keep_request_latency_only() -> None:
    report = {"slos": ["p99<500ms", "p95<=2s", "errors<1%", "ttft_p99<300ms", "nonsense", 5]}
    slos = latency_slos(report)
    assert [str(s) for s in slos] == ["p99<500ms", "p95<=2000ms"]
    assert [s.threshold for s in slos] == [500.0, 2000.0]


def test_latency_throughput_marks_knee_capacity_saturation_and_slos() -> None:
    fig = latency_throughput_figure(load("ramp_open_loop"))
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
    report = load("ramp_open_loop")
    for key in ("latency_ms", "corrected_ms"):
        report["steps"][0][key]["p50"] = 30.0
    report["capacity"]["curve"][0]["latency_ms"]["p50"] = 30.0
    wide = latency_throughput_figure(report)
    assert wide is not None
    assert wide.axes[0].get_yscale() == "log"


def test_latency_axis_is_linear_when_the_range_is_small() -> None:
    fig = latency_throughput_figure(load("hostile"))
    assert fig is not None
    assert fig.axes[0].get_yscale() == "linear"


@pytest.mark.parametrize(
    "report",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"steps": []}, id="no-steps"),
        pytest.param({"steps": "junk", "capacity": 7, "slos": None}, id="junk"),
        pytest.param(
            {"steps": [{"id": 1, "achieved_rps": 0.0, "latency_ms": {"p50": None, "p99": None}}]},
            id="null-latencies",
        ),
    ],
)
def test_no_data_gives_no_figure(report: dict[str, Any]) -> None:
    assert latency_throughput_figure(report) is None
    assert timeseries_figure(report) is None
    assert latency_throughput_svg(report) is None
    assert timeseries_svg(report) is None


def test_one_step_is_enough() -> None:
    report = load("ramp_open_loop")
    report["steps"] = report["steps"][:1]
    report["capacity"] = None
    assert latency_throughput_figure(report) is not None
    fig = timeseries_figure(report)
    assert fig is not None


def test_timeseries_has_a_gpu_panel_only_with_gpu_telemetry() -> None:
    report = load("ramp_open_loop")
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
    gpus = [t for t in report["steps"][0]["telemetry"] if t["metric"] == "gpu_utilization_ratio"]
    assert len(gpus) == 2
    expected = sum(s["window_means"]["0"] for s in gpus) / 2 * 100
    assert gpu_line.get_ydata()[0] == pytest.approx(expected)

    for step in report["steps"]:
        step["telemetry"] = [t for t in step["telemetry"] if t["metric"] != "gpu_utilization_ratio"]
    fig = timeseries_figure(report)
    assert fig is not None
    assert len(fig.axes) == 3


def test_timeseries_uses_corrected_latency_for_open_loop_windows() -> None:
    report = load("ramp_open_loop")
    fig = timeseries_figure(report)
    assert fig is not None
    p99 = line(fig.axes[0], "p99")
    first = report["steps"][0]["windows"][0]
    assert p99.get_ydata()[0] == first["corrected_ms"]["p99"]
    assert p99.get_xdata()[0] == pytest.approx(
        (first["start"] + first["end"]) / 2 - report["run"]["started_at"]
    )


def test_timeseries_tolerates_partial_windows() -> None:
    report = copy.deepcopy(load("hostile"))
    windows = report["steps"][0]["windows"]
    windows[0]["latency_ms"] = {"p50": None, "p99": None}
    windows[1]["achieved_rps"] = None
    windows.append({"index": 2, "start": None, "end": 1010.0})
    report["steps"][1]["start"] = None
    report["window_s"] = None
    assert timeseries_figure(report) is not None


def test_svg_is_inline_self_contained_and_deterministic() -> None:
    report = load("hostile")
    svg = latency_throughput_svg(report)
    assert svg is not None
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    for forbidden in ("http://", "https://", "<?xml", "<!DOCTYPE", "<metadata", "xmlns"):
        assert forbidden not in svg
    assert 'data-plot="latency-throughput"' in svg
    assert latency_throughput_svg(report) == svg


def test_svg_escapes_text_from_the_run_and_keeps_dollars_literal() -> None:
    svg = timeseries_svg(load("hostile"))
    assert svg is not None
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "$5" in svg  # drawn as text, not parsed as mathtext


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
        "import json, sys, matplotlib\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        "from locust_ml.report.plots import latency_throughput_svg\n"
        f"r = json.load(open({str(FIXTURES / 'hostile.json')!r}))\n"
        "assert latency_throughput_svg(r)\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert matplotlib.rcParams._get_backend_or_none() == backend\n"
        "assert matplotlib.rcParams['svg.fonttype'] == 'path'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
