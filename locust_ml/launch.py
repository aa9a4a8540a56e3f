"""Starting a server command and asking it over HTTP: what ``coldstart`` and ``sweep`` share.

Both start a command the user wrote (a model server, a launcher script) and
must be able to end *everything* it started, however it was written:

* the command is split, never given to a shell, and runs in a process group
  of its own (``start_new_session``), so ending it signals its whole group -
  a launcher's server process cannot outlive it and hold the port for the
  next start - and a Ctrl-C at the terminal reaches only our process, which
  then stops the group in order;
* its stdout and stderr go to files, kept in a folder the caller names (a
  sweep keeps each configuration's server log beside its report) or in a
  temporary folder removed when the process is stopped;
* stopping is SIGTERM to the group, SIGKILL to what is left after a grace
  period, and a wait for the child, so no zombie and no orphan is left.

:func:`http_fetch` is the HTTP probe both use: one request on a new
connection, no proxy (a loopback URL must not detour through
``$http_proxy``), ``OSError`` when nothing answers.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from locust_ml.errors import TargetError

__all__ = ["Child", "Fetch", "ProcessGroup", "display", "http_fetch", "launch_process"]

#: ``fetch(method, url, body, headers, timeout_s) -> (status, start of the body)``;
#: raises ``OSError`` when nothing answers.
Fetch = Callable[[str, str, bytes | None, Mapping[str, str], float], tuple[int, str]]


class Child(Protocol):
    """A started command, as its callers need it."""

    def poll(self) -> int | None: ...
    def stop(self, grace_s: float) -> int | None: ...
    def last_line(self) -> str: ...
    def tail(self, lines: int) -> tuple[str, ...]: ...


def display(argv: Sequence[str]) -> str:
    """The command as a shell would show it, on one line and shortened, for messages."""
    text = shlex.join(argv).replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= 120 else text[:117] + "..."


class ProcessGroup:
    """A child in its own process group; its output goes to ``stdout``/``stderr`` files.

    With ``log_dir`` the files are ``log_dir/<name>.stdout.log`` and
    ``.stderr.log`` and stay; without, they live in a temporary folder that
    :meth:`stop` removes.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_dir: Path | None = None,
        name: str = "server",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._stopped = False
        self._keep = log_dir is not None
        self._dir = log_dir if log_dir is not None else Path(tempfile.mkdtemp(prefix="locust-ml-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self._dir / (f"{name}.stdout.log" if self._keep else "stdout")
        self.stderr_path = self._dir / (f"{name}.stderr.log" if self._keep else "stderr")
        try:
            with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
                self.proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=None if env is None else dict(env),
                    start_new_session=True,  # its own process group: signal it, not us
                )
        except OSError as exc:
            self._cleanup()
            raise TargetError(f"cannot start '{display(argv)}': {exc.strerror or exc}") from None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def tail(self, lines: int) -> tuple[str, ...]:
        """The last non-empty ``lines`` of stderr, else of stdout (each cut to 300 characters)."""
        for path in (self.stderr_path, self.stdout_path):
            with contextlib.suppress(OSError):
                text = path.read_text(errors="replace")
                found = [ln.rstrip()[:300] for ln in text.splitlines() if ln.strip()]
                if found:
                    return tuple(found[-lines:])
        return ()

    def last_line(self) -> str:
        found = self.tail(1)
        return found[0].strip() if found else ""

    def _signal_group(self, sig: int) -> bool:
        """Signal the child's group; False when no process is left in it."""
        # The group id is the child's PID (start_new_session): only it and its descendants.
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, grace_s: float) -> int | None:
        """SIGTERM the group, SIGKILL what is left of it after ``grace_s``; idempotent.

        The group, not only the child: a launcher script's server process must
        not outlive it and hold the port for the next start.
        """
        if self._stopped:
            return self.proc.returncode
        self._stopped = True
        deadline = time.monotonic() + grace_s
        try:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
            while self._signal_group(0) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._signal_group(signal.SIGKILL)
            return self.proc.returncode
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if not self._keep:
            shutil.rmtree(self._dir, ignore_errors=True)


def launch_process(argv: Sequence[str]) -> Child:
    """Start ``argv`` (no shell) in a new process group, its output in a temporary folder."""
    return ProcessGroup(argv)


@functools.cache
def _opener() -> Any:
    import urllib.request

    # No proxies: a loopback measurement must not detour through $http_proxy.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_fetch(
    method: str, url: str, body: bytes | None, headers: Mapping[str, str], timeout_s: float
) -> tuple[int, str]:
    """One request on a new connection; the whole body is read. ``OSError`` if unanswered.

    urllib is imported here, not with the module: the CLI imports this module
    to build ``locust-ml --help``.
    """
    import http.client
    import urllib.error
    import urllib.request

    # Callers check that the URL is http(s).
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
    try:
        with _opener().open(request, timeout=timeout_s) as resp:
            data = resp.read()
            return int(resp.status), data[:200].decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        with exc:
            data = exc.read()
        return int(exc.code), data[:200].decode("utf-8", "replace")
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise OSError(str(getattr(exc, "reason", exc))) from None
