"""Prompts of an exact token count cut from pre-generated text, off the request path.

:class:`~locust_ml.payloads.text.PromptGenerator` writes each prompt word
by word: about 0.45 ms per 1,000 tokens, on the request path. At a few
hundred trace-sized prompts per second that is a good share of a core and,
in an open-loop test, of each arrival's send lateness. Images and audio
come from pools built before the test; prompts now do too.

:class:`PromptCorpus` generates one long text once per process (2**17
tokens, ~60 ms) and records where each of its pieces (a word, with the
comma or full stop that follows it) starts and ends, and how many tokens
precede it. A prompt of ``n`` tokens is then one slice of that text: a
random start piece, the end found by bisection on the token counts, and a
trailing punctuation mark dropped when it would be the ``n + 1``-th token
(pieces are one or two tokens, so the first end at or past ``n`` is ``n``
or ``n + 1``). The cost is a bisection and a copy of the prompt's bytes:
microseconds, whatever the length.

The text is the generator's (the same words, Zipf-like frequencies,
sentences and punctuation, and the same token counting rule,
:func:`~locust_ml.payloads.text.count_tokens`), only shared: two prompts
overlap when their ranges do, as requests about the same document would.
A prompt starts at a random word, capitalized. Prompts longer than the
corpus repeat it (whole) and end with a slice. :class:`PromptSampler` is one
user's seeded view, and never gives the same prompt twice in a row.
"""

from __future__ import annotations

import bisect
import functools
import random
from array import array
from typing import Final

from locust_ml.payloads.text import PromptGenerator

__all__ = ["DEFAULT_CORPUS_TOKENS", "PromptCorpus", "PromptSampler", "prompt_corpus"]

#: Tokens in a process's corpus: 128 Ki, ~560 kB of text, built in ~60 ms.
DEFAULT_CORPUS_TOKENS: Final = 1 << 17


class PromptCorpus:
    """A long generated text, and the offsets that cut exact-length prompts from it.

    >>> from locust_ml.payloads.text import count_tokens
    >>> corpus = PromptCorpus(seed=3, tokens=5_000)
    >>> [count_tokens(corpus.cut(start, n)) for start, n in ((0, 1), (17, 250), (900, 4_000))]
    [1, 250, 4000]
    >>> count_tokens(corpus.cut(5, 12_345))  # longer than the corpus: it repeats
    12345
    """

    def __init__(self, seed: int = 0, tokens: int = DEFAULT_CORPUS_TOKENS) -> None:
        if tokens < 2:
            raise ValueError(f"a prompt corpus needs at least 2 tokens, got {tokens}")
        self.text = PromptGenerator(seed).text(tokens)
        #: Tokens in the whole text.
        self.tokens = tokens
        starts, ends, before = array("i"), array("i"), array("i")
        position = counted = 0
        for piece in self.text.split(" "):
            starts.append(position)
            before.append(counted)
            position += len(piece)
            ends.append(position)
            counted += 2 if piece[-1] in ",." else 1
            position += 1  # the space
        if counted != tokens:  # the generator's rule and ours must agree
            raise AssertionError(f"corpus pieces count {counted} tokens, expected {tokens}")
        before.append(counted)
        self._starts, self._ends, self._before = starts, ends, before
        #: Pieces in the text (a prompt starts at one of them).
        self.pieces = len(starts)

    def last_start(self, n_tokens: int) -> int:
        """The last piece a prompt of ``n_tokens`` can start at without running off the end."""
        if n_tokens > self.tokens:
            return self.pieces - 1
        # The last i with before[i] <= tokens - n_tokens.
        return bisect.bisect_right(self._before, self.tokens - n_tokens) - 1

    def cut(self, start: int, n_tokens: int) -> str:
        """The prompt of exactly ``n_tokens`` tokens that starts at piece ``start``.

        ``start`` must be at most :meth:`last_start` for ``n_tokens`` (any
        piece when the prompt is longer than the corpus).
        """
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        if n_tokens > self.tokens - self._before[start]:
            return self._wrapped(start, n_tokens)
        before = self._before
        wanted = before[start] + n_tokens
        # The first piece end at or past the wanted count: pieces [start, stop).
        stop = bisect.bisect_left(before, wanted, lo=start + 1)
        end = self._ends[stop - 1]
        if before[stop] > wanted:  # the last piece's punctuation would be one token too many
            end -= 1
        text = self.text[self._starts[start] : end]
        return text[0].upper() + text[1:]

    def _wrapped(self, start: int, n_tokens: int) -> str:
        """A prompt that doesn't fit after ``start``: the rest of the text, then from the top."""
        head = self.text[self._starts[start] :]
        left = n_tokens - (self.tokens - self._before[start])
        whole, rest = divmod(left, self.tokens)
        parts = [head[0].upper() + head[1:]]
        parts.extend([self.text] * whole)
        if rest:
            parts.append(self.cut(0, rest))
        return " ".join(parts)


@functools.lru_cache(maxsize=4)
def prompt_corpus(seed: int = 0, tokens: int = DEFAULT_CORPUS_TOKENS) -> PromptCorpus:
    """The process's corpus for ``seed`` and size, built on first use and shared."""
    return PromptCorpus(seed, tokens)


class PromptSampler:
    """One user's prompts: random starts in a shared corpus, seeded.

    A drop-in for :class:`~locust_ml.payloads.text.PromptGenerator`'s
    ``text(n)``. Two consecutive prompts are never the same text.

    >>> from locust_ml.payloads.text import count_tokens
    >>> prompts = PromptSampler(PromptCorpus(seed=1, tokens=2_000), seed=9)
    >>> first, second = prompts.text(40), prompts.text(40)
    >>> (count_tokens(first), count_tokens(second), first != second)
    (40, 40, True)
    """

    def __init__(self, corpus: PromptCorpus, seed: int | None = 0) -> None:
        self._corpus = corpus
        self._rng = random.Random(seed)
        self._last: tuple[int, int] = (-1, -1)

    def text(self, n_tokens: int) -> str:
        """A prompt of exactly ``n_tokens`` tokens (``n_tokens >= 1``)."""
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        corpus = self._corpus
        last = corpus.last_start(n_tokens)
        start = self._rng.randint(0, last)
        if (start, n_tokens) == self._last:
            # A neighbouring start: other text, unless the words themselves repeat.
            start = start + 1 if start < last else start - 1 if start > 0 else start
        self._last = (start, n_tokens)
        return corpus.cut(start, n_tokens)
