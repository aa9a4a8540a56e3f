"""Checks made before a load test sends anything: every input it will need later.

A run that can only fail once its load has started wastes the target's time,
and worse, may fail quietly: a trace replay whose file is missing used to
raise in the arrival driver once the first open-loop step began (no
requests, exit only after the whole plan), an unwritable report directory
was only logged when the report was written (exit 0, no report), and a
stages file of rates run with the shape's default closed loop flooded the
target with closed-loop users. Each of those is now a
:class:`~locust_ml.errors.ConfigError` raised here, while the Locust glue is
still initialising: one line, exit code 2, nothing sent.

What is checked (:func:`preflight`):

* the arrival process agrees with the plan's mode. A stages file of
  ``rate`` stages is an open-loop plan: without ``--ml-arrival`` it runs with
  the shape class's arrival process if that is open, else
  :data:`~locust_ml.arrivals.DEFAULT_OPEN_ARRIVAL`, and a note says so; a
  stages file of ``users`` stages likewise runs closed loop. Only an explicit
  contradiction (``--ml-arrival closed`` with rate stages, an open process
  with user stages) is an error;
* a trace replay's file and column: the timestamps are read, and a replay
  built from them, exactly as a worker's arrival driver will;
* the report directory can be written: :func:`check_writable_dir` creates
  it (and any missing parents), writes and removes a temporary file there,
  and removes again the directories it created, so a run that then fails
  leaves nothing behind.

This module reads the files it is given and probes one directory; it
imports neither Locust nor gevent and opens no socket, so the CLI and tests
call it directly.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from locust_ml.arrivals import DEFAULT_OPEN_ARRIVAL, ArrivalSpec, parse_arrival
from locust_ml.errors import ConfigError, TraceError

#: Reads a trace's arrival times, ``(path, column) -> seconds`` (as the arrival driver's loader).
TimestampLoader = Callable[[str, "str | None"], Any]

__all__ = ["Preflight", "check_trace_arrival", "check_writable_dir", "preflight", "resolve_arrival"]


@dataclass(frozen=True)
class Preflight:
    """What the checks concluded.

    ``arrival`` is the arrival process the run must use when it differs from
    what ``--ml-arrival`` said (None: keep the options as they are);
    ``notes`` are one-line remarks for the console.
    """

    arrival: ArrivalSpec | None = None
    notes: tuple[str, ...] = ()


def resolve_arrival(
    given: ArrivalSpec | None, default: ArrivalSpec, plan_mode: str | None, *, source: str = ""
) -> tuple[ArrivalSpec | None, str | None]:
    """The arrival process a plan of ``plan_mode`` runs with, and a note when it was chosen.

    ``given`` is ``--ml-arrival`` (None when not given), ``default`` the shape
    class's process, ``plan_mode`` ``"open"``/``"closed"`` for a plan that
    fixes its own mode (a stages file), None for one that follows the arrival
    process. Returns ``(None, None)`` when nothing needs changing.

    >>> rate_stages = resolve_arrival(None, parse_arrival("closed"), "open", source="s.json")
    >>> str(rate_stages[0]), rate_stages[1]  # doctest: +ELLIPSIS
    ('poisson', 's.json gives rates (open loop): arrivals are poisson ...')
    >>> resolve_arrival(parse_arrival("closed"), parse_arrival("closed"), "open")
    Traceback (most recent call last):
    ...
    locust_ml.errors.ConfigError: --ml-arrival closed contradicts the stages file: ...
    """
    if plan_mode not in ("open", "closed"):
        return None, None
    stages = source or "the stages file"
    wants_open = plan_mode == "open"
    if given is not None:
        if given.is_open == wants_open:
            return None, None
        if wants_open:
            raise ConfigError(
                f"--ml-arrival closed contradicts the stages file: {stages} gives rates "
                "(open loop); drop --ml-arrival closed, give an open-loop process "
                "(e.g. poisson), or give the stages users"
            )
        raise ConfigError(
            f"--ml-arrival {given} contradicts the stages file: {stages} gives users "
            "(closed loop); drop --ml-arrival, pass --ml-arrival closed, or give the stages rates"
        )
    if default.is_open == wants_open:
        return None, None
    if wants_open:
        chosen = parse_arrival(DEFAULT_OPEN_ARRIVAL)
        note = (
            f"{stages} gives rates (open loop): arrivals are {chosen} "
            "(--ml-arrival chooses another process)"
        )
        return chosen, note
    return parse_arrival("closed"), f"{stages} gives users: the test runs closed loop"


def check_trace_arrival(spec: ArrivalSpec | None, load_timestamps: TimestampLoader) -> None:
    """Read a trace replay's timestamps now, as the arrival driver will later.

    A missing file, a missing column or too few timestamps raise a
    :class:`ConfigError` that names ``--ml-arrival``; other processes pass.
    """
    if spec is None or spec.kind != "trace" or spec.path is None:
        return
    try:
        spec.process(load_timestamps)
    except (ConfigError, TraceError) as exc:
        raise ConfigError(f"--ml-arrival {spec}: {exc}") from None
    except OSError as exc:  # a loader that does not turn every OSError into a TraceError
        raise ConfigError(f"--ml-arrival {spec}: cannot read {spec.path}: {exc}") from None


def check_writable_dir(path: str | os.PathLike[str], *, option: str = "--ml-report-dir") -> None:
    """Raise a :class:`ConfigError` unless files can be written in directory ``path``.

    The check is a real write - permissions bits lie (root, read-only mounts,
    ``/proc``) - and leaves nothing behind: directories it had to create are
    removed again, deepest first.
    """
    target = Path(path)
    created: list[Path] = []
    probe = target
    while not probe.exists():
        created.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        if probe.exists() and not probe.is_dir():
            raise ConfigError(f"{option} {path}: {probe} is a file, not a directory")
        try:
            for folder in reversed(created):
                folder.mkdir()
            with tempfile.TemporaryFile(dir=target, prefix=".locust-ml-probe-"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"{option} {path}: the report cannot be written there "
                f"({exc.strerror or exc}); expected a writable directory"
            ) from None
    finally:
        for folder in created:  # never created, or not empty: not ours to remove
            with contextlib.suppress(OSError):
                folder.rmdir()


def preflight(
    *,
    arrival: ArrivalSpec | None,
    default_arrival: ArrivalSpec,
    plan_mode: str | None = None,
    stages_source: str = "",
    report_dir: str | os.PathLike[str] | None = None,
    load_timestamps: TimestampLoader | None = None,
) -> Preflight:
    """Every check above; raise a :class:`ConfigError` on the first problem.

    ``arrival`` is ``--ml-arrival`` (None when not given) and
    ``default_arrival`` the shape class's; ``plan_mode`` and
    ``stages_source`` describe a plan that fixes its own mode (a stages file);
    ``report_dir`` is probed when given; a trace replay is read with
    ``load_timestamps`` (default: :func:`locust_ml.traces.timeline.load_timestamps`).
    """
    chosen, note = resolve_arrival(arrival, default_arrival, plan_mode, source=stages_source)
    effective = chosen or arrival or default_arrival
    if load_timestamps is None:
        from locust_ml.traces.timeline import load_timestamps as read_trace_times

        load_timestamps = read_trace_times
    check_trace_arrival(effective, load_timestamps)
    if report_dir is not None:
        check_writable_dir(report_dir)
    return Preflight(arrival=chosen, notes=(note,) if note else ())
