"""The OpenAI-compatible wire format: request validation, responses, errors.

Requests are validated by pydantic models in *strict* mode, so a wrong type is
an error rather than a silent coercion (``"max_tokens": "5"`` is refused, as
the OpenAI API refuses it). Unknown fields are ignored, as vLLM ignores them,
so clients that send ``presence_penalty`` or ``logprobs`` keep working. Every
validation failure becomes **400** with an OpenAI-style error body naming the
parameter, not FastAPI's default 422.

Accepted and ignored (they change nothing here): ``temperature``, ``top_p``,
``stop``, ``user``, ``seed``, ``stream_options.include_usage`` (the usage chunk
is always sent). ``n`` must be 1. ``ignore_eos`` and ``min_tokens`` are vLLM's
extensions that let a load test force the output length.

Streams follow OpenAI's format: one ``data: <json>`` event per generated token,
the last token's chunk carrying ``finish_reason``, then a chunk with
``"choices": []`` and ``usage``, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from locust_ml.server.config import MAX_TOKENS_LIMIT
from locust_ml.server.tokens import flatten

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ApiError",
    "ChatCompletionRequest",
    "CompletionRequest",
    "Usage",
    "chunk",
    "error_body",
    "full_response",
    "parse_request",
    "sse_event",
    "usage_chunk",
]

#: ``max_tokens`` when a request doesn't say.
DEFAULT_MAX_TOKENS = 128

SSE_DONE = b"data: [DONE]\n\n"


class ApiError(Exception):
    """An error answered to the client as OpenAI-style JSON with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {"message", "type", "param", "code"}}``."""
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class StreamOptions(_Strict):
    """``stream_options``: accepted; the usage chunk is sent regardless."""

    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None


class _Params(_Strict):
    model: str
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=1)
    stop: str | list[str] | None = None
    user: str | None = None
    seed: int | None = None
    ignore_eos: bool | None = False
    min_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS_LIMIT)


class TextPart(_Strict):
    """A ``{"type": "text", "text": ...}`` content part; other kinds are refused."""

    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    """One chat message; ``content`` is a string or a list of text parts."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return flatten(part.text for part in self.content)


class ChatCompletionRequest(_Params):
    """``POST /v1/chat/completions``."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS_LIMIT)

    def prompt_text(self) -> str:
        """All messages' content: what prefill runs over."""
        return flatten(m.text for m in self.messages)

    def source_text(self) -> str:
        """The user messages' content: the text to summarize."""
        return flatten(m.text for m in self.messages if m.role == "user")

    def output_limit(self) -> int:
        limit = self.max_completion_tokens or self.max_tokens
        return limit if limit is not None else DEFAULT_MAX_TOKENS


class CompletionRequest(_Params):
    """``POST /v1/completions`` (``prompt`` must be a string)."""

    prompt: str

    def prompt_text(self) -> str:
        return self.prompt

    def source_text(self) -> str:
        return self.prompt

    def output_limit(self) -> int:
        return self.max_tokens if self.max_tokens is not None else DEFAULT_MAX_TOKENS


def parse_request(
    payload: object, model: type[ChatCompletionRequest] | type[CompletionRequest]
) -> ChatCompletionRequest | CompletionRequest:
    """Validate a decoded JSON body; raise :class:`ApiError` (400) naming the field."""
    if not isinstance(payload, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(payload).__name__}")
    try:
        req = model.model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    min_tokens = req.min_tokens or 0
    if min_tokens > req.output_limit():
        raise ApiError(
            400,
            f"min_tokens ({min_tokens}) must be <= max_tokens ({req.output_limit()})",
            param="min_tokens",
        )
    return req


def _validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors(include_url=False)[0]
    loc = [str(part) for part in err["loc"]]
    param = loc[0] if loc else None
    where = ".".join(loc) or "body"
    if param == "n":
        return ApiError(400, f"n: only n=1 is supported, got {err['input']!r}", param="n")
    shown = repr(err.get("input"))
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ApiError(400, f"{where}: {err['msg']} (got {shown})", param=param)


@dataclass(frozen=True)
class Usage:
    """Token counts of one response."""

    prompt_tokens: int
    completion_tokens: int

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class ResponseIds:
    """What every chunk of one response shares: id, creation time, model."""

    id: str
    created: int
    model: str
    chat: bool

    @property
    def object(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    @property
    def chunk_object(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"


def full_response(ids: ResponseIds, text: str, finish_reason: str, usage: Usage) -> dict[str, Any]:
    """A non-streaming response body."""
    choice: dict[str, Any] = {"index": 0}
    if ids.chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    return {
        "id": ids.id,
        "object": ids.object,
        "created": ids.created,
        "model": ids.model,
        "choices": [choice],
        "usage": usage.as_dict(),
    }


def chunk(
    ids: ResponseIds, piece: str, finish_reason: str | None, *, first: bool
) -> dict[str, Any]:
    """One streamed token; the first chat chunk also carries the role."""
    choice: dict[str, Any] = {"index": 0}
    if ids.chat:
        choice["delta"] = {"role": "assistant", "content": piece} if first else {"content": piece}
    else:
        choice["text"] = piece
    choice["logprobs"] = None
    choice["finish_reason"] = finish_reason
    return {
        "id": ids.id,
        "object": ids.chunk_object,
        "created": ids.created,
        "model": ids.model,
        "choices": [choice],
    }


def usage_chunk(ids: ResponseIds, usage: Usage) -> dict[str, Any]:
    """The final chunk of a stream: no choices, the usage."""
    return {
        "id": ids.id,
        "object": ids.chunk_object,
        "created": ids.created,
        "model": ids.model,
        "choices": [],
        "usage": usage.as_dict(),
    }


def sse_event(obj: dict[str, Any]) -> bytes:
    """One server-sent event: ``data: <compact json>`` and a blank line."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
