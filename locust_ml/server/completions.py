"""The completion endpoints: from an HTTP request to a response or a stream.

One path serves both ``/v1/chat/completions`` and ``/v1/completions``:

1. read the body, refusing (413) more than ``--max-body-bytes`` without
   buffering it: on ``Content-Length`` first, then counting a chunked body;
2. decode and validate it (400), check the model name (404) and readiness
   (503 + ``Retry-After``), count the prompt's tokens against
   ``--max-prompt-tokens`` (400);
3. look its prompt up in the prefix cache (the backend prefills only what it
   did not hold), submit it to the backend, or shed it (503 + ``Retry-After``) when the
   waiting queue is full;
4. wait for the backend's events until ``--request-timeout-s`` after arrival
   (504): a non-streaming request waits for ``Finished``; a streaming one waits
   for ``Started`` (so its timing headers are known), then relays one SSE chunk
   per token.

A stream's response object cancels its generation however the stream ends, so
a client that goes away frees its batch slot.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import Request, Response
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from locust_ml.server.generation import (
    Failed,
    Finished,
    Generation,
    GenerationRequest,
    QueueFull,
    Started,
    Token,
)
from locust_ml.server.protocol import (
    SSE_DONE,
    ApiError,
    ChatCompletionRequest,
    CompletionRequest,
    ResponseIds,
    Usage,
    chunk,
    error_body,
    full_response,
    parse_request,
    sse_event,
    usage_chunk,
)
from locust_ml.server.state import ServerState
from locust_ml.server.tokens import tokenize

__all__ = ["handle_completion"]


class _GenerationStream(StreamingResponse):
    """An SSE response that cancels its generation however the stream ends.

    A client that disconnects mid-stream ends the response task; cancelling
    the generation then frees its batch slot at the model's next step.
    """

    def __init__(
        self, content: AsyncIterator[bytes], gen: Generation, headers: dict[str, str]
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._gen = gen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._gen.cancel()


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without buffering it."""
    too_big = f"request body exceeds {limit} bytes (--max-body-bytes)"
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, f"invalid Content-Length header: {declared!r}") from None
        if size > limit:
            raise ApiError(413, f"{too_big}: Content-Length is {size}", code="request_too_large")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise ApiError(413, too_big, code="request_too_large")
    return bytes(body)


async def handle_completion(state: ServerState, request: Request, *, chat: bool) -> Response:
    """Answer ``POST /v1/chat/completions`` (``chat``) or ``POST /v1/completions``."""
    config = state.config
    raw = await _read_body(request, config.max_body_bytes)
    # Deep nesting exhausts the stack in the JSON decoder, or, just under its
    # limit, in validating or quoting the value: a client error either way.
    too_deep = ApiError(400, "request body is nested too deeply")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise too_deep from None
    try:
        req = parse_request(payload, ChatCompletionRequest if chat else CompletionRequest)
    except RecursionError:
        raise too_deep from None
    if req.model != config.model_name:
        raise ApiError(
            404,
            f"The model `{req.model}` does not exist; this server serves `{config.model_name}`.",
            param="model",
            code="model_not_found",
        )
    if not state.ready:
        raise ApiError(
            503,
            "the model is still loading; retry later",
            type="server_error",
            code="model_not_ready",
            headers={"Retry-After": str(state.loading_retry_after())},
        )
    prompt_tokens = tuple(tokenize(req.prompt_text()))
    if len(prompt_tokens) > config.max_prompt_tokens:
        raise ApiError(
            400,
            f"the prompt has {len(prompt_tokens)} tokens; this model's limit is "
            f"{config.max_prompt_tokens} (--max-prompt-tokens)",
            param="messages" if chat else "prompt",
            code="context_length_exceeded",
        )
    match = state.prefix_cache.lookup(prompt_tokens)
    gen_request = GenerationRequest(
        prompt_tokens=prompt_tokens,
        source_text=req.source_text(),
        max_tokens=req.output_limit(),
        min_tokens=req.min_tokens or 0,
        ignore_eos=bool(req.ignore_eos),
        stream=bool(req.stream),
        cached_tokens=match.cached,
    )
    try:
        gen = state.backend.submit(gen_request)
    except QueueFull as exc:
        raise ApiError(
            503,
            f"server overloaded: {exc.depth} requests already waiting; retry later",
            type="server_error",
            code="queue_full",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    state.admitted(match)
    prefix = "chatcmpl-" if chat else "cmpl-"
    ids = ResponseIds(prefix + uuid.uuid4().hex, int(time.time()), config.model_name, chat)
    deadline = gen.arrival + config.request_timeout_s
    try:
        if gen_request.stream:
            return await _start_stream(state, gen, ids, deadline)
        return await _complete(state, gen, ids, deadline)
    except BaseException:
        gen.cancel()
        raise


def _timeout_error(state: ServerState) -> ApiError:
    return ApiError(
        504,
        f"request timed out after {state.config.request_timeout_s:g} s (--request-timeout-s)",
        type="server_error",
        code="timeout",
    )


async def _next_event(
    state: ServerState, gen: Generation, deadline: float
) -> Started | Token | Finished | Failed:
    """The generation's next event; TimeoutError once ``deadline`` has passed."""
    event = gen.poll()
    if event is not None:
        return event
    async with asyncio.timeout(max(0.0, deadline - state.clock())):
        return await gen.next_event()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000.0:.3f}"


async def _complete(
    state: ServerState, gen: Generation, ids: ResponseIds, deadline: float
) -> Response:
    while True:
        try:
            event = await _next_event(state, gen, deadline)
        except TimeoutError:
            raise _timeout_error(state) from None
        if isinstance(event, Failed):
            raise ApiError(event.status, event.message, type="server_error", code=event.code)
        if isinstance(event, Finished):
            break
    usage = Usage(len(gen.request.prompt_tokens), event.completion_tokens)
    headers = {
        "X-Queue-Time-Ms": _ms(event.queue_s),
        "X-Inference-Time-Ms": _ms(event.inference_s),
        "X-Batch-Size": str(event.batch_size),
    }
    body = full_response(ids, event.text, event.finish_reason, usage)
    return Response(
        json.dumps(body, separators=(",", ":")), media_type="application/json", headers=headers
    )


async def _start_stream(
    state: ServerState, gen: Generation, ids: ResponseIds, deadline: float
) -> Response:
    """Wait until the request starts running (so the headers are known), then stream."""
    try:
        event = await _next_event(state, gen, deadline)
    except TimeoutError:
        raise _timeout_error(state) from None
    if isinstance(event, Failed):
        raise ApiError(event.status, event.message, type="server_error", code=event.code)
    if not isinstance(event, Started):  # pragma: no cover - backends always start first
        raise ApiError(500, "backend sent an event before Started", type="server_error")
    headers = {
        "X-Queue-Time-Ms": _ms(event.queue_s),
        "X-Batch-Size": str(event.batch_size),
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    }
    return _GenerationStream(_events(state, gen, ids, deadline), gen, headers)


async def _events(
    state: ServerState, gen: Generation, ids: ResponseIds, deadline: float
) -> AsyncIterator[bytes]:
    """The SSE body: one chunk per token, the usage chunk, ``[DONE]``."""
    first = True
    while True:
        try:
            event = await _next_event(state, gen, deadline)
        except TimeoutError:
            gen.cancel()
            err = _timeout_error(state)
            yield sse_event(err.body())
            yield SSE_DONE
            return
        if isinstance(event, Token):
            yield sse_event(chunk(ids, event.text, event.finish_reason, first=first))
            first = False
        elif isinstance(event, Finished):
            if first:  # nothing was generated: one empty chunk carries the finish reason
                yield sse_event(chunk(ids, "", event.finish_reason, first=True))
            usage = Usage(len(gen.request.prompt_tokens), event.completion_tokens)
            yield sse_event(usage_chunk(ids, usage))
            yield SSE_DONE
            return
        elif isinstance(event, Failed):
            yield sse_event(error_body(event.message, "server_error", None, event.code))
            yield SSE_DONE
            return
