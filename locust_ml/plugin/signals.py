"""Know that a headless run was interrupted, and never lose its report to SIGTERM.

Locust (2.47) runs a headless test with a load shape by joining the shape's
greenlet *before* it installs its SIGTERM handler, so SIGTERM during such a
run kills the process on the spot: no ``quitting``, no report. Ctrl-C there
raises ``KeyboardInterrupt``, which Locust catches and turns into a normal
stop, so by ``quitting`` nothing says the run was cut short.

:func:`watch` installs, in a headless master or local process, handlers for
SIGINT and SIGTERM that remember the signal and raise ``KeyboardInterrupt``
(gevent's hub forwards it to the main greenlet), which sends both signals
down Locust's own Ctrl-C path: the users stop, ``quitting`` fires, and the
report is written and marked partial. Where Locust later installs its own
SIGTERM handler (runs without a shape), that one wins and calls Locust's
shutdown, which fires ``quitting`` while the runner is still running - the
glue detects that case from the runner's state.
"""

from __future__ import annotations

import signal
import threading
import weakref
from typing import Any

from locust.env import Environment

__all__ = ["interruption", "watch"]

_seen: weakref.WeakKeyDictionary[Environment, str] = weakref.WeakKeyDictionary()


def watch(environment: Environment) -> None:
    """Install the handlers (main thread of a headless run only; else a no-op)."""
    options = environment.parsed_options
    if not getattr(options, "headless", False):
        return
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, _frame: Any) -> None:
        _seen[environment] = signal.Signals(signum).name
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def interruption(environment: Environment) -> str | None:
    """The signal that interrupted the run ("SIGTERM", "SIGINT"), if one did."""
    return _seen.get(environment)
