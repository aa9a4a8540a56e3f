from __future__ import annotations

import socket

import pytest

from locust_ml.analysis.status import STATUS_CLASSES, classify


class HTTPConnectionClosed(Exception):  # the name geventhttpclient uses
    pass


class ConnectTimeout(Exception):
    pass


class CatchResponseError(Exception):  # what Locust raises for resp.failure(...)
    pass


@pytest.mark.parametrize(
    ("code", "exc", "expected"),
    [
        (200, None, "ok"),
        (503, None, "ok"),  # accepted by the user: Locust counts it as a success too
        (429, CatchResponseError("HTTP 429"), "shed"),
        (503, CatchResponseError("HTTP 503"), "shed"),
        (400, CatchResponseError("HTTP 400"), "client_error"),
        (413, CatchResponseError("HTTP 413"), "client_error"),
        (500, CatchResponseError("HTTP 500"), "server_error"),
        (504, CatchResponseError("HTTP 504"), "server_error"),
        (0, TimeoutError("timed out"), "timeout"),
        (0, TimeoutError(), "timeout"),
        (0, ConnectTimeout(), "timeout"),
        (0, ConnectionRefusedError(), "connection"),
        (0, ConnectionResetError(), "connection"),
        (None, socket.gaierror(), "connection"),
        (0, HTTPConnectionClosed(), "connection"),
        (200, CatchResponseError("malformed completion body"), "invalid"),
        (0, RuntimeError("boom"), "other"),
    ],
)
def test_classify(code: int | None, exc: BaseException | None, expected: str) -> None:
    assert classify(code, exc) == expected
    assert expected in STATUS_CLASSES
