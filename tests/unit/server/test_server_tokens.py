"""The token rule: words and punctuation marks; joining round-trips."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from locust_ml.server.tokens import (
    count_tokens,
    filler_tokens,
    join_tokens,
    token_pieces,
    tokenize,
)


def test_words_and_punctuation_are_tokens() -> None:
    assert tokenize("Hello, world!") == ["Hello", ",", "world", "!"]
    assert count_tokens("Hello, world!") == 4
    assert tokenize("it's 3.14 (approx.)") == [
        "it",
        "'",
        "s",
        "3",
        ".",
        "14",
        "(",
        "approx",
        ".",
        ")",
    ]
    assert count_tokens("") == 0
    assert count_tokens("   \n\t ") == 0


def test_join_is_readable() -> None:
    assert join_tokens(["Hello", ",", "world", "!"]) == "Hello, world!"
    assert join_tokens(["it", "'", "s", "state", "-", "of", "-", "art"]) == "it's state-of-art"
    assert join_tokens(["(", "a", ")", "b", "."]) == "(a) b."


def test_pieces_concatenate_to_the_joined_text() -> None:
    toks = ["Cats", ",", "dogs", "and", "birds", "."]
    assert token_pieces(toks) == ["Cats", ",", " dogs", " and", " birds", "."]
    assert "".join(token_pieces(toks)) == join_tokens(toks)


def test_filler_is_plain_words() -> None:
    toks = filler_tokens(30)
    assert len(toks) == 30
    assert tokenize(join_tokens(toks)) == toks


@given(st.text(max_size=200))
def test_join_round_trips_through_the_tokenizer(text: str) -> None:
    toks = tokenize(text)
    assert tokenize(join_tokens(toks)) == toks
    assert count_tokens(text) == len(toks)
