"""SIGINT and SIGTERM in a headless run: one orderly shutdown, once, and the report on disk.

Locust (2.47) runs a headless test with a load shape by joining the shape's
greenlet *before* it installs its SIGTERM handler, so SIGTERM during such a
run would kill the process on the spot: no ``quitting``, no report. Ctrl-C
raises ``KeyboardInterrupt`` wherever the main greenlet happens to be.

An earlier version handled both by raising ``KeyboardInterrupt`` from a
Python signal handler. That is a race (issue 13): a second signal - and
``timeout``, which signals the process and then its whole process group,
sends two - raised it again inside Locust's ``runner.stop()``, which died
with a traceback and no report. And the embedded server, in the same
process group, got the signal too and stopped before the users, whose last
seconds then failed with "connection refused".

:func:`watch` (a headless master or local process, main thread) installs
handlers with ``gevent.signal_handler``: they run in a greenlet of their
own once the running code yields, never in the middle of it, and no
``KeyboardInterrupt`` is raised anywhere. What one does depends on the phase:

* **before the load** (the embedded server or the payload pool still
  starting): nothing was sent, so there is nothing to report; one line, and
  the process exits with code 2;
* **while the load runs** (spawning, a step): it stops the load the way the
  end of the schedule does - the shape's greenlet is ended, so Locust's own
  "shape test completed" path stops the users and quits; without a shape it
  quits the runner (SIGINT), or lets Locust's SIGTERM handler, which fires
  ``quitting`` with the runner still running, do it. The glue's ``quitting``
  listener stops the users if they still run, then writes the report
  (marked interrupted: :func:`interruption`); ``quit`` stops the embedded
  server last;
* **while Locust stops by itself** (the schedule ended, the runner is
  cleaning up): nothing to do, the shutdown goes on, and the report is not
  marked interrupted.

A second signal is ignored (one line says so) until the report is on disk
(:func:`report_written`); after that it ends the process at once with the
report's exit code, for a user who does not want to wait for the rest of the
shutdown (printing, stopping the server).
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gevent
from locust.runners import STATE_INIT, STATE_RUNNING, STATE_SPAWNING

if TYPE_CHECKING:
    from locust_ml.plugin.control import ControlSide

__all__ = ["Shutdown", "interruption", "report_written", "watch"]

logger = logging.getLogger("locust_ml")

#: Exit code of a run stopped before its load started (nothing was measured: invalid).
EXIT_BEFORE_LOAD = 2


@dataclass
class Shutdown:
    """What the handlers know of one run's shutdown (``run.shutdown``)."""

    #: Whether the handlers are installed (a headless run's main thread).
    watched: bool = False
    signal: str | None = None
    #: The first signal came while users were spawning or running.
    during_load: bool = False
    #: The report is written; the run's exit code (None until then).
    exit_code: int | None = None


def watch(run: ControlSide) -> None:
    """Install the handlers (main thread of a headless run only; else a no-op)."""
    options = run.environment.parsed_options
    if not getattr(options, "headless", False):
        return
    if threading.current_thread() is not threading.main_thread():
        return
    run.shutdown = Shutdown(watched=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, _on_signal, run, sig)


def _on_signal(run: ControlSide, sig: signal.Signals) -> None:
    state = run.shutdown
    if not state.watched:
        return
    environment = run.environment
    name = sig.name
    if state.signal is not None:
        if state.exit_code is not None:
            logger.warning("locust-ml: %s again: the report is written; exiting now", name)
            raise SystemExit(state.exit_code)
        logger.warning(
            "locust-ml: %s again: already stopping (first %s); ignored until the report is written",
            name,
            state.signal,
        )
        return
    state.signal = name
    runner = environment.runner
    if runner is None or runner.state == STATE_INIT:
        logger.error("locust-ml: %s before the load started: nothing was sent; no report", name)
        raise SystemExit(EXIT_BEFORE_LOAD)
    if runner.state not in (STATE_SPAWNING, STATE_RUNNING):
        # Locust is stopping by itself (the schedule ended): ending its shape
        # greenlet now would cut its own runner.quit() short.
        logger.info("locust-ml: %s while the test is stopping; the shutdown goes on", name)
        return
    state.during_load = True
    logger.warning("locust-ml: %s: stopping the users, then writing the report", name)
    shape = getattr(runner, "shape_greenlet", None)
    if shape is not None and not shape.dead:
        shape.kill(block=False)  # Locust's "shape test completed" path quits the runner
    elif not (sig == signal.SIGTERM and environment.shape_class is None):
        gevent.spawn(runner.quit)  # else Locust's own SIGTERM handler shuts down


def interruption(run: ControlSide) -> str | None:
    """The signal that cut the load short ("SIGTERM", "SIGINT"), if one did."""
    state = run.shutdown
    return state.signal if state.during_load else None


def report_written(run: ControlSide, exit_code: int) -> None:
    """The report is on disk: a further signal may now end the process at once."""
    run.shutdown.exit_code = exit_code
