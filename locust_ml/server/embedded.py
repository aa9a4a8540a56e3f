"""The embedded target: the reference server started as a child process.

Without ``--host``, a locustfile has something real to test: we start
``locust-ml serve`` on a free loopback port, wait until ``/health/ready``
answers 200, point Locust at it, and stop it (by its PID, SIGTERM then KILL)
when Locust quits. Its log goes to a temporary file whose tail is quoted if it
fails to start, so the user gets one clear line, not a silent hang.

No Locust imports: this works under gevent's monkey-patching (sleep and
sockets cooperate) and without it (tests, scripts).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from locust_ml.errors import ConfigError, TargetError, require_extra
from locust_ml.server.run import PARENT_PID_ENV

__all__ = ["EmbeddedServer", "check_server_args", "split_server_args"]


#: Options of ``locust-ml serve`` that locust-ml sets itself for the embedded server.
_CHOSEN = {"host": "--host", "port": "--port", "port_file": "--port-file", "backend": "--backend"}


class _ArgsError(argparse.ArgumentParser):
    """An argument parser whose errors are exceptions, not ``exit(2)`` with usage text."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def split_server_args(text: str) -> list[str]:
    """``--ml-server-args`` as a list, as the shell would split it; ConfigError if it can't."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--ml-server-args: cannot split {text!r}: {exc}") from None


def check_server_args(backend: str, args: Sequence[str]) -> None:
    """Parse ``args`` as ``locust-ml serve`` will, before the server is started.

    So ``--ml-server-args "--max-batch-size abc"`` is one line and exit 2 at
    start-up rather than a child that exits during the wait for it. The
    options locust-ml chooses itself (host, port, port file, backend) are
    refused in any spelling (``--port=1``, an abbreviation).
    """
    from locust_ml.server.config import add_server_arguments, config_from_args

    parser = _ArgsError(prog="locust-ml serve", add_help=False)
    add_server_arguments(parser)
    unset = object()
    parser.set_defaults(**dict.fromkeys(_CHOSEN, unset))
    shown = shlex.join(args)
    try:
        ns = parser.parse_args(list(args))
    except ConfigError as exc:
        raise ConfigError(f"--ml-server-args {shown!r}: {exc}") from None
    for field, flag in _CHOSEN.items():
        if getattr(ns, field) is not unset:
            raise ConfigError(
                f"--ml-server-args {shown!r}: {flag} is chosen by locust-ml for the embedded "
                "server; to use your own server, start it and pass --host"
            )
    ns.host, ns.port, ns.port_file, ns.backend = "127.0.0.1", 0, None, backend
    try:
        config_from_args(ns)
    except ConfigError as exc:
        raise ConfigError(f"--ml-server-args {shown!r}: {exc}") from None


class EmbeddedServer:
    """A ``locust-ml serve`` child process on 127.0.0.1.

    >>> server = EmbeddedServer(backend="simulated")        # doctest: +SKIP
    >>> url = server.start(timeout=30)                        # doctest: +SKIP
    >>> server.stop()                                          # doctest: +SKIP
    """

    def __init__(self, backend: str = "summarizer", extra_args: str | Sequence[str] = "") -> None:
        self.backend = backend
        self.extra_args = (
            split_server_args(extra_args) if isinstance(extra_args, str) else list(extra_args)
        )
        check_server_args(backend, self.extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str | None = None
        self.ready_seconds: float | None = None
        self._dir: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self, port_file: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "locust_ml.cli",
            "serve",
            "--backend",
            self.backend,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--exit-with-parent",
            *self.extra_args,
        ]

    def _log_tail(self, lines: int = 8) -> str:
        if self._dir is None:
            return ""
        try:
            text = (self._dir / "server.log").read_text(errors="replace")
        except OSError:
            return ""
        tail = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
        return " | ".join(tail)

    def start(self, timeout: float = 60.0, poll: float = 0.05) -> str:
        """Start the server and block until it is ready; return its base URL."""
        require_extra("fastapi", "server")
        require_extra("uvicorn", "server")
        self._dir = Path(tempfile.mkdtemp(prefix="locust-ml-server-"))
        port_file = self._dir / "port"
        log = (self._dir / "server.log").open("wb")
        started = time.monotonic()
        try:
            # A session of its own: Ctrl-C in a terminal, and timeout(1), signal
            # the whole process group, and the server must outlive the users
            # (stopped by stop(), after the report). It exits with its parent.
            self.proc = subprocess.Popen(
                self.command(port_file),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                # The server watches this PID, not its parent at the time it
                # looks: this process may be gone before the server has started.
                env={**os.environ, PARENT_PID_ENV: str(os.getpid())},
            )
        finally:
            log.close()
        atexit.register(self.stop)
        try:
            return self._wait_ready(port_file, started, timeout, poll)
        except BaseException:
            # A failure, or the wait cut short (SIGINT/SIGTERM before the load
            # ends the process from here): never leave the child behind.
            self.stop()
            raise

    def _wait_ready(self, port_file: Path, started: float, timeout: float, poll: float) -> str:
        assert self.proc is not None  # noqa: S101 - start() sets it
        deadline = started + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                detail = self._log_tail()
                self.stop()
                raise TargetError(
                    f"the embedded reference server exited with code {code} before it was ready"
                    + (f": {detail}" if detail else "")
                )
            if self.url is None and port_file.exists():
                port = port_file.read_text().strip()
                if port.isdigit():
                    self.url = f"http://127.0.0.1:{port}"
            if self.url is not None and self._is_ready(self.url):
                self.ready_seconds = time.monotonic() - started
                return self.url
            if time.monotonic() > deadline:
                detail = self._log_tail()
                self.stop()
                raise TargetError(
                    f"the embedded reference server was not ready after {timeout:g} s "
                    "(raise --ml-server-timeout?)" + (f": {detail}" if detail else "")
                )
            time.sleep(poll)

    @staticmethod
    def _is_ready(url: str) -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, grace: float = 10.0) -> int | None:
        """Stop the child (SIGTERM, then SIGKILL after ``grace`` s); idempotent."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    code = proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
            else:
                code = proc.returncode
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        return code

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
