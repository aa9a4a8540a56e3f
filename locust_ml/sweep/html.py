"""``sweep.html``: the sweep on one self-contained page - Pareto front, ranking, recommendation.

Self-contained like ``report.html`` (:mod:`locust_ml.report.html`): CSS and
plots (inline SVG, :func:`~locust_ml.report.plots.figure_to_svg`) inside, no
URL, no script, a Content-Security-Policy that forbids loading anything;
every string (labels, reasons, a target's log lines) autoescaped and
redacted (:func:`~locust_ml.report.redact.redact_text`). Each configuration
links to its own ``report.html`` by a relative path, so the folder can be
moved or archived whole.

The plots:

* **throughput vs latency**: SLO capacity per replica (with its 95 %
  interval as a bar) against the judged percentile at capacity; the Pareto
  front - configurations no other beats on both at once - is joined by a
  line, the recommendation is a star;
* **cost vs latency** (when prices are given): cost per 1M requests at SLO
  capacity against the same latency, with its own front.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from markupsafe import Markup
from matplotlib.figure import Figure

from locust_ml.files import write_atomic
from locust_ml.report.html import template_environment
from locust_ml.report.plots import figure_to_svg
from locust_ml.report.redact import redact_text
from locust_ml.sweep.console import header, table_rows
from locust_ml.sweep.ranking import (
    BY_COST,
    Ranking,
    ineligible_reason,
    pareto_front,
    recommendation,
)
from locust_ml.sweep.result import ConfigResult

__all__ = ["capacity_points", "cost_points", "render_sweep_html", "write_sweep_html"]

_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_FRONT: Final = "#2ca02c"
_OTHER: Final = "#8c959f"
_BEST: Final = "#d62728"


def _latency_points(results: Sequence[ConfigResult]) -> list[tuple[float, float] | None]:
    """(SLO capacity, latency at capacity) of every result that has both."""
    out: list[tuple[float, float] | None] = []
    for r in results:
        m = r.measurement
        lat = None if m is None else m.latency_at_capacity_ms
        cap = None if m is None else m.slo_rps
        out.append(None if cap is None or lat is None or cap <= 0 else (cap, lat))
    return out


def capacity_points(results: Sequence[ConfigResult]) -> list[tuple[float, float] | None]:
    """(SLO capacity, latency at capacity) of the results that can be chosen, else None.

    What the Pareto front is computed on: an INVALID run's figures are shown,
    never offered as a trade-off.
    """
    return [
        p if ineligible_reason(r) is None else None
        for r, p in zip(results, _latency_points(results), strict=True)
    ]


def cost_points(results: Sequence[ConfigResult]) -> list[tuple[float, float] | None]:
    """(minus the cost per 1M, latency at capacity): more x is better, as the front wants."""
    out: list[tuple[float, float] | None] = []
    for r, p in zip(results, capacity_points(results), strict=True):
        cost = r.cost_per_million
        out.append(None if p is None or cost is None else (-cost, p[1]))
    return out


def _figure(
    results: Sequence[ConfigResult],
    ranking: Ranking,
    *,
    cost: bool,
) -> Figure | None:
    """Every measured configuration; the front and the best labelled, the others by rank."""
    raw = _latency_points(results)
    eligible = cost_points(results) if cost else capacity_points(results)
    if not any(p is not None for p in (eligible if cost else raw)):
        return None
    front = pareto_front(eligible)
    ranks = {id(r): i for i, r in enumerate(ranking.ranked, start=1)}
    best = ranking.best
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, (r, p) in enumerate(zip(results, raw, strict=True)):
        if p is None or (cost and r.cost_per_million is None):
            continue
        x = r.cost_per_million if cost and r.cost_per_million is not None else p[0]
        chosen_able = eligible[i] is not None
        colour = _FRONT if i in front else _OTHER
        m = r.measurement
        if not cost and m is not None and m.slo_rps_ci is not None:
            low, high = m.slo_rps_ci
            top = x if high is None else high
            ax.plot([low, top], [p[1], p[1]], color=colour, alpha=0.4, linewidth=2)
        if r is best:
            ax.scatter([x], [p[1]], s=180, marker="*", color=_BEST, zorder=4)
        elif chosen_able:
            ax.scatter([x], [p[1]], s=40, marker="o", color=colour, zorder=3)
        else:  # measured, but not a candidate (INVALID, FAIL)
            ax.scatter([x], [p[1]], s=30, marker="x", color=_OTHER, alpha=0.7, zorder=3)
        text = (
            r.label if (i in front or r is best) else (f"#{ranks[id(r)]}" if id(r) in ranks else "")
        )
        if text:
            ax.annotate(
                redact_text(text),
                (x, p[1]),
                textcoords="offset points",
                xytext=(5, 5),
                fontsize=7,
                parse_math=False,
            )
    ordered = sorted(q for i, q in enumerate(eligible) if i in front and q is not None)
    if len(ordered) > 1:
        xs = [(-q[0] if cost else q[0]) for q in ordered]
        ax.plot(xs, [q[1] for q in ordered], color=_FRONT, linewidth=1, linestyle="--", zorder=2)
    key = next((r.measurement.latency_key for r in results if r.measurement is not None), "p99")
    ax.set_ylabel(f"{key} latency at SLO capacity (ms)")
    ax.set_xlabel(
        "cost per 1M requests at SLO capacity ($)"
        if cost
        else "SLO capacity per replica (req/s), 95% interval"
    )
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.15)  # room for the labels at the edges
    ax.set_ylim(bottom=0)
    ax.set_title(
        "cost vs latency: green = Pareto front (no other cheaper and faster at once); "
        "#n = rank; x = not a candidate"
        if cost
        else "throughput vs latency: green = Pareto front (no other sustains more at less "
        "latency); #n = rank; x = not a candidate",
        fontsize=8,
    )
    return fig


def _context(
    results: Sequence[ConfigResult],
    folders: Sequence[str],
    ranking: Ranking,
    settings: dict[str, Any],
    *,
    complete: bool,
    elapsed_s: float,
) -> dict[str, Any]:
    best = ranking.best
    plots = []
    fig = _figure(results, ranking, cost=False)
    if fig is not None:
        plots.append(Markup(figure_to_svg(fig, "sweep-capacity", title="Throughput vs latency")))  # noqa: S704
    if ranking.by == BY_COST:
        fig = _figure(results, ranking, cost=True)
        if fig is not None:
            plots.append(Markup(figure_to_svg(fig, "sweep-cost", title="Cost vs latency")))  # noqa: S704
    front = pareto_front(capacity_points(results))
    folder_of = {id(r): f for r, f in zip(results, folders, strict=True)}
    index_of = {id(r): i for i, r in enumerate(results)}
    rows = []
    for row in table_rows(ranking):
        r = row.result
        report = None if r.measurement is None else r.measurement.report
        html_report = None if report is None else str(Path(report).with_name("report.html"))
        rows.append(
            {
                "cells": row.cells,
                "ranked": row.rank is not None,
                "best": r is best,
                "pareto": index_of[id(r)] in front,
                "note": row.note,
                "report": html_report,
                "folder": folder_of[id(r)],
                "tail": list(r.log_tail[-5:]),
                "notes": list(r.notes),
            }
        )
    return {
        "title": "locust-ml sweep",
        "complete": complete,
        "measuring": f"{sum(r.elapsed_s for r in results) / 60:.1f} min",
        "elapsed": f"{elapsed_s / 60:.1f} min",
        "rule": ranking.rule,
        "recommendation": recommendation(ranking),
        "best": None if best is None else best.label,
        "header": header(results),
        "rows": rows,
        "plots": plots,
        "settings": [(k, _setting(v)) for k, v in settings.items()],
        "count": len(results),
    }


def _setting(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def render_sweep_html(
    results: Sequence[ConfigResult],
    folders: Sequence[str],
    ranking: Ranking,
    settings: dict[str, Any],
    *,
    complete: bool,
    elapsed_s: float,
) -> str:
    """The page, as text."""
    context = _context(results, folders, ranking, settings, complete=complete, elapsed_s=elapsed_s)
    return template_environment(_TEMPLATES).get_template("sweep.html.j2").render(**context)


def write_sweep_html(
    path: str | os.PathLike[str],
    results: Sequence[ConfigResult],
    folders: Sequence[str],
    ranking: Ranking,
    settings: dict[str, Any],
    *,
    complete: bool,
    elapsed_s: float,
) -> Path:
    """Write ``sweep.html`` atomically."""
    text = render_sweep_html(
        results, folders, ranking, settings, complete=complete, elapsed_s=elapsed_s
    )
    return write_atomic(path, text)
