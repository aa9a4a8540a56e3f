"""``locust-ml serve``: bind, announce, run uvicorn, shut down cleanly.

The socket is bound here rather than by uvicorn so that ``--port 0`` works: the
kernel picks a free port, and the real one is printed and written to
``--port-file`` *before* the model loads, so a test harness or the docker stack
can start polling ``/health/ready`` at once. The port file is written to a
temporary file and renamed into place, so a reader never sees half a number.

SIGTERM and SIGINT stop the server gracefully: uvicorn stops accepting,
in-flight requests get up to :data:`GRACEFUL_SHUTDOWN_S` to finish (then they
are cancelled), the app's lifespan stops the backend (every queued request is
answered 503), and :func:`serve` returns 0. uvicorn would re-raise the signal
after its shutdown (so the process dies *by* SIGTERM); a load-test target that
was asked to stop has not failed, so this server exits 0 instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from locust_ml.errors import ConfigError, TargetError, require_extra
from locust_ml.server.config import ServerConfig

__all__ = ["GRACEFUL_SHUTDOWN_S", "bind_socket", "check_port_file", "serve", "write_port_file"]

#: Seconds in-flight requests get to finish after SIGTERM before they are cancelled.
GRACEFUL_SHUTDOWN_S = 5


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise TargetError(f"can't resolve --host {host!r}: {exc}") from None
    family, socktype, proto, _, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise TargetError(f"can't listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def write_port_file(path: str | os.PathLike[str], port: int) -> None:
    """Write ``port`` and a newline to ``path`` atomically (temp file + rename)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_port_file(path: str | os.PathLike[str]) -> None:
    """Raise a :class:`ConfigError` unless ``path``'s folder exists (the port is written there)."""
    folder = Path(path).parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"--port-file {path}: its folder {folder} {what}; create it first")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


#: How often the server checks that its parent is still there.
PARENT_POLL_S = 0.5


#: Set by the process that starts an embedded server: its own PID, the one to exit with.
PARENT_PID_ENV = "LOCUST_ML_PARENT_PID"


def _exit_with_parent(server: Any) -> None:
    """Stop ``server`` gracefully once this process's parent has exited.

    A parent that dies (even by SIGKILL, which no handler sees) leaves its
    children to be adopted, so the parent PID changes: a daemon thread polls
    it and asks uvicorn to exit, as SIGTERM would. The PID to compare with
    comes from :data:`PARENT_PID_ENV` when the parent set it: a parent that
    died while this server was still starting (a signal before the load)
    would otherwise be missed, the server adopted before it first looked.
    """
    given = os.environ.get(PARENT_PID_ENV, "")
    parent = int(given) if given.isdigit() else os.getppid()

    def watch() -> None:
        while not server.should_exit:
            if os.getppid() != parent:
                print("locust-ml serve: the parent process exited; shutting down", flush=True)
                server.should_exit = True
                return
            time.sleep(PARENT_POLL_S)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def serve(config: ServerConfig) -> int:
    """Run the reference server until SIGTERM/SIGINT; return the exit code (0)."""
    require_extra("fastapi", "server")
    require_extra("uvicorn", "server")
    import uvicorn

    from locust_ml.server.app import create_app

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Like uvicorn's, minus re-raising the signal after shutdown.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    if config.port_file:
        check_port_file(config.port_file)  # before binding: a bad path is exit 2, not a traceback
    sock = bind_socket(config.host, config.port)
    try:
        port = int(sock.getsockname()[1])
        app = create_app(config)
        uv_config = uvicorn.Config(
            app,
            access_log=config.access_log,
            log_level="info",
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            server_header=False,
        )
        server = _Server(uv_config)
        print(
            f"locust-ml serve: listening on http://{_url_host(config.host)}:{port} "
            f"({config.describe()})",
            flush=True,
        )
        if config.port_file:
            try:
                write_port_file(config.port_file, port)
            except OSError as exc:
                raise ConfigError(
                    f"--port-file {config.port_file}: cannot write it ({exc.strerror or exc})"
                ) from None
        if config.exit_with_parent:
            _exit_with_parent(server)
        server.run(sockets=[sock])
    finally:
        sock.close()
    sys.stdout.flush()
    return 0
