"""A Docker daemon and Compose for real-container tests: found, or started here.

The docker-stack test (``test_docker_stack.py``) needs a daemon. One that is
reachable is used as it is and left alone. Otherwise, as root with
``dockerd`` installed (Debian's ``docker.io``; ``python3 dev.py test``
installs it as root), one is started for the test and ended by its PID
after it::

    dockerd --iptables=false --ip-forward=false --bridge=none

so that it changes nothing on the host's network: no firewall rules, no IP
forwarding, no ``docker0`` bridge. Compose's own network (a user-defined
bridge per project, with DNS for the service names) works without them, and
published ports bound to 127.0.0.1 go through docker's userland proxy. What
it keeps is ``/var/lib/docker``: images built once are there for the next run.
Without a daemon and the means to start one, :func:`docker_daemon` skips
the test with one line saying which is missing.

Two sessions on one machine (two worktrees) would rebuild the same image
tags and stop each other's daemon: :func:`machine_lock` makes them take turns
(a lock file in the system's temporary folder).

Helpers only: the test is ``test_docker_stack.py``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["DAEMON_FLAGS", "Docker", "docker_daemon", "machine_lock"]

#: How the test starts dockerd when none runs (see the module docstring).
DAEMON_FLAGS = ("--iptables=false", "--ip-forward=false", "--bridge=none")
#: Machine-wide, like the daemon: in the system's temporary folder.
LOCK = Path(tempfile.gettempdir()) / "locust-ml-docker.lock"


@dataclass(frozen=True)
class Docker:
    """The docker client, the compose command, and whether the daemon is ours."""

    client: str
    compose: tuple[str, ...]
    started_here: bool

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``docker ARGS``, output captured; raises on a non-zero exit."""
        return subprocess.run(
            [self.client, *args], capture_output=True, text=True, timeout=timeout, check=True
        )


@contextlib.contextmanager
def machine_lock(timeout: float = 1800.0) -> Iterator[None]:
    """Hold :data:`LOCK`: one docker-stack test per machine at a time."""
    # Read-only is enough for flock, and works on a lock file another user made.
    fd = os.open(LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{LOCK} still held by another session after {timeout:g} s")
                time.sleep(1.0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _reachable(client: str) -> bool:
    try:
        proc = subprocess.run(
            [client, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def _compose(client: str) -> tuple[str, ...] | None:
    """``docker compose`` (v2) when the client has it, else ``docker-compose``."""
    v2 = subprocess.run(
        [client, "compose", "version"], capture_output=True, text=True, timeout=20, check=False
    )
    if v2.returncode == 0:
        return (client, "compose")
    v1 = shutil.which("docker-compose")
    return (v1,) if v1 else None


@contextlib.contextmanager
def docker_daemon(workdir: Path, *, ready_timeout: float = 60.0) -> Iterator[Docker]:
    """A reachable daemon: the running one, or one started here and ended by PID."""
    client = shutil.which("docker")
    if client is None:
        pytest.skip("no docker client (apt-get install docker.io; dev.py test does as root)")
    compose = _compose(client)
    if compose is None:
        pytest.skip("no docker compose or docker-compose (apt-get install docker-compose)")
    if _reachable(client):
        yield Docker(client, compose, started_here=False)
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip(
            "no docker daemon reachable and dockerd not installed "
            "(apt-get install docker.io; python3 dev.py test does as root)"
        )
    if os.geteuid() != 0:
        pytest.skip("no docker daemon reachable, and starting dockerd needs root")
    log = workdir / "dockerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [dockerd, *DAEMON_FLAGS],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in pytest's process group: Ctrl-C reaches us first
        )
    try:
        deadline = time.monotonic() + ready_timeout
        while not _reachable(client):
            if proc.poll() is not None or time.monotonic() > deadline:
                # An environment that can't run it (no cgroups, no overlay, an
                # unprivileged container) is a limit of the machine: say which.
                last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                pytest.skip(f"dockerd could not start here: {last[0]}")
            time.sleep(0.5)
        yield Docker(client, compose, started_here=True)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # dockerd stops its containerd on the way out
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
