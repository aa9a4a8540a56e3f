"""The simulated backend: Triton-style dynamic batching with an exact service time.

Its purpose is to be a target whose capacity is known in closed form, so that
knee and capacity detection can be checked against ground truth. There is no
model: a batch of ``n`` requests "executes" for exactly

    ``base_ms + per_item_ms * n + per_prompt_token_ms * U``

milliseconds, where ``U`` is the batch's prompt tokens that the prefix cache
did not hold (:mod:`~locust_ml.server.prefix_cache`; ``per_prompt_token_ms``
is 0 unless ``--per-prompt-token-ms`` says otherwise, and then prompts and
``max_tokens`` play no part), and then answers each with ``max_tokens``
deterministic filler tokens (``finish_reason: "length"``). The prompt part
is the batch's *prefill*: it comes first, and a streamed answer's tokens
are spread over the rest, so a prefix-cache hit shortens the time to first
token as it does on a real server.

Scheduling, per model instance (``--instances`` of them, as asyncio tasks):

1. wait until the waiting queue is non-empty;
2. wait until either ``max_batch_size`` requests are queued or
   ``max_queue_delay_ms`` has passed since the *oldest* queued request arrived;
3. take up to ``max_batch_size`` requests, oldest first;
4. execute for the time above, sleeping to an absolute deadline on the
   monotonic clock; streaming requests get their tokens spread evenly over
   the time after the prefill part ``P = per_prompt_token_ms * U`` (token k
   of m at ``start + P + (exec - P) * k / m``);
5. answer every request of the batch, and go back to 1.

At saturation every batch is full, so throughput is
:func:`~locust_ml.server.config.saturation_rps`. To make that exact rather than
approximately right, an instance that goes straight from one batch to the next
starts the next one at the previous one's *planned* end when its wake-up was
late by at most :data:`LATENESS_TOLERANCE_S` (event-loop timers round to a
millisecond), so timer rounding doesn't accumulate batch after batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from locust_ml.server.admission import WaitingQueue
from locust_ml.server.config import ServerConfig, saturation_rps
from locust_ml.server.generation import (
    Failed,
    Finished,
    Generation,
    GenerationRequest,
    Plan,
    QueueFull,
    Started,
    Token,
)
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.tokens import filler_tokens

__all__ = ["LATENESS_TOLERANCE_S", "SimulatedBackend", "batch_seconds", "prefill_seconds"]

#: Lateness of a wake-up that the next batch's start absorbs (see module docstring).
LATENESS_TOLERANCE_S = 0.002


def batch_seconds(config: ServerConfig, n: int, uncached_tokens: int = 0) -> float:
    """Execution time in seconds of a batch of ``n`` requests with ``uncached_tokens``
    prompt tokens to prefill in all."""
    return (
        config.base_ms + config.per_item_ms * n + config.per_prompt_token_ms * uncached_tokens
    ) / 1000.0


def prefill_seconds(config: ServerConfig, uncached_tokens: int) -> float:
    """The prefill part of a batch's execution (streamed tokens start after it)."""
    return config.per_prompt_token_ms * uncached_tokens / 1000.0


class SimulatedBackend:
    """A :class:`~locust_ml.server.generation.Backend` with a service-time model."""

    def __init__(
        self,
        config: ServerConfig,
        metrics: ServerMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._xsat = saturation_rps(config)
        self._changed = asyncio.Event()
        self._queue = WaitingQueue(
            config.queue_limit,
            full_error=lambda depth: QueueFull(depth, self._retry_after(depth)),
            on_depth=metrics.queue_depth.set,
            on_put=self._notify,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[Generation] = set()

    # -- Backend protocol -------------------------------------------------

    def load(self) -> None:
        """Nothing to build: cold start is only ``--load-seconds``."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._tasks = [
            loop.create_task(self._instance(), name=f"locust-ml-instance-{i}")
            for i in range(self._config.instances)
        ]

    async def stop(self) -> None:
        failed = Failed(503, "server shutting down", "shutting_down")
        pending = self._queue.close() + list(self._in_flight)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for gen in pending:
            if not gen.done:
                gen.deliver(failed)
        self._in_flight.clear()
        self._notify()

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
        return len(self._in_flight)

    @property
    def peak_waiting(self) -> int:
        return self._queue.peak

    # -- scheduling -------------------------------------------------------

    def _retry_after(self, depth: int) -> int:
        return max(1, math.ceil(depth / self._xsat))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, timeout: float | None) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _sleep_until(self, deadline: float) -> None:
        delay = deadline - self._clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _instance(self) -> None:
        cfg = self._config
        delay_s = cfg.max_queue_delay_ms / 1000.0
        prev_end: float | None = None
        while True:
            while not self._queue:
                prev_end = None
                await self._wait_change(None)
            # Batch formation: full batch, or the oldest request waited long enough.
            while len(self._queue) < cfg.max_batch_size:
                oldest = self._queue.oldest_arrival()
                if oldest is None:
                    break
                remaining = oldest + delay_s - self._clock()
                if remaining <= 0:
                    break
                await self._wait_change(remaining)
            batch = self._queue.take(cfg.max_batch_size)
            if not batch:
                continue
            now = self._clock()
            start = now
            if prev_end is not None and 0.0 <= now - prev_end <= LATENESS_TOLERANCE_S:
                start = prev_end
            prev_end = await self._execute(batch, start)

    async def _execute(self, batch: list[Generation], start: float) -> float:
        """Run one batch from ``start``; return its planned end."""
        m = self._metrics
        n = len(batch)
        uncached = sum(gen.request.uncached_tokens for gen in batch)
        exec_s = batch_seconds(self._config, n, uncached)
        prefill_s = prefill_seconds(self._config, uncached)
        end = start + exec_s
        self._in_flight.update(batch)
        m.running.set(len(self._in_flight))
        m.batch_size.observe(n)
        plans: list[Plan] = []
        for gen in batch:
            queue_s = max(0.0, start - gen.arrival)
            m.queue_seconds.observe(queue_s)
            m.prompt_tokens.inc(len(gen.request.prompt_tokens))
            plans.append(Plan.of(filler_tokens(gen.request.max_tokens), "length"))
            gen.deliver(Started(queue_s, n))
        try:
            await self._stream_tokens(batch, plans, start + prefill_s, exec_s - prefill_s)
            await self._sleep_until(end)
        finally:
            self._in_flight.difference_update(batch)
            m.running.set(len(self._in_flight))
        m.inference_seconds.observe(self._clock() - start)
        for gen, plan in zip(batch, plans, strict=True):
            m.generation_tokens.inc(len(plan.tokens))
            if gen.cancelled:
                continue
            gen.deliver(
                Finished(
                    text=plan.text,
                    completion_tokens=len(plan.tokens),
                    finish_reason=plan.finish_reason,
                    queue_s=max(0.0, start - gen.arrival),
                    inference_s=exec_s,
                    batch_size=n,
                )
            )
        return end

    async def _stream_tokens(
        self, batch: list[Generation], plans: list[Plan], start: float, exec_s: float
    ) -> None:
        """Deliver streaming tokens at their due times (token k of m at k/m of ``exec_s``
        after ``start``: the decode part, after the prefill)."""
        due: list[tuple[float, int, int]] = []
        for b, (gen, plan) in enumerate(zip(batch, plans, strict=True)):
            if gen.request.stream:
                m = len(plan.tokens)
                due.extend((start + exec_s * (k + 1) / m, b, k) for k in range(m))
        due.sort()
        i = 0
        while i < len(due):
            await self._sleep_until(due[i][0])
            now = self._clock()
            while i < len(due) and due[i][0] <= now:
                _, b, k = due[i]
                i += 1
                gen, plan = batch[b], plans[b]
                if gen.cancelled:
                    continue
                last = k == len(plan.tokens) - 1
                gen.deliver(Token(plan.pieces[k], plan.finish_reason if last else None))
