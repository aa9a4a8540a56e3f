"""Library base Users: ML-aware, abstract, meant to be subclassed in locustfiles.

All are ``abstract = True``: Locust runs every concrete User class it finds in
a locustfile, imported ones included, so a base class that isn't abstract
would silently join the test.

They use ``FastHttpUser`` (geventhttpclient, ~4x cheaper per request than
``HttpUser``) because ML payloads make the load generator's CPU matter, and
they default to no wait time: in a closed-loop capacity test each user is one
request in flight, and the ramp sets the concurrency.

The ML users are thin: a protocol adapter (:mod:`locust_ml.protocols`) builds
each request and judges each answer, Locust's client sends it, and
:meth:`MLUser.send_request` ties the two together:

* :class:`TextUser` (:class:`ChatCompletionsUser` is its old name): OpenAI
  chat or completions, streamed or not; prompt and output lengths drawn
  jointly from a profile (``azure_conv``) or from the token options;
* :class:`ImageUser` and :class:`AudioUser`: real JPEG/PNG/WebP or WAV/FLAC
  from a payload pool fitted to a profile, over v2 (a binary ``BYTES``
  tensor), TorchServe, a multipart upload or a raw body.

**Every request is counted once, and classified.** Each goes through
FastHttpUser's client with ``catch_response=True``, so Locust's UI and CSVs
see it, and our request listener reads the ML fields from its ``context``.
A 2xx the adapter rejects (not JSON, a truncated stream, a wrong shape) is
``response.failure(InferenceFailure(...))``, which the listener classes as
``invalid``; a 4xx/5xx is classed by its status; a timeout or a refused
connection by its exception (unwrapped from geventhttpclient's
``RetriesExceeded``, which would otherwise hide a timeout). Nothing a target
answers makes an exception leave the user.

**Streams are read as they arrive.** geventhttpclient's ``read(n)`` waits
for ``n`` bytes, which would hold back every token; :func:`_read_some` hands
each network read to the SSE parser with a ``perf_counter`` stamp, so TTFT
and ITL are what the client saw. The request's Locust ``response_time``
becomes the whole stream's (to ``data: [DONE]``), not the time to headers.

**Payload pools are built once per process, off the request path**: at
Locust's ``init`` (so a ramp's first step doesn't lose seconds to it), in a
thread of gevent's pool, or on a user's first ``on_start`` when options
changed since (the web UI); users of the same settings share one pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import random
import struct
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gevent
import locust
from gevent import GreenletExit
from locust import constant
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopTest, StopUser

from locust_ml.analysis.status import classify
from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError
from locust_ml.payloads.pool import DEFAULT_DRAWS, DEFAULT_MAX_MB, Payload, PayloadPool, build_pool
from locust_ml.payloads.text import PromptGenerator
from locust_ml.plugin.options import (
    AUDIO_FORMATS,
    IMAGE_FORMATS,
    NO_PROFILE,
    MLOptions,
    read_options,
)
from locust_ml.plugin.recorder import CONTEXT_KEY
from locust_ml.protocols.base import HttpRequest, InferenceResult
from locust_ml.protocols.generic import Check, MultipartUpload, parse_checked
from locust_ml.protocols.openai import ChatCompletions, Completions, SseStream
from locust_ml.protocols.torchserve import TorchServeModel
from locust_ml.protocols.v2 import INFERENCE_HEADER, V2Model
from locust_ml.traces.profile import Profile

__all__ = [
    "AudioUser",
    "ChatCompletionsUser",
    "ImageUser",
    "InferenceFailure",
    "InferenceTimeout",
    "MLUser",
    "PayloadUser",
    "TextUser",
    "payload_pool",
]

_user_numbers = itertools.count()
logger = logging.getLogger("locust_ml")

TEXT_PROTOCOLS = ("chat", "completions")
PAYLOAD_PROTOCOLS = ("v2", "torchserve", "multipart", "raw")
#: After ``data: [DONE]``, how long to wait for the end of the body so the
#: connection can be reused; past it, the connection is closed instead.
_DRAIN_SECONDS = 0.25
_LENGTH = struct.Struct("<I")


class InferenceFailure(Exception):
    """An answer the protocol adapter rejected; the message says why.

    Given to Locust's ``response.failure``: with a 2xx status the request is
    classed ``invalid``, with a 4xx/5xx by its status (``shed``,
    ``client_error``, ``server_error``).
    """


class InferenceTimeout(InferenceFailure):
    """A timeout the server reported inside a 2xx answer (an SSE error event): ``timeout``."""


class Adapter(Protocol):
    """What :meth:`MLUser.send_request` needs from a protocol adapter."""

    def parse(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        latency_ms: float | None = None,
    ) -> InferenceResult: ...


class MLUser(FastHttpUser):
    """Base of locust-ml users: options, a per-user seeded RNG, closed and open loop.

    Without ``--host`` (and no ``host`` on the class), the plugin starts the
    reference server and points these users at it, with the backend named by
    ``server_backend`` unless ``--ml-server-backend`` says otherwise.

    In an open-loop test (``--ml-arrival poisson`` and friends) the user does
    not loop: it registers with its worker's arrival driver, which runs one of
    its tasks in a new greenlet at each intended send time
    (:meth:`run_arrival`). Tasks must therefore be plain ``@task`` methods or
    functions (not nested TaskSets), and should pass :meth:`ml_context` with
    their requests so latency is measured from the intended send time.
    """

    abstract = True
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0
    #: Connections per user: in open loop one user runs many requests at once.
    concurrency = 256
    #: Backend of the embedded reference server for this user (None: --ml-server-backend's).
    server_backend: ClassVar[str | None] = None

    ml_options: MLOptions
    rng: random.Random

    def on_start(self) -> None:
        # Options reach workers with the spawn message, so read them here,
        # not at import or init time.
        self.ml_options = read_options(self.environment.parsed_options)
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) if runner is not None else 0
        # str seeds are hashed with SHA-512 by random.Random: stable across runs.
        self.rng = random.Random(f"{self.ml_options.seed}:{worker}:{next(_user_numbers)}")

    # -- open loop -------------------------------------------------------------
    def run(self) -> None:  # type: ignore[misc] # final in Locust; open loop must not loop
        from locust_ml.plugin.hooks import driver_for
        from locust_ml.plugin.shapes import effective_arrival

        if not effective_arrival(self.environment).is_open:
            super().run()
            return
        driver = driver_for(self.environment)
        if driver is None:
            raise ConfigError("open-loop users need the locust-ml plugin's arrival driver")
        for task in self.tasks:
            if isinstance(task, type):
                raise ConfigError(
                    f"{type(self).__name__}: open-loop tests run @task methods, not nested "
                    f"TaskSets ({task.__name__})"
                )
        self._intended: dict[Any, float] = {}
        try:
            self.on_start()
            driver.register(self)
            while True:
                gevent.sleep(3600)
        except (GreenletExit, StopUser, StopTest):
            driver.unregister(self)
            self.on_stop()

    def run_arrival(self, intended: float) -> None:
        """Run one task for an arrival meant to start at ``intended`` (epoch seconds)."""
        me = gevent.getcurrent()
        self._intended[me] = intended
        task: Any = self.rng.choice(self.tasks)
        try:
            if hasattr(task, "__self__") and task.__self__ is self:
                task()
            else:
                task(self)
        except (GreenletExit, StopUser, StopTest):
            raise
        except Exception as exc:
            self.environment.events.user_error.fire(
                user_instance=self, exception=exc, tb=exc.__traceback__
            )
            logger.error("%s\n%s", exc, traceback.format_exc())
        finally:
            self._intended.pop(me, None)

    def ml_context(self, **fields: Any) -> dict[str, Any]:
        """The ``context`` to pass with a request: ML fields plus the intended send time.

        Mutate the returned ``["locust_ml"]`` dict inside a ``catch_response``
        block (tokens from the answer, TTFT...) - Locust fires the request
        event with it when the block ends.
        """
        ml: dict[str, Any] = dict(fields)
        intended = getattr(self, "_intended", {}).get(gevent.getcurrent())
        if intended is not None:
            ml["intended"] = intended
        return {CONTEXT_KEY: ml}

    # -- one request through an adapter ------------------------------------------
    def send_request(
        self, request: HttpRequest, adapter: Adapter, *, name: str | None = None, **fields: Any
    ) -> InferenceResult | None:
        """Send ``request``, judge the answer with ``adapter``, fire one request event.

        ``fields`` go into the ML context (``tokens_in=...``); ``bytes_sent``
        is the body's size. A streamed request (``request.stream``) needs an
        adapter with ``stream_parser`` (the OpenAI ones). Returns the
        adapter's result (ok or not), or None when no answer came (timeout,
        refused or reset connection, not HTTP).
        """
        context = self.ml_context(bytes_sent=request.bytes_sent, **fields)
        headers = request.headers
        if request.stream:
            # Compressed bytes can't be parsed as they arrive.
            headers = {"Accept-Encoding": "identity", **headers}
        started = time.perf_counter()
        with self.client.request(
            request.method,
            request.path,
            name=name or request.path,
            data=request.body,  # type: ignore[arg-type] # bytes are sent as is
            headers=headers,  # type: ignore[arg-type] # a Mapping: Locust copies it
            catch_response=True,
            stream=request.stream,
            context=context,
        ) as resp:
            try:
                result = self._conclude(resp, request, adapter, started)
            except (StopUser, StopTest, ConfigError):
                raise
            except Exception as exc:  # an adapter's bug must not drop the request
                _warn_once(exc)
                resp.failure(InferenceFailure(f"cannot judge the answer: {exc!r}"))
                result = None
            if result is not None and result.ok:
                _record(context[CONTEXT_KEY], result)
            return result

    def _conclude(
        self, resp: Any, request: HttpRequest, adapter: Adapter, started: float
    ) -> InferenceResult | None:
        error = resp.request_meta.get("exception")
        status = int(resp.status_code or 0)
        if status == 0:  # no HTTP answer at all
            resp.failure(_cause(error) if error is not None else InferenceFailure("no answer"))
            return None
        if request.stream and 200 <= status < 300:
            return self._conclude_stream(resp, adapter, started, status)
        # A failure status's body was already read (geventhttpclient logs it), streamed or not.
        if error is not None and 200 <= status < 300:  # the body could not be read
            resp.failure(_cause(error))
            return None
        try:
            body = resp.content or b""
        except Exception:  # an error answer whose body was dropped before it was read
            body = b""
        latency = resp.request_meta.get("response_time")
        # A plain dict: adapters look headers up by name, and geventhttpclient's
        # Headers are slow to scan for one that is absent.
        headers = dict(resp.headers.items()) if resp.headers is not None else {}
        return _judge(resp, adapter.parse(status, headers, body, latency_ms=latency))

    def _conclude_stream(
        self, resp: Any, adapter: Adapter, started: float, status: int
    ) -> InferenceResult:
        stream_parser: Callable[..., SseStream] | None = getattr(adapter, "stream_parser", None)
        if stream_parser is None:
            raise ConfigError(f"{type(adapter).__name__} cannot parse a streamed answer")
        parser = stream_parser(started, status=status)
        raw = resp._response
        failure: Exception | None = None
        try:
            while not (parser.done or parser.failed):
                chunk = _read_some(raw)
                if not chunk:
                    break
                parser.feed(chunk, time.perf_counter())
        except Exception as exc:  # a network timeout, a reset, a body cut mid-chunk
            failure = exc
        end = time.perf_counter()
        result = parser.finish(end)
        if parser.done and failure is None:
            _drain(raw)
        if not raw.message_complete:
            _discard(raw)
        meta = resp.request_meta
        meta["response_time"] = (
            result.latency_ms if result.latency_ms is not None else (end - started) * 1000.0
        )
        meta["response_length"] = parser.bytes_received
        if failure is not None and classify(None, failure) == "timeout":
            resp.failure(failure)
            return result
        return _judge(resp, result)


_warned: set[type[BaseException]] = set()


def _warn_once(exc: Exception) -> None:
    if type(exc) not in _warned:
        _warned.add(type(exc))
        logger.warning(
            "locust-ml: judging an answer raised %r (counted as a failure)",
            exc,
            exc_info=exc,
        )


def _judge(resp: Any, result: InferenceResult) -> InferenceResult:
    if result.ok:
        resp.success()
    else:
        kind = InferenceTimeout if result.error_class == "timeout" else InferenceFailure
        resp.failure(kind(result.error or str(result.error_class)))
    return result


def _record(ml: dict[str, Any], result: InferenceResult) -> None:
    """The ML fields of a successful answer into the request's context."""
    if result.tokens_in is not None:
        ml["tokens_in"] = result.tokens_in
    if result.tokens_out is not None:
        ml["tokens_out"] = result.tokens_out
    if result.ttft_ms is not None:
        ml["ttft_ms"] = result.ttft_ms
    if result.itl_ms:
        ml["itl_ms"] = list(result.itl_ms)


def _cause(error: Exception) -> Exception:
    """The error to classify: a POST's timeout arrives wrapped in ``RetriesExceeded``."""
    original = getattr(error, "original", None)
    return original if isinstance(original, Exception) else error


def _read_some(raw: Any) -> bytes:
    """What the body has delivered so far, waiting for at least one byte; b"" at its end.

    Works on geventhttpclient's response (its parser buffer ``_body_buffer``
    and socket ``_sock``; ``tests/unit/plugin/test_users.py`` pins this). A
    body cut short raises its ``HTTPParseError`` ("Incomplete response"), a
    network timeout the socket's timeout.
    """
    buf: bytearray = raw._body_buffer
    while not buf:
        sock = raw._sock
        if raw.message_complete or sock is None:
            return b""
        data = sock.recv(raw.block_size)
        raw.feed(data)
        if not data and not buf:
            return b""
    chunk = bytes(buf)
    del buf[:]
    return chunk


def _drain(raw: Any) -> None:
    """Read the end of a finished stream briefly, so its connection goes back to the pool."""
    with contextlib.suppress(Exception), gevent.Timeout(_DRAIN_SECONDS, False):
        while not raw.message_complete and _read_some(raw):
            pass


def _discard(raw: Any) -> None:
    """Close a connection whose body was not read to its end: it must not be reused."""
    sock, pool = getattr(raw, "_sock", None), getattr(raw, "_pool", None)
    raw._sock = raw._pool = None
    if sock is None:
        return
    if pool is not None:
        pool.release_socket(sock)  # closes it and frees its slot
    else:
        with contextlib.suppress(OSError):
            sock.close()


@functools.lru_cache(maxsize=32)
def _profile(source: str) -> Profile:
    return Profile.load(source)


def _profile_source(option: str | None, default: str | None) -> str | None:
    source = option if option is not None else default
    return None if not source or source.lower() == NO_PROFILE else source


# -- text ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TextSettings:
    """A text user's class attributes with the command line applied."""

    model: str
    protocol: str
    endpoint: str | None
    stream: bool
    profile: str | None
    prompt_from_profile: bool
    output_from_profile: bool


class TextUser(MLUser):
    """OpenAI-compatible ``/v1/chat/completions`` or ``/v1/completions``, streamed or not.

    Each request's prompt length and ``max_tokens`` are drawn jointly from
    ``profile`` (columns ``prompt_column``, ``output_column``), or from
    ``--ml-prompt-tokens``/``--ml-output-tokens`` without one; an explicit
    token option overrides its column. The prompt is natural-language-like
    text of exactly that many tokens. With ``stream``, the answer is read as
    it arrives and TTFT, ITL and tokens go into the report.

    A response counts as a failure unless the adapter accepts it: a JSON
    ``chat.completion`` (or a complete SSE stream) with non-empty generated
    text; token counts come from ``usage`` when the server sends it.
    """

    abstract = True
    model: ClassVar[str] = "summarizer"
    #: ``chat`` or ``completions`` (``--ml-protocol``).
    protocol: ClassVar[str] = "chat"
    #: Request path instead of the protocol's (``--ml-endpoint``).
    endpoint: ClassVar[str | None] = None
    #: Stream the answer (``--ml-stream on|off``).
    stream: ClassVar[bool] = False
    #: Size profile, bundled name or path (``--ml-profile``); None: the token options.
    profile: ClassVar[str | None] = None
    prompt_column: ClassVar[str] = "ContextTokens"
    output_column: ClassVar[str] = "GeneratedTokens"
    #: Chat only; None sends the user message alone.
    system_prompt: ClassVar[str | None] = "Summarize the user's text in a few sentences."
    #: Extra fields merged into every request body, e.g. ``{"ignore_eos": True}``
    #: (vLLM, the reference server) so the server generates ``max_tokens`` tokens.
    extra_body: ClassVar[dict[str, Any]] = {}
    #: Also send ``min_tokens = max_tokens`` with each request (vLLM, the reference server).
    min_tokens: ClassVar[bool] = False
    #: Sent as ``Authorization: Bearer ...`` (never logged).
    api_key: ClassVar[str | None] = None

    text_settings: TextSettings
    prompts: PromptGenerator
    api: ChatCompletions | Completions

    @classmethod
    def settings_for(cls, options: MLOptions) -> TextSettings:
        """This class's settings under ``options``; ConfigError/TraceError when they don't fit."""
        opts = options.users
        protocol = opts.protocol or cls.protocol
        if protocol not in TEXT_PROTOCOLS:
            raise ConfigError(
                f"{cls.__name__}: protocol {protocol!r} is not a text protocol; "
                f"expected one of {', '.join(TEXT_PROTOCOLS)} (--ml-protocol)"
            )
        source = _profile_source(opts.profile, cls.profile)
        prompt_from = source is not None and not opts.prompt_tokens_set
        output_from = source is not None and not opts.output_tokens_set
        if source is not None:
            prof = _profile(source)
            used = ((cls.prompt_column, prompt_from), (cls.output_column, output_from))
            wanted = [c for c, needed in used if needed and c not in prof.column_names]
            if wanted:
                raise ConfigError(
                    f"{cls.__name__}: profile {prof.name!r} has no column "
                    f"{', '.join(repr(c) for c in wanted)} (it has "
                    f"{', '.join(prof.column_names)}); set prompt_column/output_column, or "
                    "--ml-profile none to use --ml-prompt-tokens/--ml-output-tokens"
                )
        return TextSettings(
            model=opts.model or cls.model,
            protocol=protocol,
            endpoint=opts.endpoint or cls.endpoint,
            stream=cls.stream if opts.stream is None else opts.stream,
            profile=source,
            prompt_from_profile=prompt_from,
            output_from_profile=output_from,
        )

    def on_start(self) -> None:
        super().on_start()
        s = self.text_settings = self.settings_for(self.ml_options)
        self.prompts = PromptGenerator(self.rng.getrandbits(64))
        self._sampler = (
            _profile(s.profile).sampler(self.rng.getrandbits(63))
            if s.profile is not None and (s.prompt_from_profile or s.output_from_profile)
            else None
        )
        kwargs: dict[str, Any] = {
            "model": s.model,
            "stream": s.stream,
            "extra_body": dict(self.extra_body),
            "api_key": self.api_key,
        }
        if s.endpoint:
            kwargs["path"] = s.endpoint
        self.api = ChatCompletions(**kwargs) if s.protocol == "chat" else Completions(**kwargs)

    def lengths(self) -> tuple[int, int]:
        """``(prompt tokens, max_tokens)`` for the next request."""
        s, opts = self.text_settings, self.ml_options
        row = self._sampler.draw() if self._sampler is not None else None
        prompt = (
            int(row[self.prompt_column])
            if row is not None and s.prompt_from_profile
            else opts.prompt_tokens.sample(self.rng)
        )
        output = (
            int(row[self.output_column])
            if row is not None and s.output_from_profile
            else opts.output_tokens.sample(self.rng)
        )
        return max(prompt, 1), max(output, 1)

    def generate(self, *, name: str | None = None) -> InferenceResult | None:
        """Send one request of sampled lengths; the adapter's result, or None without an answer."""
        prompt_tokens, max_tokens = self.lengths()
        text = self.prompts.text(prompt_tokens)
        api = self.api
        if self.min_tokens:
            api = dataclasses.replace(api, extra_body={**api.extra_body, "min_tokens": max_tokens})
        if isinstance(api, ChatCompletions):
            messages = [{"role": "user", "content": text}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            request = api.request(messages, max_tokens=max_tokens, tokens_in=prompt_tokens)
        else:
            request = api.request(text, max_tokens=max_tokens, tokens_in=prompt_tokens)
        return self.send_request(request, api, name=name, tokens_in=prompt_tokens)

    def chat(self, *, name: str | None = None) -> InferenceResult | None:
        """The same as :meth:`generate` (the name earlier locustfiles call)."""
        return self.generate(name=name)


class ChatCompletionsUser(TextUser):
    """A :class:`TextUser`: chat, not streamed, lengths from the token options by default."""

    abstract = True


# -- images and audio ------------------------------------------------------------------


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


class _V2Bytes:
    """The request ``V2Model.request({name: data})`` makes for one encoded file, built faster.

    ``V2Model`` turns the bytes into a numpy object array and copies them
    three times: ~80 us at ImageNet sizes, a good share of what Locust spends
    on a request. This builds the same bytes (a test compares them): the
    JSON header is a template with the size filled in, and the payload's
    buffers are joined into the body once.
    """

    def __init__(
        self, model: V2Model, input_name: str, parameters: Mapping[str, Any], path: str | None
    ) -> None:
        doc: dict[str, Any] = {}
        params = dict(parameters)
        if model.binary_outputs and not model.outputs:
            params["binary_data_output"] = True
        if params:
            doc["parameters"] = params
        if model.outputs:
            doc["outputs"] = [
                {"name": n, "parameters": {"binary_data": model.binary_outputs}}
                for n in model.outputs
            ]
        entry: dict[str, Any] = {"name": input_name, "shape": [1], "datatype": "BYTES"}
        entry["parameters"] = {"binary_data_size": 0}
        head = json.dumps({**doc, "inputs": [entry]}, separators=(",", ":")).encode()
        cut = head.rindex(b'"binary_data_size":0}') + len(b'"binary_data_size":')
        self._prefix, self._suffix = head[:cut], head[cut + 1 :]
        self._headers = {**model.headers, "Content-Type": "application/octet-stream"}
        self.path = path or model.infer_path

    def __call__(self, payload: Payload) -> HttpRequest:
        size = payload.nbytes
        head = self._prefix + str(size + _LENGTH.size).encode() + self._suffix
        body = b"".join((head, _LENGTH.pack(size), *payload.parts))
        headers = {**self._headers, INFERENCE_HEADER: str(len(head))}
        return HttpRequest("POST", self.path, headers, body)


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

    Protocols (``protocol`` / ``--ml-protocol``): ``v2`` (a binary ``BYTES``
    tensor named ``input_name`` to ``/v2/models/{model}/infer``; any valid v2
    answer), ``torchserve`` (the file as the body of
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
    pool: PayloadPool

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
        source = _profile_source(opts.profile, cls.profile)
        columns, formats, fmt = (
            (("width", "height"), IMAGE_FORMATS, opts.image_format)
            if cls.kind == "image"
            else (("duration_s",), AUDIO_FORMATS, opts.audio_format)
        )
        if source is None:
            raise ConfigError(f"{cls.__name__}: {cls.kind} payloads need a size profile")
        prof = _profile(source)
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
        )

    def on_start(self) -> None:
        super().on_start()
        s = self.payload_settings = self.settings_for(self.ml_options)
        self.pool = payload_pool(s.pool, type(self).pool_factory)
        self._adapter, self._build = self._protocol(s)

    def _protocol(self, s: PayloadSettings) -> tuple[Adapter, Callable[[Payload], HttpRequest]]:
        check = type(self).check
        if s.protocol == "v2":
            model = V2Model(s.model)
            return model, _V2Bytes(model, self.input_name, self.parameters, s.endpoint)
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


@locust.events.init.add_listener
def _prepare_users(environment: Any, runner: Any = None, **_: Any) -> None:
    """Check every ML user's settings before the test, and build its payload pool.

    A bad setting is one line and exit 2 now rather than a user dying
    later. Pools are built here (not on a master: no users run there) so that
    a ramp's first step doesn't spend its time waiting for one.
    """
    from locust.runners import MasterRunner

    try:
        options = read_options(environment.parsed_options)
        for cls in environment.user_classes or ():
            if issubclass(cls, TextUser):
                cls.settings_for(options)
            elif issubclass(cls, PayloadUser):
                spec = cls.settings_for(options).pool
                if not isinstance(runner, MasterRunner):
                    payload_pool(spec, cls.pool_factory)
    except LocustMLError as exc:
        logger.error("locust-ml: %s", exc)
        raise SystemExit(EXIT_CONFIG) from None
