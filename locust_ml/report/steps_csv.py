"""``steps.csv``: one row per step, for spreadsheets, pandas and dashboards.

The columns are fixed by this module, not by what a run happened to measure,
so files from different runs line up: the scalar step fields in a set order,
then one column per status class (``status_ok``, ``status_shed``...), then
one per latency-like field and percentile (``latency_p50_ms``,
``corrected_p99_ms``, ``ttft_p95_ms``...), for every percentile the report
lists. ``judged`` is the step's judgement (``pass``, ``slo``, ``unstable``,
...; empty for a step not judged). A value a step does not have (an empty
step's latency, TTFT of a non-streaming run) is an empty cell. Scalar
fields or latency fields that a newer report adds and this module does not
know yet are appended after the known ones, sorted by name, so nothing is
silently dropped.

The rows are ``report.json``'s steps flattened
(:func:`~locust_ml.report.json.step_to_dict`), so every number is written as
JSON has it (its precision), booleans as ``true``/``false``. A text cell
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) is prefixed with ``'``, the usual guard
against CSV injection; only step labels, modes and judgements are text, and
each is redacted as it is written (:func:`~locust_ml.report.redact.redact_text`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES, percentile_key
from locust_ml.analysis.status import STATUS_CLASSES
from locust_ml.files import write_atomic
from locust_ml.report.json import step_to_dict
from locust_ml.report.model import RunReport
from locust_ml.report.redact import redact_text

__all__ = [
    "LATENCY_FIELDS",
    "SCALAR_FIELDS",
    "render_steps_csv",
    "steps_columns",
    "write_steps_csv",
]

#: Scalar step fields, in column order.
SCALAR_FIELDS: Final = (
    "id",
    "label",
    "mode",
    "start",
    "end",
    "duration_s",
    "warmup_s",
    "measured_s",
    "partial",
    "users",
    "offered_rps",
    "achieved_rps",
    "ok_rps",
    "requests",
    "failures",
    "failure_ratio",
    "all_requests",
    "all_failures",
    "sent",
    "sent_measured",
    "in_flight",
    "goodput_rps",
    "tokens_out_per_s",
    "late",
    "dropped",
    "workers_lost",
    "gpu_utilization",
    "gpu_memory_used_bytes",
    "prefix_cache_hit_rate",
)
#: Latency-like step fields (``{percentile: ms}``), in column order.
LATENCY_FIELDS: Final = ("latency_ms", "corrected_ms", "lateness_ms", "ttft_ms", "itl_ms")
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, str | int | float | bool)


def _pkey_order(key: str) -> tuple[float, str]:
    try:
        return (float(key.removeprefix("p")), key)
    except ValueError:
        return (math.inf, key)


def steps_columns(
    steps: Sequence[Mapping[str, Any]], percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> list[str]:
    """The CSV header for JSON step rows (see the module docs for the order)."""
    pkeys = [percentile_key(q) for q in percentiles or DEFAULT_PERCENTILES]
    # A field that is a mapping in some step (a latency field, null in others) is not scalar.
    structured = {k for s in steps for k, v in s.items() if not _is_scalar(v)}
    structured |= {*LATENCY_FIELDS, "status", "slo", "judgement"}
    extra_scalars = sorted(
        {k for s in steps for k, v in s.items() if _is_scalar(v)} - set(SCALAR_FIELDS) - structured
    )
    statuses = {k for s in steps for k in (s.get("status") or {})}
    latency_fields = [*LATENCY_FIELDS]
    latency_fields += sorted(
        {
            k
            for s in steps
            for k, v in s.items()
            if k.endswith("_ms") and isinstance(v, Mapping) and k not in LATENCY_FIELDS
        }
    )
    columns = [*SCALAR_FIELDS, "judged", *extra_scalars]
    columns += [f"status_{c}" for c in [*STATUS_CLASSES, *sorted(statuses - set(STATUS_CLASSES))]]
    for name in latency_fields:
        keys = list(pkeys)
        seen = {str(k) for s in steps for k in (s.get(name) or {})}
        keys += sorted(seen - set(keys), key=_pkey_order)
        prefix = name.removesuffix("_ms")
        columns += [f"{prefix}_{k}_ms" for k in keys]
    return columns


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ""
    if isinstance(x, str):
        text = redact_text(x)
        return "'" + text if text.startswith(_FORMULA_START) else text
    return str(x)


def _row(step: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    values: dict[str, Any] = {
        k: v for k, v in step.items() if _is_scalar(v) and k not in LATENCY_FIELDS
    }
    judgement = step.get("judgement")
    values["judged"] = judgement.get("outcome") if isinstance(judgement, Mapping) else None
    for cls, count in (step.get("status") or {}).items():
        values[f"status_{cls}"] = count
    for name, lat in step.items():
        if name.endswith("_ms") and isinstance(lat, Mapping):
            prefix = name.removesuffix("_ms")
            for k, v in lat.items():
                values[f"{prefix}_{k}_ms"] = v
    if isinstance(step.get("status"), Mapping):
        for cls in STATUS_CLASSES:
            values.setdefault(f"status_{cls}", 0)
    return [_cell(values.get(c)) for c in columns]


def _step_rows(report: RunReport) -> list[dict[str, Any]]:
    return [
        step_to_dict(s, report.telemetry.get(s.id, ()), report.judgements.get(s.id))
        for s in report.steps
    ]


def render_steps_csv(report: RunReport) -> str:
    """The steps of ``report`` as CSV text with a header row."""
    steps = _step_rows(report)
    columns = steps_columns(steps, report.percentiles)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for step in steps:
        writer.writerow(_row(step, columns))
    return buf.getvalue()


def write_steps_csv(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``steps.csv`` atomically; return its path."""
    return write_atomic(path, render_steps_csv(report))
