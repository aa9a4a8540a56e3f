"""``report.json``: the machine-readable report (see docs/report.md).

Stable keys (kept across versions): ``schema_version``; ``steps[]`` with
``id``, ``start``, ``end``, ``users``, ``offered_rps``, ``achieved_rps``,
``requests``, ``failures``, ``latency_ms.{p50,p90,p95,p99,p99.9}``; and
``totals.{requests,failures}``. Times are Unix epoch seconds; latencies are
milliseconds; missing values (an empty step, a field that does not apply such
as ``ttft_ms`` for non-streaming requests) are ``null``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from locust_ml.analysis.samples import HISTOGRAM_FIELDS
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.slo import SLOVerdict
from locust_ml.analysis.steps import EndpointStats, StepStats, WindowStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.report.files import write_atomic
from locust_ml.report.model import SCHEMA_VERSION, RunReport

__all__ = ["report_to_dict", "write_json"]

_EXTRA = HISTOGRAM_FIELDS[1:]  # corrected, lateness, ttft, itl


def _num(x: float | None, ndigits: int = 3) -> float | None:
    if x is None or math.isnan(x):
        return None
    return round(x, ndigits)


def _latency(lat: dict[str, float | None] | Any) -> dict[str, float | None]:
    return {k: _num(v) for k, v in lat.items()}


def _extra(extra: Mapping[str, Mapping[str, float | None]] | None) -> dict[str, Any]:
    """Other latency-like fields, each ``{percentile: ms}`` or null when absent."""
    extra = extra or {}
    return {f"{name}_ms": _latency(extra[name]) if name in extra else None for name in _EXTRA}


def _endpoint(e: EndpointStats) -> dict[str, Any]:
    return {
        "type": e.request_type,
        "name": e.name,
        "requests": e.requests,
        "failures": e.failures,
        "status": dict(e.status),
        "bytes_sent": e.bytes_sent,
        "bytes_received": e.bytes_received,
        "tokens_in": e.tokens_in,
        "tokens_out": e.tokens_out,
        "achieved_rps": _num(e.achieved_rps),
        "latency_ms": _latency(e.latency_ms),
        "mean_ms": _num(e.mean_ms),
        "max_ms": _num(e.max_ms),
        **_extra(e.extra_ms),
    }


def _window(w: WindowStats) -> dict[str, Any]:
    return {
        "index": w.index,
        "start": round(w.start, 3),
        "end": round(w.end, 3),
        "requests": w.requests,
        "failures": w.failures,
        "achieved_rps": _num(w.achieved_rps),
        "latency_ms": _latency(w.latency_ms),
        "corrected_ms": None if w.corrected_ms is None else _latency(w.corrected_ms),
    }


def _series(r: SeriesStats) -> dict[str, Any]:
    return {
        "source": r.source,
        "metric": r.metric,
        "labels": dict(r.labels),
        "kind": r.kind,
        "samples": r.samples,
        "mean": _num(r.mean, 6),
        "min": _num(r.min, 6),
        "max": _num(r.max, 6),
        "last": _num(r.last, 6),
        "rate_per_s": _num(r.rate_per_s, 6),
        "window_means": {str(w): _num(v, 6) for w, v in r.window_means.items()},
    }


def _mean_of(rows: Sequence[SeriesStats], metric: str) -> float | None:
    vals = [r.mean for r in rows if r.metric == metric and r.mean is not None]
    return _num(sum(vals) / len(vals), 6) if vals else None


def _verdict(v: SLOVerdict | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "passed": v.passed,
        "results": [
            {
                "slo": str(r.slo),
                "measured": _num(r.measured, 6),
                "threshold": r.threshold,
                "status": str(r.status),
            }
            for r in v.results
        ],
    }


def _search(r: SearchResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "reason": str(r.reason),
        "mode": r.mode,
        "sustainable": _num(r.sustainable),
        "first_bad": _num(r.first_bad),
        "precision": _num(r.precision, 6),
        "summary": r.summary(),
        "history": [
            {
                "step": j.step,
                "load": _num(j.load),
                "phase": j.phase,
                "verdict": str(j.verdict),
                "reasons": list(j.reasons),
                "achieved_rps": _num(j.achieved_rps),
                "slo": _verdict(j.slo),
            }
            for j in r.history
        ],
    }


def _step(
    s: StepStats, telemetry: Sequence[SeriesStats] = (), verdict: SLOVerdict | None = None
) -> dict[str, Any]:
    return {
        "id": s.id,
        "label": s.label,
        "mode": s.mode,
        "start": round(s.start, 3),
        "end": round(s.end, 3),
        "duration_s": round(s.duration_s, 3),
        "users": s.users,
        "offered_rps": _num(s.offered_rps),
        "achieved_rps": _num(s.achieved_rps),
        "requests": s.requests,
        "failures": s.failures,
        "failure_ratio": _num(s.failure_ratio, 6),
        "status": dict(s.status or {}),
        "latency_ms": _latency(s.latency_ms),
        **_extra(s.extra_ms),
        "tokens_out_per_s": _num(s.tokens_out_per_s),
        "goodput_rps": _num(s.goodput_rps),
        "slo": _verdict(verdict),
        "late": s.events.get("late", 0),
        "dropped": s.events.get("dropped", 0),
        "endpoints": [_endpoint(e) for e in s.endpoints],
        "windows": [_window(w) for w in s.windows],
        # Means over the step across all GPUs / series; null without telemetry.
        "gpu_utilization": _mean_of(telemetry, "gpu_utilization_ratio"),
        "gpu_memory_used_bytes": _mean_of(telemetry, "gpu_memory_used_bytes"),
        "telemetry": [_series(r) for r in telemetry],
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
            "telemetry_cpu_s": round(run.telemetry_cpu_s, 6),
        },
        "percentiles": list(report.percentiles),
        "window_s": report.window_s,
        "slos": [str(slo) for slo in report.slos],
        "steps": [
            _step(s, report.telemetry.get(s.id, ()), report.slo_verdicts.get(s.id))
            for s in report.steps
        ],
        "search": _search(report.search),
        "totals": {
            "requests": report.totals.requests,
            "failures": report.totals.failures,
            "status": dict(report.totals.status or {}),
            "late": report.totals.events.get("late", 0),
            "dropped": report.totals.events.get("dropped", 0),
            "latency_ms": _latency(report.totals.latency_ms),
            "endpoints": [_endpoint(e) for e in report.totals.endpoints],
        },
        "notes": list(report.notes),
    }


def write_json(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.json`` atomically; return its path."""
    text = json.dumps(report_to_dict(report), indent=2, allow_nan=False)
    return write_atomic(path, text + "\n")
