"""Protocol adapters: build inference requests, parse answers and streams (pure).

Each adapter turns what a user wants to send into an :class:`HttpRequest` and
what came back into an :class:`InferenceResult`; the Locust glue does the
sending. Nothing here opens sockets or reads clocks: stream parsers are fed
each read with the time it arrived. See ``docs/protocols.md``.

=====================  ==================================================
:mod:`.openai`         ``/v1/chat/completions``, ``/v1/completions``, SSE
:mod:`.v2`             Open Inference Protocol v2 (KServe, Triton) requests
                       and answers; :mod:`.v2_tensors`: the bodies, JSON and
                       binary tensors, both ways; :mod:`.v2_metadata` and
                       :mod:`.v2_encoding`: what a server takes, and the
                       encoding chosen from it; :mod:`.probe`: asking it
:mod:`.v1`             TF Serving / KServe v1 ``:predict``
:mod:`.torchserve`     ``/predictions/{model}``
:mod:`.generic`        any JSON endpoint; multipart/form-data uploads
:mod:`.sse`            the incremental server-sent-events decoder
:mod:`.base`           the shared request and result shapes
=====================  ==================================================
"""

from __future__ import annotations

from locust_ml.protocols.base import HttpRequest, InferenceResult, ResponseParser
from locust_ml.protocols.generic import JsonEndpoint, MultipartUpload
from locust_ml.protocols.openai import ChatCompletions, Completions, SseStream, parse_stream
from locust_ml.protocols.torchserve import TorchServeModel
from locust_ml.protocols.v1 import V1Model
from locust_ml.protocols.v2 import V2Model
from locust_ml.protocols.v2_tensors import Tensor

__all__ = [
    "ChatCompletions",
    "Completions",
    "HttpRequest",
    "InferenceResult",
    "JsonEndpoint",
    "MultipartUpload",
    "ResponseParser",
    "SseStream",
    "Tensor",
    "TorchServeModel",
    "V1Model",
    "V2Model",
    "parse_stream",
]
