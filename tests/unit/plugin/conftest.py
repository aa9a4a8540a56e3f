"""Fixtures for in-process Locust tests (this directory runs under gevent).

``fake_target`` is a tiny gevent WSGI app that answers like an OpenAI chat
endpoint: enough to exercise the glue (recording, steps, reports) without
the reference server, whose asyncio stack doesn't belong in a patched process.
``target`` is :class:`~tests.unit.plugin.fake_target.FakeTarget`, which
answers every way a target can (streams, garbage, cut bodies, redirects).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import locust  # noqa: F401 - patch order: locust before anything that imports ssl
import pytest
from gevent.pywsgi import WSGIServer

from tests.unit.plugin.fake_target import FakeTarget

CHAT_BODY = json.dumps(
    {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/v1/chat/completions":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [CHAT_BODY]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture
def fake_target() -> Iterator[str]:
    server = WSGIServer(("127.0.0.1", 0), _app, log=None)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.stop(timeout=1)


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    fake = FakeTarget()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop(timeout=1)
