"""A fake target and a one-user runner for the ML users' and the transport's tests.

The target is a raw gevent socket server in this process, so a test can send
exactly the bytes it needs: a stream paced token by token, a body cut
mid-event, an answer that isn't HTTP. :class:`Run` makes one user in an
Environment whose request events it collects; :func:`sample` classes an
event through the plugin's own ``sample_from_event``.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
from typing import Any

import gevent
import numpy as np
from gevent.server import StreamServer
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.payloads.audio_pool import build_audio_pool
from locust_ml.payloads.image_pool import build_image_pool
from locust_ml.payloads.payload import PayloadPool
from locust_ml.plugin.ml_user import MLUser
from locust_ml.plugin.payload_users import PoolSpec
from locust_ml.plugin.recorder import sample_from_event
from locust_ml.protocols.v2_tensors import INFERENCE_HEADER, decode_body

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
    def posted(self) -> list[tuple[str, str, dict[str, str], bytes]]:
        """The requests that were inferences: not the GETs a payload user asks first (its
        target's v2 metadata, once per process: plugin/payload_encoding.py)."""
        return [r for r in self.requests if r[0] == "POST"]

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


# -- running users -----------------------------------------------------------------


def options(*args: str) -> argparse.Namespace:
    return get_parser().parse_args(["-f", "x.py", *args])


class Run:
    """One user instance in an Environment whose request events are collected."""

    def __init__(self, cls: type[MLUser], host: str, *args: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        events = Events()
        # The context as listeners see it when the event fires (the recorder reads it
        # then): a field added to it afterwards must not count.
        events.request.add_listener(
            lambda **kw: self.events.append({**kw, "context": copy.deepcopy(kw.get("context"))})
        )
        events.user_error.add_listener(lambda exception, **_: self.errors.append(exception))
        # Locust copies --host into the user classes when it runs them; here, a subclass.
        cls = type(cls.__name__, (cls,), {"host": host, "__module__": __name__})
        self.env = Environment(
            user_classes=[cls], events=events, host=host, parsed_options=options(*args)
        )
        self.user: Any = cls(self.env)
        self.user.on_start()

    def call(self, method: str, times: int = 1) -> list[Any]:
        return [getattr(self.user, method)() for _ in range(times)]

    def call_with(self, method: str, **kwargs: Any) -> list[Any]:
        return [getattr(self.user, method)(**kwargs)]

    def statuses(self) -> list[str]:
        return [sample_of(e).status for e in self.events]


def sample_of(event: dict[str, Any]) -> Any:
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


#: The pools tiny_pool built, in order (a test checks a pool is built once).
BUILDS: list[PoolSpec] = []


def tiny_pool(profile: str, *, format: str, draws: int, seed: int, max_mb: float) -> PayloadPool:
    """A pool of three small images or two short clips, built in milliseconds."""
    BUILDS.append(PoolSpec(profile, format, draws, max_mb, seed))
    if format in ("jpeg", "png", "webp"):
        sizes = {"width": np.array([16, 24, 40]), "height": np.array([16, 12, 30])}
        return build_image_pool(sizes, format=format, seed=seed, max_mb=1)
    return build_audio_pool({"duration_s": np.array([0.1, 0.25])}, format=format, seed=seed)
