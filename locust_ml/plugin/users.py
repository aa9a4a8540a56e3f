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
import logging
import random
import traceback
from typing import Any, ClassVar

import gevent
from gevent import GreenletExit
from locust import constant
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopTest, StopUser

from locust_ml.errors import ConfigError
from locust_ml.payloads.text import PromptGenerator
from locust_ml.plugin.options import MLOptions, read_options
from locust_ml.plugin.recorder import CONTEXT_KEY

__all__ = ["ChatCompletionsUser", "MLUser"]

_user_numbers = itertools.count()
logger = logging.getLogger("locust_ml")


class MLUser(FastHttpUser):
    """Base of locust-ml users: options, a per-user seeded RNG, closed and open loop.

    Without ``--host`` (and no ``host`` on the class), the plugin starts the
    reference server and points these users at it.

    In an open-loop test (``--ml-arrival poisson`` and friends) the user does
    not loop: it registers with its worker's arrival driver, which runs one of
    its tasks in a new greenlet at each intended send time
    (:meth:`run_arrival`). Tasks must therefore be plain ``@task`` methods or
    functions (not nested TaskSets), and should pass :meth:`ml_context` with
    their requests so latency is measured from the intended send time.
    """

    abstract = True
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0
    #: Connections per user: in open loop one user runs many requests at once.
    concurrency = 256

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

    # -- open loop -------------------------------------------------------------
    def run(self) -> None:  # type: ignore[misc] # final in Locust; open loop must not loop
        from locust_ml.plugin.hooks import driver_for
        from locust_ml.plugin.shapes import effective_arrival

        if not effective_arrival(self.environment).is_open:
            super().run()
            return
        driver = driver_for(self.environment)
        if driver is None:
            raise ConfigError("open-loop users need the locust-ml plugin's arrival driver")
        for task in self.tasks:
            if isinstance(task, type):
                raise ConfigError(
                    f"{type(self).__name__}: open-loop tests run @task methods, not nested "
                    f"TaskSets ({task.__name__})"
                )
        self._intended: dict[Any, float] = {}
        try:
            self.on_start()
            driver.register(self)
            while True:
                gevent.sleep(3600)
        except (GreenletExit, StopUser, StopTest):
            driver.unregister(self)
            self.on_stop()

    def run_arrival(self, intended: float) -> None:
        """Run one task for an arrival meant to start at ``intended`` (epoch seconds)."""
        me = gevent.getcurrent()
        self._intended[me] = intended
        task: Any = self.rng.choice(self.tasks)
        try:
            if hasattr(task, "__self__") and task.__self__ is self:
                task()
            else:
                task(self)
        except (GreenletExit, StopUser, StopTest):
            raise
        except Exception as exc:
            self.environment.events.user_error.fire(
                user_instance=self, exception=exc, tb=exc.__traceback__
            )
            logger.error("%s\n%s", exc, traceback.format_exc())
        finally:
            self._intended.pop(me, None)

    def ml_context(self, **fields: Any) -> dict[str, Any]:
        """The ``context`` to pass with a request: ML fields plus the intended send time.

        Mutate the returned ``["locust_ml"]`` dict inside a ``catch_response``
        block (tokens from the answer, TTFT...) - Locust fires the request
        event with it when the block ends.
        """
        ml: dict[str, Any] = dict(fields)
        intended = getattr(self, "_intended", {}).get(gevent.getcurrent())
        if intended is not None:
            ml["intended"] = intended
        return {CONTEXT_KEY: ml}


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
        prompt_tokens = opts.prompt_tokens.sample(self.rng)
        body = self.request_body(prompt_tokens, opts.output_tokens.sample(self.rng))
        payload = json.dumps(body).encode()
        context = self.ml_context(tokens_in=prompt_tokens, bytes_sent=len(payload))
        with self.client.post(
            self.path,
            data=payload,  # type: ignore[arg-type] # bytes are sent as is
            headers={"Content-Type": "application/json"},
            name=name or self.path,
            catch_response=True,
            context=context,
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
            ml = context[CONTEXT_KEY]
            ml["tokens_in"] = usage.get("prompt_tokens", prompt_tokens)
            ml["tokens_out"] = usage.get("completion_tokens")
            resp.success()
            result: dict[str, Any] = parsed
            return result
