"""Continuous batching of a step-wise model in one dedicated thread.

This is the scheduling that LLM servers (vLLM, TGI, TensorRT-LLM) use, reduced
to its core. The model thread loops over *iterations*:

1. **Admit**: take waiting requests, oldest first, until ``max_batch_size``
   sequences are active. When nothing is active (the model is idle) and a
   request arrives, first wait up to ``max_queue_delay_ms`` (measured from the
   oldest request's arrival) for the batch to fill: batch formation.
2. **Prefill** the newly admitted requests together (one call over all their
   prompt tokens) and decide what each will generate (its :class:`Plan`).
3. **Decode** one step for every active sequence: one model call for the whole
   batch, one token for each. Streaming requests get their token now.
4. **Retire** finished and cancelled sequences, freeing their slots for the next
   iteration's admissions.

So a request never waits for a whole batch to finish before it starts, and a
batch's size changes step by step; the cost of a step grows with its size far
less than linearly, which is where batching's throughput gain comes from.

Why a thread: numpy releases the GIL inside matmuls, so the asyncio loop stays
responsive (parsing, streaming) while the model computes. Events cross to the
loop with one ``call_soon_threadsafe`` per iteration.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from locust_ml.server.admission import WaitingQueue
from locust_ml.server.generation import (
    Event,
    Failed,
    Finished,
    Generation,
    GenerationRequest,
    Plan,
    QueueFull,
    Started,
    Token,
    deliver_all,
)
from locust_ml.server.metrics import ServerMetrics

__all__ = ["ContinuousBatcher", "StepModel"]

_EWMA_WEIGHT = 0.2


class StepModel(Protocol):
    """A model that generates one token per sequence per step."""

    def build(self) -> None:
        """Create the weights (blocking)."""

    def plan(self, request: GenerationRequest) -> Plan:
        """Decide what ``request`` will generate."""

    def prefill(self, requests: Sequence[GenerationRequest]) -> None:
        """Run the prompts of newly admitted requests through the model."""

    def decode(self, last_tokens: Sequence[str]) -> None:
        """Run one decode step for a batch whose previous tokens are ``last_tokens``."""


@dataclass
class _Sequence:
    gen: Generation
    plan: Plan
    admitted_at: float
    pos: int = 0
    max_batch: int = 1
    last_token: str = field(default="")

    @property
    def remaining(self) -> int:
        return len(self.plan.tokens) - self.pos


class ContinuousBatcher:
    """A :class:`~locust_ml.server.generation.Backend` running a :class:`StepModel`.

    ``clock`` must be monotonic and shared with nothing that expects another
    epoch; it stamps arrivals (on the loop) and admissions (in the thread).
    """

    def __init__(
        self,
        model: StepModel,
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        queue_limit: int,
        metrics: ServerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._model = model
        self._max_batch = max_batch_size
        self._delay_s = max_queue_delay_s
        self._metrics = metrics
        self._clock = clock
        self._queue = WaitingQueue(
            queue_limit,
            full_error=lambda depth: QueueFull(depth, self._retry_after(depth)),
            on_depth=metrics.queue_depth.set,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running = 0
        self._service_s: float | None = None

    # -- Backend protocol -------------------------------------------------

    def load(self) -> None:
        self._model.build()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="locust-ml-model", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        for gen in self._queue.close():
            gen.deliver(Failed(503, "server shutting down", "shutting_down"))
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, 10.0)
            await asyncio.sleep(0)  # let the thread's last deliveries run

    def submit(self, request: GenerationRequest) -> Generation:
        gen = Generation(request, self._clock())
        self._queue.put(gen)
        return gen

    def retry_after_s(self) -> int:
        return self._retry_after(len(self._queue))

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return self._running

    @property
    def peak_waiting(self) -> int:
        return self._queue.peak

    # -- model thread -----------------------------------------------------

    def _retry_after(self, depth: int) -> int:
        # Drain time of the queue: each slot frees after one mean service time.
        service = self._service_s if self._service_s is not None else 1.0
        return max(1, math.ceil(depth * service / self._max_batch))

    def _run(self) -> None:
        active: list[_Sequence] = []
        try:
            while True:
                self._retire_cancelled(active)
                if not active:
                    if not self._queue.wait_nonempty():
                        break
                    self._form_batch()
                if self._queue.closed:
                    break
                admitted = self._queue.take(self._max_batch - len(active))
                out = self._iterate(active, admitted)
                if out and not self._send(out):
                    break
        finally:
            failed: list[tuple[Generation, Event]] = [
                (s.gen, Failed(503, "server shutting down", "shutting_down")) for s in active
            ]
            self._running = 0
            self._metrics.running.set(0)
            if failed:
                self._send(failed)

    def _retire_cancelled(self, active: list[_Sequence]) -> None:
        """Drop sequences whose client went away, freeing their slots."""
        kept = [s for s in active if not s.gen.cancelled]
        if len(kept) != len(active):
            active[:] = kept
            self._running = len(kept)
            self._metrics.running.set(len(kept))

    def _form_batch(self) -> None:
        """Idle and a request waits: give the batch up to the delay to fill."""
        while len(self._queue) < self._max_batch and not self._queue.closed:
            oldest = self._queue.oldest_arrival()
            if oldest is None:
                return
            remaining = oldest + self._delay_s - self._clock()
            if remaining <= 0:
                return
            self._queue.wait(remaining)

    def _iterate(
        self, active: list[_Sequence], admitted: list[Generation]
    ) -> list[tuple[Generation, Event]]:
        """One iteration: admit + prefill, one decode step, retire. Mutates ``active``."""
        m = self._metrics
        t0 = self._clock()
        new: list[_Sequence] = []
        for gen in admitted:
            if gen.cancelled:
                continue
            plan = self._model.plan(gen.request)
            prompt = gen.request.prompt_tokens
            new.append(_Sequence(gen, plan, t0, last_token=prompt[-1] if prompt else ""))
            m.queue_seconds.observe(max(0.0, t0 - gen.arrival))
            m.prompt_tokens.inc(len(prompt))
        if new:
            self._model.prefill([s.gen.request for s in new])
        active[:] = [s for s in active if not s.gen.cancelled] + new
        decoding = [s for s in active if s.remaining > 0]
        size = len(decoding)
        out: list[tuple[Generation, Event]] = [
            (s.gen, Started(max(0.0, s.admitted_at - s.gen.arrival), max(size, 1))) for s in new
        ]
        if decoding:
            self._model.decode([s.last_token for s in decoding])
            m.batch_size.observe(size)
            m.generation_tokens.inc(size)
            for s in decoding:
                i = s.pos
                s.pos += 1
                s.last_token = s.plan.tokens[i]
                s.max_batch = max(s.max_batch, size)
                if s.gen.request.stream:
                    last = s.remaining == 0
                    out.append(
                        (s.gen, Token(s.plan.pieces[i], s.plan.finish_reason if last else None))
                    )
        t1 = self._clock()
        m.inference_seconds.observe(t1 - t0)
        for s in active:
            if s.remaining == 0:
                out.append((s.gen, self._finished(s, t1)))
        active[:] = [s for s in active if s.remaining > 0]
        self._running = len(active)
        m.running.set(len(active))
        return out

    def _finished(self, s: _Sequence, now: float) -> Finished:
        service = now - s.admitted_at
        prev = self._service_s
        self._service_s = service if prev is None else prev + _EWMA_WEIGHT * (service - prev)
        return Finished(
            text=s.plan.text,
            completion_tokens=len(s.plan.tokens),
            finish_reason=s.plan.finish_reason,
            queue_s=max(0.0, s.admitted_at - s.gen.arrival),
            inference_s=service,
            batch_size=s.max_batch,
        )

    def _send(self, items: list[tuple[Generation, Event]]) -> bool:
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(deliver_all, items)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return False
        return True
