"""One transport for every ML user's sends: a request out, the answer judged, one event.

Every locust-ml user (text, image, audio, a locustfile's own) sends through
:class:`Transport`: :meth:`~locust_ml.plugin.ml_user.MLUser.send_request`
hands it an :class:`~locust_ml.protocols.base.HttpRequest` and the protocol
adapter that judges the answer, and it fires exactly one Locust ``request``
event with the fields Locust's own ``FastHttpSession.request`` gives it, the
ML fields in ``context["locust_ml"]``. It has two paths to the target:

* **direct** (the default): Locust's session and geventhttpclient's user
  agent are general, and per request they merge and validate headers, parse
  the URL, build a request object, consult the cookie jar, run the retry and
  redirect loops and check every header name against a regular expression:
  more CPU than the ML work itself (measured, ``benchmarks/transport.py``
  and ``user_overhead.py``). An ML request changes little from one to the
  next (same method, path and headers), so the direct path builds each
  request head once, as those layers would, and per request adds the
  ``Content-Length``, takes a socket from the same connection pool, writes
  the head and the body's buffers in one ``sendmsg`` (a pool's image is
  never joined into one buffer), and reads the answer with the same parser,
  wrapped in Locust's ``FastResponse``;
* **Locust's session** (``self.client.request(..., catch_response=True,
  context=...)``): whenever the direct path would do less than Locust does.
  It steps aside when the user agent retries (``max_retries`` > 0) or holds
  cookies (a target that sets one gets it back from then on); for methods
  other than POST (geventhttpclient retries idempotent ones on a stale
  connection); for an empty body, ``Expect: 100-continue`` or a
  ``Transfer-Encoding``; after a redirect (the first one a user meets turns
  its direct path off, and the request is sent again through Locust, which
  follows it: the target sees that request twice); when the user says
  ``direct_sends = False``; and for the whole process when the Locust or
  geventhttpclient installed is not the one the direct path was written for.

**The internals it touches** are the rows of :data:`INTERNALS`, each with
why it is needed (``docs/development.md`` shows the table). Locust is
pinned below 3 only, so :func:`internals_mismatch` checks every row against
the installed versions once per process (attributes, call signatures, and
one response parsed over a local socket pair); when one differs, the whole
process sends through Locust's session, with one warning that names it.

**Every answer is judged and classed.** A 2xx the adapter rejects (not
JSON, a truncated stream, a wrong shape) fails with
:class:`InferenceFailure`, which the recorder classes ``invalid``; a 4xx/5xx
is classed by its status; a timeout or a refused connection by its
exception (unwrapped from geventhttpclient's ``RetriesExceeded``, which
would otherwise hide a timeout). Failure messages never hold the
credentials sent. Nothing a target answers makes an exception leave the
user; an adapter that raises is counted as a failure that says so.

**Streams are read as they arrive.** geventhttpclient's ``read(n)`` waits
for ``n`` bytes, which would hold back every token; each network read goes
to the SSE parser with a ``perf_counter`` stamp, so TTFT and ITL are what
the client saw, and the event's ``response_time`` is the whole stream's (to
``data: [DONE]``), not the time to headers.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import logging
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import gevent
from geventhttpclient.header import Headers
from geventhttpclient.url import URL
from locust.contrib.fasthttp import (
    FAILURE_EXCEPTIONS,
    ErrorResponse,
    FastHttpSession,
    FastResponse,
    LocustUserAgent,
)
from locust.exception import StopTest, StopUser

from locust_ml.analysis.status import classify
from locust_ml.errors import ConfigError
from locust_ml.protocols.base import BodyParts, HttpRequest, InferenceResult, ResponseParser
from locust_ml.protocols.openai import SseStream
from locust_ml.report.redact import header_secrets, redact_text

__all__ = [
    "INTERNALS",
    "InferenceFailure",
    "InferenceTimeout",
    "Internal",
    "Transport",
    "internals_mismatch",
]

logger = logging.getLogger("locust_ml")


class InferenceFailure(Exception):
    """An answer the protocol adapter rejected; the message says why.

    Carried by the request event: with a 2xx status the request is classed
    ``invalid``, with a 4xx/5xx by its status (``shed``, ``client_error``,
    ``server_error``).
    """


class InferenceTimeout(InferenceFailure):
    """A timeout the server reported inside a 2xx answer (an SSE error event): ``timeout``."""


@dataclass(frozen=True)
class Internal:
    """One private name of Locust or geventhttpclient the direct path relies on.

    ``attribute`` is read on ``owner`` (``module.owner``, or the module
    itself for ``""``; an instance made for the check where the attribute
    is set in ``__init__``); ``params`` are the parameters the call passes
    by name, checked in its signature.
    """

    module: str
    owner: str
    attribute: str
    why: str
    params: tuple[str, ...] = ()


#: Every private name the direct path touches, and why (the rows docs/development.md shows).
INTERNALS: Final[tuple[Internal, ...]] = (
    Internal("locust.contrib.fasthttp", "FastHttpSession", "_build_url",
             "the URL Locust would request for a path (its base URL, or an absolute one)",
             ("path",)),
    Internal("locust.contrib.fasthttp", "FastHttpSession", "client",
             "the user agent: its connection pool, default headers, cookies, retries, redirects"),
    Internal("locust.contrib.fasthttp", "FastHttpSession", "request_event",
             "the event a direct request fires, as the session would"),
    Internal("locust.contrib.fasthttp", "FastHttpSession", "user",
             "whose context() Locust merges into the event's context"),
    Internal("locust.contrib.fasthttp", "FastHttpSession", "auth_header",
             "basic auth from the host URL: sent, and kept out of failure messages"),
    Internal("locust.contrib.fasthttp", "FastResponse", "__init__",
             "the response listeners get, built around the parsed answer",
             ("ghc_response", "request", "sent_request")),
    Internal("locust.contrib.fasthttp", "ErrorResponse", "__init__",
             "the status-0 response listeners get when no answer came", ("request", "error")),
    Internal("locust.contrib.fasthttp", "LocustUserAgent", "redirect_response_codes",
             "a redirect Locust would follow: handed back to its session"),
    Internal("geventhttpclient.useragent", "UserAgent", "max_retries",
             "a retrying agent keeps Locust's path (it resends what failed)"),
    Internal("geventhttpclient.useragent", "UserAgent", "max_redirects",
             "with 0, a redirect is an answer like any other"),
    Internal("geventhttpclient.useragent", "UserAgent", "cookiejar",
             "a jar holding cookies keeps Locust's path; cookies a target sets are kept"),
    Internal("geventhttpclient.useragent", "UserAgent", "default_headers",
             "the headers every request of the agent carries, merged into the head"),
    Internal("geventhttpclient.useragent", "UserAgent", "clientpool",
             "the connection pools, shared with Locust's path"),
    Internal("geventhttpclient.useragent", "UserAgent", "_make_request",
             "the request object listeners read as response.request (made by the next row)"),
    Internal("geventhttpclient.useragent", "", "_make_request",
             "what UserAgent._make_request passes its arguments to",
             ("url", "method", "headers", "request_type")),
    Internal("geventhttpclient.client", "HTTPClientPool", "get_client",
             "the client (and pool) for the target", ("url",)),
    Internal("geventhttpclient.client", "HTTPClient", "_build_request",
             "the request head geventhttpclient would write: Host, default headers, checks",
             ("method", "request_uri", "body", "headers", "chunked")),
    Internal("geventhttpclient.client", "HTTPClient", "_connection_pool",
             "its get_socket/release_socket: the sockets Locust's path uses too"),
    Internal("geventhttpclient.client", "HTTPClient", "block_size",
             "the read size the client's responses use"),
    Internal("geventhttpclient.client", "HTTPClient", "headers_type",
             "the response headers' type, as the client makes them"),
    Internal("geventhttpclient.client", "HTTPClient", "ssl",
             "TLS sockets have no sendmsg: the head and body are joined"),
    Internal("geventhttpclient.response", "HTTPSocketPoolResponse", "__init__",
             "reads an answer's head from a pooled socket, as HTTPClient.request does",
             ("sock", "pool")),
    Internal("geventhttpclient.response", "HTTPSocketResponse", "__init__",
             "the response's read size, method and header type",
             ("block_size", "method", "headers_type")),
    Internal("geventhttpclient.response", "HTTPSocketPoolResponse", "_body_buffer",
             "streams: the body parsed so far, handed on as it arrives"),
    Internal("geventhttpclient.response", "HTTPSocketPoolResponse", "_sock",
             "streams: the socket the next bytes come from"),
    Internal("geventhttpclient.response", "HTTPSocketPoolResponse", "feed",
             "streams: parses what the socket gave", ("data",)),
)  # fmt: skip


# -- the start-up check ---------------------------------------------------------------


@functools.cache
def internals_mismatch() -> str | None:
    """What of :data:`INTERNALS` differs in the installed versions, or None (checked once).

    Each row's attribute must exist on its owner (on an instance made for
    the check where ``__init__`` sets it: nothing is connected, the answer
    comes over a local socket pair) and take the parameters named; then
    that answer is read as a stream is, so a parser that moved its buffer
    fails here, not mid-test.
    """
    try:
        with _probes() as probes:
            for row in INTERNALS:
                module = import_module(row.module)
                owner = probes.get(row.owner) or (
                    getattr(module, row.owner) if row.owner else module
                )
                where = ".".join(filter(None, (row.module, row.owner, row.attribute)))
                if not hasattr(owner, row.attribute):
                    return f"{where} is missing"
                if row.params:
                    names = set(inspect.signature(getattr(owner, row.attribute)).parameters)
                    missing = [p for p in row.params if p not in names]
                    if missing:
                        return f"{where} takes no {', '.join(missing)}"
            raw = probes["HTTPSocketPoolResponse"]
            reads = []
            while chunk := _read_some(raw):
                reads.append(chunk)
            if b"".join(reads) != b"onetwo" or not raw.message_complete:
                return f"a streamed answer read as {reads!r}, not b'onetwo'"
            return None
    except Exception as exc:  # anything unexpected: the direct path isn't safe
        return f"checking them raised {exc!r}"


@contextlib.contextmanager
def _probes() -> Iterator[dict[str, Any]]:
    """Instances whose attributes are set in ``__init__``, closed on exit."""
    from geventhttpclient.client import HTTPClient
    from geventhttpclient.response import HTTPSocketPoolResponse

    session = FastHttpSession("http://127.0.0.1:9", request_event=None, user=None)
    client = HTTPClient("127.0.0.1", 9)
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
        )
        pool: Any = _NoPool()
        answer = HTTPSocketPoolResponse(
            ours, pool, block_size=4096, method="POST", headers_type=Headers
        )
        yield {
            "FastHttpSession": session,
            "UserAgent": session.client,
            "HTTPClient": client,
            "HTTPSocketPoolResponse": answer,
        }
    finally:
        client.close()
        ours.close()
        theirs.close()


class _NoPool:
    """The connection pool of the probe's answer: it closes what it is given back."""

    def return_socket(self, sock: Any) -> None:
        sock.close()

    release_socket = return_socket


_warned_fallback: list[str] = []


def _direct_allowed() -> bool:
    """Whether this process may use the direct path; warns once when it may not."""
    problem = internals_mismatch()
    if problem is None:
        return True
    if not _warned_fallback:
        _warned_fallback.append(problem)
        logger.warning(
            "locust-ml: Locust %s / geventhttpclient %s differ from what the direct send path "
            "was written for (%s); every request takes Locust's own path (same results, "
            "more CPU per request)",
            _version("locust"),
            _version("geventhttpclient"),
            problem,
        )
    return False


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# -- the transport ----------------------------------------------------------------------

#: Request heads a transport keeps: a v2 pool's sizes make a few hundred.
_MAX_HEADS: Final = 4096
#: Locust's default, which FastHttpSession.request adds when a request has none.
_ACCEPT_ENCODING: Final = "gzip, deflate, br"
#: Buffers per ``sendmsg`` call; Linux's IOV_MAX is 1024.
_MAX_BUFFERS: Final = 64
#: After ``data: [DONE]``, how long to wait for the end of the body so the
#: connection can be reused; past it, the connection is closed instead.
_DRAIN_SECONDS: Final = 0.25


class _Redirected(Exception):
    """The target redirected a direct request: send it again through Locust."""


class _Head:
    """A request head made once: what the direct path writes before each body."""

    __slots__ = ("client", "prefix", "request", "text", "url")

    def __init__(self, client: Any, text: str, request: Any, url: str) -> None:
        self.client = client
        #: The head up to its Content-Length, as text (for the response) and bytes.
        self.text = text
        self.prefix = text.encode("latin-1")
        #: The request object listeners see (copied per request, with its body).
        self.request = request
        self.url = url


#: Marks a head that can't go direct (Expect, Transfer-Encoding, its own Content-Length).
_LOCUST_ONLY: Final = _Head(None, "", None, "")


class Transport:
    """One user's sends, through ``session`` (its ``self.client``); see the module docstring.

    ``direct=False`` sends everything through Locust's session.
    """

    def __init__(self, session: FastHttpSession, *, direct: bool = True) -> None:
        self._session = session
        self._agent: Any = session.client
        self.direct = direct and _direct_allowed() and type(self._agent) is LocustUserAgent
        self._read = _read_some if internals_mismatch() is None else _read_line
        self._heads: dict[tuple[Any, ...], _Head] = {}

    def send(
        self,
        request: HttpRequest,
        parser: ResponseParser,
        *,
        name: str,
        context: dict[str, Any],
        fields: dict[str, Any],
    ) -> InferenceResult | None:
        """Send ``request``, judge its answer with ``parser``, fire one request event.

        ``context`` is the event's context; ``fields`` the ML fields in it,
        to which a good answer's tokens, TTFT and ITL are added before the
        event fires. Returns the adapter's result (ok or not), or None when
        no answer came (timeout, refused or reset connection, not HTTP).
        """
        headers: Mapping[str, str] = request.headers
        if request.stream:  # compressed bytes can't be parsed as they arrive
            headers = {"Accept-Encoding": "identity", **headers}
        if self.direct and request.method == "POST" and len(request.body):
            agent = self._agent
            if agent.max_retries == 0 and not (agent.cookiejar is not None and agent.cookiejar):
                head = self._head(request.path, headers)
                if head is not _LOCUST_ONLY:
                    try:
                        return self._send_direct(request, head, parser, name, context, fields)
                    except _Redirected:
                        self.direct = False  # Locust's session follows it, now and from now on
        return self._send_via_locust(request, headers, parser, name, context, fields)

    # -- Locust's session ------------------------------------------------------------
    def _send_via_locust(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        parser: ResponseParser,
        name: str,
        context: dict[str, Any],
        fields: dict[str, Any],
    ) -> InferenceResult | None:
        body = request.body
        started = time.perf_counter()
        with self._session.request(
            request.method,
            request.path,
            name=name,
            data=bytes(body) if type(body) is BodyParts else body,  # type: ignore[arg-type]
            headers=headers,  # type: ignore[arg-type] # a Mapping: Locust copies it
            catch_response=True,
            stream=request.stream,
            context=context,
        ) as resp:
            result, failure = self._judge(resp.request_meta, resp, request, parser, started)
            if result is not None and result.ok:
                _record(fields, result)  # before the event fires, when the block ends
            if failure is None:
                resp.success()
            else:
                resp.failure(failure)
        return result

    # -- the direct path ---------------------------------------------------------------
    def _send_direct(
        self,
        request: HttpRequest,
        head: _Head,
        parser: ResponseParser,
        name: str,
        context: dict[str, Any],
        fields: dict[str, Any],
    ) -> InferenceResult | None:
        """Send on the direct path and fire the event with what Locust's session would give it."""
        session = self._session
        user = session.user
        body = request.body
        sent = object.__new__(type(head.request))
        sent.__dict__.update(head.request.__dict__)
        sent.payload = body
        meta: dict[str, Any] = {
            "request_type": "POST",
            "name": name,
            "context": {**user.context(), **context} if user is not None else context,
            "response": None,
            "exception": None,
            "start_time": time.time(),
            "url": head.url,
            "response_length": 0,
        }
        started = time.perf_counter()
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        response: FastResponse
        try:
            raw = _write(head.client, head.prefix + length, body)
        except FAILURE_EXCEPTIONS as exc:  # no answer: refused, reset, timed out, not HTTP
            meta["exception"] = exc
            # What Locust's session hands listeners then: a response with status 0.
            meta["response"] = response = ErrorResponse(sent, exc)
        else:
            response = FastResponse(raw, request=sent, sent_request=head.text + length.decode())
            meta["response"] = response
            agent = self._agent
            code = raw.get_code()
            redirected = code in agent.redirect_response_codes and agent.max_redirects > 0
            if redirected and "location" in raw:
                raw.release()
                raise _Redirected(head.url)
            if agent.cookiejar is not None and "set-cookie" in raw:
                # As the user agent does it (a CompatResponse reads like http.client's).
                agent.cookiejar.extract_cookies(response, sent)
            if not (request.stream and 200 <= code < 300):
                try:
                    content = response.content
                    meta["response_length"] = len(content) if content else 0
                except FAILURE_EXCEPTIONS as exc:  # the body was cut short
                    meta["exception"] = exc
        meta["response_time"] = (time.perf_counter() - started) * 1000.0
        result, meta["exception"] = self._judge(meta, response, request, parser, started)
        if result is not None and result.ok:
            _record(fields, result)  # the event's context holds ``fields``
        session.request_event.fire(**meta)
        return result

    def _head(self, path: str, headers: Mapping[str, str]) -> _Head:
        """The head for ``path`` and ``headers`` (made on first use), or :data:`_LOCUST_ONLY`."""
        key = (path, tuple(headers.items()))
        head = self._heads.get(key)
        if head is None:
            head = self._make_head(path, headers)
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = head
        return head

    def _make_head(self, path: str, headers: Mapping[str, str]) -> _Head:
        """What Locust's session, the user agent and the client put in front of a POST body."""
        session, agent = self._session, self._agent
        url = session._build_url(path)
        fields = dict(headers)
        if session.auth_header:
            fields["Authorization"] = session.auth_header
        if "Accept-Encoding" not in fields and "accept-encoding" not in fields:
            fields["Accept-Encoding"] = _ACCEPT_ENCODING
        merged = agent.default_headers.copy()
        merged.update(fields)
        if "content-type" not in merged:
            merged["content-type"] = "application/octet-stream"
        if "content-length" in merged or _needs_geventhttpclient(merged):
            return _LOCUST_ONLY
        split = URL(url)
        client = agent.clientpool.get_client(split)
        uri = getattr(split, "quoted_uri", None) or split.request_uri
        text = client._build_request("POST", uri, body=b"?", headers=merged, chunked=False)
        end = "Content-Length: 1\r\n\r\n"
        if not text.endswith("\r\n" + end):  # a head laid out otherwise: Locust's path
            return _LOCUST_ONLY
        sent = agent._make_request(url, method="POST", headers=Headers(merged))
        return _Head(client, text[: -len(end)], sent, url)

    # -- judging -------------------------------------------------------------------------
    def _judge(
        self,
        meta: dict[str, Any],
        response: Any,
        request: HttpRequest,
        parser: ResponseParser,
        started: float,
    ) -> tuple[InferenceResult | None, Exception | None]:
        """The adapter's result, and the exception the request event carries (None: success).

        An adapter that raises is a bug in it, not in the target: the request
        is still counted, as a failure that says so (warned once per type).
        """
        error = meta["exception"]
        status = int(response.status_code or 0)
        if status == 0:  # no HTTP answer at all
            return None, (_cause(error) if error is not None else InferenceFailure("no answer"))
        try:
            if request.stream and 200 <= status < 300:
                return self._judge_stream(meta, response.stream, request, parser, started, status)
            # A failure status's body was already read (geventhttpclient logs it), streamed or not.
            if error is not None and 200 <= status < 300:  # the body could not be read
                return None, _cause(error)
            try:
                body = response.content or b""
            except Exception:  # an error answer whose body was dropped before it was read
                body = b""
            headers = _ResponseHeaders(response.headers) if response.headers is not None else {}
            result = parser.parse(status, headers, body, latency_ms=meta.get("response_time"))
        except (StopUser, StopTest, ConfigError):
            raise
        except Exception as exc:  # an adapter's bug must not drop the request
            _warn_once(exc)
            return None, self._failure(
                request, InferenceFailure, f"cannot judge the answer: {exc!r}"
            )
        return result, self._verdict(request, result)

    def _judge_stream(
        self,
        meta: dict[str, Any],
        raw: Any,
        request: HttpRequest,
        parser: ResponseParser,
        started: float,
        status: int,
    ) -> tuple[InferenceResult, Exception | None]:
        stream_parser: Callable[..., SseStream] | None = getattr(parser, "stream_parser", None)
        if stream_parser is None:
            raise ConfigError(f"{type(parser).__name__} cannot parse a streamed answer")
        stream = stream_parser(started, status=status)
        read = self._read
        failure: Exception | None = None
        try:
            while not (stream.done or stream.failed):
                chunk = read(raw)
                if not chunk:
                    break
                stream.feed(chunk, time.perf_counter())
        except Exception as exc:  # a network timeout, a reset, a body cut mid-chunk
            failure = exc
        end = time.perf_counter()
        result = stream.finish(end)
        if stream.done and failure is None:
            _drain(raw, read)
        if not raw.message_complete:
            raw.release()  # not read to its end: closed, never reused
        meta["response_time"] = (
            result.latency_ms if result.latency_ms is not None else (end - started) * 1000.0
        )
        meta["response_length"] = stream.bytes_received
        if failure is not None and classify(None, failure) == "timeout":
            return result, failure
        return result, self._verdict(request, result)

    def _verdict(self, request: HttpRequest, result: InferenceResult) -> Exception | None:
        if result.ok:
            return None
        kind = InferenceTimeout if result.error_class == "timeout" else InferenceFailure
        return self._failure(request, kind, result.error or str(result.error_class))

    def _failure(
        self, request: HttpRequest, kind: type[InferenceFailure], message: str
    ) -> InferenceFailure:
        """A failure whose message holds none of the credentials sent.

        A target that echoes the request's key in an error body (a 401 that
        quotes it) would otherwise put it in Locust's error table, its
        ``--html`` and ``--csv`` files, and our report: the request event
        carries this message. The key is known here (the request's
        ``Authorization`` or other secret-looking headers, Locust's basic
        auth), so it is replaced literally, whatever its length; key-shaped
        text goes too (:func:`~locust_ml.report.redact.redact_text`).
        """
        secrets = header_secrets(request.headers)
        auth = getattr(self._session, "auth_header", None)
        if isinstance(auth, str) and auth:
            secrets = (*secrets, *header_secrets({"Authorization": auth}))
        return kind(redact_text(message, secrets))


# -- the wire --------------------------------------------------------------------------


def _write(client: Any, head: bytes, body: bytes | BodyParts) -> Any:
    """Write ``head`` and ``body`` on a pooled socket; the answer, its head read.

    What ``HTTPClient.request`` does for a POST of known length (no retry),
    with the body's buffers written as they are. Raises what it raises: the
    socket's errors (a timeout, a refused connection),
    ``HTTPConnectionClosed`` when the server closed the connection without
    answering, a parse error for an answer that isn't HTTP.
    """
    from geventhttpclient.response import HTTPSocketPoolResponse

    pool = client._connection_pool
    sock = pool.get_socket()
    try:
        buffers: tuple[bytes | memoryview, ...] = (
            (head, *body.parts) if isinstance(body, BodyParts) else (head, body)
        )
        if hasattr(sock, "sendmsg") and not client.ssl:
            _send_all(sock, buffers, len(head) + len(body))
        else:
            sock.sendall(b"".join(buffers))
    except OSError as exc:
        if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
            pool.release_socket(sock)
            raise
        # The server may have answered before it closed the connection (a 413
        # or a 401 for a large body): read that answer rather than hide it.
        # The response releases the socket itself if there is none.
    except BaseException:
        pool.release_socket(sock)
        raise
    return HTTPSocketPoolResponse(
        sock, pool, block_size=client.block_size, method="POST", headers_type=client.headers_type
    )


def _send_all(sock: Any, buffers: tuple[bytes | memoryview, ...], size: int) -> None:
    """Write ``buffers`` (``size`` bytes in all) in order, in as few ``sendmsg`` calls as can be.

    One gather write: no copy in Python, one system call, and no Nagle stall
    that separate small writes could meet.
    """
    if len(buffers) <= _MAX_BUFFERS:
        sent = sock.sendmsg(buffers)
        if sent == size:  # the usual case: the socket took it all at once
            return
    else:
        sent = 0
    views = [_byte_view(b) for b in buffers]
    left = size
    while True:
        left -= sent
        if not left:
            return
        done = 0
        while sent and sent >= views[done].nbytes:  # drop the buffers that went out
            sent -= views[done].nbytes
            done += 1
        del views[:done]
        while not views[0].nbytes:
            del views[0]
        if sent:
            views[0] = views[0][sent:]
        sent = sock.sendmsg(views[:_MAX_BUFFERS])


def _byte_view(buf: bytes | memoryview) -> memoryview:
    view = memoryview(buf)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _needs_geventhttpclient(headers: Any) -> bool:
    """``Expect: 100-continue`` or a ``Transfer-Encoding``: geventhttpclient's own handling."""
    for name in ("Transfer-Encoding", "transfer-encoding"):
        if name in headers:
            return True
    for name in ("Expect", "expect"):
        if name in headers and "100-continue" in str(headers[name]).lower():
            return True
    return False


def _read_some(raw: Any) -> bytes:
    """What the body has delivered so far, waiting for at least one byte; b"" at its end.

    Works on geventhttpclient's response (its parser buffer ``_body_buffer``
    and socket ``_sock``: rows of :data:`INTERNALS`). A body cut short
    raises its ``HTTPParseError`` ("Incomplete response"), a network timeout
    the socket's timeout.
    """
    buf: bytearray = raw._body_buffer
    while not buf:
        sock = raw._sock
        if raw.message_complete or sock is None:
            return b""
        data = sock.recv(raw.block_size)
        raw.feed(data)
        if not data and not buf:
            return b""
    chunk = bytes(buf)
    del buf[:]
    return chunk


def _read_line(raw: Any) -> bytes:
    """:func:`_read_some` through the response's public API: one line at a time.

    Where the internals differ, a stream is read with ``readline``: each SSE
    line as soon as it is complete (an event ends with its blank line), and
    at the end whatever is left without a line break.
    """
    return raw.readline(b"\n") or raw.read()  # type: ignore[no-any-return]


def _drain(raw: Any, read: Callable[[Any], bytes]) -> None:
    """Read the end of a finished stream briefly, so its connection goes back to the pool."""
    with contextlib.suppress(Exception), gevent.Timeout(_DRAIN_SECONDS, False):
        while not raw.message_complete and read(raw):
            pass


def _cause(error: Exception) -> Exception:
    """The error to classify: a POST's timeout arrives wrapped in ``RetriesExceeded``."""
    original = getattr(error, "original", None)
    return original if isinstance(original, Exception) else error


def _record(ml: dict[str, Any], result: InferenceResult) -> None:
    """The ML fields of a successful answer into the request's context."""
    if result.tokens_in is not None:
        ml["tokens_in"] = result.tokens_in
    if result.tokens_out is not None:
        ml["tokens_out"] = result.tokens_out
    if result.ttft_ms is not None:
        ml["ttft_ms"] = result.ttft_ms
    if result.itl_ms:
        ml["itl_ms"] = list(result.itl_ms)


_warned: set[type[BaseException]] = set()


def _warn_once(exc: Exception) -> None:
    if type(exc) not in _warned:
        _warned.add(type(exc))
        logger.warning(
            "locust-ml: judging an answer raised %r (counted as a failure)", exc, exc_info=exc
        )


class _ResponseHeaders(Mapping[str, str]):
    """geventhttpclient's response headers as adapters read them, without a copy.

    Names are looked up case-insensitively (``case_insensitive`` tells
    :func:`~locust_ml.protocols.base.header` not to scan for an absent one),
    and a repeated header reads as its last value, as ``dict(headers.items())``
    would give it.
    """

    __slots__ = ("_headers",)
    case_insensitive = True

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        value = self._headers[name]
        return str(value[-1] if type(value) is list else value)

    def get(self, name: str, default: Any = None) -> Any:
        if isinstance(name, str) and name in self._headers:  # no KeyError raised and caught
            return self[name]
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._headers

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._headers.items()))

    def __len__(self) -> int:
        return len(dict(self._headers.items()))
