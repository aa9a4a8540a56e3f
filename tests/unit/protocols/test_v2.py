"""Open Inference Protocol v2: JSON and binary tensors, both ways, and malformed answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import BodyParts
from locust_ml.protocols.v2 import (
    V2Model,
    parse_ready,
    server_live_request,
    server_ready_request,
)
from locust_ml.protocols.v2_tensors import (
    INFERENCE_HEADER,
    LazyTensors,
    Tensor,
    TensorFormatError,
    decode_body,
    deserialize_bytes,
    encode_body,
    serialize_bytes,
)

RNG = np.random.default_rng(20240601)


def arrays() -> dict[str, Any]:
    return {
        "pixels": RNG.random((2, 3, 8, 8), dtype=np.float32),
        "ids": RNG.integers(-(2**40), 2**40, size=(4, 5), dtype=np.int64),
        "mask": RNG.integers(0, 256, size=17, dtype=np.uint8),
        "flags": np.array([True, False, True]),
        "half": RNG.random(6).astype(np.float16),
    }


def json_length(req_headers: dict[str, str] | Any) -> int | None:
    value = req_headers.get(INFERENCE_HEADER)
    return None if value is None else int(value)


def assert_same(decoded: dict[str, np.ndarray[Any, Any]], sent: dict[str, Any]) -> None:
    assert set(decoded) == set(sent)
    for name, value in sent.items():
        expected = Tensor.of(name, value).data
        assert decoded[name].shape == expected.shape, name
        assert decoded[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(decoded[name], expected)


# --- requests ------------------------------------------------------------------------------


def test_binary_request_round_trip() -> None:
    sent = arrays()
    req = V2Model("resnet").request(sent, parameters={"priority": 1}, request_id="r1")
    assert req.path == "/v2/models/resnet/infer"
    assert req.content_type == "application/octet-stream"
    length = json_length(req.headers)
    assert length is not None
    header = json.loads(req.body[:length])
    assert header["id"] == "r1"
    assert header["parameters"] == {"priority": 1, "binary_data_output": True}
    sizes = [t["parameters"]["binary_data_size"] for t in header["inputs"]]
    assert all("data" not in t for t in header["inputs"])
    # the header length is exact: the rest is exactly the declared tensor bytes
    assert len(req.body) - length == sum(sizes)
    assert sizes == [2 * 3 * 8 * 8 * 4, 4 * 5 * 8, 17, 3, 6 * 2]
    doc, decoded = decode_body(req.body, length, "inputs")
    assert doc["id"] == "r1"
    assert_same(decoded, sent)


def test_json_request_round_trip() -> None:
    sent = arrays()
    req = V2Model("resnet", binary=False, binary_outputs=False).request(sent)
    assert req.content_type == "application/json"
    assert INFERENCE_HEADER not in req.headers
    header = json.loads(req.body)
    assert "parameters" not in header
    pixels = next(t for t in header["inputs"] if t["name"] == "pixels")
    assert pixels["shape"] == [2, 3, 8, 8]
    assert pixels["datatype"] == "FP32"
    assert len(pixels["data"]) == 2 * 3 * 8 * 8  # flat, row-major
    _, decoded = decode_body(req.body, None, "inputs")
    assert_same(decoded, sent)


def test_bytes_tensors_for_encoded_media() -> None:
    jpegs = [b"\xff\xd8\xff\xe0" + RNG.bytes(n) for n in (0, 5, 300)]
    req = V2Model("dali").request({"images": jpegs, "one": b"RIFF....WAVE"})
    length = json_length(req.headers)
    header = json.loads(req.body[:length])
    images = header["inputs"][0]
    assert (images["datatype"], images["shape"]) == ("BYTES", [3])
    assert images["parameters"]["binary_data_size"] == sum(4 + len(j) for j in jpegs)
    assert header["inputs"][1]["shape"] == [1]
    _, decoded = decode_body(req.body, length, "inputs")
    assert list(decoded["images"]) == jpegs
    assert list(decoded["one"]) == [b"RIFF....WAVE"]


def test_bytes_json_needs_utf8() -> None:
    model = V2Model("m", binary=False)
    req = model.request({"text": ["héllo", "wörld"]})
    _, decoded = decode_body(req.body, None, "inputs")
    assert list(decoded["text"]) == ["héllo".encode(), "wörld".encode()]
    with pytest.raises(ConfigError, match=r"not UTF-8.*binary=True"):
        model.request({"jpeg": [b"\xff\xd8"]})


def test_versioned_path_quoting_named_outputs_and_headers() -> None:
    model = V2Model(
        "my model", version="2", outputs=("probs",), headers={"Authorization": "Bearer k"}
    )
    req = model.request({"x": np.zeros(3, np.float32)})
    assert req.path == "/v2/models/my%20model/versions/2/infer"
    assert req.headers["Authorization"] == "Bearer k"
    header = json.loads(req.body[: json_length(req.headers)])
    assert header["outputs"] == [{"name": "probs", "parameters": {"binary_data": True}}]
    assert "parameters" not in header
    assert model.ready_request().path == "/v2/models/my%20model/versions/2/ready"
    assert model.ready_request().method == "GET"


def test_health_helpers() -> None:
    assert server_ready_request().path == "/v2/health/ready"
    assert server_live_request().path == "/v2/health/live"
    assert parse_ready(200)
    assert not parse_ready(400)
    assert not parse_ready(503)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: V2Model(""), "model"),
        (lambda: V2Model("m").request({}), "at least one input"),
        (lambda: Tensor.of("x", np.zeros(2), datatype="BF16"), "unknown datatype"),
        (lambda: Tensor.of("x", np.zeros(2, np.complex64)), "no v2 datatype"),
        (
            lambda: Tensor.of("x", np.array([1, b"a"], dtype=object), datatype="BYTES"),
            "BYTES element 0",
        ),
    ],
)
def test_bad_tensors_are_config_errors(make: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_explicit_tensor_list_and_datatype() -> None:
    t = Tensor.of("x", [1, 2, 3], datatype="INT32")
    assert (t.datatype, t.data.dtype) == ("INT32", np.dtype("<i4"))
    req = V2Model("m").request([t])
    _, decoded = decode_body(req.body, json_length(req.headers), "inputs")
    np.testing.assert_array_equal(decoded["x"], [1, 2, 3])


# --- BYTES serialization -------------------------------------------------------------------


def test_bytes_serialization_format() -> None:
    assert serialize_bytes([b"abc", b""]) == b"\x03\x00\x00\x00abc\x00\x00\x00\x00"
    assert deserialize_bytes(b"\x03\x00\x00\x00abc\x00\x00\x00\x00", 2) == [b"abc", b""]


@pytest.mark.parametrize(
    ("buf", "count", "match"),
    [
        (b"\x03\x00\x00", None, "length prefix cut"),
        (b"\x05\x00\x00\x00abc", None, "declares 5 bytes"),
        (b"\x01\x00\x00\x00a", 2, "holds 1 elements"),
    ],
)
def test_bytes_deserialization_errors(buf: bytes, count: int | None, match: str) -> None:
    with pytest.raises(TensorFormatError, match=match):
        deserialize_bytes(buf, count)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_bytes_round_trip(items: list[bytes]) -> None:
    assert deserialize_bytes(serialize_bytes(items), len(items)) == items


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    shape=st.lists(st.integers(0, 4), max_size=3),
    datatype=st.sampled_from(["FP32", "FP64", "INT64", "INT8", "UINT8", "UINT16", "BOOL"]),
    binary=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_numeric_round_trip(shape: list[int], datatype: str, binary: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 100, size=shape) if datatype != "BOOL" else rng.random(shape) > 0.5
    tensor = Tensor.of("t", values, datatype=datatype)
    body, length = encode_body({}, "outputs", [tensor], binary=binary)
    _, decoded = decode_body(body, length, "outputs")
    assert decoded["t"].shape == tuple(shape)
    np.testing.assert_array_equal(decoded["t"], tensor.data)


# --- responses -----------------------------------------------------------------------------


def response(outputs: dict[str, Any], *, binary: bool) -> tuple[dict[str, str], bytes]:
    tensors = [Tensor.of(name, value) for name, value in outputs.items()]
    body, length = encode_body({"model_name": "m", "id": "1"}, "outputs", tensors, binary=binary)
    headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
    if length is not None:
        headers[INFERENCE_HEADER.lower()] = str(length)  # header names are case-insensitive
    return headers, body


@pytest.mark.parametrize("binary", [True, False])
def test_response_outputs_decode_to_arrays(binary: bool) -> None:
    outputs = {"probs": RNG.random((2, 10), dtype=np.float32), "labels": [b"cat", b"dog"]}
    headers, body = response(outputs, binary=binary)
    r = V2Model("m", outputs=("probs",)).parse(200, headers, body, latency_ms=12.0)
    assert r.ok, r.error
    assert r.latency_ms == 12.0
    assert r.bytes_received == len(body)
    assert_same(r.outputs, outputs)


def test_nested_json_data_is_accepted() -> None:
    body = json.dumps(
        {"outputs": [{"name": "y", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}]}
    ).encode()
    r = V2Model("m").parse(200, {}, body)
    assert r.ok
    np.testing.assert_array_equal(r.outputs["y"], [[1, 2], [3, 4]])


def _out(**fields: Any) -> bytes:
    entry = {"name": "y", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0], **fields}
    return json.dumps({"outputs": [entry]}).encode()


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        ({}, b"<html>oops</html>", "not JSON"),
        ({}, b"[]", "JSON header is a list"),
        ({}, b'{"model_name": "m"}', "'outputs' is"),
        ({}, b'{"outputs": []}', "no outputs"),
        ({}, b'{"outputs": [{"shape": [1]}]}', "not a tensor object"),
        ({}, _out(datatype="BF16"), "unknown datatype"),
        ({}, _out(shape=[3]), "data holds 2 elements"),
        ({}, _out(shape="2"), "not a list of sizes"),
        ({}, _out(data=["a", "b"]), "must be numbers"),
        ({}, _out(datatype="BOOL", data=[1, 0]), "true/false"),
        ({}, _out(datatype="BYTES", data=[1, 2]), "not a string"),
        ({}, _out(data=None, parameters={}), "data holds 1 elements"),
        ({INFERENCE_HEADER: "abc"}, b"{}", "not a number"),
        ({INFERENCE_HEADER: "999"}, _out(), "body has"),
        ({INFERENCE_HEADER: "-1"}, _out(), "body has"),
    ],
)
def test_malformed_responses_are_invalid(
    headers: dict[str, str], body: bytes, fragment: str
) -> None:
    r = V2Model("m").parse(200, headers, body)
    assert (r.ok, r.error_class) == (False, "invalid")
    assert fragment in (r.error or ""), r.error


def test_missing_data_and_missing_requested_output() -> None:
    no_data = json.dumps({"outputs": [{"name": "y", "shape": [1], "datatype": "FP32"}]}).encode()
    assert "neither data nor binary_data_size" in (V2Model("m").parse(200, {}, no_data).error or "")
    r = V2Model("m", outputs=("z",)).parse(200, {}, _out())
    assert "missing from the response: ['z']" in (r.error or "")


def test_binary_sizes_that_do_not_add_up_are_invalid() -> None:
    headers, body = response({"y": np.arange(4, dtype=np.float32)}, binary=True)
    length = int(headers[INFERENCE_HEADER.lower()])
    short = V2Model("m").parse(200, headers, body[:-1])
    assert "runs past the body" in (short.error or "")
    extra = V2Model("m").parse(200, headers, body + b"\x00")
    assert "1 bytes after the JSON header belong to no tensor" in (extra.error or "")
    wrong_size = json.loads(body[:length])
    wrong_size["outputs"][0]["parameters"]["binary_data_size"] = 12
    head = json.dumps(wrong_size).encode()
    tail = body[length:][:12]
    r = V2Model("m").parse(200, {INFERENCE_HEADER: str(len(head))}, head + tail)
    assert "12 binary bytes, but 4 FP32 elements need 16" in (r.error or "")


def test_error_answers() -> None:
    r = V2Model("m").parse(400, {}, b'{"error": "unexpected inference input \'foo\'"}')
    assert (r.ok, r.error_class) == (False, "client_error")
    assert r.error == "HTTP 400: unexpected inference input 'foo'"
    ok_status = V2Model("m").parse(200, {}, b'{"error": "model crashed"}')
    assert (ok_status.ok, ok_status.error_class) == (False, "server_error")
    assert "model crashed" in (ok_status.error or "")
    shed = V2Model("m").parse(503, {}, b"")
    assert (shed.error_class, shed.error) == ("shed", "HTTP 503: (empty body)")


# --- files as BYTES tensors, lazily decoded answers ---------------------------------------


@pytest.mark.parametrize(
    ("model", "parameters", "path"),
    [
        (V2Model("m"), {}, None),
        (V2Model("m", version="2", headers={"X-Key": "k"}), {"top_k": 3}, None),
        (V2Model("m", outputs=("scores",)), {}, "/custom/infer"),
        (V2Model("m", binary_outputs=False), {"a": [1, 2]}, None),
    ],
)
def test_file_requests_are_the_bytes_request_makes(
    model: V2Model, parameters: dict[str, Any], path: str | None
) -> None:
    build = model.file_requests("image", parameters=parameters, path=path)
    for size in (0, 1, 999, 1000, 123_457):  # header digits change with the size
        file = RNG.integers(0, 256, size, dtype=np.uint8).tobytes()
        parts: list[bytes | memoryview] = [file[:7], memoryview(file)[7:]]
        fast = build(parts)
        slow = model.request({"image": file}, parameters=parameters or None)
        assert bytes(fast.body) == slow.body
        assert dict(fast.headers) == dict(slow.headers)
        assert fast.path == (path or slow.path)
        assert isinstance(fast.body, BodyParts)
        assert fast.body.parts[-1] is parts[-1]  # the file's buffers are not copied
        again = build(parts)  # a size seen before: the same head, from the cache
        assert bytes(again.body) == slow.body
        assert dict(again.headers) == dict(slow.headers)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1000, 123_457])
def test_json_file_requests_carry_the_file_in_base64(size: int) -> None:
    """JSON tensors (servers without the binary extension): the file base64-encoded,
    marked ``content_type: base64``, and the parts joined exactly once."""
    model = V2Model("m", version="2", binary=False, binary_outputs=False, headers={"X-K": "k"})
    build = model.file_requests("image", parameters={"top_k": 3})
    file = RNG.integers(0, 256, size, dtype=np.uint8).tobytes()
    req = build([file[:5], memoryview(file)[5:]])
    assert req.path == "/v2/models/m/versions/2/infer"
    assert dict(req.headers) == {"X-K": "k", "Content-Type": "application/json"}
    assert INFERENCE_HEADER not in req.headers
    doc = json.loads(bytes(req.body))
    assert doc == {
        "parameters": {"top_k": 3},
        "inputs": [
            {
                "name": "image",
                "shape": [1],
                "datatype": "BYTES",
                "parameters": {"content_type": "base64"},
                "data": [base64.b64encode(file).decode()],
            }
        ],
    }
    assert len(req.body) == len(bytes(req.body))


def test_tensor_requests_are_the_bytes_request_makes() -> None:
    """Binary: the header per shape and the tensor's own bytes, equal to V2Model.request's."""
    model = V2Model("m", outputs=("scores",))
    build = model.tensor_requests("x", "UINT8", parameters={"a": 1})
    for shape in ((1, 4, 4, 3), (1, 3, 4, 4), (1, 10)):
        array = RNG.integers(0, 256, shape, dtype=np.uint8)
        data = array.tobytes()
        fast = build([data], shape)
        slow = model.request({"x": array}, parameters={"a": 1})
        assert bytes(fast.body) == bytes(slow.body)
        assert dict(fast.headers) == dict(slow.headers)
        assert isinstance(fast.body, BodyParts)
        assert fast.body.parts[1] is data  # not copied


def test_json_tensor_requests_parse_back_to_the_tensor() -> None:
    from locust_ml.payloads.tensor_pool import json_text

    model = V2Model("m", binary=False, binary_outputs=False)
    build = model.tensor_requests("waveform", "FP32")
    for n in (1, 7, 16000):
        array = (RNG.random((1, n)) * 2 - 1).astype(np.float32)
        req = build([json_text(array)], array.shape)
        assert req.headers["Content-Type"] == "application/json"
        _, inputs = decode_body(bytes(req.body), None, "inputs")
        assert inputs["waveform"].dtype == np.float32
        np.testing.assert_array_equal(inputs["waveform"], array)  # 9 digits: exact for FP32


def test_tensor_requests_need_a_numeric_datatype() -> None:
    with pytest.raises(ConfigError, match="not a numeric datatype"):
        V2Model("m").tensor_requests("x", "BYTES")


def test_metadata_request_is_a_get_of_the_model_path() -> None:
    req = V2Model("my model", version="3", headers={"Authorization": "k"}).metadata_request()
    assert (req.method, req.path, dict(req.headers)) == (
        "GET",
        "/v2/models/my%20model/versions/3",
        {"Authorization": "k"},
    )


def test_request_headers_of_file_requests_are_read_only() -> None:
    req = V2Model("m").file_requests("image")([b"abc"])
    with pytest.raises(TypeError):
        req.headers["X"] = "y"  # type: ignore[index]


def test_outputs_are_built_on_first_access() -> None:
    headers, body = response({"probs": RNG.random((2, 3), dtype=np.float32)}, binary=False)
    r = V2Model("m").parse(200, headers, body)
    assert r.ok
    outputs = r.outputs
    assert isinstance(outputs, LazyTensors)
    assert outputs._arrays == {}  # nothing built by the parse
    assert list(outputs) == ["probs"]
    assert len(outputs) == 1
    assert "probs" in outputs
    assert "other" not in outputs
    first = outputs["probs"]
    assert outputs["probs"] is first  # built once
    _, decoded = decode_body(body, None, "outputs")
    np.testing.assert_array_equal(first, decoded["probs"])
    assert first.dtype == decoded["probs"].dtype
    with pytest.raises(KeyError):
        outputs["other"]
    assert "probs" in repr(outputs)


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("INT64", [2**63]),  # just out of range: numpy's error, at parse time
        ("INT32", [float("nan")]),
        ("UINT8", [300]),
        ("UINT8", [-1]),
        ("FP64", [10**400]),
        ("INT32", [1e30]),
    ],
)
def test_numbers_numpy_rejects_are_invalid_at_parse_time(datatype: str, data: list[Any]) -> None:
    body = json.dumps(
        {"outputs": [{"name": "y", "shape": [1], "datatype": datatype, "data": data}]}
    ).encode()
    r = V2Model("m").parse(200, {}, body)
    assert (r.ok, r.error_class) == (False, "invalid")
    with pytest.raises(TensorFormatError):
        decode_body(body, None, "outputs")


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("INT64", [2**63 - 1, -(2**63)], [2**63 - 1, -(2**63)]),
        ("INT32", [1.5, -2.5], [1, -2]),  # numpy truncates, lazily or not
        ("UINT8", [0, 255], [0, 255]),
        ("FP32", [1, 2.5], [1.0, 2.5]),
        ("BOOL", [True, False], [True, False]),
    ],
)
def test_lazy_arrays_equal_eager_ones(datatype: str, data: list[Any], expected: list[Any]) -> None:
    body = json.dumps(
        {"outputs": [{"name": "y", "shape": [2], "datatype": datatype, "data": data}]}
    ).encode()
    r = V2Model("m").parse(200, {}, body)
    assert r.ok, r.error
    _, eager = decode_body(body, None, "outputs")
    np.testing.assert_array_equal(r.outputs["y"], expected)
    assert r.outputs["y"].dtype == eager["y"].dtype


@pytest.mark.parametrize(
    "body",
    [
        b' {"outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]} \n',
        '{"outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]}'.encode(
            "utf-16"
        ),
        b'\xef\xbb\xbf{"outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [1]}]}',
    ],
)
def test_json_that_is_not_bare_utf8_still_parses_as_json_loads_would(body: bytes) -> None:
    r = V2Model("m").parse(200, {}, body)
    assert r.ok, r.error
    np.testing.assert_array_equal(r.outputs["y"], [1.0])


@pytest.mark.parametrize("body", [b'{"outputs": []} x', b'{"outputs": [}', b"\xff\xfe{"])
def test_json_errors_are_json_loads_errors(body: bytes) -> None:
    r = V2Model("m").parse(200, {}, body)
    assert (r.ok, r.error_class) == (False, "invalid")
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as info:
        json.loads(body)
    assert str(info.value) in (r.error or "")
