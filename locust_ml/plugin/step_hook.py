"""Run a user command at each step boundary (``--ml-step-hook``).

For capturing one step's behaviour on the target: start an Nsight Systems or
py-spy capture when a step starts and stop it when it ends, snapshot server
state, annotate a Grafana timeline. The command gets the step in its
environment::

    LOCUST_ML_STEP_EVENT   start | end
    LOCUST_ML_STEP_ID      1, 2, ...
    LOCUST_ML_STEP_MODE    closed | open
    LOCUST_ML_STEP_USERS   the step's user count ("" if none)
    LOCUST_ML_STEP_RPS     the step's target rate for open loop ("" for closed)
    LOCUST_ML_STEP_LABEL   the schedule's label for the step ("" if none)
    LOCUST_ML_STEP_START   the step's start, Unix epoch seconds
    LOCUST_ML_STEP_END     its end (only for "end")

The command is split like a shell would (``shlex``) but run without a shell;
use ``sh -c '...'`` for pipes and redirections. It runs in the background, on
the master (or the single local process) only, and is killed after
``timeout`` seconds; a failing command is logged once and the test goes on.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from locust_ml.analysis.steps import StepSpan
from locust_ml.errors import ConfigError

__all__ = ["StepHook", "step_environment"]

logger = logging.getLogger("locust_ml")


def step_environment(event: str, span: StepSpan) -> dict[str, str]:
    """The ``LOCUST_ML_STEP_*`` variables for ``event`` ("start" or "end") of ``span``."""
    return {
        "LOCUST_ML_STEP_EVENT": event,
        "LOCUST_ML_STEP_ID": str(span.id),
        "LOCUST_ML_STEP_MODE": span.mode,
        "LOCUST_ML_STEP_USERS": "" if span.users is None else str(span.users),
        "LOCUST_ML_STEP_RPS": "" if span.offered_rps is None else f"{span.offered_rps:g}",
        "LOCUST_ML_STEP_LABEL": span.label,
        "LOCUST_ML_STEP_START": f"{span.start:.3f}",
        "LOCUST_ML_STEP_END": "" if span.end is None else f"{span.end:.3f}",
    }


class StepHook:
    """Runs ``command`` for each step start and end, in the background."""

    def __init__(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        spawn: Callable[..., Any] | None = None,
        popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"--ml-step-hook: cannot split {command!r}: {exc}") from None
        if not self.argv:
            raise ConfigError("--ml-step-hook: the command is empty")
        self.timeout = timeout
        self._spawn = spawn or (lambda fn, *a: fn(*a))
        self._popen = popen
        self._environ = dict(os.environ if environ is None else environ)
        self._warned = False
        self.runs = 0
        self.failures = 0

    def fire(self, event: str, span: StepSpan) -> None:
        """Start the command for ``event`` of ``span`` (returns at once with a spawner)."""
        self._spawn(self._run, event, span)

    def _run(self, event: str, span: StepSpan) -> None:
        env = {**self._environ, **step_environment(event, span)}
        self.runs += 1
        try:
            proc = self._popen(
                self.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            self._fail(f"could not start {self.argv[0]!r}: {exc}")
            return
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            self._fail(f"step {span.id} {event}: killed after {self.timeout:g} s")
            return
        text = (out or b"").decode(errors="replace").strip()
        if proc.returncode != 0:
            self._fail(f"step {span.id} {event}: exit code {proc.returncode}: {text[-300:]}")
        elif text:
            logger.info("locust-ml: step hook (step %s %s): %s", span.id, event, text[-300:])

    def _fail(self, message: str) -> None:
        self.failures += 1
        if not self._warned:
            self._warned = True
            logger.warning("locust-ml: --ml-step-hook failed (reported once): %s", message)
