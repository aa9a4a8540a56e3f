"""Text users: OpenAI-compatible chat or completions, lengths drawn from a trace.

:class:`TextUser` sends
``/v1/chat/completions`` or ``/v1/completions``, streamed or not; each
request's prompt length and ``max_tokens`` are drawn jointly from a size
profile (``azure_conv``) or from the token options, and the prompt is
natural-language-like text of exactly that many tokens, cut from text
generated once per process before the test
(:mod:`~locust_ml.payloads.prompt_pool`: microseconds per prompt, where
writing it word by word took ~0.45 ms per 1,000 tokens). The OpenAI adapters
(:mod:`locust_ml.protocols.openai`) build each request and judge each
answer (the request body from a template made once,
:class:`~locust_ml.protocols.openai.PromptRequests`: JSON-encoding a
trace-sized prompt per request cost more than sending it);
:meth:`~locust_ml.plugin.ml_user.MLUser.send_request` sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from locust_ml.errors import ConfigError
from locust_ml.options import MLOptions
from locust_ml.payloads.prompt_pool import PromptSampler, prompt_corpus
from locust_ml.plugin.ml_user import MLUser, load_profile, profile_source
from locust_ml.protocols.base import InferenceResult
from locust_ml.protocols.openai import ChatCompletions, Completions, PromptRequests

__all__ = ["TEXT_PROTOCOLS", "TextSettings", "TextUser"]

TEXT_PROTOCOLS = ("chat", "completions")


@dataclass(frozen=True)
class TextSettings:
    """A text user's class attributes with the command line applied."""

    model: str
    protocol: str
    endpoint: str | None
    stream: bool
    profile: str | None
    prompt_from_profile: bool
    output_from_profile: bool


class TextUser(MLUser):
    """OpenAI-compatible ``/v1/chat/completions`` or ``/v1/completions``, streamed or not.

    Each request's prompt length and ``max_tokens`` are drawn jointly from
    ``profile`` (columns ``prompt_column``, ``output_column``), or from
    ``--ml-prompt-tokens``/``--ml-output-tokens`` without one; an explicit
    token option overrides its column. The prompt is natural-language-like
    text of exactly that many tokens. With ``stream``, the answer is read as
    it arrives and TTFT, ITL and tokens go into the report.

    A response counts as a failure unless the adapter accepts it: a JSON
    ``chat.completion`` (or a complete SSE stream) with non-empty generated
    text; token counts come from ``usage`` when the server sends it.
    """

    abstract = True
    model: ClassVar[str] = "summarizer"
    #: ``chat`` or ``completions`` (``--ml-protocol``).
    protocol: ClassVar[str] = "chat"
    #: Request path instead of the protocol's (``--ml-endpoint``).
    endpoint: ClassVar[str | None] = None
    #: Stream the answer (``--ml-stream on|off``).
    stream: ClassVar[bool] = False
    #: Size profile, bundled name or path (``--ml-profile``); None: the token options.
    profile: ClassVar[str | None] = None
    prompt_column: ClassVar[str] = "ContextTokens"
    output_column: ClassVar[str] = "GeneratedTokens"
    #: Chat only; None sends the user message alone.
    system_prompt: ClassVar[str | None] = "Summarize the user's text in a few sentences."
    #: Extra fields merged into every request body, e.g. ``{"ignore_eos": True}``
    #: (vLLM, the reference server) so the server generates ``max_tokens`` tokens.
    extra_body: ClassVar[dict[str, Any]] = {}
    #: Also send ``min_tokens = max_tokens`` with each request (vLLM, the reference server).
    min_tokens: ClassVar[bool] = False
    #: Sent as ``Authorization: Bearer ...`` (never logged).
    api_key: ClassVar[str | None] = None
    #: Your model's tokenizer, text -> token count (None: the documented counting rule).
    #: Prompt lengths are then that tokenizer's, e.g. with Hugging Face ``tokenizers``:
    #: ``tokenizer = staticmethod(lambda text: len(TOK.encode(text).ids))``.
    tokenizer: ClassVar[Callable[[str], int] | None] = None

    text_settings: TextSettings
    prompts: PromptSampler
    api: ChatCompletions | Completions
    _requests: PromptRequests | None = None

    @classmethod
    def settings_for(cls, options: MLOptions) -> TextSettings:
        """This class's settings under ``options``; ConfigError/TraceError when they don't fit."""
        opts = options.users
        protocol = opts.protocol or cls.protocol
        if protocol not in TEXT_PROTOCOLS:
            raise ConfigError(
                f"{cls.__name__}: protocol {protocol!r} is not a text protocol; "
                f"expected one of {', '.join(TEXT_PROTOCOLS)} (--ml-protocol)"
            )
        source = profile_source(opts.profile, cls.profile)
        prompt_from = source is not None and not opts.prompt_tokens_set
        output_from = source is not None and not opts.output_tokens_set
        if source is not None:
            prof = load_profile(source)
            used = ((cls.prompt_column, prompt_from), (cls.output_column, output_from))
            wanted = [c for c, needed in used if needed and c not in prof.column_names]
            if wanted:
                raise ConfigError(
                    f"{cls.__name__}: profile {prof.name!r} has no column "
                    f"{', '.join(repr(c) for c in wanted)} (it has "
                    f"{', '.join(prof.column_names)}); set prompt_column/output_column, or "
                    "--ml-profile none to use --ml-prompt-tokens/--ml-output-tokens"
                )
        return TextSettings(
            model=opts.model or cls.model,
            protocol=protocol,
            endpoint=opts.endpoint or cls.endpoint,
            stream=cls.stream if opts.stream is None else opts.stream,
            profile=source,
            prompt_from_profile=prompt_from,
            output_from_profile=output_from,
        )

    def on_start(self) -> None:
        super().on_start()
        s = self.text_settings = self.settings_for(self.ml_options)
        self.prompts = PromptSampler(
            prompt_corpus(), self.rng.getrandbits(64), count=type(self).tokenizer
        )
        self._sampler = (
            load_profile(s.profile).sampler(self.rng.getrandbits(63))
            if s.profile is not None and (s.prompt_from_profile or s.output_from_profile)
            else None
        )
        kwargs: dict[str, Any] = {
            "model": s.model,
            "stream": s.stream,
            "extra_body": dict(self.extra_body),
            "api_key": self.api_key,
        }
        if s.endpoint:
            kwargs["path"] = s.endpoint
        self.api = ChatCompletions(**kwargs) if s.protocol == "chat" else Completions(**kwargs)

    def lengths(self) -> tuple[int, int]:
        """``(prompt tokens, max_tokens)`` for the next request."""
        s, opts = self.text_settings, self.ml_options
        row = self._sampler.draw() if self._sampler is not None else None
        prompt = (
            int(row[self.prompt_column])
            if row is not None and s.prompt_from_profile
            else opts.prompt_tokens.sample(self.rng)
        )
        output = (
            int(row[self.output_column])
            if row is not None and s.output_from_profile
            else opts.output_tokens.sample(self.rng)
        )
        return max(prompt, 1), max(output, 1)

    def generate(self, *, name: str | None = None) -> InferenceResult | None:
        """Send one request of sampled lengths; the adapter's result, or None without an answer."""
        prompt_tokens, max_tokens = self.lengths()
        # With a tokenizer, a length it can't hit exactly comes out a token or two short.
        text, prompt_tokens = self.prompts.prompt(prompt_tokens)
        api = self.api
        build = self._requests
        if build is None or build.endpoint is not api:  # made once (again if api was replaced)
            system = self.system_prompt
            self._requests = build = (
                api.prompt_requests(system, min_tokens=self.min_tokens)
                if isinstance(api, ChatCompletions)
                else api.prompt_requests(min_tokens=self.min_tokens)
            )
        request = build(
            text, max_tokens=max_tokens, tokens_in=prompt_tokens, json_safe=self.prompts.json_safe
        )
        return self.send_request(request, api, name=name, tokens_in=prompt_tokens)
