"""``locust-ml report REPORT.json``: re-decide and re-render a saved run.

A load test is expensive; what it concluded depends on settings that are
cheap to change: the SLOs, the instance price, the peak to plan for. This
command loads the saved per-step statistics, decides again with the given
settings (those not given keep their saved values), writes every form of the report, prints the
summary, and exits with the verdict's code (0 pass, 1 an SLO failed, 2
invalid run or bad input) - so CI can gate on a stricter SLO than the run
used.

The run's own report is the record of what was measured and decided then:
by default the new files go to a new folder inside the run's report
directory (``redecided-<YYYYmmdd-HHMMSS>/``), and the command says where;
``--in-place`` overwrites the run's files, ``-o DIR`` picks the folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust_ml.errors import EXIT_CONFIG, ConfigError, ReportError
from locust_ml.report.options import add_report_options, given_decisions

if TYPE_CHECKING:  # the parser is built without numpy; run() imports the rest
    from locust_ml.report.model import ReportSettings, RunReport

__all__ = ["add_parser", "new_folder", "rerender", "run"]

#: The clock that names new folders (a test replaces it).
now = time.time


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to ``sub`` (argparse subparsers)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="re-decide and re-render a saved report.json (other SLOs, price, peak)",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("report", metavar="REPORT", help="report.json, or the directory holding it")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=None,
        help="directory for the re-rendered files (default: a new folder "
        "redecided-<YYYYmmdd-HHMMSS>/ in the report's directory)",
    )
    where.add_argument(
        "--in-place",
        action="store_true",
        help="overwrite the report's own files instead of writing a new folder",
    )
    p.add_argument(
        "--ml-slo",
        metavar="SLO",
        action="append",
        default=None,
        help="an SLO to judge instead of the saved ones, e.g. 'p99<300ms' (repeatable)",
    )
    # Unset options keep the values saved in the report.
    add_report_options(p)
    p.set_defaults(func=run)
    return p


def _settings(saved: ReportSettings, args: argparse.Namespace) -> ReportSettings:
    return dataclasses.replace(saved, **given_decisions(args))


def rerender(report: RunReport, args: argparse.Namespace) -> RunReport:
    """``report`` decided again with the command's settings."""
    from locust_ml.analysis.slo import parse_slos
    from locust_ml.report.load import missing_percentiles
    from locust_ml.report.model import decide

    slos = report.slos if args.ml_slo is None else parse_slos(args.ml_slo, option="--ml-slo")
    missing = missing_percentiles(report, slos)
    if missing:
        raise ConfigError("; ".join(missing))
    return decide(report, slos, _settings(report.settings, args))


def run(args: argparse.Namespace) -> int:
    from locust_ml.report.console import format_capacity_summary, format_step_table
    from locust_ml.report.load import load_report
    from locust_ml.report.outputs import FILES, render_report_files, write_rendered

    try:
        saved = load_report(args.report)
        report = rerender(saved, args)
        # Everything that can fail on a hand-edited report fails here, before
        # any file is replaced: the new files are rendered, the summary too.
        texts = render_report_files(report)
        summary = format_step_table(report) + "\n" + format_capacity_summary(report)
    except (ReportError, ConfigError) as exc:
        print(f"locust-ml report: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError) as exc:
        print(
            f"locust-ml report: {args.report}: not a usable report "
            f"({type(exc).__name__}: {exc}); nothing was written",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    source = Path(args.report)
    own = source if source.is_dir() else source.parent
    if args.output:
        directory = Path(args.output)
    elif getattr(args, "in_place", False):
        directory = own
    else:
        directory = new_folder(own, time.strftime("%Y%m%d-%H%M%S", time.localtime(now())))
    try:
        write_rendered(texts, directory)
    except OSError as exc:
        print(f"locust-ml report: cannot write to {directory}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(summary)
    if directory.resolve() == own.resolve():
        note = " (the run's own files were overwritten)"
    else:
        note = f" (the run's own files in {own} are unchanged; --in-place overwrites them)"
    print(f"locust-ml report: {directory}{os.sep}{FILES['html']}{note}")
    return report.verdict.exit_code


def new_folder(parent: Path, stamp: str) -> Path:
    """``parent/redecided-<stamp>``, or with ``-2``, ``-3``... when that exists already."""
    path = parent / f"redecided-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = parent / f"redecided-{stamp}-{n}"
    return path
