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
error body stays in its cell. Secrets are removed first (:mod:`.redact`).
Numbers and the fixed words of this module are written as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from locust_ml.files import write_atomic
from locust_ml.report.html import (
    fmt_money,
    fmt_pct,
    fmt_rate,
    num,
    step_table,
    verdict_word,
)
from locust_ml.report.redact import redact
from locust_ml.report.sections import knee_text, spike_summary

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


def escape_md(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` as inert GFM inline text (see the module docs), at most ``limit`` chars.

    >>> escape_md("a|b `c` <script>\\n[x](y)")
    'a\\\\|b \\\\`c\\\\` &lt;script&gt; \\\\[x\\\\](y)'
    """
    raw = " ".join(str(text).split()) if text is not None else ""
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


def _map(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _strs(x: Any) -> list[str]:
    return [str(s) for s in x if s is not None] if isinstance(x, list | tuple) else []


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    align = ["---:" if n else ":---" for n in numeric]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _capacity_lines(report: Mapping[str, Any]) -> list[str]:
    c = _map(report.get("capacity"))
    lines = []
    slo_rps = num(c.get("slo_rps"))
    if slo_rps is not None:
        ci = [num(v) for v in c.get("slo_rps_ci") or ()]
        interval = (
            f" (95% interval {ci[0]:.2f} - {'open' if ci[1] is None else f'{ci[1]:.2f}'})"
            if len(ci) == 2 and ci[0] is not None and ci[1] is not None
            else ""
        )
        limit = c.get("limiting_slo")
        by = f", limited by {escape_md(limit)}" if limit else ""
        if c.get("bound") == "lower-bound":
            by += " (a lower bound: every step met the SLOs)"
        lines.append(f"- **SLO capacity: {slo_rps:.2f} req/s per replica**{interval}{by}")
    elif c:
        lines.append("- **SLO capacity: not found** (no step met the SLOs, or none were set)")
    if c:
        lines.append(f"- knee: {escape_md(knee_text(c))}")
    if num(c.get("saturation_rps")) is not None:
        step = (
            f" (step {escape_md(c['saturation_step'])})"
            if c.get("saturation_step") is not None
            else ""
        )
        lines.append(f"- saturation: {fmt_rate(c.get('saturation_rps'))} req/s{step}")
    plan = _map(report.get("plan"))
    if plan:
        lines.append(
            f"- plan: **{escape_md(plan.get('replicas'))} replicas** for "
            f"{fmt_rate(plan.get('target_rps'))} req/s at "
            f"{fmt_pct(plan.get('target_utilization'), 0)} target utilization"
            + (f" ({escape_md(plan['formula'])})" if plan.get("formula") else "")
        )
    cost = _map(report.get("cost"))
    if cost:
        tokens = (
            f", {fmt_money(cost.get('per_million_output_tokens'))} per 1M output tokens"
            if num(cost.get("per_million_output_tokens")) is not None
            else ""
        )
        instance = f" ({escape_md(cost['instance'])})" if cost.get("instance") else ""
        lines.append(
            f"- cost: **{fmt_money(cost.get('per_million_requests'))} per 1M requests**{tokens} "
            f"at {fmt_money(cost.get('price_per_hour'))}/h{instance}"
        )
    return lines


def _listed(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    shown = [f"- {escape_md(x)}" for x in items[:MAX_ITEMS]]
    if len(items) > MAX_ITEMS:
        shown.append(f"- ... {len(items) - MAX_ITEMS} more in report.html")
    return [f"**{title}**", "", *shown, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The summary as GitHub-flavoured Markdown; secrets redacted, strings escaped."""
    data = redact(report)
    verdict = _map(data.get("verdict"))
    run = _map(data.get("run"))
    word = verdict_word(data)
    head = f"### locust-ml: {word}"
    if run.get("locustfile"):
        head += f" - {escape_md(run['locustfile'])}"
    out = [head, ""]
    status = f"**Verdict: {word}**"
    if verdict.get("exit_code") is not None:
        status += f" (exit code {escape_md(verdict['exit_code'])})"
    if verdict.get("partial") is True:
        status += " - **partial run**: the test ended before its plan finished"
    out += [status, ""]
    spike = spike_summary(data)
    if spike is not None:
        out += [f"**Spike: {escape_md(spike.headline)}**", ""]
        out += [f"- {label}: {escape_md(text)}" for label, text in spike.rows]
        out.append("")
    capacity = _capacity_lines(data)
    if capacity:
        out += [*capacity, ""]
    out += _listed("Reasons", _strs(verdict.get("reasons")))
    out += _listed("Warnings", _strs(verdict.get("warnings")))
    slos = _strs(data.get("slos"))
    if slos:
        out += ["SLOs: " + ", ".join(escape_md(s) for s in slos), ""]

    available = {str(k) for s in data.get("steps") or () for k in _map(_map(s).get("latency_ms"))}
    keys = [k for k in PERCENTILES if k in available] or list(PERCENTILES)
    table = step_table(data, keys)
    if table.rows:
        rows = [[escape_md(cell) for cell in row] for row in table.rows[:MAX_STEPS]]
        header = [escape_md(h) for h in table.header]
        out.append(_table(header, rows, table.numeric))
        if len(table.rows) > MAX_STEPS:
            out.append(f"\n{len(table.rows) - MAX_STEPS} more steps in report.html")
        note = "Latency in ms"
        if any(_map(s).get("mode") == "open" for s in data.get("steps") or ()):
            note += "; open-loop steps measure from each request's intended send time"
        out += ["", f"<sub>{note}. Full report: report.html.</sub>"]
    else:
        out.append("No steps: the test made no measurements.")
    return "\n".join(out).rstrip() + "\n"


def write_markdown(report: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``report.md`` atomically; return its path."""
    return write_atomic(path, render_markdown(report))
