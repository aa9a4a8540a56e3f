"""What a v2 server says about itself and its models: ``GET /v2`` and ``GET /v2/models/{m}``.

Servers that speak the Open Inference Protocol differ in what they accept:
Triton and the reference server take the binary tensor data extension,
MLServer has no such extension and refuses those bodies, KServe's Python
server parses them but hands ``BYTES`` elements to models as UTF-8 text. The
protocol lets a client ask instead of guessing:

* **server metadata** (``GET /v2``): ``{"name", "version", "extensions": [...]}``;
  ``binary_tensor_data`` among the extensions is the server's word that it
  takes binary tensors (Triton lists it; KServe 0.21 answers
  ``["model_repository_extension"]``, MLServer 1.7 ``[]``);
* **model metadata** (``GET /v2/models/{name}[/versions/{v}]``): ``{"name",
  "versions"?, "platform", "inputs": [{"name", "datatype", "shape"}],
  "outputs": [...]}``, ``-1`` for a dimension of any size. KServe models
  that don't state their inputs answer ``"inputs": []``; MLServer adds
  ``"parameters"``; the lists may be ``null``.

Parsing is pure and lenient where servers differ (``null`` lists, missing
``versions`` or ``platform``), strict where a wrong answer would mislead:
a body that is not such a document raises :class:`MetadataError` naming what
was wrong. The HTTP calls themselves belong to the caller
(:mod:`locust_ml.plugin.v2_probe` injects them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from locust_ml.errors import LocustMLError
from locust_ml.protocols.base import HttpRequest, preview
from locust_ml.protocols.v2_tensors import DATATYPES

__all__ = [
    "BINARY_EXTENSION",
    "MetadataError",
    "ModelMetadata",
    "ServerMetadata",
    "TensorMetadata",
    "parse_model_metadata",
    "parse_server_metadata",
    "server_metadata_request",
]

#: The extension name a server lists when it takes binary tensor data.
BINARY_EXTENSION: Final = "binary_tensor_data"


class MetadataError(LocustMLError, ValueError):
    """A metadata answer that is not the document the protocol describes."""


@dataclass(frozen=True)
class ServerMetadata:
    """``GET /v2``: who the server is and which protocol extensions it supports.

    >>> s = parse_server_metadata(b'{"name":"triton","version":"2.50.0",'
    ...                           b'"extensions":["classification","binary_tensor_data"]}')
    >>> s.binary_tensors, s.describe()
    (True, 'triton 2.50.0')
    """

    name: str
    version: str
    extensions: tuple[str, ...] = ()

    @property
    def binary_tensors(self) -> bool:
        """Whether the server lists the binary tensor data extension."""
        return BINARY_EXTENSION in self.extensions

    def describe(self) -> str:
        return f"{self.name} {self.version}".strip()


@dataclass(frozen=True)
class TensorMetadata:
    """One input or output as a model states it; ``-1`` is a dimension of any size.

    ``shape`` is None when the server did not state one.
    """

    name: str
    datatype: str
    shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        shape = "?" if self.shape is None else "[" + ", ".join(map(str, self.shape)) + "]"
        return f"{self.name!r} {self.datatype} {shape}"


@dataclass(frozen=True)
class ModelMetadata:
    """``GET /v2/models/{name}``: the model's inputs and outputs (either may be empty)."""

    name: str
    inputs: tuple[TensorMetadata, ...] = ()
    outputs: tuple[TensorMetadata, ...] = ()
    versions: tuple[str, ...] = ()
    platform: str = ""


def server_metadata_request(headers: dict[str, str] | None = None) -> HttpRequest:
    """``GET /v2``."""
    return HttpRequest("GET", "/v2", dict(headers or {}))


def _document(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MetadataError(f"{what} is not JSON: {preview(body)}") from None
    if not isinstance(doc, dict):
        raise MetadataError(f"{what} is not a JSON object: {preview(body)}")
    return doc


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise MetadataError(f"{what} is not a list of names: {value!r}")
    return tuple(str(v) for v in value)


def parse_server_metadata(body: bytes) -> ServerMetadata:
    """The server metadata document; :class:`MetadataError` when ``body`` is not one.

    A document needs a ``name`` (a string); ``version`` and ``extensions``
    default to empty. An answer without a name (an inference response, an
    HTML page) is not server metadata.
    """
    doc = _document(body, "the GET /v2 answer")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise MetadataError(f"the GET /v2 answer has no server name: {preview(body)}")
    version = doc.get("version")
    return ServerMetadata(
        name=name,
        version=str(version) if isinstance(version, str | int | float) else "",
        extensions=_strings(doc.get("extensions"), "the server's extensions"),
    )


def _tensor(entry: object, where: str) -> TensorMetadata:
    if not isinstance(entry, dict):
        raise MetadataError(f"{where} is not a tensor object: {entry!r}")
    name, datatype, shape = entry.get("name"), entry.get("datatype"), entry.get("shape")
    if not isinstance(name, str):
        raise MetadataError(f"{where} has no name: {entry!r}")
    if not isinstance(datatype, str) or datatype.upper() not in DATATYPES:
        raise MetadataError(f"{where} {name!r}: unknown datatype {datatype!r}")
    dims: tuple[int, ...] | None = None
    if shape is not None:
        if not isinstance(shape, list) or not all(type(d) is int and d >= -1 for d in shape):
            raise MetadataError(f"{where} {name!r}: shape {shape!r} is not a list of sizes")
        dims = tuple(shape)
    return TensorMetadata(name, datatype.upper(), dims)


def _tensors(value: object, where: str) -> tuple[TensorMetadata, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MetadataError(f"the model's {where}s are not a list: {value!r}")
    return tuple(_tensor(entry, where) for entry in value)


def parse_model_metadata(body: bytes) -> ModelMetadata:
    """The model metadata document; :class:`MetadataError` when ``body`` is not one.

    >>> m = parse_model_metadata(b'{"name":"resnet","inputs":[{"name":"x",'
    ...                          b'"datatype":"FP32","shape":[-1,3,224,224]}],"outputs":null}')
    >>> m.inputs[0].describe(), m.outputs
    ("'x' FP32 [-1, 3, 224, 224]", ())
    """
    doc = _document(body, "the model metadata")
    name = doc.get("name")
    if not isinstance(name, str):
        raise MetadataError(f"the model metadata has no name: {preview(body)}")
    platform = doc.get("platform")
    return ModelMetadata(
        name=name,
        inputs=_tensors(doc.get("inputs"), "input"),
        outputs=_tensors(doc.get("outputs"), "output"),
        versions=_strings(doc.get("versions"), "the model's versions"),
        platform=platform if isinstance(platform, str) else "",
    )
