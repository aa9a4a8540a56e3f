"""A real Prometheus server and promtool for tests (Debian package ``prometheus``).

Install with ``apt-get update && apt-get install -y prometheus`` (brings
``/usr/bin/prometheus`` and ``/usr/bin/promtool``; the package's service is not
started in containers without systemd, and we never use it). Tests skip with a
clear reason when the binaries are missing.

* :func:`promtool_check_metrics` lints an exposition text;
* :func:`serve_wsgi` serves a WSGI app (``prometheus_client.make_wsgi_app``)
  from a thread on 127.0.0.1, as the master's exporter will be;
* :func:`run_prometheus` starts ``prometheus`` on a free loopback port with a
  generated config scraping the given targets every second, in a temporary
  directory, and ends it by PID; :meth:`PrometheusServer.wait_for` polls
  ``/api/v1/query`` until an expression has a result (bounded wait).

Helpers only: no tests live here, so any test module (unit or integration,
e.g. one with a real Locust run) can import them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

__all__ = [
    "PrometheusServer",
    "find_prometheus",
    "find_promtool",
    "promtool_check_metrics",
    "run_prometheus",
    "serve_wsgi",
]


def find_prometheus() -> str | None:
    return shutil.which("prometheus")


def find_promtool() -> str | None:
    return shutil.which("promtool")


def promtool_check_metrics(text: str, promtool: str | None = None) -> tuple[int, str]:
    """``promtool check metrics`` on ``text``: (exit code, its output)."""
    tool = promtool or find_promtool()
    if tool is None:
        raise FileNotFoundError("promtool not found: apt-get install -y prometheus")
    proc = subprocess.run(
        [tool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> in a thread; yields ``http://127.0.0.1:PORT``."""
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrometheusServer:
    """A running ``prometheus``: its base URL, process and log file."""

    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The ``result`` list of an instant query (``/api/v1/query``)."""
        qs = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=5) as r:
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(
        self,
        expr: str,
        *,
        timeout: float = 30.0,
        accept: Callable[[list[dict[str, Any]]], bool] = bool,
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until ``accept(result)`` (default: non-empty); fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            result = self.query(expr)
            if accept(result):
                return result
            time.sleep(0.25)
        raise TimeoutError(f"{expr!r} had no accepted result in {timeout} s (last: {result})")

    def targets(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as r:
            active: list[dict[str, Any]] = json.loads(r.read())["data"]["activeTargets"]
        return active


@contextlib.contextmanager
def run_prometheus(
    targets: list[str],
    workdir: Path,
    *,
    scrape_interval: str = "1s",
    binary: str | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Run ``prometheus`` scraping ``targets`` (``host:port``, path ``/metrics``).

    Bound to 127.0.0.1 on a free port, data in ``workdir``; ended by PID
    (SIGTERM, then SIGKILL) when the block exits.
    """
    exe = binary or find_prometheus()
    if exe is None:
        raise FileNotFoundError("prometheus not found: apt-get install -y prometheus")
    config = workdir / "prometheus.yml"
    quoted = ", ".join(json.dumps(t) for t in targets)
    config.write_text(
        "global:\n"
        f"  scrape_interval: {scrape_interval}\n"
        f"  evaluation_interval: {scrape_interval}\n"
        "scrape_configs:\n"
        "  - job_name: locust_ml\n"
        f"    scrape_interval: {scrape_interval}\n"
        f"    scrape_timeout: {scrape_interval}\n"
        f"    static_configs:\n      - targets: [{quoted}]\n"
    )
    port = _free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited early: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus not ready in {ready_timeout} s")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
