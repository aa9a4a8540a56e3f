"""The reference server's HTTP application (FastAPI on uvicorn).

:func:`create_app` wires one backend, one metrics registry and the routes:

- ``POST /v1/chat/completions``: OpenAI chat completions (streaming or not)
- ``POST /v1/completions``: OpenAI text completions (streaming or not)
- ``GET /v1/models``: the one served model
- ``GET /health/live``: 200 once the process serves HTTP
- ``GET /health/ready``: 200 when the model is ready, 503 while it loads
- ``GET /health``: same as ``/health/ready`` (as vLLM has it)
- ``GET /metrics``: Prometheus exposition text

The completion endpoints live in :mod:`~locust_ml.server.completions`.

Every inference response carries ``X-Queue-Time-Ms`` (arrival to start of its
batch), ``X-Batch-Size`` (the largest batch it shared; for a stream, the batch
it started in) and, when not streaming, ``X-Inference-Time-Ms`` (start of its
batch to its last token), so a load test can split queueing from service time.

The app never answers with FastAPI's default 422: every client error is an
OpenAI-style JSON body with status 400 (bad JSON, types, ranges), 404 (unknown
model or route), 413 (body over ``--max-body-bytes``, checked on
``Content-Length`` and counted while reading a chunked body), 503 with
``Retry-After`` (loading, or the waiting queue is full) or 504 (the request
outlived ``--request-timeout-s``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locust_ml.server.completions import handle_completion
from locust_ml.server.config import ServerConfig
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.models import build_backend
from locust_ml.server.protocol import ApiError, error_body
from locust_ml.server.state import ServerState

__all__ = ["create_app"]

_ENDPOINTS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/models",
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
    }
)


class _RequestCounter:
    """ASGI middleware counting answers by endpoint and status code."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in _ENDPOINTS else "other"

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.metrics.requests.labels(endpoint, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(config: ServerConfig, *, registry: CollectorRegistry | None = None) -> FastAPI:
    """The reference server's ASGI app for ``config``.

    Each app owns a fresh metrics registry unless ``registry`` is given, and its
    own backend; the model loads in the app's lifespan (startup), so the HTTP
    socket answers ``/health/live`` while it does.
    """
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ServerMetrics.create(registry, max_batch_size=config.max_batch_size)
    state = ServerState(config, metrics, build_backend(config, metrics))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(state.load(), name="locust-ml-load")
        try:
            yield
        finally:
            state.ready = False
            loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loader
            await state.backend.stop()
            metrics.ready.set(0)

    app = FastAPI(
        title="locust-ml reference server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.server = state
    app.add_middleware(_RequestCounter, metrics=metrics)
    _add_error_handlers(app)
    _add_routes(app, state, registry)
    return app


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
        return _json(exc.status, exc.body(), exc.headers)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        return _json(400, error_body(str(exc), "invalid_request_error", None, None))

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return _json(exc.status_code, error_body(str(exc.detail), kind, None, None), exc.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _add_routes(app: FastAPI, state: ServerState, registry: CollectorRegistry) -> None:
    config = state.config

    @app.get("/health/live")
    async def live() -> Response:
        return _json(200, {"status": "live"})

    async def ready() -> Response:
        if state.ready:
            return _json(200, {"status": "ready"})
        retry = str(state.loading_retry_after())
        return _json(503, {"status": "loading"}, {"Retry-After": retry})

    app.add_api_route("/health/ready", ready, methods=["GET"])
    app.add_api_route("/health", ready, methods=["GET"])

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models() -> Response:
        model = {
            "id": config.model_name,
            "object": "model",
            "created": state.created,
            "owned_by": "locust-ml",
        }
        return _json(200, {"object": "list", "data": [model]})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await handle_completion(state, request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await handle_completion(state, request, chat=False)
