"""The HTTP API in process: OpenAI shapes, streams, errors, health, metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from locust_ml.server.config import ServerConfig
from locust_ml.server.tokens import count_tokens, tokenize

pytestmark = pytest.mark.anyio

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


def chat_body(text: str, **kw: Any) -> dict[str, Any]:
    return {
        "model": "summarizer",
        "messages": [
            {"role": "system", "content": "You summarize."},
            {"role": "user", "content": text},
        ],
        **kw,
    }


def completion_body(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": "summarizer", "prompt": text, **kw}


@pytest.fixture(params=["simulated", "summarizer"])
def config(
    request: pytest.FixtureRequest, fast_sim: ServerConfig, tiny_summarizer: ServerConfig
) -> ServerConfig:
    return fast_sim if request.param == "simulated" else tiny_summarizer


async def test_chat_completion_shape(serve: Any, config: ServerConfig, text: str) -> None:
    async with serve(config) as (_, client):
        r = await client.post(CHAT, json=chat_body(text, max_tokens=20))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "summarizer"
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    assert choice["finish_reason"] in {"stop", "length"}
    usage = body["usage"]
    # prompt_tokens counts every message by the token rule.
    assert usage["prompt_tokens"] == count_tokens("You summarize.") + count_tokens(text)
    assert usage["completion_tokens"] == count_tokens(content) <= 20
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert float(r.headers["X-Queue-Time-Ms"]) >= 0.0
    assert float(r.headers["X-Inference-Time-Ms"]) > 0.0
    assert int(r.headers["X-Batch-Size"]) >= 1


async def test_summarizer_answers_with_the_central_sentence(
    serve: Any, tiny_summarizer: ServerConfig, text: str
) -> None:
    async with serve(tiny_summarizer) as (_, client):
        r = await client.post(CHAT, json=chat_body(text))
    body = r.json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == (
        "Solar panels and wind turbines both produce renewable electricity for homes."
    )


async def test_completion_with_ignore_eos_and_min_tokens(
    serve: Any, config: ServerConfig, text: str
) -> None:
    async with serve(config) as (_, client):
        forced = await client.post(
            COMPLETIONS, json=completion_body(text, max_tokens=40, ignore_eos=True)
        )
        at_least = await client.post(
            COMPLETIONS, json=completion_body(text, max_tokens=100, min_tokens=30)
        )
    body = forced.json()
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["usage"]["completion_tokens"] == 40
    assert count_tokens(body["choices"][0]["text"]) == 40
    assert body["choices"][0]["finish_reason"] == "length"
    assert at_least.json()["usage"]["completion_tokens"] >= 30


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS])
async def test_stream_is_one_chunk_per_token_then_usage_then_done(
    serve: Any, config: ServerConfig, sse: Any, text: str, path: str
) -> None:
    body = (chat_body if path == CHAT else completion_body)(
        text, stream=True, max_tokens=12, ignore_eos=True, stream_options={"include_usage": False}
    )
    async with serve(config) as (_, client):
        r = await client.post(path, json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert int(r.headers["X-Batch-Size"]) >= 1
    assert float(r.headers["X-Queue-Time-Ms"]) >= 0.0
    chunks = sse(r.text)
    *token_chunks, final = chunks
    assert len(token_chunks) == 12
    assert final["choices"] == []
    assert final["usage"]["completion_tokens"] == 12
    assert final["usage"]["prompt_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1
    if path == CHAT:
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert token_chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        pieces = [c["choices"][0]["delta"]["content"] for c in token_chunks]
    else:
        assert all(c["object"] == "text_completion" for c in chunks)
        pieces = [c["choices"][0]["text"] for c in token_chunks]
    assert [len(tokenize(p)) for p in pieces] == [1] * 12
    reasons = [c["choices"][0]["finish_reason"] for c in token_chunks]
    assert reasons == [None] * 11 + ["length"]
    # The deltas concatenate to the non-streaming text.
    assert count_tokens("".join(pieces)) == 12


async def test_stream_matches_non_stream_text(
    serve: Any, tiny_summarizer: ServerConfig, sse: Any, text: str
) -> None:
    async with serve(tiny_summarizer) as (_, client):
        plain = await client.post(COMPLETIONS, json=completion_body(text))
        streamed = await client.post(COMPLETIONS, json=completion_body(text, stream=True))
    *tokens, _usage = sse(streamed.text)
    assert "".join(c["choices"][0]["text"] for c in tokens) == plain.json()["choices"][0]["text"]
    assert tokens[-1]["choices"][0]["finish_reason"] == "stop"


async def test_models_endpoint(serve: Any, fast_sim: ServerConfig) -> None:
    cfg = dataclasses.replace(fast_sim, model_name="tiny-sim")
    async with serve(cfg) as (_, client):
        r = await client.get("/v1/models")
        ok = await client.post(
            COMPLETIONS, json={"model": "tiny-sim", "prompt": "hi", "max_tokens": 2}
        )
    assert r.json()["object"] == "list"
    assert [m["id"] for m in r.json()["data"]] == ["tiny-sim"]
    assert ok.status_code == 200


def _assert_openai_error(r: Any, status: int, param: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str)
    assert err["message"]
    if param is not None:
        assert err["param"] == param
    return dict(err)


@pytest.mark.parametrize(
    ("path", "payload", "param"),
    [
        (COMPLETIONS, completion_body("x", max_tokens=0), "max_tokens"),
        (COMPLETIONS, completion_body("x", max_tokens=4097), "max_tokens"),
        (COMPLETIONS, completion_body("x", max_tokens="5"), "max_tokens"),
        (COMPLETIONS, completion_body("x", max_tokens=True), "max_tokens"),
        (COMPLETIONS, completion_body("x", stream="yes"), "stream"),
        (COMPLETIONS, completion_body("x", n=2), "n"),
        (COMPLETIONS, completion_body("x", temperature=3), "temperature"),
        (COMPLETIONS, completion_body("x", min_tokens=50, max_tokens=10), "min_tokens"),
        (COMPLETIONS, completion_body("x", ignore_eos=1), "ignore_eos"),
        (COMPLETIONS, {"prompt": "x"}, "model"),
        (COMPLETIONS, {"model": "summarizer"}, "prompt"),
        (COMPLETIONS, completion_body(["a", "b"]), "prompt"),
        (CHAT, {"model": "summarizer"}, "messages"),
        (CHAT, {"model": "summarizer", "messages": []}, "messages"),
        (CHAT, {"model": "summarizer", "messages": [{"role": "user", "content": 5}]}, "messages"),
        (
            CHAT,
            {"model": "summarizer", "messages": [{"role": "robot", "content": "x"}]},
            "messages",
        ),
        (CHAT, {"model": "summarizer", "messages": "hello"}, "messages"),
        (CHAT, chat_body("x", max_completion_tokens=0), "max_completion_tokens"),
    ],
)
async def test_bad_requests_are_400(
    serve: Any, fast_sim: ServerConfig, path: str, payload: dict[str, Any], param: str
) -> None:
    async with serve(fast_sim) as (_, client):
        r = await client.post(path, json=payload)
    err = _assert_openai_error(r, 400, param)
    assert err["type"] == "invalid_request_error"
    assert param in err["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_malformed_json_is_400(serve: Any, fast_sim: ServerConfig, raw: bytes) -> None:
    async with serve(fast_sim) as (_, client):
        r = await client.post(CHAT, content=raw, headers={"content-type": "application/json"})
    _assert_openai_error(r, 400)


async def test_unknown_model_is_404(serve: Any, fast_sim: ServerConfig) -> None:
    async with serve(fast_sim) as (_, client):
        r = await client.post(CHAT, json={**chat_body("hi"), "model": "gpt-7"})
    err = _assert_openai_error(r, 404, "model")
    assert err["code"] == "model_not_found"


async def test_unknown_route_is_openai_style_404(serve: Any, fast_sim: ServerConfig) -> None:
    async with serve(fast_sim) as (_, client):
        r = await client.get("/v2/nothing")
    _assert_openai_error(r, 404)


async def test_big_bodies_are_413(serve: Any, fast_sim: ServerConfig) -> None:
    cfg = dataclasses.replace(fast_sim, max_body_bytes=4096)
    big = json.dumps(completion_body("word " * 2000)).encode()
    assert len(big) > 4096

    async def chunked() -> Any:  # no Content-Length: counted while reading
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    async with serve(cfg) as (_, client):
        declared = await client.post(COMPLETIONS, content=big)
        streamed = await client.post(COMPLETIONS, content=chunked())
        small = await client.post(COMPLETIONS, json=completion_body("word " * 10))
    assert "content-length" not in streamed.request.headers
    _assert_openai_error(declared, 413)
    _assert_openai_error(streamed, 413)
    assert small.status_code == 200


async def test_prompt_over_the_context_limit_is_400(serve: Any, fast_sim: ServerConfig) -> None:
    cfg = dataclasses.replace(fast_sim, max_prompt_tokens=10)
    async with serve(cfg) as (_, client):
        r = await client.post(COMPLETIONS, json=completion_body("one two three " * 4))
    err = _assert_openai_error(r, 400, "prompt")
    assert err["code"] == "context_length_exceeded"


async def test_timeout_is_504(serve: Any, fast_sim: ServerConfig, sse: Any) -> None:
    # A batch takes 10 s; the request may take 0.05 s: it can only time out.
    cfg = dataclasses.replace(
        fast_sim, base_ms=10_000.0, request_timeout_s=0.05, max_batch_size=1, instances=2
    )
    async with serve(cfg) as (_, client):
        r = await client.post(COMPLETIONS, json=completion_body("hi"))
        err = _assert_openai_error(r, 504)
        assert err["code"] == "timeout"
        # A stream that started times out mid-way: an error event, then [DONE].
        s = await client.post(COMPLETIONS, json=completion_body("hi", stream=True, max_tokens=4))
    assert s.status_code == 200
    (event,) = sse(s.text)
    assert event["error"]["code"] == "timeout"


async def test_cold_start_is_not_ready_then_ready(serve: Any, fast_sim: ServerConfig) -> None:
    # 60 s of loading: everything below happens long before it ends.
    async with serve(dataclasses.replace(fast_sim, load_seconds=60.0), ready=False) as (_, client):
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        health = await client.get("/health")
        infer = await client.post(COMPLETIONS, json=completion_body("hi"))
        metrics = await client.get("/metrics")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert health.status_code == 503
    assert 1 <= int(ready.headers["Retry-After"]) <= 60
    err = _assert_openai_error(infer, 503)
    assert err["code"] == "model_not_ready"
    assert int(infer.headers["Retry-After"]) >= 1
    assert _sample(metrics.text, "locust_ml_server_ready") == 0.0

    async with serve(dataclasses.replace(fast_sim, load_seconds=0.05), ready=False) as (_, client):
        for _ in range(500):
            ready = await client.get("/health/ready")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.01)
        health = await client.get("/health")
        metrics = await client.get("/metrics")
    assert ready.status_code == 200
    assert health.status_code == 200
    assert _sample(metrics.text, "locust_ml_server_ready") == 1.0
    assert _sample(metrics.text, "locust_ml_server_model_load_seconds") >= 0.05


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sample(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                return float(s.value)
    raise AssertionError(f"no sample {name}")


async def test_metrics_exposition(serve: Any, config: ServerConfig, text: str) -> None:
    async with serve(config) as (_, client):
        await client.post(CHAT, json=chat_body(text, max_tokens=5, ignore_eos=True))
        await client.post(CHAT, json={"model": "nope", "messages": []})
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = _families(r.text)
    expected = {
        "locust_ml_server_requests": "counter",
        "locust_ml_server_queue_depth": "gauge",
        "locust_ml_server_running_requests": "gauge",
        "locust_ml_server_batch_size": "histogram",
        "locust_ml_server_inference_seconds": "histogram",
        "locust_ml_server_queue_seconds": "histogram",
        "locust_ml_server_prompt_tokens": "counter",
        "locust_ml_server_generation_tokens": "counter",
        "locust_ml_server_ready": "gauge",
        "locust_ml_server_model_load_seconds": "gauge",
    }
    for name, kind in expected.items():
        assert families[name].type == kind, name
    requests = {
        (s.labels["endpoint"], s.labels["code"]): s.value
        for s in families["locust_ml_server_requests"].samples
        if s.name == "locust_ml_server_requests_total"
    }
    assert requests[(CHAT, "200")] == 1
    assert requests[(CHAT, "400")] == 1
    assert _sample(r.text, "locust_ml_server_generation_tokens_total") == 5
    assert _sample(r.text, "locust_ml_server_prompt_tokens_total") > 0
    bounds = [
        s.labels["le"]
        for s in families["locust_ml_server_batch_size"].samples
        if s.name.endswith("_bucket")
    ]
    assert bounds == ["1.0", "2.0", "4.0", "8.0", "+Inf"]
