"""The reference server's tokenizer: words and punctuation marks.

A real model's tokenizer (BPE, SentencePiece) is a download and a dependency;
a load tester needs only a rule that is easy to state and to reproduce on the
client side. The rule:

    **a token is a maximal run of word characters (``\\w+``) or a single
    character that is neither a word character nor whitespace (``[^\\w\\s]``).**

So ``"Hello, world!"`` is four tokens: ``Hello`` ``,`` ``world`` ``!``.
``prompt_tokens`` in every ``usage`` block counts the prompt this way, and the
generated text is exactly ``completion_tokens`` such tokens.

Generated tokens are joined "sensibly": a space between two tokens, except
before closing punctuation, after opening brackets, and around the joiners
``'``, ``-`` and ``/``. Because two word tokens are always separated, re-tokenizing
joined text gives back the same tokens (``tokenize(join(toks)) == toks``), so a
client counting the words of a response agrees with the server's ``usage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from locust_ml.payloads.text import TOKEN_PATTERN, count_tokens

__all__ = [
    "FILLER_WORDS",
    "TOKEN_PATTERN",
    "count_tokens",
    "filler_tokens",
    "flatten",
    "join_tokens",
    "token_pieces",
    "tokenize",
]

# The rule itself is shared with the load generator's prompt builder, so both
# sides count tokens identically.

_NO_SPACE_BEFORE = frozenset(".,;:!?%)]}")
_NO_SPACE_AFTER = frozenset("([{$")
_JOINERS = frozenset("'-/\u2019")

#: Words the simulated backend emits, cycled; plain words so each is one token.
FILLER_WORDS = (
    "the",
    "model",
    "returns",
    "a",
    "short",
    "deterministic",
    "filler",
    "text",
    "for",
    "load",
    "testing",
    "only",
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens by the module's rule."""
    return TOKEN_PATTERN.findall(text)


def token_pieces(tokens: Sequence[str]) -> list[str]:
    """Each token with the whitespace that precedes it in the joined text.

    ``"".join(token_pieces(t)) == join_tokens(t)``; a stream sends one piece per
    chunk so that concatenating the deltas gives the non-streaming text.
    """
    pieces: list[str] = []
    prev = ""
    for i, tok in enumerate(tokens):
        if i == 0 or not _needs_space(prev, tok):
            pieces.append(tok)
        else:
            pieces.append(" " + tok)
        prev = tok
    return pieces


def join_tokens(tokens: Sequence[str]) -> str:
    """Tokens joined into readable text (see the module docstring)."""
    return "".join(token_pieces(tokens))


def filler_tokens(n: int, start: int = 0) -> list[str]:
    """``n`` deterministic filler words, starting at position ``start`` of the cycle."""
    k = len(FILLER_WORDS)
    return [FILLER_WORDS[(start + i) % k] for i in range(n)]


def _needs_space(prev: str, tok: str) -> bool:
    if tok in _NO_SPACE_BEFORE or tok in _JOINERS:
        return False
    return not (prev in _NO_SPACE_AFTER or prev in _JOINERS)


def flatten(texts: Iterable[str]) -> str:
    """Texts joined by newlines, skipping empty ones (used for chat messages)."""
    return "\n".join(t for t in texts if t)
