"""Shared shapes: requests, results, error classes; and every module's doctests."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys

import pytest

import locust_ml.protocols
from locust_ml.protocols.base import (
    HttpRequest,
    InferenceResult,
    error_class_from_code,
    error_message,
    header,
    http_failure,
)

MODULES = ["base", "sse", "openai", "v2", "torchserve", "generic"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"locust_ml.protocols.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_protocols_stay_pure() -> None:
    code = (
        "import sys, locust_ml.protocols\n"
        "bad = [m for m in ('locust', 'gevent', 'socket', 'http.client', 'requests')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    assert set(locust_ml.protocols.__all__) == {
        "ChatCompletions",
        "Completions",
        "HttpRequest",
        "InferenceResult",
        "JsonEndpoint",
        "MultipartUpload",
        "ResponseParser",
        "SseStream",
        "Tensor",
        "TorchServeModel",
        "V2Model",
        "parse_stream",
    }


def test_request_repr_redacts_every_credential_header() -> None:
    req = HttpRequest(
        "POST",
        "/x",
        {"authorization": "Bearer a", "X-Api-Key": "b", "Api-Key": "c", "Accept": "d"},
        b"body",
    )
    shown = repr(req)
    for secret in ("Bearer a", "'b'", "'c'"):
        assert secret not in shown
    assert "'Accept': 'd'" in shown
    assert (req.bytes_sent, req.content_type) == (4, None)


def test_result_invariants() -> None:
    with pytest.raises(ValueError, match="ok result has no error"):
        InferenceResult(ok=True, error_class="invalid")
    with pytest.raises(ValueError, match="error_class must be one of"):
        InferenceResult(ok=False, error_class="ok")
    with pytest.raises(ValueError, match="error_class must be one of"):
        InferenceResult(ok=False)


def test_derived_rates() -> None:
    r = InferenceResult(ok=True, tokens_out=11, ttft_ms=100.0, latency_ms=600.0)
    assert r.tokens_per_s == pytest.approx(11 / 0.6)
    assert r.tpot_ms == pytest.approx(50.0)
    assert InferenceResult(ok=True, tokens_out=1, ttft_ms=1.0, latency_ms=2.0).tpot_ms is None
    assert InferenceResult(ok=True, tokens_out=5).tokens_per_s is None


def test_header_lookup_is_case_insensitive() -> None:
    assert header({"Content-Type": "a"}, "content-type") == "a"
    assert header({"content-type": "a"}, "Content-Type") == "a"
    assert header({}, "x") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": {"message": "m1", "code": 1}}', "m1"),
        (b'{"error": "m2"}', "m2"),
        (b'{"code": 500, "type": "X", "message": "m3"}', "m3"),
        (b'{"detail": "m4"}', "m4"),
        (b'{"other": 1}', None),
        (b"[1]", None),
        (b"<html>", None),
    ],
)
def test_error_message_shapes(body: bytes, message: str | None) -> None:
    assert error_message(body) == message


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (429, "shed"),
        (503, "shed"),
        (400, "client_error"),
        (413, "client_error"),
        (500, "server_error"),
        (504, "server_error"),
        (302, "invalid"),
        (101, "other"),
    ],
)
def test_http_failure_classes(status: int, error_class: str) -> None:
    r = http_failure(status, b"<html>nope</html>", latency_ms=3.0)
    assert (r.ok, r.error_class, r.status, r.latency_ms) == (False, error_class, status, 3.0)
    assert r.error == f"HTTP {status}: '<html>nope</html>'"


def test_error_codes_inside_2xx_bodies() -> None:
    assert error_class_from_code(400) == "client_error"
    assert error_class_from_code(503) == "shed"
    assert error_class_from_code(500) == "server_error"
    assert error_class_from_code(True) == "server_error"
    assert error_class_from_code("TIMEOUT") == "timeout"
    assert error_class_from_code("queue_full") == "shed"
    assert error_class_from_code("weird") == "server_error"
