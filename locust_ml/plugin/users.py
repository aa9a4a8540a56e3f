"""Library base Users: ML-aware, abstract, meant to be subclassed in locustfiles.

All are ``abstract = True``: Locust runs every concrete User class it finds in
a locustfile, imported ones included, so a base class that isn't abstract
would silently join the test.

They use ``FastHttpUser`` (geventhttpclient, ~4x cheaper per request than
``HttpUser``) because ML payloads make the load generator's CPU matter, and
they default to no wait time: in a closed-loop capacity test each user is one
request in flight, and the ramp sets the concurrency.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any, ClassVar

from locust import constant
from locust.contrib.fasthttp import FastHttpUser

from locust_ml.payloads.text import PromptGenerator
from locust_ml.plugin.options import MLOptions, read_options

__all__ = ["ChatCompletionsUser", "MLUser"]

_user_numbers = itertools.count()


class MLUser(FastHttpUser):
    """Base of locust-ml users: options, a per-user seeded RNG.

    Without ``--host`` (and no ``host`` on the class), the plugin starts the
    reference server and points these users at it.
    """

    abstract = True
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    ml_options: MLOptions
    rng: random.Random

    def on_start(self) -> None:
        # Options reach workers with the spawn message, so read them here,
        # not at import or init time.
        self.ml_options = read_options(self.environment.parsed_options)
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) if runner is not None else 0
        # str seeds are hashed with SHA-512 by random.Random: stable across runs.
        self.rng = random.Random(f"{self.ml_options.seed}:{worker}:{next(_user_numbers)}")


class ChatCompletionsUser(MLUser):
    """Sends OpenAI-compatible ``/v1/chat/completions`` requests.

    Prompt and output lengths come from ``--ml-prompt-tokens`` and
    ``--ml-output-tokens``. A response counts as a failure unless it is a 200
    with a JSON body holding a non-empty ``choices[0].message.content`` and a
    ``usage`` block: a load test that counts garbage as success overstates
    capacity.
    """

    abstract = True
    model: ClassVar[str] = "summarizer"
    path: ClassVar[str] = "/v1/chat/completions"
    system_prompt: ClassVar[str] = "Summarize the user's text in a few sentences."
    #: Extra fields merged into every request body (e.g. ``{"ignore_eos": True}``).
    extra_body: ClassVar[dict[str, Any]] = {}

    prompts: PromptGenerator

    def on_start(self) -> None:
        super().on_start()
        self.prompts = PromptGenerator(self.rng.getrandbits(64))

    def request_body(self, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": self.prompts.text(prompt_tokens)},
            ],
            "max_tokens": max_tokens,
            **self.extra_body,
        }

    def chat(self, *, name: str | None = None) -> dict[str, Any] | None:
        """Send one request with sampled lengths; return the parsed body or None."""
        opts = self.ml_options
        body = self.request_body(
            opts.prompt_tokens.sample(self.rng), opts.output_tokens.sample(self.rng)
        )
        with self.client.post(
            self.path, json=body, name=name or self.path, catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
                return None
            try:
                parsed = json.loads(resp.content or b"")
                content = parsed["choices"][0]["message"]["content"]
                usage = parsed["usage"]
            except (ValueError, KeyError, IndexError, TypeError):
                resp.failure("malformed completion body")
                return None
            if not content or not isinstance(usage, dict):
                resp.failure("empty completion")
                return None
            resp.success()
            result: dict[str, Any] = parsed
            return result
