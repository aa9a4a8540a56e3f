"""The report's words for people: the knee line, the spike verdict, soak trends, the rest.

The console, report.html and report.md say the same things, so each is
phrased once here, from the JSON form of the report (``report.json``, read
defensively: a missing or odd field gives "-" or leaves a row out, never an
exception). Nothing here decides: every judgement (recovered or not, the
failure mode, a flagged trend) was made by the analysis; these functions
choose the words and leave out what does not apply to the run's shape -
a ramp has no recovery, a spike no soak trends.

* :func:`knee_text` - "54.76 req/s at p99 179.8 ms (step 4)", or "no knee
  found (why)" instead of "- req/s at p99 - ms";
* :func:`spike_summary` - what a spike test is run for, first: did the
  target recover, how fast, what failed during the spike and how;
* :func:`breaking_point_rows` - a ramp driven past its capacity: where it
  broke and how;
* :func:`soak_trends` - a soak's trends as a table;
* :func:`search_rows`, :func:`settings_rows`, :func:`run_rows` - the
  capacity search's steps, what the decisions were made with, and facts
  about the run, with labels instead of field names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from locust_ml.analysis.capacity import CapacityAnalysis

__all__ = [
    "SoakTrends",
    "SpikeSummary",
    "breaking_point_rows",
    "knee_of",
    "knee_text",
    "run_rows",
    "saturation_text",
    "search_rows",
    "settings_rows",
    "soak_trends",
    "spike_summary",
]

#: What each failure mode means, for a reader who has not read the analysis.
FAILURE_MODES: Final = {
    "none": "none: nothing failed (latency may have risen: requests queued, none was refused)",
    "graceful": "graceful: the server refused work it could not do in time (429/503)",
    "not graceful": "not graceful: errors, timeouts or dropped connections, not 429/503",
}


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _seq(x: Any) -> Sequence[Any]:
    return x if isinstance(x, list | tuple) else ()


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _ms(x: Any) -> str:
    value = _num(x)
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 10 else f"{value:.3f}"


def _secs(x: Any) -> str:
    value = _num(x)
    return "-" if value is None else f"{value:.3g} s"


def _count(x: Any) -> str:
    value = _num(x)
    return "-" if value is None else f"{value:,.0f}"


def _pct(part: Any, whole: Any) -> str:
    p, w = _num(part), _num(whole)
    return "" if p is None or not w else f" ({100 * p / w:.1f}%)"


def _strs(x: Any) -> list[str]:
    return [str(s) for s in _seq(x) if s is not None]


def _note(notes: Any, prefix: str) -> str | None:
    for n in _strs(notes):
        if n.startswith(prefix):
            return n[len(prefix) :].strip()
    return None


# --------------------------------------------------------------------- knee


def knee_text(capacity: Mapping[str, Any]) -> str:
    """The knee in words: where it is, or that there is none and why.

    >>> knee_text({"knee_rps": 54.76, "knee_latency_ms": 179.8, "latency_key": "p99",
    ...            "knee_step": 4})
    '54.76 req/s at p99 179.8 ms (step 4)'
    >>> knee_text({"knee_rps": None, "knee_note": "2 steps with latency data"})
    'no knee found (2 steps with latency data)'
    """
    rps = _num(capacity.get("knee_rps"))
    if rps is None:
        note = capacity.get("knee_note")
        why = note if isinstance(note, str) and note else None
        return f"no knee found ({why})" if why else "no knee found"
    key = str(capacity.get("latency_key") or "p99")
    latency = _num(capacity.get("knee_latency_ms"))
    at = f" at {key} {_ms(latency)} ms" if latency is not None else ""
    step = capacity.get("knee_step")
    where = f" (step {step})" if isinstance(step, int) and not isinstance(step, bool) else ""
    return f"{rps:.2f} req/s{at}{where}"


def saturation_text(capacity: Mapping[str, Any]) -> str:
    """Where achieved throughput stopped following the load, or why it was not seen.

    >>> saturation_text({"saturation_rps": 62.36, "saturation_step": 5})
    '62.36 req/s (step 5)'
    >>> saturation_text({"notes": ["saturation: kept up with the load at every step"]})
    'not reached (kept up with the load at every step)'
    """
    rps = _num(capacity.get("saturation_rps"))
    if rps is None:
        why = _note(capacity.get("notes"), "saturation:")
        return f"not reached ({why})" if why else "not reached"
    step = capacity.get("saturation_step")
    where = f" (step {step})" if isinstance(step, int) and not isinstance(step, bool) else ""
    return f"{rps:.2f} req/s{where}"


def knee_of(analysis: CapacityAnalysis) -> str:
    """:func:`knee_text` of a capacity analysis (the console and the live web UI)."""
    return knee_text(
        {
            "knee_rps": analysis.knee_rps,
            "knee_latency_ms": analysis.knee_latency_ms,
            "latency_key": analysis.latency_key,
            "knee_step": analysis.knee_step,
            "knee_note": analysis.knee_note,
        }
    )


# -------------------------------------------------------------------- spike


@dataclass(frozen=True)
class SpikeSummary:
    """A spike test's verdict in words: ``headline`` first, then labelled rows."""

    headline: str
    passed: bool | None
    rows: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


def _step_by_label(report: Mapping[str, Any], label: str) -> Mapping[str, Any] | None:
    return next((_map(s) for s in _seq(report.get("steps")) if _map(s).get("label") == label), None)


def _load(step: Mapping[str, Any] | None, unit: str) -> str:
    if step is None:
        return "-"
    rps, users = _num(step.get("offered_rps")), _num(step.get("users"))
    value = rps if unit == "requests/s" and rps is not None else users
    word = "req/s" if unit == "requests/s" else "users"
    return "-" if value is None else f"{value:g} {word} (step {step.get('id')})"


def spike_summary(report: Mapping[str, Any]) -> SpikeSummary | None:
    """The spike verdict of a spike test's report, or None for any other test."""
    stress = _map(report.get("stress"))
    if stress.get("kind") != "spike":
        return None
    unit = str(stress.get("load_unit") or "users")
    baseline = _step_by_label(report, "baseline")
    spike = _step_by_label(report, "spike")
    recovery = _step_by_label(report, "recovery")
    watched = _secs(stress.get("watched_s"))
    if stress.get("recovered") is True:
        headline = (
            f"recovered {_secs(stress.get('recovery_s'))} after the spike ended (watched {watched})"
        )
    else:
        headline = f"did not recover within the {watched} watched after the spike"
    passed = stress.get("passed")
    rows: list[tuple[str, str]] = [
        (
            "loads",
            f"baseline {_load(baseline, unit)}, spike {_load(spike, unit)}, "
            f"recovery {_load(recovery, unit)}",
        )
    ]
    if spike is not None:
        failed, total = spike.get("failures"), spike.get("requests")
        rows.append(
            (
                "errors during the spike",
                f"{_count(failed)} of {_count(total)} requests failed{_pct(failed, total)}",
            )
        )
    mode = str(stress.get("failure_mode") or "")
    counts = _map(stress.get("failures"))
    rows.append(("failure mode", FAILURE_MODES.get(mode, mode or "-")))
    if _num(counts.get("failures")):
        classes = _map(counts.get("by_class"))
        worst = sorted(
            ((str(k), int(v)) for k, v in classes.items() if k != "ok" and _num(v)),
            key=lambda kv: -kv[1],
        )
        shown = ", ".join(f"{k} {v:,}" for k, v in worst[:4])
        rows.append(
            (
                "failures from the spike on",
                f"{_count(counts.get('failures'))} of {_count(counts.get('requests'))}: {shown}",
            )
        )
    criteria = ", ".join(_strs(stress.get("recovery_criteria")))
    windows = stress.get("recovery_windows")
    if criteria:
        rows.append(("recovered means", f"{windows} windows in a row meeting {criteria}"))
    before, after = stress.get("baseline_p99_ms"), stress.get("after_p99_ms")
    if _num(before) is not None or _num(after) is not None:
        rows.append(("p99", f"{_ms(before)} ms before the spike, {_ms(after)} ms after recovering"))
    point = _map(stress.get("breaking_point"))
    if point:
        rows.append(("broke at", _breaking_text(point)))
    reasons = _strs(stress.get("reasons"))
    return SpikeSummary(
        headline=headline,
        passed=passed if isinstance(passed, bool) else None,
        rows=tuple(rows),
        notes=tuple(reasons + _strs(stress.get("notes"))),
    )


def _breaking_text(point: Mapping[str, Any]) -> str:
    load = _num(point.get("load"))
    unit = "req/s" if point.get("unit") == "requests/s" else "users"
    what = f"step {point.get('step')}" + (f" ({load:g} {unit})" if load is not None else "")
    reasons = "; ".join(_strs(point.get("reasons")))
    return f"{what}: {reasons}" if reasons else what


def breaking_point_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A ramp or search driven past capacity: the first failing step and how it failed.

    Empty when no step failed, and for spike tests (:func:`spike_summary` says it).
    """
    stress = _map(report.get("stress"))
    point = _map(stress.get("breaking_point"))
    if stress.get("kind") == "spike" or not point:
        return []
    rows = [("first failing step (by load)", _breaking_text(point))]
    last = _num(stress.get("last_good_load"))
    if last is not None:
        unit = "req/s" if stress.get("load_unit") == "requests/s" else "users"
        step = stress.get("last_good_step")
        rows.append(("last load that passed", f"{last:g} {unit} (step {step})"))
    mode = str(stress.get("failure_mode") or "")
    rows.append(("how it failed", FAILURE_MODES.get(mode, mode or "-")))
    counts = _map(stress.get("failures"))
    if _num(counts.get("requests")):
        failed = counts.get("failures")
        rows.append(
            (
                "requests from that step on",
                f"{_count(failed)} of {_count(counts.get('requests'))} failed"
                f"{_pct(failed, counts.get('requests'))}",
            )
        )
    return rows


# --------------------------------------------------------------------- soak


@dataclass(frozen=True)
class SoakTrends:
    """A soak's trends: a headline, a table (``header``, ``rows``), reasons and warnings."""

    headline: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    flagged: tuple[bool, ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]


def _value(x: Any, unit: str) -> str:
    value = _num(x)
    if value is None:
        return "-"
    if unit == "ms":
        return f"{_ms(value)} ms"
    if unit == "ratio":
        return f"{100 * value:.2f}%"
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB"
    return f"{value:.4g} {unit}".strip()


def soak_trends(report: Mapping[str, Any]) -> SoakTrends | None:
    """A soak test's trends, one row per series; None for any other test."""
    soak = _map(report.get("soak"))
    trends = [_map(t) for t in _seq(soak.get("trends"))]
    if not soak or not (trends or "passed" in soak):
        return None
    hours = _num(soak.get("span_hours"))
    span = f" over {hours * 60:.3g} min of hold" if hours is not None else ""
    if soak.get("passed") is True:
        headline = f"no trend flagged{span}"
    else:
        headline = f"{sum(1 for t in trends if t.get('flagged') is True)} trend(s) flagged{span}"
    if soak.get("conclusive") is False:
        headline += " (too few windows to judge drift)"
    header = ("series", "windows", "start", "end", "change", "per hour", "p-value", "flagged")
    rows = []
    for t in trends:
        unit = str(t.get("unit") or "")
        change = _num(t.get("relative_change"))
        p = _num(t.get("p_value"))
        rows.append(
            (
                str(t.get("name") or "-"),
                _count(t.get("n")),
                _value(t.get("start_value"), unit),
                _value(t.get("end_value"), unit),
                "-" if change is None else f"{100 * change:+.1f}%",
                _value(t.get("slope_per_hour"), unit),
                "-" if p is None else f"{p:.3g}",
                str(t.get("reason") or "") if t.get("flagged") is True else "no",
            )
        )
    return SoakTrends(
        headline=headline,
        header=header,
        rows=tuple(rows),
        flagged=tuple(t.get("flagged") is True for t in trends),
        reasons=tuple(_strs(soak.get("reasons"))),
        warnings=tuple(_strs(soak.get("warnings"))),
    )


# ----------------------------------------------------- search, settings, run


def search_rows(report: Mapping[str, Any]) -> tuple[str, list[tuple[str, ...]]] | None:
    """A capacity search: its one-line summary and one row per step it judged."""
    search = _map(report.get("search"))
    if not search:
        return None
    rows: list[tuple[str, ...]] = []
    # One number per step: the throughput is the step's own, from the step table.
    achieved_by_step = {
        _map(s).get("id"): _num(_map(s).get("achieved_rps")) for s in _seq(report.get("steps"))
    }
    for raw in _seq(search.get("history")):
        j = _map(raw)
        achieved = achieved_by_step.get(j.get("step"))
        rows.append(
            (
                str(j.get("step", "-")),
                str(j.get("phase") or "-"),
                "-" if _num(j.get("load")) is None else f"{_num(j.get('load')):g}",
                "-" if achieved is None else f"{achieved:.2f}",
                str(j.get("outcome") or "-"),
                "; ".join(_strs(j.get("reasons"))),
            )
        )
    return str(search.get("summary") or search.get("reason") or ""), rows


#: Settings the decisions were made with: (key, label, how to show the value).
_SETTINGS: Final = (
    ("min_capacity", "required capacity (--ml-min-capacity)", "req/s"),
    ("price_per_hour", "price per replica-hour (--ml-price-per-hour)", "$"),
    ("instance", "instance type (--ml-instance)", ""),
    ("target_rps", "peak planned for (--ml-target-rps)", "req/s"),
    ("target_utilization", "planned utilization (--ml-target-utilization)", "%"),
    ("redundancy", "spare replicas (--ml-redundancy)", ""),
    ("stability_tolerance", "step stability tolerance", "%"),
    ("error_ceiling", "error ceiling without an errors SLO", "%"),
    ("warmup_s", "warm-up excluded per step (--ml-shape ...:warmup=)", "s"),
    ("interrupted", "interrupted", ""),
)


def settings_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the report's decisions were made with; options never given are left out."""
    settings = _map(report.get("settings"))
    rows = []
    for key, label, unit in _SETTINGS:
        value = settings.get(key)
        if value is None or value == "":
            continue
        number = _num(value)
        if number is not None and unit == "%":
            text = f"{100 * number:g}%"
        elif number is not None and unit == "$":
            text = f"${number:g}"
        elif number is not None and unit:
            text = f"{number:g} {unit}"
        else:
            text = str(value)
        rows.append((label, text))
    return rows


def _time(x: Any) -> str:
    value = _num(x)
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Facts about the run, labelled; fields this version does not know are left out."""
    run = _map(report.get("run"))
    tool = _map(report.get("tool"))
    duration = _num(run.get("duration_s"))
    workers = _num(run.get("workers"))
    distributed = run.get("mode") == "distributed"
    many = f", {workers:g} workers" if workers is not None else ""
    rows = [
        ("locustfile", str(run.get("locustfile") or "-")),
        ("target", str(run.get("target") or "-")),
        ("test type", str(run.get("shape") or "-")),
        ("started", _time(run.get("started_at"))),
        ("ended", _time(run.get("ended_at"))),
        ("duration", "-" if duration is None else f"{duration:.1f} s"),
        ("load generation", f"distributed{many}" if distributed else "one process"),
        ("measurement window", _secs(report.get("window_s"))),
        ("percentiles", ", ".join(f"{p:g}" for p in _seq(report.get("percentiles")) if _num(p))),
    ]
    if _num(run.get("server_ready_s")) is not None:
        rows.append(("reference server ready after", _secs(run.get("server_ready_s"))))
    if _num(run.get("first_request_ms")) is not None:
        rows.append(("first request", f"{_ms(run.get('first_request_ms'))} ms"))
    if _num(run.get("telemetry_cpu_s")) is not None:
        rows.append(("CPU spent reading telemetry", _secs(run.get("telemetry_cpu_s"))))
    version = " ".join(str(tool[k]) for k in ("name", "version") if tool.get(k))
    rows.append(("made by", f"{version or '-'}, report schema {report.get('schema_version', '-')}"))
    return rows
