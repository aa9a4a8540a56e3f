"""A GET for the questions asked before the load (model lists, v2 metadata), with urllib.

The preflight checks (:mod:`.preflight`, :mod:`.payload_encoding`) take
this as their injected ``fetch``; tests pass recorded answers instead. In a
Locust process the socket is gevent's, so a slow target blocks no other
greenlet.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

__all__ = ["TIMEOUT_S", "Fetch", "fetch_url"]

#: Seconds to wait for an answer (the server is already up; it answers fast or not at all).
TIMEOUT_S = 5.0

#: ``fetch(url, headers, timeout) -> (status, body)``; raises OSError when nothing answers.
Fetch = Callable[[str, Mapping[str, str], float], tuple[int, bytes]]


def fetch_url(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
    """GET ``url``: ``(status, body)`` for any HTTP answer; OSError when there is none."""
    request = urllib.request.Request(url, headers=dict(headers), method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), bytes(resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read(1 << 16))
