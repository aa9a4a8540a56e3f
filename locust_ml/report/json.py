"""``report.json``: the machine-readable report (see docs/report.md).

Stable keys (kept across versions): ``schema_version``; ``steps[]`` with
``id``, ``start``, ``end``, ``users``, ``offered_rps``, ``achieved_rps``,
``requests``, ``failures``, ``latency_ms.{p50,p90,p95,p99,p99.9}``; and
``totals.{requests,failures}``. Times are Unix epoch seconds; latencies are
milliseconds; missing values (an empty step) are ``null``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from locust_ml.analysis.steps import EndpointStats, StepStats
from locust_ml.report.files import write_atomic
from locust_ml.report.model import SCHEMA_VERSION, RunReport

__all__ = ["report_to_dict", "write_json"]


def _num(x: float | None, ndigits: int = 3) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x, ndigits)


def _latency(lat: dict[str, float | None] | Any) -> dict[str, float | None]:
    return {k: _num(v) for k, v in lat.items()}


def _endpoint(e: EndpointStats) -> dict[str, Any]:
    return {
        "type": e.request_type,
        "name": e.name,
        "requests": e.requests,
        "failures": e.failures,
        "bytes": e.bytes,
        "achieved_rps": _num(e.achieved_rps),
        "latency_ms": _latency(e.latency_ms),
        "mean_ms": _num(e.mean_ms),
        "max_ms": _num(e.max_ms),
    }


def _step(s: StepStats) -> dict[str, Any]:
    return {
        "id": s.id,
        "start": round(s.start, 3),
        "end": round(s.end, 3),
        "duration_s": round(s.duration_s, 3),
        "users": s.users,
        "offered_rps": _num(s.offered_rps),
        "achieved_rps": _num(s.achieved_rps),
        "requests": s.requests,
        "failures": s.failures,
        "failure_ratio": _num(s.failure_ratio, 6),
        "latency_ms": _latency(s.latency_ms),
        "endpoints": [_endpoint(e) for e in s.endpoints],
    }


def report_to_dict(report: RunReport) -> dict[str, Any]:
    run = report.run
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "locust-ml", "version": run.tool_version},
        "run": {
            "locustfile": run.locustfile,
            "target": run.target,
            "started_at": round(run.started_at, 3),
            "ended_at": round(run.ended_at, 3),
            "duration_s": round(report.duration_s, 3),
            "mode": run.mode,
            "workers": run.workers,
        },
        "percentiles": list(report.percentiles),
        "steps": [_step(s) for s in report.steps],
        "totals": {
            "requests": report.totals.requests,
            "failures": report.totals.failures,
            "latency_ms": _latency(report.totals.latency_ms),
            "endpoints": [_endpoint(e) for e in report.totals.endpoints],
        },
        "notes": list(report.notes),
    }


def write_json(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.json`` atomically; return its path."""
    text = json.dumps(report_to_dict(report), indent=2, allow_nan=False)
    return write_atomic(path, text + "\n")
