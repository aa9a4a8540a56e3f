"""Open Inference Protocol v2 tensors: JSON and binary, encoded and checked both ways.

The tensor half of :mod:`locust_ml.protocols.v2` (which re-exports all of
it): how named tensors go into a v2 body and come out of one.

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
bytes.

**Checked now, built later.** A load test reads every answer to judge it,
and rarely looks at the arrays. :func:`decode_body` returns numpy arrays;
the check behind it (:func:`check_body`) does everything that can reject an
answer (JSON, names, datatypes, shapes, element counts and types, binary
sizes, numbers numpy would refuse) without numpy, and returns a maker per
tensor; :class:`LazyTensors` builds each array on first access. Numbers
outside a datatype's safe range are converted at once, so numpy's errors
come at the same point either way.
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.protocols.base import preview

__all__ = [
    "DATATYPES",
    "INFERENCE_HEADER",
    "LENGTH_PREFIX",
    "LazyTensors",
    "Tensor",
    "TensorFormatError",
    "check_body",
    "datatype_of",
    "decode_body",
    "deserialize_bytes",
    "encode_body",
    "serialize_bytes",
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

#: The 4-byte little-endian length before each BYTES element in binary form.
LENGTH_PREFIX: Final = struct.Struct("<I")


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
        parts.append(LENGTH_PREFIX.pack(len(item)))
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
        (size,) = LENGTH_PREFIX.unpack_from(view, pos)
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


def _flatten(data: object) -> list[object]:
    """Row-major elements of JSON ``data``: flat as sent here, nested, or a lone scalar."""
    if type(data) is not list:
        return [data]
    for item in data:
        if type(item) is list:
            break
    else:
        return data  # already flat: the common case, no copy
    out: list[object] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


#: Values that convert to each numeric datatype the same whenever they are
#: converted: in range, finite. Data outside them is converted at once, so
#: numpy's errors (and warnings) come where they always did, at parse time.
_SAFE: Final[Mapping[str, tuple[float, float]]] = {
    name: (
        (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))  # exact: 2**63 is out
        if dtype.kind in "iu"
        else (-float(np.finfo(dtype).max), float(np.finfo(dtype).max))
    )
    for name, dtype in DATATYPES.items()
    if dtype.kind in "iuf"
}

#: Builds a tensor's array; a parse returns these so that arrays nobody reads are never built.
_Maker = Callable[[], "np.ndarray[Any, Any]"]


def _json_maker(
    name: str, datatype: str, shape: tuple[int, ...], count: int, data: object
) -> _Maker:
    """Check JSON tensor data; a maker of its array."""
    flat = _flatten(data)
    if len(flat) != count:
        raise TensorFormatError(
            f"tensor {name!r}: data holds {len(flat)} elements, shape {list(shape)} needs {count}"
        )
    if datatype == "BYTES":
        items: list[bytes] = []
        for i, item in enumerate(flat):
            if type(item) is not str:
                raise TensorFormatError(f"tensor {name!r}: BYTES element {i} is not a string")
            items.append(item.encode())
        return functools.partial(_object_array, items, shape)
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        for v in flat:
            if type(v) is not bool:
                raise TensorFormatError(f"tensor {name!r}: BOOL data must be true/false")
        return functools.partial(_numeric_array, flat, dtype, shape)
    low, high = _SAFE[datatype]
    safe = True
    for v in flat:
        if type(v) is not float and type(v) is not int:
            raise TensorFormatError(f"tensor {name!r}: {datatype} data must be numbers")
        if safe and not low <= v <= high:  # NaN fails too
            safe = False
    if safe:
        return functools.partial(_numeric_array, flat, dtype, shape)
    try:
        array = _numeric_array(flat, dtype, shape)
    except (ValueError, OverflowError) as exc:
        raise TensorFormatError(f"tensor {name!r}: {exc}") from None
    return functools.partial(_same, array)


def _binary_maker(
    name: str, datatype: str, shape: tuple[int, ...], count: int, buf: memoryview
) -> _Maker:
    """Check a binary tensor section; a maker of its array."""
    if datatype == "BYTES":
        return functools.partial(
            _object_array, deserialize_bytes(buf, count) if count else [], shape
        )
    dtype = DATATYPES[datatype]
    if len(buf) != count * dtype.itemsize:
        raise TensorFormatError(
            f"tensor {name!r}: {len(buf)} binary bytes, but {count} {datatype} elements "
            f"need {count * dtype.itemsize}"
        )
    return functools.partial(_buffer_array, buf, dtype, shape)


def _object_array(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)


def _numeric_array(
    flat: list[Any], dtype: np.dtype[Any], shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    return np.array(flat, dtype=dtype).reshape(shape)


def _buffer_array(
    buf: memoryview, dtype: np.dtype[Any], shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def _same(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return array


def _entry_maker(
    entry: object, key: str, index: int, tail: memoryview, pos: int
) -> tuple[str, _Maker, int]:
    """Check one tensor object: ``(name, maker of its array, bytes it used from tail[pos:])``.

    Runs for every output of every answer a load test reads, so the checks
    use exact types (JSON gives nothing else) and plain loops, and numpy is
    left to the maker.
    """
    if type(entry) is not dict or type(name := entry.get("name")) is not str:
        raise TensorFormatError(f"{key}[{index}] is not a tensor object with a name")
    datatype = entry.get("datatype")
    if type(datatype) is not str or datatype not in DATATYPES:
        raise TensorFormatError(f"tensor {name!r}: unknown datatype {datatype!r}")
    shape = entry.get("shape")
    count = 1
    if type(shape) is list:
        for d in shape:
            # JSON gives exact types: ``type(d) is int`` leaves out booleans too.
            if type(d) is not int or d < 0:
                break
            count *= d
        else:
            shape = tuple(shape)
    if type(shape) is not tuple:
        raise TensorFormatError(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    params = entry.get("parameters")
    size = params.get("binary_data_size") if type(params) is dict else None
    if size is None:
        if "data" not in entry:
            raise TensorFormatError(f"tensor {name!r} has neither data nor binary_data_size")
        return name, _json_maker(name, datatype, shape, count, entry["data"]), 0
    if type(size) is not int or size < 0:
        raise TensorFormatError(f"tensor {name!r}: binary_data_size {size!r} is not a size")
    if pos + size > len(tail):
        raise TensorFormatError(
            f"tensor {name!r}: binary_data_size {size} runs past the body "
            f"({len(tail) - pos} bytes left)"
        )
    return name, _binary_maker(name, datatype, shape, count, tail[pos : pos + size]), size


_DECODER: Final = json.JSONDecoder()


def _load_json(data: bytes) -> Any:
    """``json.loads(data)``, without its detours for the usual answer: UTF-8, nothing around.

    Anything else (another encoding, a BOM, whitespace, not JSON) goes to
    ``json.loads`` itself, so results and errors are exactly its own.
    """
    try:
        text = data.decode()
        doc, end = _DECODER.raw_decode(text)
    except ValueError:  # UnicodeDecodeError too
        return json.loads(data)
    if end != len(text):
        return json.loads(data)
    return doc


def check_body(
    body: bytes, json_length: int | None, key: str
) -> tuple[dict[str, Any], dict[str, _Maker]]:
    """Everything :func:`decode_body` checks: ``(json header, {name: maker of its array})``.

    Raises :class:`TensorFormatError` as :func:`decode_body` does; a maker
    called later cannot fail.
    """
    if json_length is None:
        json_length = len(body)
    if not 0 <= json_length <= len(body):
        raise TensorFormatError(
            f"{INFERENCE_HEADER} is {json_length}, but the body has {len(body)} bytes"
        )
    try:
        doc = _load_json(body[:json_length])
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
    makers: dict[str, _Maker] = {}
    for i, entry in enumerate(entries):
        name, maker, size = _entry_maker(entry, key, i, tail, pos)
        makers[name] = maker
        pos += size
    if pos != len(tail):
        raise TensorFormatError(
            f"{len(tail) - pos} bytes after the JSON header belong to no tensor "
            f"(declared {pos} of {len(tail)})"
        )
    return doc, makers


def decode_body(
    body: bytes, json_length: int | None, key: str
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """The inverse of :func:`encode_body`: ``(json header, {name: array})``.

    Raises :class:`TensorFormatError` for anything that does not add up: a
    header length past the body, a header that isn't a JSON object, unknown
    datatypes, element counts that don't match shapes, binary sections whose
    sizes don't add up to the bytes after the header.
    """
    doc, makers = check_body(body, json_length, key)
    return doc, {name: make() for name, make in makers.items()}


class LazyTensors(Mapping[str, "np.ndarray[Any, Any]"]):
    """Decoded tensors by name, each array built on first access.

    What :meth:`V2Model.parse` puts in ``outputs``: the answer has been
    checked as thoroughly as :func:`decode_body` checks it (shapes, counts,
    datatypes, binary sizes), but a load test that only needs to know the
    answer is valid never pays for building numpy arrays. Read-only; equal
    to a dict of the same arrays.
    """

    __slots__ = ("_arrays", "_makers")

    def __init__(self, makers: dict[str, Callable[[], np.ndarray[Any, Any]]]) -> None:
        self._makers = makers
        self._arrays: dict[str, np.ndarray[Any, Any]] = {}

    def __getitem__(self, name: str) -> np.ndarray[Any, Any]:
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = self._makers[name]()
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)

    def __contains__(self, name: object) -> bool:
        return name in self._makers

    def __repr__(self) -> str:
        return f"LazyTensors({dict(self)!r})"
