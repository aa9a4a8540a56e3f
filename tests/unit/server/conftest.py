"""Helpers for the reference-server tests: an in-process app and a strict SSE parser.

The app runs in the test's event loop through ``httpx.ASGITransport``; its
lifespan (model load, backend start/stop) is driven explicitly, because the
transport doesn't run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from locust_ml.server.app import create_app
from locust_ml.server.config import ServerConfig

#: A simulated server that answers in a few milliseconds.
FAST_SIM = ServerConfig(
    backend="simulated", base_ms=1.0, per_item_ms=0.5, max_batch_size=8, max_queue_delay_ms=2.0
)
#: A summarizer small enough to build and run in milliseconds.
TINY_SUMMARIZER = ServerConfig(
    backend="summarizer", model_dim=32, model_layers=1, max_batch_size=8, max_queue_delay_ms=2.0
)

TEXT = (
    "Solar panels convert sunlight into electricity. "
    "Wind turbines convert moving air into electricity. "
    "Solar panels and wind turbines both produce renewable electricity for homes. "
    "My cousin adopted a small grey kitten last week. "
    "Renewable electricity from solar panels and wind turbines keeps getting cheaper."
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def wait_ready(client: httpx.AsyncClient, *, attempts: int = 500) -> None:
    """Poll /health/ready (bounded) until it answers 200."""
    for _ in range(attempts):
        if (await client.get("/health/ready")).status_code == 200:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("server did not become ready")


@contextlib.asynccontextmanager
async def running(
    config: ServerConfig, *, ready: bool = True
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app for ``config`` with its lifespan running, and a client for it."""
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30.0
        ) as client:
            if ready:
                await wait_ready(client)
            yield app, client


def parse_sse(body: str) -> list[dict[str, Any]]:
    """Parse an OpenAI-style event stream strictly; return the JSON chunks.

    Every event must be ``data: <json>`` followed by a blank line, and the last
    one ``data: [DONE]``.
    """
    assert body.endswith("\n\n"), "stream must end with a blank line"
    events = body[:-2].split("\n\n")
    assert events[-1] == "data: [DONE]", f"last event is {events[-1]!r}"
    chunks: list[dict[str, Any]] = []
    for event in events[:-1]:
        assert event.startswith("data: "), f"bad event {event!r}"
        assert "\n" not in event, f"multi-line event {event!r}"
        chunks.append(json.loads(event[len("data: ") :]))
    return chunks


# Helpers are handed out as fixtures rather than imported, so the tests don't
# depend on how pytest puts this directory on sys.path.


@pytest.fixture
def serve() -> Any:
    """``async with serve(config) as (app, client)``: see :func:`running`."""
    return running


@pytest.fixture
def sse() -> Any:
    """The strict SSE parser :func:`parse_sse`."""
    return parse_sse


@pytest.fixture
def fast_sim() -> ServerConfig:
    return FAST_SIM


@pytest.fixture
def tiny_summarizer() -> ServerConfig:
    return TINY_SUMMARIZER


@pytest.fixture
def text() -> str:
    return TEXT
