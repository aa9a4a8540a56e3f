"""Continuous batching, with a fake model whose steps the test releases one by one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from locust_ml.server.batcher import ContinuousBatcher
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
)
from locust_ml.server.metrics import ServerMetrics

pytestmark = pytest.mark.anyio


class GatedModel:
    """Plans ``max_tokens`` tokens; each decode step waits for the test's go."""

    def __init__(self, *, gated: bool = True) -> None:
        self.gated = gated
        self.gate = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)
        self.step_sizes: list[int] = []
        self.prefills: list[int] = []

    def build(self) -> None:
        pass

    def plan(self, request: GenerationRequest) -> Plan:
        return Plan.of([f"t{i}" for i in range(request.max_tokens)], "length")

    def prefill(self, requests: Sequence[GenerationRequest]) -> None:
        self.prefills.append(len(requests))

    def decode(self, last_tokens: Sequence[str]) -> None:
        self.entered.release()
        if self.gated and not self.gate.acquire(timeout=10):
            raise RuntimeError("test never released the step")
        self.step_sizes.append(len(last_tokens))


def _batcher(
    model: GatedModel, *, max_batch: int = 4, delay_s: float = 0.0, limit: int = 64
) -> ContinuousBatcher:
    metrics = ServerMetrics.create(CollectorRegistry(), max_batch_size=max_batch)
    return ContinuousBatcher(
        model,
        max_batch_size=max_batch,
        max_queue_delay_s=delay_s,
        queue_limit=limit,
        metrics=metrics,
    )


def _req(n: int, *, stream: bool = False) -> GenerationRequest:
    return GenerationRequest(("p", "q"), "", max_tokens=n, stream=stream)


async def _events_until_done(gen: Generation) -> list[Event]:
    out: list[Event] = []
    while not out or not isinstance(out[-1], Finished | Failed):
        out.append(await asyncio.wait_for(gen.next_event(), 10))
    return out


async def test_batch_formation_fills_the_batch_then_refills_it() -> None:
    model = GatedModel(gated=False)
    b = _batcher(model, max_batch=8, delay_s=10.0)  # the batch fills long before 10 s
    b.start(asyncio.get_running_loop())
    try:
        gens = [b.submit(_req(3)) for _ in range(16)]
        results = [await _events_until_done(g) for g in gens]
    finally:
        await b.stop()
    starts = [r[0] for r in results]
    assert all(isinstance(s, Started) and s.batch_size == 8 for s in starts)
    done = [r[-1] for r in results]
    assert all(isinstance(d, Finished) and d.batch_size == 8 for d in done)
    assert model.prefills == [8, 8]  # each group prefilled together
    assert model.step_sizes == [8, 8, 8, 8, 8, 8]


async def test_requests_join_a_running_batch_between_steps() -> None:
    model = GatedModel()
    b = _batcher(model, max_batch=4)
    b.start(asyncio.get_running_loop())
    try:
        first = b.submit(_req(3, stream=True))
        # Step 1 runs first alone; second arrives while it runs.
        assert await asyncio.to_thread(model.entered.acquire, True, 10)
        second = b.submit(_req(2))
        model.gate.release()
        ev = await asyncio.wait_for(first.next_event(), 10)
        assert ev == Started(ev.queue_s, 1)
        assert await asyncio.wait_for(first.next_event(), 10) == Token("t0")
        model.gate.release()  # step 2: both (second joined without waiting for first)
        ev2 = await asyncio.wait_for(second.next_event(), 10)
        assert isinstance(ev2, Started)
        assert ev2.batch_size == 2
        assert await asyncio.wait_for(first.next_event(), 10) == Token(" t1")
        model.gate.release()  # step 3: both again; both finish
        last = await _events_until_done(first)
        assert last[0] == Token(" t2", "length")
        fin = last[-1]
        assert isinstance(fin, Finished)
        assert (fin.text, fin.completion_tokens, fin.batch_size) == ("t0 t1 t2", 3, 2)
        fin2 = (await _events_until_done(second))[-1]
        assert isinstance(fin2, Finished)
        assert fin2.completion_tokens == 2
    finally:
        await b.stop()
    assert model.step_sizes == [1, 2, 2]


async def test_cancelled_requests_leave_the_queue_and_the_batch() -> None:
    model = GatedModel()
    b = _batcher(model, max_batch=1, limit=2)
    b.start(asyncio.get_running_loop())
    try:
        running = b.submit(_req(5))
        model.gate.release()
        assert isinstance(await asyncio.wait_for(running.next_event(), 10), Started)
        waiting = [b.submit(_req(1)), b.submit(_req(1))]
        assert b.waiting == 2
        with pytest.raises(QueueFull) as info:
            b.submit(_req(1))
        assert info.value.retry_after_s >= 1
        waiting[0].cancel()
        assert b.waiting == 1  # gone from the queue at once
        running.cancel()  # freed at the next step
        model.gate.release()  # this step still ran it; the next admits waiting[1]
        model.gate.release()
        ev = await asyncio.wait_for(waiting[1].next_event(), 10)
        assert isinstance(ev, Started)
        assert ev.batch_size == 1
        assert isinstance((await _events_until_done(waiting[1]))[-1], Finished)
    finally:
        await b.stop()
    assert b.peak_waiting == 2


async def test_stop_fails_pending_requests() -> None:
    model = GatedModel()
    b = _batcher(model, max_batch=1)
    b.start(asyncio.get_running_loop())
    active = b.submit(_req(50))
    queued = b.submit(_req(1))
    stopping = asyncio.create_task(b.stop())
    await asyncio.sleep(0)  # stop() closes the queue before its first await
    for _ in range(3):  # let the step in progress (if any) end; 50 would finish it
        model.gate.release()
    await asyncio.wait_for(stopping, 10)
    for gen in (active, queued):
        events = await _events_until_done(gen)
        assert isinstance(events[-1], Failed)
        assert events[-1].status == 503
