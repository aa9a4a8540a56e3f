"""The summarizer backend: a real extractive summarizer with an LLM-shaped cost.

What it says is real: :mod:`~locust_ml.server.models.textrank` picks the
summary sentences, and the generated tokens are the summary's tokens, one per
decode step.

What it costs is a **cost model made of real compute**, not a language model.
It has the shapes that make LLM serving behave the way it does, and nothing
else:

- **prefill** hashes each prompt token into a vocabulary of 8192 ids, looks them
  up in an embedding table (8192 x d) and runs the (T x d) activations through
  L dense layers, ``relu(X @ W)`` with W of d x d. Its cost grows linearly with
  the prompt length T (about 40 ms for 500 tokens at the defaults on one core
  of a 2020s server CPU). Only the tokens after the prompt's cached prefix
  are computed (:mod:`~locust_ml.server.prefix_cache`): a long shared system
  prompt or a conversation's history costs once, as with vLLM's prefix
  caching.
- **decode** runs one step for the B active sequences: the (B x d) embeddings of
  their previous tokens through the same L layers. Every step is a matrix-matrix
  product that re-reads all the layer weights (9.4 MB at the default d = 768,
  L = 4) whatever B is, so a step's cost grows with B far less than linearly,
  which is why batching pays in real LLM decode. A lone sequence is computed as
  a two-row product (the second row a copy): BLAS libraries switch to a much
  cheaper matrix-vector kernel for one row, which would make a batch of two
  cost several times a batch of one, a discontinuity no GPU has.

The model's outputs are computed and discarded: the tokens come from TextRank.
There is no attention, no KV cache and no output projection, so the decode
cost does not grow with the context length; a real LLM's would, mildly.
Weights are drawn from a fixed seed at startup (no downloads).

**Generation length.** The natural output is the summary; the sequence then
ends (``finish_reason: "stop"``). ``min_tokens`` suppresses the end until that
many tokens are out, and ``ignore_eos`` suppresses it altogether; in both cases
generation continues with the next-ranked sentences (wrapping around the
ranking, and onto filler words if the text has none) and stops at exactly
``max(min_tokens, len(summary))`` tokens, or ``max_tokens``. Whenever
``max_tokens`` is what ends it, ``finish_reason`` is ``"length"``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from locust_ml.server.batcher import ContinuousBatcher
from locust_ml.server.config import ServerConfig
from locust_ml.server.generation import GenerationRequest, Plan
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.models.textrank import summarize
from locust_ml.server.tokens import FILLER_WORDS, tokenize

__all__ = [
    "VOCAB_SIZE",
    "SummarizerModel",
    "build_summarizer_backend",
    "plan_generation",
    "token_ids",
]

#: Size of the hashed vocabulary (rows of the embedding table).
VOCAB_SIZE = 8192
#: Prefill runs in chunks of this many tokens, so memory stays bounded.
PREFILL_CHUNK = 1024
#: Decode steps compute at least this many rows (see the module docstring).
MIN_DECODE_ROWS = 2

Float32Array = npt.NDArray[np.float32]


def token_ids(tokens: Sequence[str]) -> npt.NDArray[np.int64]:
    """Stable vocabulary ids of ``tokens`` (CRC-32 modulo :data:`VOCAB_SIZE`)."""
    return np.fromiter(
        (zlib.crc32(t.encode("utf-8", "surrogatepass")) % VOCAB_SIZE for t in tokens),
        dtype=np.int64,
        count=len(tokens),
    )


def _continuation(
    sentence_tokens: list[list[str]], ranking: Sequence[int], k: int
) -> Iterator[str]:
    """Tokens after the summary: the next-ranked sentences, wrapping; filler if none."""
    order = list(ranking[k:]) + list(ranking)
    if not any(sentence_tokens[i] for i in order):
        while True:
            yield from FILLER_WORDS
    first = True
    while True:
        for i in order if first else ranking:
            yield from sentence_tokens[i]
        first = False


def plan_generation(request: GenerationRequest) -> Plan:
    """The tokens the summarizer generates for ``request`` (see module docstring)."""
    summary = summarize(request.source_text)
    sentence_tokens = [tokenize(s) for s in summary.sentences]
    natural = [t for i in summary.chosen for t in sentence_tokens[i]]
    target = request.max_tokens if request.ignore_eos else max(len(natural), request.min_tokens)
    n = min(target, request.max_tokens)
    finish = "length" if target >= request.max_tokens else "stop"
    tokens = natural[:n]
    if len(tokens) < n:
        more = _continuation(sentence_tokens, summary.ranking, len(summary.chosen))
        tokens.extend(next(more) for _ in range(n - len(tokens)))
    return Plan.of(tokens, finish)


class SummarizerModel:
    """The dense cost model plus the TextRank planner (a ``StepModel``).

    ``build()`` must run before ``prefill``/``decode``; ``weight_bytes`` tells
    how much memory every decode step reads.
    """

    def __init__(self, dim: int = 768, layers: int = 4, seed: int = 0) -> None:
        self.dim = dim
        self.n_layers = layers
        self.seed = seed
        self._embedding: Float32Array | None = None
        self._layers: list[Float32Array] = []

    @property
    def weight_bytes(self) -> int:
        """Bytes of the dense layers: what every decode step reads."""
        return 4 * self.n_layers * self.dim * self.dim

    def build(self) -> None:
        rng = np.random.default_rng(self.seed)
        d = self.dim
        self._embedding = (
            rng.standard_normal((VOCAB_SIZE, d), dtype=np.float32) / np.sqrt(d)
        ).astype(np.float32)
        # He initialisation keeps relu activations at a stable scale through the stack.
        scale = np.float32(np.sqrt(2.0 / d))
        self._layers = [
            rng.standard_normal((d, d), dtype=np.float32) * scale for _ in range(self.n_layers)
        ]

    def plan(self, request: GenerationRequest) -> Plan:
        return plan_generation(request)

    def prefill(self, requests: Sequence[GenerationRequest]) -> None:
        emb = self._weights()
        # The cached prefix is not computed again; at least one token always is.
        ids = np.concatenate(
            [
                token_ids(r.prompt_tokens[r.cached_tokens :] or r.prompt_tokens[-1:] or ("",))
                for r in requests
            ]
        )
        for start in range(0, len(ids), PREFILL_CHUNK):
            self._stack(emb[ids[start : start + PREFILL_CHUNK]])

    def decode(self, last_tokens: Sequence[str]) -> None:
        emb = self._weights()
        ids = token_ids(last_tokens)
        if len(ids) < MIN_DECODE_ROWS:
            ids = np.resize(ids, MIN_DECODE_ROWS)
        self._stack(emb[ids])

    def _weights(self) -> Float32Array:
        if self._embedding is None:
            raise RuntimeError("SummarizerModel.build() must run before inference")
        return self._embedding

    def _stack(self, x: Float32Array) -> Float32Array:
        for w in self._layers:
            x = x @ w
            np.maximum(x, 0.0, out=x)
        return x


def build_summarizer_backend(config: ServerConfig, metrics: ServerMetrics) -> ContinuousBatcher:
    """The summarizer behind a continuous batcher, configured from ``config``."""
    model = SummarizerModel(config.model_dim, config.model_layers, config.seed)
    return ContinuousBatcher(
        model,
        max_batch_size=config.max_batch_size,
        max_queue_delay_s=config.max_queue_delay_ms / 1000.0,
        queue_limit=config.queue_limit,
        metrics=metrics,
    )
