"""A pool of shared system prompts, picked by Zipf popularity.

In production most chat requests start with one of a few long system
prompts (an assistant's instructions, a RAG template, a tool list), and a
handful of them account for most traffic. A server's prefix cache keeps
those prefixes, so its cost per request depends on how they are shared;
a load test that sends a fresh prompt each time measures a different
server. The pool here is that workload's shape: ``count`` prompts whose
lengths are drawn once from ``tokens`` (``(low, high)``, uniform), of which
the ``i``-th most popular is picked with weight ``1 / i ** zipf`` (``zipf``
0: all alike; 1: the classic Zipf law, where at 16 prompts the first takes
30 % of the picks).

The texts depend only on the run's seed, so every user of every process
sends the same prompts: they are shared across the load generator as they
are across a real service's clients. Each is natural-language-like text of
exactly its length under the counting rule, or under ``count`` (your
model's tokenizer) when given (:class:`~locust_ml.payloads.blocks.BlockTexts`
cuts them).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence

from locust_ml.payloads.blocks import BlockTexts
from locust_ml.payloads.text import Tokenizer

__all__ = ["SystemPromptPool", "zipf_weights"]


def zipf_weights(count: int, exponent: float) -> tuple[float, ...]:
    """Pick probabilities of ``count`` items, the ``i``-th (from 1) with weight ``1 / i**s``.

    >>> [round(p, 3) for p in zipf_weights(3, 1.0)]
    [0.545, 0.273, 0.182]
    >>> zipf_weights(2, 0.0)
    (0.5, 0.5)
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if exponent < 0:
        raise ValueError(f"the Zipf exponent must be >= 0, got {exponent}")
    raw = [1.0 / (i**exponent) for i in range(1, count + 1)]
    total = sum(raw)
    return tuple(w / total for w in raw)


class SystemPromptPool:
    """``count`` system prompts and their popularity.

    >>> pool = SystemPromptPool(count=4, tokens=(100, 200), zipf=1.0, seed=7)
    >>> from locust_ml.payloads.text import count_tokens
    >>> all(100 <= count_tokens(pool.text(i)) == pool.tokens(i) <= 200 for i in range(4))
    True
    >>> pool.text(0) == SystemPromptPool(count=4, tokens=(100, 200), zipf=1.0, seed=7).text(0)
    True
    """

    def __init__(
        self,
        *,
        count: int,
        tokens: tuple[int, int],
        zipf: float = 1.0,
        seed: int = 0,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        low, high = tokens
        if not 1 <= low <= high:
            raise ValueError(f"tokens must be 1 <= low <= high, got {tokens}")
        self.probabilities = zipf_weights(count, zipf)
        self._cumulative = tuple(itertools.accumulate(self.probabilities))
        rng = random.Random(f"locust-ml system prompts:{seed}")
        self._lengths = tuple(rng.randint(low, high) for _ in range(count))
        # One block per prompt: block i is prompt i, as long as its length.
        self._texts = tuple(
            BlockTexts(seed=seed, block_tokens=n, count=tokenizer, keep=1).text(-1 - i)
            for i, n in enumerate(self._lengths)
        )

    def __len__(self) -> int:
        return len(self._texts)

    def pick(self, rng: random.Random) -> int:
        """The index of a prompt, drawn by popularity."""
        i = bisect.bisect_left(self._cumulative, rng.random() * self._cumulative[-1])
        return min(i, len(self._texts) - 1)

    def text(self, index: int) -> str:
        return self._texts[index]

    def tokens(self, index: int) -> int:
        """Prompt ``index``'s length in tokens (the counting rule's, or the tokenizer's goal)."""
        return self._lengths[index]

    @property
    def texts(self) -> Sequence[str]:
        return self._texts
