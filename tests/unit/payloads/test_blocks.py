"""Prompts made of fixed blocks: exact lengths, the same text everywhere, the trace's
sharing reproduced exactly in a block-hashing prefix cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from locust_ml.payloads.blocks import BlockTexts
from locust_ml.payloads.text import count_tokens
from locust_ml.server.prefix_cache import PrefixCache
from locust_ml.server.tokens import tokenize
from locust_ml.traces.mooncake import MooncakeRequest, prefix_reuse, read_mooncake

TRACE = Path(__file__).resolve().parents[3] / "data" / "traces" / "mooncake_synthetic_trace.jsonl"


def test_a_block_is_exact_and_the_same_in_every_process() -> None:
    a, b = BlockTexts(seed=3), BlockTexts(seed=3)
    assert count_tokens(a.text(17)) == 512
    assert a.text(17) == b.text(17)
    assert a.text(17) != a.text(18)
    assert BlockTexts(seed=4).text(17) != a.text(17)


@pytest.mark.parametrize("n", [1, 7, 511, 512, 513, 1500, 2048])
def test_a_prompt_has_exactly_its_length(n: int) -> None:
    blocks = BlockTexts(seed=1)
    ids = list(range(100, 100 + (n + 511) // 512))
    assert count_tokens(blocks.prompt(ids, n)) == n


def test_prompts_sharing_ids_share_exactly_those_blocks() -> None:
    blocks = BlockTexts(seed=2, block_tokens=16)
    p = tokenize(blocks.prompt([1, 2, 3], 40))
    q = tokenize(blocks.prompt([1, 2, 9], 40))
    assert p[:32] == q[:32]
    assert p[32:] != q[32:]


def test_the_lru_keeps_a_bounded_number_of_texts() -> None:
    blocks = BlockTexts(seed=0, block_tokens=8, keep=2)
    first = blocks.text(1)
    blocks.text(2)
    blocks.text(3)  # evicts 1
    assert blocks.written == 3
    assert blocks.text(1) == first  # written again, identically
    assert blocks.written == 4


def test_a_custom_tokenizer_counts_each_block_exactly() -> None:
    def chars4(text: str) -> int:  # a tokenizer unlike the rule: ~4 characters a token
        return (len(text) + 3) // 4

    blocks = BlockTexts(seed=5, block_tokens=64, count=chars4)
    for block in range(5):
        assert chars4(blocks.text(block)) in (63, 64)
    assert abs(chars4(blocks.prompt([1, 2, 3], 150)) - 150) <= 3


def test_bad_arguments() -> None:
    blocks = BlockTexts(block_tokens=4)
    with pytest.raises(ValueError, match="can't make"):
        blocks.prompt([1], 5)
    with pytest.raises(ValueError, match="n_tokens"):
        blocks.prompt([1], 0)
    with pytest.raises(ValueError, match="block_tokens"):
        BlockTexts(block_tokens=0)


def test_the_server_cache_hits_what_the_ids_say_on_a_small_trace() -> None:
    # Whole-block hits agree exactly; the ids' rule also counts a partial last
    # block that was seen before (the server computes it again).
    reqs = [
        MooncakeRequest(0, 40, 1, (1, 2, 3)),
        MooncakeRequest(1, 30, 1, (1, 2)),
        MooncakeRequest(2, 48, 1, (1, 2, 3)),
        MooncakeRequest(3, 20, 1, (4, 5)),
        MooncakeRequest(4, 33, 1, (1, 6, 7)),
    ]
    blocks = BlockTexts(seed=9, block_tokens=16)
    cache = PrefixCache(capacity=10**6, block_tokens=16)
    hits = [cache.admit(tokenize(blocks.prompt(r.hash_ids, r.input_length))) for r in reqs]
    assert hits == [0, 16, 32, 0, 16]
    assert prefix_reuse(reqs, block_tokens=16).hits == (0, 30, 48, 0, 16)


def test_the_server_cache_hits_the_trace_s_rate_on_its_first_requests() -> None:
    reqs = read_mooncake(TRACE, limit=40).requests
    blocks = BlockTexts(seed=0)
    cache = PrefixCache(capacity=10**6)
    for r in reqs:
        cache.admit(tokenize(blocks.prompt(r.hash_ids, r.input_length)))
    expected = prefix_reuse(reqs)
    assert cache.queries == expected.prompt_tokens
    assert cache.hits / cache.queries == pytest.approx(expected.rate, abs=0.005)
