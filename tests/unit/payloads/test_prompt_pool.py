from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.payloads.prompt_pool import PromptCorpus, PromptSampler, prompt_corpus
from locust_ml.payloads.text import TOKEN_PATTERN, PromptGenerator, count_tokens

SMALL = PromptCorpus(seed=4, tokens=3_000)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, SMALL.pieces - 1), n=st.integers(1, 9_000))
def test_every_cut_has_exactly_the_tokens_asked_for(start: int, n: int) -> None:
    start = min(start, SMALL.last_start(n))
    text = SMALL.cut(start, n)
    assert count_tokens(text) == n
    assert text[0].isupper()
    assert "  " not in text
    assert text == text.strip()


def test_cuts_are_slices_of_the_generators_text() -> None:
    assert SMALL.text == PromptGenerator(seed=4).text(3_000)
    for start, n in ((0, 50), (SMALL.pieces // 2, 300), (SMALL.last_start(700), 700)):
        cut = SMALL.cut(start, n)
        assert cut[1:] in SMALL.text
    # The last start for n leaves exactly enough text.
    last = SMALL.last_start(700)
    assert count_tokens(SMALL.cut(last, 700)) == 700
    pieces = SMALL.text.split(" ")
    assert count_tokens(" ".join(pieces[last:])) >= 700 > count_tokens(" ".join(pieces[last + 1 :]))


def test_a_prompt_ending_on_punctuation_drops_it_only_when_it_would_be_one_too_many() -> None:
    # Find a piece with a full stop; ask for the prompt that ends just before it.
    pieces = SMALL.text.split(" ")
    k = next(i for i, p in enumerate(pieces) if p.endswith(".") and i > 3)
    through_word = SMALL.cut(0, count_tokens(" ".join(pieces[: k + 1])) - 1)
    assert through_word.endswith(pieces[k][:-1])
    assert not through_word.endswith(".")
    with_stop = SMALL.cut(0, count_tokens(" ".join(pieces[: k + 1])))
    assert with_stop.endswith(pieces[k])


def test_sampler_is_seeded_varied_and_never_repeats_itself() -> None:
    a, b = PromptSampler(SMALL, seed=1), PromptSampler(SMALL, seed=1)
    firsts = [a.text(200) for _ in range(50)]
    assert firsts == [b.text(200) for _ in range(50)]
    assert len(set(firsts)) == 50
    assert PromptSampler(SMALL, seed=2).text(200) != firsts[0]
    # A length with two possible starts: the rng alone would repeat itself often.
    n = next(n for n in range(3_000, 0, -1) if SMALL.last_start(n) == 1)
    tight = PromptSampler(SMALL, seed=3)
    prompts = [tight.text(n) for _ in range(20)]
    assert len(set(prompts)) == 2
    assert all(x != y for x, y in itertools.pairwise(prompts))


def test_sampled_prompts_look_like_the_generators_text() -> None:
    prompts = PromptSampler(prompt_corpus(), seed=8)
    text = " ".join(prompts.text(300) for _ in range(20))
    words = [w.lower() for w in text.replace(",", " ").replace(".", " ").split()]
    freq = Counter(words)
    assert len(freq) > 150
    assert freq.most_common(1)[0][1] / len(words) < 0.15


def test_lengths_drawn_from_a_trace_keep_their_exact_counts() -> None:
    rng = random.Random(0)
    prompts = PromptSampler(prompt_corpus(), seed=0)
    for n in [rng.randint(1, 12_000) for _ in range(200)] + [1, 131_072, 131_073, 300_001]:
        assert count_tokens(prompts.text(n)) == n


def test_bad_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="n_tokens"):
        PromptSampler(SMALL).text(0)
    with pytest.raises(ValueError, match="at least 2"):
        PromptCorpus(tokens=1)


def test_the_corpus_is_built_once_per_process() -> None:
    assert prompt_corpus() is prompt_corpus()
    assert prompt_corpus(seed=1) is not prompt_corpus()


def _word_pieces(text: str) -> int:
    """A BPE-like count: words in pieces of up to 4 characters, punctuation 1 token."""
    return sum(
        max(1, -(-len(w) // 4)) if w[0].isalnum() else 1 for w in TOKEN_PATTERN.findall(text)
    )


def test_a_tokenizer_of_your_own_sets_the_length() -> None:
    calls: list[int] = []

    def count(text: str) -> int:
        calls.append(1)
        return _word_pieces(text)

    prompts = PromptSampler(prompt_corpus(), seed=5, count=count)
    rng = random.Random(1)
    lengths = [rng.randint(1, 6_000) for _ in range(400)]
    outcomes = [prompts.prompt(n) for n in lengths]
    for n, (text, got) in zip(lengths, outcomes, strict=True):
        assert got == _word_pieces(text)  # the length said is the tokenizer's
        assert n - 2 <= got <= n  # a word of several pieces can leave it a token or two short
        assert count_tokens(text) < got  # the rule counts fewer: the cut is not the rule's
    exact = sum(got == n for n, (_, got) in zip(lengths, outcomes, strict=True))
    assert exact >= 0.97 * len(lengths)
    assert len(calls) / len(lengths) < 6  # a few tokenizer calls per prompt
    # text() is the same prompt without its length.
    again = PromptSampler(prompt_corpus(), seed=5, count=_word_pieces)
    assert again.text(lengths[0]) == outcomes[0][0]


def test_a_length_no_cut_can_reach_comes_out_under_it() -> None:
    # Every word counts 3 (a tokenizer that splits each word into three): 10 is unreachable.
    def threes(text: str) -> int:
        return 3 * sum(1 for w in TOKEN_PATTERN.findall(text) if w[0].isalnum()) + sum(
            1 for w in TOKEN_PATTERN.findall(text) if not w[0].isalnum()
        )

    text, got = PromptSampler(SMALL, seed=2, count=threes).prompt(10)
    assert got == threes(text) <= 10
    assert got >= 8
    # For a length under one word's count, the shortest cut: one word.
    text, got = PromptSampler(SMALL, seed=2, count=threes).prompt(1)
    assert (got, len(text.split())) == (3, 1)


def test_prompts_need_no_json_escaping() -> None:
    """A request body takes them as they are (protocols.openai.PromptRequests)."""
    corpus = PromptCorpus(seed=4, tokens=3_000)
    assert corpus.json_safe
    prompts = PromptSampler(corpus, seed=2)
    assert prompts.json_safe
    for n in (1, 17, 400, 2_999, 7_000):  # the last wraps around the corpus
        text = prompts.text(n)
        assert json.dumps(text, ensure_ascii=False) == f'"{text}"'
