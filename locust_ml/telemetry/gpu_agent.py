"""``locust-ml gpu-agent``: NVML readings of a GPU host as a Prometheus endpoint.

The load generator usually runs on another machine than the GPUs it loads,
and not every GPU host runs NVIDIA's DCGM exporter. The agent is the smallest
thing that fills the gap: one process on the GPU host, prometheus-client
serving its own :class:`~prometheus_client.CollectorRegistry`, and a custom
collector that reads NVML *at scrape time* (no background thread, no stale
values). The load generator then scrapes it like any endpoint
(``--ml-scrape gpu-agent=http://gpu-host:9836/metrics``).

Names are the canonical GPU metrics with a ``locust_ml_`` prefix, in base
units, labelled ``gpu`` (index), ``uuid`` and ``name``
(``locust_ml_gpu_utilization_ratio``, ``locust_ml_gpu_memory_used_bytes``,
``locust_ml_gpu_energy_joules_total`` ...), plus ``locust_ml_gpu_up``: 1 when
the scrape's NVML read worked, else 0.

It binds ``127.0.0.1:9836`` unless told otherwise: GPU facts are not secret,
but an agent listening on every interface of a GPU server should be a
decision (``--host 0.0.0.0``). 9836 and not 9835, which the popular
``nvidia_gpu_exporter`` uses, so both can run on one host. Without NVML (no
driver, no GPU, no nvidia-ml-py) it exits with one line and code 3, unless
``--allow-no-gpu`` asks it to serve ``locust_ml_gpu_up 0`` anyway.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from locust_ml.errors import ConfigError
from locust_ml.telemetry.model import SourceUnavailable
from locust_ml.telemetry.nvml import NvmlSource

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.metrics_core import Metric

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "EXIT_NO_GPU",
    "GpuAgentCollector",
    "add_gpu_agent_arguments",
    "run_gpu_agent",
]

logger = logging.getLogger("locust_ml.telemetry")

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9836
#: Exit code when NVML is unavailable and ``--allow-no-gpu`` was not given.
EXIT_NO_GPU: Final = 3
#: Names are ``locust_ml_`` + the canonical name (``gpu_...``).
PREFIX: Final = "locust_ml_"


class GpuAgentCollector:
    """Reads ``source`` at each scrape and yields the families; never raises.

    A prometheus-client collector by duck typing (``collect``/``describe``), so
    that importing this module - which ``locust-ml --help`` does to list the
    options - does not import prometheus-client.
    """

    def __init__(self, source: NvmlSource, *, clock: Callable[[], float] = time.time) -> None:
        self._source = source
        self._clock = clock
        self._warned = False

    def describe(self) -> list[Metric]:
        return []  # families depend on the GPUs present; don't read NVML at registration

    def collect(self) -> list[Metric]:
        from prometheus_client.metrics_core import Metric

        from locust_ml.telemetry.families import telemetry_families

        up = Metric(PREFIX + "gpu_up", "1 when this scrape could read NVML, else 0.", "gauge")
        try:
            reading = self._source.read(self._clock())
        except Exception as exc:  # SourceUnavailable, or anything NVML throws at us
            if not self._warned:
                self._warned = True
                logger.warning("locust-ml gpu-agent: NVML unavailable: %s", exc)
            up.add_sample(up.name, {}, 0.0)
            return [up]
        up.add_sample(up.name, {}, 1.0)
        return [up, *telemetry_families(reading.samples, PREFIX, with_source=False)]


def add_gpu_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``locust-ml gpu-agent``."""
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to bind; 0.0.0.0 (or ::) to be scraped from other machines",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to bind (0: any)")
    parser.add_argument(
        "--port-file",
        default=None,
        help="write the bound port to this file once serving (useful with --port 0)",
    )
    parser.add_argument(
        "--allow-no-gpu",
        action="store_true",
        help="serve locust_ml_gpu_up 0 instead of exiting when NVML is unavailable",
    )


def _bind(host: str, port: int, app: Any) -> WSGIServer:
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class _Server(WSGIServer):
        address_family = family

    class _QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None  # no access log line per scrape

    try:
        return make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(
            f"--host/--port {host}:{port}: cannot listen there ({exc.strerror or exc})"
        ) from None


def run_gpu_agent(
    args: argparse.Namespace,
    *,
    nvml: Any | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT (or ``stop`` is set); the process exit code.

    ``nvml`` replaces the ``pynvml`` module (tests); ``stop`` lets a test end
    the loop. Raises :class:`~locust_ml.errors.ConfigError` when it cannot bind.
    """
    err = out or sys.stderr
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected 0..65535")
    source = NvmlSource(nvml=nvml, name="gpu-agent")
    try:
        devices = source.devices()
        source.read(time.time())
    except SourceUnavailable as exc:
        if not args.allow_no_gpu:
            source.close()
            print(
                f"locust-ml gpu-agent: error: NVML unavailable: {exc} "
                "(--allow-no-gpu serves locust_ml_gpu_up 0 instead)",
                file=err,
            )
            return EXIT_NO_GPU
        devices = ()
        print(f"locust-ml gpu-agent: NVML unavailable, serving gpu_up 0: {exc}", file=err)
    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry(auto_describe=False)
    registry.register(GpuAgentCollector(source))
    stop = stop or threading.Event()
    try:
        server = _bind(args.host, args.port, make_wsgi_app(registry))
    except ConfigError:
        source.close()
        raise
    restore = _on_sigterm(stop)
    try:
        port = server.server_address[1]
        if args.port_file:
            Path(args.port_file).write_text(f"{port}\n")
        names = ", ".join(f"{d.index}: {d.name}" for d in devices) or "no GPU"
        print(
            f"locust-ml gpu-agent: serving {names} on http://{args.host}:{port}/metrics", file=err
        )
        err.flush()
        server.timeout = 0.25
        while not stop.is_set():
            server.handle_request()
    finally:
        restore()
        server.server_close()
        source.close()
    return 0


def _on_sigterm(stop: threading.Event) -> Callable[[], None]:
    """Make SIGTERM end the serve loop (main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def main(argv: list[str] | None = None) -> int:
    """``python -m locust_ml.telemetry.gpu_agent``, the same as ``locust-ml gpu-agent``."""
    parser = argparse.ArgumentParser(
        prog="locust-ml gpu-agent",
        description="Expose this host's NVML GPU readings as a Prometheus endpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_gpu_agent_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_gpu_agent(args)
    except ConfigError as exc:
        print(f"locust-ml gpu-agent: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
