"""Extractive summarization by TextRank over TF-IDF sentence vectors.

The summarizer backend's *text* comes from here; its *cost* from the dense
model in :mod:`locust_ml.server.models.summarizer`. The algorithm (Mihalcea &
Tarau, 2004, with TF-IDF cosine similarity as the edge weight):

1. Split the text into sentences: a sentence ends at ``.``, ``!`` or ``?``
   (plus closing quotes or brackets) followed by whitespace, or at a line end.
2. Represent each sentence by its TF-IDF vector over lower-cased words, English
   stop words removed; ``idf = ln((1 + n) / (1 + df)) + 1`` (smoothed), rows
   L2-normalised.
3. Build the similarity graph: edge weight = cosine similarity of two
   sentences, no self-loops.
4. Rank by PageRank on that graph (damping 0.85) by power iteration until the
   scores move by less than ``1e-9`` in L1 norm. A sentence similar to nothing
   spreads its score uniformly (the usual dangling-node rule).

The summary is the top-ranked ``k = clamp(ceil(0.2 * n), 1, 3)`` sentences,
shown in their original order. Ties rank the earlier sentence first, so the
result is deterministic.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Summary", "split_sentences", "summarize", "textrank", "tfidf_vectors"]

_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"')\]\u201d]*(?=\s|$)|$)", re.MULTILINE)
_WORD = re.compile(r"\w+")

DAMPING = 0.85
SUMMARY_RATIO = 0.2
MAX_SUMMARY_SENTENCES = 3

# A word list reads better as text than as 130 quoted strings.
_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()  # noqa: SIM905
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Summary:
    """A text's sentences, their TextRank order, and the chosen ones.

    ``ranking`` lists sentence indices best first; ``chosen`` is the summary's
    indices in original order.
    """

    sentences: tuple[str, ...]
    scores: tuple[float, ...]
    ranking: tuple[int, ...]
    chosen: tuple[int, ...]

    @property
    def text(self) -> str:
        """The summary: the chosen sentences joined by spaces."""
        return " ".join(self.sentences[i] for i in self.chosen)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (see the module docstring for the rule)."""
    return [m.group(0).strip() for m in _SENTENCE.finditer(text) if m.group(0).strip()]


def tfidf_vectors(sentences: list[str]) -> FloatArray:
    """Row-normalised TF-IDF matrix (sentences x vocabulary); all-stop-word rows are 0."""
    docs = [[w for w in _WORD.findall(s.lower()) if w not in _STOP_WORDS] for s in sentences]
    vocab: dict[str, int] = {}
    for doc in docs:
        for w in doc:
            vocab.setdefault(w, len(vocab))
    n = len(sentences)
    tf = np.zeros((n, max(len(vocab), 1)), dtype=np.float64)
    for i, doc in enumerate(docs):
        for w in doc:
            tf[i, vocab[w]] += 1.0
    df = np.count_nonzero(tf, axis=0)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    vectors = tf * idf
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: FloatArray = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return out


def textrank(similarity: FloatArray, *, damping: float = DAMPING, tol: float = 1e-9) -> FloatArray:
    """PageRank scores (summing to 1) of the weighted graph ``similarity``."""
    n = similarity.shape[0]
    if n == 0:
        return np.zeros(0)
    weights = np.array(similarity, dtype=np.float64)
    np.fill_diagonal(weights, 0.0)
    out_weight = weights.sum(axis=1, keepdims=True)
    # Row-stochastic transitions; a dangling sentence jumps anywhere.
    transition = np.where(
        out_weight > 0, weights / np.where(out_weight > 0, out_weight, 1.0), 1.0 / n
    )
    scores = np.full(n, 1.0 / n)
    for _ in range(1000):
        updated = (1.0 - damping) / n + damping * (transition.T @ scores)
        delta = float(np.abs(updated - scores).sum())
        scores = updated
        if delta < tol:
            break
    result: FloatArray = scores / scores.sum()
    return result


def summarize(text: str) -> Summary:
    """The TextRank summary of ``text``; an empty Summary when it has no sentences."""
    sentences = split_sentences(text)
    n = len(sentences)
    if n == 0:
        return Summary((), (), (), ())
    vectors = tfidf_vectors(sentences)
    scores = textrank(vectors @ vectors.T)
    # Stable: equal scores keep the earlier sentence first. Scores are rounded so
    # that float noise between equal sentences can't reorder them.
    rounded = np.round(scores, 12)
    ranking = tuple(int(i) for i in sorted(range(n), key=lambda i: (-rounded[i], i)))
    k = min(MAX_SUMMARY_SENTENCES, max(1, math.ceil(SUMMARY_RATIO * n)))
    chosen = tuple(sorted(ranking[:k]))
    return Summary(tuple(sentences), tuple(float(s) for s in scores), ranking, chosen)
