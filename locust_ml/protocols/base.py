"""The two shapes every protocol adapter shares: a request to send, a parsed result.

An adapter is pure: it turns what a user wants to send into an
:class:`HttpRequest` (method, path, headers, body bytes) and turns what came
back (status, headers, body, or a stream's chunks with the times they arrived)
into an :class:`InferenceResult`. It never opens a socket, reads a clock or
imports Locust, so the Locust glue can use any HTTP client, and tests can feed
recorded bodies with fake timestamps.

A result is ``ok`` or it carries an *error class* from
:mod:`locust_ml.analysis.status` and a one-line message. Adapters decide only
what the body says:

* a 2xx whose body is garbage, truncated or the wrong shape is ``invalid``;
* an error object inside a 2xx body (an SSE error event) is classed by what it
  says (see :func:`error_class_from_code`);
* a non-2xx answer gets the class :func:`~locust_ml.analysis.status.classify`
  gives its status code, and the message the server put in its error body,
  so the glue can report ``HTTP 503: queue full`` rather than ``HTTP 503``.
  The glue may override the class (timeouts and connection errors never reach
  an adapter: there is no body to parse).

On failure, the ML fields keep whatever was measured before the failure (a
stream that broke after five tokens has a TTFT); whether to record them is the
glue's decision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from locust_ml.analysis.status import STATUS_CLASSES, classify

__all__ = [
    "HttpRequest",
    "InferenceResult",
    "ResponseParser",
    "error_class_from_code",
    "error_message",
    "header",
    "http_failure",
    "preview",
]

#: Header names whose values never appear in a repr or a message.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One HTTP request, ready to send: ``path`` is joined to the target's base URL.

    ``headers`` include ``Content-Type`` when there is a body. ``stream`` tells
    the glue to read the body incrementally and feed a stream parser.
    ``tokens_in`` is the prompt's token count where the builder knows it (the
    caller passes it; LLM servers report their own count in ``usage``).

    The repr hides credentials, so a request can be logged::

        >>> HttpRequest("POST", "/v1/models", {"Authorization": "Bearer sk-secret"})
        HttpRequest(POST /v1/models, 0 bytes, headers={'Authorization': '<redacted>'})
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: bool = False
    tokens_in: int | None = None

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header, if any."""
        return header(self.headers, "content-type")

    @property
    def bytes_sent(self) -> int:
        """Body size in bytes (what the request costs the network, headers aside)."""
        return len(self.body)

    def __repr__(self) -> str:
        shown = {
            k: ("<redacted>" if k.lower() in _SECRET_HEADERS else v)
            for k, v in self.headers.items()
        }
        return f"HttpRequest({self.method} {self.path}, {len(self.body)} bytes, headers={shown})"


@dataclass(frozen=True)
class InferenceResult:
    """What a response said, in the terms a load test records.

    Times are milliseconds. ``ttft_ms`` runs from the request's start (the
    time the caller gave the stream parser) to the first event carrying
    generated text; ``itl_ms`` holds one gap per later text-carrying event;
    ``latency_ms`` runs from the start to the end of the response when the
    adapter saw it (streams), or as the caller passed it. ``tokens_out`` comes
    from the server's ``usage`` unless ``tokens_estimated`` says it was counted
    from the stream's chunks. ``outputs`` is the decoded payload where the
    protocol has one (v2: a dict of numpy arrays by output name; JSON
    protocols: the parsed document); ``text`` is generated or plain text.
    """

    ok: bool
    error_class: str | None = None
    error: str | None = None
    status: int | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_estimated: bool = False
    ttft_ms: float | None = None
    itl_ms: tuple[float, ...] = ()
    latency_ms: float | None = None
    text: str | None = None
    finish_reason: str | None = None
    outputs: Any = None
    bytes_received: int = 0

    def __post_init__(self) -> None:
        if self.ok and (self.error_class is not None or self.error is not None):
            raise ValueError(f"an ok result has no error, got {self.error_class}: {self.error}")
        if not self.ok and self.error_class not in STATUS_CLASSES[1:]:
            raise ValueError(
                f"error_class must be one of {STATUS_CLASSES[1:]}, got {self.error_class!r}"
            )

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens per second of the whole request: ``tokens_out / latency``."""
        if self.tokens_out is None or not self.latency_ms:
            return None
        return self.tokens_out / (self.latency_ms / 1000.0)

    @property
    def tpot_ms(self) -> float | None:
        """Time per output token after the first: ``(latency - ttft) / (tokens_out - 1)``.

        The per-token decode time, as vLLM's and GuideLLM's benchmarks define
        it; unlike ITL it does not depend on how many tokens a chunk carries.
        """
        if (
            self.ttft_ms is None
            or self.latency_ms is None
            or self.tokens_out is None
            or self.tokens_out < 2
        ):
            return None
        return (self.latency_ms - self.ttft_ms) / (self.tokens_out - 1)


class ResponseParser(Protocol):
    """What every adapter offers the glue for a complete (non-streamed) response."""

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult: ...


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name (HTTP header names are)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for k, v in headers.items():
        if k.lower() == lowered:
            return v
    return None


def preview(body: bytes | bytearray | str, limit: int = 80) -> str:
    """A short, printable excerpt of a body for error messages."""
    text = body if isinstance(body, str) else bytes(body[: limit * 4]).decode("utf-8", "replace")
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def error_message(body: bytes) -> str | None:
    """The message of an error body in any of the common shapes, or None.

    OpenAI / vLLM ``{"error": {"message": ...}}``, KServe v2 ``{"error": "..."}``,
    TorchServe ``{"code", "type", "message"}``, FastAPI ``{"detail": ...}``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    err = doc.get("error")
    if isinstance(err, dict):
        err = err.get("message", err)
    for candidate in (err, doc.get("message"), doc.get("detail")):
        if candidate:
            return str(candidate)
    return None


class _HttpStatusError(Exception):
    """Stands for "the server answered a failure status" when asking ``classify``."""


def http_failure(status: int, body: bytes, *, latency_ms: float | None = None) -> InferenceResult:
    """The result of a non-2xx answer: its class by status, and the server's message."""
    said = error_message(body)
    if said is None:
        said = preview(body) if body else "(empty body)"
    return InferenceResult(
        ok=False,
        error_class=classify(status, _HttpStatusError()),
        error=f"HTTP {status}: {said}",
        status=status,
        latency_ms=latency_ms,
        bytes_received=len(body),
    )


#: Error codes servers put in error objects, mapped to outcome classes.
_CODE_CLASSES: Final = {
    "timeout": "timeout",
    "queue_full": "shed",
    "model_not_ready": "shed",
    "rate_limit_exceeded": "shed",
    "overloaded": "shed",
}


def error_class_from_code(code: object) -> str:
    """The outcome class of an error object found inside a successful answer.

    Streams start with a 200, so a server that fails mid-stream can only say
    so in the body. An integer ``code`` (vLLM puts the HTTP status there) is
    classed as that status would be; a few well-known string codes map by
    name (``timeout`` -> timeout, ``queue_full``/``rate_limit_exceeded`` ->
    shed); anything else is a ``server_error``.

    >>> error_class_from_code(429), error_class_from_code("timeout"), error_class_from_code(None)
    ('shed', 'timeout', 'server_error')
    """
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        return classify(code, _HttpStatusError())
    if isinstance(code, str):
        return _CODE_CLASSES.get(code.lower(), "server_error")
    return "server_error"
