"""The ML users against a small fake server: requests, streams, garbage, classification.

The target is a raw gevent socket server in this process, so a test can send
exactly the bytes it needs: a stream paced token by token, a body cut
mid-event, an answer that isn't HTTP. Each test runs a user's task a few
times and checks the request events Locust fired (one per request, counted
and classified through the plugin's own ``sample_from_event``). The only
times asserted are lower bounds set by the server's own sleeps (a stream
paced at 50 ms can't show gaps shorter than that), never speeds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import types
from collections.abc import Iterator
from typing import Any

import gevent
import numpy as np
import pytest
from gevent.server import StreamServer
from locust import task
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.errors import ConfigError, TraceError
from locust_ml.options import read_options
from locust_ml.payloads.pool import PayloadPool, build_audio_pool, build_image_pool
from locust_ml.payloads.text import count_tokens
from locust_ml.plugin import embedded, ml_user, users
from locust_ml.plugin.recorder import CONTEXT_KEY, sample_from_event
from locust_ml.plugin.users import (
    AudioUser,
    ChatCompletionsUser,
    ImageUser,
    MLUser,
    PoolSpec,
    TextUser,
    payload_pool,
)
from locust_ml.plugin.vectored import PartsUserAgent
from locust_ml.protocols.base import BodyParts
from locust_ml.protocols.openai import ChatCompletions
from locust_ml.protocols.v2 import INFERENCE_HEADER, V2Model, decode_body

TOKEN_GAP_S = 0.05
TOKENS = 5

# -- the fake target -------------------------------------------------------------


def _chat_body(text: str = "A short summary.", usage: bool = True) -> bytes:
    doc: dict[str, Any] = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
    }
    if usage:
        doc["usage"] = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    return json.dumps(doc).encode()


def _event(doc: object) -> bytes:
    return b"data: " + json.dumps(doc).encode() + b"\n\n"


def _delta(text: str) -> bytes:
    return _event({"choices": [{"index": 0, "delta": {"content": text}}]})


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer(status: str, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
    return head.encode() + b"\r\n" + body


V2_OK = json.dumps(
    {"model_name": "m", "outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0]}]}
).encode()

V2_SERVER = b'{"name":"fake","version":"1","extensions":["binary_tensor_data"]}'
V2_MODEL = b'{"name":"m","inputs":[{"name":"image","datatype":"BYTES","shape":[-1]}],"outputs":[]}'

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


class FakeTarget:
    """Answers by path; remembers every request it read."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.server = StreamServer(("127.0.0.1", 0), self._handle)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @staticmethod
    def _read(sock: Any) -> tuple[str, str, dict[str, str], bytes] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            got = sock.recv(65536)
            if not got:
                return None
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        while len(body) < size:
            body += sock.recv(65536)
        return method, path, headers, body

    def _handle(self, sock: Any, _addr: Any) -> None:
        try:
            while True:
                req = self._read(sock)
                if req is None:
                    return
                self.requests.append(req)
                if not self._respond(sock, req[1], req[3]):
                    return
        finally:
            sock.close()

    def _respond(self, sock: Any, path: str, body: bytes) -> bool:  # noqa: PLR0911, PLR0912
        """Send the answer for ``path``; False closes the connection."""
        if path == "/v1/chat/completions":
            if json.loads(body).get("stream"):
                return self._stream(sock)
            sock.sendall(_answer("200 OK", _chat_body()))
        elif path == "/v1/completions":
            doc = {"choices": [{"index": 0, "text": "Done."}]}  # no usage: tokens estimated
            sock.sendall(_answer("200 OK", json.dumps(doc).encode()))
        elif path == "/not-json":
            sock.sendall(_answer("200 OK", b"<html>hello</html>", "text/html"))
        elif path == "/empty-completion":
            sock.sendall(_answer("200 OK", _chat_body(text="")))
        elif path == "/shed":
            err = {"error": {"message": "queue full", "code": "queue_full"}}
            sock.sendall(_answer("503 Service Unavailable", json.dumps(err).encode()))
        elif path == "/cut-stream":
            sock.sendall(STREAM_HEAD + _chunk(_delta("one")) + _chunk(b'data: {"choi'))
            return False
        elif path == "/cut-body":
            sock.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"choices"')
            return False
        elif path == "/not-sse":
            sock.sendall(_answer("200 OK", _chat_body()))
        elif path == "/stream-timeout-event":
            error = {"error": {"message": "request timed out", "code": "timeout"}}
            events = _delta("one") + _event(error) + b"data: [DONE]\n\n"
            sock.sendall(STREAM_HEAD + _chunk(events) + b"0\r\n\r\n")
        elif path == "/stalled-stream":
            sock.sendall(STREAM_HEAD + _chunk(_delta("one")))
            gevent.sleep(2)
            return False
        elif path == "/slow":
            gevent.sleep(2)
            return False
        elif path == "/not-http":
            sock.sendall(b"this is not an HTTP answer\r\n\r\n")
            return False
        elif path == "/hang-up":
            return False
        elif path == "/v2":  # a server with the binary extension, like Triton
            sock.sendall(_answer("200 OK", V2_SERVER))
        elif path in ("/v2/models/m", "/v2/models/garbage"):
            sock.sendall(_answer("200 OK", V2_MODEL))
        elif path.startswith("/v2/models/m/"):
            return self._v2(sock, body)
        elif path == "/cookie":  # sets a cookie; the v2 answer otherwise
            extra = "Set-Cookie: session=abc; Path=/\r\n"
            sock.sendall(_answer("200 OK", V2_OK, extra=extra))
        elif path == "/redirect":
            sock.sendall(_answer("307 Temporary Redirect", b"", extra="Location: /moved\r\n"))
        elif path == "/moved":
            sock.sendall(_answer("200 OK", V2_OK))
        elif path == "/gzip":
            packed = gzip.compress(V2_OK)
            sock.sendall(_answer("200 OK", packed, extra="Content-Encoding: gzip\r\n"))
        elif path == "/v2/models/garbage/infer":
            sock.sendall(_answer("200 OK", b"{not json"))
        elif path.startswith("/predictions/"):
            sock.sendall(_answer("200 OK", b'{"label": "cat"}'))
        elif path in ("/upload", "/raw"):
            sock.sendall(_answer("200 OK", b"received", "text/plain"))
        else:
            sock.sendall(_answer("404 Not Found", b'{"error": "no such path"}'))
        return True

    def _stream(self, sock: Any) -> bool:
        sock.sendall(STREAM_HEAD)
        for i in range(TOKENS):
            gevent.sleep(TOKEN_GAP_S)
            sock.sendall(_chunk(_delta(f"tok{i} ")))
        usage = {"prompt_tokens": 11, "completion_tokens": TOKENS, "total_tokens": 11 + TOKENS}
        sock.sendall(_chunk(_event({"choices": [], "usage": usage}) + b"data: [DONE]\n\n"))
        sock.sendall(b"0\r\n\r\n")
        return True

    def _v2(self, sock: Any, body: bytes) -> bool:
        length = int(self.requests[-1][2][INFERENCE_HEADER.lower()])
        _, tensors = decode_body(body, length, "inputs")
        (name, value), *_ = tensors.items()
        doc = {
            "model_name": "m",
            "outputs": [{"name": name, "datatype": "INT64", "shape": [1], "data": [len(value[0])]}],
        }
        sock.sendall(_answer("200 OK", json.dumps(doc).encode()))
        return True


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    fake = FakeTarget()
    fake.server.start()
    try:
        yield fake
    finally:
        fake.server.stop(timeout=1)


# -- running users -----------------------------------------------------------------


def _options(*args: str) -> argparse.Namespace:
    return get_parser().parse_args(["-f", "x.py", *args])


class Run:
    """One user instance in an Environment whose request events are collected."""

    def __init__(self, cls: type[MLUser], host: str, *args: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        events = Events()
        events.request.add_listener(lambda **kw: self.events.append(kw))
        events.user_error.add_listener(lambda exception, **_: self.errors.append(exception))
        # Locust copies --host into the user classes when it runs them; here, a subclass.
        cls = type(cls.__name__, (cls,), {"host": host, "__module__": __name__})
        self.env = Environment(
            user_classes=[cls], events=events, host=host, parsed_options=_options(*args)
        )
        self.user: Any = cls(self.env)
        self.user.on_start()

    def call(self, method: str, times: int = 1) -> list[Any]:
        return [getattr(self.user, method)() for _ in range(times)]

    def call_with(self, method: str, **kwargs: Any) -> list[Any]:
        return [getattr(self.user, method)(**kwargs)]

    def statuses(self) -> list[str]:
        return [_sample(e).status for e in self.events]


def _sample(event: dict[str, Any]) -> Any:
    sample, _ = sample_from_event(
        event["request_type"],
        event["name"],
        event["response_time"],
        event["response_length"],
        response=event.get("response"),
        exception=event.get("exception"),
        context=event.get("context"),
        start_time=event.get("start_time"),
    )
    return sample


class Chat(TextUser):
    network_timeout = 0.5

    @task
    def go(self) -> None:
        self.generate()


def _chat(**attrs: Any) -> type[TextUser]:
    return type("ChatVariant", (Chat,), {"__module__": __name__, **attrs})


# -- text users ----------------------------------------------------------------------


def test_chat_request_is_counted_with_tokens_and_bytes(target: FakeTarget) -> None:
    run = Run(Chat, target.url, "--ml-prompt-tokens", "const:40", "--ml-output-tokens", "const:7")
    (result,) = run.call("generate")
    assert result.ok
    assert result.text == "A short summary."
    (event,) = run.events
    sample = _sample(event)
    assert sample.status == "ok"
    assert (sample.tokens_in, sample.tokens_out) == (11, 4)  # the server's usage
    _, path, headers, body = target.requests[-1]
    doc = json.loads(body)
    assert path == "/v1/chat/completions"
    assert doc["max_tokens"] == 7
    assert doc["messages"][0]["role"] == "system"
    assert sample.bytes_sent == len(body) == int(headers["content-length"])


def test_stream_is_read_as_it_arrives(target: FakeTarget) -> None:
    run = Run(Chat, target.url, "--ml-stream", "on", "--ml-profile", "none")
    results = run.call("generate", times=2)  # the second reuses the connection
    assert all(r.ok for r in results)
    for event in run.events:
        sample = _sample(event)
        assert sample.status == "ok"
        assert sample.tokens_out == TOKENS
        assert len(sample.itl_ms) == TOKENS - 1
        # Lower bounds set by the server's pacing: had the body been read whole,
        # the gaps would be ~0.
        assert sample.ttft_ms >= TOKEN_GAP_S * 1000 * 0.9
        assert min(sample.itl_ms) >= TOKEN_GAP_S * 1000 * 0.9
        # Locust's response time covers the whole stream, not just the headers.
        assert event["response_time"] >= TOKENS * TOKEN_GAP_S * 1000 * 0.9
        assert event["response_length"] > 0
    assert json.loads(target.requests[-1][3])["stream"] is True
    assert target.requests[-1][2]["accept-encoding"] == "identity"


def test_completions_protocol_and_endpoint_option(target: FakeTarget) -> None:
    run = Run(Chat, target.url, "--ml-protocol", "completions", "--ml-model", "other")
    (result,) = run.call("chat")
    assert result.ok
    assert result.tokens_estimated
    _, path, _, body = target.requests[-1]
    assert path == "/v1/completions"
    assert json.loads(body)["model"] == "other"
    assert _sample(run.events[0]).tokens_out == 2  # "Done." counted by the reference rule


def test_profile_draws_lengths_and_token_options_override_columns(target: FakeTarget) -> None:
    run = Run(_chat(profile="azure_conv"), target.url, "--ml-output-tokens", "const:9")
    run.call("generate", times=20)
    prompts, outputs = zip(*(run.user.lengths() for _ in range(200)), strict=True)
    assert set(outputs) == {9}
    assert len(set(prompts)) > 50  # drawn from the trace's ContextTokens
    sent = [json.loads(b)["max_tokens"] for *_, b in target.requests]
    assert set(sent) == {9}


def test_min_tokens_and_extra_body(target: FakeTarget) -> None:
    cls = _chat(extra_body={"ignore_eos": True}, min_tokens=True, system_prompt=None)
    run = Run(cls, target.url, "--ml-output-tokens", "const:6")
    run.call("generate")
    doc = json.loads(target.requests[-1][3])
    assert doc["ignore_eos"] is True
    assert doc["min_tokens"] == doc["max_tokens"] == 6
    assert [m["role"] for m in doc["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("endpoint", "stream", "status", "message"),
    [
        ("/not-json", "off", "invalid", "not JSON"),
        ("/empty-completion", "off", "invalid", "empty completion"),
        ("/cut-body", "off", "invalid", ""),
        ("/shed", "off", "shed", "queue full"),
        ("/shed", "on", "shed", "queue full"),
        ("/cut-stream", "on", "invalid", "cut"),
        ("/not-sse", "on", "invalid", "not an SSE stream"),
        ("/stream-timeout-event", "on", "timeout", "timed out"),
        ("/stalled-stream", "on", "timeout", ""),
        ("/slow", "off", "timeout", ""),
        ("/hang-up", "off", "connection", ""),
        ("/not-http", "off", "other", ""),
        ("/no-such-path", "off", "client_error", "no such path"),
    ],
)
def test_garbage_is_a_classified_failure_never_an_exception(
    target: FakeTarget, endpoint: str, stream: str, status: str, message: str
) -> None:
    run = Run(Chat, target.url, "--ml-endpoint", endpoint, "--ml-stream", stream)
    results = run.call("generate", times=2)  # a broken connection must not poison the next
    assert [r is None or not r.ok for r in results] == [True, True]
    assert run.statuses() == [status, status]
    assert not run.errors
    assert message in str(run.events[0]["exception"])
    # Failed answers record no TTFT/ITL (only what was sent).
    ml = run.events[0]["context"][CONTEXT_KEY]
    assert "ttft_ms" not in ml
    assert ml["bytes_sent"] > 0


def test_a_good_request_after_a_cut_stream_uses_a_fresh_connection(target: FakeTarget) -> None:
    run = Run(_chat(endpoint="/cut-stream"), target.url, "--ml-stream", "on")
    run.call("generate")
    run.user.api = ChatCompletions("summarizer", stream=True)  # the good path
    (result,) = run.call("generate")
    assert result.ok
    assert run.statuses() == ["invalid", "ok"]


# -- settings ------------------------------------------------------------------------


def _settings(cls: Any, *args: str) -> Any:
    return cls.settings_for(read_options(_options(*args)))


def test_text_settings_come_from_class_then_options() -> None:
    s = _settings(_chat(profile="azure_conv", stream=True))
    assert (s.profile, s.stream, s.prompt_from_profile, s.output_from_profile) == (
        "azure_conv",
        True,
        True,
        True,
    )
    s = _settings(
        _chat(profile="azure_conv"), "--ml-prompt-tokens", "const:5", "--ml-stream", "off"
    )
    assert (s.prompt_from_profile, s.output_from_profile, s.stream) == (False, True, False)
    s = _settings(_chat(profile="azure_conv"), "--ml-profile", "none")
    assert s.profile is None
    assert _settings(ChatCompletionsUser).profile is None


@pytest.mark.parametrize(
    ("cls", "args", "error", "words"),
    [
        (Chat, ["--ml-protocol", "v2"], ConfigError, "not a text protocol"),
        (Chat, ["--ml-profile", "imagenet_image_sizes"], ConfigError, "no column 'ContextTokens'"),
        (Chat, ["--ml-profile", "no_such_profile"], TraceError, "no_such_profile"),
        (ImageUser, ["--ml-protocol", "chat"], ConfigError, "can't carry image"),
        (ImageUser, ["--ml-protocol", "raw"], ConfigError, "--ml-endpoint"),
        (ImageUser, ["--ml-profile", "librispeech_durations"], ConfigError, "width and height"),
        (AudioUser, ["--ml-profile", "none"], ConfigError, "need a size profile"),
    ],
)
def test_settings_that_do_not_fit_name_the_problem(
    cls: Any, args: list[str], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        _settings(cls, *args)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--ml-stream", "maybe"], "--ml-stream"),
        (["--ml-protocol", "grpc"], "--ml-protocol"),
        (["--ml-endpoint", "v1/chat"], "--ml-endpoint"),
        (["--ml-image-format", "gif"], "--ml-image-format"),
        (["--ml-pool-draws", "0"], "--ml-pool-draws"),
    ],
)
def test_bad_user_options_name_their_option(args: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        read_options(_options(*args))


def test_payload_settings_take_formats_and_pool_sizes_from_options() -> None:
    s = _settings(AudioUser, "--ml-audio-format", "flac", "--ml-pool-draws", "64")
    assert s.pool == PoolSpec("librispeech_durations", "flac", 64, AudioUser.pool_max_mb, 0)
    s = _settings(ImageUser, "--ml-image-format", "png", "--ml-pool-max-mb", "4", "--ml-seed", "3")
    assert (s.pool.format, s.pool.max_mb, s.pool.seed, s.model) == (
        "png",
        4.0,
        3,
        "image-classifier",
    )


def test_embedded_server_backend_follows_the_users_unless_the_option_says() -> None:
    def backend(cls: type, *args: str) -> str:
        env = types.SimpleNamespace(parsed_options=_options(*args), user_classes=[cls])
        return embedded.backend(env, read_options(env.parsed_options))

    assert backend(Img) == "image-classifier"
    assert backend(Audio) == "speech"
    assert backend(Chat) == "summarizer"
    assert backend(Img, "--ml-server-backend", "simulated") == "simulated"


# -- image and audio users ------------------------------------------------------------

BUILDS: list[PoolSpec] = []


def tiny_pool(profile: str, *, format: str, draws: int, seed: int, max_mb: float) -> PayloadPool:
    BUILDS.append(PoolSpec(profile, format, draws, max_mb, seed))
    if format in ("jpeg", "png", "webp"):
        sizes = {"width": np.array([16, 24, 40]), "height": np.array([16, 12, 30])}
        return build_image_pool(sizes, format=format, seed=seed, max_mb=1)
    return build_audio_pool({"duration_s": np.array([0.1, 0.25])}, format=format, seed=seed)


class Img(ImageUser):
    pool_factory = tiny_pool
    model = "m"

    @task
    def go(self) -> None:
        self.infer()


def _accept(doc: Any) -> str | None:
    return None if doc == "received" or "label" in doc else f"unexpected answer {doc!r}"


class Audio(AudioUser):
    pool_factory = tiny_pool
    model = "m"
    check = _accept

    @task
    def go(self) -> None:
        self.infer()


def test_v2_request_is_exactly_what_the_adapter_builds() -> None:
    pool = tiny_pool("p", format="jpeg", draws=3, seed=1, max_mb=1)
    payload = pool.pick(__import__("random").Random(2))
    for model, params in [
        (V2Model("m"), {}),
        (V2Model("m", version="2", headers={"X-Key": "k"}), {"top_k": 3}),
        (V2Model("m", outputs=("scores",)), {}),
    ]:
        fast = model.file_requests("image", parameters=params)(payload.parts)
        slow = model.request({"image": payload.data}, parameters=params or None)
        assert (fast.path, bytes(fast.body), dict(fast.headers)) == (
            slow.path,
            slow.body,
            dict(slow.headers),
        )


def test_image_user_sends_pool_payloads_as_v2_bytes(target: FakeTarget) -> None:
    run = Run(Img, target.url)
    results = run.call("infer", times=5)
    assert all(r.ok for r in results)
    asked, sent = target.requests[:2], target.requests[2:]
    assert [(method, path) for method, path, *_ in asked] == [
        ("GET", "/v2"),
        ("GET", "/v2/models/m"),
    ]
    bodies = [b for *_, b in sent]
    assert len(set(bodies)) == 5  # cache busting: every body differs
    for event, (_, path, headers, body) in zip(run.events, sent, strict=True):
        assert path == "/v2/models/m/infer"
        _, tensors = decode_body(body, int(headers[INFERENCE_HEADER.lower()]), "inputs")
        assert tensors["image"][0][:2] == b"\xff\xd8"  # a JPEG
        sample = _sample(event)
        assert sample.status == "ok"
        assert sample.bytes_sent == len(body)


@pytest.mark.parametrize(
    ("args", "path", "content_type"),
    [
        (["--ml-protocol", "torchserve"], "/predictions/m", "audio/wav"),
        (["--ml-protocol", "multipart", "--ml-endpoint", "/upload"], "/upload", "multipart/"),
        (
            ["--ml-protocol", "raw", "--ml-endpoint", "/raw", "--ml-audio-format", "flac"],
            "/raw",
            "audio/flac",
        ),
    ],
)
def test_audio_user_protocols(
    target: FakeTarget, args: list[str], path: str, content_type: str
) -> None:
    if "flac" in args:
        pytest.importorskip("soundfile")
    run = Run(Audio, target.url, *args)
    (result,) = run.call("infer")
    assert result.ok, result.error
    _, sent_path, headers, _ = target.requests[-1]
    assert sent_path == path
    assert headers["content-type"].startswith(content_type)
    assert run.statuses() == ["ok"]


def test_v2_garbage_answer_is_invalid(target: FakeTarget) -> None:
    run = Run(Img, target.url, "--ml-model", "garbage")
    (result,) = run.call("infer")
    assert result is not None
    assert not result.ok
    assert run.statuses() == ["invalid"]
    assert not run.errors


def test_users_of_one_spec_share_one_pool_built_once() -> None:
    spec = PoolSpec("anything", "png", 3, 1.0, 42)
    before = len(BUILDS)
    pools = [gevent.spawn(payload_pool, spec, tiny_pool) for _ in range(4)]
    gevent.joinall(pools, raise_error=True)
    assert len({id(g.value) for g in pools}) == 1
    assert BUILDS[before:] == [spec]


def test_init_checks_settings_and_builds_pools() -> None:
    spec = Img.settings_for(read_options(_options("--ml-seed", "77"))).pool
    env = types.SimpleNamespace(parsed_options=_options("--ml-seed", "77"), user_classes=[Img])
    users._prepare_users(env)
    assert spec in BUILDS
    bad = types.SimpleNamespace(
        parsed_options=_options("--ml-protocol", "chat"), user_classes=[Img]
    )
    with pytest.raises(SystemExit) as info:
        users._prepare_users(bad)
    assert info.value.code == 2


def test_read_some_returns_each_network_read(target: FakeTarget) -> None:
    """Pins the geventhttpclient internals the stream reader relies on."""
    from geventhttpclient import HTTPClient

    client = HTTPClient("127.0.0.1", target.server.server_port)
    body = json.dumps({"model": "summarizer", "messages": [], "stream": True})
    raw = client.request("POST", "/v1/chat/completions", body=body)
    reads: list[bytes] = []
    while chunk := ml_user._read_some(raw):
        reads.append(chunk)
    assert len(reads) >= TOKENS  # one per paced token, not one for the whole body
    assert b"".join(reads).endswith(b"data: [DONE]\n\n")
    assert raw.message_complete
    client.close()


def test_users_module_keeps_every_name_it_had() -> None:
    """users.py was split into ml_user, text_users and payload_users; imports still work."""
    import locust_ml
    from locust_ml.plugin import payload_users, text_users

    assert users.MLUser is ml_user.MLUser
    assert users.TextUser is text_users.TextUser
    assert users.ChatCompletionsUser is text_users.ChatCompletionsUser
    assert users.ImageUser is payload_users.ImageUser
    assert users.AudioUser is payload_users.AudioUser
    assert users.PayloadUser is payload_users.PayloadUser
    assert users.payload_pool is payload_users.payload_pool
    assert users.InferenceFailure is ml_user.InferenceFailure
    for name in ("TextUser", "ImageUser", "AudioUser", "MLUser", "ChatCompletionsUser"):
        assert getattr(locust_ml, name) is getattr(users, name)
    for name in users.__all__:
        assert getattr(users, name) is not None


def test_image_user_sends_v2_bodies_as_parts(target: FakeTarget) -> None:
    run = Run(Img, target.url)
    assert isinstance(run.user.client.client, PartsUserAgent)
    request = run.user._build(run.user.pool.pick(__import__("random").Random(1)))
    assert isinstance(request.body, BodyParts)
    (result,) = run.call("infer")
    assert result.ok
    # A client someone replaced (not Locust's user agent) gets the parts joined.
    run.user._sends_parts = False
    (result,) = run.call("infer")
    assert result.ok
    for (_, _, headers, body), event in zip(target.requests[-2:], run.events[-2:], strict=True):
        _, tensors = decode_body(body, int(headers[INFERENCE_HEADER.lower()]), "inputs")
        assert tensors["image"][0][:2] == b"\xff\xd8"
        assert _sample(event).bytes_sent == len(body)


def test_response_headers_read_like_a_dict_of_the_last_values() -> None:
    from geventhttpclient.header import Headers

    raw = Headers()
    raw["Content-Type"] = "application/json"
    raw.add("X-Seen", "one")
    raw.add("X-Seen", "two")
    view = ml_user._ResponseHeaders(raw)
    assert view.get("content-type") == view["CONTENT-TYPE"] == "application/json"
    assert view.get("x-seen") == "two"  # as dict(headers.items()) keeps it
    assert view.get("absent") is None
    assert view.get("absent", "d") == "d"
    assert "Content-Type" in view
    assert 3 not in view
    assert dict(view) == dict(raw.items())
    assert len(view) == 2
    with pytest.raises(KeyError):
        view["absent"]


# -- the direct path (plugin/direct.py) -------------------------------------------------


class ImgViaLocust(Img):
    direct_sends = False


def _no_session(run: Run) -> None:
    """Make Locust's session fail loudly: a request that should go direct must not use it."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("went through FastHttpSession.request")

    run.user.client.request = refuse


def test_v2_requests_go_direct_and_fire_the_event_locust_would(target: FakeTarget) -> None:
    direct, standard = Run(Img, target.url), Run(ImgViaLocust, target.url)
    _no_session(direct)
    (named,) = direct.call_with("infer", name="custom")
    (result,) = direct.call("infer")
    (expected,) = standard.call("infer")
    assert (named.ok, result.ok, expected.ok) == (True, True, True)
    assert direct.events[0]["name"] == "custom"
    event, reference = direct.events[1], standard.events[0]
    assert set(event) == set(reference)
    for key in ("request_type", "name", "url", "exception"):
        assert event[key] == reference[key], key
    assert event["response_length"] == len(event["response"].content) > 0
    assert type(event["response"]) is type(reference["response"])  # Locust's FastResponse
    response, locusts = event["response"], reference["response"]
    assert response.url == locusts.url == event["url"]
    assert response.request.method == locusts.request.method == "POST"
    assert type(response.request) is type(locusts.request)
    assert response.request.body == target.requests[-2][3]  # this request's own body
    sized_names = {"content-length", INFERENCE_HEADER.lower()}  # the two picks differ in size
    assert {k: v for k, v in response.request.headers.items() if k.lower() not in sized_names} == {
        k: v for k, v in locusts.request.headers.items() if k.lower() not in sized_names
    }
    assert event["response_time"] > 0
    assert event["start_time"] == pytest.approx(reference["start_time"], abs=30)
    assert event["context"][CONTEXT_KEY]["bytes_sent"] == len(target.requests[-2][3])
    sent, via_locust = target.requests[-2], target.requests[-1]
    assert sent[0:2] == via_locust[0:2]
    sized = {"content-length", INFERENCE_HEADER.lower()}  # the two picks differ in size

    def same(headers: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k not in sized}

    assert same(sent[2]) == same(via_locust[2])  # the same head, made once
    assert sent[2]["content-length"] == str(len(sent[3]))


@pytest.mark.parametrize(
    "endpoint",
    [
        "/shed",
        "/not-json",
        "/not-http",
        "/hang-up",
        "/cut-body",
        "/slow",
        "/no-such-path",
        "/gzip",
    ],
)
def test_direct_and_locust_paths_class_every_answer_alike(
    target: FakeTarget, endpoint: str
) -> None:
    outcomes = []
    for cls in (Img, ImgViaLocust):
        timed = type(cls.__name__, (cls,), {"network_timeout": 0.5, "__module__": __name__})
        run = Run(timed, target.url, "--ml-endpoint", endpoint)
        (result,) = run.call("infer")
        sample = _sample(run.events[0])
        outcomes.append(
            (
                sample.status,
                None if result is None else (result.ok, result.error_class, result.error),
                run.events[0]["response_length"],
                type(run.events[0]["exception"]).__name__,
                type(run.events[0]["response"]).__name__,
                getattr(run.events[0]["response"], "status_code", None),
            )
        )
        assert not run.errors
    assert outcomes[0] == outcomes[1]


def test_direct_path_without_an_answer(target: FakeTarget) -> None:
    port = target.server.server_port
    target.server.stop()  # nothing listens any more: connection refused
    run = Run(Img, f"http://127.0.0.1:{port}")
    (result,) = run.call("infer")
    assert result is None
    assert run.statuses() == ["connection"]
    assert run.events[0]["url"] == f"http://127.0.0.1:{port}/v2/models/m/infer"
    assert run.events[0]["response"].status_code == 0  # as Locust's ErrorResponse says it


def test_a_target_that_sets_cookies_gets_them_back_through_locust(target: FakeTarget) -> None:
    run = Run(Img, target.url, "--ml-endpoint", "/cookie")
    calls = []
    request = run.user.client.request
    run.user.client.request = lambda *a, **kw: calls.append(1) or request(*a, **kw)
    results = run.call("infer", times=3)
    assert all(r.ok for r in results)
    assert calls == [1, 1]  # the first went direct; the jar then holds a cookie
    sent = target.requests[2:]  # after GET /v2 and GET /v2/models/m
    assert "cookie" not in sent[0][2]
    assert sent[1][2]["cookie"] == "session=abc"
    assert run.statuses() == ["ok"] * 3


def test_a_redirect_is_followed_through_locust(target: FakeTarget) -> None:
    run = Run(Img, target.url, "--ml-endpoint", "/redirect")
    results = run.call("infer", times=2)
    assert all(r.ok for r in results)
    paths = [path for _, path, _, _ in target.requests[2:]]  # after the metadata GETs
    # The direct attempt, then Locust's: the redirect, and the redirected request.
    assert paths == ["/redirect", "/redirect", "/moved", "/redirect", "/moved"]
    assert run.statuses() == ["ok", "ok"]  # one event per request
    assert not run.user._direct.enabled


def test_retrying_user_agents_keep_locusts_path(target: FakeTarget) -> None:
    run = Run(Img, target.url)
    run.user.client.client.max_retries = 1
    calls = []
    request = run.user.client.request
    run.user.client.request = lambda *a, **kw: calls.append(1) or request(*a, **kw)
    (result,) = run.call("infer")
    assert result.ok
    assert calls == [1]


@pytest.mark.parametrize("cls", [Img, ImgViaLocust, Chat])
def test_rename_request_names_ml_requests_as_locusts_own(
    target: FakeTarget, cls: type[MLUser]
) -> None:
    run = Run(cls, target.url, "--ml-prompt-tokens", "const:20", "--ml-output-tokens", "const:5")
    method = "generate" if issubclass(cls, TextUser) else "infer"
    with run.user.client.rename_request("grouped"):
        getattr(run.user, method)()
        getattr(run.user, method)(name="explicit")  # an explicit name still wins
    getattr(run.user, method)()
    names = [event["name"] for event in run.events]
    assert names[:2] == ["grouped", "explicit"]
    assert names[2] not in ("grouped", "explicit")
    assert all(_sample(event).status == "ok" for event in run.events)


def _word_pieces(text: str) -> int:
    """A BPE-like count: words in pieces of up to 4 characters, punctuation 1 token."""
    return sum(
        max(1, -(-len(w) // 4)) if w[0].isalnum() else 1 for w in re.findall(r"\w+|[^\w\s]", text)
    )


def test_a_tokenizer_of_your_own_sets_the_prompt_length(target: FakeTarget) -> None:
    counted = _chat(tokenizer=staticmethod(_word_pieces), system_prompt=None)
    run = Run(counted, target.url, "--ml-prompt-tokens", "const:300", "--ml-profile", "none")
    results = run.call("generate", times=5)
    assert all(r.ok for r in results)
    prompts = [json.loads(body)["messages"][-1]["content"] for _, _, _, body in target.requests]
    assert [_word_pieces(p) for p in prompts] == [300] * 5
    assert all(count_tokens(p) < 300 for p in prompts)  # not the rule's length
    assert len(set(prompts)) == 5
