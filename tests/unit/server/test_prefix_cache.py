"""The server's prefix cache: chained blocks, full blocks only, LRU eviction, counting;
and the simulated backend's prefill cost and /metrics counters over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from locust_ml.server.config import ServerConfig, saturation_rps
from locust_ml.server.generation import Finished, GenerationRequest, Started, Token
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.models.simulated import SimulatedBackend, batch_seconds, prefill_seconds
from locust_ml.server.prefix_cache import PrefixCache
from tests.unit.server.conftest import running

WORDS = [f"w{i}" for i in range(50)]


def _tokens(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(WORDS) for _ in range(n)]


def test_only_full_leading_blocks_hit() -> None:
    cache = PrefixCache(capacity=100, block_tokens=4)
    first = _tokens(1, 10)  # blocks [0:4], [4:8]; 2 tokens left over
    assert cache.admit(first) == 0
    assert cache.admit(first) == 8  # the partial last block is computed again
    assert cache.admit(first[:7]) == 4  # one full block, the second is cut short
    changed = [*first[:5], "zz", *first[6:]]
    assert cache.admit(changed) == 4  # the second block differs
    assert (cache.queries, cache.hits) == (10 + 10 + 7 + 10, 8 + 4 + 4)


def test_a_block_hits_only_behind_the_same_prefix() -> None:
    cache = PrefixCache(capacity=100, block_tokens=3)
    a, b, c = ["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1", "c2", "c3"]
    cache.admit(a + b)
    assert cache.admit(c + b) == 0  # b is cached, but behind a, not c


def test_lru_evicts_the_least_recently_used_block() -> None:
    cache = PrefixCache(capacity=2, block_tokens=2)
    x, y, z = ["x", "x"], ["y", "y"], ["z", "z"]
    cache.admit(x)
    cache.admit(y)
    cache.admit(x)  # x is now the most recent
    cache.admit(z)  # evicts y
    assert len(cache) == 2
    assert cache.admit(x) == 2
    assert cache.admit(y) == 0


def test_off_counts_queries_and_never_hits() -> None:
    cache = PrefixCache(capacity=0, block_tokens=2)
    assert not cache.enabled
    assert [cache.admit(["a", "b", "c"]) for _ in range(3)] == [0, 0, 0]
    assert (cache.queries, cache.hits, len(cache)) == (9, 0, 0)


def test_a_lookup_not_committed_stores_nothing() -> None:
    cache = PrefixCache(capacity=10, block_tokens=2)
    match = cache.lookup(["a", "b"])
    assert match.cached == 0
    assert cache.queries == 0
    assert cache.lookup(["a", "b"]).cached == 0  # a shed request computed nothing
    cache.commit(match)
    assert cache.lookup(["a", "b"]).cached == 2


@given(st.lists(st.lists(st.sampled_from("abc"), max_size=12), max_size=20))
def test_unbounded_hits_are_the_longest_seen_block_prefix(prompts: list[list[str]]) -> None:
    cache = PrefixCache(capacity=10**9, block_tokens=2)
    seen: set[tuple[str, ...]] = set()
    for p in prompts:
        full = len(p) // 2 * 2
        expected = 0
        while expected < full and tuple(p[: expected + 2]) in seen:
            expected += 2
        assert cache.admit(p) == expected
        seen.update(tuple(p[:k]) for k in range(2, full + 1, 2))


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        PrefixCache(-1)
    with pytest.raises(ValueError, match="block_tokens"):
        PrefixCache(1, block_tokens=0)


# -- the simulated backend's prefill cost -------------------------------------------

CFG = ServerConfig(
    backend="simulated",
    base_ms=2.0,
    per_item_ms=1.0,
    per_prompt_token_ms=0.5,
    max_batch_size=4,
    max_queue_delay_ms=1.0,
)


def test_the_formula_charges_uncached_prompt_tokens() -> None:
    assert batch_seconds(CFG, 2, 30) == pytest.approx((2.0 + 2 * 1.0 + 0.5 * 30) / 1000)
    assert prefill_seconds(CFG, 30) == pytest.approx(0.015)
    # At saturation a batch of 4 with 100 uncached tokens each: 4 / (2 + 4 * 51) ms.
    assert saturation_rps(CFG, uncached_tokens=100) == pytest.approx(4 / 0.206)
    assert saturation_rps(dataclasses.replace(CFG, per_prompt_token_ms=0.0)) == pytest.approx(
        4 / 0.006
    )


@pytest.mark.anyio
async def test_a_cached_prompt_executes_faster_and_streams_after_its_prefill() -> None:
    metrics = ServerMetrics.create(CollectorRegistry(), max_batch_size=4)
    backend = SimulatedBackend(CFG, metrics)
    backend.start(asyncio.get_running_loop())
    prompt = tuple(_tokens(3, 40))
    try:
        times = []
        for cached in (0, 32):
            request = GenerationRequest(prompt, "", max_tokens=4, stream=True, cached_tokens=cached)
            gen = backend.submit(request)
            events: list[object] = []
            while not events or not isinstance(events[-1], Finished):
                events.append(await asyncio.wait_for(gen.next_event(), 10))
            assert isinstance(events[0], Started)
            assert sum(isinstance(e, Token) for e in events) == 4
            fin = events[-1]
            assert isinstance(fin, Finished)
            times.append(fin.inference_s)
    finally:
        await backend.stop()
    assert times == [pytest.approx(batch_seconds(CFG, 1, 40)), batch_seconds(CFG, 1, 8)]


@pytest.mark.anyio
async def test_the_server_counts_queries_and_hits_in_prompt_tokens() -> None:
    config = dataclasses.replace(CFG, per_prompt_token_ms=0.0, prefix_cache_blocks=64)
    long_text = " ".join(_tokens(5, 1100))  # two full 512-token blocks and 76 more
    async with running(config) as (app, client):
        for _ in range(2):
            r = await client.post(
                "/v1/completions",
                json={"model": "summarizer", "prompt": long_text, "max_tokens": 2},
            )
            assert r.status_code == 200
        text = (await client.get("/metrics")).text
    assert "locust_ml_server_prefix_cache_queries_total 2200.0" in text
    assert "locust_ml_server_prefix_cache_hits_total 1024.0" in text
    cache = app.state.server.prefix_cache
    assert (cache.queries, cache.hits, len(cache)) == (2200, 1024, 2)


def test_the_cache_size_option_is_checked() -> None:
    assert ServerConfig(prefix_cache_blocks=0).prefix_cache_blocks == 0
    with pytest.raises(Exception, match="--prefix-cache-blocks"):
        ServerConfig(prefix_cache_blocks=-1)
    with pytest.raises(Exception, match="--per-prompt-token-ms"):
        ServerConfig(per_prompt_token_ms=-0.1)


def test_doctests() -> None:
    import doctest

    from locust_ml.server import config, prefix_cache

    assert doctest.testmod(prefix_cache).failed == 0
    assert doctest.testmod(config).failed == 0
