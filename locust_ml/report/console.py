"""The step table printed at the end of a test (and the per-step progress line).

Plain fixed-width text: it goes to a terminal or a CI log, where people read
it next to Locust's own tables, so it follows their look (right-aligned
numbers, latencies in ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from locust_ml.analysis.capacity import CapacityAnalysis
from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.utilization import SeriesStats
from locust_ml.analysis.verdict import NO_CAPACITY_SHAPES
from locust_ml.report.model import RunReport
from locust_ml.report.sections import (
    gpu_utilization,
    judged_word,
    knee_of,
    prefix_cache_hit_rate,
    spike_summary,
    turn_table,
    verdict_word,
)

__all__ = ["format_capacity_summary", "format_ms", "format_step_table"]


def format_ms(x: float | None) -> str:
    """Milliseconds with 3-4 significant digits: ``0.412``, ``41.2``, ``4120``."""
    if x is None or math.isnan(x):
        return "-"
    if x >= 1000:
        return f"{x:.0f}"
    if x >= 100:
        return f"{x:.1f}"
    if x >= 10:
        return f"{x:.2f}"
    return f"{x:.3f}"


def _rate(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    first = cells[0].ljust(widths[0])
    return " ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])


def _lat_cells(lat: Mapping[str, float | None], keys: Sequence[str]) -> list[str]:
    return [format_ms(lat.get(k)) for k in keys]


def format_step_table(report: RunReport) -> str:
    """The per-step summary table, with a totals row."""
    keys = [percentile_key(q) for q in report.percentiles]
    gpu = _per_step(report, gpu_utilization)
    hits = _per_step(report, prefix_cache_hit_rate)
    header = ["step", "users", "offered/s", "achieved/s", "requests", "fail%", *keys, "judged"]
    dropped = any(s.events.get("late") or s.events.get("dropped") for s in report.steps)
    if dropped:
        header += ["late", "dropped"]
    if gpu:
        header.append("gpu%")
    if hits:
        header.append("hit%")
    rows = [header]
    for s in report.steps:
        extra: list[str] = [judged_word(report, s)]
        if dropped:
            extra += [str(s.events.get("late", 0)), str(s.events.get("dropped", 0))]
        if gpu:
            extra.append(f"{100 * gpu[s.id]:.0f}" if s.id in gpu else "-")
        if hits:
            extra.append(f"{100 * hits[s.id]:.1f}" if s.id in hits else "-")
        rows.append(
            [
                str(s.id),
                "-" if s.users is None or s.mode == "open" else str(s.users),
                _rate(s.offered_rps),
                _rate(s.achieved_rps),
                str(s.requests),
                f"{100 * s.failure_ratio:.1f}%",
                *_lat_cells(s.judged_latency_ms, keys),
                *extra,
            ]
        )
    t = report.totals
    dur = report.duration_s
    rows.append(
        [
            "total",
            "",
            "",
            _rate(t.requests / dur if dur > 0 else None),
            str(t.requests),
            f"{100 * t.failures / t.requests:.1f}%" if t.requests else "0.0%",
            *_lat_cells(t.latency_ms, keys),
            *([""] * (len(header) - 6 - len(keys))),
        ]
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [_row(r, widths) for r in rows]
    rule = "-" * len(lines[0])
    title = "locust-ml step summary (latency in ms, successful requests)"
    if any(s.warmup_s > 0 for s in report.steps):
        title += "; figures after each step's warm-up"
    if any(s.mode == "open" for s in report.steps):
        title += "; open-loop latency from each request's intended send time"
    out = [title, rule, lines[0], rule, *lines[1:-1], rule, lines[-1], rule]
    out.append("judged with: " + (report.rule.describe() or "no SLO"))
    out.extend(_turn_lines(report))
    out.extend(_failed_steps(report))
    if report.search is not None:
        out.append(report.search.summary())
    return "\n".join(out)


def _per_step(
    report: RunReport, figure: Callable[[Sequence[SeriesStats]], float | None]
) -> dict[int, float]:
    """A telemetry figure of each step that has one."""
    values = {step: figure(series) for step, series in report.telemetry.items()}
    return {step: v for step, v in values.items() if v is not None}


def _turn_lines(report: RunReport) -> list[str]:
    """A conversation's figures by turn, when requests were named by turn."""
    turns = turn_table(report)
    if turns is None:
        return []
    cells = [turns.header, *turns.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(turns.header))]
    lines = ["by turn (ms; turn 1 vs later turns shows the prefix cache):"]
    return lines + ["  " + _row(r, widths) for r in cells]


def _failed_steps(report: RunReport) -> list[str]:
    """Why each failed step failed (the table says only that it did)."""
    lines = []
    for s in report.steps:
        j = report.judgements.get(s.id)
        if j is not None and not j.passed:
            lines.append(f"  step {s.id}: {'; '.join(j.reasons)}")
    return lines


def _cold_start_lines(report: RunReport) -> list[str]:
    cold = report.cold_start
    if cold is None or cold.time_to_ready_s is None:
        return []
    first = (
        f"; first request {format_ms(cold.first_request_ms)} ms vs warm p50 "
        f"{format_ms(cold.warm_p50_ms)} ms"
        if cold.first_request_ms is not None and cold.warm_p50_ms is not None
        else ""
    )
    return [f"  cold start: ready in {cold.time_to_ready_s:.2f} s{first}"]


def _spike_lines(report: RunReport) -> list[str]:
    """A spike test's verdict, which leads its summary (what the test was run for)."""
    spike = spike_summary(report)
    if spike is None:
        return []
    lines = [f"locust-ml spike: {spike.headline} ({'PASS' if spike.passed else 'FAIL'})"]
    lines += [f"  {label}: {text}" for label, text in spike.rows]
    lines += [f"  - {n}" for n in spike.notes]
    return lines


#: A console line quotes at most this much of an error message.
_MAX_ERROR_TEXT = 200


def _top_error_lines(report: RunReport) -> list[str]:
    """Under the verdict, when requests failed: the most frequent error and its count."""
    if not report.totals.failures or not report.errors:
        return []
    top = report.errors[0]  # most frequent first (model.top_errors)
    text = " ".join(top.message.split())
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 3] + "..."
    return [
        f"  top error ({top.count} of {report.totals.failures} failures): "
        f"{top.method} {top.name}: {text}"
    ]


def _ci(c: CapacityAnalysis) -> str:
    if c.slo_rps_ci is None:
        return ""
    low, high = c.slo_rps_ci
    top = "open" if high is None else f"{high:.2f}"
    return f" (95% interval {low:.2f}-{top})"


def _bound(c: CapacityAnalysis) -> str:
    """What the capacity's step was, and what limits the figure."""
    at = f"step {c.last_passing_step}"
    if c.bound == "bracketed":
        return f"{at}; step {c.first_failing_step} failed: {c.limiting_slo}"
    if c.bound == "saturated":
        return f"{at}; the target saturated (step {c.saturation_step}): more load adds nothing"
    return f"{at}; a lower bound: every step passed and the target never saturated"


def _capacity_lines(c: CapacityAnalysis) -> list[str]:
    if c.slo_rps is not None:
        lines = [f"  SLO capacity per replica: {c.slo_rps:.2f} req/s{_ci(c)}, {_bound(c)}"]
    else:
        lines = ["  SLO capacity per replica: none (no step passed)"]
    lines.append(f"  knee: {knee_of(c)}")
    if c.saturation_rps is not None:
        lines.append(f"  saturation: {c.saturation_rps:.2f} req/s (from step {c.saturation_step})")
    lines.extend(f"  note: {n}" for n in c.notes)
    return lines


def _utilization_lines(report: RunReport) -> list[str]:
    lines = []
    for name, u in report.utilization.items():
        parts = []
        if u.gpu_utilization is not None:
            parts.append(f"GPU {u.gpu_utilization:.0%}")
        if u.gpu_memory_ratio is not None:
            parts.append(f"GPU memory {u.gpu_memory_ratio:.0%}")
        if u.target_cpu_cores is not None:
            parts.append(f"target CPU {u.target_cpu_cores:.2f} cores")
        if u.generator_cpu_percent is not None:
            parts.append(f"Locust CPU {u.generator_cpu_percent:.0f}%")
        if parts:
            label = "SLO capacity" if name == "slo_capacity" else name
            lines.append(f"  utilization at {label} (step {u.step}): {', '.join(parts)}")
    return lines


def format_capacity_summary(report: RunReport) -> str:
    """Capacity, knee, saturation, plan, cost and the verdict, a few lines each."""
    c = report.capacity
    lines = [
        *_spike_lines(report),
        f"locust-ml capacity (judged with: {report.rule.describe() or 'no SLO'})",
    ]
    if report.run.shape in NO_CAPACITY_SHAPES:
        pass  # a soak or a spike holds loads on purpose: no capacity is measured
    elif c is not None:
        lines.extend(_capacity_lines(c))
    else:
        lines.append("  SLO capacity per replica: - (no step was judged)")
    lines.extend(_utilization_lines(report))
    if report.plan is not None:
        p = report.plan
        lines.append(f"  plan: {p.replicas} replicas for {p.target_rps:g} req/s ({p.formula})")
    if report.cost is not None:
        k = report.cost
        tokens = (
            f", ${k.per_million_output_tokens:.4g} per 1M output tokens"
            if k.per_million_output_tokens is not None
            else ""
        )
        inst = f" ({k.instance})" if k.instance else ""
        lines.append(
            f"  cost: ${k.per_million_requests:.4g} per 1M requests{tokens} "
            f"at ${k.price_per_hour:g}/h{inst}"
        )
    lines.extend(_cold_start_lines(report))
    v = report.verdict
    lines.append(f"verdict: {verdict_word(report)} (exit code {v.exit_code})")
    lines.extend(_top_error_lines(report))
    lines.extend(f"  - {r}" for r in v.reasons)
    lines.extend(f"  warning: {w}" for w in v.warnings)
    return "\n".join(lines)
