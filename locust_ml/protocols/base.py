"""The two shapes every protocol adapter shares: a request to send, a parsed result.

An adapter is pure: it turns what a user wants to send into an
:class:`HttpRequest` (method, path, headers, body) and turns what came
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

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import quote

from locust_ml.analysis.status import STATUS_CLASSES, classify
from locust_ml.errors import ConfigError

__all__ = [
    "BodyParts",
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
_ERROR_CLASSES: Final = frozenset(STATUS_CLASSES[1:])


class BodyParts:
    """A request body held as the buffers it is made of, in order.

    Large bodies are mostly bytes that never change (a pool's encoded image)
    around a few that do (a JSON header, a nonce). Joining them costs a copy
    of the whole body for every request; a sender that can write several
    buffers at once (``socket.sendmsg``) sends the parts as they are. Anything
    else can join them: ``bytes(body)``.

    ``len()`` is the size in bytes, and a ``BodyParts`` equals any bytes-like
    object with the same bytes, so requests built either way compare equal::

        >>> body = BodyParts([b"head:", memoryview(b"image bytes")])
        >>> len(body), bytes(body), body == b"head:image bytes"
        (16, b'head:image bytes', True)
    """

    __slots__ = ("_size", "parts")

    def __init__(self, parts: Iterable[bytes | memoryview]) -> None:
        self.parts: tuple[bytes | memoryview, ...] = tuple(parts)
        self._size = sum(p.nbytes if type(p) is memoryview else len(p) for p in self.parts)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Nothing to rewind: a client that rewinds a body to send it again (after a
        307 redirect) finds it whole. Always 0."""
        return 0

    def prepend(self, *head: bytes) -> BodyParts:
        """This body behind ``head``: a new ``BodyParts``, nothing copied."""
        return BodyParts._made((*head, *self.parts), self._size + sum(map(len, head)))

    @classmethod
    def _made(cls, parts: tuple[bytes | memoryview, ...], size: int) -> BodyParts:
        """A body whose size the caller has already counted (the protocols' fast paths)."""
        body = cls.__new__(cls)
        body.parts = parts
        body._size = size
        return body

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BodyParts | bytes | bytearray | memoryview):
            return bytes(self) == bytes(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        return f"BodyParts({len(self.parts)} parts, {self._size} bytes)"


@dataclass(frozen=True, repr=False)
class HttpRequest:
    """One HTTP request, ready to send: ``path`` is joined to the target's base URL.

    ``headers`` include ``Content-Type`` when there is a body; ``body`` is
    ``bytes``, or :class:`BodyParts` for a large body that a sender can write
    without joining. ``stream`` tells the glue to read the body
    incrementally and feed a stream parser.
    ``tokens_in`` is the prompt's token count where the builder knows it (the
    caller passes it; LLM servers report their own count in ``usage``).

    The repr hides credentials, so a request can be logged::

        >>> HttpRequest("POST", "/v1/models", {"Authorization": "Bearer sk-secret"})
        HttpRequest(POST /v1/models, 0 bytes, headers={'Authorization': '<redacted>'})
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | BodyParts = b""
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
        # Every request makes one of these: the checks stay cheap.
        if self.ok:
            if self.error_class is not None or self.error is not None:
                raise ValueError(f"an ok result has no error, got {self.error_class}: {self.error}")
        elif self.error_class not in _ERROR_CLASSES:
            raise ValueError(
                f"error_class must be one of {STATUS_CLASSES[1:]}, got {self.error_class!r}"
            )

    @classmethod
    def success(
        cls,
        *,
        status: int | None = None,
        latency_ms: float | None = None,
        outputs: Any = None,
        bytes_received: int = 0,
    ) -> InferenceResult:
        """``InferenceResult(ok=True, status=..., ...)``, the rest at their defaults, made faster.

        A load test makes one for every good answer, and the dataclass's
        ``__init__`` (fifteen frozen fields, then the checks) is a visible
        share of a request's cost; an ``ok`` result without an error has
        nothing to check, so this fills the fields in directly.
        """
        result = object.__new__(cls)
        fields = result.__dict__
        fields.update(_SUCCESS)
        fields["status"] = status
        fields["latency_ms"] = latency_ms
        fields["outputs"] = outputs
        fields["bytes_received"] = bytes_received
        return result

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


#: The fields of an ``ok`` result at their defaults (:meth:`InferenceResult.success`).
_SUCCESS: Final[dict[str, Any]] = {
    f.name: f.default for f in dataclasses.fields(InferenceResult)
} | {"ok": True}


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


def check_model(model: str) -> str:
    """``model``, unless it is empty: a path or request would then name no model."""
    if not model:
        raise ConfigError("model must be a non-empty model name")
    return model


def model_path(root: str, model: str, version: str | None, *, versions: str = "versions/") -> str:
    """``{root}/{model}[/{versions}{version}]``, the name and version URL-quoted.

    One rule for the protocols that put a model (and maybe its version) in
    the path: KServe v1 and v2 (``/v1/models/m/versions/2``), TorchServe
    (``/predictions/m/2``, ``versions=""``). An empty model name is a
    :class:`~locust_ml.errors.ConfigError`: the path would name no model.

    >>> model_path("/v2/models", "my model", "2")
    '/v2/models/my%20model/versions/2'
    >>> model_path("/predictions", "m", None, versions="")
    '/predictions/m'
    """
    path = f"{root}/{quote(check_model(model), safe='')}"
    if version:
        path += f"/{versions}{quote(version, safe='')}"
    return path


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value by case-insensitive name (HTTP header names are).

    A mapping that looks names up case-insensitively itself (the Locust
    glue's view of geventhttpclient's headers) says so with a true
    ``case_insensitive`` attribute, and is not scanned for an absent name.
    """
    value = headers.get(name)
    if value is not None or getattr(headers, "case_insensitive", False):
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
