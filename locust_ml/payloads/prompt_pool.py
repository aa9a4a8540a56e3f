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

**Your model's tokenizer.** The counting rule is the reference server's;
a model's own tokenizer (BPE, SentencePiece) counts the same text
differently, typically 1.1 - 1.4 of its tokens per rule token for English.
Given ``count`` (text -> that tokenizer's token count), a sampler cuts each
prompt so that ``count(prompt)`` is the requested length: it learns the
ratio of the two counts as it goes, cuts the estimated number of rule
tokens, counts, and corrects by the difference, a few tokenizer calls per
prompt. A tokenizer that turns one more word into several tokens can make
a length unreachable from a start; up to three starts are tried, and
failing those the prompt is the longest one under the length (a token or
two short; for a length of a token or two, the shortest cut may count
over), and :meth:`PromptSampler.prompt` says how long it came out.
"""

from __future__ import annotations

import bisect
import functools
import random
import re
from array import array
from typing import Final

from locust_ml.payloads.text import PromptGenerator, Tokenizer

__all__ = ["DEFAULT_CORPUS_TOKENS", "PromptCorpus", "PromptSampler", "prompt_corpus"]

#: Tokens in a process's corpus: 128 Ki, ~560 kB of text, built in ~60 ms.
DEFAULT_CORPUS_TOKENS: Final = 1 << 17
#: What a JSON string must escape (``"``, ``\\``, control characters).
_JSON_ESCAPED: Final = re.compile(r'["\\\x00-\x1f]')
#: Tokenizer calls at most per search, and starts tried, with a custom tokenizer.
_MAX_COUNTS: Final = 12
_STARTS: Final = 3


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
        #: Whether the text holds nothing JSON must escape (checked once): then no prompt
        #: cut from it does either, and a request body can take it as it is.
        self.json_safe = _JSON_ESCAPED.search(self.text) is None
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

    def __init__(
        self, corpus: PromptCorpus, seed: int | None = 0, *, count: Tokenizer | None = None
    ) -> None:
        self._corpus = corpus
        self._rng = random.Random(seed)
        self._last: tuple[int, int] = (-1, -1)
        self._count = count
        #: Rule tokens per ``count`` token, learned from the prompts cut so far.
        self._ratio = 1.0
        #: Whether every prompt goes into a JSON string as it is (see PromptCorpus).
        self.json_safe = corpus.json_safe

    def text(self, n_tokens: int) -> str:
        """A prompt of ``n_tokens`` tokens (``n_tokens >= 1``); see :meth:`prompt`."""
        return self.prompt(n_tokens)[0]

    def prompt(self, n_tokens: int) -> tuple[str, int]:
        """A prompt of ``n_tokens`` tokens and its length as counted.

        The length is ``n_tokens`` exactly under the counting rule; with a
        ``count`` tokenizer, ``n_tokens`` when the tokenizer allows it, else
        the closest length under it.
        """
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        if self._count is None:
            return self._cut(n_tokens), n_tokens
        return self._counted(n_tokens, self._count)

    def _start(self, rule_tokens: int) -> int:
        corpus = self._corpus
        last = corpus.last_start(rule_tokens)
        start = self._rng.randint(0, last)
        if (start, rule_tokens) == self._last:
            # A neighbouring start: other text, unless the words themselves repeat.
            start = start + 1 if start < last else start - 1 if start > 0 else start
        self._last = (start, rule_tokens)
        return start

    def _cut(self, rule_tokens: int) -> str:
        return self._corpus.cut(self._start(rule_tokens), rule_tokens)

    def _counted(self, n_tokens: int, count: Tokenizer) -> tuple[str, int]:
        """A cut that counts ``n_tokens``, from up to :data:`_STARTS` random starts."""
        tried: list[tuple[str, int]] = []
        for _ in range(_STARTS):
            tried.append(self._search(n_tokens, count))
            if tried[-1][1] == n_tokens:
                break
        # The longest at or under n_tokens; over it (a single word counting more)
        # only when nothing came out under, and then the shortest.
        return min(tried, key=lambda p: (0, n_tokens - p[1]) if p[1] <= n_tokens else (1, p[1]))

    def _search(self, n_tokens: int, count: Tokenizer) -> tuple[str, int]:
        """Search the rule length whose cut counts ``n_tokens``: secant steps, bracketed."""
        corpus = self._corpus
        rule = max(1, round(n_tokens * self._ratio))
        start = self._start(rule)
        under: tuple[int, str, int] | None = None  # the longest cut counting under n_tokens
        over: int | None = None  # the shortest rule length counting over it
        found: tuple[int, str, int] | None = None
        for _ in range(_MAX_COUNTS):
            text = corpus.cut(start, rule)
            got = count(text)
            if got == n_tokens:
                found = (rule, text, got)
                break
            if got < n_tokens:
                if under is None or rule > under[0]:
                    under = (rule, text, got)
            elif over is None or rule < over:
                over = rule
            # The secant step: the difference in rule tokens at the current ratio.
            step = round((n_tokens - got) * rule / max(got, 1)) or (1 if got < n_tokens else -1)
            low = under[0] + 1 if under is not None else 1
            high = over - 1 if over is not None else rule + abs(step)
            if low > high:
                break  # no length between one that counts under and one over
            rule = min(max(rule + step, low), high)
        chosen = found or under
        if chosen is None:  # every cut counted over n_tokens: the shortest one under them
            rule = 1 if over is None else max(1, over - 1)
            text = corpus.cut(start, rule)
            chosen = (rule, text, count(text))
        rule, text, got = chosen
        self._ratio = 0.8 * self._ratio + 0.2 * (rule / max(got, 1))
        return text, got
