"""Prompt datasets from your own files: JSONL prompts and ShareGPT-style conversations.

Generated text has the right lengths but not your users' words; a dataset
file has both. Two shapes are read, from a file you name (nothing is
downloaded at run time):

* **JSON Lines of prompts**, one request a line: ``{"prompt": "..."}`` (or
  ``"text"``), optionally with ``"output_tokens"`` (or ``"max_tokens"``) for
  the answer's length::

      {"prompt": "Summarize the meeting notes below ...", "output_tokens": 120}

* **Conversations**, ShareGPT's ``{"conversations": [{"from": "human",
  "value": ...}, {"from": "gpt", "value": ...}, ...]}`` or OpenAI's
  ``{"messages": [{"role": "user", "content": ...}, ...]}``, either as one
  JSON array of such objects (how ShareGPT files ship) or one object a line::

      [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}]

Each conversation becomes its turns: every user message (consecutive ones
joined), with the length of the reply that follows it in the file as that
turn's ``output_tokens``; the replies themselves are not sent, the server's
own answers are (what a chat client does). A ``system`` message becomes the
conversation's system prompt; replies before the first user message are
skipped. So what is sent follows the file: its prompts, its number of
turns, its answer lengths. Lengths are counted with the reference rule, or
your tokenizer when given.

Errors name the file, the line (JSON Lines) or the entry (a JSON array),
and what was expected: one :class:`~locust_ml.errors.TraceError`, before
any load. A whole JSON array is parsed at once (the standard library has
no streaming parser): ShareGPT's 670 MB file needs a few GB of memory;
cut it to the conversations you need first, or convert it to JSON Lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from locust_ml.errors import TraceError
from locust_ml.payloads.text import Tokenizer, count_tokens

__all__ = ["DatasetConversation", "DatasetTurn", "read_dataset"]

_USER: Final = frozenset({"human", "user"})
_ASSISTANT: Final = frozenset({"gpt", "assistant", "chatgpt", "bing", "bard", "model"})
_SYSTEM: Final = frozenset({"system", "developer"})


@dataclass(frozen=True)
class DatasetTurn:
    """One user turn: the text to send, and the reply length the file gives (if any)."""

    text: str
    output_tokens: int | None = None


@dataclass(frozen=True)
class DatasetConversation:
    """A conversation's turns, in order, and its system prompt."""

    turns: tuple[DatasetTurn, ...]
    system: str | None = None


def _output_tokens(doc: Mapping[str, Any], where: str) -> int | None:
    for name in ("output_tokens", "max_tokens"):
        value = doc.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TraceError(f"{where}: {name} is {value!r}; expected a whole number >= 1")
        return value
    return None


def _prompt(doc: Mapping[str, Any], where: str) -> DatasetConversation:
    text = doc.get("prompt", doc.get("text"))
    if not isinstance(text, str) or not text.strip():
        raise TraceError(f"{where}: prompt is {text!r}; expected non-empty text")
    return DatasetConversation((DatasetTurn(text, _output_tokens(doc, where)),))


def _message(item: Any, where: str, keys: tuple[str, str]) -> tuple[str, str]:
    role_key, text_key = keys
    if not isinstance(item, dict):
        raise TraceError(f"{where}: a message is {item!r}; expected an object")
    role, text = item.get(role_key), item.get(text_key)
    if not isinstance(role, str) or not isinstance(text, str):
        raise TraceError(
            f"{where}: a message needs a string {role_key!r} and {text_key!r}, got {item!r:.120}"
        )
    return role.lower(), text


def _conversation(
    messages: Any, where: str, keys: tuple[str, str], count: Tokenizer
) -> DatasetConversation | None:
    if not isinstance(messages, list):
        raise TraceError(f"{where}: expected a list of messages, got {type(messages).__name__}")
    system: str | None = None
    turns: list[DatasetTurn] = []
    asking: list[str] = []
    for item in messages:
        role, text = _message(item, where, keys)
        if role in _SYSTEM:
            system = text if system is None else f"{system}\n{text}"
        elif role in _USER:
            asking.append(text)
        elif role in _ASSISTANT:
            if asking:
                turns.append(DatasetTurn("\n".join(asking), max(count(text), 1)))
                asking = []
        else:
            raise TraceError(f"{where}: unknown role {role!r}; expected human/user, gpt/assistant")
    if asking:
        turns.append(DatasetTurn("\n".join(asking)))
    turns = [t for t in turns if t.text.strip()]
    return DatasetConversation(tuple(turns), system) if turns else None


def _entry(doc: Any, where: str, count: Tokenizer) -> DatasetConversation | None:
    if not isinstance(doc, dict):
        raise TraceError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    if "conversations" in doc:
        return _conversation(doc["conversations"], where, ("from", "value"), count)
    if "messages" in doc:
        return _conversation(doc["messages"], where, ("role", "content"), count)
    if "prompt" in doc or "text" in doc:
        return _prompt(doc, where)
    raise TraceError(
        f"{where}: no prompt, text, conversations or messages; expected a JSONL prompt or a "
        "ShareGPT/OpenAI conversation"
    )


def _docs(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, object)`` for each entry: array items, or JSON Lines."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the dataset ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not UTF-8 text") from None
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise TraceError(f"{path}: not a JSON array ({exc})") from None
        for i, item in enumerate(items, start=1):
            yield f"{path}, entry {i}", item
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            yield where, json.loads(line)
        except ValueError as exc:
            raise TraceError(f"{where}: not JSON ({exc})") from None


def read_dataset(
    path: str | Path, *, count: Tokenizer | None = None, limit: int | None = None
) -> tuple[DatasetConversation, ...]:
    """The conversations of a dataset file (a prompt is a one-turn conversation).

    ``limit`` keeps the first so many; entries without a user message are
    skipped. Raises TraceError for a file that can't be read or an entry of
    the wrong shape, and when nothing usable is left.
    """
    source = Path(path)
    counter = count or count_tokens
    out: list[DatasetConversation] = []
    for where, doc in _docs(source):
        conversation = _entry(doc, where, counter)
        if conversation is not None:
            out.append(conversation)
            if limit is not None and len(out) >= limit:
                break
    if not out:
        raise TraceError(f"{source}: no prompt or conversation with a user message")
    return tuple(out)
