"""Vectored sends: a request body made of parts goes out in one ``sendmsg``, never joined.

A payload user sends a 100 kB image on every request, unique to that request
(a nonce inside it), so the body can't be a pre-built ``bytes``. Joining the
pool's buffers into one costs a copy of the body, and geventhttpclient then
copies it again to put the request head in front (``sock.sendall(head +
body)``): two fresh 100 kB buffers per request where a user re-sending
pre-built bytes has one. Sent as parts, the body is copied once, by the
kernel, straight from the pool. (The kernel reads the pool's memory cold
where the bare user's copy is hot, so the saving is smaller than the copies
were: 3 - 4 % of the request rate in ``benchmarks/user_overhead.py``.)

:class:`PartsUserAgent` is Locust's ``LocustUserAgent`` with one change: a
:class:`~locust_ml.protocols.base.BodyParts` payload is written with
:func:`send_parts`, the HTTP head and every part in one ``socket.sendmsg``
(a gather write: one system call, no copy in Python, and no Nagle stall
that separate small writes could meet). Any other payload takes Locust's
usual path. :func:`send_parts` does what geventhttpclient's
``HTTPClient.request`` does for a body of known length: the same head
(``_build_request``, so ``Content-Length``, ``Host`` and the default
headers are its own), a socket from the client's pool, the response read
with its ``HTTPSocketPoolResponse``, no retry for a POST. Where a gather
write can't be used (TLS sockets, which have no ``sendmsg``; Windows) it
joins the parts into one buffer, as before; a request with an ``Expect:
100-continue`` or a ``Transfer-Encoding`` header goes through
geventhttpclient's own ``request``, joined. ``tests/unit/plugin/test_vectored.py``
pins the geventhttpclient internals this relies on.
"""

from __future__ import annotations

import errno
from typing import Any, Final

from geventhttpclient.client import HTTPClient
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPSocketPoolResponse
from locust.contrib.fasthttp import LocustUserAgent

from locust_ml.protocols.base import BodyParts

__all__ = ["PartsUserAgent", "needs_geventhttpclient", "send_parts", "send_with_head"]

#: Buffers per ``sendmsg`` call; Linux's IOV_MAX is 1024.
_MAX_BUFFERS: Final = 64


class PartsUserAgent(LocustUserAgent):
    """Locust's user agent, sending :class:`BodyParts` payloads with :func:`send_parts`."""

    def _urlopen(self, request: Any) -> Any:
        body = request.payload
        if type(body) is not BodyParts:
            return super()._urlopen(request)
        client = self.clientpool.get_client(request.url_split)
        split = request.url_split
        uri = getattr(split, "quoted_uri", None) or split.request_uri
        resp = send_parts(client, request.method, uri, body, request.headers)
        return self.response_type(resp, request=request, sent_request=resp._sent_request)


def send_parts(
    client: HTTPClient, method: str, uri: str, body: BodyParts, headers: Any
) -> HTTPSocketPoolResponse:
    """Send a request whose body is ``body``'s parts; its response, headers read.

    Raises what ``HTTPClient.request`` raises: the socket's errors (a
    timeout, a refused connection), ``HTTPConnectionClosed`` when the server
    closed the connection without answering, a parse error for an answer
    that isn't HTTP.
    """
    method = method.upper()
    if needs_geventhttpclient(headers):
        return client.request(method, uri, body=bytes(body), headers=headers)
    # The head's Content-Length is len(body), the size of all the parts; never chunked.
    head = client._build_request(
        method,
        uri,
        body=body,  # type: ignore[arg-type]
        headers=headers,
        chunked=False,
    )
    return send_with_head(client, method, head, head.encode("latin-1"), body)


def send_with_head(
    client: HTTPClient, method: str, head: str, data: bytes, body: BodyParts
) -> HTTPSocketPoolResponse:
    """Send a request head built before (``data``: ``head`` encoded) and ``body``'s parts.

    For callers that keep heads (:mod:`~locust_ml.plugin.direct`); ``method``
    in capitals. Raises as :func:`send_parts` does.
    """
    pool = client._connection_pool
    sock = pool.get_socket()
    try:
        buffers = (data, *body.parts)
        if hasattr(sock, "sendmsg") and not client.ssl:
            _send_all(sock, buffers, len(data) + len(body))
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
    response = HTTPSocketPoolResponse(
        sock, pool, block_size=client.block_size, method=method, headers_type=client.headers_type
    )
    response._sent_request = head
    return response


def needs_geventhttpclient(headers: Any) -> bool:
    """``Expect: 100-continue`` or a ``Transfer-Encoding``: geventhttpclient's path, body joined.

    Locust passes geventhttpclient's ``Headers``, which ignore case (and whose
    ``get`` raises and catches a KeyError for an absent name: ``in`` is
    cheaper); a plain dict is asked for the usual spellings too.
    """
    if headers is None:
        return False
    spellings = _ONE_SPELLING if isinstance(headers, Headers) else _TWO_SPELLINGS
    for te, expect in spellings:
        if te in headers:
            return True
        if expect in headers and "100-continue" in str(headers[expect]).lower():
            return True
    return False


_ONE_SPELLING: Final = (("Transfer-Encoding", "Expect"),)
_TWO_SPELLINGS: Final = (*_ONE_SPELLING, ("transfer-encoding", "expect"))


def _send_all(sock: Any, buffers: tuple[bytes | memoryview, ...], size: int) -> None:
    """Write ``buffers`` (``size`` bytes in all) in order, in as few ``sendmsg`` calls as can be."""
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
