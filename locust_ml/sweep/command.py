"""``locust-ml sweep``: the command's wiring - options in, sweep run, files and summary out.

SIGTERM is turned into the same orderly stop as Ctrl-C while the sweep runs
(:mod:`.runner`): the running search writes its report, the target is
stopped and torn down, ``sweep.json``/``sweep.html`` say what is finished,
and the exit code is 130. Exit 0 when a configuration was chosen, 1 when
none qualified; option errors never get here (the CLI's exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from locust_ml.sweep.console import format_summary
from locust_ml.sweep.html import capacity_points, write_sweep_html
from locust_ml.sweep.ranking import BY_COST, pareto_front
from locust_ml.sweep.record import sweep_to_dict, write_json
from locust_ml.sweep.runner import RunEffects, Sweep, SweepOutcome, run_sweep
from locust_ml.sweep.settings import sweep_from_args

__all__ = ["run_sweep_command", "write_outputs"]

#: Exit code of an interrupted sweep (128 + SIGINT, as shells report Ctrl-C).
EXIT_INTERRUPTED = 130


def write_outputs(sweep: Sweep, outcome: SweepOutcome) -> None:
    """``OUT/sweep.json`` and ``OUT/sweep.html`` from the outcome so far."""
    folders = [c.slug for c in sweep.configs]
    front = pareto_front(capacity_points(outcome.results))
    data = sweep_to_dict(
        outcome.results,
        folders,
        outcome.ranking,
        front,
        sweep.settings,
        complete=outcome.complete,
        elapsed_s=outcome.elapsed_s,
    )
    write_json(sweep.out / "sweep.json", data)
    write_sweep_html(
        sweep.out / "sweep.html",
        outcome.results,
        folders,
        outcome.ranking,
        dict(sweep.settings),
        complete=outcome.complete,
        elapsed_s=outcome.elapsed_s,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_sweep_command(args: argparse.Namespace, extra: list[str]) -> int:
    """Check the options, run the sweep, print the table and the recommendation."""
    sweep = sweep_from_args(args, extra)
    by = "cost per 1M requests" if sweep.by == BY_COST else "SLO capacity per replica"
    target = sweep.settings.get("server") or sweep.settings.get("host")
    print(
        f"locust-ml sweep: {len(sweep.configs)} configurations, strategy "
        f"{sweep.strategy.text}, ranked by {by}; target: {target}; files in {sweep.out}/",
        flush=True,
    )
    try:
        with _sigterm_as_interrupt():
            outcome = run_sweep(sweep, RunEffects(write=write_outputs))
    except KeyboardInterrupt:
        print(
            f"locust-ml sweep: interrupted; finished configurations are kept in {sweep.out}/ "
            "(run the same command again to measure the rest)",
            flush=True,
        )
        return EXIT_INTERRUPTED
    print()
    print(format_summary(outcome.ranking, outcome.results, outcome.elapsed_s))
    print(f"locust-ml sweep: {sweep.out / 'sweep.html'} and sweep.json", flush=True)
    return 0 if outcome.ranking.best is not None else 1
