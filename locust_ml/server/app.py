"""The reference server's HTTP application (FastAPI on uvicorn).

:func:`create_app` wires one backend, one metrics registry and the routes:

- ``POST /v1/chat/completions``: OpenAI chat completions (streaming or not)
- ``POST /v1/completions``: OpenAI text completions (streaming or not)
- ``GET /v1/models``: the one served model
- ``GET /health/live``: 200 once the process serves HTTP
- ``GET /health/ready``: 200 when the model is ready, 503 while it loads
- ``GET /health``: same as ``/health/ready`` (as vLLM has it)
- ``GET /metrics``: Prometheus exposition text

The completion endpoints live in :mod:`~locust_ml.server.completions`. With a
one-shot backend (``image-classifier``, ``speech``) the app serves the Open
Inference Protocol v2 instead (``/v2/...``, see :mod:`~locust_ml.server.v2`),
and the completion endpoints answer 404; with the text backends, ``/v2`` paths
are unknown (404).

Every inference response carries ``X-Queue-Time-Ms`` (arrival to start of its
batch), ``X-Batch-Size`` (the largest batch it shared; for a stream, the batch
it started in) and, when not streaming, ``X-Inference-Time-Ms`` (start of its
batch to its last token), so a load test can split queueing from service time.

The app never answers with FastAPI's default 422: every client error is an
OpenAI-style JSON body with status 400 (bad JSON, types, ranges), 404 (unknown
model or route), 413 (body over ``--max-body-bytes``, checked on
``Content-Length`` and counted while reading a chunked body), 503 with
``Retry-After`` (loading, or the waiting queue is full) or 504 (the request
outlived ``--request-timeout-s``); except that, when the v2 routes are
mounted, errors under ``/v2`` are the protocol's ``{"error": "message"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locust_ml.server.completions import handle_completion
from locust_ml.server.config import ONESHOT_BACKENDS, ServerConfig
from locust_ml.server.generation import Backend
from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.models import build_backend, build_oneshot_backend
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


def _fixed_label(path: str) -> str | None:
    return None


class _RequestCounter:
    """ASGI middleware counting answers by endpoint and status code.

    ``label`` names the paths outside the fixed set (the v2 routes, by their
    template); the rest count as ``other``, so the label's values stay bounded.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServerMetrics,
        label: Callable[[str], str | None] = _fixed_label,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in _ENDPOINTS else (self.label(path) or "other")

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
    batcher = None
    if config.backend in ONESHOT_BACKENDS:
        batcher = build_oneshot_backend(config, metrics)
        # ServerState only loads, starts and stops it; the completion routes,
        # the one user of Backend.submit, are not mounted for one-shot backends.
        state = ServerState(config, metrics, cast(Backend, batcher))
    else:
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
    _add_error_handlers(app, v2=batcher is not None)
    _add_routes(app, state, registry, openai=batcher is None)
    if batcher is not None:
        # Imported here, so that the text backends never load the v2 module (numpy).
        from locust_ml.server.v2 import V2Error, add_v2_routes, endpoint_label

        async def v2_error(_request: Request, exc: Exception) -> Response:
            assert isinstance(exc, V2Error)  # noqa: S101 - registered for V2Error only
            return _json(exc.status, exc.body(), exc.headers)

        app.add_exception_handler(V2Error, v2_error)
        add_v2_routes(app, state, batcher)
        app.add_middleware(_RequestCounter, metrics=metrics, label=endpoint_label)
    else:
        app.add_middleware(_RequestCounter, metrics=metrics)
    return app


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI, *, v2: bool) -> None:
    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
        return _json(exc.status, exc.body(), exc.headers)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        return _json(400, error_body(str(exc), "invalid_request_error", None, None))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        if v2 and _is_v2(request.url.path):
            return _json(exc.status_code, {"error": str(exc.detail)}, exc.headers)
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return _json(exc.status_code, error_body(str(exc.detail), kind, None, None), exc.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def _add_routes(
    app: FastAPI, state: ServerState, registry: CollectorRegistry, *, openai: bool
) -> None:
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

    if not openai:

        async def no_completions() -> Response:
            raise ApiError(
                404,
                f"The model `{config.model_name}` (--backend {config.backend}) is served "
                "over the Open Inference Protocol v2, not the OpenAI API: "
                f"POST /v2/models/{config.model_name}/infer",
                code="model_not_found",
            )

        app.add_api_route("/v1/chat/completions", no_completions, methods=["POST"])
        app.add_api_route("/v1/completions", no_completions, methods=["POST"])
        return

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await handle_completion(state, request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await handle_completion(state, request, chat=False)
