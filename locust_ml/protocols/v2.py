"""Open Inference Protocol v2 (KServe, Triton, MLServer, OpenVINO Model Server) over HTTP.

Vision and speech models are served as tensors, not chat: ``POST
/v2/models/{name}[/versions/{v}]/infer`` with a JSON document of named input
tensors. JSON tensors are slow and bulky for images (a float is ~10 text
bytes), so Triton and KServe accept the *binary tensor data extension*, which
load tests of those servers must use to measure the server rather than the
client's JSON encoder. Both are built and parsed here.

The bodies (JSON tensors, and the binary extension: the JSON header, then the
raw tensors, its length in the ``Inference-Header-Content-Length`` HTTP
header) are encoded and checked in :mod:`locust_ml.protocols.v2_tensors`
(import the tensor names from there); this module builds the requests and
judges the answers. Binary outputs are requested per output
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

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import (
    BodyParts,
    HttpRequest,
    InferenceResult,
    check_model,
    header,
    http_failure,
    model_path,
)
from locust_ml.protocols.v2_tensors import (
    DATATYPES,
    INFERENCE_HEADER,
    LENGTH_PREFIX,
    LazyTensors,
    Tensor,
    TensorFormatError,
    check_body,
    encode_body,
)

__all__ = [
    "FileRequests",
    "TensorRequests",
    "V2Model",
    "parse_ready",
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
        check_model(self.model)  # an empty name fails here, not at the first request

    @property
    def model_path(self) -> str:
        """``/v2/models/{name}[/versions/{version}]``, URL-quoted."""
        return model_path("/v2/models", self.model, self.version)

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

    def tensor_requests(
        self,
        input_name: str,
        datatype: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        path: str | None = None,
    ) -> TensorRequests:
        """A builder of requests that each send one serialized numeric tensor; see
        :class:`TensorRequests`."""
        return TensorRequests(self, input_name, datatype, parameters or {}, path)

    def metadata_request(self) -> HttpRequest:
        """``GET /v2/models/{name}[/versions/{v}]``: the model's inputs and outputs."""
        return HttpRequest("GET", self.model_path, dict(self.headers))


class FileRequests:
    """Requests carrying one encoded file (a JPEG, a WAV) as a ``BYTES`` tensor ``[1]``.

    With a binary model (``V2Model(binary=True)``, the default) the file goes
    with the binary tensor data extension, and the bytes are exactly those of
    ``model.request({input_name: file}, parameters=...)`` (a test compares
    them), built for the request path of a load test: :meth:`V2Model.request`
    turns the file into a numpy object array and copies it three times, ~80 us
    at ImageNet sizes. Here the JSON header is a template with the size filled
    in, and the body is a :class:`~locust_ml.protocols.base.BodyParts`: the
    header, the element's length prefix, then the file's own buffers, never
    joined, so a sender that writes several buffers at once sends a 100 kB
    image without copying it. ``bytes(request.body)`` joins it where a single
    buffer is needed.

    >>> build = V2Model("resnet").file_requests("image")
    >>> req = build([b"<jpeg head>", b"<jpeg tail>"])
    >>> req.headers[INFERENCE_HEADER], len(req.body), bytes(req.body)[-26:]
    ('138', 164, b'\\x16\\x00\\x00\\x00<jpeg head><jpeg tail>')

    With ``binary=False`` the file goes in a JSON tensor, base64-encoded, with
    ``"parameters": {"content_type": "base64"}`` on the input: servers without
    the binary extension (MLServer, KServe's Python server) take that, and
    MLServer's codec decodes it for the model. The base64 text is made per
    request (a pick's bytes are unique), about 60 us per 100 kB:

    >>> build = V2Model("resnet", binary=False, binary_outputs=False).file_requests("image")
    >>> bytes(build([b"GIF89a"]).body)
    b'{"inputs":[{"name":"image","shape":[1],"datatype":"BYTES","parameters":{"content_type":"base64"},"data":["R0lGODlh"]}]}'
    """

    def __init__(
        self, model: V2Model, input_name: str, parameters: Mapping[str, Any], path: str | None
    ) -> None:
        doc = model.request_doc(parameters)
        entry: dict[str, Any] = {"name": input_name, "shape": [1], "datatype": "BYTES"}
        self.path = path or model.infer_path
        # A pool sends a few hundred distinct file sizes: their heads are made once.
        self._by_size: dict[int, tuple[tuple[bytes, bytes], Mapping[str, str]]] = {}
        self._binary = model.binary
        if not model.binary:
            entry["parameters"] = {"content_type": "base64"}
            entry["data"] = [""]
            head = json.dumps({**doc, "inputs": [entry]}, separators=(",", ":")).encode()
            cut = head.rindex(b'"data":[""]') + len(b'"data":["')
            self._prefix, self._suffix = head[:cut], head[cut:]
            self._headers: Mapping[str, str] = MappingProxyType(
                {**model.headers, "Content-Type": "application/json"}
            )
            return
        entry["parameters"] = {"binary_data_size": 0}
        head = json.dumps({**doc, "inputs": [entry]}, separators=(",", ":")).encode()
        cut = head.rindex(b'"binary_data_size":0}') + len(b'"binary_data_size":')
        self._prefix, self._suffix = head[:cut], head[cut + 1 :]
        self._headers = {**model.headers, "Content-Type": "application/octet-stream"}

    def __call__(self, parts: Sequence[bytes | memoryview]) -> HttpRequest:
        """The request for the file made of ``parts`` (a pool pick's ``parts``, or ``[data]``)."""
        if not self._binary:
            text = base64.b64encode(b"".join(parts))
            body = BodyParts._made(
                (self._prefix, text, self._suffix),
                len(self._prefix) + len(text) + len(self._suffix),
            )
            return HttpRequest("POST", self.path, self._headers, body)
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


class TensorRequests:
    """Requests carrying one numeric tensor already serialized for the wire (pixels, samples).

    The tensor comes from a :class:`~locust_ml.payloads.tensor_pool.TensorPool`
    as ``parts``: its raw little-endian bytes for a binary model, the JSON
    text of its flat data (``[0.1,...]``) otherwise. The JSON header is made
    once per shape; nothing is copied or converted per request.

    >>> import numpy as np
    >>> build = V2Model("resnet").tensor_requests("x", "FP32")
    >>> req = build([np.zeros(3, np.float32).tobytes()], (1, 3))
    >>> same = V2Model("resnet").request({"x": np.zeros((1, 3), np.float32)})
    >>> bytes(req.body) == bytes(same.body)
    True
    >>> as_json = V2Model("resnet", binary=False, binary_outputs=False)
    >>> bytes(as_json.tensor_requests("x", "FP32")([b"[0,0.5,1]"], (1, 3)).body)
    b'{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0,0.5,1]}]}'
    """

    def __init__(
        self,
        model: V2Model,
        input_name: str,
        datatype: str,
        parameters: Mapping[str, Any],
        path: str | None,
    ) -> None:
        if datatype not in DATATYPES or datatype == "BYTES":
            raise ConfigError(f"tensor {input_name!r}: {datatype!r} is not a numeric datatype")
        self._doc = model.request_doc(parameters)
        self._name, self._datatype = input_name, datatype
        self._binary = model.binary
        content_type = "application/octet-stream" if model.binary else "application/json"
        self._headers = {**model.headers, "Content-Type": content_type}
        self.path = path or model.infer_path
        self._by_shape: dict[tuple[tuple[int, ...], int], tuple[bytes, bytes, Mapping[str, str]]]
        self._by_shape = {}

    def __call__(self, parts: Sequence[bytes], shape: tuple[int, ...]) -> HttpRequest:
        size = sum(map(len, parts))
        key = (shape, size if self._binary else 0)
        made = self._by_shape.get(key)
        if made is None:
            made = self._head(shape, size)
            if len(self._by_shape) < _MAX_HEADS:
                self._by_shape[key] = made
        head, tail, headers = made
        body = BodyParts._made((head, *parts, tail), len(head) + size + len(tail))
        return HttpRequest("POST", self.path, headers, body)

    def _head(self, shape: tuple[int, ...], size: int) -> tuple[bytes, bytes, Mapping[str, str]]:
        entry: dict[str, Any] = {
            "name": self._name,
            "shape": list(shape),
            "datatype": self._datatype,
        }
        if self._binary:
            entry["parameters"] = {"binary_data_size": size}
            head = json.dumps({**self._doc, "inputs": [entry]}, separators=(",", ":")).encode()
            headers = MappingProxyType({**self._headers, INFERENCE_HEADER: str(len(head))})
            return head, b"", headers
        entry["data"] = 0
        text = json.dumps({**self._doc, "inputs": [entry]}, separators=(",", ":")).encode()
        cut = text.rindex(b'"data":0') + len(b'"data":')
        return text[:cut], text[cut + 1 :], MappingProxyType(dict(self._headers))


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
