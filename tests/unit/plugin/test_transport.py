"""The transport: the direct path and Locust's session fire the same event, the internals check.

Requests go to the fake target of ``fake_target.py``. The direct path is
compared with Locust's session request by request (the events listeners
get, how every kind of answer is classed); the start-up check is run
against the installed Locust and geventhttpclient, and against a simulated
mismatch (an attribute monkeypatched away), which must send everything
through Locust's session and say so once.
"""

from __future__ import annotations

import array
import json
import logging
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gevent.server import StreamServer
from geventhttpclient import HTTPClient
from geventhttpclient.header import Headers
from locust import task
from locust.contrib.fasthttp import FastResponse

from locust_ml.plugin import transport
from locust_ml.plugin.messages import CONTEXT_KEY
from locust_ml.plugin.users import ImageUser, MLUser, TextUser
from locust_ml.protocols.base import BodyParts
from locust_ml.protocols.v2_tensors import INFERENCE_HEADER, decode_body
from tests.unit.plugin.fake_target import TOKEN_GAP_S, TOKENS, FakeTarget, Run, sample_of, tiny_pool

# -- users --------------------------------------------------------------------------------


class Img(ImageUser):
    pool_factory = tiny_pool
    model = "m"

    @task
    def go(self) -> Any:
        return self.infer()


class ImgViaLocust(Img):
    direct_sends = False


class Chat(TextUser):
    network_timeout = 0.5

    @task
    def go(self) -> Any:
        return self.generate()


class ChatViaLocust(Chat):
    direct_sends = False


TEXT_ARGS = ("--ml-prompt-tokens", "const:40", "--ml-output-tokens", "const:7")


def _no_session(run: Run) -> None:
    """Make Locust's session fail loudly: a request that should go direct must not use it."""

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("went through FastHttpSession.request")

    run.user.client.request = refuse


def _count_session(run: Run) -> list[int]:
    """Count the requests that go through Locust's session."""
    calls: list[int] = []
    request = run.user.client.request
    run.user.client.request = lambda *a, **kw: calls.append(1) or request(*a, **kw)
    return calls


@pytest.fixture
def fresh_check() -> Iterator[None]:
    """The start-up check and its warning as in a new process, before and after the test."""
    transport.internals_mismatch.cache_clear()
    transport._warned_fallback.clear()
    yield
    transport.internals_mismatch.cache_clear()
    transport._warned_fallback.clear()


# -- the start-up check -------------------------------------------------------------------


def test_the_internals_match_the_installed_versions(fresh_check: None) -> None:
    assert transport.internals_mismatch() is None
    rows = {(r.module, r.owner, r.attribute) for r in transport.INTERNALS}
    assert len(rows) == len(transport.INTERNALS)  # each listed once
    assert all(r.why for r in transport.INTERNALS)


def test_docs_list_every_internal_and_why() -> None:
    """docs/development.md's table is INTERNALS, row for row."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "development.md").read_text()
    rows = re.findall(r"^\| `([^`]+)`(?: \(([^)]*)\))? \| (.+) \|$", doc, re.MULTILINE)
    expected = [
        (".".join(filter(None, (r.module, r.owner, r.attribute))), ", ".join(r.params), r.why)
        for r in transport.INTERNALS
    ]
    assert rows == expected


@pytest.mark.parametrize("cls", [Img, Chat])
def test_ml_users_go_direct_on_the_installed_versions(
    target: FakeTarget, cls: type[MLUser], fresh_check: None
) -> None:
    run = Run(cls, target.url, *TEXT_ARGS)
    assert run.user._transport.direct
    _no_session(run)
    (result,) = run.call("go")
    assert result.ok
    assert run.statuses() == ["ok"]


# Simulated upgrades: each changes a name the direct path relies on and Locust's own
# path does not (it must still work, as the fallback).


def _remove_make_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from geventhttpclient.useragent import UserAgent

    monkeypatch.delattr(UserAgent, "_make_request")


def _rename_error_response_params(monkeypatch: pytest.MonkeyPatch) -> None:
    from locust.contrib import fasthttp

    init = fasthttp.ErrorResponse.__init__

    def renamed(self: Any, req: Any, err: Exception) -> None:
        init(self, req, err)

    monkeypatch.setattr(fasthttp.ErrorResponse, "__init__", renamed)


@pytest.mark.parametrize(
    ("mismatch", "named"),
    [
        (_remove_make_request, "geventhttpclient.useragent.UserAgent._make_request is missing"),
        (_rename_error_response_params, "ErrorResponse.__init__ takes no request, error"),
    ],
)
def test_a_mismatch_sends_through_locust_and_warns_once(
    target: FakeTarget,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fresh_check: None,
    mismatch: Any,
    named: str,
) -> None:
    mismatch(monkeypatch)
    caplog.set_level(logging.WARNING, logger="locust_ml")
    runs = [Run(Img, target.url), Run(Chat, target.url, *TEXT_ARGS), Run(Img, target.url)]
    assert all(not run.user._transport.direct for run in runs)
    for run in runs:
        calls = _count_session(run)
        results = run.call("go", times=2)
        assert all(r.ok for r in results)
        assert calls == [1, 1]
        assert run.statuses() == ["ok", "ok"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert named in warnings[0]
    assert "Locust's own path" in warnings[0]


def test_without_the_internals_streams_are_still_read_as_they_arrive(
    target: FakeTarget, monkeypatch: pytest.MonkeyPatch, fresh_check: None
) -> None:
    _remove_make_request(monkeypatch)
    run = Run(Chat, target.url, "--ml-stream", "on", "--ml-profile", "none")
    assert run.user._transport._read is transport._read_line
    results = run.call("go", times=2)
    assert all(r.ok for r in results)
    for event in run.events:
        sample = sample_of(event)
        assert sample.tokens_out == TOKENS
        assert len(sample.itl_ms) == TOKENS - 1
        assert min(sample.itl_ms) >= TOKEN_GAP_S * 1000 * 0.9
        assert event["response_time"] >= TOKENS * TOKEN_GAP_S * 1000 * 0.9


# -- both paths, one event ----------------------------------------------------------------

EVENT_FIELDS = {
    "request_type",
    "name",
    "response_time",
    "response_length",
    "context",
    "exception",
    "response",
    "start_time",
    "url",
}


@pytest.mark.parametrize(
    ("direct_cls", "locust_cls", "args"),
    [(Img, ImgViaLocust, ()), (Chat, ChatViaLocust, TEXT_ARGS)],
)
def test_both_paths_fire_one_event_per_request_with_the_same_fields(
    target: FakeTarget,
    direct_cls: type[MLUser],
    locust_cls: type[MLUser],
    args: tuple[str, ...],
    fresh_check: None,
) -> None:
    direct, standard = Run(direct_cls, target.url, *args), Run(locust_cls, target.url, *args)
    _no_session(direct)
    for run in (direct, standard):
        results = run.call("go", times=3)
        assert all(r.ok for r in results)
        assert len(run.events) == 3  # one event per request
    for event, reference in zip(direct.events, standard.events, strict=True):
        assert set(event) == set(reference) == EVENT_FIELDS
        for key in ("request_type", "name", "url", "exception"):
            assert event[key] == reference[key], key
        for e in (event, reference):  # what was read (the answers differ with the picks)
            assert e["response_length"] == len(e["response"].content) > 0
        assert type(event["response"]) is type(reference["response"]) is FastResponse
        assert event["response"].url == reference["response"].url == event["url"]
        assert event["response"].status_code == reference["response"].status_code == 200
        assert type(event["response_time"]) is type(reference["response_time"]) is float
        assert event["response_time"] > 0
        assert event["start_time"] == pytest.approx(reference["start_time"], abs=30)
        ml, ml_reference = event["context"][CONTEXT_KEY], reference["context"][CONTEXT_KEY]
        assert set(ml) == set(ml_reference)
        assert set(event["context"]) == set(reference["context"])
    sent = [len(body) for *_, body in target.posted]
    recorded = [e["context"][CONTEXT_KEY]["bytes_sent"] for e in direct.events + standard.events]
    assert recorded == sent


def test_the_direct_events_response_is_what_locusts_session_gives(target: FakeTarget) -> None:
    direct, standard = Run(Img, target.url), Run(ImgViaLocust, target.url)
    _no_session(direct)
    (named,) = direct.call_with("infer", name="custom")
    (result,) = direct.call("infer")
    (expected,) = standard.call("infer")
    assert (named.ok, result.ok, expected.ok) == (True, True, True)
    assert direct.events[0]["name"] == "custom"
    event, reference = direct.events[1], standard.events[0]
    response, locusts = event["response"], reference["response"]
    assert event["response_length"] == len(response.content) > 0
    assert response.request.method == locusts.request.method == "POST"
    assert type(response.request) is type(locusts.request)
    assert response.request.body == target.posted[-2][3]  # this request's own body
    sized = {"content-length", INFERENCE_HEADER.lower()}  # the two picks differ in size

    def same(headers: Any) -> dict[str, str]:
        return {k.lower(): v for k, v in headers.items() if k.lower() not in sized}

    assert same(response.request.headers) == same(locusts.request.headers)
    sent, via_locust = target.posted[-2], target.posted[-1]
    assert sent[0:2] == via_locust[0:2]
    assert same(sent[2]) == same(via_locust[2])  # the same head, made once
    assert sent[2]["content-length"] == str(len(sent[3]))


@pytest.mark.parametrize(
    "endpoint",
    ["/shed", "/not-json", "/not-http", "/hang-up", "/cut-body", "/slow", "/no-such-path", "/gzip"],
)
@pytest.mark.parametrize(("direct_cls", "locust_cls"), [(Img, ImgViaLocust), (Chat, ChatViaLocust)])
def test_both_paths_class_every_answer_alike(
    target: FakeTarget, endpoint: str, direct_cls: type[MLUser], locust_cls: type[MLUser]
) -> None:
    outcomes = []
    for cls in (direct_cls, locust_cls):
        timed = type(cls.__name__, (cls,), {"network_timeout": 0.5, "__module__": __name__})
        run = Run(timed, target.url, "--ml-endpoint", endpoint, *TEXT_ARGS)
        (result,) = run.call("go")
        event = run.events[0]
        outcomes.append(
            (
                sample_of(event).status,
                None if result is None else (result.ok, result.error_class, result.error),
                event["response_length"],
                type(event["exception"]).__name__,
                type(event["response"]).__name__,
                getattr(event["response"], "status_code", None),
            )
        )
        assert not run.errors
    assert outcomes[0] == outcomes[1]


def test_streams_go_direct_and_are_read_as_they_arrive(target: FakeTarget) -> None:
    run = Run(Chat, target.url, "--ml-stream", "on", "--ml-profile", "none")
    _no_session(run)
    results = run.call("go", times=2)  # the second reuses the connection
    assert all(r.ok for r in results)
    for event in run.events:
        sample = sample_of(event)
        assert len(sample.itl_ms) == TOKENS - 1
        assert sample.ttft_ms >= TOKEN_GAP_S * 1000 * 0.9
        assert event["response_time"] >= TOKENS * TOKEN_GAP_S * 1000 * 0.9
    assert target.posted[-1][2]["accept-encoding"] == "identity"


def test_text_requests_of_any_length_share_one_head(target: FakeTarget) -> None:
    run = Run(Chat, target.url, "--ml-profile", "azure_conv")
    results = run.call("go", times=5)
    assert all(r.ok for r in results)
    assert len({len(body) for *_, body in target.posted}) > 1
    assert len(run.user._transport._heads) == 1
    assert all(h["content-length"] == str(len(b)) for _, _, h, b in target.posted)


# -- when the direct path steps aside -----------------------------------------------------


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
    calls = _count_session(run)
    results = run.call("infer", times=3)
    assert all(r.ok for r in results)
    assert calls == [1, 1]  # the first went direct; the jar then holds a cookie
    assert "cookie" not in target.posted[0][2]
    assert target.posted[1][2]["cookie"] == "session=abc"
    assert run.statuses() == ["ok"] * 3


def test_a_redirect_is_followed_through_locust(target: FakeTarget) -> None:
    run = Run(Img, target.url, "--ml-endpoint", "/redirect")
    results = run.call("infer", times=2)
    assert all(r.ok for r in results)
    paths = [path for _, path, _, _ in target.posted]
    # The direct attempt, then Locust's: the redirect, and the redirected request.
    assert paths == ["/redirect", "/redirect", "/moved", "/redirect", "/moved"]
    assert run.statuses() == ["ok", "ok"]  # one event per request
    assert not run.user._transport.direct


def test_retrying_user_agents_keep_locusts_path(target: FakeTarget) -> None:
    run = Run(Img, target.url)
    run.user.client.client.max_retries = 1
    calls = _count_session(run)
    (result,) = run.call("infer")
    assert result.ok
    assert calls == [1]


@pytest.mark.parametrize(
    "headers",
    [
        {"Expect": "100-continue"},
        {"expect": "100-Continue"},
        {"Transfer-Encoding": "chunked"},
        {"Content-Length": "12"},
    ],
)
def test_heads_geventhttpclient_must_write_take_locusts_path(
    target: FakeTarget, headers: dict[str, str]
) -> None:
    run = Run(Img, target.url)
    head = run.user._transport._head("/x", {"Content-Type": "a/b", **headers})
    assert head is transport._LOCUST_ONLY


def test_image_user_sends_v2_bodies_as_parts(target: FakeTarget) -> None:
    run = Run(Img, target.url)
    request = run.user._build(run.user.pool.pick(random.Random(1)))
    assert isinstance(request.body, BodyParts)
    direct = run.call("infer")
    run.user._transport.direct = False  # Locust's session: the parts joined
    via_locust = run.call("infer")
    assert all(r.ok for r in direct + via_locust)
    for (_, _, headers, body), event in zip(target.posted, run.events, strict=True):
        _, tensors = decode_body(body, int(headers[INFERENCE_HEADER.lower()]), "inputs")
        assert tensors["image"][0][:2] == b"\xff\xd8"
        assert sample_of(event).bytes_sent == len(body)


# -- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize("read", [transport._read_some, transport._read_line])
def test_stream_readers_hand_on_each_network_read(target: FakeTarget, read: Any) -> None:
    client = HTTPClient("127.0.0.1", target.server.server_port)
    body = json.dumps({"model": "summarizer", "messages": [], "stream": True})
    raw = client.request("POST", "/v1/chat/completions", body=body)
    reads: list[bytes] = []
    while chunk := read(raw):
        reads.append(chunk)
    assert len(reads) >= TOKENS  # one per paced token, not one for the whole body
    assert b"".join(reads).endswith(b"data: [DONE]\n\n")
    assert raw.message_complete
    client.close()


def test_response_headers_read_like_a_dict_of_the_last_values() -> None:
    raw = Headers()
    raw["Content-Type"] = "application/json"
    raw.add("X-Seen", "one")
    raw.add("X-Seen", "two")
    view = transport._ResponseHeaders(raw)
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


# -- writing ------------------------------------------------------------------------------

ANSWER = b'{"outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1.0]}]}'


class Recorder:
    """Reads each request whole (head and Content-Length bytes) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, bytes]] = []
        self.server = StreamServer(("127.0.0.1", 0), self._handle)

    def _handle(self, sock: Any, _addr: Any) -> None:
        data = b""
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    got = sock.recv(65536)
                    if not got:
                        return
                    data += got
                head, _, data = data.partition(b"\r\n\r\n")
                fields = dict(
                    line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
                )
                fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
                size = int(fields.get(b"content-length", b"0"))
                while len(data) < size:
                    data += sock.recv(65536)
                body, data = data[:size], data[size:]
                self.requests.append((head, body))
                sock.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(ANSWER)
                    + ANSWER
                )
        finally:
            sock.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    rec.server.start()
    try:
        yield rec
    finally:
        rec.server.stop(timeout=1)


def _body() -> BodyParts:
    image = bytes(range(256)) * 3000  # 768 kB: more than one socket buffer's worth
    return BodyParts([b'{"inputs": []}', b"\x00\x0c\x00\x00", memoryview(image)[5:], b"nonce"])


def _head(body: BodyParts | bytes) -> bytes:
    return b"POST /v2/models/m/infer HTTP/1.1\r\nX-Key: k\r\nContent-Length: %d\r\n\r\n" % len(body)


@pytest.mark.parametrize("make", [_body, lambda: bytes(_body())])
def test_bodies_arrive_byte_for_byte_on_a_kept_alive_connection(
    recorder: Recorder, make: Any
) -> None:
    client = HTTPClient("127.0.0.1", recorder.server.server_port)
    for _ in range(3):
        body = make()
        resp = transport._write(client, _head(body), body)
        assert resp.status_code == 200
        assert resp.read() == ANSWER
        resp.release()
        head, received = recorder.requests[-1]
        assert received == bytes(body)
        assert head.startswith(b"POST /v2/models/m/infer HTTP/1.1\r\n")
    client.close()


def test_without_sendmsg_the_buffers_are_joined(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HTTPClient("127.0.0.1", recorder.server.server_port)
    client.ssl = True  # TLS sockets have no sendmsg: the join path, on a plain socket here
    sent: list[int] = []
    send_all = transport._send_all
    monkeypatch.setattr(transport, "_send_all", lambda *a: sent.append(1) or send_all(*a))
    resp = transport._write(client, _head(_body()), _body())
    assert resp.status_code == 200
    assert recorder.requests[-1][1] == bytes(_body())
    assert sent == []
    client.close()


class _TrickleSocket:
    """Takes at most ``step`` bytes per sendmsg, sometimes none (as a full buffer does)."""

    def __init__(self, step: int) -> None:
        self.step = step
        self.calls = 0
        self.out = bytearray()

    def sendmsg(self, buffers: list[Any]) -> int:
        self.calls += 1
        if self.calls % 3 == 0:
            return 0
        data = b"".join(bytes(b) for b in buffers)[: self.step]
        self.out += data
        return len(data)


@pytest.mark.parametrize("step", [1, 3, 7, 1000, 10**9])
def test_partial_sends_resume_where_they_stopped(step: int) -> None:
    wide = memoryview(array.array("H", range(50)))  # 2-byte items: sent as bytes
    buffers = (b"head", b"", memoryview(b"abcdef")[1:], wide, b"x" * 300, b"", b"tail")
    size = sum(memoryview(b).nbytes for b in buffers)
    sock = _TrickleSocket(step)
    transport._send_all(sock, buffers, size)
    assert bytes(sock.out) == b"".join(bytes(b) for b in buffers)


def test_more_buffers_than_one_sendmsg_takes() -> None:
    buffers = tuple(bytes([i % 256]) * (i % 5) for i in range(300))
    sock = _TrickleSocket(10**9)
    transport._send_all(sock, buffers, sum(map(len, buffers)))
    assert bytes(sock.out) == b"".join(buffers)
