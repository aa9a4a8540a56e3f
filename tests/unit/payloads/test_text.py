from __future__ import annotations

from collections import Counter

import pytest

from locust_ml.payloads.text import PromptGenerator, count_tokens


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 25, 26, 100, 513, 4000])
def test_exact_token_count(n: int) -> None:
    gen = PromptGenerator(seed=n)
    for _ in range(5):
        assert count_tokens(gen.text(n)) == n


def test_seeded_and_varied() -> None:
    a, b = PromptGenerator(seed=1), PromptGenerator(seed=1)
    first = [a.text(200) for _ in range(3)]
    assert first == [b.text(200) for _ in range(3)]
    assert len(set(first)) == 3
    assert PromptGenerator(seed=2).text(200) != first[0]


def test_looks_like_text() -> None:
    text = PromptGenerator(seed=5).text(3000)
    words = [w.lower() for w in text.replace(",", " ").replace(".", " ").split()]
    freq = Counter(words)
    # Zipf-like: many distinct words, the commonest far from dominating.
    assert len(freq) > 150
    assert freq.most_common(1)[0][1] / len(words) < 0.15
    sentences = [s for s in text.split(".") if s.strip()]
    lengths = {len(s.split()) for s in sentences}
    assert len(lengths) > 5
    assert all(s.strip()[0].isupper() for s in sentences)


def test_rejects_zero() -> None:
    with pytest.raises(ValueError, match="n_tokens"):
        PromptGenerator().text(0)
