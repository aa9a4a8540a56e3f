"""Multi-turn conversations: what a chat client sends, turn after turn.

A chat client sends the whole conversation every turn: the system prompt,
every earlier user message and every answer the server actually gave, then
the new message. Each turn's prompt is therefore the previous one plus an
answer and a question, and a server with a prefix cache computes only that
new part; the history is what makes a chat workload cheaper per token (or
dearer per request) than independent prompts of the same lengths.

:class:`~locust_ml.options.ConversationSpec` is the workload
(``--ml-conversation KEYS``):
turns per conversation, think time between an answer and the next
question, the shared system prompts (:mod:`~locust_ml.payloads.system_prompts`)
and an optional dataset (:mod:`~locust_ml.payloads.datasets`). Each new
message's length and each turn's ``max_tokens`` come from the user's token
options (``--ml-prompt-tokens``, ``--ml-output-tokens``), or from the
dataset. :class:`Session` is one conversation's state: it hands out the
messages to send and takes the server's answers. Pure: the Locust glue
(:mod:`locust_ml.plugin.conversation_users`) sends, waits and sleeps.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locust_ml.options import ConversationSpec

__all__ = ["Session", "draw_think", "draw_turns"]


def draw_turns(spec: ConversationSpec, rng: random.Random) -> int:
    """How many turns the next generated conversation has."""
    return rng.randint(*spec.turns)


def draw_think(spec: ConversationSpec, rng: random.Random) -> float:
    """Seconds to wait after an answer before the next turn."""
    low, high = spec.think
    return low if low == high else rng.uniform(low, high)


class Session:
    """One conversation's messages, as the client keeps them.

    >>> s = Session(system="Be brief.")
    >>> s.ask("What is a KV cache?")[-1], s.turn
    ({'role': 'user', 'content': 'What is a KV cache?'}, 1)
    >>> s.answered("Stored attention keys and values.")
    >>> [m["role"] for m in s.ask("Why keep it?")], s.turn
    (['system', 'user', 'assistant', 'user'], 2)
    """

    def __init__(self, system: str | None = None) -> None:
        self._messages: list[dict[str, Any]] = []
        if system:
            self._messages.append({"role": "system", "content": system})
        #: The turn being asked (1 for the first question).
        self.turn = 0
        self._waiting = False

    def ask(self, text: str) -> list[dict[str, Any]]:
        """The messages to send for a new question: the whole history, then ``text``."""
        if self._waiting:
            raise RuntimeError("the previous turn has no answer yet")
        self._messages.append({"role": "user", "content": text})
        self.turn += 1
        self._waiting = True
        return list(self._messages)

    def answered(self, text: str) -> None:
        """The server's answer to the last question: it is part of every later turn."""
        if not self._waiting:
            raise RuntimeError("no question is waiting for an answer")
        self._messages.append({"role": "assistant", "content": text})
        self._waiting = False

    @property
    def messages(self) -> tuple[dict[str, Any], ...]:
        return tuple(self._messages)
