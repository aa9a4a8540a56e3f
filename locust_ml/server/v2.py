"""The Open Inference Protocol v2 (KServe, Triton) on the server side.

This module parses inference requests and builds responses for the one-shot
backends (``image-classifier``, ``speech``), and mounts the protocol's routes.
It follows:

- the KServe "Predict Protocol - Version 2" / Open Inference Protocol, HTTP/REST
  part (``docs/predict-api/v2/required_api.md`` in github.com/kserve/kserve;
  https://kserve.github.io/website/docs/concepts/architecture/data-plane/v2-protocol);
- Triton's binary tensor data extension
  (``docs/protocol/extension_binary_data.md`` in
  github.com/triton-inference-server/server;
  https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/protocol/extension_binary_data.html).

Routes (only mounted for the one-shot backends; elsewhere ``/v2`` paths are 404)::

    GET  /v2                                          server metadata
    GET  /v2/health/live | /v2/health/ready           200, or 503 + Retry-After while loading
    GET  /v2/models/{m}[/versions/{v}]                model metadata
    GET  /v2/models/{m}[/versions/{v}]/ready          200, or 503 + Retry-After
    POST /v2/models/{m}[/versions/{v}]/infer          inference

The one model has version ``"1"``. Health answers have an empty body (as the
protocol asks); "not ready" is 503 with ``Retry-After``, like ``/health/ready``.

**Requests.** A JSON ``$inference_request`` (``id``, ``parameters``,
``inputs``, ``outputs``), each input ``{name, shape, datatype, data}``. Tensor
data may be nested or flat, in row-major order. Numbers are checked, not
coerced: a string in an FP32 tensor or 300 in a UINT8 tensor is a 400.
``BYTES`` elements in JSON must be **base64 strings** (``validate=True``):
JSON strings can't carry arbitrary bytes, and base64 is the convention KServe's
examples and MLServer (``content_type: base64``) use for binary content; the
``content_type`` parameter is accepted and not required.

With the **binary tensor data extension**, the body is the JSON header (its
length in the ``Inference-Header-Content-Length`` header) followed by the
inputs that carry ``"parameters": {"binary_data_size": K}``, K bytes each, in
the order of the inputs. Numeric tensors are little-endian, row-major; a
``BYTES`` element is a 4-byte little-endian length and its bytes. Leniency: a
``BYTES`` tensor of one element whose data doesn't parse as length-prefixed is
taken whole as that element (some clients, OpenVINO's among them, send an
encoded image that way); the image and audio formats start with magic bytes
that can't be mistaken for a valid length.

**Responses.** ``{model_name, model_version, id, outputs}``; ``id`` is the
request's, or a new one. Outputs requested with
``"parameters": {"binary_data": true}`` (or all of them, with the request
parameter ``"binary_data_output": true``) are sent after the JSON header, with
``Inference-Header-Content-Length`` and ``Content-Type:
application/octet-stream``; in JSON, ``BYTES`` outputs (labels, transcripts)
are plain UTF-8 strings, as Triton returns them. Successful answers carry
``X-Queue-Time-Ms``, ``X-Inference-Time-Ms`` and ``X-Batch-Size`` like the
OpenAI endpoints.

**Kept apart from the client's codec, as an oracle.** The ML users encode
and check v2 bodies with :mod:`locust_ml.protocols.v2_tensors`; this module
parses and builds them on its own, from the specifications above, and shares
only the datatype table (the protocol's names for numpy dtypes, which is
data, not code). Were the server to decode with the client's codec, a bug in
it (a wrong byte order, a misread length prefix, an offset off by one) would
encode and decode alike and every integration test would pass; written twice,
the two have to agree on the wire (``tests/integration/test_locustfiles.py``
runs the image and speech locustfiles against this server).

**Errors** are ``{"error": "message"}``: 400 (malformed JSON, header or binary
layout, wrong datatype or shape, undecodable image or audio), 404 (unknown
model or version), 413 (body over ``--max-body-bytes``, an image over
``--max-image-pixels``, audio over ``--max-audio-seconds``), 503 +
``Retry-After`` (loading, or the waiting queue is full), 504 (the request
outlived ``--request-timeout-s``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import FastAPI, Request, Response

from locust_ml.protocols.v2_tensors import DATATYPES
from locust_ml.server.generation import QueueFull
from locust_ml.server.oneshot import Done, InputError, OneShotBatcher, Tensor, TensorSpec
from locust_ml.server.state import ServerState
from locust_ml.version import __version__

__all__ = [
    "HEADER_LENGTH",
    "MODEL_VERSION",
    "InferRequest",
    "RequestedOutput",
    "V2Error",
    "add_v2_routes",
    "encode_infer_response",
    "endpoint_label",
    "model_metadata",
    "parse_infer_request",
    "server_metadata",
]

#: The header that gives the JSON part's length in a binary-extension body.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: The one version of the served model.
MODEL_VERSION = "1"


_MAX_DIMS = 8


class V2Error(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.message}


@dataclass(frozen=True)
class RequestedOutput:
    """An entry of the request's ``outputs``: which output, and whether binary."""

    name: str
    binary: bool | None = None


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request."""

    id: str | None
    parameters: Mapping[str, object]
    inputs: tuple[Tensor, ...]
    outputs: tuple[RequestedOutput, ...] | None
    binary_output: bool


# -- parsing -----------------------------------------------------------------


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parse a JSON or binary-extension request body; raise :class:`V2Error` (400).

    Nesting deep enough to exhaust the interpreter's stack (``[`` 100,000
    times, or just under the limit and then too deep for the checks below)
    is a client error like any other malformed body, not a 500.
    """
    try:
        return _parse_infer_request(body, header_length)
    except RecursionError:
        raise V2Error(400, "the inference request is nested too deeply") from None


def _parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    tail = b""
    if header_length is not None:
        if not header_length.strip().isdigit():
            raise V2Error(
                400, f"{HEADER_LENGTH} must be a non-negative integer, got {header_length!r}"
            )
        n = int(header_length)
        if n > len(body):
            raise V2Error(400, f"{HEADER_LENGTH} is {n} but the body has only {len(body)} bytes")
        body, tail = body[:n], body[n:]
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise V2Error(400, f"the inference request is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise V2Error(400, f"the inference request must be a JSON object, got {_kind(payload)}")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise V2Error(400, f"'id' must be a string, got {_kind(request_id)}")
    parameters = _parameters(payload.get("parameters"), "the request's 'parameters'")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise V2Error(400, f"parameter binary_data_output must be a boolean, got {binary_output!r}")
    raw_inputs = payload.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise V2Error(400, "'inputs' must be a non-empty list of input tensors")
    inputs: list[Tensor] = []
    offset = 0
    for i, raw in enumerate(raw_inputs):
        tensor, offset = _parse_input(raw, i, tail, offset, binary=header_length is not None)
        if any(t.name == tensor.name for t in inputs):
            raise V2Error(400, f"input {tensor.name!r} is given twice")
        inputs.append(tensor)
    if offset != len(tail):
        raise V2Error(
            400,
            f"the body has {len(tail)} bytes of binary data after the JSON header, but the "
            f"inputs' binary_data_size add up to {offset}",
        )
    return InferRequest(
        id=request_id,
        parameters=parameters,
        inputs=tuple(inputs),
        outputs=_parse_outputs(payload.get("outputs")),
        binary_output=binary_output,
    )


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _parameters(raw: object, where: str) -> dict[str, object]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise V2Error(400, f"{where} must be a JSON object, got {_kind(raw)}")
    return raw


def _parse_input(
    raw: object, index: int, tail: bytes, offset: int, *, binary: bool
) -> tuple[Tensor, int]:
    """One ``$request_input``, and the offset in the binary data after it."""
    if not isinstance(raw, dict):
        raise V2Error(400, f"inputs[{index}] must be a JSON object, got {_kind(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise V2Error(400, f"inputs[{index}] needs a 'name' string")
    where = f"input {name!r}"
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise V2Error(
            400, f"{where} has datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        )
    shape = _shape(raw.get("shape"), where)
    count = math.prod(shape)
    params = _parameters(raw.get("parameters"), f"{where}'s 'parameters'")
    size = params.get("binary_data_size")
    if size is not None:
        if not binary:
            raise V2Error(
                400, f"{where} has binary_data_size but the request has no {HEADER_LENGTH} header"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise V2Error(400, f"{where}: binary_data_size must be an integer >= 0, got {size!r}")
        if offset + size > len(tail):
            raise V2Error(
                400,
                f"{where} declares {size} bytes of binary data but only "
                f"{len(tail) - offset} are left after the JSON header",
            )
        chunk = tail[offset : offset + size]
        data = _binary_data(chunk, datatype, shape, count, where)
        return Tensor(name, datatype, shape, data), offset + size
    if "data" not in raw:
        raise V2Error(400, f"{where} has neither 'data' nor a binary_data_size parameter")
    return Tensor(name, datatype, shape, _json_data(raw["data"], datatype, shape, where)), offset


def _shape(raw: object, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or len(raw) > _MAX_DIMS:
        raise V2Error(400, f"{where}: 'shape' must be a list of at most {_MAX_DIMS} integers")
    for dim in raw:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise V2Error(400, f"{where}: shape {raw} must hold integers >= 0")
    return tuple(raw)


def _binary_data(
    chunk: bytes, datatype: str, shape: tuple[int, ...], count: int, where: str
) -> npt.NDArray[Any]:
    if datatype == "BYTES":
        elements = _split_bytes(chunk, count, where)
        data = np.empty(count, dtype=object)
        data[:] = elements
        return data.reshape(shape)
    dtype = DATATYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise V2Error(
            400,
            f"{where} has {len(chunk)} bytes of binary data; shape {list(shape)} of "
            f"{datatype} needs {count * dtype.itemsize}",
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape)


def _split_bytes(chunk: bytes, count: int, where: str) -> list[bytes]:
    """BYTES elements: 4-byte little-endian length, then the bytes (see module docstring)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(chunk) and len(out) < count:
        if pos + 4 > len(chunk):
            break
        (length,) = struct.unpack_from("<I", chunk, pos)
        if pos + 4 + length > len(chunk):
            break
        out.append(chunk[pos + 4 : pos + 4 + length])
        pos += 4 + length
    if len(out) == count and pos == len(chunk):
        return out
    if count == 1:
        return [chunk]
    raise V2Error(
        400,
        f"{where}: the binary data is not {count} BYTES elements, each a 4-byte "
        "little-endian length followed by that many bytes",
    )


def _flatten(data: object, out: list[object] | None = None) -> list[object]:
    """The leaves of nested lists, in row-major order."""
    out = [] if out is None else out
    if isinstance(data, list):
        for item in data:
            _flatten(item, out)
    else:
        out.append(data)
    return out


def _json_data(raw: object, datatype: str, shape: tuple[int, ...], where: str) -> npt.NDArray[Any]:
    count = math.prod(shape)
    if datatype == "BYTES":
        elements = _flatten(raw)
        if len(elements) != count:
            raise V2Error(
                400, f"{where} has {len(elements)} elements; shape {list(shape)} needs {count}"
            )
        data = np.empty(count, dtype=object)
        for i, element in enumerate(elements):
            if not isinstance(element, str):
                raise V2Error(
                    400, f"{where}: BYTES element {i} must be a base64 string, got {_kind(element)}"
                )
            try:
                data[i] = base64.b64decode(element, validate=True)
            except (binascii.Error, ValueError):
                raise V2Error(
                    400,
                    f"{where}: BYTES element {i} is not valid base64 (BYTES data in JSON is "
                    "base64-encoded)",
                ) from None
        return data.reshape(shape)
    try:
        arr = np.asarray(raw if isinstance(raw, list) else [raw])
    except ValueError as exc:
        raise V2Error(400, f"{where}: 'data' is not a regular array of numbers: {exc}") from None
    if arr.size != count:
        raise V2Error(400, f"{where} has {arr.size} elements; shape {list(shape)} needs {count}")
    dtype = DATATYPES[datatype]
    allowed = {"b": "b", "u": "biu", "i": "biu", "f": "biuf"}[dtype.kind]
    if count and arr.dtype.kind not in allowed:
        raise V2Error(400, f"{where}: 'data' holds {arr.dtype.kind!r}-kind values, not {datatype}")
    if dtype.kind in "iu" and count:
        info = np.iinfo(dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise V2Error(400, f"{where}: a value is outside the {datatype} range")
    return arr.astype(dtype).reshape(shape)


def _parse_outputs(raw: object) -> tuple[RequestedOutput, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise V2Error(400, f"'outputs' must be a list, got {_kind(raw)}")
    out: list[RequestedOutput] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise V2Error(400, f"outputs[{i}] must be an object with a 'name' string")
        params = _parameters(item.get("parameters"), f"outputs[{i}]'s 'parameters'")
        binary = params.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise V2Error(400, f"outputs[{i}]: binary_data must be a boolean, got {binary!r}")
        out.append(RequestedOutput(item["name"], binary))
    return tuple(out)


# -- responses -----------------------------------------------------------------


def _binary_bytes(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        return b"".join(
            struct.pack("<I", len(v)) + bytes(v) for v in tensor.data.reshape(-1).tolist()
        )
    return np.ascontiguousarray(tensor.data, dtype=DATATYPES[tensor.datatype]).tobytes()


def _json_values(tensor: Tensor) -> list[Any]:
    flat = tensor.data.reshape(-1)
    if tensor.datatype == "BYTES":
        return [bytes(v).decode("utf-8", "replace") for v in flat.tolist()]
    values: list[Any] = flat.tolist()
    return values


def encode_infer_response(
    *,
    model_name: str,
    request_id: str,
    outputs: Sequence[Tensor],
    requested: Sequence[RequestedOutput] | None,
    binary_output: bool,
) -> tuple[bytes, dict[str, str]]:
    """The response body and its content headers (JSON, or JSON + binary data)."""
    by_name = {t.name: t for t in outputs}
    wanted = requested if requested is not None else [RequestedOutput(t.name) for t in outputs]
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for req in wanted:
        tensor = by_name[req.name]
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if req.binary if req.binary is not None else binary_output:
            blob = _binary_bytes(tensor)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_values(tensor)
        entries.append(entry)
    body = {
        "model_name": model_name,
        "model_version": MODEL_VERSION,
        "id": request_id,
        "outputs": entries,
    }
    header = json.dumps(body, separators=(",", ":")).encode()
    if not blobs:
        return header, {"Content-Type": "application/json"}
    return header + b"".join(blobs), {
        "Content-Type": "application/octet-stream",
        HEADER_LENGTH: str(len(header)),
    }


def server_metadata() -> dict[str, Any]:
    """The ``GET /v2`` body."""
    return {"name": "locust-ml", "version": __version__, "extensions": ["binary_tensor_data"]}


def model_metadata(
    name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> dict[str, Any]:
    """The ``GET /v2/models/{name}`` body."""

    def spec(t: TensorSpec) -> dict[str, Any]:
        return {"name": t.name, "datatype": t.datatype, "shape": list(t.shape)}

    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": "locust-ml_numpy",
        "inputs": [spec(t) for t in inputs],
        "outputs": [spec(t) for t in outputs],
    }


_MODEL_PATH = re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?(/ready|/infer)?$")
_FIXED_PATHS = frozenset({"/v2", "/v2/health/live", "/v2/health/ready"})


def endpoint_label(path: str) -> str | None:
    """The metrics label of a v2 path: its route template, or None if not a v2 route."""
    if path in _FIXED_PATHS:
        return path
    match = _MODEL_PATH.match(path)
    if match is None:
        return None
    label = "/v2/models/{model}"
    if match.group(1):
        label += "/versions/{version}"
    return label + (match.group(2) or "")


# -- routes --------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than ``limit`` bytes without buffering it."""
    too_big = f"request body exceeds {limit} bytes (--max-body-bytes)"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise V2Error(400, f"invalid Content-Length header: {declared!r}")
        if int(declared) > limit:
            raise V2Error(413, f"{too_big}: Content-Length is {int(declared)}")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise V2Error(413, too_big)
    return bytes(body)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000.0:.3f}"


def add_v2_routes(app: FastAPI, state: ServerState, batcher: OneShotBatcher[Any]) -> None:
    """Mount the v2 routes for ``batcher``'s model on ``app``."""
    config = state.config
    model = batcher.model

    def check_model(name: str, version: str | None) -> None:
        if name != config.model_name:
            raise V2Error(404, f"unknown model {name!r}; this server serves {config.model_name!r}")
        if version is not None and version != MODEL_VERSION:
            raise V2Error(
                404,
                f"model {name!r} has no version {version!r}; its only version is {MODEL_VERSION!r}",
            )

    def not_ready() -> Response:
        return Response(status_code=503, headers={"Retry-After": str(state.loading_retry_after())})

    async def live() -> Response:
        return Response(status_code=200)

    async def ready() -> Response:
        return Response(status_code=200) if state.ready else not_ready()

    async def metadata() -> Response:
        return _json_response(server_metadata())

    async def model_meta(model_name: str, version: str | None = None) -> Response:
        check_model(model_name, version)
        return _json_response(model_metadata(config.model_name, model.inputs, model.outputs))

    async def model_ready(model_name: str, version: str | None = None) -> Response:
        check_model(model_name, version)
        return await ready()

    async def infer(request: Request, model_name: str, version: str | None = None) -> Response:
        check_model(model_name, version)
        if not state.ready:
            raise V2Error(
                503,
                "the model is still loading; retry later",
                {"Retry-After": str(state.loading_retry_after())},
            )
        body = await _read_body(request, config.max_body_bytes)
        parsed = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        return await _infer(state, batcher, parsed)

    app.add_api_route("/v2", metadata, methods=["GET"])
    app.add_api_route("/v2/health/live", live, methods=["GET"])
    app.add_api_route("/v2/health/ready", ready, methods=["GET"])
    for prefix in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{version}"):
        app.add_api_route(prefix, model_meta, methods=["GET"])
        app.add_api_route(prefix + "/ready", model_ready, methods=["GET"])
        app.add_api_route(prefix + "/infer", infer, methods=["POST"])


def _json_response(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


async def _infer(state: ServerState, batcher: OneShotBatcher[Any], req: InferRequest) -> Response:
    config = state.config
    known = {t.name for t in batcher.model.outputs}
    for out in req.outputs or ():
        if out.name not in known:
            raise V2Error(
                400,
                f"unknown output {out.name!r}; this model's outputs are {', '.join(sorted(known))}",
            )
    try:
        item = batcher.model.prepare({t.name: t for t in req.inputs}, req.parameters)
    except InputError as exc:
        raise V2Error(exc.status, exc.message) from None
    try:
        job = batcher.submit(item)
    except QueueFull as exc:
        raise V2Error(
            503,
            f"server overloaded: {exc.depth} requests already waiting; retry later",
            {"Retry-After": str(exc.retry_after_s)},
        ) from None
    try:
        async with asyncio.timeout(
            max(0.0, job.arrival + config.request_timeout_s - state.clock())
        ):
            outcome = await job.outcome()
    except TimeoutError:
        job.cancel()
        raise V2Error(
            504, f"request timed out after {config.request_timeout_s:g} s (--request-timeout-s)"
        ) from None
    except BaseException:
        job.cancel()
        raise
    if not isinstance(outcome, Done):
        raise V2Error(outcome.status, outcome.message)
    body, headers = encode_infer_response(
        model_name=config.model_name,
        request_id=req.id if req.id is not None else uuid.uuid4().hex,
        outputs=outcome.outputs,
        requested=req.outputs,
        binary_output=req.binary_output,
    )
    headers["X-Queue-Time-Ms"] = _ms(outcome.queue_s)
    headers["X-Inference-Time-Ms"] = _ms(outcome.inference_s)
    headers["X-Batch-Size"] = str(outcome.batch_size)
    return Response(body, headers=headers)
