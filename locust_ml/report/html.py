"""``report.html``: the whole report in one self-contained file, for people.

A capacity report is read far from where it was made: attached to a CI run,
mailed, opened years later from an archive. So the page is one file with its
CSS and plots (inline SVG) inside, references no URL at all (a
Content-Security-Policy meta tag forbids loading anything, in case a string
ever slipped through), and needs no JavaScript.

The page renders the typed report (:class:`~locust_ml.report.model.RunReport`);
``locust-ml report results.json`` re-renders a saved run through
:func:`~locust_ml.report.load.load_report`.

Strings from the target (error bodies, endpoint names, URLs, notes) are
hostile until proven otherwise. Two layers keep them harmless, both where
the page is serialized:

1. every value the template writes passes through
   :func:`~locust_ml.report.redact.redact_text` (the environment's
   ``finalize``), which removes secrets;
2. the Jinja2 environment autoescapes everything, so a string can only ever
   become text. The one value marked safe is the SVG that
   :mod:`~locust_ml.report.plots` draws (it redacts the labels it draws, and
   matplotlib escapes text inside it).

The formatting helpers here (:func:`fmt_rate`, :func:`step_table`,
:func:`verdict_word`...) are shared with the Markdown summary, so both show
the same numbers in the same words.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES, percentile_key
from locust_ml.analysis.planning import UtilizationAt
from locust_ml.analysis.status import STATUS_CLASSES
from locust_ml.analysis.verdict import NO_CAPACITY_SHAPES
from locust_ml.files import write_atomic
from locust_ml.report import sections
from locust_ml.report.console import format_ms
from locust_ml.report.model import RunReport
from locust_ml.report.redact import redact_text

__all__ = [
    "StepTable",
    "error_rows",
    "fmt_bytes",
    "fmt_money",
    "fmt_pct",
    "fmt_rate",
    "render_html",
    "step_table",
    "template_environment",
    "write_html",
]

_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
#: At most this many distinct error messages are listed.
MAX_ERRORS: Final = 20


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def fmt_rate(x: float | None, digits: int = 2) -> str:
    """A rate (req/s), ``-`` when missing."""
    value = _finite(x)
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_pct(ratio: float | None, digits: int = 1) -> str:
    """A ratio (0..1) as a percentage, ``-`` when missing."""
    value = _finite(ratio)
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def fmt_money(x: float | None) -> str:
    """Dollars: 2 decimals, or 3 significant digits below $1 (``$0.0627``)."""
    value = _finite(x)
    if value is None:
        return "-"
    return f"${value:.2f}" if abs(value) >= 1 else f"${value:.3g}"


def fmt_bytes(x: float | None) -> str:
    """Bytes in binary units: ``16.0 GiB``."""
    value = _finite(x)
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _opt(x: object) -> str:
    return "-" if x is None else str(x)


@dataclass(frozen=True)
class StepTable:
    """The step table as text cells: ``header`` and one row per step.

    ``passed`` holds each step's judgement (None: not judged), so a writer
    can colour rows. ``numeric`` marks right-aligned columns.
    """

    header: list[str]
    rows: list[list[str]]
    passed: list[bool | None]
    numeric: list[bool]


def step_table(report: RunReport, percentiles: Sequence[str] | None = None) -> StepTable:
    """The per-step summary (as in the console), leaving out columns no step fills.

    Latency is each step's judged latency (from the intended send time in
    open loop: :attr:`~locust_ml.analysis.steps.StepStats.judged_latency_ms`).
    """
    steps = report.steps
    if percentiles is None:
        percentiles = [percentile_key(q) for q in report.percentiles or DEFAULT_PERCENTILES]
    keys = list(percentiles)
    labels = any(s.label for s in steps)
    judged = any(s.id in report.judgements for s in steps)
    gpus = [sections.gpu_utilization(report.telemetry.get(s.id, ())) for s in steps]
    has_gpu = any(g is not None for g in gpus)
    hits = [sections.prefix_cache_hit_rate(report.telemetry.get(s.id, ())) for s in steps]
    has_hits = any(h is not None for h in hits)
    header = ["step", *(["label"] if labels else []), "users", "offered/s", "achieved/s"]
    header += ["requests", "fail%", *keys]
    header += ["ok/s", "judged"] if judged else []
    header += ["GPU%"] if has_gpu else []
    header += ["cache hit%"] if has_hits else []
    rows, passed = [], []
    for s, gpu, hit in zip(steps, gpus, hits, strict=True):
        lat = s.judged_latency_ms
        row = [str(s.id), *([s.label] if labels else [])]
        users = None if s.mode == "open" else s.users  # open loop: a pool, not the load
        row += [_opt(users), fmt_rate(s.offered_rps), fmt_rate(s.achieved_rps), str(s.requests)]
        row += [fmt_pct(s.failure_ratio), *(format_ms(lat.get(k)) for k in keys)]
        if judged:
            row += [fmt_rate(s.ok_rps), sections.judged_word(report, s)]
        if has_gpu:
            row += ["-" if gpu is None else f"{100 * gpu:.0f}"]
        if has_hits:
            row += ["-" if hit is None else f"{100 * hit:.1f}"]
        rows.append(row)
        j = report.judgements.get(s.id)
        passed.append(None if j is None else j.passed)
    numeric = [h not in {"label", "judged"} for h in header]
    return StepTable(header, rows, passed, numeric)


def error_rows(report: RunReport, limit: int = MAX_ERRORS) -> list[tuple[str, str, int]]:
    """The most frequent error messages: ``(endpoint, message, count)``, most first."""
    rows = [
        (" ".join(x for x in (e.method, e.name) if x), e.message, e.count) for e in report.errors
    ]
    rows.sort(key=lambda r: (-r[2], r[0], r[1]))
    return rows[:limit]


#: Utilization columns of the capacity box: (heading, key of :func:`_utilization`).
_UTILIZATION_COLUMNS: Final = (
    ("GPU util", "gpu"),
    ("GPU memory", "gpu_memory"),
    ("target CPU (cores)", "target_cpu"),
    ("target memory", "target_rss"),
    ("load generator CPU", "generator_cpu"),
)


def _utilization(u: UtilizationAt) -> dict[str, str]:
    memory = fmt_bytes(u.gpu_memory_used_bytes)
    ratio = fmt_pct(u.gpu_memory_ratio, 0)
    if ratio != "-":
        memory = ratio if memory == "-" else f"{memory} ({ratio})"
    generator = u.generator_cpu_percent
    return {
        "gpu": fmt_pct(u.gpu_utilization, 0),
        "gpu_memory": memory,
        "target_cpu": fmt_rate(u.target_cpu_cores, 2),
        "target_rss": fmt_bytes(u.target_rss_bytes),
        "generator_cpu": fmt_pct(None if generator is None else generator / 100, 0),
    }


def _utilization_table(report: RunReport) -> dict[str, Any] | None:
    """Utilization at the knee and at capacity, leaving out what nobody measured."""
    rows = [
        (name, u, _utilization(u))
        for name, key in (("at the knee", "knee"), ("at SLO capacity", "slo_capacity"))
        if (u := report.utilization.get(key)) is not None
    ]
    if not rows:
        return None
    columns = [(t, k) for t, k in _UTILIZATION_COLUMNS if any(c[k] != "-" for *_, c in rows)]
    return {
        "columns": [title for title, _ in columns],
        "rows": [(name, u.step, [c[k] for _, k in columns], u.warnings) for name, u, c in rows],
    }


def _capacity(report: RunReport) -> dict[str, Any] | None:
    c = report.capacity
    if c is None:
        return None
    found = c.slo_rps is not None
    said = ("knee:", "saturation:") if found else ("knee:", "saturation:", "SLO capacity:")
    ci = c.slo_rps_ci
    missing = next((n for n in c.notes if n.startswith("SLO capacity:")), None)
    return {
        "slo_rps": fmt_rate(c.slo_rps),
        "slo_rps_ci": (
            f"{ci[0]:.2f} - {ci[1]:.2f}" if ci is not None and ci[1] is not None else None
        ),
        "limiting_slo": c.limiting_slo,
        "lower_bound": c.bound == "lower-bound",
        "knee": sections.knee_of(c),
        "saturation": sections.saturation_of(c),
        "last_passing_step": c.last_passing_step,
        "first_failing_step": c.first_failing_step,
        "utilization": _utilization_table(report),
        "slo_missing": None
        if found or missing is None
        else missing.removeprefix("SLO capacity:").strip(),
        # Notes said in the rows above are not repeated.
        "notes": [n for n in c.notes if not n.startswith(said)],
    }


def _status_table(report: RunReport) -> dict[str, Any]:
    totals = report.totals.status or {}
    seen = {k for s in report.steps for k in (s.status or {})} | set(totals)
    classes = [c for c in STATUS_CLASSES if c in seen] + sorted(seen - set(STATUS_CLASSES))
    rows = [[str(s.id), *(str((s.status or {}).get(c, 0)) for c in classes)] for s in report.steps]
    total = ["total", *(str(totals.get(c, 0)) for c in classes)]
    return {"classes": classes, "rows": rows, "total": total}


def _slo_results(report: RunReport) -> list[list[str]]:
    rows = []
    for s in report.steps:
        j = report.judgements.get(s.id)
        for r in () if j is None or j.slo is None else j.slo.results:
            fmt = fmt_pct if r.slo.metric == "errors" else format_ms
            rows.append([str(s.id), str(r.slo), fmt(r.measured), fmt(r.threshold), str(r.status)])
    return rows


def _endpoints(report: RunReport) -> list[list[str]]:
    return [
        [
            e.request_type,
            e.name,
            str(e.requests),
            str(e.failures),
            fmt_rate(e.achieved_rps),
            format_ms(e.latency_ms.get("p50")),
            format_ms(e.latency_ms.get("p99")),
        ]
        for e in report.totals.endpoints
    ]


def _context(report: RunReport) -> dict[str, Any]:
    from locust_ml.report import plots

    verdict = report.verdict
    table = step_table(report)
    cost, plan = report.cost, report.plan
    return {
        "title": f"locust-ml report: {report.run.locustfile or 'run'}",
        "verdict": sections.verdict_word(report),
        "partial": verdict.partial,
        "exit_code": verdict.exit_code,
        "reasons": verdict.reasons,
        "warnings": verdict.warnings,
        "capacity": _capacity(report),
        "holds_loads": report.run.shape in NO_CAPACITY_SHAPES,
        "run_shape": report.run.shape,
        "cost": None
        if cost is None
        else {
            "per_million_requests": fmt_money(cost.per_million_requests),
            "per_million_output_tokens": fmt_money(cost.per_million_output_tokens),
            "price_per_hour": fmt_money(cost.price_per_hour),
            "rps": fmt_rate(cost.rps),
            "tokens_out_per_s": fmt_rate(cost.tokens_out_per_s, 1),
            "instance": cost.instance or "",
        },
        "plan": None
        if plan is None
        else {
            "replicas": plan.replicas,
            "target_rps": fmt_rate(plan.target_rps),
            "per_replica_rps": fmt_rate(plan.per_replica_rps),
            "target_utilization": fmt_pct(plan.target_utilization, 0),
            "redundancy": plan.redundancy,
            "formula": plan.formula,
        },
        "curve_svg": _safe(plots.latency_throughput_svg(report)),
        "timeseries_svg": _safe(plots.timeseries_svg(report)),
        "steps": table,
        "steps_rows": list(zip(table.rows, table.passed, strict=True)),
        "open_loop": any(s.mode == "open" for s in report.steps),
        "status": _status_table(report),
        "errors": error_rows(report),
        "endpoints": _endpoints(report),
        "turns": sections.turn_table(report),
        "slos": [str(s) for s in report.slos],
        "slo_results": _slo_results(report),
        "run": sections.run_rows(report),
        "notes": report.notes,
        "spike": sections.spike_summary(report),
        "soak": sections.soak_trends(report),
        "breaking_point": sections.breaking_point_rows(report),
        "search": sections.search_rows(report),
        "settings": sections.settings_rows(report),
    }


def _safe(svg: str | None) -> Markup | None:
    # The SVG is ours: drawn by matplotlib, which escapes text it contains.
    return None if svg is None else Markup(svg)  # noqa: S704


def _redacted(value: Any) -> Any:
    """Every string the template writes, without its secrets (the SVG is redacted already)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return redact_text(value)
    return value


def template_environment(templates: Path) -> Environment:
    """The Jinja environment of every HTML page we write (the report, the sweep's page).

    Autoescaping and redaction at serialization (``finalize``), so a string
    from a target is escaped and stripped of secrets without a template
    remembering to; a name a template gets wrong fails (``StrictUndefined``)
    instead of rendering empty.
    """
    return Environment(
        loader=FileSystemLoader(templates),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_redacted,
    )


def render_html(report: RunReport) -> str:
    """The report as one self-contained HTML page; secrets redacted, strings escaped."""
    return (
        template_environment(_TEMPLATES).get_template("report.html.j2").render(**_context(report))
    )


def write_html(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` atomically; return its path."""
    return write_atomic(path, render_html(report))
