"""A configuration's target: started (or reconfigured), waited for, and ended.

Two modes, one lifecycle (:func:`target_up`, a context manager yielding the
target's URL):

* **local** (``--server CMD``): the command, filled from the configuration
  and a free loopback port, starts without a shell in a process group of its
  own (:class:`locust_ml.launch.ProcessGroup`), its output kept in the
  configuration's folder (``server.stdout.log``, ``server.stderr.log``); at
  the end the whole group is stopped (SIGTERM, then SIGKILL after the grace
  period) and reaped before the next configuration starts;
* **remote** (``--host URL`` with ``--setup CMD`` / ``--teardown CMD``): the
  setup command reconfigures a target that lives elsewhere (``kubectl set
  env``, ``helm upgrade --set``) and the teardown command runs after the
  search, whatever happened; each must exit 0 within ``setup_timeout_s``
  (their output: ``setup.log``, ``teardown.log``).

Either way the target must answer **ready** before the load starts: the
ready path (``--ready-path``; by default ``/health/ready``, then
``/v2/health/ready`` (KServe, Triton), then ``/health`` (vLLM, TGI)) is
polled on the target's URL until one answers 200. A local server that exits
first, a setup command that fails, or a target not ready in time raises
:class:`StartFailed` with the reason and the last lines of the output; the
sweep records the configuration as failed and goes on.

Every side effect is injected (:class:`Effects`): tests drive the lifecycle
with fake processes and a fake clock.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from locust_ml.errors import TargetError
from locust_ml.launch import Child, Fetch, ProcessGroup, display, http_fetch
from locust_ml.sweep.configs import Config, Template

__all__ = [
    "DEFAULT_READY_PATHS",
    "Effects",
    "StartFailed",
    "TargetSpec",
    "free_port",
    "run_command",
    "target_up",
]

#: Polled in turn until one answers 200: the reference server's and vLLM's
#: ``/health/ready``, the Open Inference Protocol's (KServe, Triton), TGI's.
DEFAULT_READY_PATHS: Final = ("/health/ready", "/v2/health/ready", "/health")
#: Lines of a failed target's output kept with its result.
TAIL_LINES: Final = 10


class StartFailed(Exception):
    """The target of a configuration could not be started or made ready."""

    def __init__(self, reason: str, tail: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tail = tuple(tail)


@dataclass(frozen=True)
class TargetSpec:
    """How targets are started and reached (the sweep's ``--server``/``--host`` options)."""

    server: Template | None = None
    #: The URL template; None with a server: ``http://127.0.0.1:{port}``.
    host: Template | None = None
    setup: Template | None = None
    teardown: Template | None = None
    ready_paths: tuple[str, ...] = DEFAULT_READY_PATHS
    ready_timeout_s: float = 120.0
    setup_timeout_s: float = 600.0
    grace_s: float = 10.0
    poll_s: float = 0.25

    def url(self, config: Config, port: int | None) -> str:
        if self.host is not None:
            return self.host.fill_one(config, port).rstrip("/")
        return f"http://127.0.0.1:{port}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _default_run(argv: Sequence[str], log: Path, timeout_s: float) -> tuple[int, tuple[str, ...]]:
    return run_command(argv, log, timeout_s)


@dataclass(frozen=True)
class Effects:
    """The side effects of a target's lifecycle (real ones by default)."""

    launch: Callable[[Sequence[str], Path], Child] = field(
        default=lambda argv, folder: ProcessGroup(argv, log_dir=folder, name="server")
    )
    fetch: Fetch = http_fetch
    #: ``run(argv, log_path, timeout_s) -> (exit status, last lines)``; raises TargetError
    #: when the command cannot start.
    run: Callable[[Sequence[str], Path, float], tuple[int, tuple[str, ...]]] = _default_run
    free_port: Callable[[], int] = free_port
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def run_command(argv: Sequence[str], log: Path, timeout_s: float) -> tuple[int, tuple[str, ...]]:
    """Run a setup/teardown command (no shell) to its end; (status, last lines of its output).

    Killed (its process group) after ``timeout_s``: status -9.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    child = ProcessGroup(argv, log_dir=log.parent, name=log.stem)
    deadline = time.monotonic() + timeout_s
    try:
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        code = child.poll()
        if code is None:
            child.stop(5.0)
            return -9, (*child.tail(TAIL_LINES), f"(killed after {timeout_s:g} s)")
        return code, child.tail(TAIL_LINES)
    finally:
        child.stop(5.0)


def _run_step(
    what: str, template: Template, config: Config, folder: Path, spec: TargetSpec, effects: Effects
) -> None:
    argv = template.fill(config)
    try:
        code, tail = effects.run(argv, folder / f"{what}.log", spec.setup_timeout_s)
    except TargetError as exc:
        raise StartFailed(f"{what}: {exc}") from None
    if code != 0:
        status = f"was killed after {spec.setup_timeout_s:g} s" if code == -9 else f"exited {code}"
        raise StartFailed(f"{what} command ({display(argv)}) {status}", tail)


def _wait_ready(url: str, child: Child | None, spec: TargetSpec, effects: Effects) -> float:
    """Poll the ready paths until one answers 200; seconds it took."""
    start = effects.clock()
    deadline = start + spec.ready_timeout_s
    base = url.rstrip("/")
    last = "no answer yet"
    while True:
        if child is not None:
            code = child.poll()
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
                raise StartFailed(f"the server {how} before it was ready", child.tail(TAIL_LINES))
        answers = []
        for path in spec.ready_paths:
            try:
                status, _ = effects.fetch("GET", base + path, None, {}, 2.0)
            except OSError as exc:
                answers.append(f"{path}: no answer ({exc})")
                break  # nothing listens: the other paths would not answer either
            if status == 200:
                return effects.clock() - start
            answers.append(f"{path}: {status}")
        last = "; ".join(answers)
        if effects.clock() >= deadline:
            tail = () if child is None else child.tail(TAIL_LINES)
            raise StartFailed(f"not ready after {spec.ready_timeout_s:g} s ({base}: {last})", tail)
        effects.sleep(spec.poll_s)


@contextlib.contextmanager
def target_up(
    spec: TargetSpec,
    config: Config,
    folder: Path,
    effects: Effects = Effects(),
    *,
    on_ready: Callable[[str, float], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Set up, start and wait for the target of ``config``; yield its URL; then end it all.

    Whatever happens inside (a failed search, Ctrl-C), the server's process
    group is stopped and the teardown command runs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    child: Child | None = None
    try:
        if spec.setup is not None:
            _run_step("setup", spec.setup, config, folder, spec, effects)
        port = effects.free_port() if spec.server is not None else None
        url = spec.url(config, port)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StartFailed(f"--host {url!r} is not an http(s) URL")
        if spec.server is not None:
            argv = spec.server.fill(config, port)
            try:
                child = effects.launch(argv, folder)
            except TargetError as exc:
                raise StartFailed(str(exc)) from None
        ready_s = _wait_ready(url, child, spec, effects)
        if on_ready is not None:
            on_ready(url, ready_s)
        yield url
    finally:
        try:
            if child is not None:
                child.stop(spec.grace_s)
        finally:
            if spec.teardown is not None:
                try:
                    _run_step("teardown", spec.teardown, config, folder, spec, effects)
                except StartFailed as exc:
                    # The measurement stands; the next setup may find the target as left.
                    if on_note is not None:
                        on_note(exc.reason + "".join(f"\n  {line}" for line in exc.tail[-3:]))
