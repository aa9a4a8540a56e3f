"""Shared shapes: requests, results, error classes; and every module's doctests."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from typing import Any

import pytest

import locust_ml.protocols
from locust_ml.protocols.base import (
    BodyParts,
    HttpRequest,
    InferenceResult,
    error_class_from_code,
    error_message,
    header,
    http_failure,
)

MODULES = [
    "base",
    "sse",
    "openai",
    "v2",
    "v2_tensors",
    "v2_metadata",
    "v2_encoding",
    "v1",
    "probe",
    "torchserve",
    "generic",
]


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
        "V1Model",
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


# --- bodies made of parts, fast ok results ------------------------------------------------


def test_body_parts_measure_and_join_without_copying_until_asked() -> None:
    image = b"\xff\xd8" + bytes(range(256)) * 4
    view = memoryview(image)[2:]
    body = BodyParts([b"head", view])
    assert len(body) == 4 + len(image) - 2
    assert bytes(body) == b"head" + image[2:]
    assert body.parts[1] is view  # held, not copied
    assert body == b"head" + image[2:]
    assert body == BodyParts([b"he", b"ad", view])
    assert body != b"head"
    assert hash(body) == hash(b"head" + image[2:])
    longer = body.prepend(b"<", b"json>")
    assert bytes(longer) == b"<json>head" + image[2:]
    assert len(longer) == len(body) + 6
    assert bytes(body) == b"head" + image[2:]  # prepend leaves the original alone
    assert body.seek(0) == 0  # a client rewinding it to send it again finds it whole
    assert bytes(body) == b"head" + image[2:]


def test_body_parts_count_bytes_of_wide_memoryviews() -> None:
    import array

    wide = memoryview(array.array("i", [1, 2, 3]))  # 3 items of 4 bytes
    body = BodyParts([wide])
    assert len(body) == wide.nbytes == 12
    assert bytes(body) == wide.tobytes()


def test_request_with_a_parts_body() -> None:
    req = HttpRequest("POST", "/x", {"Content-Type": "a/b"}, BodyParts([b"ab", b"cd"]))
    assert req.bytes_sent == 4
    assert "4 bytes" in repr(req)
    assert req == HttpRequest("POST", "/x", {"Content-Type": "a/b"}, b"abcd")


def test_success_is_the_same_result_as_the_constructor_makes() -> None:
    fast = InferenceResult.success(status=200, latency_ms=3.5, outputs={"y": 1}, bytes_received=9)
    slow = InferenceResult(ok=True, status=200, latency_ms=3.5, outputs={"y": 1}, bytes_received=9)
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert (fast.error_class, fast.itl_ms, fast.tokens_out) == (None, (), None)
    assert InferenceResult.success() == InferenceResult(ok=True)


class _CaseInsensitive(dict[str, str]):
    case_insensitive = True

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


def test_header_does_not_scan_a_case_insensitive_mapping() -> None:
    headers = _CaseInsensitive({"content-type": "a/b", "Other": "x"})
    assert header(headers, "Content-Type") == "a/b"
    # "Other" is stored with a capital: a scan would find it; a case-insensitive
    # mapping is trusted to know its own names.
    assert header(headers, "other") is None
    assert header({"Other": "x"}, "other") == "x"
