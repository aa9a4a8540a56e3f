"""Under concurrent load: requests share batches; past the queue limit, load is shed."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from locust_ml.server.config import ServerConfig

pytestmark = pytest.mark.anyio


def _max_batch_observed(metrics_text: str) -> float:
    """Largest bucket bound below which not all batch_size observations fall."""
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "locust_ml_server_batch_size":
            buckets = [
                (float(s.labels["le"]), s.value)
                for s in family.samples
                if s.name.endswith("_bucket")
            ]
    count = buckets[-1][1]
    return min(le for le, n in buckets if n == count)


@pytest.mark.parametrize("backend", ["simulated", "summarizer"])
async def test_concurrent_requests_share_batches(
    serve: Any, fast_sim: ServerConfig, tiny_summarizer: ServerConfig, text: str, backend: str
) -> None:
    base = fast_sim if backend == "simulated" else tiny_summarizer
    # A generous batch window: the 16 requests arrive well within it.
    cfg = dataclasses.replace(base, max_batch_size=8, max_queue_delay_ms=200.0)
    body = {"model": "summarizer", "prompt": text, "max_tokens": 16, "ignore_eos": True}
    async with serve(cfg) as (_, client):
        responses = await asyncio.gather(
            *(client.post("/v1/completions", json=body) for _ in range(16))
        )
        metrics = await client.get("/metrics")
    assert [r.status_code for r in responses] == [200] * 16
    sizes = [int(r.headers["X-Batch-Size"]) for r in responses]
    assert max(sizes) > 1
    assert max(sizes) <= 8
    assert _max_batch_observed(metrics.text) > 1


async def test_overload_sheds_with_retry_after_and_bounds_the_queue(
    serve: Any, fast_sim: ServerConfig
) -> None:
    # One request at a time, 300 ms each, at most 2 waiting: a burst of 12 that
    # arrives within microseconds can't all be admitted.
    cfg = dataclasses.replace(
        fast_sim, base_ms=300.0, per_item_ms=0.0, max_batch_size=1, queue_limit=2
    )
    body = {"model": "summarizer", "prompt": "hello there", "max_tokens": 4}
    async with serve(cfg) as (app, client):
        responses = await asyncio.gather(
            *(client.post("/v1/completions", json=body) for _ in range(12))
        )
        backend = app.state.server.backend
        metrics = await client.get("/metrics")
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503}
    assert codes.count(200) >= 2  # at least a full queue's worth gets served
    shed = [r for r in responses if r.status_code == 503]
    assert shed
    for r in shed:
        assert r.headers["Retry-After"].isdigit()
        assert int(r.headers["Retry-After"]) >= 1
        err = r.json()["error"]
        assert err["code"] == "queue_full"
        assert set(err) == {"message", "type", "param", "code"}
    assert backend.peak_waiting <= 2
    assert backend.waiting == 0
    counted = {
        s.labels["code"]: s.value
        for f in text_string_to_metric_families(metrics.text)
        if f.name == "locust_ml_server_requests"
        for s in f.samples
        if s.name.endswith("_total") and s.labels["endpoint"] == "/v1/completions"
    }
    assert counted == {"200": codes.count(200), "503": len(shed)}
