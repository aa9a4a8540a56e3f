"""Direct sends: a payload user's v2 request through the connection pool, its head made once.

Locust's ``FastHttpSession.request`` and geventhttpclient's ``UserAgent``
are general: per request they merge and validate headers, parse the URL,
build a request object, consult the cookie jar, run the retry and redirect
loops and check every header name against a regular expression. In
``benchmarks/user_overhead.py`` (100 kB bodies to a fast sink) that
machinery is about 40 % of an ``ImageUser``'s CPU per request: through it,
an ``ImageUser`` reaches 0.77 of a bare ``FastHttpUser``'s rate, not 0.9,
because the ML work (a unique body, the v2 check, the ML fields) comes on
top of what the bare user pays; on the direct path it sends faster than the
bare user.

A v2 file request changes little between requests: same method, path and
headers, a body whose size takes a few hundred values. :class:`DirectSender`
builds each head once, as those layers would (the user agent's default
headers, Locust's ``Accept-Encoding`` and ``Authorization``, the request's
headers, then geventhttpclient's own ``_build_request`` for ``Host``,
``Content-Length`` and its checks), and per request takes a socket from the
same connection pool, writes the head and the body's parts in one
``sendmsg`` (:func:`~locust_ml.plugin.vectored.send_with_head`), and reads
the answer with the same response parser, wrapped in Locust's
``FastResponse`` (so the body is decompressed as Locust would). The glue
(:meth:`~locust_ml.plugin.ml_user.MLUser.send_request`) judges it and fires
Locust's ``request`` event itself, with the fields Locust gives it.

It steps aside, and the request takes Locust's path, whenever that path
would do something the direct one doesn't:

* the user agent retries (``max_retries`` > 0), or holds cookies (a target
  that sets one gets it back from the next request on, as with Locust);
* the headers ask for ``Expect: 100-continue`` or a ``Transfer-Encoding``;
* a redirect: the first one a user meets turns the direct path off for that
  user, and the request is sent again through Locust, which follows it (the
  target sees that one request twice).
"""

from __future__ import annotations

from typing import Any, Final

from geventhttpclient.header import Headers
from geventhttpclient.url import URL
from locust.contrib.fasthttp import FastHttpSession, FastResponse

from locust_ml.plugin.vectored import needs_geventhttpclient, send_with_head
from locust_ml.protocols.base import BodyParts

__all__ = ["DirectSender", "Redirected"]

#: Heads a sender keeps (method, path, body size, headers): a pool has a few hundred sizes.
_MAX_HEADS: Final = 4096
#: Locust's default, which FastHttpSession.request adds when a request has none.
_ACCEPT_ENCODING: Final = "gzip, deflate, br"


class Redirected(Exception):
    """The target redirected a direct request: send it again through Locust."""


class DirectSender:
    """One user's direct path; :meth:`usable` says when a request may take it."""

    def __init__(self, session: FastHttpSession) -> None:
        self._session = session
        self._agent = session.client
        self._heads: dict[tuple[str, str, int, int], tuple[Any, ...]] = {}
        #: Off for good once the target redirects.
        self.enabled = True

    def usable(self, headers: Any) -> bool:
        """Whether a request with ``headers`` may go direct now."""
        agent = self._agent
        return (
            self.enabled
            and agent.max_retries == 0
            and (agent.cookiejar is None or not len(agent.cookiejar))
            and not needs_geventhttpclient(headers)
        )

    def send(
        self, method: str, path: str, headers: Any, body: BodyParts
    ) -> tuple[FastResponse, str]:
        """Send a request; its response (headers read, body not yet) and its URL.

        Raises what geventhttpclient raises for a request that got no answer
        (a refused connection, a timeout, an answer that isn't HTTP), and
        :class:`Redirected` for a redirect Locust would follow.
        """
        key = (method, path, len(body), id(headers))
        made = self._heads.get(key)
        if made is None or made[0] is not headers:
            made = self._head(method, path, headers, body)
            if len(self._heads) < _MAX_HEADS:
                self._heads[key] = made  # keeps `headers` alive: its id can't be reused
        _, client, method, head, data, url, sent = made
        raw = send_with_head(client, method, head, data, body)
        # Listeners read response.url and response.request as on Locust's path:
        # the head's request, this body in it (a shallow copy: ~0.5 us).
        request = object.__new__(type(sent))
        request.__dict__.update(sent.__dict__)
        request.payload = body
        response = FastResponse(raw, request=request, sent_request=head)
        agent = self._agent
        code = raw.get_code()
        if code in agent.redirect_response_codes and agent.max_redirects > 0 and "location" in raw:
            raw.release()
            self.enabled = False
            raise Redirected(url)
        if agent.cookiejar is not None and "set-cookie" in raw:
            # As the user agent does it (a CompatResponse reads like http.client's).
            agent.cookiejar.extract_cookies(response, request)  # type: ignore[arg-type]
        return response, url

    def _head(self, method: str, path: str, headers: Any, body: BodyParts) -> tuple[Any, ...]:
        """What Locust's session, the user agent and the client would put in front of a body."""
        session, agent = self._session, self._agent
        url = session._build_url(path)
        split = URL(url)
        fields = dict(headers) if headers else {}
        if session.auth_header:
            fields["Authorization"] = session.auth_header
        if "Accept-Encoding" not in fields and "accept-encoding" not in fields:
            fields["Accept-Encoding"] = _ACCEPT_ENCODING
        merged = agent.default_headers.copy()
        merged.update(fields)
        if "content-type" not in merged:
            merged["content-type"] = "application/octet-stream"
        client = agent.clientpool.get_client(split)
        uri = getattr(split, "quoted_uri", None) or split.request_uri
        method = method.upper()
        head = client._build_request(
            method,
            uri,
            body=body,  # type: ignore[arg-type] # its len() is the Content-Length
            headers=merged,
            chunked=False,
        )
        sent = agent._make_request(url, method=method, headers=Headers(merged))
        return headers, client, method, head, head.encode("latin-1"), url, sent
