"""The reference server's prefix cache: an LRU of 512-token prompt blocks.

A serving engine that keeps the KV cache of earlier prompts (vLLM's
automatic prefix caching, SGLang's radix cache) prefills only the part of a
new prompt that no earlier prompt started with. Long shared system
prompts and multi-turn conversations, which resend their whole history
every turn, then cost a fraction of their length. The reference server
models exactly that much, so that a load test of such a workload has a
target whose cache behaviour is known:

* a prompt is cut into blocks of :data:`BLOCK_TOKENS` tokens from its
  start; only **full** blocks are cached (vLLM's rule; a partial last block
  is always computed);
* a block's key is a hash of its tokens *and of the key of the block before
  it*, so a block hits only when the whole prefix up to its end is the same
  (the chained block hash vLLM uses);
* a request's **hits** are its leading blocks found in the cache, stopping
  at the first miss; then every full block of the prompt is inserted (or
  refreshed) as most recently used, and the least recently used blocks are
  evicted beyond ``capacity`` blocks;
* lookup and insertion happen together when the request is admitted to
  the waiting queue (a request shed for a full queue is neither counted
  nor stored), so a request that arrives while an identical one is still
  waiting or running already hits (a real engine shares the blocks being
  computed, or computes them twice: the difference is one prefill, not the
  steady state).

``queries`` and ``hits`` count prompt tokens, as vLLM's
``prefix_cache_queries`` and ``prefix_cache_hits`` do; their ratio is the
token hit rate. The cache holds keys only (no KV tensors): its size is a
number of blocks, as a GPU's KV-cache capacity is.

>>> cache = PrefixCache(capacity=8, block_tokens=2)
>>> cache.admit(["a", "b", "c", "d", "e"])   # 2 full blocks stored, nothing hit
0
>>> cache.admit(["a", "b", "c", "d", "x"])   # both blocks hit
4
>>> cache.admit(["a", "b", "z", "d"])        # the second block's prefix differs
2
>>> cache.queries, cache.hits
(14, 6)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["BLOCK_TOKENS", "Match", "PrefixCache"]

#: Tokens per cached block (the Mooncake traces' block size).
BLOCK_TOKENS: Final = 512


@dataclass(frozen=True)
class Match:
    """What :meth:`PrefixCache.lookup` found for one prompt, to :meth:`~PrefixCache.commit`."""

    #: Prompt tokens in the request, and how many of its leading ones were cached.
    tokens: int
    cached: int
    #: The keys of the prompt's full blocks, in order.
    keys: tuple[int, ...]


class PrefixCache:
    """An LRU cache of prompt-prefix blocks; ``capacity`` 0 turns it off.

    :meth:`lookup` says how many of a prompt's tokens are cached;
    :meth:`commit` then stores its blocks and counts it, once the request is
    admitted (a request shed for a full queue computed nothing). Not
    thread-safe: the server calls both on its event loop, with no ``await``
    between them.
    """

    def __init__(self, capacity: int, block_tokens: int = BLOCK_TOKENS) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 blocks, got {capacity}")
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        self.capacity = capacity
        self.block_tokens = block_tokens
        self._blocks: OrderedDict[int, None] = OrderedDict()
        #: Prompt tokens of committed requests, and how many of them were cached.
        self.queries = 0
        self.hits = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def __len__(self) -> int:
        return len(self._blocks)

    def lookup(self, tokens: Sequence[str]) -> Match:
        """The cached leading blocks of ``tokens`` (none with the cache off)."""
        if not self.capacity:
            return Match(len(tokens), 0, ())
        size = self.block_tokens
        keys: list[int] = []
        parent = 0
        for start in range(0, len(tokens) - size + 1, size):
            parent = hash((parent, tuple(tokens[start : start + size])))
            keys.append(parent)
        blocks = self._blocks
        hit = 0
        while hit < len(keys) and keys[hit] in blocks:
            hit += 1
        return Match(len(tokens), hit * size, tuple(keys))

    def commit(self, match: Match) -> None:
        """Store the prompt's blocks as most recently used, evict beyond capacity, count it."""
        self.queries += match.tokens
        self.hits += match.cached
        blocks = self._blocks
        for k in match.keys:
            blocks[k] = None
            blocks.move_to_end(k)
        while len(blocks) > self.capacity:
            blocks.popitem(last=False)

    def admit(self, tokens: Sequence[str]) -> int:
        """:meth:`lookup` then :meth:`commit`; the number of cached tokens."""
        match = self.lookup(tokens)
        self.commit(match)
        return match.cached
