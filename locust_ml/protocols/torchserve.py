"""TorchServe's inference API: ``POST /predictions/{model}[/{version}]``.

TorchServe hands the request body to the model's handler as is, so an image
classifier takes the JPEG bytes themselves (``curl -T kitten.jpg``) and a
text handler takes text or JSON. Answers are whatever the handler returns:
usually JSON (``{"tabby": 0.41, ...}`` or a list), sometimes plain text.
Errors come with a 4xx/5xx status and ``{"code", "type", "message"}``
(``503`` when the model's worker queue is full, which is load shedding).

:class:`TorchServeModel` builds raw-bytes and JSON requests and parses the
answer like :func:`.generic.parse_checked`: ``outputs`` is the JSON document,
or ``text`` the plain text, checked by an optional ``check``. ``/ping`` on the
inference port tells whether the server is healthy.

Sources: TorchServe docs, "Inference API" (``/predictions/{model_name}`` and
``/predictions/{model_name}/{version}``, ``/ping`` answering
``{"status": "Healthy"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from locust_ml.protocols.base import HttpRequest, InferenceResult, check_model, model_path
from locust_ml.protocols.generic import Check, parse_checked

__all__ = ["TorchServeModel", "parse_ping", "ping_request"]


@dataclass(frozen=True)
class TorchServeModel:
    """One model on a TorchServe inference port.

    >>> m = TorchServeModel("resnet-18", version="2.0")
    >>> req = m.request(b"\\xff\\xd8\\xff\\xe0...", content_type="image/jpeg")
    >>> req.method, req.path, req.content_type
    ('POST', '/predictions/resnet-18/2.0', 'image/jpeg')
    >>> m.parse(200, {"Content-Type": "application/json"}, b'{"tabby": 0.41}').outputs
    {'tabby': 0.41}
    """

    model: str
    version: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    check: Check | None = None

    def __post_init__(self) -> None:
        check_model(self.model)  # an empty name fails here, not at the first request

    @property
    def path(self) -> str:
        return model_path("/predictions", self.model, self.version, versions="")

    def request(
        self, body: bytes, *, content_type: str = "application/octet-stream"
    ) -> HttpRequest:
        """The raw bytes (an encoded image, audio, text) as the body."""
        headers = {**self.headers, "Content-Type": content_type}
        return HttpRequest("POST", self.path, headers, bytes(body))

    def json_request(self, document: Any, *, tokens_in: int | None = None) -> HttpRequest:
        """A JSON document as the body."""
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        return HttpRequest("POST", self.path, headers, body, tokens_in=tokens_in)

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        """JSON answers land in ``outputs``, text in ``text``; then ``check`` runs."""
        return parse_checked(status, headers, body, self.check, latency_ms=latency_ms)


def ping_request() -> HttpRequest:
    """``GET /ping`` on the inference port."""
    return HttpRequest("GET", "/ping")


def parse_ping(status: int, body: bytes) -> bool:
    """Whether a ``/ping`` answer says ``{"status": "Healthy"}``."""
    if status != 200:
        return False
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("status") == "Healthy"
