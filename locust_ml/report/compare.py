"""``locust-ml compare``: several runs side by side, cheapest per inference first.

The question a capacity test answers for a buyer is not "how fast is it" but
"what does a million inferences cost at the SLO": a T4 that sustains 40 req/s
at $0.53/h and an A100 that sustains 400 req/s at $3.67/h are compared by
``price_per_hour / (slo_rps * 3600) * 1e6`` dollars per million requests, not by
either number alone. This module reads several ``report.json`` files and ranks
them that way.

It is pure over typed reports (:func:`summarize_run`, :func:`compare_runs`,
the formatters) plus a thin CLI (:func:`run_compare`) that reads each file
with :func:`~locust_ml.report.load.load_report`, the one reader: a field of
the wrong type, or a negative capacity or price, is an error naming the file
and the field, because a comparison built on a misread number is worse than
none. A run without an SLO capacity (none was analysed, no SLOs, no step
passed) is listed, last, with the reason it can't be ranked.

Ranking (``--sort cost``, the default):

1. runs with an SLO capacity and a cost per 1M requests, cheapest first;
2. runs with an SLO capacity but no price, highest capacity first;
3. runs without an SLO capacity, in the order given, with the reason.

``--sort capacity`` ranks every run with an SLO capacity by capacity per
replica, highest first, then the rest. The relative cost is always against the
cheapest priced run with an SLO capacity (``1.00x`` is the cheapest).

The p99 at capacity is the p99 of the step that stands for the SLO capacity
(``last_passing_step`` on the capacity curve: the capacity is that step's
good throughput, never an interpolation); when the curve does not have it,
it is not shown rather than guessed. A capacity that no failing step bounds
(``bound`` is ``lower-bound``: the ramp stopped before the SLO broke) is
shown as ``>=``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError

if TYPE_CHECKING:  # the CLI builds its parser without numpy; run_compare imports the rest
    from locust_ml.analysis.capacity import CapacityAnalysis
    from locust_ml.report.model import RunReport

__all__ = [
    "COMPARE_SCHEMA_VERSION",
    "SORT_KEYS",
    "Comparison",
    "RunSummary",
    "compare_runs",
    "comparison_to_dict",
    "default_label",
    "format_markdown",
    "format_table",
    "no_capacity_reason",
    "p99_at_capacity",
    "run_compare",
    "summarize_run",
]

#: Version of the ``--json`` output of ``compare``.
COMPARE_SCHEMA_VERSION = "1.0"
#: ``--sort`` choices (``locust_ml.cli`` defines the options; a test keeps them in step).
SORT_KEYS = ("cost", "capacity")


# --------------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunSummary:
    """What the comparison says about one run (ranked fields filled by :func:`compare_runs`)."""

    label: str
    source: str
    verdict: str  # PASS, FAIL or INVALID
    slo_rps: float | None
    slo_rps_ci: tuple[float, float | None] | None
    knee_rps: float | None
    p99_ms: float | None
    gpu_utilization: float | None  # 0..1 at SLO capacity
    price_per_hour: float | None
    cost_per_million_requests: float | None
    cost_per_million_output_tokens: float | None
    instance: str | None
    #: Why the run is not ranked by cost (no capacity, no price), else None.
    note: str | None = None
    #: No step failed its SLO: the true capacity is at least ``slo_rps``.
    lower_bound: bool = False
    rank: int | None = None
    relative_cost: float | None = None


def default_label(report: RunReport, path: str | Path | None = None) -> str:
    """The run's directory name, else ``locustfile@target``; plus ``[instance]``.

    ``reports/t4-20261128/report.json`` is labelled ``t4-20261128`` (each run
    writes ``report.json`` into a directory of its own); a report saved under
    another name, ``runs/a100.json``, by that name's stem (``a100``); a report
    without a path by its locustfile's stem and target.
    """
    label = ""
    if path is not None:
        p = Path(path).resolve()
        label = p.parent.name if p.name == "report.json" else p.stem
    if not label:
        run = report.run
        label = Path(run.locustfile).stem if run.locustfile else "run"
        if run.target:
            label += f"@{run.target}"
    instance = None if report.cost is None else report.cost.instance
    if instance and instance not in label:
        label += f" [{instance}]"
    return label


def p99_at_capacity(capacity: CapacityAnalysis | None) -> float | None:
    """p99 (ms) of the step that stands for the SLO capacity; None when not derivable."""
    if capacity is None or capacity.slo_rps is None:
        return None
    point = next((p for p in capacity.curve if p.step == capacity.last_passing_step), None)
    return None if point is None else point.latency_ms.get("p99")


def no_capacity_reason(report: RunReport) -> str:
    """Why a report states no SLO capacity, in one line (``compare`` and ``sweep`` list it)."""
    c = report.capacity
    if c is None:
        return "no capacity analysis in the report (no step was measured)"
    if not report.slos:
        return "no SLO capacity: the run had no SLOs"
    if c.notes:
        note = c.notes[0]
        return note if "capacity" in note.lower() else f"no SLO capacity: {note}"
    if c.last_passing_step is None and c.first_failing_step is not None:
        return "no SLO capacity: no step met the SLOs"
    return "no SLO capacity in the report"


def summarize_run(
    report: RunReport,
    label: str,
    source: str = "",
    *,
    price_per_hour: float | None = None,
) -> RunSummary:
    """The comparison row of one report (unranked).

    ``price_per_hour`` overrides the report's price (a run made without one);
    the cost per 1M requests is then ``price / (slo_rps * 3600) * 1e6``. Without
    an override the report's own cost per 1M requests is used.
    """
    from locust_ml.report.sections import verdict_word

    c, cost = report.capacity, report.cost
    slo_rps = None if c is None else c.slo_rps
    at_slo = report.utilization.get("slo_capacity")
    price = None if cost is None else cost.price_per_hour
    per_m = None if cost is None else cost.per_million_requests
    per_m_tok = None if cost is None else cost.per_million_output_tokens
    if price_per_hour is not None:
        if not math.isfinite(price_per_hour) or price_per_hour < 0:
            raise ConfigError(f"--price {price_per_hour!r}: expected dollars per hour >= 0")
        price, per_m = price_per_hour, None
        per_m_tok = _per_million(price, None if cost is None else cost.tokens_out_per_s)
    if per_m is None and slo_rps is not None:
        per_m = _per_million(price, slo_rps)

    note: str | None = None
    if slo_rps is None:
        note = no_capacity_reason(report)
    elif per_m is None:
        note = "no price per hour (--ml-price-per-hour, or compare --price)"
    return RunSummary(
        label=label,
        source=source or label,
        verdict=verdict_word(report),
        slo_rps=slo_rps,
        slo_rps_ci=None if c is None else c.slo_rps_ci,
        knee_rps=None if c is None else c.knee_rps,
        p99_ms=p99_at_capacity(c),
        gpu_utilization=None if at_slo is None else at_slo.gpu_utilization,
        price_per_hour=price,
        cost_per_million_requests=per_m,
        cost_per_million_output_tokens=per_m_tok,
        instance=None if cost is None else cost.instance,
        note=note,
        lower_bound=c is not None and c.bound == "lower-bound",
    )


def _per_million(price: float | None, per_s: float | None) -> float | None:
    """Dollars per million units at ``per_s`` units per second: ``price / (per_s*3600) * 1e6``."""
    if price is None or per_s is None or per_s <= 0:
        return None
    return price / (per_s * 3600.0) * 1_000_000.0


# --------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Comparison:
    """Runs in rank order, with the sort key used."""

    runs: tuple[RunSummary, ...]
    sort: str


def compare_runs(runs: Sequence[RunSummary], sort: str = "cost") -> Comparison:
    """Rank ``runs`` (see the module docstring) and fill ``rank`` and ``relative_cost``."""
    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort {sort!r}: expected one of {', '.join(SORT_KEYS)}")
    order = list(enumerate(runs))
    with_cap = [(i, r) for i, r in order if r.slo_rps is not None]
    without = [(i, r) for i, r in order if r.slo_rps is None]
    if sort == "cost":
        priced = [(i, r) for i, r in with_cap if r.cost_per_million_requests is not None]
        unpriced = [(i, r) for i, r in with_cap if r.cost_per_million_requests is None]
        priced.sort(key=lambda ir: (ir[1].cost_per_million_requests, ir[0]))
        unpriced.sort(key=lambda ir: (-(ir[1].slo_rps or 0.0), ir[0]))
        ranked = priced + unpriced
    else:
        ranked = sorted(with_cap, key=lambda ir: (-(ir[1].slo_rps or 0.0), ir[0]))
    costs = [
        r.cost_per_million_requests for _, r in with_cap if r.cost_per_million_requests is not None
    ]
    cheapest = min(costs) if costs else None
    out: list[RunSummary] = []
    for rank, (_, r) in enumerate(ranked, start=1):
        rel = None
        if cheapest is not None and r.cost_per_million_requests is not None:
            rel = r.cost_per_million_requests / cheapest if cheapest > 0 else None
        out.append(replace(r, rank=rank, relative_cost=rel))
    out.extend(replace(r, rank=None, relative_cost=None) for _, r in without)
    return Comparison(runs=tuple(out), sort=sort)


# --------------------------------------------------------------------- output

_HEADER = (
    "#",
    "run",
    "verdict",
    "SLO cap req/s (95% CI)",
    "knee req/s",
    "p99 ms @cap",
    "GPU @cap",
    "$/h",
    "$/1M req",
    "$/1M out tok",
    "vs cheapest",
    "note",
)


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _money(x: float | None) -> str:
    """Dollars: cents from $1 up, three significant digits below."""
    if x is None:
        return "-"
    return f"{x:.3g}" if x < 1 else f"{x:,.2f}" if x < 1000 else f"{x:,.0f}"


def _cells(r: RunSummary) -> list[str]:
    cap = _f(r.slo_rps, ".1f")
    if r.slo_rps is not None and r.lower_bound:
        cap = ">=" + cap
    if r.slo_rps is not None and r.slo_rps_ci is not None:
        high = r.slo_rps_ci[1]
        cap += f" ({r.slo_rps_ci[0]:.1f}-{'open' if high is None else f'{high:.1f}'})"
    return [
        "-" if r.rank is None else str(r.rank),
        r.label,
        r.verdict,
        cap,
        _f(r.knee_rps, ".1f"),
        _f(r.p99_ms, ".1f"),
        "-" if r.gpu_utilization is None else f"{100 * r.gpu_utilization:.0f}%",
        _money(r.price_per_hour),
        _money(r.cost_per_million_requests),
        _money(r.cost_per_million_output_tokens),
        "-" if r.relative_cost is None else f"{r.relative_cost:.2f}x",
        r.note or "",
    ]


def _title(c: Comparison) -> str:
    by = "cost per 1M requests at SLO capacity" if c.sort == "cost" else "SLO capacity per replica"
    return f"locust-ml compare: {len(c.runs)} runs ranked by {by}"


def format_table(c: Comparison) -> str:
    """Fixed-width text for a terminal or CI log (numbers right-aligned)."""
    rows = [list(_HEADER), *(_cells(r) for r in c.runs)]
    if not any(r.note for r in c.runs):
        rows = [row[:-1] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    left = {1, 2, len(_HEADER) - 1}

    def line(row: list[str]) -> str:
        cells = [
            cell.ljust(w) if i in left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        return " ".join(cells).rstrip()

    lines = [line(row) for row in rows]
    rule = "-" * max(len(x) for x in lines)
    out = [_title(c), rule, lines[0], rule, *lines[1:], rule]
    out.extend(_footnotes(c))
    return "\n".join(out)


def _footnotes(c: Comparison) -> list[str]:
    notes = []
    for r in c.runs:
        if r.verdict == "INVALID":
            notes.append(f"{r.label}: INVALID run; its numbers may not hold (see its report)")
        if r.lower_bound and r.slo_rps is not None:
            notes.append(
                f"{r.label}: no step failed its SLO, so its capacity is at least "
                f"{r.slo_rps:.1f} req/s (ramp further to find it)"
            )
    return notes


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(c: Comparison) -> str:
    """The same table as GitHub-flavoured Markdown."""
    header = list(_HEADER)
    align = ["---:", ":---", ":---", *(["---:"] * (len(header) - 4)), ":---"]
    lines = [
        f"# {_title(c)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
    ]
    lines += ["| " + " | ".join(_md_escape(x) for x in _cells(r)) + " |" for r in c.runs]
    foot = _footnotes(c)
    if foot:
        lines += ["", *(f"- {_md_escape(x)}" for x in foot)]
    lines += [
        "",
        "$/1M req = price per hour / (SLO capacity req/s x 3600) x 1,000,000; "
        "vs cheapest = $/1M req / the lowest $/1M req.",
    ]
    return "\n".join(lines) + "\n"


def comparison_to_dict(c: Comparison) -> dict[str, Any]:
    """The ``--json`` form: one object per run, in rank order."""
    runs = []
    for r in c.runs:
        row = asdict(r)
        row["slo_rps_ci"] = None if r.slo_rps_ci is None else list(r.slo_rps_ci)
        runs.append(row)
    return {"schema_version": COMPARE_SCHEMA_VERSION, "sort": c.sort, "runs": runs}


# --------------------------------------------------------------------- CLI


def _per_report(values: list[str] | None, n: int, option: str) -> list[str | None]:
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ConfigError(
            f"{option} was given {len(values)} times for {n} reports; "
            "expected once per report, in the same order"
        )
    return list(values)


def _parse_price(text: str | None) -> float | None:
    if text is None or text == "-":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--price {text!r}: expected dollars per hour, e.g. 0.526") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"--price {text!r}: expected dollars per hour >= 0")
    return value


def run_compare(args: argparse.Namespace) -> int:
    """Load, rank, print; write ``--markdown``/``--json`` atomically. 2 on bad input."""
    from locust_ml.files import write_atomic
    from locust_ml.report.load import load_report

    try:
        paths = [str(p) for p in args.reports]
        labels = _per_report(args.label, len(paths), "--label")
        prices = [_parse_price(p) for p in _per_report(args.price, len(paths), "--price")]
        summaries = []
        for path, label, price in zip(paths, labels, prices, strict=True):
            report = load_report(path)
            name = label or default_label(report, path)
            summaries.append(summarize_run(report, name, path, price_per_hour=price))
        _dedupe(summaries)
        comparison = compare_runs(summaries, args.sort)
    except LocustMLError as exc:
        print(f"locust-ml compare: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(format_table(comparison))
    outputs = [
        ("--markdown", args.markdown, format_markdown(comparison)),
        ("--json", args.json, json.dumps(comparison_to_dict(comparison), indent=2) + "\n"),
    ]
    for option, out, text in outputs:
        if out is None:
            continue
        try:
            write_atomic(out, text)
        except OSError as exc:
            reason = exc.strerror or exc
            print(
                f"locust-ml compare: error: {option} {out}: cannot write ({reason})",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        print(f"wrote {out}")
    return 0


def _dedupe(summaries: list[RunSummary]) -> None:
    """Same label twice (two runs in directories of one name): add ``#2``, ``#3``."""
    seen: dict[str, int] = {}
    for i, s in enumerate(summaries):
        n = seen.get(s.label, 0) + 1
        seen[s.label] = n
        if n > 1:
            summaries[i] = replace(s, label=f"{s.label} #{n}")
