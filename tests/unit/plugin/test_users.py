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

import json
import random
import re
import types
from typing import Any

import gevent
import pytest
from locust import task

from locust_ml.errors import ConfigError, TraceError
from locust_ml.options import read_options
from locust_ml.payloads.text import count_tokens
from locust_ml.plugin import embedded, payload_users, text_users, transport, users
from locust_ml.plugin.messages import CONTEXT_KEY
from locust_ml.plugin.users import (
    AudioUser,
    ImageUser,
    MLUser,
    PoolSpec,
    TextUser,
    payload_pool,
)
from locust_ml.protocols.openai import ChatCompletions
from locust_ml.protocols.v2 import V2Model
from locust_ml.protocols.v2_tensors import INFERENCE_HEADER, decode_body
from tests.unit.plugin.fake_target import (
    BUILDS,
    TOKEN_GAP_S,
    TOKENS,
    FakeTarget,
    Run,
    options,
    sample_of,
    tiny_pool,
)


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
    sample = sample_of(event)
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
        sample = sample_of(event)
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
    (result,) = run.call("generate")
    assert result.ok
    assert result.tokens_estimated
    _, path, _, body = target.requests[-1]
    assert path == "/v1/completions"
    assert json.loads(body)["model"] == "other"
    assert sample_of(run.events[0]).tokens_out == 2  # "Done." counted by the reference rule


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
    return cls.settings_for(read_options(options(*args)))


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
    assert _settings(Chat).profile is None


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
        read_options(options(*args))


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
        env = types.SimpleNamespace(parsed_options=options(*args), user_classes=[cls])
        return embedded.backend(env, read_options(env.parsed_options))

    assert backend(Img) == "image-classifier"
    assert backend(Audio) == "speech"
    assert backend(Chat) == "summarizer"
    assert backend(Img, "--ml-server-backend", "simulated") == "simulated"


# -- image and audio users ------------------------------------------------------------


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
    payload = pool.pick(random.Random(2))
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
        sample = sample_of(event)
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
    spec = Img.settings_for(read_options(options("--ml-seed", "77"))).pool
    env = types.SimpleNamespace(parsed_options=options("--ml-seed", "77"), user_classes=[Img])
    users._prepare_users(env)
    assert spec in BUILDS
    bad = types.SimpleNamespace(parsed_options=options("--ml-protocol", "chat"), user_classes=[Img])
    with pytest.raises(SystemExit) as info:
        users._prepare_users(bad)
    assert info.value.code == 2


def test_users_module_holds_the_public_names_of_their_modules() -> None:
    """users.py is where locustfiles import users from; each lives in a module of its own."""
    import locust_ml
    from locust_ml.plugin import ml_user

    assert users.MLUser is ml_user.MLUser
    assert users.TextUser is text_users.TextUser
    assert users.ImageUser is payload_users.ImageUser
    assert users.AudioUser is payload_users.AudioUser
    assert users.PayloadUser is payload_users.PayloadUser
    assert users.payload_pool is payload_users.payload_pool
    assert users.InferenceFailure is transport.InferenceFailure
    for name in ("TextUser", "ImageUser", "AudioUser", "MLUser"):
        assert getattr(locust_ml, name) is getattr(users, name)
    for name in users.__all__:
        assert getattr(users, name) is not None
    assert not hasattr(users, "ChatCompletionsUser")
    assert not hasattr(TextUser, "chat")


class ImgViaLocust(Img):
    direct_sends = False


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
    assert all(sample_of(event).status == "ok" for event in run.events)


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
