"""Payload users: trace-sized images and audio from a pool, over v2, TorchServe or uploads.

:class:`ImageUser` and :class:`AudioUser` send real JPEG/PNG/WebP or
WAV/FLAC files from a payload pool fitted to a size profile
(:mod:`locust_ml.payloads.pool`), over v2 (a binary ``BYTES`` tensor),
TorchServe, a multipart upload or a raw body. Each pick's bytes are unique
(a nonce inside the file), so a server can't cache its way to a good
result; the v2 body goes out as the pool's buffers behind its JSON header,
without a copy (:class:`~locust_ml.protocols.v2.FileRequests`,
:mod:`~locust_ml.plugin.transport`). Over v2 and v1 the target is asked
first what it takes (:mod:`~locust_ml.plugin.payload_encoding`): binary or
JSON tensors, the file or its decoded pixels or samples.

**Payload pools are built once per process, off the request path**: at
Locust's ``init`` (so a ramp's first step doesn't lose seconds to it), in a
thread of gevent's pool, or on a user's first ``on_start`` when options
changed since (the web UI); users of the same settings share one pool
(:func:`payload_pool`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gevent

from locust_ml.errors import ConfigError
from locust_ml.options import AUDIO_FORMATS, IMAGE_FORMATS, EncodingSpec, MLOptions
from locust_ml.payloads.payload import DEFAULT_DRAWS, DEFAULT_MAX_MB, Payload, PayloadPool
from locust_ml.payloads.pool import build_pool
from locust_ml.payloads.tensor_pool import TensorPool
from locust_ml.plugin import payload_encoding
from locust_ml.plugin.ml_user import MLUser, load_profile, profile_source
from locust_ml.protocols.base import HttpRequest, InferenceResult, ResponseParser
from locust_ml.protocols.generic import Check, MultipartUpload, parse_checked
from locust_ml.protocols.torchserve import TorchServeModel

__all__ = [
    "PAYLOAD_PROTOCOLS",
    "AudioUser",
    "ImageUser",
    "PayloadSettings",
    "PayloadUser",
    "PoolSpec",
    "payload_pool",
]

logger = logging.getLogger("locust_ml")

PAYLOAD_PROTOCOLS = ("v2", "v1", "torchserve", "multipart", "raw")


@dataclass(frozen=True)
class PoolSpec:
    """What a payload pool is built from: users with equal specs share one pool."""

    profile: str
    format: str
    draws: int
    max_mb: float
    seed: int


@dataclass(frozen=True)
class PayloadSettings:
    """A payload user's class attributes with the command line applied."""

    model: str
    protocol: str
    endpoint: str | None
    pool: PoolSpec
    encoding: EncodingSpec = dataclasses.field(default_factory=EncodingSpec)


_pools: dict[tuple[Any, PoolSpec], Any] = {}


def payload_pool(spec: PoolSpec, factory: Callable[..., PayloadPool] = build_pool) -> PayloadPool:
    """The process's pool for ``spec``, built once in gevent's thread pool.

    The calling greenlet waits (others run); later callers with the same
    spec get the same pool, or wait for the same build. A failed build
    raises its error in every caller.
    """
    key = (factory, spec)
    pending = _pools.get(key)
    if pending is None:
        logger.info(
            "locust-ml: building a payload pool: %s, %s, %d draws, up to %g MiB",
            spec.profile,
            spec.format,
            spec.draws,
            spec.max_mb,
        )
        pending = _pools[key] = gevent.get_hub().threadpool.spawn(_build_pool, spec, factory)
    pool: PayloadPool = pending.get()
    return pool


def _build_pool(spec: PoolSpec, factory: Callable[..., PayloadPool]) -> PayloadPool:
    started = time.perf_counter()
    pool = factory(
        spec.profile, format=spec.format, draws=spec.draws, seed=spec.seed, max_mb=spec.max_mb
    )
    logger.info("locust-ml: %r built in %.1f s", pool, time.perf_counter() - started)
    return pool


@dataclass(frozen=True)
class _RawBody:
    """``--ml-protocol raw``: the encoded file as the body, any answer the check accepts."""

    path: str
    check: Check | None = None

    def request(self, payload: Payload) -> HttpRequest:
        return HttpRequest("POST", self.path, {"Content-Type": payload.content_type}, payload.data)

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult:
        return parse_checked(status, headers, body, self.check, latency_ms=latency_ms)


class PayloadUser(MLUser):
    """Sends encoded files from a payload pool; the base of ImageUser and AudioUser.

    Protocols (``protocol`` / ``--ml-protocol``): ``v2`` (to
    ``/v2/models/{model}/infer``, in the encoding the target's metadata
    calls for or ``--ml-encoding`` forces: the file as a ``BYTES`` tensor,
    binary or base64 in JSON, or its decoded pixels or samples, in the
    model's input or ``input_name``; any valid v2 answer), ``v1``
    (``{"instances": [{"b64": ...}]}`` to ``/v1/models/{model}:predict``),
    ``torchserve`` (the file as the body of
    ``/predictions/{model}``), ``multipart`` (a ``multipart/form-data``
    upload, field ``input_name``, to ``endpoint``), ``raw`` (the file as the
    body, to ``endpoint``). ``check`` judges TorchServe, multipart and raw
    answers (see :mod:`locust_ml.protocols.generic`).
    """

    abstract = True
    #: ``image`` or ``audio``: which profiles, formats and format option apply.
    kind: ClassVar[str] = ""
    model: ClassVar[str] = ""
    protocol: ClassVar[str] = "v2"
    endpoint: ClassVar[str | None] = None
    input_name: ClassVar[str] = ""
    profile: ClassVar[str | None] = None
    payload_format: ClassVar[str] = ""
    #: Size draws the pool is built from, and its memory cap (``--ml-pool-draws/-max-mb``).
    pool_draws: ClassVar[int] = DEFAULT_DRAWS
    pool_max_mb: ClassVar[float] = DEFAULT_MAX_MB
    #: v2 request parameters, e.g. ``{"top_k": 5}``.
    parameters: ClassVar[dict[str, Any]] = {}
    #: Answer check for torchserve, multipart and raw: None/True accept, False/message reject.
    check: ClassVar[Check | None] = None
    #: Builds a pool: ``factory(profile, format=, draws=, seed=, max_mb=)`` (tests inject one).
    pool_factory: ClassVar[Callable[..., PayloadPool]] = build_pool

    payload_settings: PayloadSettings
    #: Encoded files; or, for a model that takes pixels or samples, decoded tensors.
    pool: PayloadPool | TensorPool

    @classmethod
    def settings_for(cls, options: MLOptions) -> PayloadSettings:
        """This class's settings under ``options``; ConfigError/TraceError when they don't fit."""
        opts = options.users
        protocol = opts.protocol or cls.protocol
        if protocol not in PAYLOAD_PROTOCOLS:
            raise ConfigError(
                f"{cls.__name__}: protocol {protocol!r} can't carry {cls.kind} payloads; "
                f"expected one of {', '.join(PAYLOAD_PROTOCOLS)} (--ml-protocol)"
            )
        endpoint = opts.endpoint or cls.endpoint
        if protocol in ("multipart", "raw") and not endpoint:
            raise ConfigError(
                f"{cls.__name__}: protocol {protocol} needs a path: --ml-endpoint PATH "
                "(or an endpoint attribute)"
            )
        source = profile_source(opts.profile, cls.profile)
        columns, formats, fmt = (
            (("width", "height"), IMAGE_FORMATS, opts.image_format)
            if cls.kind == "image"
            else (("duration_s",), AUDIO_FORMATS, opts.audio_format)
        )
        if source is None:
            raise ConfigError(f"{cls.__name__}: {cls.kind} payloads need a size profile")
        prof = load_profile(source)
        if not set(columns) <= set(prof.column_names):
            raise ConfigError(
                f"{cls.__name__}: profile {prof.name!r} has columns "
                f"{', '.join(prof.column_names)}; {cls.kind} payloads need "
                f"{' and '.join(columns)} (e.g. --ml-profile "
                f"{'imagenet_image_sizes' if cls.kind == 'image' else 'librispeech_durations'})"
            )
        fmt = fmt or cls.payload_format
        if fmt not in formats:
            raise ConfigError(
                f"{cls.__name__}: payload_format {fmt!r}; expected one of {', '.join(formats)}"
            )
        return PayloadSettings(
            model=opts.model or cls.model,
            protocol=protocol,
            endpoint=endpoint,
            pool=PoolSpec(
                profile=source,
                format=fmt,
                draws=opts.pool_draws or cls.pool_draws,
                max_mb=opts.pool_max_mb or cls.pool_max_mb,
                seed=options.seed,
            ),
            encoding=opts.encoding,
        )

    def on_start(self) -> None:
        super().on_start()
        s = self.payload_settings = self.settings_for(self.ml_options)
        files = payload_pool(s.pool, type(self).pool_factory)
        self.pool = files
        if s.protocol in ("v2", "v1"):
            # What the target takes, asked once per process (payload_encoding.py).
            encoding = payload_encoding.decide(
                type(self).__name__,
                self.kind,
                s.protocol,
                s.model,
                self.input_name,
                s.encoding,
                str(self.host),
            )
            self._adapter, self._build, self.pool = payload_encoding.sender(
                encoding=encoding,
                model=s.model,
                parameters=self.parameters,
                endpoint=s.endpoint,
                pool=files,
                seed=s.pool.seed,
                max_mb=s.pool.max_mb,
            )
        else:
            self._adapter, self._build = self._protocol(s)

    def _protocol(
        self, s: PayloadSettings
    ) -> tuple[ResponseParser, Callable[[Payload], HttpRequest]]:
        """TorchServe, multipart and raw: the file as it is."""
        check = type(self).check
        if s.protocol == "torchserve":
            ts = TorchServeModel(s.model, check=check)

            def torchserve(payload: Payload) -> HttpRequest:
                req = ts.request(payload.data, content_type=payload.content_type)
                return dataclasses.replace(req, path=s.endpoint) if s.endpoint else req

            return ts, torchserve
        path = s.endpoint or "/"
        if s.protocol == "multipart":
            upload = MultipartUpload(path, file_field=self.input_name, check=check)

            def multipart(payload: Payload) -> HttpRequest:
                return upload.request(
                    payload.data,
                    filename=f"{self.input_name}.{payload.format}",
                    content_type=payload.content_type,
                )

            return upload, multipart
        raw = _RawBody(path, check)
        return raw, raw.request

    _build: Callable[[Any], HttpRequest]

    def infer(self, *, name: str | None = None) -> InferenceResult | None:
        """Send the next payload; the adapter's result, or None without an answer."""
        return self.send_request(self._build(self.pool.pick(self.rng)), self._adapter, name=name)


class ImageUser(PayloadUser):
    """Sends trace-sized photographs (JPEG by default) to an image model.

    Defaults: the ``imagenet_image_sizes`` profile (width, height and JPEG
    bytes drawn jointly), the reference server's ``image-classifier`` over v2.
    """

    abstract = True
    kind = "image"
    model = "image-classifier"
    input_name = "image"
    profile = "imagenet_image_sizes"
    payload_format = "jpeg"
    server_backend = "image-classifier"


class AudioUser(PayloadUser):
    """Sends trace-length speech (WAV by default) to a speech model.

    Defaults: the ``librispeech_durations`` profile, the reference server's
    ``speech`` model over v2.
    """

    abstract = True
    kind = "audio"
    model = "speech"
    input_name = "audio"
    profile = "librispeech_durations"
    payload_format = "wav"
    server_backend = "speech"
