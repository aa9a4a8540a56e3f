"""Image and audio users over v2 and v1: ask the target once per process, build requests to fit.

Before the first request (at the preflight, where the run can still stop
with exit 2, and again in each worker process), :func:`decide` asks the
target what it is and what the model takes (``GET /v2``, ``GET
/v2/models/{model}``; ``GET /v1/models/{model}`` for v1, through
:mod:`locust_ml.protocols.probe`), picks the encoding
(:func:`~locust_ml.protocols.v2_encoding.choose_encoding`, forced by
``--ml-encoding``) and logs one line naming it and why. A model the target
does not have, or whose input cannot take the payload, is a ConfigError.

:func:`sender` then gives a user what it sends with: the adapter, a request
builder, and the pool to pick from: the user's pool of encoded files, or,
for models that take pixels or samples, a pool of decoded tensors made once
per process from it (in gevent's thread pool, like the file pool).

Decisions and tensor pools are kept per process, by everything they depend
on, so every user of the same settings shares one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import gevent

from locust_ml.errors import ConfigError
from locust_ml.options import EncodingSpec
from locust_ml.payloads.payload import Payload, PayloadPool
from locust_ml.payloads.pcm import PcmSpec, to_pcm
from locust_ml.payloads.pixels import PixelSpec, to_pixels
from locust_ml.payloads.tensor_pool import TensorPayload, TensorPool, build_tensor_pool
from locust_ml.plugin.fetch import TIMEOUT_S, fetch_url
from locust_ml.protocols.base import HttpRequest, ResponseParser
from locust_ml.protocols.probe import Fetch, probe_v1, probe_v2
from locust_ml.protocols.v1 import V1Model
from locust_ml.protocols.v2 import V2Model
from locust_ml.protocols.v2_encoding import Encoding, choose_encoding

__all__ = ["decide", "sender"]

logger = logging.getLogger("locust_ml")

_decisions: dict[tuple[Any, ...], Encoding | None] = {}
_tensor_pools: dict[tuple[Any, ...], Any] = {}


def decide(
    user: str,
    kind: str,
    protocol: str,
    model: str,
    input_name: str,
    spec: EncodingSpec,
    host: str,
    *,
    fetch: Fetch | None = None,
) -> Encoding | None:
    """The encoding for a user's v2 payloads (None for v1), asked once per process and target.

    Raises ConfigError when the target lacks the model or the model's
    input cannot take the payload; logs the decision once.
    """
    key = (host.rstrip("/"), kind, protocol, model, input_name, spec)
    if key in _decisions:
        return _decisions[key]
    fetch = fetch or fetch_url
    if protocol == "v1":
        note = probe_v1(host, V1Model(model), fetch, timeout=TIMEOUT_S)
        logger.info(
            'locust-ml: %s -> %s model %r: encoded files as v1 {"b64": ...} instances (%s)',
            user,
            host,
            model,
            note,
        )
        _decisions[key] = None
        return None
    probe = probe_v2(host, V2Model(model), fetch, timeout=TIMEOUT_S)
    if probe.model_note:
        logger.warning(
            "locust-ml: %s: %s: cannot read the model's inputs; sending %r",
            user,
            probe.model_note,
            input_name,
        )
    encoding = choose_encoding(
        kind=kind,
        server=probe.server,
        model=probe.model,
        input_name=input_name,
        wire=spec.wire,
        form=spec.input,
        size=spec.size,
        layout=spec.layout,
        rate=spec.rate,
        unknown=probe.server_note or "the server did not say which extensions it supports",
    )
    logger.info("locust-ml: %s -> %s model %r: %s", user, host, model, encoding.describe())
    _decisions[key] = encoding
    return encoding


def _converter(encoding: Encoding) -> tuple[Callable[[bytes], Any], str]:
    """The conversion from an encoded file to the model's tensor, and its description."""
    datatype = encoding.input.datatype
    if encoding.pixels is not None:
        p = encoding.pixels
        pixels = PixelSpec(p.height, p.width, p.channels, p.layout, datatype, p.batched)
        return (lambda data: to_pixels(data, pixels)), f"pixels {datatype} {list(p.shape)}"
    if encoding.pcm is None:
        raise ConfigError(f"no tensor conversion for {encoding.form!r}")
    c = encoding.pcm
    pcm = PcmSpec(c.rate, datatype, c.batched, c.length)
    return (lambda data: to_pcm(data, pcm)), f"samples {datatype} at {c.rate} Hz"


def tensor_pool(source: PayloadPool, encoding: Encoding, seed: int, max_mb: float) -> TensorPool:
    """The process's pool of decoded tensors for ``encoding``, made once from ``source``."""
    key = (id(source), encoding, seed, max_mb)
    pending = _tensor_pools.get(key)
    if pending is None:
        convert, what = _converter(encoding)

        def build() -> TensorPool:
            started = time.perf_counter()
            pool = build_tensor_pool(
                source, convert, wire=encoding.wire, what=what, seed=seed, max_mb=max_mb
            )
            logger.info("locust-ml: %r built in %.1f s", pool, time.perf_counter() - started)
            return pool

        pending = _tensor_pools[key] = gevent.get_hub().threadpool.spawn(build)
    pool: TensorPool = pending.get()
    return pool


def sender(
    *,
    encoding: Encoding | None,
    model: str,
    parameters: Mapping[str, Any],
    endpoint: str | None,
    pool: PayloadPool,
    seed: int,
    max_mb: float,
) -> tuple[ResponseParser, Callable[[Any], HttpRequest], PayloadPool | TensorPool]:
    """``(adapter, build(pick) -> request, pool to pick from)`` for an encoding (None: v1)."""
    if encoding is None:
        v1 = V1Model(model)
        files_v1 = v1.file_requests(path=endpoint)

        def v1_file(payload: Payload) -> HttpRequest:
            return files_v1(payload.parts)

        return v1, v1_file, pool
    binary = encoding.wire == "binary"
    v2 = V2Model(model, binary=binary, binary_outputs=binary)
    if encoding.form == "file":
        files = v2.file_requests(encoding.input.name, parameters=parameters, path=endpoint)

        def v2_file(payload: Payload) -> HttpRequest:
            return files(payload.parts)

        return v2, v2_file, pool
    tensors = v2.tensor_requests(
        encoding.input.name, encoding.input.datatype, parameters=parameters, path=endpoint
    )

    def v2_tensor(pick: TensorPayload) -> HttpRequest:
        return tensors(pick.parts, pick.shape)

    return v2, v2_tensor, tensor_pool(pool, encoding, seed, max_mb)
