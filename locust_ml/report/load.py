"""Read a saved ``report.json`` back into a :class:`~locust_ml.report.model.RunReport`.

The one reader of the JSON form: ``locust-ml report`` (re-decide and
re-render), ``compare`` and ``autoscale`` all load through it, and every
writer takes what it returns. :mod:`.json` writes the form, this module
reads it back: for a report this version wrote, ``report_to_dict(load_report(path))``
is the file again, decisions included (capacity, verdict, plan, cost,
utilization, soak and stress as saved).

``locust-ml report results.json --ml-slo 'p99<300ms' --ml-price-per-hour 3.06``
re-decides a run without re-running it. Every decision (SLO verdicts,
capacity, knee, plan, cost, verdict) is a function of the per-step statistics
the JSON keeps, so loading them and calling
:func:`~locust_ml.report.model.decide` again gives exactly what the run would
have reported with those settings. What cannot be recomputed from the JSON is
said in a note: goodput needs every request's latency, so it is kept as
measured under the original SLOs.

Errors name the file and the field: a hand-edited or truncated report fails
with one line (:class:`~locust_ml.errors.ReportError`), never a traceback. A
number must be a number (``"12"`` is not), and a capacity, price, cost or
utilization must not be negative: a comparison built on a misread figure is
worse than none (issue 13: a hand-edited negative capacity was ranked first).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from locust_ml.analysis.capacity import CapacityAnalysis, CurvePoint
from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement
from locust_ml.analysis.planning import Cost, Plan, UtilizationAt
from locust_ml.analysis.search import SEARCH_STABILITY, JudgedStep, SearchResult, StopReason
from locust_ml.analysis.slo import SLO, SLOResult, SLOStatus, SLOVerdict, parse_slo, parse_slos
from locust_ml.analysis.soak import SoakConfig, SoakTrend, SoakVerdict
from locust_ml.analysis.steps import EndpointStats, StepStats, Totals, WindowStats
from locust_ml.analysis.stress import BreakingPoint, FailureCounts, FailureMode, StressVerdict
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.config import parse_percentiles
from locust_ml.errors import ConfigError, ReportError
from locust_ml.report.model import ErrorCount, ReportSettings, RunInfo, RunReport

__all__ = [
    "capacity_from_dict",
    "curve_report_from_dict",
    "load_report",
    "missing_percentiles",
    "report_from_dict",
    "step_from_dict",
]

_EXTRA = ("corrected", "lateness", "ttft", "itl")


def _pcts(raw: Any) -> dict[str, float | None]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): (None if v is None else float(v)) for k, v in raw.items()}


def _f(raw: Any) -> float | None:
    """A number, or None for null; a string or a boolean is a hand edit, not a number."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeError(f"expected a number, got {raw!r}")
    return float(raw)


def _i(raw: Any) -> int | None:
    return None if raw is None else int(raw)


def _text(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _texts(raw: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in raw or ())


def _amount(section: Mapping[str, Any], key: str, where: str) -> float | None:
    """A rate, price, cost or utilization: a finite number >= 0, or None."""
    raw = section.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise TypeError(f"{where}.{key} must be a number or null, got {raw!r}")
    if raw < 0:
        raise ValueError(f"{where}.{key} must be >= 0 or null, got {raw!r}")
    return float(raw)


def _extra(raw: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    return {name: _pcts(raw[f"{name}_ms"]) for name in _EXTRA if raw.get(f"{name}_ms")}


def _endpoint(raw: Mapping[str, Any]) -> EndpointStats:
    return EndpointStats(
        request_type=str(raw.get("type", "")),
        name=str(raw.get("name", "")),
        requests=int(raw.get("requests", 0)),
        failures=int(raw.get("failures", 0)),
        status={str(k): int(v) for k, v in (raw.get("status") or {}).items()},
        bytes_sent=int(raw.get("bytes_sent") or 0),
        bytes_received=int(raw.get("bytes_received") or 0),
        tokens_in=int(raw.get("tokens_in") or 0),
        tokens_out=int(raw.get("tokens_out") or 0),
        achieved_rps=_f(raw.get("achieved_rps")),
        latency_ms=_pcts(raw.get("latency_ms")),
        mean_ms=_f(raw.get("mean_ms")),
        max_ms=_f(raw.get("max_ms")),
        extra_ms=_extra(raw),
    )


def _window(raw: Mapping[str, Any]) -> WindowStats:
    corrected = raw.get("corrected_ms")
    return WindowStats(
        start=float(raw["start"]),
        end=float(raw["end"]),
        requests=int(raw["requests"]),
        failures=int(raw.get("failures", 0)),
        latency_ms=_pcts(raw.get("latency_ms")),
        achieved_rps=_f(raw.get("achieved_rps")),
        index=int(raw.get("index", 0)),
        corrected_ms=None if corrected is None else _pcts(corrected),
    )


def _series(raw: Mapping[str, Any]) -> SeriesStats:
    return SeriesStats(
        source=str(raw["source"]),
        metric=str(raw["metric"]),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        kind=str(raw.get("kind", "gauge")),
        samples=int(raw.get("samples", 0)),
        mean=_f(raw.get("mean")),
        min=_f(raw.get("min")),
        max=_f(raw.get("max")),
        last=_f(raw.get("last")),
        rate_per_s=_f(raw.get("rate_per_s")),
        window_means={
            int(k): float(v) for k, v in (raw.get("window_means") or {}).items() if v is not None
        },
    )


def step_from_dict(raw: Mapping[str, Any]) -> StepStats:
    """One of ``steps[]`` (also what :func:`~locust_ml.report.json.curve_dict` writes)."""
    return StepStats(
        id=int(raw["id"]),
        start=float(raw["start"]),
        end=float(raw["end"]),
        users=None if raw.get("users") is None else int(raw["users"]),
        offered_rps=_f(raw.get("offered_rps")),
        achieved_rps=_f(raw.get("achieved_rps")),
        requests=int(raw["requests"]),
        failures=int(raw["failures"]),
        latency_ms=_pcts(raw.get("latency_ms")),
        endpoints=tuple(_endpoint(e) for e in raw.get("endpoints") or ()),
        mode=str(raw.get("mode", "closed")),
        label=str(raw.get("label", "")),
        status={str(k): int(v) for k, v in (raw.get("status") or {}).items()},
        extra_ms=_extra(raw),
        tokens_out_per_s=_f(raw.get("tokens_out_per_s")),
        windows=tuple(_window(w) for w in raw.get("windows") or ()),
        goodput_rps=_f(raw.get("goodput_rps")),
        events={
            k: int(raw.get(k) or 0)
            for k in ("late", "dropped", "sent", "sent_measured", "workers_lost")
            if raw.get(k) is not None
        },
        warmup_s=float(raw.get("warmup_s") or 0.0),
        partial=bool(raw.get("partial", False)),
        all_requests=int(raw.get("all_requests", raw["requests"])),
        all_failures=int(raw.get("all_failures", raw["failures"])),
        in_flight=None if raw.get("in_flight") is None else int(raw["in_flight"]),
    )


def _judgement(step: int, raw: Any) -> StepJudgement | None:
    if not isinstance(raw, Mapping):
        return None
    return StepJudgement(
        step,
        Outcome(raw["outcome"]),
        tuple(str(r) for r in raw.get("reasons") or ()),
        _slo_verdict(raw.get("slo")),
    )


def _slo_verdict(raw: Any) -> SLOVerdict | None:
    if not isinstance(raw, Mapping):
        return None
    return SLOVerdict(
        tuple(
            SLOResult(parse_slo(r["slo"]), _f(r.get("measured")), SLOStatus(r["status"]))
            for r in raw.get("results") or ()
        )
    )


def _rule(raw: Any) -> JudgeRule:
    from dataclasses import replace

    if not isinstance(raw, Mapping):
        return JudgeRule()
    ceiling = raw.get("error_ceiling")
    return JudgeRule(
        slos=parse_slos(list(raw.get("slos") or ()), option="search.rule.slos"),
        stability=replace(
            SEARCH_STABILITY,
            tolerance=float(raw.get("stability_tolerance", SEARCH_STABILITY.tolerance)),
        ),
        error_ceiling=None if ceiling is None else float(ceiling),
    )


def _search(raw: Any) -> SearchResult | None:
    """The search's outcome and its own step judgements."""
    if not isinstance(raw, Mapping):
        return None
    history = tuple(
        JudgedStep(
            step=int(h["step"]),
            load=float(h["load"]),
            phase=str(h["phase"]),
            start=float(h.get("start", 0.0)),
            end=float(h.get("end", 0.0)),
            outcome=Outcome(h["outcome"]),
            reasons=tuple(h.get("reasons") or ()),
        )
        for h in raw.get("history") or ()
    )
    rule = _rule(raw.get("rule"))
    return SearchResult(
        reason=StopReason(raw["reason"]),
        mode=raw["mode"],
        sustainable=_f(raw.get("sustainable")),
        first_bad=_f(raw.get("first_bad")),
        history=history,
        slos=rule.slos,
        saturation_rps=_f(raw.get("saturation_rps")),
        elapsed_s=float(raw.get("elapsed_s") or 0.0),
        rule=rule,
    )


def _settings(raw: Any) -> ReportSettings:
    """The settings a saved report was decided with."""
    if not isinstance(raw, Mapping):
        return ReportSettings()
    defaults = ReportSettings()
    return ReportSettings(
        interrupted=raw.get("interrupted"),
        min_capacity=_f(raw.get("min_capacity")),
        price_per_hour=_f(raw.get("price_per_hour")),
        instance=raw.get("instance"),
        target_rps=_f(raw.get("target_rps")),
        target_utilization=float(raw.get("target_utilization", defaults.target_utilization)),
        redundancy=int(raw.get("redundancy", defaults.redundancy)),
        stability_tolerance=float(raw.get("stability_tolerance", defaults.stability_tolerance)),
        error_ceiling=float(raw.get("error_ceiling", defaults.error_ceiling)),
        fail_code=int(raw.get("fail_code", defaults.fail_code)),
        warmup_s=float(raw.get("warmup_s") or 0.0),
    )


# ------------------------------------------------------------------ decisions


def _curve_point(raw: Mapping[str, Any], steps: Mapping[int, StepStats]) -> CurvePoint:
    """A point of ``capacity.curve``; its counts (not in the JSON) come from its step."""
    step = steps.get(int(raw["step"]))
    passed = raw.get("passed")
    return CurvePoint(
        step=int(raw["step"]),
        load=float(_f(raw.get("load")) or 0.0),
        achieved_rps=float(_f(raw.get("achieved_rps")) or 0.0),
        good_rps=float(_f(raw.get("good_rps")) or 0.0),
        requests=0 if step is None else step.requests,
        failure_ratio=0.0 if step is None else step.failure_ratio,
        latency_ms=_pcts(raw.get("latency_ms")),
        mode=str(raw.get("mode", "closed")),
        offered_rps=_f(raw.get("offered_rps")),
        passed=None if passed is None else bool(passed),
        outcome=_text(raw.get("outcome")),
        label=str(raw.get("label") or ""),
    )


def capacity_from_dict(
    raw: Any, steps: Sequence[StepStats] = (), where: str = "capacity"
) -> CapacityAnalysis | None:
    """``capacity``, or None where nothing was analysed.

    :mod:`.json` writes a placeholder without a ``latency_key`` for a run
    that had no step to analyse; that, and null, read back as None.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise TypeError(f"{where} must be an object or null, got {raw!r}")
    if raw.get("latency_key") is None:
        return None
    ci = raw.get("slo_rps_ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2):
        raise ValueError(f"{where}.slo_rps_ci must be [low, high] or null, got {ci!r}")
    by_id = {s.id: s for s in steps}
    return CapacityAnalysis(
        slo_rps=_amount(raw, "slo_rps", where),
        slo_rps_ci=(
            None
            if ci is None
            else (
                float(_amount({"low": ci[0]}, "low", f"{where}.slo_rps_ci") or 0.0),
                _amount({"high": ci[1]}, "high", f"{where}.slo_rps_ci"),
            )
        ),
        knee_rps=_amount(raw, "knee_rps", where),
        knee_latency_ms=_f(raw.get("knee_latency_ms")),
        knee_step=_i(raw.get("knee_step")),
        saturation_rps=_amount(raw, "saturation_rps", where),
        saturation_step=_i(raw.get("saturation_step")),
        limiting_slo=_text(raw.get("limiting_slo")),
        last_passing_step=_i(raw.get("last_passing_step")),
        first_failing_step=_i(raw.get("first_failing_step")),
        latency_key=str(raw["latency_key"]),
        bound=str(raw.get("bound", "none")),
        curve=tuple(_curve_point(p, by_id) for p in raw.get("curve") or ()),
        notes=_texts(raw.get("notes")),
        knee_note=_text(raw.get("knee_note")),
    )


def _utilization(raw: Any) -> dict[str, UtilizationAt]:
    """``capacity.utilization``: at the knee and at SLO capacity, where measured."""
    out = {}
    for name, u in (raw or {}).items():
        if u is None:
            continue
        where = f"capacity.utilization.{name}"
        out[str(name)] = UtilizationAt(
            step=int(u["step"]),
            gpu_utilization=_amount(u, "gpu_utilization", where),
            gpu_memory_used_bytes=_amount(u, "gpu_memory_used_bytes", where),
            gpu_memory_ratio=_amount(u, "gpu_memory_ratio", where),
            target_cpu_cores=_amount(u, "target_cpu_cores", where),
            target_rss_bytes=_amount(u, "target_rss_bytes", where),
            generator_cpu_percent=_amount(u, "generator_cpu_percent", where),
            warnings=_texts(u.get("warnings")),
        )
    return out


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"'{key}' must be an object or null, got {value!r}")
    return value


def _plan(raw: Mapping[str, Any] | None) -> Plan | None:
    if raw is None:
        return None
    return Plan(
        target_rps=float(_amount(raw, "target_rps", "plan") or 0.0),
        per_replica_rps=float(_amount(raw, "per_replica_rps", "plan") or 0.0),
        target_utilization=float(_amount(raw, "target_utilization", "plan") or 0.0),
        redundancy=int(_amount(raw, "redundancy", "plan") or 0),
        replicas=int(_amount(raw, "replicas", "plan") or 0),
    )


def _cost(raw: Mapping[str, Any] | None) -> Cost | None:
    if raw is None:
        return None
    return Cost(
        price_per_hour=float(_amount(raw, "price_per_hour", "cost") or 0.0),
        rps=float(_amount(raw, "rps", "cost") or 0.0),
        per_million_requests=float(_amount(raw, "per_million_requests", "cost") or 0.0),
        tokens_out_per_s=_amount(raw, "tokens_out_per_s", "cost"),
        per_million_output_tokens=_amount(raw, "per_million_output_tokens", "cost"),
        instance=_text(raw.get("instance")),
    )


def _verdict(raw: Mapping[str, Any] | None, settings: ReportSettings) -> RunVerdict:
    """The saved verdict; its failure exit code is the one it exited with."""
    if raw is None:
        return RunVerdict(passed=True, valid=True, fail_code=settings.fail_code)
    passed, valid = bool(raw["passed"]), bool(raw["valid"])
    exit_code = raw.get("exit_code")
    failed_with = exit_code if valid and not passed and exit_code is not None else None
    return RunVerdict(
        passed=passed,
        valid=valid,
        partial=bool(raw.get("partial", False)),
        reasons=_texts(raw.get("reasons")),
        warnings=_texts(raw.get("warnings")),
        fail_code=settings.fail_code if failed_with is None else int(failed_with),
    )


def _trend(raw: Mapping[str, Any]) -> SoakTrend:
    return SoakTrend(
        name=str(raw["name"]),
        unit=str(raw.get("unit") or ""),
        n=int(raw.get("n") or 0),
        slope_per_hour=_f(raw.get("slope_per_hour")),
        p_value=_f(raw.get("p_value")),
        start_value=_f(raw.get("start_value")),
        end_value=_f(raw.get("end_value")),
        projected_value=_f(raw.get("projected_value")),
        projected_hours=float(_f(raw.get("projected_hours")) or 0.0),
        flagged=bool(raw.get("flagged", False)),
        reason=str(raw.get("reason") or ""),
        kind=str(raw.get("kind", "latency")),
        source=_text(raw.get("source")),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        enough_data=bool(raw.get("enough_data", True)),
        significant=bool(raw.get("significant", False)),
        relative_change=_f(raw.get("relative_change")),
        span_hours=_f(raw.get("span_hours")),
        limit=_f(raw.get("limit")),
        hours_to_limit=_f(raw.get("hours_to_limit")),
        ols_slope_per_hour=_f(raw.get("ols_slope_per_hour")),
        ols_p_value=_f(raw.get("ols_p_value")),
    )


def _soak(raw: Mapping[str, Any] | None) -> SoakVerdict | None:
    if raw is None:
        return None
    rule = raw.get("rule") or {}
    defaults = SoakConfig()
    config = SoakConfig(
        project_hours=float(_f(raw.get("project_hours")) or defaults.project_hours),
        warmup_s=float(_f(rule.get("warmup_s")) or 0.0),
        labels=_texts(rule.get("labels")) or defaults.labels,
        min_windows=int(rule.get("min_windows", defaults.min_windows)),
        alpha=float(rule.get("alpha", defaults.alpha)),
        min_relative_change=float(rule.get("min_relative_change", defaults.min_relative_change)),
    )
    return SoakVerdict(
        trends=tuple(_trend(x) for x in raw.get("trends") or ()),
        passed=bool(raw["passed"]),
        reasons=_texts(raw.get("reasons")),
        conclusive=bool(raw.get("conclusive", True)),
        warnings=_texts(raw.get("warnings")),
        steps=tuple(int(s) for s in raw.get("steps") or ()),
        window_s=_f(raw.get("window_s")),
        span_hours=_f(raw.get("span_hours")),
        config=config,
    )


_FAILURE_MODES: tuple[FailureMode, ...] = ("graceful", "not graceful", "none")


def _stress(raw: Mapping[str, Any] | None) -> StressVerdict | None:
    if raw is None:
        return None
    point = raw.get("breaking_point")
    failures = raw.get("failures") or {}
    mode = next((m for m in _FAILURE_MODES if m == raw.get("failure_mode")), None)
    if mode is None:
        raise ValueError(
            f"stress.failure_mode {raw.get('failure_mode')!r} is not one of {_FAILURE_MODES}"
        )
    return StressVerdict(
        kind=str(raw["kind"]),
        breaking_point=(
            None
            if point is None
            else BreakingPoint(
                step=int(point["step"]),
                label=str(point.get("label") or ""),
                load=float(_f(point.get("load")) or 0.0),
                unit=str(point.get("unit") or "users"),
                reasons=_texts(point.get("reasons")),
            )
        ),
        last_good_load=_f(raw.get("last_good_load")),
        last_good_step=_i(raw.get("last_good_step")),
        load_unit=str(raw.get("load_unit") or "users"),
        failure_mode=mode,
        failures=FailureCounts(
            requests=int(failures.get("requests") or 0),
            by_class={str(k): int(v) for k, v in (failures.get("by_class") or {}).items()},
            steps=tuple(int(s) for s in failures.get("steps") or ()),
        ),
        recovery_s=_f(raw.get("recovery_s")),
        recovered=bool(raw.get("recovered", False)),
        passed=bool(raw.get("passed", True)),
        reasons=_texts(raw.get("reasons")),
        watched_s=_f(raw.get("watched_s")),
        recovery_windows=int(raw.get("recovery_windows", 3)),
        recovery_criteria=_texts(raw.get("recovery_criteria")),
        baseline_p99_ms=_f(raw.get("baseline_p99_ms")),
        after_p99_ms=_f(raw.get("after_p99_ms")),
        notes=_texts(raw.get("notes")),
    )


def report_from_dict(raw: Mapping[str, Any], *, source: str = "report") -> RunReport:
    """The report as saved: its measurements and the decisions made on them.

    Call :func:`~locust_ml.report.model.decide` on it to make new decisions.
    """
    version = str(raw.get("schema_version", ""))
    if not version.startswith("2."):
        raise ReportError(
            f"{source}: schema_version {version or 'missing'!r}; this locust-ml reads 2.x "
            "(a report written before 0.2 must be re-run)"
        )
    try:
        run = raw["run"]
        steps = tuple(step_from_dict(s) for s in raw.get("steps") or ())
        totals_raw = raw["totals"]
        totals = Totals(
            requests=int(totals_raw["requests"]),
            failures=int(totals_raw["failures"]),
            latency_ms=_pcts(totals_raw.get("latency_ms")),
            endpoints=tuple(_endpoint(e) for e in totals_raw.get("endpoints") or ()),
            status={str(k): int(v) for k, v in (totals_raw.get("status") or {}).items()},
            events={
                k: int(totals_raw.get(k) or 0)
                for k in ("late", "dropped", "sent")
                if totals_raw.get(k) is not None
            },
        )
        info = RunInfo(
            locustfile=str(run.get("locustfile", "")),
            target=run.get("target"),
            started_at=float(run["started_at"]),
            ended_at=float(run["ended_at"]),
            mode=str(run.get("mode", "local")),
            workers=int(run.get("workers") or 0),
            tool_version=str((raw.get("tool") or {}).get("version", "")),
            telemetry_cpu_s=float(run.get("telemetry_cpu_s") or 0.0),
            shape=run.get("shape"),
            server_ready_s=_f(run.get("server_ready_s")),
            first_request_ms=_f(run.get("first_request_ms")),
        )
        telemetry = {
            int(s["id"]): tuple(_series(r) for r in s.get("telemetry") or ())
            for s in raw.get("steps") or ()
            if s.get("telemetry")
        }
        slos = parse_slos(list(raw.get("slos") or ()), option="slos")
        judgements = {
            int(s["id"]): j
            for s in raw.get("steps") or ()
            if (j := _judgement(int(s["id"]), s.get("judgement"))) is not None
        }
        search = _search(raw.get("search"))
        percentiles = (
            parse_percentiles([float(q) for q in raw["percentiles"]], option="percentiles")
            if raw.get("percentiles")
            else ()
        )
        window = raw.get("window_s")
        settings = _settings(raw.get("settings"))
        capacity = _section(raw, "capacity")
        return RunReport(
            run=info,
            percentiles=percentiles,
            window_s=None if window is None else float(window),
            steps=steps,
            totals=totals,
            notes=tuple(str(n) for n in raw.get("notes") or ()),
            telemetry=telemetry,
            slos=slos,
            judgements=judgements,
            search=search,
            settings=settings,
            errors=tuple(
                ErrorCount(
                    str(e.get("type", "")),
                    str(e.get("name", "")),
                    str(e.get("message", "")),
                    int(e.get("count", 0)),
                )
                for e in raw.get("errors") or ()
                if isinstance(e, Mapping)
            ),
            capacity=capacity_from_dict(capacity, steps),
            utilization=_utilization((capacity or {}).get("utilization")),
            plan=_plan(_section(raw, "plan")),
            cost=_cost(_section(raw, "cost")),
            verdict=_verdict(_section(raw, "verdict"), settings),
            soak=_soak(_section(raw, "soak")),
            stress=_stress(_section(raw, "stress")),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, ConfigError) as exc:
        # A hand-edited file: a list where an object was, a null, a string for a number.
        raise ReportError(
            f"{source}: not a locust-ml report ({type(exc).__name__}: {exc})"
        ) from None


def curve_report_from_dict(raw: Mapping[str, Any]) -> RunReport:
    """What the latency-throughput plot reads, from ``report.json`` or ``json.curve_dict``.

    The live web UI builds the plot's input as JSON (the steps that ended,
    their judgements, the live capacity analysis, the SLOs) before any
    report exists; the returned report holds those and nothing else. For
    ``plugin/liveplot.py`` until it passes the typed parts itself.
    """
    if "run" in raw:
        return report_from_dict(raw)
    steps = tuple(step_from_dict(s) for s in raw.get("steps") or ())
    return RunReport(
        run=RunInfo(locustfile="", target=None, started_at=0.0, ended_at=0.0, mode="local"),
        percentiles=(),
        window_s=None,
        steps=steps,
        totals=Totals(requests=0, failures=0, latency_ms={}, endpoints=()),
        slos=parse_slos(list(raw.get("slos") or ()), option="slos"),
        judgements={
            int(s["id"]): j
            for s in raw.get("steps") or ()
            if (j := _judgement(int(s["id"]), s.get("judgement"))) is not None
        },
        capacity=capacity_from_dict(raw.get("capacity"), steps),
    )


class _NotFinite(ValueError):
    """A number in report.json that no report holds (``1e999``, ``NaN``)."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise _NotFinite(f"{name} is not a number")


def load_report(path: str | os.PathLike[str]) -> RunReport:
    """Read ``path`` (a ``report.json`` or the directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        raw = json.loads(
            p.read_text(encoding="utf-8"),
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except FileNotFoundError:
        raise ReportError(f"{p}: no such report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{p}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{p}: not JSON (line {exc.lineno}: {exc.msg})") from None
    except _NotFinite as exc:
        raise ReportError(f"{p}: {exc}; a report holds finite numbers only") from None
    except RecursionError:
        raise ReportError(f"{p}: nested too deeply to be a locust-ml report") from None
    if not isinstance(raw, Mapping):
        raise ReportError(f"{p}: not a locust-ml report (a JSON {type(raw).__name__})")
    return report_from_dict(raw, source=str(p))


def missing_percentiles(report: RunReport, slos: Sequence[SLO]) -> list[str]:
    """SLOs whose percentile the saved steps do not carry (they cannot be re-judged)."""
    keys = {k for s in report.steps for k in s.latency_ms}
    out = []
    for slo in slos:
        if slo.percentile is None:
            continue
        key = percentile_key(slo.percentile)
        if slo.metric == "latency" and report.steps and key not in keys:
            out.append(
                f"{slo} needs {key}, which the saved report lacks (run with --ml-percentiles)"
            )
    return out
