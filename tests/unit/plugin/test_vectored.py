"""Vectored sends: bodies made of parts reach the server byte for byte, in one sendmsg.

The server is a raw gevent socket server in this process that records each
request exactly as it arrived. The geventhttpclient internals that
``send_parts`` relies on are pinned here, so an upgrade that moves them fails
loudly instead of sending wrong bytes.
"""

from __future__ import annotations

import array
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from gevent.server import StreamServer
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPSocketPoolResponse
from locust.contrib.fasthttp import LocustUserAgent

from locust_ml.plugin import vectored
from locust_ml.plugin.vectored import PartsUserAgent, send_parts
from locust_ml.protocols.base import BodyParts

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
                if fields.get(b"expect", b"").lower() == b"100-continue":
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
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


# -- the internals send_parts relies on --------------------------------------------------


def test_geventhttpclient_internals_are_where_send_parts_expects_them() -> None:
    client = HTTPClient("127.0.0.1", 9)
    assert callable(client._build_request)
    assert hasattr(client._connection_pool, "get_socket")
    assert hasattr(client._connection_pool, "release_socket")
    assert isinstance(client.block_size, int)
    assert client.headers_type is not None
    assert client.ssl is False
    head = client._build_request(
        "POST",
        "/x",
        body=_body(),  # type: ignore[arg-type]
        headers={},
        chunked=False,
    )
    assert f"Content-Length: {len(_body())}\r\n" in head
    assert callable(LocustUserAgent._urlopen)
    assert callable(HTTPSocketPoolResponse)
    client.close()


# -- sending --------------------------------------------------------------------------------


def test_parts_arrive_byte_for_byte_on_a_kept_alive_connection(recorder: Recorder) -> None:
    client = HTTPClient("127.0.0.1", recorder.server.server_port)
    for _ in range(3):
        body = _body()
        resp = send_parts(client, "post", "/v2/models/m/infer", body, {"X-Key": "k"})
        assert resp.status_code == 200
        assert resp.read() == ANSWER
        resp.release()
        head, received = recorder.requests[-1]
        assert received == bytes(body)
        assert head.startswith(b"POST /v2/models/m/infer HTTP/1.1\r\n")
        assert b"X-Key: k" in head
    client.close()


def test_without_sendmsg_the_parts_are_joined(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HTTPClient("127.0.0.1", recorder.server.server_port)
    client.ssl = True  # TLS sockets have no sendmsg: the join path, on a plain socket here
    sent: list[int] = []
    send_all = vectored._send_all
    monkeypatch.setattr(vectored, "_send_all", lambda *a: sent.append(1) or send_all(*a))
    resp = send_parts(client, "POST", "/x", _body(), {})
    assert resp.status_code == 200
    assert recorder.requests[-1][1] == bytes(_body())
    assert sent == []
    client.close()


@pytest.mark.parametrize("expect", ["Expect", "expect"])
def test_expect_continue_goes_through_geventhttpclient(recorder: Recorder, expect: str) -> None:
    client = HTTPClient("127.0.0.1", recorder.server.server_port)
    resp = send_parts(client, "POST", "/x", _body(), {expect: "100-continue"})
    assert resp.status_code == 200
    assert recorder.requests[-1][1] == bytes(_body())
    client.close()


def test_chunked_transfer_goes_through_geventhttpclient() -> None:
    calls: list[dict[str, Any]] = []

    class Client:
        def request(self, method: str, uri: str, **kw: Any) -> str:
            calls.append({"method": method, "uri": uri, **kw})
            return "response"

    body = _body()
    headers = {"Transfer-Encoding": "chunked"}
    assert send_parts(Client(), "post", "/x", body, headers) == "response"  # type: ignore[arg-type]
    assert calls == [{"method": "POST", "uri": "/x", "body": bytes(body), "headers": headers}]


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
    vectored._send_all(sock, buffers, size)
    assert bytes(sock.out) == b"".join(bytes(b) for b in buffers)


def test_more_buffers_than_one_sendmsg_takes() -> None:
    buffers = tuple(bytes([i % 256]) * (i % 5) for i in range(300))
    sock = _TrickleSocket(10**9)
    vectored._send_all(sock, buffers, sum(map(len, buffers)))
    assert bytes(sock.out) == b"".join(buffers)


# -- the user agent -------------------------------------------------------------------------


def test_user_agent_sends_parts_and_leaves_other_payloads_to_locust(recorder: Recorder) -> None:
    agent = LocustUserAgent()
    agent.__class__ = PartsUserAgent
    url = f"http://127.0.0.1:{recorder.server.server_port}/v2/models/m/infer"
    body = _body()
    resp = agent.urlopen(url, method="POST", payload=body, headers={"Content-Type": "a/b"})
    assert resp.status_code == 200
    assert recorder.requests[-1][1] == bytes(body)
    resp = agent.urlopen(url, method="POST", payload=b"plain", headers={"Content-Type": "a/b"})
    assert resp.status_code == 200
    assert recorder.requests[-1][1] == b"plain"
    gevent.sleep(0)
