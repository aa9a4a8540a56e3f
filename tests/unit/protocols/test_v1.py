"""TF Serving / KServe v1 ``:predict``: requests with b64 instances, answers judged."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import BodyParts
from locust_ml.protocols.v1 import V1Model

FIXTURES = Path(__file__).parents[2] / "fixtures" / "v2_servers"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 99_999])
def test_file_requests_carry_the_file_in_b64(size: int) -> None:
    file = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    model = V1Model("resnet", headers={"Authorization": "k"})
    for name, expected in (
        (None, lambda b: {"b64": b}),
        ("image_bytes", lambda b: {"image_bytes": {"b64": b}}),
    ):
        req = model.file_requests(name)([file[:3], memoryview(file)[3:]])
        assert (req.method, req.path) == ("POST", "/v1/models/resnet:predict")
        assert dict(req.headers) == {"Authorization": "k", "Content-Type": "application/json"}
        assert isinstance(req.body, BodyParts)
        doc = json.loads(bytes(req.body))
        assert doc == {"instances": [expected(base64.b64encode(file).decode())]}
        assert len(req.body) == len(bytes(req.body))


def test_request_and_paths() -> None:
    m = V1Model("my model", version="3")
    req = m.request([[1, 2], [3, 4]])
    assert req.path == "/v1/models/my%20model/versions/3:predict"
    assert json.loads(req.body) == {"instances": [[1, 2], [3, 4]]}
    assert m.file_requests(path="/custom")([b"x"]).path == "/custom"
    with pytest.raises(ConfigError):
        V1Model("")


def test_answers() -> None:
    m = V1Model("m")
    ok = m.parse(200, {}, (FIXTURES / "kserve_v1_predict.json").read_bytes(), latency_ms=3.0)
    assert (ok.ok, ok.outputs, ok.latency_ms) == (True, {"predictions": [3072.0]}, 3.0)
    assert m.parse(200, {}, b'{"outputs": {"y": [1]}}').ok  # TF Serving's columnar answer
    for body, error in (
        (b"nope", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"predictions": []}', "no predictions"),
        (b'{"result": 1}', "no predictions"),
    ):
        r = m.parse(200, {}, body)
        assert (r.ok, r.error_class) == (False, "invalid")
        assert error in (r.error or "")
    said = m.parse(200, {}, b'{"error": "bad image"}')
    assert (said.error_class, said.error) == ("server_error", "error object: bad image")
    missing = m.parse(404, {}, (FIXTURES / "kserve_v1_no_model_404.json").read_bytes())
    assert (missing.error_class, missing.error) == (
        "client_error",
        "HTTP 404: Model with name nope does not exist.",
    )
