"""Open Inference Protocol v2 (KServe, Triton, MLServer, OpenVINO Model Server) over HTTP.

Vision and speech models are served as tensors, not chat: ``POST
/v2/models/{name}[/versions/{v}]/infer`` with a JSON document of named input
tensors. JSON tensors are slow and bulky for images (a float is ~10 text
bytes), so Triton and KServe accept the *binary tensor data extension*, which
load tests of those servers must use to measure the server rather than the
client's JSON encoder. Both are built and parsed here.

The bodies (JSON tensors, and the binary extension: the JSON header, then the
raw tensors, its length in the ``Inference-Header-Content-Length`` HTTP
header) are encoded and checked in :mod:`locust_ml.protocols.v2_tensors`,
whose names this module re-exports. Binary outputs are requested per output
with ``"parameters": {"binary_data": true}`` or for all with the
request-level parameter ``"binary_data_output": true``; the response then
carries its own ``Inference-Header-Content-Length``. Binary bodies go out
with ``Content-Type: application/octet-stream``, as Triton's examples do.

BYTES tensors are how encoded images and audio (JPEG, WAV) are sent to
servers that decode them in the model (Triton's Python/DALI backends, OVMS).
FP32/FP16/INT64/UINT8/... tensors come from numpy arrays. BF16 is not
supported (numpy has no such dtype).

Sources: KServe "Open Inference Protocol (V2 Inference Protocol)" and
"Binary Tensor Data Extension" pages (kserve.github.io/website, data-plane
v2-protocol); NVIDIA Triton user guide, "Binary Tensor Data Extension"
(docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/protocol/
extension_binary_data.html); Triton's Python HTTP client, which sets the
``Inference-Header-Content-Length`` header only when a binary section follows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import (
    BodyParts,
    HttpRequest,
    InferenceResult,
    header,
    http_failure,
)
from locust_ml.protocols.v2_tensors import (
    DATATYPES,
    INFERENCE_HEADER,
    LENGTH_PREFIX,
    LazyTensors,
    Tensor,
    TensorFormatError,
    check_body,
    datatype_of,
    decode_body,
    deserialize_bytes,
    encode_body,
    serialize_bytes,
)

__all__ = [
    "DATATYPES",
    "INFERENCE_HEADER",
    "FileRequests",
    "LazyTensors",
    "Tensor",
    "TensorFormatError",
    "V2Model",
    "datatype_of",
    "decode_body",
    "deserialize_bytes",
    "encode_body",
    "parse_ready",
    "serialize_bytes",
    "server_live_request",
    "server_ready_request",
]

#: File sizes whose request heads a FileRequests keeps.
_MAX_HEADS: Final = 4096


@dataclass(frozen=True)
class V2Model:
    """One model served over the v2 protocol.

    ``binary`` sends inputs with the binary extension (the default: it is what
    fast clients do); ``binary_outputs`` asks for binary outputs; ``outputs``
    names the outputs to return (all, if empty). ``headers`` are added to
    every request (e.g. an ``Authorization`` header).

    >>> import numpy as np
    >>> m = V2Model("resnet", version="2")
    >>> req = m.request({"input": np.zeros((1, 3, 4, 4), np.float32)})
    >>> req.path, req.headers[INFERENCE_HEADER], len(req.body) - int(req.headers[INFERENCE_HEADER])
    ('/v2/models/resnet/versions/2/infer', '144', 192)
    """

    model: str
    version: str | None = None
    binary: bool = True
    binary_outputs: bool = True
    outputs: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model must be a non-empty model name")

    @property
    def model_path(self) -> str:
        """``/v2/models/{name}[/versions/{version}]``, URL-quoted."""
        path = f"/v2/models/{quote(self.model, safe='')}"
        if self.version:
            path += f"/versions/{quote(self.version, safe='')}"
        return path

    @property
    def infer_path(self) -> str:
        return f"{self.model_path}/infer"

    def request(
        self,
        inputs: Mapping[str, object] | Sequence[Tensor],
        *,
        parameters: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> HttpRequest:
        """An inference request; ``inputs`` maps names to arrays/bytes, or is a list of Tensors."""
        tensors = (
            [Tensor.of(name, value) for name, value in inputs.items()]
            if isinstance(inputs, Mapping)
            else list(inputs)
        )
        if not tensors:
            raise ConfigError("a v2 inference request needs at least one input tensor")
        doc = self.request_doc(parameters, request_id=request_id)
        body, json_length = encode_body(doc, "inputs", tensors, binary=self.binary)
        headers = dict(self.headers)
        if json_length is None:
            headers["Content-Type"] = "application/json"
        else:
            headers["Content-Type"] = "application/octet-stream"
            headers[INFERENCE_HEADER] = str(json_length)
        return HttpRequest("POST", self.infer_path, headers, body)

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        """Decode an inference response: ``outputs`` is ``{name: numpy array}``."""
        if not 200 <= status < 300:
            return http_failure(status, body, latency_ms=latency_ms)

        try:
            tensors = self._outputs(headers, body)
        except TensorFormatError as exc:
            said = _error_object(body)
            return InferenceResult(
                ok=False,
                error_class="invalid" if said is None else "server_error",
                error=str(exc) if said is None else f"error object: {said}",
                status=status,
                latency_ms=latency_ms,
                bytes_received=len(body),
            )
        return InferenceResult.success(
            status=status, latency_ms=latency_ms, outputs=tensors, bytes_received=len(body)
        )

    def _outputs(self, headers: Mapping[str, str], body: bytes) -> LazyTensors:
        raw_length = header(headers, INFERENCE_HEADER)
        json_length: int | None = None
        if raw_length is not None:
            try:
                json_length = int(raw_length)
            except ValueError:
                raise TensorFormatError(
                    f"{INFERENCE_HEADER} is {raw_length!r}, not a number"
                ) from None
        _, makers = check_body(body, json_length, "outputs")
        if not makers:
            raise TensorFormatError("the response has no outputs")
        if self.outputs:
            missing = [name for name in self.outputs if name not in makers]
            if missing:
                raise TensorFormatError(f"requested outputs missing from the response: {missing}")
        return LazyTensors(makers)

    def request_doc(
        self, parameters: Mapping[str, Any] | None = None, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """The request's JSON header without its inputs: id, parameters, outputs asked for."""
        doc: dict[str, Any] = {}
        if request_id is not None:
            doc["id"] = request_id
        params = dict(parameters or {})
        if self.binary_outputs and not self.outputs:
            params["binary_data_output"] = True
        if params:
            doc["parameters"] = params
        if self.outputs:
            doc["outputs"] = [
                {"name": name, "parameters": {"binary_data": self.binary_outputs}}
                for name in self.outputs
            ]
        return doc

    def ready_request(self) -> HttpRequest:
        """``GET /v2/models/{name}[/versions/{v}]/ready`` (200 when the model is ready)."""
        return HttpRequest("GET", f"{self.model_path}/ready", dict(self.headers))

    def file_requests(
        self,
        input_name: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        path: str | None = None,
    ) -> FileRequests:
        """A builder of requests that each send one encoded file as input ``input_name``.

        See :class:`FileRequests`; ``path`` replaces :attr:`infer_path`.
        """
        return FileRequests(self, input_name, parameters or {}, path)


class FileRequests:
    """Requests carrying one encoded file (a JPEG, a WAV) as a binary ``BYTES`` tensor ``[1]``.

    The bytes are exactly those of ``model.request({input_name: file},
    parameters=...)`` (a test compares them), built for the request path of a
    load test: :meth:`V2Model.request` turns the file into a numpy object
    array and copies it three times, ~80 us at ImageNet sizes. Here the JSON
    header is a template with the size filled in, and the body is a
    :class:`~locust_ml.protocols.base.BodyParts`: the header, the element's
    length prefix, then the file's own buffers, never joined, so a sender
    that writes several buffers at once sends a 100 kB image without copying
    it. ``bytes(request.body)`` joins it where a single buffer is needed.

    >>> build = V2Model("resnet").file_requests("image")
    >>> req = build([b"<jpeg head>", b"<jpeg tail>"])
    >>> req.headers[INFERENCE_HEADER], len(req.body), bytes(req.body)[-26:]
    ('138', 164, b'\\x16\\x00\\x00\\x00<jpeg head><jpeg tail>')
    """

    def __init__(
        self, model: V2Model, input_name: str, parameters: Mapping[str, Any], path: str | None
    ) -> None:
        if not model.binary:
            raise ConfigError(
                f"model {model.model!r}: files go as binary BYTES tensors; JSON can't carry "
                "their bytes (binary=False)"
            )
        doc = model.request_doc(parameters)
        entry: dict[str, Any] = {"name": input_name, "shape": [1], "datatype": "BYTES"}
        entry["parameters"] = {"binary_data_size": 0}
        head = json.dumps({**doc, "inputs": [entry]}, separators=(",", ":")).encode()
        cut = head.rindex(b'"binary_data_size":0}') + len(b'"binary_data_size":')
        self._prefix, self._suffix = head[:cut], head[cut + 1 :]
        self._headers = {**model.headers, "Content-Type": "application/octet-stream"}
        self.path = path or model.infer_path
        # A pool sends a few hundred distinct file sizes: their heads are made once.
        self._by_size: dict[int, tuple[tuple[bytes, bytes], Mapping[str, str]]] = {}

    def __call__(self, parts: Sequence[bytes | memoryview]) -> HttpRequest:
        """The request for the file made of ``parts`` (a pool pick's ``parts``, or ``[data]``)."""
        size = 0
        for part in parts:
            size += part.nbytes if type(part) is memoryview else len(part)
        made = self._by_size.get(size)
        if made is None:
            made = self._head(size)
            if len(self._by_size) < _MAX_HEADS:
                self._by_size[size] = made
        (head, length), headers = made
        body = BodyParts._made((head, length, *parts), len(head) + LENGTH_PREFIX.size + size)
        return HttpRequest("POST", self.path, headers, body)

    def _head(self, size: int) -> tuple[tuple[bytes, bytes], Mapping[str, str]]:
        """The JSON header and BYTES length prefix before a file of ``size`` bytes, and the
        HTTP headers (read-only: every request of that size shares them)."""
        head = b"%s%d%s" % (self._prefix, size + LENGTH_PREFIX.size, self._suffix)
        headers = MappingProxyType({**self._headers, INFERENCE_HEADER: str(len(head))})
        return (head, LENGTH_PREFIX.pack(size)), headers


def _error_object(body: bytes) -> str | None:
    """The message of a ``{"error": ...}`` body (a 2xx that is really a failure)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and doc.get("error"):
        return str(doc["error"])
    return None


def server_ready_request() -> HttpRequest:
    """``GET /v2/health/ready``: 200 when the server is ready for inference."""
    return HttpRequest("GET", "/v2/health/ready")


def server_live_request() -> HttpRequest:
    """``GET /v2/health/live``: 200 when the server is alive."""
    return HttpRequest("GET", "/v2/health/live")


def parse_ready(status: int) -> bool:
    """The v2 health and readiness APIs answer 200 for yes and any 4xx for no."""
    return 200 <= status < 300
