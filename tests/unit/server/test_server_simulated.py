"""Dynamic batching of the simulated backend: batch composition, timing model, streams."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from prometheus_client import CollectorRegistry

from locust_ml.server.config import ServerConfig
from locust_ml.server.generation import (
    Event,
    Failed,
    Finished,
    Generation,
    GenerationRequest,
    Started,
    Token,
)
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.models.simulated import SimulatedBackend, batch_seconds

pytestmark = pytest.mark.anyio

CFG = ServerConfig(
    backend="simulated", base_ms=2.0, per_item_ms=1.0, max_batch_size=4, max_queue_delay_ms=5.0
)


def _backend(cfg: ServerConfig = CFG) -> SimulatedBackend:
    metrics = ServerMetrics.create(CollectorRegistry(), max_batch_size=cfg.max_batch_size)
    return SimulatedBackend(cfg, metrics)


def _req(n: int = 3, *, stream: bool = False) -> GenerationRequest:
    return GenerationRequest(("a", "b"), "a b", max_tokens=n, stream=stream)


async def _run(gen: Generation) -> list[Event]:
    out: list[Event] = []
    while not out or not isinstance(out[-1], Finished | Failed):
        out.append(await asyncio.wait_for(gen.next_event(), 10))
    return out


async def test_batches_are_full_then_the_remainder() -> None:
    backend = _backend()
    backend.start(asyncio.get_running_loop())
    try:
        gens = [backend.submit(_req()) for _ in range(10)]
        results = [await _run(g) for g in gens]
    finally:
        await backend.stop()
    sizes = [r[0].batch_size for r in results if isinstance(r[0], Started)]
    assert sizes == [4, 4, 4, 4, 4, 4, 4, 4, 2, 2]
    fins = [r[-1] for r in results]
    assert all(isinstance(f, Finished) for f in fins)
    for f, size in zip(fins, sizes, strict=True):
        assert isinstance(f, Finished)
        # The service time is exactly the model's, independent of tokens.
        assert f.inference_s == batch_seconds(CFG, size)
        assert f.batch_size == size
        assert f.completion_tokens == 3
        assert f.finish_reason == "length"


async def test_instances_run_batches_in_parallel() -> None:
    cfg = dataclasses.replace(CFG, instances=2, base_ms=200.0)
    backend = _backend(cfg)
    backend.start(asyncio.get_running_loop())
    try:
        gens = [backend.submit(_req()) for _ in range(8)]
        starts = [await asyncio.wait_for(g.next_event(), 10) for g in gens]
        # Both batches started before either finished: 8 requests running at once.
        assert backend.running == 8
        assert [s.batch_size for s in starts if isinstance(s, Started)] == [4] * 8
        for g in gens:
            assert isinstance((await _run(g))[-1], Finished)
    finally:
        await backend.stop()


async def test_lone_request_waits_for_the_batch_window() -> None:
    backend = _backend()
    backend.start(asyncio.get_running_loop())
    try:
        events = await _run(backend.submit(_req()))
    finally:
        await backend.stop()
    started = events[0]
    assert isinstance(started, Started)
    assert started.batch_size == 1
    # It waited for the window (5 ms) to pass; the lower bound is guaranteed.
    assert started.queue_s >= 0.005


async def test_stream_gets_every_token_then_finished() -> None:
    backend = _backend()
    backend.start(asyncio.get_running_loop())
    try:
        events = await _run(backend.submit(_req(6, stream=True)))
    finally:
        await backend.stop()
    assert isinstance(events[0], Started)
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) == 6
    assert [t.finish_reason for t in tokens] == [None] * 5 + ["length"]
    fin = events[-1]
    assert isinstance(fin, Finished)
    assert "".join(t.text for t in tokens) == fin.text


async def test_stop_fails_queued_and_running() -> None:
    backend = _backend(dataclasses.replace(CFG, base_ms=10_000.0, max_batch_size=1))
    backend.start(asyncio.get_running_loop())
    running = backend.submit(_req())
    queued = backend.submit(_req())
    assert isinstance(await asyncio.wait_for(running.next_event(), 10), Started)
    await backend.stop()
    for gen in (running, queued):
        last = (await _run(gen))[-1]
        assert isinstance(last, Failed)
        assert last.status == 503
