"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/completions``, streamed or not.

vLLM, TGI, SGLang, llama.cpp, Ollama, hosted APIs and our reference server all
speak this API, so one adapter measures them all. Build a request with
:class:`ChatCompletions` or :class:`Completions`; parse a complete answer with
``.parse(...)``, or a stream with ``.stream_parser(started)``, feeding it each
read as it arrives (``feed(chunk, t)``) and calling ``finish(t)`` at the end.

**What a stream measures** (times come from the caller's monotonic clock):

* *TTFT* - from ``started`` (when the request was sent) to the first SSE
  event carrying non-empty generated text (``delta.content`` for chat,
  ``text`` for completions; ``delta.reasoning_content`` / ``delta.reasoning``
  of reasoning models counts as generated). Role-only and empty chunks don't.
* *ITL* - one sample per later text-carrying event: the gap since the
  previous one. An event's time is the time of the read that completed it.
  **One sample per event, not per token**: a server that packs several tokens
  into one chunk yields fewer, longer gaps, and events coalesced into one
  network read yield gaps of 0 - both are what the client experienced. TPOT
  (:attr:`~.base.InferenceResult.tpot_ms`) is the per-token figure.
* *tokens* - ``usage.prompt_tokens`` / ``usage.completion_tokens`` of the last
  event that carried ``usage`` (requested with ``stream_options:
  {"include_usage": true}``; vLLM's ``continuous_usage_stats`` sends it on every
  chunk). Without ``usage``, ``tokens_out`` is the number of text-carrying
  events and ``tokens_estimated`` is true.
* *latency* - from ``started`` to ``data: [DONE]`` (or to ``finish`` if the
  stream failed); output tokens/s is ``tokens_out / latency``.

**What is invalid** (never an exception out of the parser): a body that is
not SSE (the server ignored ``"stream": true``), an event that is not UTF-8
or not a JSON object, a chunk of the wrong shape (``choices`` not a list, a
choice with neither ``delta`` nor ``text``, non-string content, malformed
``usage``), a stream that ends before ``data: [DONE]`` (connection closed,
or closed mid-event), and - unless ``allow_empty`` - a stream or body with no
generated text. An ``{"error": ...}`` event (or vLLM's older ``{"object":
"error"}``, or an SSE ``event: error``) fails the request with the class
:func:`~.base.error_class_from_code` gives its ``code``. Non-streaming bodies
take the same checks; their ``tokens_out`` without ``usage`` is estimated with
the reference tokenizer (:func:`locust_ml.payloads.text.count_tokens`).

Sources: the OpenAI API reference (chat completion chunk object,
``stream_options.include_usage``: a last chunk with ``"choices": []`` and
``usage``), vLLM's OpenAI-compatible server (``ignore_eos``, ``min_tokens``,
``continuous_usage_stats``, ``usage: null`` on intermediate chunks, error
objects with an integer ``code``) and the reference server
(``docs/reference-server.md``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Final

from locust_ml.errors import ConfigError
from locust_ml.payloads.text import count_tokens
from locust_ml.protocols.base import (
    HttpRequest,
    InferenceResult,
    error_class_from_code,
    http_failure,
    preview,
)
from locust_ml.protocols.sse import DEFAULT_MAX_LINE_BYTES, SseDecoder, SseError, SseEvent

__all__ = [
    "ChatCompletions",
    "Completions",
    "PromptRequests",
    "SseStream",
    "models_path",
    "parse_body",
    "parse_models",
    "parse_stream",
]

#: At most this many bytes of an error answer are kept (its message comes first).
_ERROR_BODY_LIMIT: Final = 64 * 1024


def _json_bytes(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def models_path(path: str) -> str:
    """Where an OpenAI-compatible server lists its models, beside a completions ``path``.

    >>> models_path("/v1/chat/completions"), models_path("/openai/v1/completions")
    ('/v1/models', '/openai/v1/models')
    >>> models_path("http://h:8000/v1/chat/completions"), models_path("/generate")
    ('http://h:8000/v1/models', '/v1/models')
    """
    for suffix in ("chat/completions", "completions"):
        if path.endswith("/" + suffix):
            return path[: -len(suffix)] + "models"
    return "/v1/models"


def parse_models(body: bytes) -> tuple[str, ...] | None:
    """The model ids of a ``GET /v1/models`` answer, or None when it is not one.

    The answer is ``{"object": "list", "data": [{"id": "...", ...}, ...]}``
    (OpenAI, vLLM, TGI, llama.cpp, the reference server).

    >>> parse_models(b'{"object": "list", "data": [{"id": "a"}, {"id": "b"}]}')
    ('a', 'b')
    >>> parse_models(b'<html>not found</html>') is None
    True
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return None
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    return tuple(i for i in ids if isinstance(i, str) and i)


@dataclass(frozen=True)
class _Endpoint:
    model: str
    path: str = ""
    stream: bool = False
    include_usage: bool = True
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    allow_empty: bool = False

    chat: ClassVar[bool]

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model must be a non-empty string (the server's model id)")
        if self.api_key is not None and (
            not self.api_key or any(c in self.api_key for c in "\r\n")
        ):
            raise ConfigError("api_key must be a non-empty string without line breaks")
        # Every request of a kind carries the same headers: one read-only mapping each.
        for streaming in (False, True):
            headers = {
                "Content-Type": "application/json",
                "Accept": "text/event-stream" if streaming else "application/json",
            }
            if self.api_key is not None:
                headers["Authorization"] = f"Bearer {self.api_key}"
            object.__setattr__(self, f"_headers_{streaming}", MappingProxyType(headers))

    def _request(
        self,
        body: dict[str, Any],
        max_tokens: int | None,
        tokens_in: int | None,
        stream: bool | None,
    ) -> HttpRequest:
        streaming = self.stream if stream is None else stream
        if max_tokens is not None:
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
                raise ConfigError(f"max_tokens must be a positive int, got {max_tokens!r}")
            body["max_tokens"] = max_tokens
        if streaming:
            body["stream"] = True
            if self.include_usage:
                body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        headers: Mapping[str, str] = getattr(self, f"_headers_{streaming}")
        return HttpRequest(
            "POST", self.path, headers, _json_bytes(body), stream=streaming, tokens_in=tokens_in
        )

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        """Parse a complete (non-streamed) answer; see :func:`parse_body`."""
        del headers  # the body says everything
        if not 200 <= status < 300:
            return http_failure(status, body, latency_ms=latency_ms)
        return parse_body(body, chat=self.chat, allow_empty=self.allow_empty, latency_ms=latency_ms)

    def stream_parser(self, started: float, *, status: int = 200) -> SseStream:
        """A parser for one streamed answer to a request sent at ``started``."""
        return SseStream(started, status=status, allow_empty=self.allow_empty)


@dataclass(frozen=True)
class ChatCompletions(_Endpoint):
    """``POST /v1/chat/completions``.

    >>> api = ChatCompletions("summarizer", stream=True, extra_body={"ignore_eos": True})
    >>> req = api.request("Summarize: ...", max_tokens=8)
    >>> req.path, req.stream, json.loads(req.body)["stream_options"]
    ('/v1/chat/completions', True, {'include_usage': True})

    ``extra_body`` is merged last, so it can add or override any field.
    ``api_key`` becomes an ``Authorization: Bearer`` header and never appears in
    a repr.
    """

    path: str = "/v1/chat/completions"
    chat: ClassVar[bool] = True

    def request(
        self,
        messages: str | Sequence[Mapping[str, Any]],
        *,
        max_tokens: int | None = None,
        tokens_in: int | None = None,
        stream: bool | None = None,
    ) -> HttpRequest:
        """A request for ``messages`` (a string is one user message)."""
        if isinstance(messages, str):
            msgs: list[Any] = [{"role": "user", "content": messages}]
        else:
            msgs = [dict(m) for m in messages]
            if not msgs:
                raise ConfigError("messages must not be empty")
        body: dict[str, Any] = {"model": self.model, "messages": msgs}
        return self._request(body, max_tokens, tokens_in, stream)

    def prompt_requests(
        self, system_prompt: str | None = None, *, min_tokens: bool = False
    ) -> PromptRequests:
        """A builder of requests whose one user message is a prompt (see :class:`PromptRequests`).

        ``system_prompt`` comes first when given; ``min_tokens`` also sends
        ``min_tokens = max_tokens`` (vLLM, the reference server).
        """
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []

        def build(endpoint: _Endpoint, prompt: str, max_tokens: int) -> HttpRequest:
            messages = [*system, {"role": "user", "content": prompt}]
            return endpoint.request(messages, max_tokens=max_tokens)  # type: ignore[attr-defined, no-any-return]

        return PromptRequests(self, build, min_tokens=min_tokens)


@dataclass(frozen=True)
class Completions(_Endpoint):
    """``POST /v1/completions`` (a text prompt).

    >>> Completions("m").request("Once upon a time", max_tokens=4).body
    b'{"model":"m","prompt":"Once upon a time","max_tokens":4}'
    """

    path: str = "/v1/completions"
    chat: ClassVar[bool] = False

    def request(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        tokens_in: int | None = None,
        stream: bool | None = None,
    ) -> HttpRequest:
        """A request completing ``prompt``."""
        if not isinstance(prompt, str):
            raise ConfigError(f"prompt must be a str, got {type(prompt).__name__}")
        return self._request({"model": self.model, "prompt": prompt}, max_tokens, tokens_in, stream)

    def prompt_requests(self, *, min_tokens: bool = False) -> PromptRequests:
        """A builder of requests completing a prompt (see :class:`PromptRequests`)."""

        def build(endpoint: _Endpoint, prompt: str, max_tokens: int) -> HttpRequest:
            return endpoint.request(prompt, max_tokens=max_tokens)  # type: ignore[attr-defined, no-any-return]

        return PromptRequests(self, build, min_tokens=min_tokens)


#: Stand-ins for the prompt and the token counts while a template is made.
_PROMPT_MARK: Final = "\x00prompt\x01"
_TOKENS_MARK: Final = 1_987_654_321_123


class PromptRequests:
    """Requests that each carry one prompt and a ``max_tokens``: the load test's path.

    A load generator sends thousands of these a second, alike but for the
    prompt and the token count. :meth:`ChatCompletions.request` encodes the
    whole document each time, and JSON-encoding a trace-sized prompt (a few
    kilobytes) costs more than sending it. Here the body is a template made
    once (the same bytes ``request`` gives: a test compares them), cut where
    the prompt and the token counts go, and the headers one shared read-only
    mapping. A prompt the caller knows needs no escaping (``json_safe``: no
    ``"``, ``\\`` or control character, as in a prompt cut from
    :class:`~locust_ml.payloads.prompt_pool.PromptCorpus`, whose text was
    checked once) goes in as its UTF-8 bytes; any other is JSON-encoded
    alone. An ``extra_body`` that replaces the messages or the
    prompt leaves no place for them: every request is then built by
    ``request``.

    >>> build = Completions("m").prompt_requests()
    >>> build("Once upon a time", max_tokens=5, json_safe=True).body
    b'{"model":"m","prompt":"Once upon a time","max_tokens":5}'
    """

    def __init__(self, endpoint: _Endpoint, build: Any, *, min_tokens: bool = False) -> None:
        self.endpoint = endpoint
        self.min_tokens = min_tokens
        self._build = build
        probe = self._slow(_PROMPT_MARK, _TOKENS_MARK)
        self.path, self.stream, self.headers = probe.path, probe.stream, probe.headers
        prompt, tokens = _json_bytes(_PROMPT_MARK), b"%d" % _TOKENS_MARK
        pieces = re.split(b"(" + re.escape(prompt) + b"|" + tokens + b")", bytes(probe.body))
        #: The body between the marks, and which mark each gap is (True: the prompt).
        self._pieces = pieces[0::2]
        self._slots = [mark == prompt for mark in pieces[1::2]]
        self._template = False
        if self._slots.count(True) == 1:
            self._template = True  # if it makes what request() makes
            self._template = self('Te"st', max_tokens=7).body == self._slow('Te"st', 7).body

    def _slow(self, prompt: str, max_tokens: int) -> HttpRequest:
        """The request as the endpoint's ``request`` builds it."""
        endpoint = self.endpoint
        if self.min_tokens:
            extra = {**endpoint.extra_body, "min_tokens": max_tokens}
            endpoint = replace(endpoint, extra_body=extra)
        request: HttpRequest = self._build(endpoint, prompt, max_tokens)
        return request

    def __call__(
        self,
        prompt: str,
        *,
        max_tokens: int,
        tokens_in: int | None = None,
        json_safe: bool = False,
    ) -> HttpRequest:
        """The request for ``prompt`` asking for up to ``max_tokens`` tokens.

        ``json_safe``: the caller knows ``prompt`` holds no ``"``, ``\\`` or
        control character (else the body is not JSON).
        """
        if type(max_tokens) is not int or max_tokens < 1:
            raise ConfigError(f"max_tokens must be a positive int, got {max_tokens!r}")
        if not self._template:
            return replace(self._slow(prompt, max_tokens), tokens_in=tokens_in)
        text = b'"%s"' % prompt.encode() if json_safe else _json_bytes(prompt)
        tokens = b"%d" % max_tokens
        pieces = self._pieces
        parts = [pieces[0]]
        for i, is_prompt in enumerate(self._slots):
            parts.append(text if is_prompt else tokens)
            parts.append(pieces[i + 1])
        return HttpRequest(
            "POST",
            self.path,
            self.headers,
            b"".join(parts),
            stream=self.stream,
            tokens_in=tokens_in,
        )


class _Invalid(Exception):
    """A body or event that isn't what the protocol promises (internal control flow)."""


class _ErrorObject(Exception):
    """The server reported an error inside a 2xx body."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def _usage(doc: Mapping[str, Any]) -> tuple[int | None, int | None] | None:
    """``(prompt_tokens, completion_tokens)`` from ``doc["usage"]``; None if absent/null."""
    usage = doc.get("usage")
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise _Invalid(f"usage is a {type(usage).__name__}, expected an object")
    counts: list[int | None] = []
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise _Invalid(f"usage.{key} is {value!r}, expected a non-negative int")
        counts.append(value)
    return counts[0], counts[1]


def _check_error(doc: Mapping[str, Any]) -> None:
    """Raise :class:`_ErrorObject` for ``{"error": ...}`` or vLLM's ``{"object": "error"}``."""
    err = doc.get("error")
    if err is None and doc.get("object") == "error":
        err = doc
    if err is None:
        return
    if isinstance(err, dict):
        message = err.get("message") or err.get("type") or json.dumps(err)[:200]
        code = err.get("code")
    else:
        message, code = err, None
    raise _ErrorObject(error_class_from_code(code), str(message))


def _piece(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"{where} is a {type(value).__name__}, expected a string")
    return value


def _choice_text(choice: object, chat: bool | None) -> tuple[str, str, object, int]:
    """``(text, reasoning, finish_reason, index)`` of one choice; ``chat`` None: either shape."""
    if not isinstance(choice, dict):
        raise _Invalid(f"a choice is a {type(choice).__name__}, expected an object")
    index = choice.get("index", 0)
    finish = choice.get("finish_reason")
    if chat is not False and "delta" in choice:
        delta = choice["delta"]
        if delta is None:
            return "", "", finish, index
        if not isinstance(delta, dict):
            raise _Invalid(f"delta is a {type(delta).__name__}, expected an object")
        reasoning = _piece(delta.get("reasoning_content"), "delta.reasoning_content") or _piece(
            delta.get("reasoning"), "delta.reasoning"
        )
        return _piece(delta.get("content"), "delta.content"), reasoning, finish, index
    if chat is not False and "message" in choice:
        message = choice["message"]
        if not isinstance(message, dict):
            raise _Invalid(f"message is a {type(message).__name__}, expected an object")
        reasoning = _piece(message.get("reasoning_content"), "message.reasoning_content")
        return _piece(message.get("content"), "message.content"), reasoning, finish, index
    if chat is not True and "text" in choice:
        return _piece(choice["text"], "text"), "", finish, index
    expected = {True: "message", False: "text", None: "delta or text"}[chat]
    raise _Invalid(f"a choice has no {expected} (keys: {sorted(choice)})")


def parse_body(
    body: bytes,
    *,
    chat: bool,
    allow_empty: bool = False,
    latency_ms: float | None = None,
    status: int = 200,
) -> InferenceResult:
    """Parse a non-streamed ``chat.completion`` (``chat``) or ``text_completion`` body."""
    try:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Invalid(f"body is not JSON ({exc}): {preview(body)}") from None
        if not isinstance(doc, dict):
            raise _Invalid(f"body is a JSON {type(doc).__name__}, expected an object")
        _check_error(doc)
        choices = doc.get("choices")
        if not isinstance(choices, list) or not choices:
            raise _Invalid(f"choices is {preview(json.dumps(choices))}, expected a non-empty list")
        text, _, finish, _ = _choice_text(choices[0], chat)
        usage = _usage(doc)
    except _Invalid as exc:
        return _failed("invalid", str(exc), status, latency_ms, len(body))
    except _ErrorObject as exc:
        return _failed(exc.error_class, f"error object: {exc}", status, latency_ms, len(body))
    if not text and not allow_empty:
        return _failed(
            "invalid", f"empty completion (finish_reason={finish!r})", status, latency_ms, len(body)
        )
    tokens_in, tokens_out = usage if usage is not None else (None, None)
    estimated = tokens_out is None
    return InferenceResult(
        ok=True,
        status=status,
        tokens_in=tokens_in,
        tokens_out=count_tokens(text) if estimated else tokens_out,
        tokens_estimated=estimated,
        latency_ms=latency_ms,
        text=text,
        finish_reason=None if finish is None else str(finish),
        bytes_received=len(body),
    )


def _failed(
    error_class: str, message: str, status: int, latency_ms: float | None, size: int
) -> InferenceResult:
    return InferenceResult(
        ok=False,
        error_class=error_class,
        error=message,
        status=status,
        latency_ms=latency_ms,
        bytes_received=size,
    )


class SseStream:
    """Incremental parser of one streamed completion (see the module docstring).

    ``started`` is when the request was sent, on the clock that timestamps the
    reads. Feed every read with :meth:`feed`, then call :meth:`finish` once the
    body has ended (or the connection closed); it returns the result and is
    idempotent. Nothing here raises on bad input: a broken stream becomes an
    ``invalid`` (or error-classed) result. With a non-2xx ``status`` the body
    is kept (up to 64 KiB) and :meth:`finish` reports the server's error.

    >>> s = SseStream(started=10.0)
    >>> s.feed(b'data: {"choices":[{"delta":{"content":"Hi"}}]}\\n\\n', 10.05)
    >>> s.feed(b'data: {"choices":[{"delta":{"content":"!"}}]}\\n\\ndata: [DONE]\\n\\n', 10.07)
    >>> r = s.finish(10.08)
    >>> r.ok, r.text, round(r.ttft_ms), [round(x) for x in r.itl_ms], r.tokens_estimated
    (True, 'Hi!', 50, [20], True)
    """

    def __init__(
        self,
        started: float,
        *,
        status: int = 200,
        allow_empty: bool = False,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        self.started = started
        self.status = status
        self.allow_empty = allow_empty
        self._decoder = SseDecoder(max_line_bytes)
        self._error_body = bytearray()
        self.bytes_received = 0
        self.events = 0
        """SSE events with data seen so far ([DONE] included)."""
        self.done = False
        """Whether ``data: [DONE]`` has arrived (the glue may stop reading)."""
        self._done_t: float | None = None
        self._choice_events = 0
        self._text: list[str] = []
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._itl: list[float] = []
        self._content_events = 0
        self._usage: tuple[int | None, int | None] | None = None
        self._finish_reason: str | None = None
        self._failure: tuple[str, str] | None = None
        self._result: InferenceResult | None = None

    @property
    def failed(self) -> bool:
        """Whether the stream has already failed (the rest of it will be ignored)."""
        return self._failure is not None

    def feed(self, chunk: bytes, t: float) -> None:
        """One read of the body, received at time ``t``."""
        self.bytes_received += len(chunk)
        if self._result is not None or self._failure is not None or self.done:
            return
        if not 200 <= self.status < 300:
            room = _ERROR_BODY_LIMIT - len(self._error_body)
            self._error_body += chunk[: max(room, 0)]
            return
        try:
            events = self._decoder.feed(chunk)
        except SseError as exc:
            self._fail("invalid", f"{exc}: {preview(self._decoder.tail)}")
            return
        self._events(events, t)

    def _events(self, events: Iterable[SseEvent], t: float) -> None:
        for event in events:
            try:
                self._event(event, t)
            except _Invalid as exc:
                self._fail("invalid", f"event {self.events}: {exc}")
            except _ErrorObject as exc:
                self._fail(
                    exc.error_class,
                    f"error event after {self._content_events} text chunks: {exc}",
                )
            if self._failure is not None or self.done:
                return

    def _event(self, event: SseEvent, t: float) -> None:
        self.events += 1
        try:
            data = event.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Invalid(f"data is not UTF-8: {preview(event.data)}") from None
        if data.strip() == "[DONE]":
            self.done = True
            self._done_t = t
            return
        try:
            doc = json.loads(data)
        except ValueError as exc:
            if event.name == "error":
                raise _ErrorObject("server_error", data[:200]) from None
            raise _Invalid(f"data is not valid JSON ({exc}): {preview(data)}") from None
        if not isinstance(doc, dict):
            raise _Invalid(f"data is a JSON {type(doc).__name__}, expected an object")
        _check_error(doc)
        if event.name == "error":
            raise _ErrorObject("server_error", json.dumps(doc)[:200])
        self._chunk(doc, data, t)

    def _chunk(self, doc: Mapping[str, Any], data: str, t: float) -> None:
        usage = _usage(doc)
        if usage is not None:
            self._usage = usage
        choices = doc.get("choices")
        if choices is None:
            if usage is None:
                raise _Invalid(f"a chunk without choices or usage: {preview(data)}")
            return
        if not isinstance(choices, list):
            raise _Invalid(f"choices is a {type(choices).__name__}, expected a list")
        if choices:
            self._choice_events += 1
        generated = False
        for choice in choices:
            text, reasoning, finish, index = _choice_text(choice, None)
            if text and index == 0:
                self._text.append(text)
            generated = generated or bool(text or reasoning)
            if finish is not None:
                self._finish_reason = str(finish)
        if generated:
            if self._first_t is not None and self._last_t is not None:
                self._itl.append((t - self._last_t) * 1000.0)
            else:
                self._first_t = t
            self._last_t = t
            self._content_events += 1

    def _fail(self, error_class: str, message: str) -> None:
        if self._failure is None:
            self._failure = (error_class, message)

    def finish(self, t: float) -> InferenceResult:
        """The body ended (or the connection closed) at ``t``: the result."""
        if self._result is None:
            self._result = self._conclude(t)
        return self._result

    def _conclude(self, t: float) -> InferenceResult:
        latency_ms = ((self._done_t if self._done_t is not None else t) - self.started) * 1000.0
        if not 200 <= self.status < 300:
            result = http_failure(self.status, bytes(self._error_body), latency_ms=latency_ms)
            return replace(result, bytes_received=self.bytes_received)
        if self._failure is None:
            self._check_complete()
        usage_in, usage_out = self._usage if self._usage is not None else (None, None)
        estimated = usage_out is None
        tokens_out = self._content_events if estimated else usage_out
        error_class, error = self._failure if self._failure is not None else (None, None)
        return InferenceResult(
            ok=self._failure is None,
            error_class=error_class,
            error=error,
            status=self.status,
            tokens_in=usage_in,
            tokens_out=tokens_out,
            tokens_estimated=estimated,
            ttft_ms=None if self._first_t is None else (self._first_t - self.started) * 1000.0,
            itl_ms=tuple(self._itl),
            latency_ms=latency_ms,
            text="".join(self._text),
            finish_reason=self._finish_reason,
            bytes_received=self.bytes_received,
        )

    def _check_complete(self) -> None:
        if self.done:
            if self._choice_events == 0:
                self._fail("invalid", "the stream ended with [DONE] but carried no choices")
            elif self._content_events == 0 and not self.allow_empty:
                self._fail(
                    "invalid",
                    f"the stream generated no text (finish_reason={self._finish_reason!r})",
                )
            return
        decoder = self._decoder
        if self.events == 0:
            if decoder.stray_line is not None or decoder.tail:
                start = decoder.stray_line if decoder.stray_line is not None else decoder.tail
                self._fail(
                    "invalid",
                    'the body is not an SSE stream (did the server ignore "stream": true?); '
                    f"it starts {preview(start)}",
                )
            else:
                self._fail("invalid", "the stream ended without any event")
            return
        where = "mid-event" if decoder.pending else "between events"
        tail = f"; unfinished: {preview(decoder.tail)}" if decoder.tail else ""
        self._fail(
            "invalid",
            f"the stream was cut {where} before data: [DONE], after {self.events} events "
            f"({self._content_events} with text){tail}",
        )


def parse_stream(
    reads: Iterable[tuple[bytes, float]],
    started: float,
    *,
    end: float | None = None,
    status: int = 200,
    allow_empty: bool = False,
) -> InferenceResult:
    """Parse a whole recorded stream: ``(chunk, time)`` pairs, ending at ``end``.

    ``end`` defaults to the last read's time (or ``started`` if there were none).
    """
    stream = SseStream(started, status=status, allow_empty=allow_empty)
    last = started
    for chunk, t in reads:
        stream.feed(chunk, t)
        last = t
    return stream.finish(last if end is None else end)
