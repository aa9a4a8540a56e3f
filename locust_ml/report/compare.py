"""``locust-ml compare``: several runs side by side, cheapest per inference first.

The question a capacity test answers for a buyer is not "how fast is it" but
"what does a million inferences cost at the SLO": a T4 that sustains 40 req/s
at $0.53/h and an A100 that sustains 400 req/s at $3.67/h are compared by
``price_per_hour / (slo_rps * 3600) * 1e6`` dollars per million requests, not by
either number alone. This module reads several ``report.json`` files and ranks
them that way.

It is pure over the loaded dicts (:func:`summarize_run`, :func:`compare_runs`,
the formatters) plus a thin CLI (:func:`run_compare`). Reports are read
defensively: a 1.0 report written before the capacity analysis existed has no
``capacity``, ``verdict`` or ``cost`` keys, and any of them may be ``null``; such
a run is listed, last, with the reason it can't be ranked. A key that is
present with the wrong type is an error naming the file and the key, because a
comparison built on a misread number is worse than none.

Ranking (``--sort cost``, the default):

1. runs with an SLO capacity and a cost per 1M requests, cheapest first;
2. runs with an SLO capacity but no price, highest capacity first;
3. runs without an SLO capacity, in the order given, with the reason.

``--sort capacity`` ranks every run with an SLO capacity by capacity per
replica, highest first, then the rest. The relative cost is always against the
cheapest priced run with an SLO capacity (``1.00x`` is the cheapest).

The p99 at capacity is the p99 of the step that stands for the SLO capacity
(``capacity.last_passing_step`` on ``capacity.curve``: the capacity is that
step's good throughput, never an interpolation); when the curve does not
have it, it is not shown rather than guessed. A capacity that no failing
step bounds (``capacity.bound`` is ``lower-bound``: the ramp stopped before
the SLO broke) is shown as ``>=``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError, ReportError

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
    "load_report",
    "run_compare",
    "summarize_run",
]

#: Version of the ``--json`` output of ``compare``.
COMPARE_SCHEMA_VERSION = "1.0"
#: ``--sort`` choices (``locust_ml.cli`` defines the options; a test keeps them in step).
SORT_KEYS = ("cost", "capacity")
#: Major version of ``report.json`` this reader understands.
_REPORT_MAJOR = "2"


# --------------------------------------------------------------------- reading


def load_report(path: str | Path) -> dict[str, Any]:
    """Read one ``report.json`` (or the directory holding one) as a dict.

    Checks the envelope only (a JSON object, ``schema_version`` 1.x, a ``run``
    object); the keys a reader needs are checked where they are read. Raises
    :class:`ReportError` naming the file. Also used by ``locust-ml autoscale``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{p}: no such report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ReportError(f"{p}: cannot read the report ({detail})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ReportError(f"{p}: not a JSON report ({exc})") from None
    except RecursionError:
        raise ReportError(f"{p}: not a JSON report (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ReportError(
            f"{p}: expected a locust-ml report (a JSON object), got {type(data).__name__}"
        )
    version = data.get("schema_version")
    if not isinstance(version, str) or version.split(".")[0] != _REPORT_MAJOR:
        raise ReportError(
            f"{p}: unsupported report schema_version {version!r}; "
            f"expected {_REPORT_MAJOR}.x (a locust-ml report.json)"
        )
    if not isinstance(data.get("run"), dict):
        raise ReportError(f"{p}: the report has no 'run' object; is it a locust-ml report.json?")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a report may hold")


def _section(report: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any] | None:
    value = report.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ReportError(f"{source}: '{key}' must be an object or null, got {value!r}")
    return value


def _number(section: Mapping[str, Any] | None, key: str, where: str) -> float | None:
    """A finite number >= 0 or None; ReportError for anything else.

    Every number a comparison reads (capacities, utilizations, prices, costs)
    is a rate or an amount: a negative one is a hand edit, and would rank a
    run first (a negative cost) or last for no reason.
    """
    if section is None:
        return None
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(
            f"{where}.{key} must be a finite number >= 0 or null, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < 0:
        raise ReportError(f"{where}.{key} must be >= 0 or null, got {value!r}")
    return float(value)


def _text(section: Mapping[str, Any] | None, key: str) -> str | None:
    value = None if section is None else section.get(key)
    return value if isinstance(value, str) and value else None


# --------------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunSummary:
    """What the comparison says about one run (ranked fields filled by :func:`compare_runs`)."""

    label: str
    source: str
    verdict: str  # PASS, FAIL, INVALID, or "-" when the report has no verdict
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


def default_label(report: Mapping[str, Any], path: str | Path | None = None) -> str:
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
        run = report.get("run")
        run = run if isinstance(run, Mapping) else {}
        locustfile = _text(run, "locustfile")
        target = _text(run, "target")
        label = Path(locustfile).stem if locustfile else "run"
        if target:
            label += f"@{target}"
    cost = report.get("cost")
    instance = _text(cost, "instance") if isinstance(cost, Mapping) else None
    if instance and instance not in label:
        label += f" [{instance}]"
    return label


def _verdict(report: Mapping[str, Any], source: str) -> str:
    verdict = _section(report, "verdict", source)
    if verdict is None:
        return "-"
    if verdict.get("valid") is False:
        return "INVALID"
    passed = verdict.get("passed")
    if isinstance(passed, bool):
        return "PASS" if passed else "FAIL"
    return "-"


def _ci(capacity: Mapping[str, Any] | None, source: str) -> tuple[float, float | None] | None:
    """The interval ``[low, high]``; ``high`` is null when nothing bounds it from above."""
    value = None if capacity is None else capacity.get("slo_rps_ci")
    if value is None:
        return None

    def number(v: Any) -> bool:
        real = isinstance(v, int | float) and not isinstance(v, bool)
        return real and math.isfinite(v) and v >= 0

    ok = (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and number(value[0])
        and (value[1] is None or number(value[1]))
    )
    if not ok:
        raise ReportError(
            f"{source}: capacity.slo_rps_ci must be [low, high] or null, got {value!r}"
        )
    return (float(value[0]), None if value[1] is None else float(value[1]))


def _curve_rate(point: Mapping[str, Any], key: str) -> float | None:
    value = point.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _curve_p99(point: Mapping[str, Any]) -> float | None:
    lat = point.get("latency_ms")
    return _curve_rate(lat, "p99") if isinstance(lat, Mapping) else None


def p99_at_capacity(capacity: Mapping[str, Any] | None) -> float | None:
    """p99 (ms) of the step that stands for the SLO capacity; None when not derivable."""
    slo = None if capacity is None else capacity.get("slo_rps")
    curve = None if capacity is None else capacity.get("curve")
    if capacity is None or not isinstance(slo, int | float) or not isinstance(curve, list):
        return None
    points = {p.get("step"): p for p in curve if isinstance(p, Mapping)}
    step = points.get(capacity.get("last_passing_step"))
    return None if step is None else _curve_p99(step)


def _no_capacity_reason(report: Mapping[str, Any], capacity: Mapping[str, Any] | None) -> str:
    if "capacity" not in report:
        version = report.get("schema_version")
        return f"no capacity analysis in the report (schema {version})"
    if capacity is None:
        return "no capacity analysis in the report (capacity is null)"
    slos = report.get("slos")
    if isinstance(slos, list) and not slos:
        return "no SLO capacity: the run had no SLOs"
    notes = capacity.get("notes")
    if isinstance(notes, list) and notes and isinstance(notes[0], str):
        note = notes[0]
        return note if "capacity" in note.lower() else f"no SLO capacity: {note}"
    if capacity.get("last_passing_step") is None and capacity.get("first_failing_step") is not None:
        return "no SLO capacity: no step met the SLOs"
    return "no SLO capacity in the report"


def summarize_run(
    report: Mapping[str, Any],
    label: str,
    source: str = "",
    *,
    price_per_hour: float | None = None,
) -> RunSummary:
    """The comparison row of one report (unranked).

    ``price_per_hour`` overrides the report's price (a run made without one);
    the cost per 1M requests is then ``price / (slo_rps * 3600) * 1e6``. Without
    an override the report's own ``cost.per_million_requests`` is used, and
    computed the same way when only ``cost.price_per_hour`` is there.
    """
    source = source or label
    capacity = _section(report, "capacity", source)
    cost = _section(report, "cost", source)
    slo_rps = _number(capacity, "slo_rps", f"{source}: capacity")
    knee_rps = _number(capacity, "knee_rps", f"{source}: capacity")
    util = _section(capacity, "utilization", source) if capacity is not None else None
    at_slo = _section(util, "slo_capacity", source) if util is not None else None
    gpu = _number(at_slo, "gpu_utilization", f"{source}: capacity.utilization.slo_capacity")

    price = _number(cost, "price_per_hour", f"{source}: cost")
    per_m = _number(cost, "per_million_requests", f"{source}: cost")
    per_m_tok = _number(cost, "per_million_output_tokens", f"{source}: cost")
    if price_per_hour is not None:
        if not math.isfinite(price_per_hour) or price_per_hour < 0:
            raise ConfigError(f"--price {price_per_hour!r}: expected dollars per hour >= 0")
        tokens_per_s = _number(cost, "tokens_out_per_s", f"{source}: cost")
        price, per_m = price_per_hour, None
        per_m_tok = _per_million(price, tokens_per_s)
    if per_m is None and slo_rps is not None:
        per_m = _per_million(price, slo_rps)

    note: str | None = None
    if slo_rps is None:
        note = _no_capacity_reason(report, capacity)
    elif per_m is None:
        note = "no price per hour (--ml-price-per-hour, or compare --price)"
    return RunSummary(
        label=label,
        source=source,
        verdict=_verdict(report, source),
        slo_rps=slo_rps,
        slo_rps_ci=_ci(capacity, source),
        knee_rps=knee_rps,
        p99_ms=p99_at_capacity(capacity),
        gpu_utilization=gpu,
        price_per_hour=price,
        cost_per_million_requests=per_m,
        cost_per_million_output_tokens=per_m_tok,
        instance=_text(cost, "instance"),
        note=note,
        lower_bound=capacity is not None and capacity.get("bound") == "lower-bound",
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

    try:
        paths = [str(p) for p in args.reports]
        labels = _per_report(args.label, len(paths), "--label")
        prices = [_parse_price(p) for p in _per_report(args.price, len(paths), "--price")]
        summaries = []
        for path, label, price in zip(paths, labels, prices, strict=True):
            report = load_report(path)
            try:
                name = label or default_label(report, path)
                summaries.append(summarize_run(report, name, path, price_per_hour=price))
            except LocustMLError:
                raise
            except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
                # A hand-edited report: a list where a step id was, an object for a number...
                raise ReportError(
                    f"{path}: not a usable report ({type(exc).__name__}: {exc})"
                ) from None
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
