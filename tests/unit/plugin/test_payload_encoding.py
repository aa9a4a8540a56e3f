"""Asking the target once per process, deciding, and the requests each decision builds."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.options import EncodingSpec, read_options
from locust_ml.payloads.pool import build_pool
from locust_ml.plugin import payload_encoding
from locust_ml.plugin.payload_users import ImageUser
from locust_ml.plugin.preflight import check_payload_targets
from locust_ml.protocols.v1 import V1Model
from locust_ml.protocols.v2 import V2Model
from locust_ml.protocols.v2_tensors import INFERENCE_HEADER, decode_body

FIXTURES = Path(__file__).parents[2] / "fixtures" / "v2_servers"


class Replay:
    def __init__(self, answers: dict[str, tuple[int, str | bytes]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        path = url.split(":1", 1)[1]
        self.asked.append(path)
        status, body = self.answers.get(path, (404, b""))
        return status, (FIXTURES / body).read_bytes() if isinstance(body, str) else body


@pytest.fixture(autouse=True)
def fresh() -> None:
    payload_encoding._decisions.clear()


@pytest.fixture(scope="module")
def images():  # type: ignore[no-untyped-def]
    return build_pool("imagenet_image_sizes", draws=16, max_mb=2, seed=3)


MLSERVER = {
    "/v2": (200, "mlserver_server.json"),
    "/v2/models/image-classifier": (200, "mlserver_image_classifier.json"),
}


def test_asked_once_per_process_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    fetch = Replay(MLSERVER)
    caplog.set_level(logging.INFO, "locust_ml")
    args = ("Img", "image", "v2", "image-classifier", "image", EncodingSpec(), "http://t:1")
    first = payload_encoding.decide(*args, fetch=fetch)
    again = payload_encoding.decide(*args, fetch=fetch)
    assert first is again
    assert fetch.asked == ["/v2", "/v2/models/image-classifier"]
    lines = [r.getMessage() for r in caplog.records if "model 'image-classifier'" in r.getMessage()]
    assert lines == [
        "locust-ml: Img -> http://t:1 model 'image-classifier': input 'image' BYTES: encoded files "
        "as BYTES (base64) in JSON tensors: GET /v2 (mlserver 1.7.1) lists no binary_tensor_data "
        "(extensions: none)"
    ]


def test_a_missing_model_is_a_config_error() -> None:
    fetch = Replay(
        {"/v2": (200, "kserve_server.json"), "/v2/models/nope": (404, "kserve_no_model_404.json")}
    )
    with pytest.raises(ConfigError, match="does not serve the model 'nope'"):
        payload_encoding.decide(
            "Img", "image", "v2", "nope", "image", EncodingSpec(), "http://t:1", fetch=fetch
        )
    v1 = Replay({"/v1/models/nope": (404, "kserve_v1_no_model_404.json")})
    with pytest.raises(ConfigError, match="does not serve the model 'nope'"):
        payload_encoding.decide(
            "Img", "image", "v1", "nope", "image", EncodingSpec(), "http://t:1", fetch=v1
        )


def test_the_preflight_checks_payload_users_with_a_host(monkeypatch: pytest.MonkeyPatch) -> None:
    class Img(ImageUser):
        model = "nope"

    fetch = Replay({"/v2": (200, "kserve_server.json")})
    monkeypatch.setattr(payload_encoding, "fetch_url", fetch)
    options = read_options(None)
    check_payload_targets([Img], options, None)  # no host: nothing asked
    assert fetch.asked == []
    with pytest.raises(ConfigError, match="does not serve the model 'nope'"):
        check_payload_targets([Img], options, "http://t:1")


def test_file_senders(images) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    for wire in ("binary", "json"):
        fetch = Replay(
            {
                "/v2": (200, b'{"name":"s","extensions":["binary_tensor_data"]}'),
                "/v2/models/m": (
                    200,
                    b'{"name":"m","inputs":[{"name":"INPUT","datatype":"BYTES","shape":[-1]}]}',
                ),
            }
        )
        payload_encoding._decisions.clear()
        enc = payload_encoding.decide(
            "I", "image", "v2", "m", "image", EncodingSpec(wire=wire), "http://t:1", fetch=fetch
        )
        adapter, build, pool = payload_encoding.sender(
            encoding=enc, model="m", parameters={}, endpoint=None, pool=images, seed=0, max_mb=1
        )
        assert pool is images
        assert isinstance(adapter, V2Model)
        pick = images.pick(rng)
        req = build(pick)
        if wire == "binary":
            _, inputs = decode_body(bytes(req.body), int(req.headers[INFERENCE_HEADER]), "inputs")
            assert inputs["INPUT"][0] == pick.data
        else:
            doc = json.loads(bytes(req.body))
            assert doc["inputs"][0]["name"] == "INPUT"
            assert doc["inputs"][0]["parameters"] == {"content_type": "base64"}
            assert "parameters" not in doc  # no binary outputs asked of a JSON server


def test_tensor_sender_builds_a_pool_of_pixels(images) -> None:  # type: ignore[no-untyped-def]
    fetch = Replay(
        {
            "/v2": (200, "triton_server.json"),
            "/v2/models/densenet_onnx": (200, "triton_densenet_onnx.json"),
        }
    )
    enc = payload_encoding.decide(
        "I", "image", "v2", "densenet_onnx", "image", EncodingSpec(), "http://t:1", fetch=fetch
    )
    assert enc is not None
    _, build, pool = payload_encoding.sender(
        encoding=enc,
        model="densenet_onnx",
        parameters={},
        endpoint=None,
        pool=images,
        seed=0,
        max_mb=2,
    )
    assert pool is not images
    req = build(pool.pick(random.Random(0)))
    _, inputs = decode_body(bytes(req.body), int(req.headers[INFERENCE_HEADER]), "inputs")
    assert inputs["data_0"].shape == (3, 224, 224)
    assert inputs["data_0"].dtype == np.float32
    # The same settings share the pool.
    assert (
        payload_encoding.sender(
            encoding=enc,
            model="densenet_onnx",
            parameters={},
            endpoint=None,
            pool=images,
            seed=0,
            max_mb=2,
        )[2]
        is pool
    )


def test_v1_sender(images) -> None:  # type: ignore[no-untyped-def]
    adapter, build, pool = payload_encoding.sender(
        encoding=None, model="m", parameters={}, endpoint=None, pool=images, seed=0, max_mb=1
    )
    assert pool is images
    assert isinstance(adapter, V1Model)
    req = build(images.pick(random.Random(0)))
    assert req.path == "/v1/models/m:predict"
    assert "b64" in json.loads(bytes(req.body))["instances"][0]
