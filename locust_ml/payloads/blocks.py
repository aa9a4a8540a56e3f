"""Prompts made of fixed blocks: a trace's shared prefixes, reproduced token for token.

A trace with prefix structure (:mod:`~locust_ml.traces.mooncake`) names each
prompt's 512-token blocks by id; two prompts that start with the same ``k``
ids share their first ``k`` blocks. To make a server see exactly that
sharing, every block id gets its own fixed text of exactly
``block_tokens`` tokens, and a prompt is its blocks' texts in order, the
last one cut to the prompt's length. Then two prompts share a prefix of
``k`` whole blocks exactly when their id lists do (different ids give
different texts), and a prefix cache that hashes 512-token blocks
(vLLM's, the reference server's) hits exactly the blocks the trace says.

A block's text is two slices of the process's prompt corpus
(:class:`~locust_ml.payloads.prompt_pool.PromptCorpus`, the same
natural-language-like text in every process), each half a block long, at
starts drawn from a hash of the run's seed and the block id alone: every
process (each worker of a distributed run) writes the same text for the
same id without talking to the others, in microseconds. Two ids get the
same text only if both starts coincide, about one chance in 10^10 per pair
(with one slice it would be one in 10^5: the development trace has 2.4
million pairs of different blocks behind a same prefix). Texts are kept in
an LRU of ``keep`` blocks (the development trace's first 500 requests have
about 11,500 distinct blocks, ~2.5 kB each).

**Token counts.** Under the reference counting rule
(:func:`~locust_ml.payloads.text.count_tokens`, the reference server's) a
block is exactly ``block_tokens`` tokens and blocks joined by a space add
up exactly. With your model's tokenizer (``count``: text -> tokens), each
block is cut so that the tokenizer counts ``block_tokens`` (found by
bisection over the text's words, a dozen calls per new block; a word that
counts as several tokens can leave a block a token short, never over).
BPE tokenizers start a word with its leading space, so joining blocks with
a space keeps the blocks' tokens apart and the prompt's count is their sum
as well, give or take a token where the tokenizer merges across a block
boundary. With a tokenizer a block is written by
:class:`~locust_ml.payloads.text.PromptGenerator` from the same hash (a
quarter of a millisecond) and then cut.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Final

from locust_ml.payloads.prompt_pool import PromptCorpus, prompt_corpus
from locust_ml.payloads.text import TOKEN_PATTERN, PromptGenerator, Tokenizer

__all__ = ["DEFAULT_BLOCK_TOKENS", "BlockTexts"]

#: Tokens per block (the Mooncake traces').
DEFAULT_BLOCK_TOKENS: Final = 512
#: Blocks whose texts are kept, by default.
DEFAULT_KEEP: Final = 16384
#: A custom tokenizer's block is cut from this many rule tokens per wanted token.
_HEADROOM: Final = 2


def _digest(seed: int, block_id: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{block_id}".encode(), digest_size=16).digest()


def _corpus_text(corpus: PromptCorpus, digest: bytes, n_tokens: int) -> str:
    """``n_tokens`` tokens: two corpus slices at starts taken from ``digest``."""
    sizes = [n_tokens // 2, n_tokens - n_tokens // 2] if n_tokens > 1 else [n_tokens]
    parts = []
    for i, size in enumerate(sizes):
        pick = int.from_bytes(digest[8 * i : 8 * i + 8], "big")
        parts.append(corpus.cut(pick % (corpus.last_start(size) + 1), size))
    return " ".join(parts)


def _rule_cut(text: str, n_tokens: int) -> str:
    """The first ``n_tokens`` rule tokens of ``text`` (all of it if it has fewer)."""
    if n_tokens <= 0:
        return ""
    for i, match in enumerate(TOKEN_PATTERN.finditer(text), start=1):
        if i == n_tokens:
            return text[: match.end()]
    return text


class BlockTexts:
    """The text of each block id, and prompts made of blocks.

    >>> from locust_ml.payloads.text import count_tokens
    >>> blocks = BlockTexts(seed=1, block_tokens=8)
    >>> again = BlockTexts(seed=1, block_tokens=8)
    >>> count_tokens(blocks.text(42)), blocks.text(42) == again.text(42)
    (8, True)
    >>> p = blocks.prompt([42, 7], 12)
    >>> count_tokens(p), p.startswith(blocks.text(42) + " ")
    (12, True)
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        block_tokens: int = DEFAULT_BLOCK_TOKENS,
        count: Tokenizer | None = None,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        self.seed = seed
        self.block_tokens = block_tokens
        self._count = count
        self._keep = max(keep, 1)
        self._corpus = prompt_corpus() if count is None else None
        self._texts: OrderedDict[int, str] = OrderedDict()
        #: Blocks written so far (texts found in the LRU are not counted).
        self.written = 0

    def text(self, block_id: int) -> str:
        """Block ``block_id``'s text: ``block_tokens`` tokens, the same in every process."""
        texts = self._texts
        text = texts.get(block_id)
        if text is not None:
            texts.move_to_end(block_id)
            return text
        digest = _digest(self.seed, block_id)
        if self._corpus is not None:
            text = _corpus_text(self._corpus, digest, self.block_tokens)
        else:
            generator = PromptGenerator(int.from_bytes(digest[:8], "big"))
            long = generator.text(self.block_tokens * _HEADROOM + 8)
            text = self._counted_cut(long, self.block_tokens)
        self.written += 1
        texts[block_id] = text
        if len(texts) > self._keep:
            texts.popitem(last=False)
        return text

    def prompt(self, block_ids: Sequence[int], n_tokens: int) -> str:
        """The blocks' texts in order, joined by spaces, cut to ``n_tokens`` tokens.

        ``block_ids`` must cover ``n_tokens`` (``len * block_tokens >=
        n_tokens``); blocks past it are not used.
        """
        size = self.block_tokens
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be >= 1, got {n_tokens}")
        if len(block_ids) * size < n_tokens:
            raise ValueError(
                f"{len(block_ids)} blocks of {size} tokens can't make a {n_tokens}-token prompt"
            )
        whole, rest = divmod(n_tokens, size)
        parts = [self.text(b) for b in block_ids[:whole]]
        if rest:
            last = self.text(block_ids[whole])
            if self._count is None:
                parts.append(_rule_cut(last, rest))
            else:
                parts.append(self._counted_cut(last, rest))
        return " ".join(parts)

    def _counted_cut(self, text: str, n_tokens: int) -> str:
        """The longest word-boundary prefix of ``text`` the tokenizer counts ``<= n_tokens``."""
        count = self._count
        assert count is not None  # noqa: S101 - only called with a tokenizer
        ends = [m.end() for m in TOKEN_PATTERN.finditer(text)]
        low, high = 1, len(ends)  # cut after rule token k: counts rise with k
        best = ends[0] if ends else 0
        while low <= high:
            mid = (low + high) // 2
            got = count(text[: ends[mid - 1]])
            if got == n_tokens:
                return text[: ends[mid - 1]]
            if got < n_tokens:
                best = ends[mid - 1]
                low = mid + 1
            else:
                high = mid - 1
        return text[:best]
