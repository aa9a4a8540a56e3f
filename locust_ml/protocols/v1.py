"""TensorFlow Serving / KServe v1 REST: ``POST /v1/models/{m}:predict``, ``{"instances": [...]}``.

The older of the two KServe data planes, and TensorFlow Serving's REST API
(KServe's Python model server, TF Serving, Seldon's v1, many in-house
servers copy it). A request is a JSON document in the *row* format,
``{"instances": [instance, ...]}``; binary content in an instance is
``{"b64": "<base64>"}``, which the server decodes to bytes (TF Serving) or
hands to the model (KServe). An image model that takes one encoded image per
instance therefore gets::

    {"instances": [{"b64": "/9j/4AAQ..."}]}

or, for a model whose signature names its input, ``{"instances":
[{"image_bytes": {"b64": "..."}}]}`` (``input_name``). A success is a JSON
object with a non-empty ``predictions`` list (the row format) or
``outputs`` (TF Serving's columnar format); errors are ``{"error":
"message"}``. ``GET /v1/models/{model}`` answers whether the model exists
(KServe: ``{"name", "ready"}``; TF Serving: ``{"model_version_status"}``).

Sources: TensorFlow Serving "RESTful API" (Predict API, encoding binary
values); KServe "V1 Inference Protocol". Pure, like every adapter.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from locust_ml.protocols.base import (
    BodyParts,
    HttpRequest,
    InferenceResult,
    check_model,
    http_failure,
    model_path,
    preview,
)

__all__ = ["V1FileRequests", "V1Model"]


@dataclass(frozen=True)
class V1Model:
    """One model behind the v1 (TF Serving) REST API.

    >>> m = V1Model("resnet", version="2")
    >>> m.predict_path, m.status_request().path
    ('/v1/models/resnet/versions/2:predict', '/v1/models/resnet/versions/2')
    """

    model: str
    version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_model(self.model)  # an empty name fails here, not at the first request

    @property
    def model_path(self) -> str:
        return model_path("/v1/models", self.model, self.version)

    @property
    def predict_path(self) -> str:
        return f"{self.model_path}:predict"

    def request(self, instances: Sequence[Any]) -> HttpRequest:
        """A predict request for JSON-ready ``instances`` (``{"b64": ...}`` for bytes)."""
        body = json.dumps({"instances": list(instances)}, separators=(",", ":")).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        return HttpRequest("POST", self.predict_path, headers, body)

    def file_requests(
        self, input_name: str | None = None, *, path: str | None = None
    ) -> V1FileRequests:
        """A builder of requests that each send one encoded file as a ``{"b64": ...}`` instance."""
        return V1FileRequests(self, input_name, path)

    def status_request(self) -> HttpRequest:
        """``GET /v1/models/{model}``: 200 when the server has the model, 404 when not."""
        return HttpRequest("GET", self.model_path, dict(self.headers))

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        """A success has ``predictions`` (a non-empty list) or ``outputs``; ``outputs``: the doc."""
        if not 200 <= status < 300:
            return http_failure(status, body, latency_ms=latency_ms)
        problem = None
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            doc, problem = None, f"the answer is not JSON: {preview(body)}"
        if problem is None:
            if not isinstance(doc, dict):
                problem = f"the answer is not a JSON object: {preview(body)}"
            elif doc.get("error"):
                return InferenceResult(
                    ok=False,
                    error_class="server_error",
                    error=f"error object: {doc['error']}",
                    status=status,
                    latency_ms=latency_ms,
                    bytes_received=len(body),
                )
            elif "outputs" not in doc and not (
                isinstance(doc.get("predictions"), list) and doc["predictions"]
            ):
                problem = f"the answer has no predictions: {preview(body)}"
        if problem is not None:
            return InferenceResult(
                ok=False,
                error_class="invalid",
                error=problem,
                status=status,
                latency_ms=latency_ms,
                bytes_received=len(body),
            )
        return InferenceResult.success(
            status=status, latency_ms=latency_ms, outputs=doc, bytes_received=len(body)
        )


class V1FileRequests:
    """Requests of one file each: ``{"instances": [{"b64": "..."}]}`` (or under ``input_name``).

    The JSON around the base64 text is made once; per request the file's
    parts are joined and encoded (about 60 us per 100 kB).

    >>> build = V1Model("resnet").file_requests()
    >>> bytes(build([b"GIF", b"89a"]).body)
    b'{"instances":[{"b64":"R0lGODlh"}]}'
    >>> bytes(V1Model("resnet").file_requests("image_bytes")([b"GIF89a"]).body)
    b'{"instances":[{"image_bytes":{"b64":"R0lGODlh"}}]}'
    """

    def __init__(self, model: V1Model, input_name: str | None, path: str | None) -> None:
        instance: dict[str, Any] = {"b64": ""}
        if input_name:
            instance = {input_name: instance}
        text = json.dumps({"instances": [instance]}, separators=(",", ":")).encode()
        cut = text.rindex(b'"b64":""') + len(b'"b64":"')
        self._prefix, self._suffix = text[:cut], text[cut:]
        self._headers = MappingProxyType({**model.headers, "Content-Type": "application/json"})
        self.path = path or model.predict_path

    def __call__(self, parts: Sequence[bytes | memoryview]) -> HttpRequest:
        text = base64.b64encode(b"".join(parts))
        body = BodyParts._made(
            (self._prefix, text, self._suffix), len(self._prefix) + len(text) + len(self._suffix)
        )
        return HttpRequest("POST", self.path, self._headers, body)
