"""``report.html``: the whole report in one self-contained file, for people.

A capacity report is read far from where it was made: attached to a CI run,
mailed, opened years later from an archive. So the page is one file with its
CSS and plots (inline SVG) inside, references no URL at all (a
Content-Security-Policy meta tag forbids loading anything, in case a string
ever slipped through), and needs no JavaScript.

The page renders the JSON form (``report.json``), not the dataclasses, so
``locust-ml report results.json`` can re-render a saved run, and so that a
report from an older or newer version degrades to "-" instead of raising:
every field is read defensively.

Strings from the target (error bodies, endpoint names, URLs, notes) are
hostile until proven otherwise. Two layers keep them harmless:

1. :func:`~locust_ml.report.redact.redact` removes secrets first;
2. the Jinja2 environment autoescapes everything, so a string can only ever
   become text. The one value marked safe is the SVG that
   :mod:`~locust_ml.report.plots` draws (matplotlib escapes text inside it).

The formatting helpers here (:func:`fmt_ms`, :func:`step_table`,
:func:`verdict_word`...) are shared with the Markdown summary, so both show
the same numbers in the same words.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.status import STATUS_CLASSES
from locust_ml.analysis.verdict import NO_CAPACITY_SHAPES, NOT_JUDGED_LABELS
from locust_ml.files import write_atomic
from locust_ml.report import sections
from locust_ml.report.console import format_ms
from locust_ml.report.redact import redact

__all__ = [
    "StepTable",
    "error_rows",
    "fmt_bytes",
    "fmt_money",
    "fmt_ms",
    "fmt_pct",
    "fmt_rate",
    "num",
    "render_html",
    "step_table",
    "verdict_word",
    "write_html",
]

_TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
#: Percentiles shown when the report does not list its own.
DEFAULT_PERCENTILES: Final = (50.0, 90.0, 95.0, 99.0, 99.9)
#: At most this many distinct error messages are listed.
MAX_ERRORS: Final = 20


def num(x: Any) -> float | None:
    """A finite float, or None for null, NaN, booleans and anything non-numeric."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _seq(x: Any) -> Sequence[Any]:
    return x if isinstance(x, list | tuple) else ()


def _strs(x: Any) -> list[str]:
    return [str(s) for s in _seq(x) if s is not None]


def fmt_ms(x: Any) -> str:
    """Milliseconds with 3-4 significant digits, ``-`` when missing."""
    return format_ms(num(x))


def fmt_rate(x: Any, digits: int = 2) -> str:
    """A rate (req/s), ``-`` when missing."""
    value = num(x)
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_pct(ratio: Any, digits: int = 1) -> str:
    """A ratio (0..1) as a percentage, ``-`` when missing."""
    value = num(ratio)
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def fmt_money(x: Any) -> str:
    """Dollars: 2 decimals, or 3 significant digits below $1 (``$0.0627``)."""
    value = num(x)
    if value is None:
        return "-"
    return f"${value:.2f}" if abs(value) >= 1 else f"${value:.3g}"


def fmt_bytes(x: Any) -> str:
    """Bytes in binary units: ``16.0 GiB``."""
    value = num(x)
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _fmt_value(x: Any) -> str:
    """Any scalar from the report, for key/value tables."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def verdict_word(report: Mapping[str, Any]) -> str:
    """``PASS``, ``FAIL`` or ``INVALID`` from ``verdict``; ``NO VERDICT`` if it has none.

    The writer never decides a verdict itself: a report without one (made
    before verdicts existed) says so.
    """
    verdict = report.get("verdict")
    if not isinstance(verdict, Mapping):
        return "NO VERDICT"
    if verdict.get("valid") is False:
        return "INVALID"
    return "PASS" if verdict.get("passed") is True else "FAIL"


def _percentile_keys(report: Mapping[str, Any]) -> list[str]:
    keys = []
    for q in _seq(report.get("percentiles")) or DEFAULT_PERCENTILES:
        value = num(q)
        if value is not None and 0 < value <= 100:
            keys.append(percentile_key(value))
    return keys or [percentile_key(q) for q in DEFAULT_PERCENTILES]


def step_latency(step: Mapping[str, Any]) -> Mapping[str, Any]:
    """Open-loop steps show latency from the intended send time (as the console does)."""
    corrected = _map(step.get("corrected_ms"))
    if step.get("mode") == "open" and corrected:
        return corrected
    return _map(step.get("latency_ms"))


def _gpu(step: Mapping[str, Any]) -> float | None:
    value = num(step.get("gpu_utilization"))
    if value is not None:
        return value
    means = [
        m
        for t in _seq(step.get("telemetry"))
        if _map(t).get("metric") == "gpu_utilization_ratio"
        and (m := num(_map(t).get("mean"))) is not None
    ]
    return sum(means) / len(means) if means else None


@dataclass(frozen=True)
class StepTable:
    """The step table as text cells: ``header`` and one row per step.

    ``passed`` holds each step's SLO result (None: no SLOs judged), so a
    writer can colour rows. ``numeric`` marks right-aligned columns.
    """

    header: list[str]
    rows: list[list[str]]
    passed: list[bool | None]
    numeric: list[bool]


def step_table(report: Mapping[str, Any], percentiles: Sequence[str] | None = None) -> StepTable:
    """The per-step summary (as in the console), leaving out columns no step fills."""
    steps = [_map(s) for s in _seq(report.get("steps"))]
    keys = list(percentiles) if percentiles is not None else _percentile_keys(report)
    labels = any(isinstance(s.get("label"), str) and s.get("label") for s in steps)
    judged = any(isinstance(s.get("judgement"), Mapping) for s in steps)
    gpus = [_gpu(s) for s in steps]
    has_gpu = any(g is not None for g in gpus)
    header = ["step", *(["label"] if labels else []), "users", "offered/s", "achieved/s"]
    header += ["requests", "fail%", *keys]
    header += ["ok/s", "judged"] if judged else []
    header += ["GPU%"] if has_gpu else []
    rows, passed = [], []
    for s, gpu in zip(steps, gpus, strict=True):
        lat = step_latency(s)
        judgement = s.get("judgement")
        outcome = _map(judgement).get("outcome")
        ok = None if not isinstance(outcome, str) else outcome == "pass"
        row = [_fmt_value(s.get("id")), *([str(s.get("label") or "")] if labels else [])]
        users = None if s.get("mode") == "open" else s.get("users")  # open loop: a pool
        row += [_fmt_value(users), fmt_rate(s.get("offered_rps"))]
        row += [fmt_rate(s.get("achieved_rps")), _fmt_value(s.get("requests"))]
        row += [fmt_pct(s.get("failure_ratio")), *(fmt_ms(lat.get(k)) for k in keys)]
        if judged:
            if s.get("partial") is True:
                word = "partial"
            elif not isinstance(outcome, str):
                label = s.get("label")
                word = str(label) if label in NOT_JUDGED_LABELS else "-"
            else:
                word = "pass" if ok else ("FAIL" if outcome == "slo" else outcome)
            row += [fmt_rate(s.get("ok_rps")), word]
        if has_gpu:
            row += ["-" if gpu is None else f"{100 * gpu:.0f}"]
        rows.append(row)
        passed.append(ok if isinstance(ok, bool) else None)
    numeric = [h not in {"label", "judged"} for h in header]
    return StepTable(header, rows, passed, numeric)


def error_rows(report: Mapping[str, Any], limit: int = MAX_ERRORS) -> list[tuple[str, str, int]]:
    """The most frequent error messages: ``(endpoint, message, count)``, most first.

    Read from ``errors`` lists on endpoints (``totals.endpoints`` when present,
    else summed over the steps' endpoints) and a top-level ``errors`` list;
    each entry is ``{"message"|"error"|"body"|"detail": str, "count": int}``,
    or a mapping of message to count.
    """
    counts: dict[tuple[str, str], int] = {}

    def add(endpoint: str, errors: Any) -> None:
        items: list[tuple[Any, ...]] = []
        if isinstance(errors, Mapping):
            items = list(errors.items())
        for e in _seq(errors):
            if isinstance(e, str):
                items.append((e, 1))
            elif isinstance(e, Mapping):
                text = next((e[k] for k in ("message", "error", "body", "detail") if e.get(k)), "")
                where = " ".join(str(e[k]) for k in ("type", "name") if e.get(k)) or endpoint
                items.append((text, e.get("count", e.get("occurrences", 1)), where))
        for item in items:
            text, n, where = (*item, endpoint) if len(item) == 2 else item
            key = (str(where), str(text))
            counts[key] = counts.get(key, 0) + int(num(n) or 0)

    totals = _seq(_map(report.get("totals")).get("endpoints"))
    sources = totals or [
        e for s in _seq(report.get("steps")) for e in _seq(_map(s).get("endpoints"))
    ]
    for raw in sources:
        e = _map(raw)
        name = " ".join(str(e[k]) for k in ("type", "name") if e.get(k))
        add(name, e.get("errors"))
    add("", report.get("errors"))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(ep, msg, n) for (ep, msg), n in ranked[:limit]]


#: Utilization columns of the capacity box: (heading, key of :func:`_utilization`).
_UTILIZATION_COLUMNS: Final = (
    ("GPU util", "gpu"),
    ("GPU memory", "gpu_memory"),
    ("target CPU (cores)", "target_cpu"),
    ("target memory", "target_rss"),
    ("load generator CPU", "generator_cpu"),
)


def _utilization(u: Any) -> dict[str, Any] | None:
    if not isinstance(u, Mapping):
        return None
    memory = fmt_bytes(u.get("gpu_memory_used_bytes"))
    ratio = fmt_pct(u.get("gpu_memory_ratio"), 0)
    if ratio != "-":
        memory = ratio if memory == "-" else f"{memory} ({ratio})"
    generator = num(u.get("generator_cpu_percent"))
    return {
        "step": _fmt_value(u.get("step")),
        "gpu": fmt_pct(u.get("gpu_utilization"), 0),
        "gpu_memory": memory,
        "target_cpu": fmt_rate(u.get("target_cpu_cores"), 2),
        "target_rss": fmt_bytes(u.get("target_rss_bytes")),
        "generator_cpu": fmt_pct(None if generator is None else generator / 100, 0),
        "warnings": _strs(u.get("warnings")),
    }


def _utilization_table(util: Mapping[str, Any]) -> dict[str, Any] | None:
    """Utilization at the knee and at capacity, leaving out what nobody measured."""
    rows = [
        (name, u)
        for name, key in (("at the knee", "knee"), ("at SLO capacity", "slo_capacity"))
        if (u := _utilization(util.get(key))) is not None
    ]
    columns = [
        (title, key) for title, key in _UTILIZATION_COLUMNS if any(u[key] != "-" for _, u in rows)
    ]
    if not rows:
        return None
    return {
        "columns": [title for title, _ in columns],
        "rows": [(name, u["step"], [u[k] for _, k in columns], u["warnings"]) for name, u in rows],
    }


def _why(notes: Sequence[str], prefix: str) -> str | None:
    """The analysis note that starts with ``prefix``, without it."""
    return next((n.removeprefix(prefix).strip() for n in notes if n.startswith(prefix)), None)


def _said_in_rows(c: Mapping[str, Any]) -> tuple[str, ...]:
    found = num(c.get("slo_rps")) is not None
    return ("knee:", "saturation:") if found else ("knee:", "saturation:", "SLO capacity:")


def _capacity(report: Mapping[str, Any]) -> dict[str, Any] | None:
    c = report.get("capacity")
    if not isinstance(c, Mapping):
        return None
    ci = [num(v) for v in _seq(c.get("slo_rps_ci"))]
    util = _map(c.get("utilization"))
    notes = _strs(c.get("notes"))
    return {
        "slo_rps": fmt_rate(c.get("slo_rps")),
        "slo_rps_ci": (
            f"{ci[0]:.2f} - {ci[1]:.2f}"
            if len(ci) == 2 and ci[0] is not None and ci[1] is not None
            else None
        ),
        "limiting_slo": c.get("limiting_slo"),
        "lower_bound": c.get("bound") == "lower-bound",
        "knee": sections.knee_text(c),
        "saturation": sections.saturation_text(c),
        "last_passing_step": c.get("last_passing_step"),
        "first_failing_step": c.get("first_failing_step"),
        "utilization": _utilization_table(util),
        "slo_missing": None if num(c.get("slo_rps")) is not None else _why(notes, "SLO capacity:"),
        # Notes said in the rows above are not repeated.
        "notes": [n for n in notes if not n.startswith(_said_in_rows(c))],
    }


def _cost(report: Mapping[str, Any]) -> dict[str, str] | None:
    c = report.get("cost")
    if not isinstance(c, Mapping):
        return None
    return {
        "per_million_requests": fmt_money(c.get("per_million_requests")),
        "per_million_output_tokens": fmt_money(c.get("per_million_output_tokens")),
        "price_per_hour": fmt_money(c.get("price_per_hour")),
        "rps": fmt_rate(c.get("rps")),
        "tokens_out_per_s": fmt_rate(c.get("tokens_out_per_s"), 1),
        "instance": str(c.get("instance") or ""),
    }


def _plan(report: Mapping[str, Any]) -> dict[str, str] | None:
    p = report.get("plan")
    if not isinstance(p, Mapping):
        return None
    return {
        "replicas": _fmt_value(p.get("replicas")),
        "target_rps": fmt_rate(p.get("target_rps")),
        "per_replica_rps": fmt_rate(p.get("per_replica_rps")),
        "target_utilization": fmt_pct(p.get("target_utilization"), 0),
        "redundancy": _fmt_value(p.get("redundancy")),
        "formula": str(p.get("formula") or ""),
    }


def _status_table(report: Mapping[str, Any]) -> dict[str, Any]:
    steps = [_map(s) for s in _seq(report.get("steps"))]
    totals = _map(_map(report.get("totals")).get("status"))
    seen = {k for s in steps for k in _map(s.get("status"))} | set(totals)
    classes = [c for c in STATUS_CLASSES if c in seen] + sorted(seen - set(STATUS_CLASSES))
    rows = [
        [_fmt_value(s.get("id")), *(_fmt_value(_map(s.get("status")).get(c, 0)) for c in classes)]
        for s in steps
    ]
    total = ["total", *(_fmt_value(totals.get(c, 0)) for c in classes)]
    return {"classes": classes, "rows": rows, "total": total}


def _slo_results(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for s in _seq(report.get("steps")):
        for raw in _seq(_map(_map(s).get("slo")).get("results")):
            r = _map(raw)
            slo = str(r.get("slo", ""))
            as_pct = slo.startswith("errors")
            fmt = fmt_pct if as_pct else fmt_ms
            rows.append(
                [
                    _fmt_value(_map(s).get("id")),
                    slo,
                    fmt(r.get("measured")),
                    fmt(r.get("threshold")),
                    str(r.get("status", "-")),
                ]
            )
    return rows


def _endpoints(report: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for raw in _seq(_map(report.get("totals")).get("endpoints")):
        e = _map(raw)
        lat = _map(e.get("latency_ms"))
        rows.append(
            [
                str(e.get("type") or ""),
                str(e.get("name") or ""),
                _fmt_value(e.get("requests")),
                _fmt_value(e.get("failures")),
                fmt_rate(e.get("achieved_rps")),
                fmt_ms(lat.get("p50")),
                fmt_ms(lat.get("p99")),
            ]
        )
    return rows


def _context(report: Mapping[str, Any]) -> dict[str, Any]:
    from locust_ml.report import plots

    verdict = _map(report.get("verdict"))
    table = step_table(report)
    run = _map(report.get("run"))
    return {
        "title": f"locust-ml report: {run.get('locustfile') or 'run'}",
        "verdict": verdict_word(report),
        "has_verdict": bool(verdict),
        "partial": verdict.get("partial") is True,
        "exit_code": _fmt_value(verdict.get("exit_code")),
        "reasons": _strs(verdict.get("reasons")),
        "warnings": _strs(verdict.get("warnings")),
        "capacity": _capacity(report),
        "holds_loads": run.get("shape") in NO_CAPACITY_SHAPES,
        "run_shape": run.get("shape"),
        "cost": _cost(report),
        "plan": _plan(report),
        "curve_svg": _safe(plots.latency_throughput_svg(report)),
        "timeseries_svg": _safe(plots.timeseries_svg(report)),
        "steps": table,
        "steps_rows": list(zip(table.rows, table.passed, strict=True)),
        "open_loop": any(_map(s).get("mode") == "open" for s in _seq(report.get("steps"))),
        "status": _status_table(report),
        "errors": error_rows(report),
        "endpoints": _endpoints(report),
        "slos": _strs(report.get("slos")),
        "slo_results": _slo_results(report),
        "run": sections.run_rows(report),
        "notes": _strs(report.get("notes")),
        "spike": sections.spike_summary(report),
        "soak": sections.soak_trends(report),
        "breaking_point": sections.breaking_point_rows(report),
        "search": sections.search_rows(report),
        "settings": sections.settings_rows(report),
    }


def _safe(svg: str | None) -> Markup | None:
    # The SVG is ours: drawn by matplotlib, which escapes text it contains.
    return None if svg is None else Markup(svg)  # noqa: S704


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The report (its JSON form) as one self-contained HTML page; secrets redacted."""
    return _environment().get_template("report.html.j2").render(**_context(redact(report)))


def write_html(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` atomically; return its path."""
    return write_atomic(path, render_html(report))
