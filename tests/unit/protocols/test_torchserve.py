"""TorchServe adapter: raw and JSON requests, JSON / text / binary answers, errors."""

from __future__ import annotations

import json

import pytest

from locust_ml.errors import ConfigError
from locust_ml.protocols.torchserve import TorchServeModel, parse_ping, ping_request

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256))


def test_raw_bytes_request_is_the_body_itself() -> None:
    req = TorchServeModel("resnet-18").request(JPEG, content_type="image/jpeg")
    assert (req.method, req.path, req.content_type) == (
        "POST",
        "/predictions/resnet-18",
        "image/jpeg",
    )
    assert req.body == JPEG
    assert req.bytes_sent == len(JPEG)


def test_versioned_json_request_with_extra_headers() -> None:
    model = TorchServeModel("bert", version="1.0", headers={"Authorization": "Bearer t"})
    req = model.json_request({"text": "héllo"}, tokens_in=1)
    assert req.path == "/predictions/bert/1.0"
    assert json.loads(req.body) == {"text": "héllo"}
    assert req.headers == {"Authorization": "Bearer t", "Content-Type": "application/json"}
    assert "Bearer t" not in repr(req)
    assert req.tokens_in == 1


def test_empty_model_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="model"):
        TorchServeModel("")


def test_json_text_and_binary_answers() -> None:
    model = TorchServeModel("m")
    js = model.parse(200, {"content-type": "application/json"}, b'[{"tabby": 0.4}]')
    assert js.ok
    assert js.outputs == [{"tabby": 0.4}]
    text = model.parse(200, {"Content-Type": "text/plain"}, b"positive")
    assert (text.ok, text.text, text.outputs) == (True, "positive", None)
    raw = model.parse(200, {}, b"\x89PNG\x00\xff")
    assert (raw.ok, raw.outputs) == (True, b"\x89PNG\x00\xff")


def test_undeclared_json_is_detected_and_declared_garbage_is_invalid() -> None:
    model = TorchServeModel("m")
    assert model.parse(200, {}, b' {"label": "cat"}').outputs == {"label": "cat"}
    bad = model.parse(200, {"Content-Type": "application/json"}, b"{truncated")
    assert (bad.ok, bad.error_class) == (False, "invalid")
    assert "not JSON" in (bad.error or "")
    assert model.parse(200, {}, b"").error == "empty body"


def test_check_rejects_answers() -> None:
    model = TorchServeModel("m", check=lambda doc: isinstance(doc, dict) and "label" in doc)
    assert model.parse(200, {}, b'{"label": 1}').ok
    r = model.parse(200, {}, b'{"other": 1}')
    assert (r.ok, r.error_class) == (False, "invalid")
    assert "rejected by check" in (r.error or "")


def test_torchserve_error_bodies() -> None:
    body = json.dumps(
        {
            "code": 503,
            "type": "ServiceUnavailableException",
            "message": 'Model "m" has no worker to serve inference request. '
            "Please use scale workers API to add workers.",
        }
    ).encode()
    r = TorchServeModel("m").parse(503, {}, body)
    assert (r.ok, r.error_class) == (False, "shed")
    assert r.error is not None
    assert r.error.startswith('HTTP 503: Model "m" has no worker')


def test_ping() -> None:
    assert ping_request().path == "/ping"
    assert parse_ping(200, b'{"status": "Healthy"}')
    assert not parse_ping(200, b'{"status": "Unhealthy"}')
    assert not parse_ping(500, b'{"status": "Healthy"}')
    assert not parse_ping(200, b"<html>")
