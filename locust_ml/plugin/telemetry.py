"""Telemetry and the Prometheus exporter, wired into a Locust master.

* :class:`TelemetryLoop` reads every telemetry source about once a second on
  the master (or the single local process). Reads block (NVML calls, HTTP),
  so each runs in gevent's thread pool: Locust's event loop - heartbeats,
  worker reports, users - never waits for a GPU driver or a slow endpoint.
  Each reading is tagged with the current step and window and aggregated by
  the recorder (:class:`~locust_ml.analysis.utilization.UtilizationLog`).
* :class:`Exporter` serves the live state for Prometheus/Grafana on
  127.0.0.1 by default, with gevent's WSGI server.

Which sources: NVML when ``--ml-nvml`` allows it, every ``--ml-scrape``
endpoint, and - when locust-ml started the reference server itself - that
server's ``/metrics`` and its process's CPU and RSS.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gevent
import gevent.monkey
from gevent.pywsgi import WSGIServer

from locust_ml.errors import ConfigError
from locust_ml.telemetry.exporter import (
    EndpointLatency,
    ExporterSnapshot,
    RequestCount,
    exporter_registry,
    hdr_to_buckets,
)
from locust_ml.telemetry.model import TelemetrySource
from locust_ml.telemetry.sampler import TelemetrySampler

if TYPE_CHECKING:
    from locust_ml.plugin.control import ControlSide
    from locust_ml.server.embedded import EmbeddedServer

__all__ = ["Exporter", "TelemetryLoop", "build_sources", "start_telemetry"]

logger = logging.getLogger("locust_ml")


def build_sources(
    *,
    nvml: str,
    scrape: Sequence[str],
    server_pid: int | None = None,
    server_url: str | None = None,
) -> list[TelemetrySource]:
    """The telemetry sources for this run (raises ConfigError on a bad spec)."""
    from locust_ml.telemetry.prometheus_scrape import PrometheusScrapeSource, parse_scrape_spec

    # Reads run in a native thread of gevent's pool: give them plain blocking
    # sockets, which cost a fraction of gevent's cooperative ones there.
    connect = _blocking_connect
    sources: list[TelemetrySource] = []
    if nvml == "on" or (nvml == "auto" and _nvml_present()):
        from locust_ml.telemetry.nvml import NvmlSource

        sources.append(NvmlSource())
    for i, spec in enumerate(scrape):
        kind, url = parse_scrape_spec(spec)
        sources.append(
            PrometheusScrapeSource(url, kind=kind, name=f"scrape{i + 1}:{url}", connect=connect)
        )
    if server_url is not None:
        sources.append(
            PrometheusScrapeSource(
                f"{server_url}/metrics", kind="locust-ml", name="target", connect=connect
            )
        )
    if server_pid is not None:
        from locust_ml.telemetry.process import ProcessSource

        sources.append(ProcessSource(server_pid, name="target-process"))
    return sources


def _blocking_connect(
    address: tuple[str, int], timeout: float, source_address: Any = None
) -> socket.socket:
    """``socket.create_connection`` with the original, blocking socket class.

    ``gevent.monkey.get_original("socket", "create_connection")`` is not enough:
    that function builds its sockets from the (patched) module's ``socket``.
    """
    socket_cls, getaddrinfo = gevent.monkey.get_original("socket", ["socket", "getaddrinfo"])
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _, addr in getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket_cls(family, kind, proto)
        try:
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(addr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock  # type: ignore[no-any-return]
    raise error or OSError(f"cannot resolve {host!r}")


def _nvml_present() -> bool:
    """NVML is worth trying: the binding is installed and a driver library is loadable."""
    import ctypes.util
    import importlib.util

    return importlib.util.find_spec("pynvml") is not None and bool(
        ctypes.util.find_library("nvidia-ml")
    )


class TelemetryLoop:
    """Samples telemetry every ``interval`` seconds into ``run`` while running."""

    def __init__(self, sampler: TelemetrySampler, run: ControlSide, interval: float = 1.0) -> None:
        if not interval > 0:
            raise ConfigError(f"--ml-telemetry-interval must be > 0 s, got {interval!r}")
        self.sampler = sampler
        self.run = run
        self.interval = interval
        self._greenlet: gevent.Greenlet | None = None
        self._pending: Any = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _timed_sample(self) -> tuple[list[Any], float]:
        began = time.thread_time()
        samples = self.sampler.sample()
        return samples, time.thread_time() - began

    def sample_once(self) -> None:
        # One read at a time: a read runs on in its thread even if the greenlet
        # waiting for it is killed, and sources keep connections open.
        pending = self._pending
        if pending is not None and not pending.ready():
            pending.get()
        self._pending = gevent.get_hub().threadpool.spawn(self._timed_sample)
        samples, cpu = self._pending.get()
        began = time.thread_time()
        self.run.add_telemetry(samples)
        # CPU spent on telemetry (the read in its thread, the tagging here),
        # reported so its overhead on the load generator is known, not guessed.
        self.run.telemetry_cpu_s += cpu + time.thread_time() - began

    def _run(self) -> None:
        while True:
            try:
                self.sample_once()
            except Exception as exc:  # a telemetry bug must never stop the test
                logger.warning("locust-ml: telemetry sampling failed: %s", exc)
            gevent.sleep(self.interval)

    def stop(self) -> None:
        """Stop sampling after one last reading; note missing sources in the report."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=True)
            try:
                self.sample_once()
            except Exception as exc:
                logger.warning("locust-ml: telemetry sampling failed: %s", exc)
        for line in self.sampler.missing():
            note = f"telemetry: {line}"
            if note not in self.run.notes:
                self.run.notes.append(note)

    def close(self) -> None:
        self.stop()
        gevent.get_hub().threadpool.apply(self.sampler.close)


class Exporter:
    """Serves ``run``'s live state as Prometheus metrics on ``host:port``."""

    def __init__(
        self,
        run: ControlSide,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        telemetry: TelemetryLoop | None = None,
    ) -> None:
        from prometheus_client import make_wsgi_app

        self.run = run
        self.telemetry = telemetry
        app = make_wsgi_app(exporter_registry(self.snapshot))
        try:
            self.server = WSGIServer((host, port), app, log=None, error_log=None)
            self.server.start()
        except OSError as exc:
            raise ConfigError(f"--ml-exporter: cannot listen on {host}:{port}: {exc}") from None
        self.port = int(self.server.server_port)
        self.host = host

    def snapshot(self) -> ExporterSnapshot:
        totals = self.run.live_totals()
        runner = self.run.environment.runner
        cur = self.run.tracker.current
        sampler = self.telemetry.sampler if self.telemetry is not None else None
        return ExporterSnapshot(
            requests=tuple(
                RequestCount(name, method, status, count)
                for (method, name), acc in totals.items()
                for status, count in sorted(acc.status.items())
            ),
            latencies=tuple(
                EndpointLatency(name, method, hdr_to_buckets(hist))
                for (method, name), acc in totals.items()
                # Over the whole run: corrected where any step was open loop.
                if (hist := acc.judged_hist(open_loop=True)) is not None
            ),
            users=None if runner is None else int(runner.user_count),
            target_rps=None if cur is None else cur.offered_rps,
            step_id=None if cur is None else cur.id,
            step_mode=None if cur is None else cur.mode,
            telemetry=sampler.latest() if sampler is not None else (),
            telemetry_status=sampler.status() if sampler is not None else (),
        )

    def stop(self) -> None:
        self.server.stop(timeout=1)


def start_telemetry(
    run: ControlSide, server: EmbeddedServer | None
) -> tuple[TelemetryLoop | None, Exporter | None]:
    """Telemetry sources and the exporter of ``run`` (master or local), as the options say."""
    opts = run.options.telemetry
    sources = build_sources(
        nvml=opts.nvml,
        scrape=opts.scrape,
        server_pid=server.pid if server is not None else None,
        server_url=server.url if server is not None else None,
    )
    loop = None
    if sources and opts.interval > 0:
        warn = logger.warning if opts.nvml == "on" or opts.scrape else logger.info
        sampler = TelemetrySampler(sources, warn=lambda msg: warn("locust-ml: %s", msg))
        loop = TelemetryLoop(sampler, run, opts.interval)
    exporter = None
    if opts.exporter is not None:
        host, port = opts.exporter
        exporter = Exporter(run, host=host, port=port, telemetry=loop)
        logger.info(
            "locust-ml: Prometheus exporter at http://%s:%s/metrics", exporter.host, exporter.port
        )
    return loop, exporter
