"""OpenAI-compatible adapter: requests, complete bodies, and streams replayed with fake clocks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.errors import ConfigError
from locust_ml.protocols.openai import (
    ChatCompletions,
    Completions,
    PromptRequests,
    SseStream,
    parse_body,
    parse_stream,
)

STREAMS = Path(__file__).resolve().parents[2] / "fixtures" / "streams"
DONE = b"data: [DONE]\n\n"


def sse(*docs: object) -> bytes:
    return b"".join(b"data: " + json.dumps(d).encode() + b"\n\n" for d in docs)


def chat_chunk(content: str | None, finish: str | None = None) -> dict[str, object]:
    delta = {} if content is None else {"content": content}
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int) -> dict[str, object]:
    return {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def recorded(name: str) -> tuple[bytes, list[tuple[bytes, float]]]:
    """A recorded body and its reads as (chunk, seconds since the request was sent)."""
    path = STREAMS / f"{name}.sse"
    body = (path if path.exists() else STREAMS / f"{name}.json").read_bytes()
    meta = json.loads((STREAMS / f"{name}.reads.json").read_text())
    reads, pos = [], 0
    for size, t in meta["reads"]:
        reads.append((body[pos : pos + size], t))
        pos += size
    assert pos == len(body)
    return body, reads


# --- requests -----------------------------------------------------------------------------


def test_chat_request_streaming_asks_for_usage_and_events() -> None:
    api = ChatCompletions("summarizer", stream=True, extra_body={"ignore_eos": True})
    req = api.request("Summarize this.", max_tokens=16, tokens_in=3)
    body = json.loads(req.body)
    assert req.method == "POST"
    assert req.path == "/v1/chat/completions"
    assert req.stream
    assert req.tokens_in == 3
    assert req.bytes_sent == len(req.body)
    assert req.content_type == "application/json"
    assert req.headers["Accept"] == "text/event-stream"
    assert body == {
        "model": "summarizer",
        "messages": [{"role": "user", "content": "Summarize this."}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }


def test_chat_request_non_streaming_and_per_request_override() -> None:
    api = ChatCompletions("m")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    plain = json.loads(api.request(messages).body)
    assert plain == {"model": "m", "messages": messages}
    assert not api.request(messages).stream
    assert json.loads(api.request(messages, stream=True).body)["stream"] is True


def test_extra_body_overrides_built_fields() -> None:
    api = ChatCompletions("m", stream=True, extra_body={"stream_options": {"include_usage": False}})
    assert json.loads(api.request("x").body)["stream_options"] == {"include_usage": False}
    assert "stream_options" not in json.loads(
        ChatCompletions("m", include_usage=False).request("x", stream=True).body
    )


def test_completions_request() -> None:
    req = Completions("m", stream=True).request("Once", max_tokens=4)
    assert req.path == "/v1/completions"
    assert json.loads(req.body)["prompt"] == "Once"


def test_api_key_goes_in_a_header_and_never_in_a_repr() -> None:
    api = ChatCompletions("m", api_key="sk-very-secret")
    req = api.request("hello")
    assert req.headers["Authorization"] == "Bearer sk-very-secret"
    assert "sk-very-secret" not in repr(req)
    assert "sk-very-secret" not in repr(api)
    assert "sk-very-secret" not in str(req)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ChatCompletions(""), "model"),
        (lambda: ChatCompletions("m", api_key="a\nb"), "api_key"),
        (lambda: ChatCompletions("m").request([]), "messages"),
        (lambda: ChatCompletions("m").request("x", max_tokens=0), "max_tokens"),
        (lambda: ChatCompletions("m").request("x", max_tokens=True), "max_tokens"),
        (lambda: Completions("m").request(["x"]), "prompt"),  # type: ignore[arg-type]
    ],
)
def test_bad_request_arguments_are_config_errors(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


# --- prompt requests: a template made once ------------------------------------------------

ENDPOINTS = [
    ChatCompletions("m"),
    ChatCompletions("m", stream=True, api_key="sk-1", extra_body={"ignore_eos": True}),
    ChatCompletions("m", extra_body={"max_tokens": 3, "temperature": 0.5}),  # wins
    ChatCompletions("m", extra_body={"messages": [{"role": "user", "content": "fixed"}]}),
    Completions("m", path="/gen", stream=True),
    Completions("m", extra_body={"prompt": "fixed", "n": 2}),
]


def _prompt_requests(
    api: ChatCompletions | Completions, system: str | None, min_tokens: bool
) -> PromptRequests:
    if isinstance(api, ChatCompletions):
        return api.prompt_requests(system, min_tokens=min_tokens)
    return api.prompt_requests(min_tokens=min_tokens)


def _request(
    api: ChatCompletions | Completions, system: str | None, min_tokens: bool, text: str, n: int
) -> object:
    if min_tokens:
        api = dataclasses.replace(api, extra_body={**api.extra_body, "min_tokens": n})
    if isinstance(api, ChatCompletions):
        messages = [{"role": "system", "content": system}] if system else []
        return api.request([*messages, {"role": "user", "content": text}], max_tokens=n)
    return api.request(text, max_tokens=n)


@pytest.mark.parametrize("api", ENDPOINTS)
@pytest.mark.parametrize("system", [None, 'Be "brief".'])
@pytest.mark.parametrize("min_tokens", [False, True])
@given(text=st.text(min_size=1, max_size=40), n=st.integers(1, 10**6))
@settings(max_examples=25, deadline=None)
def test_prompt_requests_are_what_request_builds(
    api: ChatCompletions | Completions, system: str | None, min_tokens: bool, text: str, n: int
) -> None:
    build = _prompt_requests(api, system, min_tokens)
    made = build(text, max_tokens=n, tokens_in=9)
    expected = _request(api, system, min_tokens, text, n)
    assert made.body == expected.body  # type: ignore[attr-defined]
    assert (made.path, made.stream, dict(made.headers)) == (
        expected.path,  # type: ignore[attr-defined]
        expected.stream,  # type: ignore[attr-defined]
        dict(expected.headers),  # type: ignore[attr-defined]
    )
    assert made.tokens_in == 9
    safe = "".join(c for c in text if c >= " " and c not in '"\\') or "x"  # nothing to escape
    assert build(safe, max_tokens=n, json_safe=True).body == build(safe, max_tokens=n).body


def test_prompt_requests_use_a_template_where_the_body_has_room_for_them() -> None:
    assert ChatCompletions("m", extra_body={"a": 1}).prompt_requests("s")._template
    assert Completions("m").prompt_requests(min_tokens=True)._template
    overridden = ChatCompletions("m", extra_body={"messages": []}).prompt_requests()
    assert not overridden._template  # every request built by request()
    build = ChatCompletions("m").prompt_requests()
    assert build("a", max_tokens=1).headers is build("b", max_tokens=2).headers


@pytest.mark.parametrize("n", [0, -1, 1.5, True, None])
def test_prompt_requests_check_max_tokens(n: object) -> None:
    with pytest.raises(ConfigError, match="max_tokens"):
        ChatCompletions("m").prompt_requests()("x", max_tokens=n)  # type: ignore[arg-type]


# --- complete bodies ----------------------------------------------------------------------


def test_recorded_non_streaming_chat_body() -> None:
    body, _ = recorded("summarizer_chat_full")
    r = ChatCompletions("summarizer").parse(200, {}, body, latency_ms=50.0)
    assert r.ok
    assert r.text == "The committee met on Tuesday to review the budget."
    assert (r.tokens_in, r.tokens_out, r.tokens_estimated) == (48, 10, False)
    assert r.finish_reason == "stop"
    assert r.tokens_per_s == pytest.approx(200.0)
    assert r.ttft_ms is None
    assert r.bytes_received == len(body)


def test_recorded_error_status_keeps_the_servers_message() -> None:
    body, _ = recorded("model_not_found")
    r = ChatCompletions("gpt-nope").parse(404, {}, body)
    assert not r.ok
    assert r.error_class == "client_error"
    assert r.error is not None
    assert r.error.startswith("HTTP 404: The model `gpt-nope` does not exist")


def test_completion_body_without_usage_estimates_tokens() -> None:
    body = json.dumps({"choices": [{"text": "Hello, world!", "finish_reason": "stop"}]}).encode()
    r = Completions("m").parse(200, {}, body)
    assert r.ok
    assert (r.tokens_out, r.tokens_estimated, r.tokens_in) == (4, True, None)


@pytest.mark.parametrize(
    ("body", "error_class", "fragment"),
    [
        (b"<html>502 Bad Gateway</html>", "invalid", "not JSON"),
        (b"[1, 2]", "invalid", "JSON list"),
        (b'{"choices": []}', "invalid", "non-empty list"),
        (b'{"choices": [{"message": {"content": 5}}]}', "invalid", "message.content"),
        (b'{"choices": [{"text": "x"}]}', "invalid", "no message"),
        (b'{"choices": [{"message": {"content": ""}}]}', "invalid", "empty completion"),
        (
            b'{"choices": [{"message": {"content": "x"}}], "usage": {"completion_tokens": -1}}',
            "invalid",
            "usage",
        ),
        (b'{"error": {"message": "overloaded", "code": 503}}', "shed", "overloaded"),
        (b'{"object": "error", "message": "bad", "code": 400}', "client_error", "bad"),
    ],
)
def test_garbage_chat_bodies_are_failures_not_exceptions(
    body: bytes, error_class: str, fragment: str
) -> None:
    r = ChatCompletions("m").parse(200, {}, body)
    assert not r.ok
    assert r.error_class == error_class
    assert fragment in (r.error or "")


def test_allow_empty_accepts_an_empty_completion() -> None:
    body = b'{"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]}'
    assert parse_body(body, chat=True, allow_empty=True).ok


# --- streams: recorded ---------------------------------------------------------------------


def test_recorded_simulated_completions_stream_timing() -> None:
    body, reads = recorded("simulated_completions")
    r = parse_stream(reads, started=0.0)
    assert r.ok, r.error
    assert r.tokens_out == 10
    assert not r.tokens_estimated
    assert r.tokens_in == 48
    assert r.finish_reason == "length"
    assert r.ttft_ms == pytest.approx(reads[0][1] * 1000.0)
    assert len(r.itl_ms) == 9
    # the simulated backend spreads 10 tokens over 200 ms: ~20 ms apart
    assert sum(r.itl_ms) / len(r.itl_ms) == pytest.approx(20.0, abs=3.0)
    assert r.latency_ms == pytest.approx(reads[-1][1] * 1000.0)
    assert r.bytes_received == len(body)
    assert r.latency_ms is not None
    assert r.ttft_ms is not None
    assert r.tpot_ms == pytest.approx((r.latency_ms - r.ttft_ms) / 9)


@pytest.mark.parametrize("name", ["simulated_chat", "summarizer_chat", "simulated_completions"])
def test_recorded_stream_text_equals_concatenated_deltas(name: str) -> None:
    body, reads = recorded(name)
    r = parse_stream(reads, started=0.0)
    assert r.ok, r.error
    texts = []
    for line in body.decode().split("\n"):
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                texts.append(choice.get("text") or choice.get("delta", {}).get("content") or "")
    assert r.text == "".join(texts)
    assert r.tokens_out == sum(1 for t in texts if t)


def test_recorded_summarizer_stream_matches_its_non_streaming_text() -> None:
    _, reads = recorded("summarizer_chat")
    full, _ = recorded("summarizer_chat_full")
    stream = parse_stream(reads, started=0.0)
    whole = ChatCompletions("summarizer").parse(200, {}, full)
    assert stream.text == whole.text
    assert stream.tokens_out == whole.tokens_out


def test_recorded_timeout_error_event() -> None:
    _, reads = recorded("timeout_error")
    r = parse_stream(reads, started=0.0)
    assert not r.ok
    assert r.error_class == "timeout"
    assert "timed out" in (r.error or "")
    assert "after 4 text chunks" in (r.error or "")
    assert r.ttft_ms == pytest.approx(reads[0][1] * 1000.0)  # what was measured is kept
    assert r.text == "the model returns a"


def test_openai_format_with_role_chunk_and_usage_chunk() -> None:
    body = (STREAMS / "openai_chat_format.sse").read_bytes()
    r = parse_stream([(body, 0.5)], started=0.0)
    assert r.ok, r.error
    assert r.text == "Hello! How can I help you today?"
    assert (r.tokens_in, r.tokens_out, r.tokens_estimated) == (19, 10, False)
    assert r.finish_reason == "stop"
    assert r.ttft_ms == pytest.approx(500.0)
    assert r.itl_ms == (0.0,) * 8  # one read: every later event arrived with the first


def test_vllm_format_with_continuous_usage_and_a_multi_token_chunk() -> None:
    body = (STREAMS / "vllm_completions_format.sse").read_bytes()
    events = [e + b"\n\n" for e in body.split(b"\n\n") if e]
    r = parse_stream([(e, 0.1 * (i + 1)) for i, e in enumerate(events)], started=0.0)
    assert r.ok, r.error
    assert r.text == " It\u2019s fast.\n2. Safe"
    assert r.tokens_out == 7
    assert r.finish_reason == "length"
    assert r.ttft_ms == pytest.approx(100.0)
    assert r.itl_ms == pytest.approx((100.0,) * 6)


def test_crlf_line_ends_and_keepalive_comments() -> None:
    body = (STREAMS / "crlf_keepalive_format.sse").read_bytes()
    assert b"\r\n" in body
    r = parse_stream([(body, 1.0)], started=0.0)
    assert r.ok, r.error
    assert r.text == "One two three"
    assert (r.tokens_out, r.tokens_estimated) == (3, True)


def test_vllm_error_object_in_stream() -> None:
    r = parse_stream([((STREAMS / "vllm_error_format.sse").read_bytes(), 1.0)], started=0.0)
    assert not r.ok
    assert r.error_class == "client_error"
    assert "decoder prompt cannot be empty" in (r.error or "")


# --- streams: timing with a fake clock ----------------------------------------------------


def test_ttft_and_itl_from_fake_timestamps() -> None:
    s = SseStream(started=100.0)
    s.feed(b": connected\n\n", 100.010)
    s.feed(sse({"choices": [{"delta": {"role": "assistant", "content": ""}}]}), 100.020)
    s.feed(sse(chat_chunk("A")), 100.250)
    s.feed(sse(chat_chunk(" b")), 100.300)
    s.feed(sse(chat_chunk(" c"), chat_chunk(" d")), 100.400)  # two events in one read
    s.feed(sse(chat_chunk(None, "length"), usage_chunk(7, 4)), 100.410)
    s.feed(DONE, 100.420)
    r = s.finish(100.500)
    assert r.ok
    assert r.ttft_ms == pytest.approx(250.0)
    assert r.itl_ms == pytest.approx((50.0, 100.0, 0.0))
    assert r.latency_ms == pytest.approx(420.0)  # to [DONE], not to finish()
    assert r.tokens_per_s == pytest.approx(4 / 0.42)
    assert r.tpot_ms == pytest.approx((420.0 - 250.0) / 3)
    assert (r.tokens_in, r.tokens_out) == (7, 4)


def test_an_event_counts_when_its_blank_line_arrives() -> None:
    s = SseStream(started=0.0)
    s.feed(b'data: {"choices":[{"delta":{"content":"x"}}]}\n', 1.0)
    s.feed(b"\n", 2.0)
    s.feed(DONE, 3.0)
    assert s.finish(3.0).ttft_ms == pytest.approx(2000.0)


def test_reasoning_content_counts_as_the_first_token_but_not_as_text() -> None:
    s = SseStream(started=0.0)
    s.feed(sse({"choices": [{"delta": {"reasoning_content": "hmm"}}]}), 0.1)
    s.feed(sse(chat_chunk("Yes")) + DONE, 0.3)
    r = s.finish(0.3)
    assert r.ttft_ms == pytest.approx(100.0)
    assert r.text == "Yes"
    assert r.tokens_out == 2


def test_only_choice_zero_makes_the_text() -> None:
    two = {
        "choices": [
            {"index": 0, "delta": {"content": "a"}},
            {"index": 1, "delta": {"content": "b"}},
        ]
    }
    r = parse_stream([(sse(two) + DONE, 1.0)], started=0.0)
    assert r.text == "a"


def test_done_stops_parsing_and_finish_is_idempotent() -> None:
    s = SseStream(started=0.0)
    s.feed(sse(chat_chunk("a")) + DONE + b"garbage after done\n\n", 1.0)
    assert s.done
    s.feed(b"more garbage", 2.0)
    first = s.finish(3.0)
    assert first.ok
    assert s.finish(9.0) is first
    assert first.bytes_received == s.bytes_received


# --- streams: truncation and garbage -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (sse(chat_chunk("a"), chat_chunk("b")), "cut between events before data: [DONE]"),
        (sse(chat_chunk("a")) + b'data: {"choices":[{"del', "cut mid-event"),
        (sse(chat_chunk("a")) + b'data: {"choices": []}\n', "cut mid-event"),
        (b"", "without any event"),
        (b'{"choices":[{"message":{"content":"hi"}}]}', "not an SSE stream"),
        (b"<html><body>502</body></html>\n", "not an SSE stream"),
        (sse(chat_chunk("a")) + b"data: {not json}\n\n" + DONE, "not valid JSON"),
        (sse(chat_chunk("a")) + b"data: [1,2]\n\n" + DONE, "JSON list"),
        (b"data: \xff\xfe\n\n" + DONE, "not UTF-8"),
        (sse({"id": "x"}) + DONE, "without choices or usage"),
        (sse({"choices": {"0": 1}}) + DONE, "choices is a dict"),
        (sse({"choices": [{"index": 0}]}) + DONE, "no delta or text"),
        (sse({"choices": [{"delta": {"content": 3}}]}) + DONE, "delta.content is a int"),
        (sse({"choices": [{"delta": "x"}]}) + DONE, "delta is a str"),
        (
            sse(chat_chunk("a"), {"choices": [], "usage": {"completion_tokens": "9"}}) + DONE,
            "usage.completion_tokens",
        ),
        (sse(chat_chunk("a"), {"choices": [], "usage": [1]}) + DONE, "usage is a list"),
        (DONE, "carried no choices"),
        (sse(chat_chunk(""), chat_chunk(None, "stop")) + DONE, "generated no text"),
    ],
)
def test_broken_streams_are_invalid_with_a_clear_message(body: bytes, fragment: str) -> None:
    r = parse_stream([(body, 1.0)], started=0.0)
    assert not r.ok
    assert r.error_class == "invalid"
    assert fragment in (r.error or ""), r.error


def test_error_events_are_classed_by_their_code() -> None:
    cases = {
        '{"error": {"message": "queue full", "code": "queue_full"}}': "shed",
        '{"error": {"message": "boom", "type": "server_error"}}': "server_error",
        '{"error": "plain string"}': "server_error",
        '{"error": {"message": "slow", "code": 504}}': "server_error",
        '{"error": {"message": "limit", "code": 429}}': "shed",
    }
    for data, error_class in cases.items():
        body = sse(chat_chunk("a")) + f"data: {data}\n\n".encode() + DONE
        r = parse_stream([(body, 1.0)], started=0.0)
        assert (r.ok, r.error_class) == (False, error_class), data


def test_sse_error_event_name_fails_the_stream() -> None:
    body = sse(chat_chunk("a")) + b"event: error\ndata: upstream went away\n\n" + DONE
    r = parse_stream([(body, 1.0)], started=0.0)
    assert (r.ok, r.error_class) == (False, "server_error")
    assert "upstream went away" in (r.error or "")


def test_an_overlong_line_is_invalid_not_buffered_forever() -> None:
    s = SseStream(started=0.0, max_line_bytes=1000)
    s.feed(b"data: " + b"x" * 2000, 1.0)
    assert s.failed
    r = s.finish(2.0)
    assert (r.ok, r.error_class) == (False, "invalid")
    assert "exceeds 1000 bytes" in (r.error or "")


def test_non_2xx_stream_reports_the_error_body() -> None:
    s = ChatCompletions("m", stream=True).stream_parser(started=0.0, status=503)
    s.feed(b'{"error": {"message": "server overloaded", "code": "queue_full"}}', 0.01)
    r = s.finish(0.02)
    assert (r.ok, r.error_class, r.status) == (False, "shed", 503)
    assert r.error == "HTTP 503: server overloaded"


def test_allow_empty_accepts_a_stream_without_text() -> None:
    body = sse(chat_chunk("", "stop"), usage_chunk(3, 0)) + DONE
    r = parse_stream([(body, 1.0)], started=0.0, allow_empty=True)
    assert r.ok
    assert (r.tokens_out, r.ttft_ms) == (0, None)


# --- streams: chunk boundaries -------------------------------------------------------------

_FIXTURE_BODIES = [
    (STREAMS / name).read_bytes()
    for name in (
        "simulated_chat.sse",
        "openai_chat_format.sse",
        "vllm_completions_format.sse",
        "crlf_keepalive_format.sse",
        "timeout_error.sse",
    )
]


def _summary(body: bytes, cuts: list[int]) -> tuple[object, ...]:
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    r = parse_stream([(p, 1.0) for p in pieces], started=0.0)
    return (
        r.ok,
        r.error_class,
        r.error,
        r.text,
        r.tokens_in,
        r.tokens_out,
        r.itl_ms,
        r.finish_reason,
    )


@pytest.mark.parametrize("body", _FIXTURE_BODIES[2:4], ids=["vllm", "crlf"])
def test_every_single_cut_position_gives_the_same_result(body: bytes) -> None:
    whole = _summary(body, [])
    for cut in range(1, len(body)):
        assert _summary(body, [cut]) == whole, cut


@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data(), which=st.integers(0, len(_FIXTURE_BODIES) - 1))
def test_result_does_not_depend_on_how_the_body_is_split(data: st.DataObject, which: int) -> None:
    body = _FIXTURE_BODIES[which]
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(body) - 1), max_size=40))))
    assert _summary(body, cuts) == _summary(body, [])


def test_a_stream_cut_at_any_byte_before_its_end_is_invalid() -> None:
    body = _FIXTURE_BODIES[0]
    for cut in range(len(body)):
        r = parse_stream([(body[:cut], 1.0)], started=0.0)
        assert (r.ok, r.error_class) == (False, "invalid"), cut
    assert parse_stream([(body, 1.0)], started=0.0).ok


@settings(max_examples=200, deadline=None, derandomize=True)
@given(junk=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_random_bytes_never_raise(junk: bytes, cuts: list[int]) -> None:
    s = SseStream(started=0.0)
    prev = 0
    for c in sorted(min(c, len(junk)) for c in cuts):
        s.feed(junk[prev:c], 1.0)
        prev = c
    s.feed(junk[prev:], 1.0)
    r = s.finish(2.0)
    assert r.ok in (True, False)
    if not r.ok:
        assert r.error_class in ("invalid", "server_error", "shed", "client_error", "timeout")
