"""Classes of request outcomes, and the rule that assigns them.

A capacity report must tell *how* a target failed, not only how often: a
server that sheds load with 429/503 under overload degrades gracefully; one
that answers 500, times out or drops connections does not. Every request
lands in exactly one class:

=================  =====================================================
``ok``             a success (2xx/3xx and, where the user validates the
                   body, a valid body)
``shed``           429 Too Many Requests or 503 Service Unavailable
``client_error``   any other 4xx (the load test's requests are wrong)
``server_error``   any other 5xx
``timeout``        no complete answer in time (the exception says timeout)
``connection``     refused, reset, or broken connections; DNS failures
``invalid``        a 2xx whose body the user rejected (garbage, truncated
                   stream)
``other``          anything else that was marked as a failure
=================  =====================================================

A request without an exception is ``ok`` whatever its status code: the user
(or Locust) accepted it, and our failure counts must equal Locust's. With an
exception, the status code decides first, then the exception's *type names*
along its MRO (not imported classes, so this pure module needs neither gevent
nor geventhttpclient to recognise their timeouts and socket errors).
"""

from __future__ import annotations

from typing import Final

__all__ = ["STATUS_CLASSES", "classify"]

STATUS_CLASSES: Final = (
    "ok",
    "shed",
    "client_error",
    "server_error",
    "timeout",
    "connection",
    "invalid",
    "other",
)

_CONNECTION_NAMES: Final = (
    "connectionerror",
    "connectionrefusederror",
    "connectionreseterror",
    "connectionabortederror",
    "brokenpipeerror",
    "remotedisconnected",
    "gaierror",
    "herror",
    "sslerror",
    "oserror",
    "incompleteread",
    "httpconnectionclosed",
)


def _names(exc: BaseException) -> list[str]:
    return [cls.__name__.lower() for cls in type(exc).__mro__]


def classify(status_code: int | None, exception: BaseException | None = None) -> str:  # noqa: PLR0911
    """The class of one request (see the module docstring).

    >>> err = RuntimeError("HTTP error")
    >>> classify(200), classify(503, err), classify(404, err), classify(500, err)
    ('ok', 'shed', 'client_error', 'server_error')
    >>> classify(0, TimeoutError("read")), classify(None, ConnectionRefusedError())
    ('timeout', 'connection')
    >>> classify(200, ValueError("bad body"))
    'invalid'
    """
    if exception is None:
        return "ok"
    code = status_code or 0
    if code in (429, 503):
        return "shed"
    if 400 <= code < 500:
        return "client_error"
    if code >= 500:
        return "server_error"
    names = _names(exception)
    if any("timeout" in n or "timedout" in n for n in names):
        return "timeout"
    if 200 <= code < 400:
        return "invalid"
    if any(n in _CONNECTION_NAMES for n in names):
        return "connection"
    return "other"
