"""Dynamic batching of one-shot models (image classifier, speech) in worker threads.

An image or an audio clip is answered by *one* model call, unlike text
generation's many decode steps, so these models are scheduled the way Triton
schedules them: **dynamic batching**. Each of ``--instances`` model instances
is a worker thread that loops:

1. wait until a request waits in the shared FIFO queue;
2. wait until ``max_batch_size`` requests wait, or until ``max_queue_delay_ms``
   has passed since the *oldest* one arrived;
3. take up to ``max_batch_size`` requests, oldest first, and run them through
   the model in one :meth:`OneShotModel.run` call;
4. hand each request its own outcome (outputs, or a per-item error such as an
   undecodable image) on the event loop, and go back to 1.

Why threads: numpy (matmuls, FFTs) and Pillow (decoding) release the GIL in
their heavy loops, so instances really run in parallel and the event loop
stays responsive while they compute. Results cross to the loop with one
``call_soon_threadsafe`` per batch.

The limits are the other backends': at most ``queue_limit`` requests *wait*
(a request arriving to a full queue raises :class:`~locust_ml.server.generation.QueueFull`,
answered 503 with a ``Retry-After`` of the queue's estimated drain time), and
a request that outlives ``--request-timeout-s`` is cancelled: dropped from the
queue at once, or its result discarded if its batch is already running (a
batch runs to its end, like a GPU kernel).

The model contract (:class:`OneShotModel`) is protocol-neutral: models take and
return :class:`Tensor` objects named and typed like the Open Inference
Protocol's, and :mod:`~locust_ml.server.v2` translates them to and from the wire.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from locust_ml.server.generation import QueueFull
from locust_ml.server.metrics import ServerMetrics

__all__ = [
    "Done",
    "InputError",
    "Job",
    "OneShotBatcher",
    "OneShotModel",
    "Outcome",
    "Rejected",
    "Tensor",
    "TensorSpec",
]

log = logging.getLogger("locust_ml.server")

ItemT = TypeVar("ItemT")

_EWMA_WEIGHT = 0.2
_JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output as model metadata describes it (-1: any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named, typed tensor: what models take and return.

    ``datatype`` uses the Open Inference Protocol's names (``FP32``, ``UINT8``,
    ``BYTES``...). ``data`` has ``shape``; a ``BYTES`` tensor's data is a numpy
    object array of :class:`bytes`.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: npt.NDArray[Any]

    @classmethod
    def of_bytes(cls, name: str, values: Sequence[bytes], shape: tuple[int, ...]) -> Tensor:
        """A ``BYTES`` tensor of ``values`` laid out as ``shape``."""
        data = np.empty(len(values), dtype=object)
        data[:] = list(values)
        return cls(name, "BYTES", shape, data.reshape(shape))


class InputError(Exception):
    """An input the model can't run: answered with ``status`` (400, 413) and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OneShotModel(Protocol[ItemT]):
    """A model that answers a request with one call, batched.

    ``prepare`` runs on the event loop for every request: cheap checks only
    (names, types, shapes, the header of an encoded image or clip), raising
    :class:`InputError`. ``run`` runs in a worker thread on a whole batch: the
    heavy work (decoding, the network) with one result per item, in order; an
    item that fails (a truncated JPEG) gets an :class:`InputError` without
    failing the others.
    """

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The inputs' metadata."""

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The outputs' metadata."""

    def build(self) -> None:
        """Create the weights (blocking)."""

    def prepare(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, object]) -> ItemT:
        """Check one request's tensors and turn them into a batch item."""

    def run(self, items: Sequence[ItemT]) -> list[list[Tensor] | InputError]:
        """Run a batch; one list of output tensors (or an error) per item."""


@dataclass(frozen=True)
class Done:
    """The request ran: its outputs, and where its time went."""

    outputs: tuple[Tensor, ...]
    queue_s: float
    inference_s: float
    batch_size: int


@dataclass(frozen=True)
class Rejected:
    """The request did not run, or its item failed in the model."""

    status: int
    message: str


Outcome = Done | Rejected


class Job(Generic[ItemT]):
    """Handle on one submitted request: await :meth:`outcome`, or :meth:`cancel` it.

    Created and awaited on the event loop; ``arrival`` is the batcher clock's
    time at submission.
    """

    def __init__(
        self,
        item: ItemT,
        arrival: float,
        future: asyncio.Future[Outcome],
        on_cancel: Callable[[Job[ItemT]], None],
    ) -> None:
        self.item = item
        self.arrival = arrival
        self._future = future
        self._on_cancel = on_cancel
        self._cancelled = False
        self._settled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def done(self) -> bool:
        """True once an outcome was delivered."""
        return self._settled

    def cancel(self) -> None:
        """Give up: leave the queue now, or drop the result of a running batch.

        Also after the awaiting task was cancelled (a timeout), which cancels
        the future but leaves the request queued.
        """
        if self._cancelled or self._settled:
            return
        self._cancelled = True
        self._on_cancel(self)

    async def outcome(self) -> Outcome:
        """Wait for the request's outcome."""
        return await self._future

    def settle(self, outcome: Outcome) -> None:
        """Deliver ``outcome`` (on the loop's thread); later ones are ignored."""
        self._settled = True
        if not self._future.done():
            self._future.set_result(outcome)


def _settle_all(items: Sequence[tuple[Job[Any], Outcome]]) -> None:
    for job, outcome in items:
        job.settle(outcome)


class OneShotBatcher(Generic[ItemT]):
    """Dynamic batching of a :class:`OneShotModel` over worker-thread instances.

    Has the lifecycle of the server's other backends (``load``, ``start``,
    ``stop``, ``waiting``, ``running``, ``retry_after_s``); requests go in with
    :meth:`submit`.
    """

    def __init__(
        self,
        model: OneShotModel[ItemT],
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        queue_limit: int,
        instances: int,
        metrics: ServerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self._max_batch = max_batch_size
        self._delay_s = max_queue_delay_s
        self._limit = queue_limit
        self._instances = instances
        self._metrics = metrics
        self._clock = clock
        self._cond = threading.Condition()
        self._items: deque[Job[ItemT]] = deque()
        self._in_flight: set[Job[ItemT]] = set()
        self._closed = False
        self._peak = 0
        self._batch_s: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------

    def load(self) -> None:
        """Build the model (blocking; the app runs it in a thread)."""
        self.model.build()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the instances; outcomes are delivered on ``loop``."""
        self._loop = loop
        self._threads = [
            threading.Thread(target=self._instance, name=f"locust-ml-instance-{i}", daemon=True)
            for i in range(self._instances)
        ]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        """Refuse new work; queued requests get 503, running batches finish."""
        with self._cond:
            self._closed = True
            queued = list(self._items)
            self._items.clear()
            self._metrics.queue_depth.set(0)
            self._cond.notify_all()
        shutting_down = Rejected(503, "server shutting down")
        for job in queued:
            job.settle(shutting_down)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, _JOIN_TIMEOUT_S)
        await asyncio.sleep(0)  # let the instances' last deliveries run
        with self._cond:
            stuck = list(self._in_flight)
        for job in stuck:
            job.settle(shutting_down)

    # -- requests ----------------------------------------------------------

    def submit(self, item: ItemT) -> Job[ItemT]:
        """Queue ``item`` (on the event loop); raise ``QueueFull`` at the limit."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        job = Job(item, self._clock(), future, self._discard)
        with self._cond:
            depth = len(self._items)
            if depth >= self._limit or self._closed:
                raise QueueFull(depth, self._retry_after(depth))
            self._items.append(job)
            self._peak = max(self._peak, depth + 1)
            self._metrics.queue_depth.set(depth + 1)
            self._cond.notify_all()
        return job

    def retry_after_s(self) -> int:
        return self._retry_after(len(self._items))

    @property
    def waiting(self) -> int:
        """Requests in the queue now."""
        return len(self._items)

    @property
    def running(self) -> int:
        """Requests in a running batch now."""
        return len(self._in_flight)

    @property
    def peak_waiting(self) -> int:
        """The most requests ever queued at once."""
        return self._peak

    # -- scheduling --------------------------------------------------------

    def _retry_after(self, depth: int) -> int:
        # Drain time of the queue: full batches, spread over the instances.
        batch_s = self._batch_s if self._batch_s is not None else 1.0
        return max(1, math.ceil(depth * batch_s / (self._max_batch * self._instances)))

    def _discard(self, job: Job[ItemT]) -> None:
        with self._cond:
            try:
                self._items.remove(job)
            except ValueError:
                return
            self._metrics.queue_depth.set(len(self._items))

    def _next_batch(self) -> list[Job[ItemT]] | None:
        """Block until a batch is formed (see module docstring); None once closed."""
        with self._cond:
            while True:
                while not self._items and not self._closed:
                    self._cond.wait()
                while self._items and len(self._items) < self._max_batch and not self._closed:
                    remaining = self._items[0].arrival + self._delay_s - self._clock()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._closed:
                    return None
                if not self._items:  # cancelled, or taken by another instance
                    continue
                batch = [
                    self._items.popleft() for _ in range(min(self._max_batch, len(self._items)))
                ]
                self._in_flight.update(batch)
                self._metrics.queue_depth.set(len(self._items))
                self._metrics.running.set(len(self._in_flight))
                return batch

    def _instance(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            outcomes = self._execute(batch)
            with self._cond:
                self._in_flight.difference_update(batch)
                self._metrics.running.set(len(self._in_flight))
            if not self._deliver(outcomes):
                return

    def _execute(self, batch: list[Job[ItemT]]) -> list[tuple[Job[Any], Outcome]]:
        m = self._metrics
        n = len(batch)
        t0 = self._clock()
        m.batch_size.observe(n)
        for job in batch:
            m.queue_seconds.observe(max(0.0, t0 - job.arrival))
        try:
            results = self.model.run([job.item for job in batch])
            if len(results) != n:
                raise RuntimeError(f"the model returned {len(results)} results for {n} items")
        except Exception as exc:
            log.exception("model failed on a batch of %d", n)
            results = [InputError(500, f"model failed: {exc}")] * n
        t1 = self._clock()
        elapsed = t1 - t0
        m.inference_seconds.observe(elapsed)
        prev = self._batch_s
        self._batch_s = elapsed if prev is None else prev + _EWMA_WEIGHT * (elapsed - prev)
        out: list[tuple[Job[Any], Outcome]] = []
        for job, result in zip(batch, results, strict=True):
            if isinstance(result, InputError):
                out.append((job, Rejected(result.status, result.message)))
            else:
                queue_s = max(0.0, t0 - job.arrival)
                out.append((job, Done(tuple(result), queue_s, elapsed, n)))
        return out

    def _deliver(self, items: list[tuple[Job[Any], Outcome]]) -> bool:
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(_settle_all, items)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True
