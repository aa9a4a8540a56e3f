"""Fuzzing every reference-server endpoint: malformed input gets a documented 4xx, never a 500.

Issue 13: a body of 100,000 ``[`` to ``/v1/chat/completions`` or
``/v2/models/.../infer`` raised ``RecursionError``, which nothing caught (a
500 from uvicorn). Here Hypothesis throws structure (valid requests with one
field replaced by any JSON value), types, sizes, encodings (UTF-16/32, BOMs,
invalid UTF-8) and nesting depth at each endpoint of the in-process ASGI app,
and checks, for every case:

* the status is one ``docs/reference-server.md`` documents for the route
  (200 for a valid request; 400, 404 or 413 otherwise), and an error's body
  is the documented shape (OpenAI's ``{"error": {"message": ...}}``, v2's
  ``{"error": "..."}``);
* the server still answers ``/health/ready`` afterwards.

Examples are derandomized (a fixed seed), bounded in count and each under a
deadline; the whole file runs in well under 30 s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import struct
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from locust_ml.server.config import ServerConfig
from locust_ml.server.v2 import HEADER_LENGTH

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Small body limit, so sizes past it (413) are cheap to generate.
BODY_LIMIT = 64 * 1024
SIM = ServerConfig(
    backend="simulated",
    base_ms=0.5,
    per_item_ms=0.1,
    max_batch_size=8,
    max_queue_delay_ms=0.5,
    max_body_bytes=BODY_LIMIT,
)
IMAGE = ServerConfig(
    backend="image-classifier", max_batch_size=4, max_queue_delay_ms=0.5, max_body_bytes=BODY_LIMIT
)
SPEECH = ServerConfig(
    backend="speech", max_batch_size=4, max_queue_delay_ms=0.5, max_body_bytes=BODY_LIMIT
)

FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=3),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Post = Callable[..., httpx.Response]


@contextlib.contextmanager
def serving(running: Any, config: ServerConfig) -> Iterator[Post]:
    """The app for ``config`` on its own event loop; ``request(method, path, ...)`` runs one.

    ``running`` is the ``serve`` fixture (the app with its lifespan, and a client).
    """
    loop = asyncio.new_event_loop()
    manager = running(config)
    _, client = loop.run_until_complete(manager.__aenter__())

    def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return loop.run_until_complete(client.request(method, path, **kwargs))

    try:
        yield request
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


# -- strategies ------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def nested(draw: st.DrawFn) -> str:
    """A value nested 1 to 5,000 levels deep, balanced or not."""
    depth = draw(st.integers(min_value=1, max_value=5000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = json.dumps(draw(SCALARS))
    return opener * depth + inner + (closer * depth if draw(st.booleans()) else "")


def _replace(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(base))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], paths: list[tuple[Any, ...]]) -> bytes:
    """``base`` with one field (a known one, or a new key) set to any JSON value."""
    path = draw(st.sampled_from([*paths, ("extra",)]))
    value: Any = draw(JSON | st.just(draw(nested())).map(lambda text: {"raw": text}))
    if isinstance(value, dict) and set(value) == {"raw"}:
        text = json.dumps(_replace(base, path, None)).replace("null", value["raw"], 1)
        return text.encode()
    return json.dumps(_replace(base, path, value)).encode()


ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"])


def bodies(base: dict[str, Any], paths: list[tuple[Any, ...]]) -> st.SearchStrategy[bytes]:
    """Every kind of body: mutated valid requests, any JSON, raw bytes, encodings, depth, size."""
    return st.one_of(
        mutated(base, paths),
        JSON.map(lambda v: json.dumps(v).encode()),
        nested().map(str.encode),
        st.binary(max_size=300),
        st.tuples(JSON, ENCODINGS).map(lambda t: json.dumps(t[0]).encode(t[1], "replace")),
        st.just(json.dumps(base)).flatmap(lambda text: ENCODINGS.map(text.encode)),
        st.integers(min_value=BODY_LIMIT - 64, max_value=BODY_LIMIT + 4096).map(
            lambda n: json.dumps({**base, "pad": "x" * n}).encode()
        ),
        st.just(b"[" * 100_000),
    )


# -- checks ----------------------------------------------------------------------


def _openai_error(r: httpx.Response) -> None:
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["type"] in ("invalid_request_error", "server_error")


def _v2_error(r: httpx.Response) -> None:
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str)


def _still_answers(request: Post, path: str = "/health/ready") -> None:
    assert request("GET", path).status_code == 200


# -- the case of issue 13 -------------------------------------------------------------


def _default_limit(config: ServerConfig) -> ServerConfig:
    """``config`` with the default body limit (8 MiB), which 100,000 brackets fit in."""
    return dataclasses.replace(config, max_body_bytes=ServerConfig().max_body_bytes)


@pytest.mark.parametrize(
    ("config", "path"),
    [
        (_default_limit(SIM), "/v1/chat/completions"),
        (_default_limit(SIM), "/v1/completions"),
        (_default_limit(IMAGE), "/v2/models/image-classifier/infer"),
        (_default_limit(SPEECH), "/v2/models/speech/infer"),
    ],
    ids=["chat", "completions", "image", "speech"],
)
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b"{" * 100_000,
        b'{"model": "summarizer", "messages": ' + b"[" * 990 + b"]" * 990 + b"}",
        b'{"inputs": [], "parameters": {"a": ' + b"[" * 990 + b"]" * 990 + b"}}",
    ],
    ids=["100k-brackets", "100k-braces", "990-deep-messages", "990-deep-parameters"],
)
def test_deep_nesting_is_a_400_not_a_500(
    serve: Any, config: ServerConfig, path: str, body: bytes
) -> None:
    with serving(serve, config) as request:
        r = request("POST", path, content=body)
        assert r.status_code == 400, r.text[:300]
        if path.startswith("/v2"):
            _v2_error(r)
        else:
            _openai_error(r)
        _still_answers(request)


# -- OpenAI-compatible API ---------------------------------------------------------

CHAT = {
    "model": "summarizer",
    "messages": [{"role": "user", "content": "Solar panels convert sunlight into power."}],
    "max_tokens": 3,
}
CHAT_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("max_tokens",),
    ("min_tokens",),
    ("temperature",),
    ("stream",),
    ("n",),
    ("stop",),
    ("seed",),
    ("stream_options",),
]
COMPLETION = {"model": "summarizer", "prompt": "Wind turbines make power.", "max_tokens": 3}
COMPLETION_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("prompt",),
    ("max_tokens",),
    ("min_tokens",),
    ("stream",),
    ("echo",),
]


@pytest.mark.parametrize(
    ("path", "base", "paths"),
    [
        ("/v1/chat/completions", CHAT, CHAT_PATHS),
        ("/v1/completions", COMPLETION, COMPLETION_PATHS),
    ],
    ids=["chat", "completions"],
)
def test_openai_endpoints_answer_documented_statuses(
    serve: Any, path: str, base: dict[str, Any], paths: list[tuple[Any, ...]]
) -> None:
    with serving(serve, SIM) as request:
        assert request("POST", path, content=json.dumps(base)).status_code == 200

        @FUZZ
        @given(body=bodies(base, paths))
        @example(body=b"[" * 100_000)
        def check(body: bytes) -> None:
            r = request("POST", path, content=body)
            assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300])
            if r.status_code != 200:
                _openai_error(r)
            _still_answers(request)

        check()


# -- Open Inference Protocol v2 ------------------------------------------------------


def _jpeg() -> bytes:
    buf = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "JPEG")
    return buf.getvalue()


def _flac() -> bytes:
    t = np.arange(1600) / 16000
    buf = io.BytesIO()
    soundfile.write(buf, 0.3 * np.sin(2 * np.pi * 200 * t), 16000, format="FLAC")
    return buf.getvalue()


def _v2_json(name: str, blob: bytes) -> dict[str, Any]:
    tensor = {
        "name": name,
        "shape": [1],
        "datatype": "BYTES",
        "data": [base64.b64encode(blob).decode()],
    }
    return {"id": "r1", "inputs": [tensor]}


V2_PATHS: list[tuple[Any, ...]] = [
    ("id",),
    ("inputs",),
    ("inputs", 0),
    ("inputs", 0, "name"),
    ("inputs", 0, "shape"),
    ("inputs", 0, "datatype"),
    ("inputs", 0, "data"),
    ("inputs", 0, "parameters"),
    ("parameters",),
    ("outputs",),
]
V2_MODELS = [
    ("image-classifier", IMAGE, "image", _jpeg),
    ("speech", SPEECH, "audio", _flac),
]


@pytest.mark.parametrize(("model", "config", "name", "blob"), V2_MODELS, ids=["image", "speech"])
def test_v2_infer_json_answers_documented_statuses(
    serve: Any, model: str, config: ServerConfig, name: str, blob: Callable[[], bytes]
) -> None:
    base = _v2_json(name, blob())
    path = f"/v2/models/{model}/infer"
    with serving(serve, config) as request:
        assert request("POST", path, content=json.dumps(base)).status_code == 200

        @FUZZ
        @given(body=bodies(base, V2_PATHS))
        @example(body=b"[" * 100_000)
        def check(body: bytes) -> None:
            r = request("POST", path, content=body)
            assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300])
            if r.status_code != 200:
                _v2_error(r)
            _still_answers(request, "/v2/health/ready")

        check()


@st.composite
def binary_bodies(draw: st.DrawFn, name: str, blob: bytes) -> tuple[bytes, dict[str, str]]:
    """Binary-extension requests: JSON header, binary tail, and the header-length header."""
    element = struct.pack("<I", len(blob)) + blob
    tail = draw(
        st.sampled_from([element, element[: len(element) // 2], b""]) | st.binary(max_size=64)
    )
    size: Any = draw(
        st.sampled_from([len(element), len(tail)])
        | st.integers(min_value=-5, max_value=2**40)
        | JSON
    )
    header = {"inputs": [{"name": name, "shape": [1], "datatype": "BYTES"}]}
    header["inputs"][0]["parameters"] = {"binary_data_size": size}
    head = draw(st.just(json.dumps(header).encode()) | mutated(header, V2_PATHS[1:8]))
    head = head.decode("utf-8", "replace").encode(draw(ENCODINGS), "replace")
    length = draw(
        st.sampled_from([str(len(head)), str(len(head) + 3), "0", "-1", " 12", "1e3", "x"])
        | st.integers(min_value=0, max_value=len(head) + len(tail) + 8).map(str)
    )
    return head + tail, {HEADER_LENGTH: length, "Content-Type": "application/octet-stream"}


@pytest.mark.parametrize(("model", "config", "name", "blob"), V2_MODELS, ids=["image", "speech"])
def test_v2_infer_binary_extension_answers_documented_statuses(
    serve: Any, model: str, config: ServerConfig, name: str, blob: Callable[[], bytes]
) -> None:
    path = f"/v2/models/{model}/infer"
    raw = blob()
    with serving(serve, config) as request:

        @FUZZ
        @given(case=binary_bodies(name, raw))
        def check(case: tuple[bytes, dict[str, str]]) -> None:
            body, headers = case
            r = request("POST", path, content=body, headers=headers)
            assert r.status_code in (200, 400, 404, 413), (r.status_code, r.text[:300])
            if r.status_code != 200:
                _v2_error(r)
            _still_answers(request, "/v2/health/ready")

        check()


# -- metadata, health and metrics -------------------------------------------------------

#: Any text as one path segment, percent-encoded (the app sees it decoded).
SEGMENTS = st.text(min_size=1, max_size=30).map(lambda s: urllib.parse.quote(s, safe=""))


@pytest.mark.parametrize("config", [SIM, IMAGE], ids=["openai", "v2"])
def test_get_endpoints_answer_documented_statuses(serve: Any, config: ServerConfig) -> None:
    model = config.model_name
    with serving(serve, config) as request:

        @settings(FUZZ, max_examples=150)
        @given(
            template=st.sampled_from(
                [
                    "/health/ready",
                    "/health/live",
                    "/health",
                    "/metrics",
                    "/v1/models",
                    "/v2",
                    "/v2/health/live",
                    "/v2/health/ready",
                    "/v2/models/{s}",
                    "/v2/models/{s}/ready",
                    f"/v2/models/{model}/versions/{{s}}",
                    f"/v2/models/{model}/versions/{{s}}/ready",
                    "/{s}",
                ]
            ),
            segment=SEGMENTS,
            query=st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
        )
        def check(template: str, segment: str, query: dict[str, str]) -> None:
            path = template.replace("{s}", segment)
            r = request("GET", path, params=query)
            # A path that ends in "/" once decoded (a segment of "%2F") is redirected
            # to the same path without it (Starlette's redirect_slashes).
            slash = urllib.parse.unquote(path).endswith("/")
            allowed = (200, 404, 307) if slash else (200, 404)
            assert r.status_code in allowed, (template, segment, r.status_code, r.text[:200])
            if r.status_code == 404 and r.content:
                assert "error" in r.json()
            _still_answers(request)

        check()
