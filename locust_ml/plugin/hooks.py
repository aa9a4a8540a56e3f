"""Locust event listeners: each translates one Locust callback into a call on the run.

Importing this module (``import locust_ml`` in a locustfile does) registers,
at module level on ``locust.events``:

* ``init_command_line_parser`` - our ``--ml-*`` options;
* ``init`` - creates the process's run object (``environment.locust_ml``:
  :class:`~locust_ml.plugin.control.LocalRun`, ``MasterRun`` or
  :class:`~locust_ml.plugin.run.WorkerRun`), attaches the per-environment
  listeners, and lets it prepare (checks before any load, the embedded
  server, telemetry, the web UI);
* ``quitting`` - the report is written and the exit code set (master or
  local). It is module-level on purpose: on a master, ``test_stop`` can fire
  before the last worker reports arrive, and a ``quitting`` listener
  registered inside ``init`` was observed to miss them (see
  ``shared/LOCUST_NOTES.md``);
* ``quit`` - the summary after Locust's own tables; what the run started stops;
* ``usage_monitor`` - the load generator's CPU, for the verdict.

A worker's ``quitting`` listener is the exception: :func:`bind` registers it
after Locust's own (``quitting`` fires in reverse order), so it runs before
the worker tells the master it quit.

Decisions live in the run object and the pure layer, never here.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import gevent.lock
import locust
from locust.runners import MasterRunner, WorkerRunner

from locust_ml.errors import EXIT_CONFIG, ConfigError
from locust_ml.plugin.control import ControlSide, LocalRun, MasterRun
from locust_ml.plugin.messages import WIRE_KEY
from locust_ml.plugin.options import add_options
from locust_ml.plugin.run import LoadSide, MLRun, WorkerRun, run_of

__all__ = ["bind"]

logger = logging.getLogger("locust_ml")


def bind(environment: Any) -> MLRun:
    """Create the run for ``environment`` and attach its listeners (idempotent).

    Called from ``init``; tests that build an ``Environment`` with their own
    ``Events`` call it directly.
    """
    existing = run_of(environment)
    if existing is not None:
        return existing
    runner = environment.runner
    run: MLRun
    if isinstance(runner, WorkerRunner):
        run = WorkerRun(environment)
    elif isinstance(runner, MasterRunner):
        run = MasterRun(environment)
    else:
        run = LocalRun(environment)
    events = environment.events
    if isinstance(run, LoadSide):
        events.request.add_listener(run.on_request)
    if isinstance(run, WorkerRun):
        events.report_to_master.add_listener(
            lambda client_id, data, **_: data.__setitem__(WIRE_KEY, run.report())
        )
        events.quitting.add_listener(lambda **_: run.quitting())
    if isinstance(run, MasterRun):
        # Every report counts as a sign of life, samples or not (see MasterRun.watch).
        events.worker_report.add_listener(
            lambda client_id, data, **_: run.merge_wire(data.get(WIRE_KEY) or [], client_id)
        )
        events.worker_connect.add_listener(lambda client_id, **_: run.on_worker_connect(client_id))
    events.test_start.add_listener(lambda **_: _start(run))
    events.test_stop.add_listener(lambda **_: run.stop())
    return run


def _start(run: MLRun) -> None:
    """A test starts; a bad option (the web form's) ends it with one line."""
    try:
        run.start()
    except ConfigError as exc:
        logger.error("locust-ml: %s", exc)
        runner = run.environment.runner
        if runner is not None:
            runner.quit()


@locust.events.init_command_line_parser.add_listener
def _on_init_command_line_parser(parser: Any, **_: Any) -> None:
    add_options(parser)


@locust.events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    try:
        bind(environment).prepare()
    except ConfigError as exc:
        logger.error("locust-ml: %s", exc)
        sys.stderr.flush()
        raise SystemExit(EXIT_CONFIG) from None


@locust.events.usage_monitor.add_listener
def _on_usage_monitor(environment: Any, cpu_usage: float, **_: Any) -> None:
    """Every ~10 s: the busiest load-generating process's CPU, for the validity verdict."""
    run = run_of(environment)
    if not isinstance(run, ControlSide):
        return
    busiest = float(cpu_usage)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        busiest = max([busiest, *(float(c.cpu_usage) for c in runner.clients.values())])
    run.add_generator_cpu(busiest)


#: One ``quitting`` at a time: Locust's SIGTERM handler can run its shutdown while the
#: main greenlet runs its own; the second waits for the first's report.
_quitting_lock = gevent.lock.Semaphore()


@locust.events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    run = run_of(environment)
    if isinstance(run, ControlSide):
        with _quitting_lock:
            run.quitting()


@locust.events.quit.add_listener
def _on_quit(**_: Any) -> None:
    for run in list(ControlSide.instances):
        run.close()
