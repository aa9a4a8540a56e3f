"""Open Inference Protocol v2 (KServe, Triton, MLServer, OpenVINO Model Server) over HTTP.

Vision and speech models are served as tensors, not chat: ``POST
/v2/models/{name}[/versions/{v}]/infer`` with a JSON document of named input
tensors. JSON tensors are slow and bulky for images (a float is ~10 text
bytes), so Triton and KServe accept the *binary tensor data extension*, which
load tests of those servers must use to measure the server rather than the
client's JSON encoder. Both are built and parsed here.

**JSON tensors.** ``{"id"?, "parameters"?, "inputs": [{"name", "shape",
"datatype", "data", "parameters"?}], "outputs"?: [{"name", "parameters"?}]}``;
``data`` is row-major, flat (as sent here) or nested (accepted when parsing);
BYTES elements are JSON strings. Responses: ``{"model_name",
"model_version"?, "id"?, "outputs": [{"name", "shape", "datatype", "data"}]}``;
errors: ``{"error": "message"}`` with a 4xx/5xx status.

**Binary tensor data extension.** The body is the JSON header followed by the
raw tensors; the ``Inference-Header-Content-Length`` HTTP header gives the
JSON header's length in bytes (the rest of the body is tensor data). A tensor
sent as binary has no ``data`` but ``"parameters": {"binary_data_size": N}``,
and the binary sections follow the header in the order of those tensors.
Tensors are little-endian, row-major, without padding; BOOL is one byte (0 or
1); a BYTES element is a 4-byte little-endian unsigned length followed by its
bytes. Binary outputs are requested per output with ``"parameters":
{"binary_data": true}`` or for all with the request-level parameter
``"binary_data_output": true``; the response then carries its own
``Inference-Header-Content-Length``. Binary bodies go out with
``Content-Type: application/octet-stream``, as Triton's examples do.

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
import math
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import HttpRequest, InferenceResult, header, http_failure, preview

__all__ = [
    "DATATYPES",
    "INFERENCE_HEADER",
    "Tensor",
    "TensorFormatError",
    "V2Model",
    "decode_body",
    "deserialize_bytes",
    "encode_body",
    "parse_ready",
    "serialize_bytes",
    "server_live_request",
    "server_ready_request",
]

#: The HTTP header holding the JSON header's length in a binary body.
INFERENCE_HEADER: Final = "Inference-Header-Content-Length"

#: v2 datatype names and their little-endian numpy dtypes (BYTES: object arrays of bytes).
DATATYPES: Final[Mapping[str, np.dtype[Any]]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype("O"),
}

_LENGTH: Final = struct.Struct("<I")


class TensorFormatError(ValueError):
    """A v2 body or tensor that does not follow the protocol."""


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named tensor: ``data`` is a numpy array (BYTES: an object array of ``bytes``).

    >>> Tensor.of("x", np.zeros((2, 3), np.float32)).datatype
    'FP32'
    >>> t = Tensor.of("image", [b"\\xff\\xd8...", b"\\xff\\xd8..."])
    >>> t.datatype, t.shape
    ('BYTES', (2,))
    """

    name: str
    datatype: str
    data: np.ndarray[Any, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.data.shape)

    @classmethod
    def of(cls, name: str, value: object, datatype: str | None = None) -> Tensor:
        """A tensor from a numpy array, ``bytes`` (one BYTES element) or a list of ``bytes``."""
        if isinstance(value, bytes | bytearray | memoryview):
            value = [bytes(value)]
        if (
            isinstance(value, list | tuple)
            and value
            and all(isinstance(v, bytes | bytearray) for v in value)
        ):
            array = np.empty(len(value), dtype=object)
            array[:] = [bytes(v) for v in value]
            value = array
        array = np.asarray(value)
        if datatype is None:
            datatype = datatype_of(array)
        if datatype not in DATATYPES:
            raise ConfigError(
                f"tensor {name!r}: unknown datatype {datatype!r}; "
                f"expected one of {sorted(DATATYPES)}"
            )
        if datatype == "BYTES":
            array = _bytes_array(name, array)
        else:
            array = array.astype(DATATYPES[datatype], copy=False)
        return cls(name, datatype, array)


def datatype_of(array: npt.NDArray[Any]) -> str:
    """The v2 datatype of a numpy array (``object``/``bytes`` arrays are BYTES)."""
    kind = array.dtype.kind
    if kind in "OSU":
        return "BYTES"
    for name, dtype in DATATYPES.items():
        if name != "BYTES" and dtype.kind == kind and dtype.itemsize == array.dtype.itemsize:
            return name
    raise ConfigError(f"numpy dtype {array.dtype} has no v2 datatype")


def _bytes_array(name: str, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.empty(array.shape, dtype=object)
    flat = out.reshape(-1)
    for i, item in enumerate(array.reshape(-1)):
        if isinstance(item, str):
            flat[i] = item.encode()
        elif isinstance(item, bytes | bytearray | np.bytes_):
            flat[i] = bytes(item)
        else:
            raise ConfigError(
                f"tensor {name!r}: BYTES element {i} is a {type(item).__name__}, expected bytes"
            )
    return out


def serialize_bytes(items: Iterable[bytes]) -> bytes:
    """BYTES elements in binary form: each a 4-byte little-endian length, then its bytes.

    >>> serialize_bytes([b"ab", b""])
    b'\\x02\\x00\\x00\\x00ab\\x00\\x00\\x00\\x00'
    """
    parts: list[bytes] = []
    for item in items:
        parts.append(_LENGTH.pack(len(item)))
        parts.append(item)
    return b"".join(parts)


def deserialize_bytes(buf: bytes | memoryview, count: int | None = None) -> list[bytes]:
    """The inverse of :func:`serialize_bytes`; ``count`` elements must fill ``buf`` exactly."""
    view = memoryview(buf)
    items: list[bytes] = []
    pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise TensorFormatError(f"BYTES element {len(items)}: length prefix cut at byte {pos}")
        (size,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise TensorFormatError(
                f"BYTES element {len(items)} declares {size} bytes; only {len(view) - pos} remain"
            )
        items.append(bytes(view[pos : pos + size]))
        pos += size
    if count is not None and len(items) != count:
        raise TensorFormatError(f"BYTES data holds {len(items)} elements, the shape says {count}")
    return items


def _tensor_binary(t: Tensor) -> bytes:
    if t.datatype == "BYTES":
        return serialize_bytes(t.data.reshape(-1))
    return np.ascontiguousarray(t.data, dtype=DATATYPES[t.datatype]).tobytes()


def _tensor_json(t: Tensor) -> list[Any]:
    if t.datatype != "BYTES":
        data: list[Any] = t.data.reshape(-1).tolist()
        return data
    out: list[Any] = []
    for i, item in enumerate(t.data.reshape(-1)):
        try:
            out.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(
                f"tensor {t.name!r}: BYTES element {i} is not UTF-8 text, which JSON "
                "can't carry; send it with binary=True"
            ) from None
    return out


def encode_body(
    doc: Mapping[str, Any], key: str, tensors: Sequence[Tensor], *, binary: bool
) -> tuple[bytes, int | None]:
    """``doc`` with ``tensors`` under ``key`` ("inputs" or "outputs"): ``(body, json_length)``.

    With ``binary``, each tensor's data follows the JSON header and
    ``json_length`` is the header's size (for ``Inference-Header-Content-Length``);
    without, ``json_length`` is None and the body is plain JSON.
    """
    entries: list[dict[str, Any]] = []
    sections: list[bytes] = []
    for t in tensors:
        entry: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "datatype": t.datatype}
        params = dict(t.parameters)
        if binary:
            section = _tensor_binary(t)
            sections.append(section)
            params["binary_data_size"] = len(section)
        else:
            entry["data"] = _tensor_json(t)
        if params:
            entry["parameters"] = params
        entries.append(entry)
    header_doc = {**doc, key: entries}
    head = json.dumps(header_doc, separators=(",", ":")).encode()
    if not binary:
        return head, None
    return head + b"".join(sections), len(head)


def _flatten(data: object) -> Iterator[object]:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _shape(entry: Mapping[str, Any], name: str) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TensorFormatError(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    return tuple(shape)


def _from_json(
    name: str, datatype: str, shape: tuple[int, ...], data: object
) -> np.ndarray[Any, Any]:
    count = math.prod(shape)
    flat = list(_flatten(data))
    if len(flat) != count:
        raise TensorFormatError(
            f"tensor {name!r}: data holds {len(flat)} elements, shape {list(shape)} needs {count}"
        )
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        for i, item in enumerate(flat):
            if not isinstance(item, str):
                raise TensorFormatError(f"tensor {name!r}: BYTES element {i} is not a string")
            out[i] = item.encode()
        return out.reshape(shape)
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in flat):
            raise TensorFormatError(f"tensor {name!r}: BOOL data must be true/false")
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in flat):
        raise TensorFormatError(f"tensor {name!r}: {datatype} data must be numbers")
    try:
        return np.array(flat, dtype=dtype).reshape(shape)
    except (ValueError, OverflowError) as exc:
        raise TensorFormatError(f"tensor {name!r}: {exc}") from None


def _from_binary(
    name: str, datatype: str, shape: tuple[int, ...], buf: memoryview
) -> np.ndarray[Any, Any]:
    count = math.prod(shape)
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        out[:] = deserialize_bytes(buf, count) if count else []
        return out.reshape(shape)
    dtype = DATATYPES[datatype]
    if len(buf) != count * dtype.itemsize:
        raise TensorFormatError(
            f"tensor {name!r}: {len(buf)} binary bytes, but {count} {datatype} elements "
            f"need {count * dtype.itemsize}"
        )
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def _decode_entry(
    entry: object, where: str, tail: memoryview, pos: int
) -> tuple[str, np.ndarray[Any, Any], int]:
    """One tensor object: ``(name, array, binary bytes it used from tail[pos:])``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise TensorFormatError(f"{where} is not a tensor object with a name")
    name: str = entry["name"]
    datatype = entry.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise TensorFormatError(f"tensor {name!r}: unknown datatype {datatype!r}")
    shape = _shape(entry, name)
    params = entry.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is None:
        if "data" not in entry:
            raise TensorFormatError(f"tensor {name!r} has neither data nor binary_data_size")
        return name, _from_json(name, datatype, shape, entry["data"]), 0
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise TensorFormatError(f"tensor {name!r}: binary_data_size {size!r} is not a size")
    if pos + size > len(tail):
        raise TensorFormatError(
            f"tensor {name!r}: binary_data_size {size} runs past the body "
            f"({len(tail) - pos} bytes left)"
        )
    return name, _from_binary(name, datatype, shape, tail[pos : pos + size]), size


def decode_body(
    body: bytes, json_length: int | None, key: str
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """The inverse of :func:`encode_body`: ``(json header, {name: array})``.

    Raises :class:`TensorFormatError` for anything that does not add up: a
    header length past the body, a header that isn't a JSON object, unknown
    datatypes, element counts that don't match shapes, binary sections whose
    sizes don't add up to the bytes after the header.
    """
    if json_length is None:
        json_length = len(body)
    if not 0 <= json_length <= len(body):
        raise TensorFormatError(
            f"{INFERENCE_HEADER} is {json_length}, but the body has {len(body)} bytes"
        )
    try:
        doc = json.loads(body[:json_length])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TensorFormatError(
            f"JSON header is not JSON ({exc}): {preview(body[:json_length])}"
        ) from None
    if not isinstance(doc, dict):
        raise TensorFormatError(f"JSON header is a {type(doc).__name__}, expected an object")
    entries = doc.get(key)
    if not isinstance(entries, list):
        raise TensorFormatError(f"{key!r} is {preview(json.dumps(entries))}, expected a list")
    tail = memoryview(body)[json_length:]
    pos = 0
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for i, entry in enumerate(entries):
        name, array, size = _decode_entry(entry, f"{key}[{i}]", tail, pos)
        tensors[name] = array
        pos += size
    if pos != len(tail):
        raise TensorFormatError(
            f"{len(tail) - pos} bytes after the JSON header belong to no tensor "
            f"(declared {pos} of {len(tail)})"
        )
    return doc, tensors


@dataclass(frozen=True)
class V2Model:
    """One model served over the v2 protocol.

    ``binary`` sends inputs with the binary extension (the default: it is what
    fast clients do); ``binary_outputs`` asks for binary outputs; ``outputs``
    names the outputs to return (all, if empty). ``headers`` are added to
    every request (e.g. an ``Authorization`` header).

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
        return InferenceResult(
            ok=True,
            status=status,
            latency_ms=latency_ms,
            outputs=tensors,
            bytes_received=len(body),
        )

    def _outputs(self, headers: Mapping[str, str], body: bytes) -> dict[str, np.ndarray[Any, Any]]:
        raw_length = header(headers, INFERENCE_HEADER)
        json_length: int | None = None
        if raw_length is not None:
            try:
                json_length = int(raw_length)
            except ValueError:
                raise TensorFormatError(
                    f"{INFERENCE_HEADER} is {raw_length!r}, not a number"
                ) from None
        _, tensors = decode_body(body, json_length, "outputs")
        if not tensors:
            raise TensorFormatError("the response has no outputs")
        missing = [name for name in self.outputs if name not in tensors]
        if missing:
            raise TensorFormatError(f"requested outputs missing from the response: {missing}")
        return tensors

    def ready_request(self) -> HttpRequest:
        """``GET /v2/models/{name}[/versions/{v}]/ready`` (200 when the model is ready)."""
        return HttpRequest("GET", f"{self.model_path}/ready", dict(self.headers))


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
