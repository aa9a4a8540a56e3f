"""CPU time and resident memory of a local process, for soak-test leak detection.

When the target is the embedded reference server, the load generator can
watch it directly: a resident set that climbs step after step at a constant
load is a leak, and CPU seconds per request that climb are a slowdown. Both
are read by PID through psutil (a Locust dependency), behind an injected
``reader`` so tests need no real process to misbehave.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from locust_ml.telemetry.model import SourceReading, SourceUnavailable, TelemetrySample

__all__ = ["ProcessSource", "ProcessStats", "psutil_reader"]


@dataclass(frozen=True)
class ProcessStats:
    """What is read from a process: user + system CPU seconds, and RSS bytes."""

    cpu_seconds: float
    rss_bytes: int


#: ``reader(pid) -> ProcessStats``; raises :class:`SourceUnavailable` (or
#: ``ProcessLookupError``/``PermissionError``) when the process can't be read.
Reader = Callable[[int], ProcessStats]


def psutil_reader() -> Reader:
    """A reader backed by psutil, keeping one ``psutil.Process`` per PID.

    Keeping the object lets psutil notice a PID reused by another process
    (it compares creation times) instead of silently reading the newcomer.
    """
    # Through importlib: psutil ships no type stubs, and pyproject's mypy
    # overrides (not ours to edit) don't list it.
    psutil: Any = importlib.import_module("psutil")
    procs: dict[int, Any] = {}

    def read(pid: int) -> ProcessStats:
        try:
            proc = procs.get(pid)
            if proc is None:
                proc = procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                times = proc.cpu_times()
                rss = proc.memory_info().rss
        except psutil.NoSuchProcess:
            procs.pop(pid, None)
            raise SourceUnavailable(f"process {pid} is not running") from None
        except psutil.AccessDenied:
            raise SourceUnavailable(f"no permission to read process {pid}") from None
        return ProcessStats(float(times.user + times.system), int(rss))

    return read


class ProcessSource:
    """``process_cpu_seconds_total`` and ``process_resident_memory_bytes`` of one PID.

    >>> src = ProcessSource(42, reader=lambda pid: ProcessStats(1.5, 2048))
    >>> [(s.metric, s.value) for s in src.read(0.0).samples]
    [('process_cpu_seconds_total', 1.5), ('process_resident_memory_bytes', 2048.0)]
    """

    def __init__(self, pid: int, *, name: str | None = None, reader: Reader | None = None) -> None:
        self.pid = pid
        self._name = name or f"process:{pid}"
        self._reader = reader

    @property
    def name(self) -> str:
        return self._name

    def read(self, timestamp: float) -> SourceReading:
        if self._reader is None:
            self._reader = psutil_reader()
        try:
            stats = self._reader(self.pid)
        except ProcessLookupError:
            raise SourceUnavailable(f"process {self.pid} is not running") from None
        except PermissionError:
            raise SourceUnavailable(f"no permission to read process {self.pid}") from None
        pid = str(self.pid)
        return SourceReading(
            [
                TelemetrySample.of(
                    timestamp, self._name, "process_cpu_seconds_total", stats.cpu_seconds, pid=pid
                ),
                TelemetrySample.of(
                    timestamp,
                    self._name,
                    "process_resident_memory_bytes",
                    stats.rss_bytes,
                    pid=pid,
                ),
            ]
        )

    def close(self) -> None:
        return None
