"""The ``locust-ml fit-trace`` and ``locust-ml sample`` subcommands.

This is command-line glue over the pure trace layer: parse options, call
:func:`~locust_ml.traces.read.read_trace` / :func:`~locust_ml.traces.fit.fit_trace`
or a profile's sampler, print a short summary, and write the result
atomically. ``cli.py`` wires the four functions below into its subparsers.

Bad input (a malformed trace or profile, a bad option) ends as one line on
stderr naming file, row and column, exit code 2, and nothing written: the
profile is built completely in memory before the single atomic write.

Building the parser imports nothing heavy (numpy and scipy load when a command
runs), so ``locust-ml --help`` stays instant. The option choices below are
checked against the modules that define them by a test.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError

if TYPE_CHECKING:
    from locust_ml.traces.profile import Profile

#: Rows drawn and written at a time by ``locust-ml sample``: memory stays flat whatever -n.
SAMPLE_CHUNK_ROWS = 65_536
#: Choices of --family and --dependence, and the --max-copula-rows default.
FAMILY_CHOICES = ("auto", "empirical", "lognorm", "gamma", "weibull_min")
DEPENDENCE_CHOICES = ("empirical", "gaussian", "independent")
DEFAULT_COPULA_ROWS = 20_000

__all__ = [
    "add_fit_trace_arguments",
    "add_sample_arguments",
    "format_fit_summary",
    "run_fit_trace",
    "run_sample",
    "sample_csv_chunks",
]


def add_fit_trace_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``locust-ml fit-trace TRACE --columns ... -o PROFILE.json``."""
    parser.add_argument("trace", metavar="TRACE", help="trace file: CSV (with a header) or JSONL")
    parser.add_argument(
        "--columns",
        required=True,
        metavar="COL[,COL...]",
        help="size columns to fit, by name (e.g. ContextTokens,GeneratedTokens)",
    )
    parser.add_argument(
        "--timestamp",
        metavar="COL",
        help="timestamp column: arrival statistics and replay gaps "
        "(ISO 8601 / 'YYYY-MM-DD HH:MM:SS.fffffff' or epoch seconds)",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="PROFILE.json", help="profile file to write"
    )
    parser.add_argument("--name", help="profile name (default: the output file's stem)")
    parser.add_argument("--description", default="", help="one line describing the profile")
    parser.add_argument(
        "--family",
        default="auto",
        choices=FAMILY_CHOICES,
        help="size model: auto picks a parametric family only if it fits (see docs)",
    )
    parser.add_argument(
        "--dependence",
        default="empirical",
        choices=DEPENDENCE_CHOICES,
        help="how columns depend on each other: empirical copula (rank tuples), "
        "gaussian copula, or independent",
    )
    parser.add_argument(
        "--quantile-points",
        type=int,
        default=1024,
        metavar="N",
        help="quantile intervals stored for empirical columns",
    )
    parser.add_argument(
        "--max-copula-rows",
        type=int,
        default=DEFAULT_COPULA_ROWS,
        metavar="N",
        help="rank tuples kept for the empirical copula (longer traces are subsampled)",
    )
    parser.add_argument("--format", choices=("csv", "jsonl"), help="trace format (default: guess)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")


def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``locust-ml sample PROFILE -n N [-o out.csv] [--seed S]``."""
    parser.add_argument(
        "profile", metavar="PROFILE", help="profile file, or a bundled name such as azure_conv"
    )
    parser.add_argument(
        "-n", "--num", type=int, required=True, metavar="N", help="number of joint draws"
    )
    parser.add_argument("-o", "--output", metavar="OUT.csv", help="CSV file (default: stdout)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def _error(command: str, exc: object) -> int:
    print(f"locust-ml {command}: error: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def run_fit_trace(args: argparse.Namespace) -> int:
    """Fit a trace, print the summary, write the profile; 2 on bad input."""
    from locust_ml.traces.fit import FitOptions, fit_trace
    from locust_ml.traces.read import read_trace

    try:
        columns = [c.strip() for c in str(args.columns).split(",") if c.strip()]
        options = FitOptions(
            family=args.family,
            dependence=args.dependence,
            quantile_points=args.quantile_points,
            max_copula_rows=args.max_copula_rows,
            seed=args.seed,
        )
        trace = read_trace(args.trace, columns, timestamp=args.timestamp, format=args.format)
        output = Path(args.output)
        profile = fit_trace(
            trace, options, name=args.name or output.stem, description=args.description
        )
        text = profile.dumps()
        if output.is_dir():
            raise ConfigError(f"--output {args.output}: is a directory; expected a file name")
        profile.save(output)
    except LocustMLError as exc:
        return _error("fit-trace", exc)
    except OSError as exc:
        return _error("fit-trace", f"{args.output}: cannot write the profile ({exc.strerror})")
    print(format_fit_summary(profile))
    print(f"wrote {output} ({len(text.encode()) / 1024:.0f} KiB)")
    return 0


def sample_csv_chunks(
    profile: Profile, n: int, seed: int, *, rows: int = SAMPLE_CHUNK_ROWS
) -> Iterator[str]:
    """``n`` joint draws from ``profile`` as CSV text: the header, then ``rows`` rows at a time.

    Memory holds one chunk whatever ``n`` is (``-n 200000000`` once reached
    20 GB before writing a byte). The draws come from one seeded sampler, so
    the output depends on ``seed`` (and, past ``rows`` draws, on the chunk
    size), not on where it is written.
    """
    sampler = profile.sampler(seed)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(sampler.columns))
    for start in range(0, n, rows):
        drawn = sampler.sample(min(rows, n - start))
        writer.writerows(zip(*(v.tolist() for v in drawn.values()), strict=True))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


def run_sample(args: argparse.Namespace) -> int:
    """Draw ``-n`` joint samples from a profile and write them as CSV, chunk by chunk."""
    from locust_ml.traces.profile import Profile

    try:
        if args.num < 1:
            raise ConfigError(f"-n {args.num}: expected a number of samples >= 1")
        profile = Profile.load(args.profile)
        chunks = sample_csv_chunks(profile, args.num, args.seed)
        if args.output is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            return 0
        from locust_ml.files import write_atomic_chunks

        write_atomic_chunks(args.output, chunks)
    except LocustMLError as exc:
        return _error("sample", exc)
    except OSError as exc:
        return _error("sample", f"{args.output}: cannot write ({exc.strerror})")
    print(f"wrote {args.num} draws of profile {profile.name!r} to {args.output}")
    return 0


def _g(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def format_fit_summary(profile: Profile) -> str:
    """A short table: per column the model and its fit; dependence; arrivals."""
    src = profile.provenance.get("source", {})
    lines = [
        f"{src.get('file', '?')}: {src.get('rows', 0):,} rows, sha256 "
        f"{str(src.get('sha256', ''))[:12]}... -> profile {profile.name!r}"
    ]
    rows = [("column", "type", "min", "max", "model", "KS D", "p-value", "best parametric")]
    for c in profile.columns:
        best = min(c.candidates, key=lambda k: k.aic, default=None)
        parametric = "-"
        if best is not None:
            parametric = f"{best.family} (D={best.ks_statistic:.3f}, p={best.ks_pvalue:.2g})"
        rows.append(
            (
                c.name,
                c.dtype,
                f"{c.minimum:g}",
                f"{c.maximum:g}",
                c.family,
                _g(c.ks_statistic, 3) if c.family != "constant" else "-",
                _g(c.ks_pvalue, 3) if c.family != "constant" else "-",
                parametric,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += [
        "  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    dep = profile.dependence
    cols = list(dep.columns)
    if len(cols) > 1:
        sampled = profile.checks.get("spearman_sampled") or []
        pairs = []
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                s = f"{cols[i]}~{cols[j]} trace {dep.spearman[i][j]:.3f}"
                if sampled:
                    s += f", sampled {sampled[i][j]:.3f}"
                pairs.append(s)
        how = f"{dep.model} copula" + (f" over {dep.rows:,} rank tuples" if dep.rows else "")
        lines.append(f"dependence: {how}; Spearman {'; '.join(pairs)}")
    else:
        lines.append("dependence: none (fewer than two varying columns)")
    a = profile.arrivals
    if a is not None:
        lines.append(
            f"arrivals ({a.column}): {a.count:,} requests over {a.duration_s:,.1f} s; mean rate "
            f"{a.mean_rate:.3f}/s; gap CV {a.gap_cv:.2f}; gamma shape {a.gamma_shape:.3f}; "
            f"replay: {a.count - 1:,} gaps (us)"
        )
    return "\n".join(lines)
