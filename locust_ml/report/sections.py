"""The report's words for people: the knee line, the spike verdict, soak trends, the rest.

The console, report.html and report.md say the same things, so each is
phrased once here, from the typed report. Nothing here decides: every
judgement (recovered or not, the failure mode, a flagged trend) was made by
the analysis; these functions choose the words and leave out what does not
apply to the run's shape - a ramp has no recovery, a spike no soak trends.

* :func:`verdict_word`, :func:`judged_word` - PASS / FAIL / INVALID, and a
  step's judgement in a word; :func:`gpu_utilization` - a step's GPU% cell;
  :func:`prefix_cache_hit_rate` - its prefix-cache hit rate;
* :func:`turn_table` - a conversation's latency, TTFT and ITL by turn;
* :func:`knee_of` - "54.76 req/s at p99 179.8 ms (step 4)", or "no knee
  found (why)" instead of "- req/s at p99 - ms"; :func:`saturation_of` alike;
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from locust_ml.analysis.status import STATUS_CLASSES
from locust_ml.analysis.verdict import NOT_JUDGED_LABELS

if TYPE_CHECKING:
    from locust_ml.analysis.capacity import CapacityAnalysis
    from locust_ml.analysis.steps import StepStats
    from locust_ml.analysis.stress import BreakingPoint
    from locust_ml.analysis.utilization import SeriesStats
    from locust_ml.report.model import RunReport

__all__ = [
    "SoakTrends",
    "SpikeSummary",
    "TurnTable",
    "breaking_point_rows",
    "gpu_utilization",
    "judged_word",
    "knee_of",
    "prefix_cache_hit_rate",
    "run_rows",
    "saturation_of",
    "search_rows",
    "settings_rows",
    "soak_trends",
    "spike_summary",
    "turn_table",
    "verdict_word",
]

#: What each failure mode means, for a reader who has not read the analysis.
FAILURE_MODES: Final = {
    "none": "none: nothing failed (latency may have risen: requests queued, none was refused)",
    "graceful": "graceful: the server refused work it could not do in time (429/503)",
    "not graceful": "not graceful: errors, timeouts or dropped connections, not 429/503",
}


def _ms(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x >= 1000:
        return f"{x:.0f}"
    if x >= 100:
        return f"{x:.1f}"
    return f"{x:.2f}" if x >= 10 else f"{x:.3f}"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g} s"


def _count(x: float) -> str:
    return f"{x:,.0f}"


def _pct(part: float, whole: float) -> str:
    return "" if not whole else f" ({100 * part / whole:.1f}%)"


def _note(notes: Sequence[str], prefix: str) -> str | None:
    return next((n[len(prefix) :].strip() for n in notes if n.startswith(prefix)), None)


def _units(unit: str) -> str:
    return "req/s" if unit == "requests/s" else "users"


# ------------------------------------------------------- verdict and steps


def verdict_word(report: RunReport) -> str:
    """``PASS``, ``FAIL`` or ``INVALID``: the word people and scripts grep for."""
    if not report.verdict.valid:
        return "INVALID"
    return "PASS" if report.verdict.passed else "FAIL"


def judged_word(report: RunReport, step: StepStats) -> str:
    """The step's judgement in a word: pass, FAIL, a failure's kind, or why there is none."""
    if step.partial:
        return "partial"
    j = report.judgements.get(step.id)
    if j is None:
        # A transition (ramp-up, a spike...) is judged by the soak or spike verdict if at all.
        return step.label if step.label in NOT_JUDGED_LABELS else "-"
    return "pass" if j.passed else ("FAIL" if j.outcome == "slo" else str(j.outcome))


def gpu_utilization(rows: Sequence[SeriesStats]) -> float | None:
    """Mean GPU utilization (0..1) over a step's telemetry, across GPUs; None without."""
    means = [r.mean for r in rows if r.metric == "gpu_utilization_ratio" and r.mean is not None]
    return sum(means) / len(means) if means else None


def prefix_cache_hit_rate(rows: Sequence[SeriesStats]) -> float | None:
    """Prompt tokens the target's prefix cache held over those looked up, in a step.

    From the counters ``server_prefix_cache_hits_total`` and
    ``..._queries_total`` (vLLM, SGLang, the reference server), summed over
    their series; None without both, or when nothing was looked up.
    """
    hits = [r.rate_per_s for r in rows if r.metric == "server_prefix_cache_hits_total"]
    queries = [r.rate_per_s for r in rows if r.metric == "server_prefix_cache_queries_total"]
    hit = sum(x for x in hits if x is not None)
    asked = sum(x for x in queries if x is not None)
    if not any(x is not None for x in hits) or not asked > 0:
        return None
    return min(max(hit / asked, 0.0), 1.0)


@dataclass(frozen=True)
class TurnTable:
    """A conversation's figures by turn, as cells (ms; ``-`` where none)."""

    header: list[str]
    rows: list[list[str]]


def turn_table(report: RunReport, keys: Sequence[str] = ("p50", "p99")) -> TurnTable | None:
    """Latency, TTFT and ITL percentiles by turn (None: no request was named by turn).

    Turn 1 against later turns is the prefix cache at work: on a server
    that caches, TTFT falls after turn 1 although each turn's prompt is
    longer (it carries the history).
    """
    from locust_ml.analysis.turns import by_turn

    open_loop = any(s.mode == "open" for s in report.steps)
    turns = by_turn(report.totals.endpoints, open_loop=open_loop)
    if not turns:
        return None
    names = {t.name for t in turns}
    header = [*(["name"] if len(names) > 1 else []), "turn", "requests", "fail", "prompt tok"]
    header += [f"latency {k}" for k in keys]
    header += [f"TTFT {k}" for k in keys] + [f"ITL {k}" for k in keys]
    rows = []
    for t in turns:
        tokens = "-" if t.mean_tokens_in is None else f"{t.mean_tokens_in:.0f}"
        row = [*([t.name] if len(names) > 1 else []), str(t.turn), str(t.requests)]
        row += [str(t.failures), tokens]
        for lat in (t.latency_ms, t.ttft_ms, t.itl_ms):
            row += [_ms(lat.get(k)) for k in keys]
        rows.append(row)
    return TurnTable(header, rows)


# --------------------------------------------------------------------- knee


def knee_of(capacity: CapacityAnalysis) -> str:
    """The knee in words: where it is, or that there is none and why."""
    c = capacity
    if c.knee_rps is None:
        return f"no knee found ({c.knee_note})" if c.knee_note else "no knee found"
    at = f" at {c.latency_key} {_ms(c.knee_latency_ms)} ms" if c.knee_latency_ms is not None else ""
    where = f" (step {c.knee_step})" if c.knee_step is not None else ""
    return f"{c.knee_rps:.2f} req/s{at}{where}"


def saturation_of(capacity: CapacityAnalysis) -> str:
    """Where achieved throughput stopped following the load, or why it was not seen."""
    c = capacity
    if c.saturation_rps is None:
        why = _note(c.notes, "saturation:")
        return f"not reached ({why})" if why else "not reached"
    where = f" (step {c.saturation_step})" if c.saturation_step is not None else ""
    return f"{c.saturation_rps:.2f} req/s{where}"


# -------------------------------------------------------------------- spike


@dataclass(frozen=True)
class SpikeSummary:
    """A spike test's verdict in words: ``headline`` first, then labelled rows."""

    headline: str
    passed: bool
    rows: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


def _step_by_label(report: RunReport, label: str) -> StepStats | None:
    return next((s for s in report.steps if s.label == label), None)


def _load(step: StepStats | None, unit: str) -> str:
    if step is None:
        return "-"
    rps = step.offered_rps
    value = rps if unit == "requests/s" and rps is not None else step.users
    return "-" if value is None else f"{value:g} {_units(unit)} (step {step.id})"


def spike_summary(report: RunReport) -> SpikeSummary | None:
    """The spike verdict of a spike test's report, or None for any other test."""
    stress = report.stress
    if stress is None or stress.kind != "spike":
        return None
    unit = stress.load_unit
    spike = _step_by_label(report, "spike")
    watched = _secs(stress.watched_s)
    if stress.recovered:
        headline = f"recovered {_secs(stress.recovery_s)} after the spike ended (watched {watched})"
    else:
        headline = f"did not recover within the {watched} watched after the spike"
    loads = ", ".join(
        f"{label} {_load(_step_by_label(report, label), unit)}"
        for label in ("baseline", "spike", "recovery")
    )
    rows: list[tuple[str, str]] = [("loads", loads)]
    if spike is not None:
        failed, total = spike.failures, spike.requests
        rows.append(
            (
                "errors during the spike",
                f"{_count(failed)} of {_count(total)} requests failed{_pct(failed, total)}",
            )
        )
    rows.append(("failure mode", FAILURE_MODES.get(stress.failure_mode, stress.failure_mode)))
    counts = stress.failures
    if counts.failures:
        by_class = [(c, counts.by_class.get(c, 0)) for c in STATUS_CLASSES if c != "ok"]
        worst = sorted(((c, n) for c, n in by_class if n), key=lambda kv: -kv[1])
        shown = ", ".join(f"{c} {n:,}" for c, n in worst[:4])
        rows.append(
            (
                "failures from the spike on",
                f"{_count(counts.failures)} of {_count(counts.requests)}: {shown}",
            )
        )
    criteria = ", ".join(stress.recovery_criteria)
    if criteria:
        rows.append(
            ("recovered means", f"{stress.recovery_windows} windows in a row meeting {criteria}")
        )
    before, after = stress.baseline_p99_ms, stress.after_p99_ms
    if before is not None or after is not None:
        rows.append(("p99", f"{_ms(before)} ms before the spike, {_ms(after)} ms after recovering"))
    if stress.breaking_point is not None:
        rows.append(("broke at", _breaking_text(stress.breaking_point)))
    return SpikeSummary(
        headline=headline,
        passed=stress.passed,
        rows=tuple(rows),
        notes=(*stress.reasons, *stress.notes),
    )


def _breaking_text(point: BreakingPoint) -> str:
    what = f"step {point.step} ({point.load:g} {_units(point.unit)})"
    reasons = "; ".join(point.reasons)
    return f"{what}: {reasons}" if reasons else what


def breaking_point_rows(report: RunReport) -> list[tuple[str, str]]:
    """A ramp or search driven past capacity: the first failing step and how it failed.

    Empty when no step failed, and for spike tests (:func:`spike_summary` says it).
    """
    stress = report.stress
    if stress is None or stress.kind == "spike" or stress.breaking_point is None:
        return []
    rows = [("first failing step (by load)", _breaking_text(stress.breaking_point))]
    if stress.last_good_load is not None:
        rows.append(
            (
                "last load that passed",
                f"{stress.last_good_load:g} {_units(stress.load_unit)} "
                f"(step {stress.last_good_step})",
            )
        )
    rows.append(("how it failed", FAILURE_MODES.get(stress.failure_mode, stress.failure_mode)))
    counts = stress.failures
    if counts.requests:
        failed = counts.failures
        rows.append(
            (
                "requests from that step on",
                f"{_count(failed)} of {_count(counts.requests)} failed"
                f"{_pct(failed, counts.requests)}",
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


def _value(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "ms":
        return f"{_ms(x)} ms"
    if unit == "ratio":
        return f"{100 * x:.2f}%"
    if unit == "bytes":
        return f"{x / 2**20:,.1f} MiB"
    return f"{x:.4g} {unit}".strip()


def soak_trends(report: RunReport) -> SoakTrends | None:
    """A soak test's trends, one row per series; None for any other test."""
    soak = report.soak
    if soak is None:
        return None
    hours = soak.span_hours
    span = f" over {hours * 60:.3g} min of hold" if hours is not None else ""
    if soak.passed:
        headline = f"no trend flagged{span}"
    else:
        headline = f"{len(soak.flagged)} trend(s) flagged{span}"
    if not soak.conclusive:
        headline += " (too few windows to judge drift)"
    header = ("series", "windows", "start", "end", "change", "per hour", "p-value", "flagged")
    rows = tuple(
        (
            t.name or "-",
            _count(t.n),
            _value(t.start_value, t.unit),
            _value(t.end_value, t.unit),
            "-" if t.relative_change is None else f"{100 * t.relative_change:+.1f}%",
            _value(t.slope_per_hour, t.unit),
            "-" if t.p_value is None else f"{t.p_value:.3g}",
            t.reason if t.flagged else "no",
        )
        for t in soak.trends
    )
    return SoakTrends(
        headline=headline,
        header=header,
        rows=rows,
        flagged=tuple(t.flagged for t in soak.trends),
        reasons=soak.reasons,
        warnings=soak.warnings,
    )


# ----------------------------------------------------- search, settings, run


def search_rows(report: RunReport) -> tuple[str, list[tuple[str, ...]]] | None:
    """A capacity search: its one-line summary and one row per step it judged."""
    search = report.search
    if search is None:
        return None
    # One number per step: the throughput is the step's own, from the step table.
    achieved = {s.id: s.achieved_rps for s in report.steps}
    rows: list[tuple[str, ...]] = [
        (
            str(j.step),
            j.phase or "-",
            f"{j.load:g}",
            "-" if (rate := achieved.get(j.step)) is None else f"{rate:.2f}",
            str(j.outcome),
            "; ".join(j.reasons),
        )
        for j in search.history
    ]
    return search.summary(), rows


#: Settings the decisions were made with: (field, label, how to show the value).
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


def settings_rows(report: RunReport) -> list[tuple[str, str]]:
    """What the report's decisions were made with; options never given are left out."""
    rows = []
    for key, label, unit in _SETTINGS:
        value = getattr(report.settings, key)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            text = value
        elif unit == "%":
            text = f"{100 * value:g}%"
        elif unit == "$":
            text = f"${value:g}"
        else:
            text = f"{value:g} {unit}".strip()
        rows.append((label, text))
    return rows


def _time(x: float) -> str:
    return datetime.fromtimestamp(x, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_rows(report: RunReport) -> list[tuple[str, str]]:
    """Facts about the run, labelled."""
    from locust_ml.report.model import SCHEMA_VERSION

    run = report.run
    distributed = f"distributed, {run.workers:g} workers"
    rows = [
        ("locustfile", run.locustfile or "-"),
        ("target", run.target or "-"),
        ("test type", run.shape or "-"),
        ("started", _time(run.started_at)),
        ("ended", _time(run.ended_at)),
        ("duration", f"{report.duration_s:.1f} s"),
        ("load generation", distributed if run.mode == "distributed" else "one process"),
        ("measurement window", _secs(report.window_s)),
        ("percentiles", ", ".join(f"{p:g}" for p in report.percentiles)),
    ]
    if run.server_ready_s is not None:
        rows.append(("reference server ready after", _secs(run.server_ready_s)))
    if run.first_request_ms is not None:
        rows.append(("first request", f"{_ms(run.first_request_ms)} ms"))
    rows.append(("CPU spent reading telemetry", _secs(run.telemetry_cpu_s)))
    made_by = " ".join(x for x in ("locust-ml", run.tool_version) if x)
    rows.append(("made by", f"{made_by}, report schema {SCHEMA_VERSION}"))
    return rows
