"""One configuration's capacity search: the ``locust`` command line, run to its end.

Each configuration is measured by the normal ``locust`` command, as a user
would run it by hand, so its report folder is complete and ``locust-ml
report``/``compare`` read it like any other::

    python -m locust -f LOCUSTFILE --headless --only-summary --host URL \\
        --ml-report-dir OUT/<config>/report --ml-shape capacity-search \\
        [the --ml-* options given to the sweep] [every other locust option given]

``--ml-shape capacity-search`` (with the search's defaults) unless the sweep
was given a shape; a configurations file's price per configuration replaces
``--ml-price-per-hour`` in its run, so its report's cost is its own. The
locust options the sweep does not know (``--processes 4``, ``--master
--expect-workers 2``, ``-u``...) are passed through as given, which is how a
sweep runs distributed.

Locust runs in a process group of its own, its output in the
configuration's folder (``locust.stdout.log``, ``locust.stderr.log``). When
the sweep is interrupted or the run outlives ``timeout_s``, it gets SIGTERM -
locust-ml's orderly shutdown: users stopped, the report written - then
SIGKILL after the grace period.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from locust_ml.launch import Child, ProcessGroup

__all__ = ["REPORT_DIR", "LocustCommand", "SearchRun", "run_search"]

#: The configuration's report folder, inside its own folder.
REPORT_DIR: Final = "report"
#: Seconds locust gets between SIGTERM (it writes its report) and SIGKILL.
STOP_GRACE_S: Final = 60.0


@dataclass(frozen=True)
class LocustCommand:
    """The parts of every configuration's locust command line."""

    locustfile: str
    #: ``--ml-*`` options given to the sweep, as given (``--ml-price-per-hour`` apart).
    ml_args: tuple[str, ...] = ()
    #: Every other locust option given to the sweep, as given.
    locust_args: tuple[str, ...] = ()
    #: ``--ml-price-per-hour`` given to the sweep (a configuration's own price wins).
    price_per_hour: str | None = None
    shape_given: bool = False
    python: str = field(default=sys.executable)

    def argv(self, url: str, report_dir: Path, price_per_hour: float | None) -> tuple[str, ...]:
        """The command line of one configuration's search."""
        argv = [self.python, "-m", "locust", "-f", self.locustfile]
        if "--headless" not in self.locust_args:
            argv.append("--headless")
        if "--only-summary" not in self.locust_args:
            argv.append("--only-summary")
        argv += ["--host", url, "--ml-report-dir", str(report_dir)]
        if not self.shape_given:
            argv += ["--ml-shape", "capacity-search"]
        price = self.price_per_hour if price_per_hour is None else repr(price_per_hour)
        if price is not None:
            argv += ["--ml-price-per-hour", price]
        return (*argv, *self.ml_args, *self.locust_args)


@dataclass(frozen=True)
class SearchRun:
    """How the locust process ended: its exit status (None: stopped by us) and why."""

    returncode: int | None
    timed_out: bool
    tail: tuple[str, ...]


def _launch(argv: Sequence[str], folder: Path) -> Child:
    return ProcessGroup(argv, log_dir=folder, name="locust")


def run_search(
    argv: Sequence[str],
    folder: Path,
    timeout_s: float,
    *,
    launch: Callable[[Sequence[str], Path], Child] = _launch,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_s: float = 0.5,
) -> SearchRun:
    """Run locust to its end (or ``timeout_s``); on any exception it is stopped first."""
    child = launch(argv, folder)
    deadline = clock() + timeout_s
    try:
        while True:
            code = child.poll()
            if code is not None:
                return SearchRun(code, False, child.tail(10))
            if clock() >= deadline:
                child.stop(STOP_GRACE_S)
                return SearchRun(None, True, child.tail(10))
            sleep(poll_s)
    finally:
        # Ctrl-C while waiting: SIGTERM lets locust write the report of what ran.
        child.stop(STOP_GRACE_S)
