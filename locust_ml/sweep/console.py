"""The sweep's table and closing paragraph, as text for a terminal or a CI log.

One row per configuration, ranked ones first in rank order, then the others
in the order given with the reason they cannot be chosen; then the
recommendation (:func:`~locust_ml.sweep.ranking.recommendation`). The HTML
page (:mod:`.html`) shows the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from locust_ml.sweep.ranking import BY_COST, Ranking, recommendation
from locust_ml.sweep.result import ConfigResult

__all__ = ["Row", "format_summary", "header", "table_rows"]


@dataclass(frozen=True)
class Row:
    """One configuration's cells (``rank`` None: not ranked), and its result."""

    rank: int | None
    cells: tuple[str, ...]
    result: ConfigResult
    note: str


def _rps(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _money(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1 else f"{x:,.2f}"


def header(results: Sequence[ConfigResult]) -> tuple[str, ...]:
    """The table's column names (the latency column names the judged percentile)."""
    key = next((r.measurement.latency_key for r in results if r.measurement is not None), "p99")
    return (
        "#",
        "configuration",
        "verdict",
        "SLO cap req/s (95% CI)",
        "knee",
        "saturation",
        f"{key} ms @cap",
        "replicas",
        "$/h",
        "$/1M req",
    )


def _cells(rank: int | None, r: ConfigResult) -> tuple[str, ...]:
    m = r.measurement
    cap = "-"
    if m is not None and m.slo_rps is not None:
        cap = (">=" if m.bound == "lower-bound" else "") + _rps(m.slo_rps)
        if m.slo_rps_ci is not None:
            low, high = m.slo_rps_ci
            cap += f" ({low:.1f}-{'open' if high is None else f'{high:.1f}'})"
    lat = None if m is None else m.latency_at_capacity_ms
    return (
        "-" if rank is None else str(rank),
        r.label,
        r.status.upper() if m is None else m.verdict,
        cap,
        "-" if m is None else _rps(m.knee_rps),
        "-" if m is None else _rps(m.saturation_rps),
        "-" if lat is None else f"{lat:.1f}",
        "-" if r.replicas is None else str(r.replicas),
        _money(r.price_per_hour),
        _money(r.cost_per_million),
    )


def table_rows(ranking: Ranking) -> list[Row]:
    """Ranked configurations first, then the others with why."""
    rows = [Row(i, _cells(i, r), r, "") for i, r in enumerate(ranking.ranked, start=1)]
    rows += [Row(None, _cells(None, r), r, why) for r, why in ranking.others]
    return rows


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def format_summary(ranking: Ranking, results: Sequence[ConfigResult], elapsed_s: float) -> str:
    """The table, the reasons, and the recommendation paragraph."""
    rows = table_rows(ranking)
    head = header(results)
    grid = [list(head), *(list(row.cells) for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(head))]
    left = {1, 2}

    def line(cells: Sequence[str]) -> str:
        return " ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    text = [line(x) for x in grid]
    rule = "-" * max(len(x) for x in text)
    by = "cost per 1M requests" if ranking.by == BY_COST else "SLO capacity per replica"
    measuring = sum(r.elapsed_s for r in results)
    out = [
        f"locust-ml sweep: {len(results)} configurations ranked by {by} (measuring: "
        f"{_duration(measuring)}; this run: {_duration(elapsed_s)})",
        rule,
        text[0],
        rule,
        *text[1:],
        rule,
    ]
    notes = [f"{row.result.label}: {row.note}" for row in rows if row.note]
    if notes:
        out += ["not ranked:", *(f"  {n}" for n in notes)]
    out += ["", recommendation(ranking)]
    return "\n".join(out)
