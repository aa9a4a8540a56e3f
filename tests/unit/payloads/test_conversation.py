"""Conversations: the session's history, the spec's draws, the system-prompt pool."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from locust_ml.config import parse_keys, split_keys
from locust_ml.errors import ConfigError
from locust_ml.options import ConversationSpec
from locust_ml.payloads.conversation import Session, draw_think, draw_turns
from locust_ml.payloads.system_prompts import SystemPromptPool, zipf_weights
from locust_ml.payloads.text import count_tokens


def _spec(text: str) -> ConversationSpec:
    keys = parse_keys(ConversationSpec, split_keys(text, option="--x"), option="--x", what="")
    return ConversationSpec(**keys)


def test_every_turn_sends_the_history_with_the_server_s_answers() -> None:
    s = Session(system="sys")
    first = s.ask("q1")
    s.answered("a1 from the server")
    second = s.ask("q2")
    assert first == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q1"}]
    assert second[:2] == first
    assert second[2:] == [
        {"role": "assistant", "content": "a1 from the server"},
        {"role": "user", "content": "q2"},
    ]
    assert s.turn == 2
    with pytest.raises(RuntimeError, match="no answer yet"):
        s.ask("q3")
    s.answered("a2")
    with pytest.raises(RuntimeError, match="no question"):
        s.answered("a3")


def test_a_session_without_a_system_prompt_starts_with_the_user() -> None:
    assert Session().ask("hi") == [{"role": "user", "content": "hi"}]


def test_the_spec_s_keys_and_draws() -> None:
    spec = _spec("turns=2-5,think=100ms-300ms,system=8,system_tokens=256-512,zipf=1.2")
    assert (spec.turns, spec.think, spec.system, spec.system_tokens) == (
        (2, 5),
        (0.1, 0.3),
        8,
        (256, 512),
    )
    rng = random.Random(1)
    turns = [draw_turns(spec, rng) for _ in range(2000)]
    assert set(turns) == {2, 3, 4, 5}
    thinks = [draw_think(spec, rng) for _ in range(2000)]
    assert min(thinks) >= 0.1
    assert max(thinks) <= 0.3
    assert draw_think(ConversationSpec(), rng) == 1.0
    assert draw_turns(ConversationSpec(), rng) == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("turns=0", "must be > 0"),
        ("turns=5-2", "ends below its start"),
        ("think=fast", "not a duration"),
        ("zipf=-1", "must be >= 0"),
        ("system=1.5", "whole number"),
        ("rounds=3", "no key 'rounds'"),
    ],
)
def test_bad_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec(text)


def test_zipf_popularity_is_what_the_pool_picks() -> None:
    pool = SystemPromptPool(count=5, tokens=(20, 40), zipf=1.0, seed=3)
    rng = random.Random(5)
    picks = Counter(pool.pick(rng) for _ in range(50_000))
    for i, p in enumerate(zipf_weights(5, 1.0)):
        assert picks[i] / 50_000 == pytest.approx(p, abs=0.01)
    flat = SystemPromptPool(count=4, tokens=(10, 10), zipf=0.0, seed=3)
    assert flat.probabilities == (0.25, 0.25, 0.25, 0.25)


def test_pool_texts_are_exact_distinct_and_the_same_in_every_process() -> None:
    pool = SystemPromptPool(count=6, tokens=(50, 300), zipf=1.0, seed=11)
    assert len(pool) == 6
    assert len(set(pool.texts)) == 6
    for i in range(6):
        assert count_tokens(pool.text(i)) == pool.tokens(i)
        assert 50 <= pool.tokens(i) <= 300
    again = SystemPromptPool(count=6, tokens=(50, 300), zipf=1.0, seed=11)
    assert again.texts == pool.texts
    assert SystemPromptPool(count=6, tokens=(50, 300), zipf=1.0, seed=12).texts != pool.texts


def test_bad_pools() -> None:
    with pytest.raises(ValueError, match="count"):
        zipf_weights(0, 1.0)
    with pytest.raises(ValueError, match="exponent"):
        zipf_weights(3, -0.5)
    with pytest.raises(ValueError, match="tokens"):
        SystemPromptPool(count=2, tokens=(0, 5))


@pytest.mark.parametrize("module", ["blocks", "conversation", "datasets", "system_prompts"])
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(f"locust_ml.payloads.{module}")).failed == 0
