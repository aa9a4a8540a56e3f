"""Poll every telemetry source once, and keep going whatever they do.

A load test must not stop, stall or drown in warnings because the GPU
exporter went away or this host has no NVIDIA driver. So
:meth:`TelemetrySampler.sample` asks each source once, and a source that
fails is

* warned about **once** (through the injected ``warn``, ``logging`` by
  default), with its one-line reason;
* recorded in :meth:`~TelemetrySampler.status` - unavailable, the reason,
  first and last failure time, samples so far - so the report can say what
  is missing;
* retried quietly with exponential backoff (1 s, 2 s, 4 s ... capped at 30 s
  by default), so an endpoint that comes back is picked up again.

Partial gaps a source reports (power unsupported on one GPU) are kept in its
status too, and warned about once.

``sample()`` blocks (NVML, HTTP). The Locust glue calls it about once a second
from a thread pool (``gevent.get_hub().threadpool``); nothing here assumes
gevent, and nothing takes a lock: calls to ``sample()`` must not overlap
each other, and what other threads read (``status()``, ``latest()``) is an
immutable tuple swapped in whole when a poll ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from locust_ml.telemetry.model import SourceUnavailable, TelemetrySample, TelemetrySource

__all__ = ["SourceStatus", "TelemetrySampler"]

logger = logging.getLogger("locust_ml.telemetry")

#: First retry delay after a failure, and the cap of the doubling delays (seconds).
RETRY_INITIAL_S: Final = 1.0
RETRY_MAX_S: Final = 30.0

State = Literal["pending", "ok", "unavailable"]


@dataclass(frozen=True)
class SourceStatus:
    """Where one source stands. Times come from the sampler's clock.

    ``state`` is ``pending`` before the first read, then ``ok`` or
    ``unavailable`` after the latest attempt; ``reason`` is the latest failure's
    (kept after a recovery, with ``first_failure``/``last_failure``, so the
    report can say the source was missing for a while).
    """

    source: str
    state: State = "pending"
    reason: str | None = None
    first_failure: float | None = None
    last_failure: float | None = None
    last_success: float | None = None
    failures: int = 0
    samples: int = 0
    gaps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def describe(self) -> str:
        """One line for a report or a log: what this source gave, or why not."""
        if self.state == "pending":
            return f"{self.source}: not read yet"
        if self.state == "unavailable":
            got = f" ({self.samples} samples before)" if self.samples else ""
            return f"{self.source}: unavailable: {self.reason}{got}"
        text = f"{self.source}: ok, {self.samples} samples"
        if self.failures:
            text += f" ({self.failures} failed reads, last: {self.reason})"
        if self.gaps:
            text += "; missing: " + "; ".join(self.gaps)
        return text


@dataclass
class _Track:
    """Mutable per-source bookkeeping, private to the polling thread."""

    source: TelemetrySource
    status: SourceStatus
    next_attempt: float = float("-inf")
    consecutive: int = 0
    warned_failure: bool = False
    warned_gaps: bool = False


class TelemetrySampler:
    """Poll ``sources`` once per :meth:`sample` call; see the module docstring.

    >>> from locust_ml.telemetry.process import ProcessSource, ProcessStats
    >>> sampler = TelemetrySampler(
    ...     [ProcessSource(7, reader=lambda pid: ProcessStats(0.5, 4096))], clock=lambda: 100.0
    ... )
    >>> [(s.timestamp, s.metric) for s in sampler.sample()]
    [(100.0, 'process_cpu_seconds_total'), (100.0, 'process_resident_memory_bytes')]
    >>> sampler.status()[0].describe()
    'process:7: ok, 2 samples'
    """

    def __init__(
        self,
        sources: Iterable[TelemetrySource],
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], object] | None = None,
        retry_initial_s: float = RETRY_INITIAL_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self._tracks = [_Track(s, SourceStatus(s.name)) for s in sources]
        names = [t.status.source for t in self._tracks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"telemetry source names must be unique, got {duplicates} twice")
        self._clock = clock
        self._warn = warn or logger.warning
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._latest_by_source: dict[str, tuple[TelemetrySample, ...]] = {}
        self._status: tuple[SourceStatus, ...] = tuple(t.status for t in self._tracks)
        self._latest: tuple[TelemetrySample, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(t.status.source for t in self._tracks)

    def sample(self) -> list[TelemetrySample]:
        """Read every source that is due; return the samples read (blocking)."""
        out: list[TelemetrySample] = []
        for track in self._tracks:
            now = self._clock()
            if now < track.next_attempt:
                continue
            out.extend(self._poll(track, now))
        self._status = tuple(t.status for t in self._tracks)
        self._latest = tuple(s for samples in self._latest_by_source.values() for s in samples)
        return out

    def _poll(self, track: _Track, now: float) -> Sequence[TelemetrySample]:
        name = track.status.source
        try:
            reading = track.source.read(now)
        except SourceUnavailable as exc:
            self._failed(track, now, str(exc) or "unavailable")
            return ()
        except Exception as exc:  # a bug or an unforeseen error: still not fatal
            self._failed(track, now, f"{type(exc).__name__}: {exc}")
            return ()
        samples = tuple(reading.samples)
        if track.status.state == "unavailable":
            logger.info(
                "telemetry source %r is back after %d failed reads", name, track.consecutive
            )
        track.consecutive = 0
        track.next_attempt = float("-inf")
        gaps = tuple(dict.fromkeys((*track.status.gaps, *reading.gaps)))
        track.status = replace(
            track.status,
            state="ok",
            last_success=now,
            samples=track.status.samples + len(samples),
            gaps=gaps,
        )
        if reading.gaps and not track.warned_gaps:
            track.warned_gaps = True
            self._warn(f"telemetry source {name!r} is missing: {'; '.join(reading.gaps)}")
        self._latest_by_source[name] = samples
        return samples

    def _failed(self, track: _Track, now: float, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, always
        track.consecutive += 1
        delay = min(self._retry_max, self._retry_initial * 2 ** (track.consecutive - 1))
        track.next_attempt = now + delay
        status = track.status
        track.status = replace(
            status,
            state="unavailable",
            reason=reason,
            first_failure=status.first_failure if status.first_failure is not None else now,
            last_failure=now,
            failures=status.failures + 1,
        )
        self._latest_by_source.pop(status.source, None)  # stale values mislead a dashboard
        if not track.warned_failure:
            track.warned_failure = True
            self._warn(
                f"telemetry source {status.source!r} unavailable: {reason}; "
                "the test goes on without it (retrying quietly)"
            )

    def status(self) -> tuple[SourceStatus, ...]:
        """Every source's status as of the end of the last poll (thread-safe read)."""
        return self._status

    def latest(self) -> tuple[TelemetrySample, ...]:
        """The last reading of every source that is currently ok (thread-safe read)."""
        return self._latest

    def missing(self) -> tuple[str, ...]:
        """One line per source that failed at some point or has gaps, for the report."""
        return tuple(s.describe() for s in self._status if s.state != "ok" or s.failures or s.gaps)

    def close(self) -> None:
        """Close every source (NVML shutdown); errors while closing are ignored."""
        for track in self._tracks:
            try:
                track.source.close()
            except Exception as exc:  # closing at exit: log, never raise
                logger.debug("closing telemetry source %r: %s", track.status.source, exc)
