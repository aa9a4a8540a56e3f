"""``report.json``: the machine-readable report (see docs/report.md).

Stable keys (kept across versions): ``schema_version``; ``steps[]`` with
``id``, ``start``, ``end``, ``users``, ``offered_rps``, ``achieved_rps``,
``requests``, ``failures``, ``latency_ms.{p50,p90,p95,p99,p99.9}``; and
``totals.{requests,failures}``. Times are Unix epoch seconds; latencies are
milliseconds; missing values (an empty step, a field that does not apply such
as ``ttft_ms`` for non-streaming requests) are ``null``.

This module is the one place the report becomes a dict (:func:`report_to_dict`);
:mod:`.load` reads it back. The file's text (:func:`render_json`) is
redacted as it is serialized (:func:`~locust_ml.report.redact.redact`), as
every writer's output is.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from locust_ml.analysis.capacity import CapacityAnalysis, CurvePoint
from locust_ml.analysis.judge import StepJudgement
from locust_ml.analysis.planning import Cost, Plan, UtilizationAt
from locust_ml.analysis.samples import HISTOGRAM_FIELDS
from locust_ml.analysis.search import SearchResult
from locust_ml.analysis.slo import SLOVerdict
from locust_ml.analysis.steps import EndpointStats, StepStats, WindowStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.files import write_atomic
from locust_ml.report.model import SCHEMA_VERSION, ReportSettings, RunReport
from locust_ml.report.redact import redact
from locust_ml.report.sections import prefix_cache_hit_rate

__all__ = ["curve_dict", "render_json", "report_to_dict", "step_to_dict", "write_json"]

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
        "start": round(w.start, 6),
        "end": round(w.end, 6),
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


def _judgement(j: StepJudgement | None) -> dict[str, Any] | None:
    if j is None:
        return None
    return {"outcome": str(j.outcome), "reasons": list(j.reasons), "slo": _verdict(j.slo)}


def _search(r: SearchResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "reason": str(r.reason),
        "mode": r.mode,
        "sustainable": _num(r.sustainable),
        "first_bad": _num(r.first_bad),
        "precision": _num(r.precision, 6),
        "saturation_rps": _num(r.saturation_rps),
        "elapsed_s": _num(r.elapsed_s),
        "summary": r.summary(),
        "rule": {
            "slos": [str(s) for s in r.rule.slos],
            "error_ceiling": r.rule.error_ceiling,
            "stability_tolerance": r.rule.stability.tolerance,
        },
        # Each step's figures are in "steps" under the same id (one number per step).
        "history": [
            {
                "step": j.step,
                "load": _num(j.load),
                "phase": j.phase,
                "start": round(j.start, 3),
                "end": round(j.end, 3),
                "outcome": str(j.outcome),
                "reasons": list(j.reasons),
            }
            for j in r.history
        ],
    }


def step_to_dict(
    s: StepStats, telemetry: Sequence[SeriesStats] = (), judgement: StepJudgement | None = None
) -> dict[str, Any]:
    """One of ``steps[]`` (steps.csv is these rows, flattened)."""
    return {
        "id": s.id,
        "label": s.label,
        "mode": s.mode,
        "start": round(s.start, 6),
        "end": round(s.end, 6),
        "duration_s": round(s.duration_s, 6),
        "warmup_s": round(s.warmup_s, 6),
        "measured_s": round(s.measured_s, 6),
        "partial": s.partial,
        "all_requests": s.all_requests,
        "all_failures": s.all_failures,
        "in_flight": s.in_flight,
        "sent": s.events.get("sent"),
        "sent_measured": s.events.get("sent_measured"),
        "ok_rps": _num(s.ok_rps),
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
        "slo": _verdict(judgement.slo if judgement is not None else None),
        "judgement": _judgement(judgement),
        "late": s.events.get("late", 0),
        "dropped": s.events.get("dropped", 0),
        "workers_lost": s.events.get("workers_lost", 0),
        "endpoints": [_endpoint(e) for e in s.endpoints],
        "windows": [_window(w) for w in s.windows],
        # Means over the step across all GPUs / series; null without telemetry.
        "gpu_utilization": _mean_of(telemetry, "gpu_utilization_ratio"),
        "gpu_memory_used_bytes": _mean_of(telemetry, "gpu_memory_used_bytes"),
        "prefix_cache_hit_rate": _num(prefix_cache_hit_rate(telemetry), 6),
        "telemetry": [_series(r) for r in telemetry],
    }


def _curve_point(p: CurvePoint) -> dict[str, Any]:
    return {
        "step": p.step,
        "load": _num(p.load),
        "offered_rps": _num(p.offered_rps),
        "achieved_rps": _num(p.achieved_rps),
        "good_rps": _num(p.good_rps),
        "latency_ms": _latency(p.latency_ms),
        "passed": p.passed,
        "outcome": p.outcome,
        "label": p.label,
        "mode": p.mode,
    }


def _utilization(u: UtilizationAt | None) -> dict[str, Any] | None:
    if u is None:
        return None
    return {
        "step": u.step,
        "gpu_utilization": _num(u.gpu_utilization, 6),
        "gpu_memory_used_bytes": _num(u.gpu_memory_used_bytes, 0),
        "gpu_memory_ratio": _num(u.gpu_memory_ratio, 6),
        "target_cpu_cores": _num(u.target_cpu_cores, 6),
        "target_rss_bytes": _num(u.target_rss_bytes, 0),
        "generator_cpu_percent": _num(u.generator_cpu_percent, 2),
        "warnings": list(u.warnings),
    }


def _capacity(c: CapacityAnalysis | None, util: Mapping[str, UtilizationAt]) -> dict[str, Any]:
    if c is None:
        return {
            **dict.fromkeys(
                (
                    "slo_rps",
                    "slo_rps_ci",
                    "knee_rps",
                    "knee_latency_ms",
                    "knee_step",
                    "knee_note",
                    "saturation_rps",
                    "saturation_step",
                    "limiting_slo",
                    "last_passing_step",
                    "first_failing_step",
                    "latency_key",
                )
            ),
            "bound": "none",
            "curve": [],
            "utilization": {"knee": None, "slo_capacity": None},
            "notes": ["no step completed a request"],
        }
    return {
        "slo_rps": _num(c.slo_rps),
        "slo_rps_ci": None if c.slo_rps_ci is None else [_num(x) for x in c.slo_rps_ci],
        "bound": c.bound,
        "knee_rps": _num(c.knee_rps),
        "knee_latency_ms": _num(c.knee_latency_ms),
        "knee_step": c.knee_step,
        "knee_note": c.knee_note,
        "saturation_rps": _num(c.saturation_rps),
        "saturation_step": c.saturation_step,
        "limiting_slo": c.limiting_slo,
        "last_passing_step": c.last_passing_step,
        "first_failing_step": c.first_failing_step,
        "latency_key": c.latency_key,
        "curve": [_curve_point(p) for p in c.curve],
        "utilization": {
            "knee": _utilization(util.get("knee")),
            "slo_capacity": _utilization(util.get("slo_capacity")),
        },
        "notes": list(c.notes),
    }


def _run_verdict(v: RunVerdict) -> dict[str, Any]:
    return {
        "passed": v.passed,
        "valid": v.valid,
        "partial": v.partial,
        "exit_code": v.exit_code,
        "reasons": list(v.reasons),
        "warnings": list(v.warnings),
    }


def _cost(c: Cost | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "price_per_hour": c.price_per_hour,
        "instance": c.instance,
        "rps": _num(c.rps),
        "per_million_requests": _num(c.per_million_requests, 6),
        "tokens_out_per_s": _num(c.tokens_out_per_s),
        "per_million_output_tokens": _num(c.per_million_output_tokens, 6),
    }


def _plan(p: Plan | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "target_rps": p.target_rps,
        "per_replica_rps": _num(p.per_replica_rps),
        "target_utilization": p.target_utilization,
        "redundancy": p.redundancy,
        "replicas": p.replicas,
        "formula": p.formula,
    }


def _settings(s: ReportSettings) -> dict[str, Any]:
    return {
        "interrupted": s.interrupted,
        "min_capacity": s.min_capacity,
        "price_per_hour": s.price_per_hour,
        "instance": s.instance,
        "target_rps": s.target_rps,
        "target_utilization": s.target_utilization,
        "redundancy": s.redundancy,
        "stability_tolerance": s.stability_tolerance,
        "error_ceiling": s.error_ceiling,
        "fail_code": s.fail_code,
        "warmup_s": s.warmup_s,
    }


def _cold_start(report: RunReport) -> dict[str, Any] | None:
    c = report.cold_start
    if c is None:
        return None
    return {
        "time_to_ready_s": _num(c.time_to_ready_s, 6),
        "first_request_ms": _num(c.first_request_ms),
        "warm_p50_ms": _num(c.warm_p50_ms),
        "first_vs_warm": _num(c.first_vs_warm, 4),
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
            "shape": run.shape,
            "server_ready_s": _num(run.server_ready_s, 6),
            "first_request_ms": _num(run.first_request_ms),
        },
        "percentiles": list(report.percentiles),
        "window_s": report.window_s,
        "slos": [str(slo) for slo in report.slos],
        "steps": [
            step_to_dict(s, report.telemetry.get(s.id, ()), report.judgements.get(s.id))
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
        "capacity": _capacity(report.capacity, report.utilization),
        "verdict": _run_verdict(report.verdict),
        "cost": _cost(report.cost),
        "plan": _plan(report.plan),
        "errors": [
            {"type": e.method, "name": e.name, "message": e.message, "count": e.count}
            for e in report.errors
        ],
        "coldstart": _cold_start(report),
        "soak": None if report.soak is None else report.soak.to_dict(),
        "stress": None if report.stress is None else report.stress.to_dict(),
        "settings": _settings(report.settings),
        "notes": list(report.notes),
    }


def curve_dict(
    steps: Sequence[StepStats],
    verdicts: Mapping[int, StepJudgement],
    capacity: CapacityAnalysis | None,
    slos: Sequence[object],
) -> dict[str, Any]:
    """The parts of ``report.json`` the latency-throughput plot reads, for steps so far.

    The web UI draws the report's plot live, before there is a report.
    """
    return {
        "slos": [str(slo) for slo in slos],
        "steps": [step_to_dict(s, (), verdicts.get(s.id)) for s in steps],
        "capacity": _capacity(capacity, {}),
    }


def render_json(report: RunReport) -> str:
    """``report.json``'s text: :func:`report_to_dict`, redacted as it is serialized."""
    return json.dumps(redact(report_to_dict(report)), indent=2, allow_nan=False) + "\n"


def write_json(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.json`` atomically; return its path."""
    return write_atomic(path, render_json(report))
