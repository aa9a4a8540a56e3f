"""Read a saved ``report.json`` back into a :class:`~locust_ml.report.model.RunReport`.

``locust-ml report results.json --ml-slo 'p99<300ms' --ml-price-per-hour 3.06``
re-decides a run without re-running it. Every decision (SLO verdicts,
capacity, knee, plan, cost, verdict) is a function of the per-step statistics
the JSON keeps, so loading them and calling
:func:`~locust_ml.report.model.decide` again gives exactly what the run would
have reported with those settings. What cannot be recomputed from the JSON is
said in a note: goodput needs every request's latency, so it is kept as
measured under the original SLOs.

Errors name the file and the field: a hand-edited or truncated report fails
with one line (:class:`~locust_ml.errors.ReportError`), never a traceback.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement
from locust_ml.analysis.search import SEARCH_STABILITY, JudgedStep, SearchResult, StopReason
from locust_ml.analysis.slo import SLO, SLOResult, SLOStatus, SLOVerdict, parse_slo, parse_slos
from locust_ml.analysis.steps import EndpointStats, StepStats, Totals, WindowStats
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.config import parse_percentiles
from locust_ml.errors import ConfigError, ReportError
from locust_ml.report.model import ErrorCount, ReportSettings, RunInfo, RunReport

__all__ = ["load_report", "missing_percentiles", "report_from_dict", "settings_from_dict"]

_EXTRA = ("corrected", "lateness", "ttft", "itl")


def _pcts(raw: Any) -> dict[str, float | None]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): (None if v is None else float(v)) for k, v in raw.items()}


def _f(raw: Any) -> float | None:
    return None if raw is None else float(raw)


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


def _step(raw: Mapping[str, Any]) -> StepStats:
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
            for k in ("late", "dropped", "sent", "sent_measured")
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


def settings_from_dict(raw: Any) -> ReportSettings:
    """The settings a saved report was decided with (defaults for a 1.0 file)."""
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


def report_from_dict(raw: Mapping[str, Any], *, source: str = "report") -> RunReport:
    """The report's measurements, as :func:`~locust_ml.report.model.decide` takes them.

    The decisions in the returned report are the saved ones (SLO verdicts as
    saved); call ``decide`` to make new ones.
    """
    version = str(raw.get("schema_version", ""))
    if not version.startswith("2."):
        raise ReportError(
            f"{source}: schema_version {version or 'missing'!r}; this locust-ml reads 2.x "
            "(a report written before 0.2 must be re-run)"
        )
    try:
        run = raw["run"]
        steps = tuple(_step(s) for s in raw.get("steps") or ())
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
            settings=settings_from_dict(raw.get("settings")),
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
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, ConfigError) as exc:
        # A hand-edited file: a list where an object was, a null, a string for a number.
        raise ReportError(
            f"{source}: not a locust-ml report ({type(exc).__name__}: {exc})"
        ) from None


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
