"""Conversation users: multi-turn chats that resend their history, as chat clients do.

:class:`ConversationUser` holds a session (:class:`~locust_ml.payloads.conversation.Session`)
per conversation: every turn sends the system prompt, every earlier
question and the server's actual answers, then a new question; after an
answer it thinks (``think``) and asks again, ``turns`` times. A turn that
gets no good answer ends the conversation (a person would give up or start
over). Each request is named ``"<path> turn <k>"``
(:func:`~locust_ml.analysis.turns.turn_name`), so the report (and
Locust's own table) shows latency, TTFT and ITL by turn: on a server with a
prefix cache, TTFT falls after turn 1 although the prompts grow.

What is asked comes from ``--ml-conversation`` (keys over the class's
``conversation`` attribute, see :class:`~locust_ml.options.ConversationSpec`):
generated text of ``--ml-prompt-tokens`` tokens with ``max_tokens`` from
``--ml-output-tokens``, or a dataset's conversations
(:mod:`~locust_ml.payloads.datasets`); each conversation starts with one of
the shared system prompts (:mod:`~locust_ml.payloads.system_prompts`), else
with the class's ``system_prompt``. With ``turns=1`` and a pool of system
prompts it is the shared-prefix workload of independent requests.

**Closed and open loop.** Closed loop: each user runs conversations back
to back. Open loop (``--ml-arrival poisson`` ...): each arrival starts a
conversation, whose later turns follow their think time; every turn's
latency counts from when it was meant to be sent (the arrival for turn 1,
the end of the think time after). The open-loop load is then
conversations per second; requests per second are about that times the
mean number of turns.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
from locust import task

from locust_ml.analysis.turns import turn_name
from locust_ml.config import parse_keys, split_keys
from locust_ml.errors import ConfigError, TraceError
from locust_ml.options import ConversationSpec, MLOptions
from locust_ml.payloads.conversation import Session, draw_think, draw_turns
from locust_ml.payloads.datasets import DatasetConversation, DatasetTurn, read_dataset
from locust_ml.payloads.system_prompts import SystemPromptPool
from locust_ml.plugin.text_users import TextSettings, TextUser
from locust_ml.protocols.base import InferenceResult
from locust_ml.protocols.openai import ChatCompletions

__all__ = ["ConversationUser", "conversation_spec"]


def conversation_spec(cls: type, options: MLOptions) -> ConversationSpec:
    """The class's ``conversation`` keys, ``--ml-conversation``'s on top (ConfigError if bad)."""
    text = str(getattr(cls, "conversation", "") or "")
    where = f"{cls.__name__}.conversation"
    given = parse_keys(ConversationSpec, split_keys(text, option=where), option=where, what="")
    given.update(options.users.conversation or {})
    return ConversationSpec(**given)


@functools.lru_cache(maxsize=8)
def _dataset(path: str, tokenizer: Callable[[str], int] | None) -> tuple[DatasetConversation, ...]:
    """A dataset file, read once per process (a bad one: ConfigError naming the option)."""
    try:
        return read_dataset(path, count=tokenizer)
    except TraceError as exc:
        raise ConfigError(f"--ml-conversation dataset: {exc}") from None


@functools.lru_cache(maxsize=8)
def _pool(
    count: int,
    tokens: tuple[int, int],
    zipf: float,
    seed: int,
    tokenizer: Callable[[str], int] | None,
) -> SystemPromptPool:
    """The shared system prompts, made once per process (the same in every process)."""
    return SystemPromptPool(count=count, tokens=tokens, zipf=zipf, seed=seed, tokenizer=tokenizer)


class ConversationUser(TextUser):
    """Multi-turn chat over ``/v1/chat/completions``, the history resent every turn.

    Set ``conversation`` (``"turns=2-6,think=2s,system=16,system_tokens=2048"``)
    for the class's defaults; ``--ml-conversation`` overrides key by key.
    Streaming (``stream = True`` or ``--ml-stream on``) records TTFT and
    ITL by turn.
    """

    abstract = True
    #: The conversation workload, as ``--ml-conversation`` writes it (keys not given: defaults).
    conversation: ClassVar[str] = ""
    #: Ask the server for exactly max_tokens (the reference server and vLLM honour it).
    extra_body: ClassVar[dict[str, Any]] = {"ignore_eos": True}

    conversation_settings: ConversationSpec

    @classmethod
    def settings_for(cls, options: MLOptions) -> TextSettings:
        """The text settings, after checking the conversation keys and reading the dataset."""
        settings = super().settings_for(options)
        if settings.protocol != "chat":
            raise ConfigError(
                f"{cls.__name__}: conversations need the chat protocol (messages with roles), "
                f"not {settings.protocol!r} (--ml-protocol)"
            )
        spec = conversation_spec(cls, options)
        if spec.dataset:
            _dataset(spec.dataset, cls.tokenizer)
        return settings

    def on_start(self) -> None:
        super().on_start()
        spec = self.conversation_settings = conversation_spec(type(self), self.ml_options)
        tokenizer = type(self).tokenizer
        self._conversations = _dataset(spec.dataset, tokenizer) if spec.dataset else ()
        self._pool = (
            _pool(spec.system, spec.system_tokens, spec.zipf, self.ml_options.seed, tokenizer)
            if spec.system
            else None
        )

    # -- one conversation ------------------------------------------------------
    def _system(self, given: str | None) -> str | None:
        if given:
            return given
        if self._pool is not None:
            return self._pool.text(self._pool.pick(self.rng))
        return self.system_prompt

    def _turns(self) -> tuple[str | None, list[DatasetTurn | None]]:
        """The system prompt and the turns (None: generated) of the next conversation."""
        if self._conversations:
            chosen = self.rng.choice(self._conversations)
            return self._system(chosen.system), list(chosen.turns)
        n = draw_turns(self.conversation_settings, self.rng)
        return self._system(None), [None] * n

    def _question(self, given: DatasetTurn | None) -> tuple[str, int]:
        """A turn's new message and its max_tokens."""
        prompt_tokens, max_tokens = self.lengths()
        if given is None:
            return self.prompts.prompt(prompt_tokens)[0], max_tokens
        return given.text, given.output_tokens or max_tokens

    @task
    def converse(self) -> None:
        """One whole conversation: every turn, thinking between them."""
        self.run_conversation()

    def run_conversation(self) -> list[InferenceResult]:
        """Run one conversation; the answers it got (fewer than its turns if one failed)."""
        system, turns = self._turns()
        session = Session(system)
        api = self.api
        if not isinstance(api, ChatCompletions):  # settings_for refused it; a replaced api
            raise ConfigError(f"{type(self).__name__}: conversations need ChatCompletions")
        base = self.client.request_name or api.path
        answers: list[InferenceResult] = []
        for k, given in enumerate(turns, start=1):
            if k > 1:
                think = draw_think(self.conversation_settings, self.rng)
                if think > 0:
                    gevent.sleep(think)
                self._reschedule(time.time())
            text, max_tokens = self._question(given)
            request_api = api
            if self.min_tokens:
                request_api = dataclasses.replace(
                    api, extra_body={**api.extra_body, "min_tokens": max_tokens}
                )
            request = request_api.request(session.ask(text), max_tokens=max_tokens)
            result = self.send_request(request, api, name=turn_name(base, k))
            if result is None or not result.ok:
                break
            session.answered(result.text or "")
            answers.append(result)
        return answers

    def _reschedule(self, intended: float) -> None:
        """Open loop: a later turn is meant to leave when its think time ends."""
        me = gevent.getcurrent()
        if me in self._intended:
            self._intended[me] = intended
