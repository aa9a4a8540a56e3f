"""Server and model metadata: recorded KServe and MLServer answers, Triton's documented ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from locust_ml.protocols.v2_metadata import (
    MetadataError,
    TensorMetadata,
    parse_model_metadata,
    parse_server_metadata,
    server_metadata_request,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "v2_servers"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "server", "binary"),
    [
        ("kserve_server.json", "kserve 0.21.0", False),
        ("mlserver_server.json", "mlserver 1.7.1", False),
        ("triton_server.json", "triton 2.23.0", True),
    ],
)
def test_server_metadata_says_whether_binary_tensors_go(
    name: str, server: str, binary: bool
) -> None:
    meta = parse_server_metadata(fixture(name))
    assert meta.describe() == server
    assert meta.binary_tensors is binary


def test_model_metadata_of_each_server() -> None:
    kserve = parse_model_metadata(fixture("kserve_image_classifier.json"))
    assert kserve.inputs == (TensorMetadata("image", "BYTES", (-1,)),)
    assert kserve.versions == ()  # "versions": null
    mlserver = parse_model_metadata(fixture("mlserver_speech_pcm.json"))
    assert mlserver.inputs == (TensorMetadata("waveform", "FP32", (1, -1)),)
    triton = parse_model_metadata(fixture("triton_densenet_onnx.json"))
    assert (triton.platform, triton.versions) == ("onnxruntime_onnx", ("1",))
    assert triton.inputs[0].describe() == "'data_0' FP32 [3, 224, 224]"
    assert triton.outputs[0].shape == (1000, 1, 1)


def test_lenient_where_servers_differ() -> None:
    meta = parse_model_metadata(
        b'{"name":"m","inputs":null,"outputs":[{"name":"y","datatype":"fp32"}]}'
    )
    assert meta.inputs == ()
    assert meta.outputs == (TensorMetadata("y", "FP32", None),)
    assert meta.outputs[0].describe() == "'y' FP32 ?"
    assert parse_server_metadata(b'{"name":"x"}').extensions == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"model_name":"m","outputs":[]}', "no server name"),  # an inference answer
        (b'{"name":"x","extensions":"binary_tensor_data"}', "not a list of names"),
    ],
)
def test_what_is_not_server_metadata(body: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_server_metadata(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"inputs":[]}', "no name"),
        (b'{"name":"m","inputs":{}}', "not a list"),
        (b'{"name":"m","inputs":[{"datatype":"FP32"}]}', "has no name"),
        (b'{"name":"m","inputs":[{"name":"x","datatype":"FLOAT"}]}', "unknown datatype"),
        (
            b'{"name":"m","inputs":[{"name":"x","datatype":"FP32","shape":[-2]}]}',
            "not a list of sizes",
        ),
        (
            b'{"name":"m","inputs":[{"name":"x","datatype":"FP32","shape":[true]}]}',
            "not a list of sizes",
        ),
    ],
)
def test_what_is_not_model_metadata(body: bytes, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        parse_model_metadata(body)


def test_server_metadata_request() -> None:
    req = server_metadata_request({"Authorization": "Bearer k"})
    assert (req.method, req.path, dict(req.headers)) == (
        "GET",
        "/v2",
        {"Authorization": "Bearer k"},
    )
