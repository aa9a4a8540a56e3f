"""The summarizer: TextRank picks the central sentence; generation length rules;
the cost model's shapes (behaviour only, never timings)."""

from __future__ import annotations

import numpy as np
import pytest

from locust_ml.server.generation import GenerationRequest
from locust_ml.server.models.summarizer import (
    VOCAB_SIZE,
    SummarizerModel,
    plan_generation,
    token_ids,
)
from locust_ml.server.models.textrank import (
    split_sentences,
    summarize,
    textrank,
    tfidf_vectors,
)
from locust_ml.server.tokens import join_tokens, tokenize

# Sentence 2 shares its content words with every other sentence; the others
# share none with each other, so it is the obvious centre of the graph.
CENTRAL = (
    "Bakers knead dough every morning. "
    "Sailors navigate oceans during storms. "
    "Bakers and sailors and pilots work hard: bakers knead dough, sailors navigate oceans, "
    "pilots fly aircraft. "
    "Pilots fly aircraft across continents."
)


def _request(text: str, **kw: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "prompt_tokens": tuple(tokenize(text)),
        "source_text": text,
        "max_tokens": 128,
    }
    fields.update(kw)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def test_sentence_split() -> None:
    assert split_sentences("One. Two? Three! Pi is 3.14 here.\nNo stop at line end\nLast") == [
        "One.",
        "Two?",
        "Three!",
        "Pi is 3.14 here.",
        "No stop at line end",
        "Last",
    ]
    assert split_sentences("  \n ") == []


def test_tfidf_rows_are_unit_or_zero() -> None:
    vectors = tfidf_vectors(["the cat sat", "the the the", "a dog sat"])
    norms = np.linalg.norm(vectors, axis=1)
    assert norms == pytest.approx([1.0, 0.0, 1.0])  # stop words only -> zero vector


def test_textrank_scores_sum_to_one_and_favour_the_hub() -> None:
    star = np.zeros((5, 5))
    star[0, 1:] = star[1:, 0] = 1.0
    scores = textrank(star)
    assert scores.sum() == pytest.approx(1.0)
    assert int(np.argmax(scores)) == 0
    assert scores[1:] == pytest.approx(np.full(4, scores[1]))


def test_textrank_picks_the_central_sentence() -> None:
    summary = summarize(CENTRAL)
    assert len(summary.sentences) == 4
    assert summary.ranking[0] == 2
    assert summary.chosen == (2,)  # ceil(0.2 * 4) = 1 sentence
    assert summary.text.startswith("Bakers and sailors and pilots")


def test_summary_keeps_original_order_and_is_deterministic() -> None:
    text = " ".join(f"Topic {i % 3} sentence number {i} about topic {i % 3}." for i in range(15))
    a, b = summarize(text), summarize(text)
    assert a == b
    assert len(a.chosen) == 3
    assert list(a.chosen) == sorted(a.chosen)
    assert set(a.chosen) == set(a.ranking[:3])


def test_natural_generation_is_the_summary() -> None:
    plan = plan_generation(_request(CENTRAL))
    assert plan.finish_reason == "stop"
    assert plan.text == join_tokens(tokenize(summarize(CENTRAL).text))
    assert list(plan.tokens) == tokenize(plan.text)


def test_max_tokens_truncates_with_length() -> None:
    plan = plan_generation(_request(CENTRAL, max_tokens=5))
    assert plan.tokens == ("Bakers", "and", "sailors", "and", "pilots")
    assert plan.finish_reason == "length"


@pytest.mark.parametrize("max_tokens", [1, 64, 300])
def test_ignore_eos_generates_exactly_max_tokens(max_tokens: int) -> None:
    plan = plan_generation(_request(CENTRAL, max_tokens=max_tokens, ignore_eos=True))
    assert len(plan.tokens) == max_tokens
    assert plan.finish_reason == "length"
    natural = tokenize(summarize(CENTRAL).text)
    assert list(plan.tokens[: len(natural)]) == natural[:max_tokens]
    if max_tokens == 300:
        # Continues with the next-ranked sentences, then wraps around the ranking.
        ranked_second = tokenize(summarize(CENTRAL).sentences[summarize(CENTRAL).ranking[1]])
        assert list(plan.tokens[len(natural) : len(natural) + len(ranked_second)]) == ranked_second


def test_min_tokens_forces_exact_length() -> None:
    natural = len(tokenize(summarize(CENTRAL).text))
    plan = plan_generation(_request(CENTRAL, min_tokens=natural + 10, max_tokens=200))
    assert len(plan.tokens) == natural + 10
    assert plan.finish_reason == "stop"
    capped = plan_generation(_request(CENTRAL, min_tokens=50, max_tokens=50))
    assert len(capped.tokens) == 50
    assert capped.finish_reason == "length"
    short = plan_generation(_request(CENTRAL, min_tokens=3))
    assert len(short.tokens) == natural  # min_tokens below the natural length changes nothing


def test_empty_text_stops_at_once_unless_forced() -> None:
    assert plan_generation(_request("")).tokens == ()
    assert plan_generation(_request("")).finish_reason == "stop"
    forced = plan_generation(_request("", ignore_eos=True, max_tokens=7))
    assert len(forced.tokens) == 7  # filler words when there is nothing to extract


def test_token_ids_are_stable_and_in_range() -> None:
    ids = token_ids(["hello", "world", "hello", ""])
    assert ids[0] == ids[2]
    assert ids.dtype == np.int64
    assert ((ids >= 0) & (ids < VOCAB_SIZE)).all()
    assert list(ids) == list(token_ids(["hello", "world", "hello", ""]))


def test_cost_model_shapes() -> None:
    model = SummarizerModel(dim=16, layers=3, seed=7)
    assert model.weight_bytes == 4 * 3 * 16 * 16
    with pytest.raises(RuntimeError, match="build"):
        model.decode(["x"])
    model.build()
    other = SummarizerModel(dim=16, layers=3, seed=7)
    other.build()
    assert np.array_equal(model._layers[0], other._layers[0])  # same seed, same weights
    assert all(w.shape == (16, 16) and w.dtype == np.float32 for w in model._layers)
    hidden = model._stack(np.ones((5, 16), dtype=np.float32))
    assert hidden.shape == (5, 16)
    assert np.isfinite(hidden).all()
    # Prefill of many prompts, long ones chunked; decode of 1 and of many sequences.
    model.prefill([_request(CENTRAL * 200), _request(""), _request("one")])
    model.decode(["a"])
    model.decode(["a", "b", "c"])
