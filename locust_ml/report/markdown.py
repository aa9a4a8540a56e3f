"""``report.md``: a compact summary for a CI job summary or a pull-request comment.

GitHub-flavoured Markdown, a few lines and one table: the verdict, the
capacity numbers a reviewer needs (SLO capacity, knee, saturation, plan,
cost), the reasons behind the verdict, then the step table. No emoji: the
verdict word (PASS / FAIL / INVALID) is what people and scripts grep for.

A PR comment renders Markdown *and* some HTML, and can ping people, so every
string that came from the run or the target (endpoint names, labels, reasons,
notes, SLO text) goes through :func:`escape_md`: ``|`` cannot break a table
cell, a backtick cannot open a code span, ``<``/``>``/``&`` become entities
(no tag, no comment, no entity tricks), ``[``/``]`` cannot form a link,
emphasis markers are escaped, and newlines become spaces so a multi-line
error body stays in its cell. The same function removes secrets first
(:func:`~locust_ml.report.redact.redact_text`): redaction happens where a
string is written. Numbers and the fixed words of this module are written
as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from locust_ml.files import write_atomic
from locust_ml.report.html import fmt_money, fmt_pct, fmt_rate, step_table
from locust_ml.report.model import RunReport
from locust_ml.report.redact import redact_text
from locust_ml.report.sections import knee_of, spike_summary, turn_table, verdict_word

__all__ = ["escape_md", "render_markdown", "write_markdown"]

#: Latency columns of the compact table, when the report has them.
PERCENTILES: Final = ("p50", "p95", "p99", "p99.9")
#: Steps listed at most (a PR comment is limited to 65536 characters).
MAX_STEPS: Final = 60
#: Reasons and warnings listed at most, each.
MAX_ITEMS: Final = 10
#: Longest text of one string from the report, in characters.
MAX_TEXT: Final = 300

_MD_SPECIAL: Final = frozenset("\\`*_[]|~#!")
_ENTITIES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_md(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` redacted and as inert GFM inline text (module docs), at most ``limit`` chars.

    >>> escape_md("a|b `c` <script>\\n[x](y)")
    'a\\\\|b \\\\`c\\\\` &lt;script&gt; \\\\[x\\\\](y)'
    """
    raw = " ".join(redact_text(str(text)).split()) if text is not None else ""
    if len(raw) > limit:
        raw = raw[: limit - 3] + "..."
    out = []
    for ch in raw:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch == "@":
            # "@name" in a PR comment notifies that person; a zero-width joiner stops it.
            out.append("@\u200d")
        else:
            out.append(ch)
    return "".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    align = ["---:" if n else ":---" for n in numeric]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _capacity_lines(report: RunReport) -> list[str]:
    c = report.capacity
    if c is None:
        return []
    if c.slo_rps is not None:
        ci = c.slo_rps_ci
        interval = (
            f" (95% interval {ci[0]:.2f} - {ci[1]:.2f})"
            if ci is not None and ci[1] is not None
            else ""
        )
        by = f", limited by {escape_md(c.limiting_slo)}" if c.limiting_slo else ""
        if c.bound == "lower-bound":
            by += " (a lower bound: every step met the SLOs)"
        lines = [f"- **SLO capacity: {c.slo_rps:.2f} req/s per replica**{interval}{by}"]
    else:
        lines = ["- **SLO capacity: not found** (no step met the SLOs, or none were set)"]
    lines.append(f"- knee: {escape_md(knee_of(c))}")
    if c.saturation_rps is not None:
        step = f" (step {c.saturation_step})" if c.saturation_step is not None else ""
        lines.append(f"- saturation: {fmt_rate(c.saturation_rps)} req/s{step}")
    plan = report.plan
    if plan is not None:
        lines.append(
            f"- plan: **{plan.replicas} replicas** for {fmt_rate(plan.target_rps)} req/s at "
            f"{fmt_pct(plan.target_utilization, 0)} target utilization "
            f"({escape_md(plan.formula)})"
        )
    cost = report.cost
    if cost is not None:
        tokens = (
            f", {fmt_money(cost.per_million_output_tokens)} per 1M output tokens"
            if cost.per_million_output_tokens is not None
            else ""
        )
        instance = f" ({escape_md(cost.instance)})" if cost.instance else ""
        lines.append(
            f"- cost: **{fmt_money(cost.per_million_requests)} per 1M requests**{tokens} "
            f"at {fmt_money(cost.price_per_hour)}/h{instance}"
        )
    return lines


def _listed(title: str, items: Sequence[str]) -> list[str]:
    if not items:
        return []
    shown = [f"- {escape_md(x)}" for x in items[:MAX_ITEMS]]
    if len(items) > MAX_ITEMS:
        shown.append(f"- ... {len(items) - MAX_ITEMS} more in report.html")
    return [f"**{title}**", "", *shown, ""]


def render_markdown(report: RunReport) -> str:
    """The summary as GitHub-flavoured Markdown; secrets redacted, strings escaped."""
    verdict = report.verdict
    word = verdict_word(report)
    head = f"### locust-ml: {word}"
    if report.run.locustfile:
        head += f" - {escape_md(report.run.locustfile)}"
    status = f"**Verdict: {word}** (exit code {verdict.exit_code})"
    if verdict.partial:
        status += " - **partial run**: the test ended before its plan finished"
    out = [head, "", status, ""]
    spike = spike_summary(report)
    if spike is not None:
        out += [f"**Spike: {escape_md(spike.headline)}**", ""]
        out += [f"- {label}: {escape_md(text)}" for label, text in spike.rows]
        out.append("")
    capacity = _capacity_lines(report)
    if capacity:
        out += [*capacity, ""]
    out += _listed("Reasons", verdict.reasons)
    out += _listed("Warnings", verdict.warnings)
    if report.slos:
        out += ["SLOs: " + ", ".join(escape_md(s) for s in report.slos), ""]

    available = {k for s in report.steps for k in s.latency_ms}
    keys = [k for k in PERCENTILES if k in available] or list(PERCENTILES)
    table = step_table(report, keys)
    if table.rows:
        rows = [[escape_md(cell) for cell in row] for row in table.rows[:MAX_STEPS]]
        header = [escape_md(h) for h in table.header]
        out.append(_table(header, rows, table.numeric))
        if len(table.rows) > MAX_STEPS:
            out.append(f"\n{len(table.rows) - MAX_STEPS} more steps in report.html")
        note = "Latency in ms"
        if any(s.mode == "open" for s in report.steps):
            note += "; open-loop steps measure from each request's intended send time"
        out += ["", f"<sub>{note}. Full report: report.html.</sub>"]
    else:
        out.append("No steps: the test made no measurements.")
    turns = turn_table(report)
    if turns is not None:
        out += ["", "**By turn** (ms)", ""]
        rows = [[escape_md(cell) for cell in row] for row in turns.rows[:MAX_STEPS]]
        numeric = [h != "name" for h in turns.header]
        out.append(_table([escape_md(h) for h in turns.header], rows, numeric))
    return "\n".join(out).rstrip() + "\n"


def write_markdown(report: RunReport, path: str | os.PathLike[str]) -> Path:
    """Write ``report.md`` atomically; return its path."""
    return write_atomic(path, render_markdown(report))
