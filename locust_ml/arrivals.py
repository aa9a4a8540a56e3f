"""Open-loop arrival processes: when each request is *meant* to be sent.

In an open-loop test requests arrive on a schedule of their own, whatever the
server's latency, the way independent clients arrive in production. Latency
is then measured from the *intended* send time, so a server that stalls
cannot hide its queue by slowing the load generator down (coordinated
omission). This module produces those intended send times; the Locust glue
sleeps until each one and sends.

Processes (all with mean rate ``rate`` requests/s):

* ``constant`` — gaps exactly ``1/rate``;
* ``poisson`` — exponential gaps: independent clients, the textbook open load;
* ``gamma`` — gamma gaps with coefficient of variation ``cv`` (shape
  ``k = 1/cv**2``): ``cv = 1`` is Poisson, ``cv > 1`` is burstier, ``cv < 1``
  more regular;
* ``trace`` — the gaps of recorded timestamps (the first ``limit`` of them,
  when given), stretched by ``time_scale`` (2 plays the trace at half speed:
  its rate is the trace's divided by ``time_scale``); when a plan sets a
  rate, the trace's gaps are rescaled to that mean rate, keeping their shape.

**Splitting across workers keeps the aggregate exact.** Every worker
generates the same *global* sequence (same process, same seed) and worker
``k`` of ``W`` keeps the arrivals whose global index ``i`` has ``i % W == k``
(deterministic thinning). The union of all workers' arrivals is exactly the
global sequence, for every process, trace replay included. Each worker's own
stream is not the same kind of process (for Poisson its gaps are sums of
``W`` exponentials), but the server sees the merged stream, which is. The
price is that each worker draws ``W`` times the arrivals it keeps; numpy draws
them in chunks of 4096, at tens of nanoseconds each (measured: about 20 ns for
Poisson, 75 ns for gamma), far below the cost of sending a request.

At a step boundary a schedule restarts (:meth:`ArrivalSchedule.restarted`)
at the step's start time and rate, with a generator seeded from the base seed
and the step id, so every worker still agrees on the global sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError, TraceError

__all__ = [
    "ARRIVAL_KINDS",
    "DEFAULT_OPEN_ARRIVAL",
    "ArrivalProcess",
    "ArrivalSchedule",
    "ArrivalSpec",
    "Constant",
    "Gamma",
    "Poisson",
    "TimestampLoader",
    "TraceReplay",
    "parse_arrival",
]

#: Values of ``--ml-arrival``; ``closed`` means no arrival process (closed-loop users).
ARRIVAL_KINDS: Final = ("closed", "constant", "poisson", "gamma", "trace")
#: The open-loop process of a plan that is open loop by itself (a stages file of
#: rates) when neither ``--ml-arrival`` nor the shape class names one.
DEFAULT_OPEN_ARRIVAL: Final = "poisson"
#: Global arrivals drawn per chunk. Fixed, so the global sequence never depends on batch sizes.
CHUNK: Final = 4096
MAX_CV: Final = 10.0

FloatArray = npt.NDArray[np.float64]
#: Reads a trace file: ``loader(path, column) -> timestamps in seconds``.
TimestampLoader = Callable[[str, str | None], Sequence[float]]


@dataclass(frozen=True)
class Constant:
    """Evenly spaced arrivals."""

    def gaps(self, rng: np.random.Generator, index: int, n: int, rate: float | None) -> FloatArray:
        return np.full(n, 1.0 / _positive(rate))

    def __str__(self) -> str:
        return "constant"


@dataclass(frozen=True)
class Poisson:
    """Exponential gaps: memoryless, independent clients."""

    def gaps(self, rng: np.random.Generator, index: int, n: int, rate: float | None) -> FloatArray:
        return rng.standard_exponential(n) / _positive(rate)

    def __str__(self) -> str:
        return "poisson"


@dataclass(frozen=True)
class Gamma:
    """Gamma gaps with coefficient of variation ``cv`` (std / mean of the gaps).

    >>> Gamma(cv=2.0).shape
    0.25
    """

    cv: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cv) and 0.0 < self.cv <= MAX_CV):
            raise ConfigError(
                f"gamma arrivals: cv must be in (0, {MAX_CV:g}], got {self.cv!r} "
                "(cv=1 is Poisson; for evenly spaced arrivals use constant)"
            )

    @property
    def shape(self) -> float:
        return 1.0 / self.cv**2

    def gaps(self, rng: np.random.Generator, index: int, n: int, rate: float | None) -> FloatArray:
        k = self.shape
        return rng.standard_gamma(k, n) / (k * _positive(rate))

    def __str__(self) -> str:
        return f"gamma:cv={self.cv:g}"


class TraceReplay:
    """Inter-arrival gaps replayed from recorded timestamps.

    The first timestamp lands on the schedule's start; later ones keep their
    distance to it, times ``time_scale``. ``loop`` repeats the gaps forever
    (the last arrival of one pass is the first of the next); otherwise the
    replay ends with the trace.

    >>> t = TraceReplay.from_timestamps([10.0, 10.5, 11.5, 12.0], time_scale=2.0)
    >>> t.gaps_s, t.rate
    ((0.5, 1.0, 0.5), 0.75)
    """

    __slots__ = ("_gaps", "loop", "source", "time_scale")

    def __init__(
        self,
        gaps_s: Sequence[float] | FloatArray,
        *,
        time_scale: float = 1.0,
        loop: bool = False,
        source: str = "timestamps",
    ) -> None:
        gaps = np.asarray(gaps_s, dtype=np.float64)
        if gaps.ndim != 1 or gaps.size < 1:
            raise TraceError(f"{source}: trace replay needs at least two timestamps")
        if not np.all(np.isfinite(gaps)) or np.any(gaps < 0):
            raise TraceError(f"{source}: trace gaps must be finite and >= 0")
        if not gaps.sum() > 0:
            raise TraceError(f"{source}: all timestamps are equal; the trace has no duration")
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise ConfigError(f"trace replay: time_scale must be > 0, got {time_scale!r}")
        self._gaps = gaps
        self._gaps.setflags(write=False)
        self.time_scale = float(time_scale)
        self.loop = bool(loop)
        self.source = source

    @classmethod
    def from_timestamps(
        cls,
        timestamps: Sequence[float] | FloatArray,
        *,
        time_scale: float = 1.0,
        loop: bool = False,
        source: str = "timestamps",
    ) -> TraceReplay:
        """From arrival timestamps in seconds (any origin; sorted here)."""
        try:
            ts = np.sort(np.asarray(timestamps, dtype=np.float64))
        except (TypeError, ValueError):
            raise TraceError(f"{source}: timestamps must be numbers (seconds)") from None
        if ts.ndim != 1 or ts.size < 2:
            raise TraceError(f"{source}: trace replay needs at least two timestamps")
        if not np.all(np.isfinite(ts)):
            raise TraceError(f"{source}: timestamps must be finite numbers (seconds)")
        return cls(np.diff(ts), time_scale=time_scale, loop=loop, source=source)

    @property
    def gaps_s(self) -> tuple[float, ...]:
        """The recorded gaps (before ``time_scale``)."""
        return tuple(float(g) for g in self._gaps)

    @property
    def rate(self) -> float:
        """The replay's own mean rate: the trace's, divided by ``time_scale``."""
        return 1.0 / (float(self._gaps.mean()) * self.time_scale)

    @property
    def arrivals_per_pass(self) -> int:
        return int(self._gaps.size) + 1

    def gaps(self, rng: np.random.Generator, index: int, n: int, rate: float | None) -> FloatArray:
        """Gaps before arrivals ``index .. index+n-1`` (arrival 0 has gap 0)."""
        scale = self.time_scale if rate is None else 1.0 / (_positive(rate) * self._gaps.mean())
        m = self._gaps.size
        positions = np.arange(index, index + n, dtype=np.int64)
        if not self.loop:
            positions = positions[positions <= m]
        # arrival 0 has gap 0; arrival i >= 1 follows gap (i - 1) mod m
        picked = np.where(positions == 0, 0.0, self._gaps[(positions - 1) % m])
        return picked * scale

    def __repr__(self) -> str:
        return (
            f"TraceReplay({self._gaps.size + 1} timestamps from {self.source}, "
            f"time_scale={self.time_scale:g}, loop={self.loop})"
        )


ArrivalProcess = Constant | Poisson | Gamma | TraceReplay


def _positive(rate: float | None) -> float:
    if rate is None or not rate > 0:
        raise ConfigError(f"arrival rate must be > 0 requests/s, got {rate!r}")
    return rate


class ArrivalSchedule:
    """One worker's intended send times for one step of an open-loop test.

    ``rate`` is the *total* rate over all workers (None: a trace's own rate;
    0: no arrivals). Times are seconds on the caller's clock, from ``start``.

    >>> s = ArrivalSchedule(Constant(), rate=8.0, start=100.0, worker_index=1, worker_count=2)
    >>> s.until(100.8).tolist()
    [100.25, 100.5, 100.75]
    >>> s.next_time(), s.worker_rate
    (101.0, 4.0)
    """

    def __init__(
        self,
        process: ArrivalProcess,
        rate: float | None,
        start: float = 0.0,
        seed: int = 0,
        *,
        step: int = 0,
        worker_index: int = 0,
        worker_count: int = 1,
    ) -> None:
        if worker_count < 1 or not 0 <= worker_index < worker_count:
            raise ConfigError(
                f"worker {worker_index} of {worker_count}: expected 0 <= index < count, count >= 1"
            )
        if rate is None and not isinstance(process, TraceReplay):
            raise ConfigError(f"{process} arrivals need a rate (requests/s)")
        if rate is not None and not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"arrival rate must be >= 0 requests/s, got {rate!r}")
        if seed < 0 or step < 0:
            raise ConfigError(f"seed and step must be >= 0, got seed={seed}, step={step}")
        if not math.isfinite(start):
            raise ConfigError(f"schedule start must be a finite time, got {start!r}")
        self.process = process
        self.rate = rate
        self.start = float(start)
        self.seed = seed
        self.step = step
        self.worker_index = worker_index
        self.worker_count = worker_count
        self._rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(step,)))
        self._t = self.start  # time of the last generated global arrival
        self._index = 0  # global index of the next arrival to generate
        self._drawn_all = rate == 0
        self._buffer: FloatArray = np.empty(0)
        self._pos = 0

    @property
    def total_rate(self) -> float:
        """Mean arrivals per second over all workers."""
        if self.rate is None and isinstance(self.process, TraceReplay):
            return self.process.rate
        return self.rate or 0.0

    @property
    def worker_rate(self) -> float:
        """Mean arrivals per second this worker sends."""
        return self.total_rate / self.worker_count

    @property
    def exhausted(self) -> bool:
        """No arrival is left (a zero rate, or a finished non-looping trace)."""
        return self._drawn_all and self._pos >= self._buffer.size

    def restarted(self, *, step: int, start: float, rate: float | None) -> ArrivalSchedule:
        """A fresh schedule for a new step: same process, seed and worker split."""
        return ArrivalSchedule(
            self.process,
            rate,
            start=start,
            seed=self.seed,
            step=step,
            worker_index=self.worker_index,
            worker_count=self.worker_count,
        )

    def _fill(self) -> None:
        """Generate global chunks until this worker has arrivals buffered (or none are left)."""
        while self._pos >= self._buffer.size and not self._drawn_all:
            gaps = self.process.gaps(self._rng, self._index, CHUNK, self.rate)
            if gaps.size < CHUNK:
                self._drawn_all = True
            if gaps.size == 0:
                break
            times = self._t + np.cumsum(gaps)
            first = (self.worker_index - self._index) % self.worker_count
            self._buffer = times[first :: self.worker_count]
            self._pos = 0
            self._t = float(times[-1])
            self._index += int(gaps.size)

    def next_batch(self) -> FloatArray:
        """This worker's next intended send times (ascending); empty when exhausted."""
        self._fill()
        out = self._buffer[self._pos :]
        self._pos = self._buffer.size
        return out

    def until(self, t: float) -> FloatArray:
        """This worker's remaining intended send times up to ``t`` (inclusive)."""
        parts = []
        while True:
            self._fill()
            if self._pos >= self._buffer.size:
                break
            end = int(np.searchsorted(self._buffer, t, side="right"))
            parts.append(self._buffer[self._pos : end])
            self._pos = max(self._pos, end)
            if end < self._buffer.size:
                break
        return np.concatenate(parts) if parts else np.empty(0)

    def next_time(self) -> float | None:
        """The next intended send time, or None when exhausted."""
        self._fill()
        if self._pos >= self._buffer.size:
            return None
        value = float(self._buffer[self._pos])
        self._pos += 1
        return value


@dataclass(frozen=True)
class ArrivalSpec:
    """A parsed ``--ml-arrival`` value: the process kind and its parameters.

    >>> str(parse_arrival("gamma:cv=2"))
    'gamma:cv=2'
    >>> parse_arrival("trace:path=t.csv,column=TIMESTAMP,time_scale=2").time_scale
    2.0
    """

    kind: str
    cv: float | None = None
    path: str | None = None
    column: str | None = None
    time_scale: float = 1.0
    loop: bool = False
    timestamps: tuple[float, ...] | None = None
    #: Trace replay: only the first ``limit`` timestamps.
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ARRIVAL_KINDS:
            raise ConfigError(
                f"unknown arrival process {self.kind!r}; expected one of {', '.join(ARRIVAL_KINDS)}"
            )
        if self.kind == "gamma":
            Gamma(self.cv if self.cv is not None else math.nan)
        elif self.cv is not None:
            raise ConfigError(f"{self.kind} arrivals take no cv (only gamma does)")
        if self.kind == "trace":
            if (self.path is None) == (self.timestamps is None):
                raise ConfigError("trace arrivals need a path (or timestamps from code), not both")
            if not (math.isfinite(self.time_scale) and self.time_scale > 0):
                raise ConfigError(
                    f"trace arrivals: time_scale must be > 0, got {self.time_scale!r}"
                )
            if self.limit is not None and self.limit < 2:
                raise ConfigError(f"trace arrivals: limit must be >= 2, got {self.limit!r}")
        elif (
            self.path
            or self.column
            or self.loop
            or self.timestamps
            or self.time_scale != 1.0
            or self.limit is not None
        ):
            raise ConfigError(
                f"{self.kind} arrivals take no path, column, time_scale, loop or limit "
                "(only trace does)"
            )

    @property
    def is_open(self) -> bool:
        """Whether this is an open-loop process (anything but ``closed``)."""
        return self.kind != "closed"

    def process(self, loader: TimestampLoader | None = None) -> ArrivalProcess | None:
        """The arrival process (None for ``closed``); ``loader`` reads a trace path."""
        if self.kind == "closed":
            return None
        if self.kind == "constant":
            return Constant()
        if self.kind == "poisson":
            return Poisson()
        if self.kind == "gamma":
            return Gamma(self.cv or 1.0)
        if self.timestamps is not None:
            return TraceReplay.from_timestamps(
                self.timestamps[: self.limit], time_scale=self.time_scale, loop=self.loop
            )
        if loader is None:
            raise ConfigError(
                f"trace arrivals from {self.path!r} need a trace loader (locust_ml.traces)"
            )
        path = self.path or ""
        return TraceReplay.from_timestamps(
            loader(path, self.column)[: self.limit],
            time_scale=self.time_scale,
            loop=self.loop,
            source=path,
        )

    def __str__(self) -> str:
        if self.kind == "gamma":
            return f"gamma:cv={self.cv:g}"
        if self.kind != "trace":
            return self.kind
        parts = [f"path={self.path}" if self.path is not None else "timestamps=<code>"]
        if self.column:
            parts.append(f"column={self.column}")
        if self.time_scale != 1.0:
            parts.append(f"time_scale={self.time_scale:g}")
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        if self.loop:
            parts.append("loop=true")
        return "trace:" + ",".join(parts)


_PARAMS: Final = {
    "closed": (),
    "constant": (),
    "poisson": (),
    "gamma": ("cv",),
    "trace": ("path", "column", "time_scale", "loop", "limit"),
}
_EXAMPLES: Final = "e.g. poisson, gamma:cv=2, trace:path=trace.csv,column=TIMESTAMP,time_scale=2"


def parse_arrival(text: str, *, option: str = "--ml-arrival") -> ArrivalSpec:
    """Parse ``KIND[:NAME=VALUE,...]`` (see :data:`ARRIVAL_KINDS`).

    ``gamma`` needs ``cv``. ``trace`` needs ``path`` (or a bare path:
    ``trace:data/azure.csv``) and takes ``column``, ``time_scale`` (default 1),
    ``limit`` (the first N arrivals) and ``loop`` (true/false, default false).
    """
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in ARRIVAL_KINDS:
        raise ConfigError(
            f"{option}: unknown arrival process {kind!r} in {text!r}; expected one of "
            f"{', '.join(ARRIVAL_KINDS)} ({_EXAMPLES})"
        )
    params: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in rest.split(",") if p.strip()):
        name, eq, value = part.partition("=")
        if not eq:
            if kind == "trace" and i == 0:
                name, value = "path", part
            else:
                raise ConfigError(f"{option}: {part!r} in {text!r} is not NAME=VALUE ({_EXAMPLES})")
        name = name.strip().lower()
        if name not in _PARAMS[kind]:
            allowed = ", ".join(_PARAMS[kind]) or "none"
            raise ConfigError(
                f"{option}: unknown parameter {name!r} for {kind} in {text!r} (allowed: {allowed})"
            )
        params[name] = value.strip()
    try:
        cv = float(params["cv"]) if "cv" in params else None
        time_scale = float(params.get("time_scale", "1"))
        limit = int(params["limit"]) if "limit" in params else None
    except ValueError:
        raise ConfigError(f"{option}: non-numeric cv, time_scale or limit in {text!r}") from None
    loop_text = params.get("loop", "false").lower()
    if loop_text not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{option}: loop must be true or false, got {params['loop']!r}")
    if kind == "gamma" and cv is None:
        raise ConfigError(f"{option}: gamma arrivals need cv, e.g. gamma:cv=2 (in {text!r})")
    if kind == "trace" and not params.get("path"):
        raise ConfigError(
            f"{option}: trace arrivals need a path, e.g. trace:path=trace.csv (in {text!r})"
        )
    try:
        return ArrivalSpec(
            kind=kind,
            cv=cv,
            path=params.get("path"),
            column=params.get("column") or None,
            time_scale=time_scale,
            loop=loop_text in ("true", "1", "yes"),
            limit=limit,
        )
    except ConfigError as exc:
        raise ConfigError(f"{option}: {text!r}: {exc}") from None
