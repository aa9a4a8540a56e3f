"""The Open Inference Protocol v2 on the reference server: the wire format alone,
then end to end through the ASGI app (JSON and binary requests, errors, limits,
batching, metrics)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import struct
import wave
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import soundfile
from PIL import Image

from locust_ml.errors import ConfigError
from locust_ml.server.config import ServerConfig, add_server_arguments, config_from_args
from locust_ml.server.oneshot import Tensor
from locust_ml.server.v2 import (
    HEADER_LENGTH,
    RequestedOutput,
    V2Error,
    encode_infer_response,
    endpoint_label,
    parse_infer_request,
)

IMAGE = ServerConfig(backend="image-classifier", max_batch_size=4, max_queue_delay_ms=2.0)
SPEECH = ServerConfig(backend="speech", max_batch_size=4, max_queue_delay_ms=2.0)
INFER = "/v2/models/image-classifier/infer"
SPEECH_INFER = "/v2/models/speech/infer"


def _jpeg(width: int = 40, height: int = 30, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = rng.uniform(50, 200, 3) + 40 * np.sin(xx / 4.0)[..., None] + 0 * yy[..., None]
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _pcm16(seconds: float, seed: int = 0) -> npt.NDArray[np.int16]:
    """Speech-like 16 kHz samples: a voiced tone in bursts, and a little noise."""
    t = np.arange(int(seconds * 16000)) / 16000
    noise = np.random.default_rng(seed).standard_normal(len(t))
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    return np.round((voice + 0.003 * noise) * 32767).astype(np.int16)


def _wav(seconds: float, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(_pcm16(seconds, seed).astype("<i2").tobytes())
    return buf.getvalue()


def _flac(seconds: float) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, _pcm16(seconds), 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json_request(name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    tensor = {"name": name, "shape": [1], "datatype": "BYTES", "data": [_b64(data)]}
    return {"inputs": [tensor], **extra}


def _binary_request(
    inputs: list[tuple[dict[str, Any], bytes]], **extra: Any
) -> tuple[bytes, dict[str, str]]:
    """A binary-extension body: each input's JSON gets binary_data_size for its bytes."""
    entries = []
    for tensor, blob in inputs:
        params = {**tensor.get("parameters", {}), "binary_data_size": len(blob)}
        entries.append({**tensor, "parameters": params})
    header = json.dumps({"inputs": entries, **extra}).encode()
    body = header + b"".join(blob for _, blob in inputs)
    return body, {HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"}


def _bytes_elements(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def _split_response(r: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    """A binary-extension response: its JSON header and each output's values."""
    n = int(r.headers[HEADER_LENGTH])
    header = json.loads(r.content[:n])
    rest = r.content[n:]
    values: dict[str, Any] = {}
    for out in header["outputs"]:
        if "data" in out:
            values[out["name"]] = out["data"]
            continue
        size = out["parameters"]["binary_data_size"]
        blob, rest = rest[:size], rest[size:]
        if out["datatype"] == "BYTES":
            items = []
            while blob:
                (length,) = struct.unpack_from("<I", blob)
                items.append(blob[4 : 4 + length].decode())
                blob = blob[4 + length :]
            values[out["name"]] = items
        else:
            values[out["name"]] = np.frombuffer(blob, "<f4").tolist()
    assert rest == b""
    return header, values


def _error(r: httpx.Response, status: int, match: str = "") -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert match in body["error"], body["error"]
    return str(body["error"])


# -- options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "backend", "model"),
    [
        ([], "summarizer", "summarizer"),
        (["--backend=simulated"], "simulated", "summarizer"),
        (["--backend=image-classifier"], "image-classifier", "image-classifier"),
        (["--backend=speech", "--model-name=whisper"], "speech", "whisper"),
    ],
)
def test_the_model_name_defaults_to_the_backend(argv: list[str], backend: str, model: str) -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    cfg = config_from_args(parser.parse_args(argv))
    assert (cfg.backend, cfg.model_name) == (backend, model)


def test_the_one_shot_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="--max-image-pixels"):
        ServerConfig(max_image_pixels=0)
    with pytest.raises(ConfigError, match="--max-audio-seconds"):
        ServerConfig(max_audio_seconds=0.0)
    assert ServerConfig(backend="image-classifier").model_name == "image-classifier"
    assert ServerConfig(backend="speech", model_name="asr").model_name == "asr"
    described = ServerConfig(backend="speech", instances=2).describe()
    assert "backend=speech, model=speech" in described
    assert "instances=2" in described
    assert "max_audio_seconds=120" in described


# -- the wire format alone --------------------------------------------------------


def test_parse_json_request_with_nested_numeric_data() -> None:
    body = {
        "id": "r1",
        "parameters": {"top_k": 3},
        "inputs": [
            {"name": "a", "shape": [2, 2], "datatype": "UINT8", "data": [[1, 2], [3, 4]]},
            {"name": "b", "shape": [3], "datatype": "FP32", "data": [0.5, 1, 2]},
            {"name": "c", "shape": [2], "datatype": "BYTES", "data": [_b64(b"x"), _b64(b"\0y")]},
        ],
        "outputs": [{"name": "labels", "parameters": {"binary_data": True}}],
    }
    req = parse_infer_request(json.dumps(body).encode(), None)
    assert (req.id, req.parameters, req.binary_output) == ("r1", {"top_k": 3}, False)
    a, b, c = req.inputs
    assert (a.datatype, a.shape, a.data.tolist()) == ("UINT8", (2, 2), [[1, 2], [3, 4]])
    assert a.data.dtype == np.uint8
    assert b.data.dtype == np.float32
    assert c.data.tolist() == [b"x", b"\0y"]
    assert req.outputs == (RequestedOutput("labels", True),)


def test_parse_binary_request() -> None:
    body, headers = _binary_request(
        [
            ({"name": "a", "shape": [2], "datatype": "INT16"}, np.array([-2, 7], "<i2").tobytes()),
            ({"name": "b", "shape": [2], "datatype": "BYTES"}, _bytes_elements(b"one", b"")),
            ({"name": "c", "shape": [1], "datatype": "FP32"}, np.array([1.5], "<f4").tobytes()),
        ],
        parameters={"binary_data_output": True},
    )
    req = parse_infer_request(body, headers[HEADER_LENGTH])
    a, b, c = req.inputs
    assert a.data.tolist() == [-2, 7]
    assert b.data.tolist() == [b"one", b""]
    assert c.data.tolist() == [1.5]
    assert req.binary_output


def test_a_lone_bytes_element_may_come_without_its_length_prefix() -> None:
    jpeg = _jpeg()
    body, headers = _binary_request([({"name": "image", "shape": [1], "datatype": "BYTES"}, jpeg)])
    (tensor,) = parse_infer_request(body, headers[HEADER_LENGTH]).inputs
    assert tensor.data.tolist() == [jpeg]


def _raw(tensor: dict[str, Any]) -> bytes:
    return json.dumps({"inputs": [tensor]}).encode()


_ONE = _raw({"name": "a", "shape": [1], "datatype": "FP32", "data": [1]})


@pytest.mark.parametrize(
    ("body", "header", "match"),
    [
        (b"{nope", None, "not valid JSON"),
        (b"[1]", None, "must be a JSON object, got list"),
        (b'{"inputs": []}', None, "non-empty list"),
        (b'{"inputs": [{"name": "a"}], "id": 3}', None, "'id' must be a string"),
        (_raw({"name": "a", "shape": [1], "datatype": "FP8", "data": [1]}), None, "'FP8'"),
        (_raw({"name": "a", "shape": [1], "datatype": ["FP32"], "data": [1]}), None, "datatype"),
        (_raw({"name": "a", "shape": [-1], "datatype": "FP32", "data": [1]}), None, ">= 0"),
        (_raw({"name": "a", "shape": [True], "datatype": "FP32", "data": [1]}), None, ">= 0"),
        (_raw({"name": "a", "shape": [2], "datatype": "FP32", "data": [1]}), None, "needs 2"),
        (_raw({"name": "a", "shape": [1], "datatype": "FP32", "data": ["1"]}), None, "'U'-kind"),
        (_raw({"name": "a", "shape": [2], "datatype": "FP32", "data": [[1], 2]}), None, "regular"),
        (_raw({"name": "a", "shape": [1], "datatype": "UINT8", "data": [300]}), None, "range"),
        (_raw({"name": "a", "shape": [1], "datatype": "INT8", "data": [1.5]}), None, "'f'-kind"),
        (_raw({"name": "a", "shape": [1], "datatype": "BYTES", "data": ["@@"]}), None, "base64"),
        (_raw({"name": "a", "shape": [1], "datatype": "BYTES", "data": [5]}), None, "base64 str"),
        (_raw({"name": "a", "shape": [1], "datatype": "FP32"}), None, "neither 'data'"),
        (
            _raw({"name": "a", "shape": [1], "datatype": "FP32", "parameters": 3, "data": [1]}),
            None,
            "'parameters' must be a JSON object",
        ),
        (
            _raw(
                {
                    "name": "a",
                    "shape": [1],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 4},
                }
            ),
            None,
            "no Inference-Header-Content-Length",
        ),
        (b'{"inputs": [{"name": "a"}]}', "x", "must be a non-negative integer"),
        (b'{"inputs": [{"name": "a"}]}', "999", "only 27 bytes"),
        (_ONE + b"extra", str(len(_ONE)), "5 bytes of binary data"),
        (
            json.dumps(
                {
                    "inputs": [
                        {"name": "a", "shape": [1], "datatype": "FP32", "data": [1]},
                        {"name": "a", "shape": [1], "datatype": "FP32", "data": [1]},
                    ]
                }
            ).encode(),
            None,
            "given twice",
        ),
        (_ONE[:-1] + b', "outputs": [{"name": 1}]}', None, r"outputs\[0\]"),
        (
            json.dumps(
                {
                    "inputs": [{"name": "a", "shape": [], "datatype": "FP32", "data": 1}],
                    "parameters": {"binary_data_output": "yes"},
                }
            ).encode(),
            None,
            "binary_data_output must be a boolean",
        ),
    ],
)
def test_malformed_requests_are_400(body: bytes, header: str | None, match: str) -> None:
    with pytest.raises(V2Error, match=match) as info:
        parse_infer_request(body, header)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("tensor", "blob", "match"),
    [
        ({"name": "a", "shape": [2], "datatype": "FP32"}, b"\0" * 7, "needs 8"),
        ({"name": "a", "shape": [2], "datatype": "BYTES"}, _bytes_elements(b"x"), "not 2 BYTES"),
        ({"name": "a", "shape": [2], "datatype": "BYTES"}, b"\x05\0\0\0ab", "not 2 BYTES"),
    ],
)
def test_malformed_binary_data_is_400(tensor: dict[str, Any], blob: bytes, match: str) -> None:
    body, headers = _binary_request([(tensor, blob)])
    with pytest.raises(V2Error, match=match):
        parse_infer_request(body, headers[HEADER_LENGTH])
    # Declaring more bytes than the body holds.
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": 99}}]}).encode()
    with pytest.raises(V2Error, match=r"only \d are left"):
        parse_infer_request(header + blob, str(len(header)))


def test_encode_json_and_binary_outputs() -> None:
    outputs = [
        Tensor.of_bytes("labels", [b"cat", b"dog"], (1, 2)),
        Tensor("scores", "FP32", (1, 2), np.array([[0.75, 0.25]], np.float32)),
    ]
    body, headers = encode_infer_response(
        model_name="m", request_id="7", outputs=outputs, requested=None, binary_output=False
    )
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {
        "model_name": "m",
        "model_version": "1",
        "id": "7",
        "outputs": [
            {"name": "labels", "datatype": "BYTES", "shape": [1, 2], "data": ["cat", "dog"]},
            {"name": "scores", "datatype": "FP32", "shape": [1, 2], "data": [0.75, 0.25]},
        ],
    }
    body, headers = encode_infer_response(
        model_name="m",
        request_id="7",
        outputs=outputs,
        requested=[RequestedOutput("scores"), RequestedOutput("labels", binary=False)],
        binary_output=True,
    )
    n = int(headers[HEADER_LENGTH])
    header = json.loads(body[:n])
    assert [o["name"] for o in header["outputs"]] == ["scores", "labels"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert header["outputs"][1]["data"] == ["cat", "dog"]
    assert np.frombuffer(body[n:], "<f4").tolist() == [0.75, 0.25]
    assert headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v2", "/v2"),
        ("/v2/health/ready", "/v2/health/ready"),
        ("/v2/models/x", "/v2/models/{model}"),
        ("/v2/models/x/ready", "/v2/models/{model}/ready"),
        ("/v2/models/x/infer", "/v2/models/{model}/infer"),
        ("/v2/models/x/versions/3/infer", "/v2/models/{model}/versions/{version}/infer"),
        ("/v2/models/x/explain", None),
        ("/v1/models", None),
    ],
)
def test_endpoint_labels_are_templates(path: str, label: str | None) -> None:
    assert endpoint_label(path) == label


# -- end to end through the app -------------------------------------------------------


@pytest.mark.anyio
async def test_metadata_and_health(serve: Any) -> None:
    async with serve(IMAGE) as (_, client):
        server = (await client.get("/v2")).json()
        assert server["name"] == "locust-ml"
        assert "binary_tensor_data" in server["extensions"]
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/image-classifier/ready"):
            r = await client.get(path)
            assert (r.status_code, r.content) == (200, b"")
        assert (await client.get("/v2/models/image-classifier/versions/1/ready")).status_code == 200
        meta = (await client.get("/v2/models/image-classifier")).json()
        assert meta == (await client.get("/v2/models/image-classifier/versions/1")).json()
        assert meta["name"] == "image-classifier"
        assert meta["versions"] == ["1"]
        assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [1]}]
        assert [(o["name"], o["datatype"]) for o in meta["outputs"]] == [
            ("labels", "BYTES"),
            ("scores", "FP32"),
        ]
        _error(await client.get("/v2/models/resnet"), 404, "unknown model 'resnet'")
        _error(await client.get("/v2/models/resnet/ready"), 404, "serves 'image-classifier'")
        _error(await client.get("/v2/models/image-classifier/versions/2"), 404, "no version '2'")
        _error(await client.get("/v2/models/image-classifier/explain"), 404)


@pytest.mark.anyio
async def test_json_request_with_a_base64_jpeg(serve: Any) -> None:
    async with serve(IMAGE) as (_, client):
        body = _json_request("image", _jpeg(), id="req-1", parameters={"top_k": 3})
        r = await client.post(INFER, json=body)
        again = await client.post("/v2/models/image-classifier/versions/1/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    out = r.json()
    assert (out["model_name"], out["model_version"], out["id"]) == (
        "image-classifier",
        "1",
        "req-1",
    )
    labels, scores = out["outputs"]
    assert (labels["name"], labels["datatype"], labels["shape"]) == ("labels", "BYTES", [1, 3])
    assert (scores["name"], scores["datatype"], scores["shape"]) == ("scores", "FP32", [1, 3])
    assert all(label.startswith("class_") for label in labels["data"])
    assert scores["data"] == sorted(scores["data"], reverse=True)
    assert again.json()["outputs"] == out["outputs"]  # deterministic
    assert int(r.headers["X-Batch-Size"]) == 1
    assert float(r.headers["X-Queue-Time-Ms"]) >= 0
    assert float(r.headers["X-Inference-Time-Ms"]) > 0


@pytest.mark.anyio
async def test_binary_request_with_binary_outputs(serve: Any) -> None:
    jpeg = _jpeg(64, 48)
    async with serve(IMAGE) as (_, client):
        body, headers = _binary_request(
            [({"name": "image", "shape": [1], "datatype": "BYTES"}, _bytes_elements(jpeg))],
            outputs=[{"name": "scores", "parameters": {"binary_data": True}}, {"name": "labels"}],
        )
        r = await client.post(INFER, content=body, headers=headers)
        everything_binary, headers = _binary_request(
            [({"name": "image", "shape": [1], "datatype": "BYTES"}, jpeg)],
            parameters={"binary_data_output": True},
        )
        r_all = await client.post(INFER, content=everything_binary, headers=headers)
        r_json = await client.post(INFER, json=_json_request("image", jpeg))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    header, values = _split_response(r)
    assert [o["name"] for o in header["outputs"]] == ["scores", "labels"]
    expected = {o["name"]: o["data"] for o in r_json.json()["outputs"]}
    assert values["labels"] == expected["labels"]
    np.testing.assert_allclose(values["scores"], expected["scores"], rtol=1e-6)
    header_all, values_all = _split_response(r_all)
    assert all("data" not in o for o in header_all["outputs"])
    assert values_all["labels"] == expected["labels"]


@pytest.mark.anyio
async def test_raw_pixel_tensors(serve: Any) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (1, 12, 16, 3), dtype=np.uint8)
    async with serve(IMAGE) as (_, client):
        body, headers = _binary_request(
            [({"name": "image", "shape": [1, 12, 16, 3], "datatype": "UINT8"}, pixels.tobytes())]
        )
        r_uint8 = await client.post(INFER, content=body, headers=headers)
        fp32 = {
            "name": "image",
            "shape": [1, 12, 16, 3],
            "datatype": "FP32",
            "data": pixels.astype(float).tolist(),
        }
        r_fp32 = await client.post(INFER, json={"inputs": [fp32]})
    assert r_uint8.status_code == 200, r_uint8.text
    assert r_fp32.status_code == 200, r_fp32.text
    assert r_uint8.json()["outputs"][0] == r_fp32.json()["outputs"][0]


@pytest.mark.anyio
async def test_speech_json_and_binary_requests(serve: Any) -> None:
    wav, flac = _wav(0.6), _flac(0.6)
    samples = (_pcm16(0.6) / np.float32(32768)).astype("<f4")  # what the WAV decodes to
    async with serve(SPEECH) as (_, client):
        meta = (await client.get("/v2/models/speech")).json()
        r_wav = await client.post(SPEECH_INFER, json=_json_request("audio", wav))
        body, headers = _binary_request(
            [({"name": "audio", "shape": [1], "datatype": "BYTES"}, _bytes_elements(flac))],
            outputs=[{"name": "transcript", "parameters": {"binary_data": True}}],
        )
        r_flac = await client.post(SPEECH_INFER, content=body, headers=headers)
        body, headers = _binary_request(
            [({"name": "audio", "shape": [1, len(samples)], "datatype": "FP32"}, samples.tobytes())]
        )
        r_raw = await client.post(SPEECH_INFER, content=body, headers=headers)
    assert meta["inputs"] == [{"name": "audio", "datatype": "BYTES", "shape": [1]}]
    assert r_wav.status_code == 200, r_wav.text
    text, seconds = r_wav.json()["outputs"]
    assert (text["name"], text["shape"]) == ("transcript", [1])
    assert text["data"][0]
    assert (seconds["name"], seconds["datatype"], seconds["shape"]) == (
        "audio_seconds",
        "FP32",
        [1],
    )
    assert seconds["data"] == [pytest.approx(0.6)]
    assert r_flac.status_code == 200, r_flac.text
    header, values = _split_response(r_flac)
    assert [o["name"] for o in header["outputs"]] == ["transcript"]
    # The same audio as WAV (PCM16), FLAC or raw samples: the same words.
    assert values["transcript"] == text["data"]
    assert r_raw.json()["outputs"][0]["data"] == text["data"]


@pytest.mark.anyio
async def test_garbage_and_wrong_inputs_are_400(serve: Any) -> None:
    async with serve(IMAGE) as (_, client):
        garbage = await client.post(INFER, json=_json_request("image", b"\x00garbage" * 20))
        truncated = await client.post(INFER, json=_json_request("image", _jpeg(256, 256)[:900]))
        wrong_type = await client.post(
            INFER,
            json={"inputs": [{"name": "image", "shape": [1], "datatype": "INT64", "data": [1]}]},
        )
        wrong_name = await client.post(INFER, json=_json_request("pixels", _jpeg()))
        bad_output = await client.post(
            INFER, json=_json_request("image", _jpeg(), outputs=[{"name": "logits"}])
        )
        not_json = await client.post(INFER, content=b"\x89PNG...")
    _error(garbage, 400, "not a JPEG or PNG (first bytes: 00 67 61")
    _error(truncated, 400, "JPEG")
    _error(wrong_type, 400, "datatype INT64; expected BYTES")
    _error(wrong_name, 400, "exactly one input, 'image'; got 'pixels'")
    _error(bad_output, 400, "unknown output 'logits'")
    _error(not_json, 400, "not valid JSON")
    async with serve(SPEECH) as (_, client):
        garbage = await client.post(SPEECH_INFER, json=_json_request("audio", b"garbage"))
    _error(garbage, 400, "neither WAV (RIFF) nor FLAC")


@pytest.mark.anyio
async def test_unknown_model_and_openai_routes_are_404(serve: Any) -> None:
    async with serve(IMAGE) as (_, client):
        unknown = await client.post("/v2/models/resnet50/infer", json=_json_request("image", b""))
        version = await client.post(
            "/v2/models/image-classifier/versions/7/infer", json=_json_request("image", b"")
        )
        openai = await client.post("/v1/completions", json={"model": "image-classifier"})
    _error(unknown, 404, "unknown model 'resnet50'")
    _error(version, 404, "no version '7'")
    assert openai.status_code == 404
    assert "/v2/models/image-classifier/infer" in openai.json()["error"]["message"]


@pytest.mark.anyio
async def test_too_big_is_413(serve: Any) -> None:
    cfg = ServerConfig(backend="image-classifier", max_image_pixels=1000, max_body_bytes=4096)
    async with serve(cfg) as (_, client):
        pixels = await client.post(INFER, json=_json_request("image", _jpeg(40, 30)))
        body = await client.post(INFER, json=_json_request("image", b"x" * 4000))
    _error(pixels, 413, "40 x 30 = 1200 pixels; the limit is 1000 (--max-image-pixels)")
    _error(body, 413, "--max-body-bytes")
    cfg = ServerConfig(backend="speech", max_audio_seconds=0.5)
    async with serve(cfg) as (_, client):
        audio = await client.post(SPEECH_INFER, json=_json_request("audio", _wav(0.6)))
    _error(audio, 413, "0.60 s; the limit is 0.5 s")


@pytest.mark.anyio
async def test_not_ready_is_503_with_retry_after(serve: Any) -> None:
    cfg = ServerConfig(backend="image-classifier", load_seconds=30.0)
    async with serve(cfg, ready=False) as (_, client):
        infer = await client.post(INFER, json=_json_request("image", _jpeg()))
        ready = await client.get("/v2/health/ready")
        model_ready = await client.get("/v2/models/image-classifier/ready")
        live = await client.get("/v2/health/live")
    _error(infer, 503, "still loading")
    for r in (infer, ready, model_ready):
        assert r.status_code == 503
        assert 1 <= int(r.headers["Retry-After"]) <= 30
    assert live.status_code == 200


async def _wait_for(predicate: Any) -> None:
    for _ in range(2000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.mark.anyio
async def test_full_queue_is_503_with_retry_after(serve: Any) -> None:
    # A batch of 2 waits up to 10 s to fill, so the first request sits in the queue.
    cfg = ServerConfig(
        backend="image-classifier", max_batch_size=2, max_queue_delay_ms=10_000, queue_limit=1
    )
    async with serve(cfg) as (app, client):
        backend = app.state.server.backend
        first = asyncio.create_task(client.post(INFER, json=_json_request("image", _jpeg())))
        await _wait_for(lambda: backend.waiting == 1)
        shed = await client.post(INFER, json=_json_request("image", _jpeg()))
        await backend.stop()
        stopped = await first
    _error(shed, 503, "1 requests already waiting")
    assert int(shed.headers["Retry-After"]) >= 1
    _error(stopped, 503, "shutting down")


@pytest.mark.anyio
async def test_a_request_that_waits_too_long_is_504(serve: Any) -> None:
    cfg = ServerConfig(
        backend="image-classifier",
        max_batch_size=2,
        max_queue_delay_ms=10_000,
        request_timeout_s=0.05,
    )
    async with serve(cfg) as (app, client):
        r = await client.post(INFER, json=_json_request("image", _jpeg()))
        assert app.state.server.backend.waiting == 0  # it left the queue
    _error(r, 504, "timed out after 0.05 s")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cfg", "path", "body"),
    [
        (IMAGE, INFER, _json_request("image", _jpeg(32, 32))),
        (SPEECH, SPEECH_INFER, _json_request("audio", _wav(0.3))),
    ],
)
async def test_concurrent_requests_share_batches(
    serve: Any, cfg: ServerConfig, path: str, body: dict[str, Any]
) -> None:
    cfg = ServerConfig(backend=cfg.backend, max_batch_size=4, max_queue_delay_ms=2000)
    async with serve(cfg) as (_, client):
        answers = await asyncio.gather(*(client.post(path, json=body) for _ in range(4)))
        metrics = (await client.get("/metrics")).text
    assert all(r.status_code == 200 for r in answers)
    assert max(int(r.headers["X-Batch-Size"]) for r in answers) > 1
    # The same answer in any batch position (floats to their last bits aside).
    first = answers[0].json()["outputs"]
    for r in answers[1:]:
        for a, b in zip(r.json()["outputs"], first, strict=True):
            assert a["name"] == b["name"]
            assert a["data"] == (
                pytest.approx(b["data"], rel=1e-5) if a["datatype"] == "FP32" else b["data"]
            )
    batches = _sample(metrics, "locust_ml_server_batch_size_count")
    assert batches < 4


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


@pytest.mark.anyio
async def test_metrics_names(serve: Any) -> None:
    jpeg = _jpeg()
    async with serve(IMAGE) as (_, client):
        await client.post(INFER, json=_json_request("image", jpeg))
        await client.post(INFER, json=_json_request("image", b"garbage"))
        await client.post("/v2/models/image-classifier/versions/1/infer", json={})
        text = (await client.get("/metrics")).text
    for name in (
        "locust_ml_server_inference_seconds_bucket",
        "locust_ml_server_batch_size_bucket",
        "locust_ml_server_queue_seconds_bucket",
        "locust_ml_server_queue_depth",
        "locust_ml_server_running_requests",
        "locust_ml_server_model_load_seconds",
    ):
        _sample(text, name)
    assert _sample(text, "locust_ml_server_ready") == 1.0
    assert _sample(text, "locust_ml_server_image_pixels_total") == 40 * 30
    assert _sample(text, "locust_ml_server_input_bytes_total") == len(jpeg)
    infer = 'endpoint="/v2/models/{model}/infer"'
    assert f'locust_ml_server_requests_total{{code="200",{infer}}} 1.0' in text
    assert f'locust_ml_server_requests_total{{code="400",{infer}}} 1.0' in text
    versioned = 'endpoint="/v2/models/{model}/versions/{version}/infer"'
    assert f'locust_ml_server_requests_total{{code="400",{versioned}}} 1.0' in text
