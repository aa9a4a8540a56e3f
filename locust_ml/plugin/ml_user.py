"""The base of locust-ml users: one request through a protocol adapter, counted once.

:class:`MLUser` is ``abstract = True``, like every library User: Locust runs
every concrete User class it finds in a locustfile, imported ones included,
so a base class that isn't abstract would silently join the test.

It uses ``FastHttpUser`` (geventhttpclient, ~4x cheaper per request than
``HttpUser``) because ML payloads make the load generator's CPU matter, and
it defaults to no wait time: in a closed-loop capacity test each user is one
request in flight, and the ramp sets the concurrency. The ML users built on
it (:mod:`~locust_ml.plugin.text_users`, :mod:`~locust_ml.plugin.payload_users`)
are thin: a protocol adapter (:mod:`locust_ml.protocols`) builds each
request and judges each answer, Locust's client sends it, and
:meth:`MLUser.send_request` ties the two together.

**Every request is counted once, and classified.** Each goes through
FastHttpUser's client with ``catch_response=True`` (or the direct path,
which fires the same event), so Locust's UI and CSVs see it, and our
request listener reads the ML fields from its ``context``.
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

**Large bodies are not copied.** A request whose body is a
:class:`~locust_ml.protocols.base.BodyParts` (a pool's image behind a v2
header) is written with one ``sendmsg`` by :mod:`~locust_ml.plugin.vectored`,
which each user's client is given at construction, and takes the direct
path (:mod:`~locust_ml.plugin.direct`: its head made once, Locust's session
layers skipped, the request event fired here with the fields Locust gives
it) unless something needs those layers (``direct_sends = False`` turns it
off).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import random
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import gevent
from gevent import GreenletExit
from locust import constant
from locust.contrib.fasthttp import (
    FAILURE_EXCEPTIONS,
    ErrorResponse,
    FastHttpUser,
    LocustUserAgent,
)
from locust.exception import StopTest, StopUser

from locust_ml.analysis.status import classify
from locust_ml.errors import ConfigError
from locust_ml.options import NO_PROFILE, MLOptions, read_options
from locust_ml.plugin.direct import DirectSender, Redirected
from locust_ml.plugin.messages import CONTEXT_KEY
from locust_ml.plugin.run import load_side
from locust_ml.plugin.shapes import effective_arrival
from locust_ml.plugin.vectored import PartsUserAgent
from locust_ml.protocols.base import BodyParts, HttpRequest, InferenceResult, ResponseParser
from locust_ml.protocols.openai import SseStream
from locust_ml.report.redact import header_secrets, redact_text
from locust_ml.traces.profile import Profile

__all__ = [
    "Adapter",
    "InferenceFailure",
    "InferenceTimeout",
    "MLUser",
    "load_profile",
    "profile_source",
]

_user_numbers = itertools.count()
logger = logging.getLogger("locust_ml")

#: After ``data: [DONE]``, how long to wait for the end of the body so the
#: connection can be reused; past it, the connection is closed instead.
_DRAIN_SECONDS = 0.25


class InferenceFailure(Exception):
    """An answer the protocol adapter rejected; the message says why.

    Given to Locust's ``response.failure``: with a 2xx status the request is
    classed ``invalid``, with a 4xx/5xx by its status (``shed``,
    ``client_error``, ``server_error``).
    """


class InferenceTimeout(InferenceFailure):
    """A timeout the server reported inside a 2xx answer (an SSE error event): ``timeout``."""


#: What :meth:`MLUser.send_request` needs from a protocol adapter: its ``parse``.
Adapter = ResponseParser


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
    #: Send bodies made of parts (v2 file requests) on the direct path when it
    #: applies (see plugin/direct.py); False: always through Locust's session.
    direct_sends: ClassVar[bool] = True

    ml_options: MLOptions
    rng: random.Random

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        # Bodies made of parts go out in one sendmsg (see plugin/vectored.py);
        # a client someone replaced gets them joined instead.
        agent = self.client.client
        if type(agent) is LocustUserAgent:
            agent.__class__ = PartsUserAgent
        self._sends_parts = isinstance(agent, PartsUserAgent)
        self._direct = (
            DirectSender(self.client) if self._sends_parts and type(self).direct_sends else None
        )
        #: Open loop: the intended send time of the arrival each greenlet runs.
        self._intended: dict[Any, float] = {}

    def on_start(self) -> None:
        # Options reach workers with the spawn message, so read them here,
        # not at import or init time.
        self.ml_options = read_options(self.environment.parsed_options)
        side = load_side(self.environment)
        #: Counts each send, so requests still in flight when a step ends are known.
        self._recorder = side.recorder if side is not None else None
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0) if runner is not None else 0
        # str seeds are hashed with SHA-512 by random.Random: stable across runs.
        self.rng = random.Random(f"{self.ml_options.seed}:{worker}:{next(_user_numbers)}")

    # -- open loop -------------------------------------------------------------
    def run(self) -> None:  # type: ignore[misc] # final in Locust; open loop must not loop
        if not effective_arrival(self.environment).is_open:
            super().run()
            return
        side = load_side(self.environment)
        driver = side.driver if side is not None else None
        if driver is None:
            raise ConfigError("open-loop users need the locust-ml plugin's arrival driver")
        for task in self.tasks:
            if isinstance(task, type):
                raise ConfigError(
                    f"{type(self).__name__}: open-loop tests run @task methods, not nested "
                    f"TaskSets ({task.__name__})"
                )
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
        if self._intended:
            intended = self._intended.get(gevent.getcurrent())
            if intended is not None:
                fields["intended"] = intended
        return {CONTEXT_KEY: fields}

    # -- one request through an adapter ------------------------------------------
    def send_request(
        self, request: HttpRequest, adapter: Adapter, *, name: str | None = None, **fields: Any
    ) -> InferenceResult | None:
        """Send ``request``, judge the answer with ``adapter``, fire one request event.

        ``fields`` go into the ML context (``tokens_in=...``); ``bytes_sent``
        is the body's size unless given. A streamed request (``request.stream``) needs an
        adapter with ``stream_parser`` (the OpenAI ones). Returns the
        adapter's result (ok or not), or None when no answer came (timeout,
        refused or reset connection, not HTTP).
        """
        body = request.body
        # Locust's rename_request() groups requests under one name, as for its own users.
        name = name or self.client.request_name or request.path
        fields.setdefault("bytes_sent", len(body))
        if self._intended:  # open loop: latency from the intended send time
            intended = self._intended.get(gevent.getcurrent())
            if intended is not None:
                fields["intended"] = intended
        context = {CONTEXT_KEY: fields}  # what ml_context(**fields) gives, without the call
        recorder = getattr(self, "_recorder", None)
        if recorder is not None:
            recorder.count_sent()
        headers = request.headers
        direct = self._direct
        if (
            direct is not None
            and type(body) is BodyParts
            and not request.stream
            and direct.usable(headers)
        ):
            try:
                return self._send_direct(request, body, adapter, name, context)
            except Redirected:
                pass  # Locust's session follows it
        if request.stream:
            # Compressed bytes can't be parsed as they arrive.
            headers = {"Accept-Encoding": "identity", **headers}
        if type(body) is BodyParts and not self._sends_parts:
            body = bytes(body)
        started = time.perf_counter()
        with self.client.request(
            request.method,
            request.path,
            name=name,
            data=body,  # type: ignore[arg-type] # bytes, or parts for PartsUserAgent
            headers=headers,  # type: ignore[arg-type] # a Mapping: Locust copies it
            catch_response=True,
            stream=request.stream,
            context=context,
        ) as resp:
            return self._judged(resp, request, adapter, started, context)

    def _send_direct(
        self,
        request: HttpRequest,
        body: BodyParts,
        adapter: Adapter,
        name: str,
        context: dict[str, Any],
    ) -> InferenceResult | None:
        """:meth:`send_request` on the direct path: the request event is fired here.

        It carries what ``FastHttpSession.request`` would give it: the user's
        ``context()`` merged in, the name, the response (Locust's
        ``FastResponse``), the times, and the exception the judgment leaves
        (as ``response.success()``/``failure()`` would).
        """
        session = self.client
        meta: dict[str, Any] = {
            "request_type": request.method,
            "name": name,
            "context": {**self.context(), **context},
            "response": None,
            "exception": None,
            "start_time": time.time(),
            "url": None,
            "response_length": 0,
        }
        started = time.perf_counter()
        try:
            meta["response"], meta["url"] = self._direct.send(  # type: ignore[union-attr]
                request.method, request.path, request.headers, body
            )
        except FAILURE_EXCEPTIONS as exc:  # no answer: refused, reset, timed out, not HTTP
            meta["exception"] = exc
            meta["url"] = url = session._build_url(request.path)
            # What Locust's session hands listeners then: a response with status 0.
            meta["response"] = ErrorResponse(session.client._make_request(url, request.method), exc)
        else:
            try:
                content = meta["response"].content
                meta["response_length"] = len(content) if content else 0
            except FAILURE_EXCEPTIONS as exc:  # the body was cut short
                meta["exception"] = exc
        meta["response_time"] = (time.perf_counter() - started) * 1000.0
        result = self._judged(_DirectAnswer(meta), request, adapter, started, context)
        session.request_event.fire(**meta)
        return result

    def _judged(
        self,
        resp: Any,
        request: HttpRequest,
        adapter: Adapter,
        started: float,
        context: dict[str, Any],
    ) -> InferenceResult | None:
        """Judge an answer (either path), the ML fields of a good one into ``context``.

        An adapter that raises is a bug in it, not in the target: the request
        is still counted, as a failure that says so (warned once per type).
        """
        try:
            result = self._conclude(resp, request, adapter, started)
        except (StopUser, StopTest, ConfigError):
            raise
        except Exception as exc:  # an adapter's bug must not drop the request
            _warn_once(exc)
            resp.failure(
                self._failure(request, InferenceFailure, f"cannot judge the answer: {exc!r}")
            )
            result = None
        if result is not None and result.ok:
            _record(context[CONTEXT_KEY], result)
        return result

    def _failure(self, request: HttpRequest, kind: type[InferenceFailure], message: str) -> Any:
        """A failure for Locust whose message holds none of the credentials sent.

        A target that echoes the request's key in an error body (a 401 that
        quotes it) would otherwise put it in Locust's error table, its
        ``--html`` and ``--csv`` files, and our report: the request event
        carries this message. The key is known here (the request's
        ``Authorization`` or other secret-looking headers, Locust's basic
        auth), so it is replaced literally, whatever its length; key-shaped
        text goes too (:func:`~locust_ml.report.redact.redact_text`).
        """
        secrets = header_secrets(request.headers)
        auth = getattr(self.client, "auth_header", None)
        if isinstance(auth, str) and auth:
            secrets = (*secrets, *header_secrets({"Authorization": auth}))
        return kind(redact_text(message, secrets))

    def _conclude(
        self, resp: Any, request: HttpRequest, adapter: Adapter, started: float
    ) -> InferenceResult | None:
        error = resp.request_meta.get("exception")
        status = int(resp.status_code or 0)
        if status == 0:  # no HTTP answer at all
            resp.failure(_cause(error) if error is not None else InferenceFailure("no answer"))
            return None
        if request.stream and 200 <= status < 300:
            return self._conclude_stream(resp, request, adapter, started, status)
        # A failure status's body was already read (geventhttpclient logs it), streamed or not.
        if error is not None and 200 <= status < 300:  # the body could not be read
            resp.failure(_cause(error))
            return None
        try:
            body = resp.content or b""
        except Exception:  # an error answer whose body was dropped before it was read
            body = b""
        latency = resp.request_meta.get("response_time")
        headers = _ResponseHeaders(resp.headers) if resp.headers is not None else {}
        return self._judge(resp, request, adapter.parse(status, headers, body, latency_ms=latency))

    def _judge(self, resp: Any, request: HttpRequest, result: InferenceResult) -> InferenceResult:
        if result.ok:
            resp.success()
        else:
            kind = InferenceTimeout if result.error_class == "timeout" else InferenceFailure
            resp.failure(self._failure(request, kind, result.error or str(result.error_class)))
        return result

    def _conclude_stream(
        self, resp: Any, request: HttpRequest, adapter: Adapter, started: float, status: int
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
        return self._judge(resp, request, result)


class _DirectAnswer:
    """What :meth:`MLUser._conclude` reads of Locust's ``ResponseContextManager``, for a
    direct send: the request's meta, the response's status, body and headers, and
    ``success``/``failure``, which set the exception the request event carries."""

    __slots__ = ("request_meta",)

    def __init__(self, request_meta: dict[str, Any]) -> None:
        self.request_meta = request_meta

    @property
    def status_code(self) -> int:
        response = self.request_meta["response"]
        return 0 if response is None else int(response.status_code)

    @property
    def content(self) -> bytes | None:
        response = self.request_meta["response"]
        return None if response is None else response.content

    @property
    def headers(self) -> Any:
        response = self.request_meta["response"]
        return None if response is None else response.headers

    def success(self) -> None:
        self.request_meta["exception"] = None

    def failure(self, exc: Exception) -> None:
        self.request_meta["exception"] = exc


class _ResponseHeaders(Mapping[str, str]):
    """geventhttpclient's response headers as adapters read them, without a copy.

    Names are looked up case-insensitively (``case_insensitive`` tells
    :func:`~locust_ml.protocols.base.header` not to scan for an absent one),
    and a repeated header reads as its last value, as ``dict(headers.items())``
    would give it.
    """

    __slots__ = ("_headers",)
    case_insensitive = True

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def __getitem__(self, name: str) -> str:
        value = self._headers[name]
        return str(value[-1] if type(value) is list else value)

    def get(self, name: str, default: Any = None) -> Any:
        if isinstance(name, str) and name in self._headers:  # no KeyError raised and caught
            return self[name]
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._headers

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._headers.items()))

    def __len__(self) -> int:
        return len(dict(self._headers.items()))


_warned: set[type[BaseException]] = set()


def _warn_once(exc: Exception) -> None:
    if type(exc) not in _warned:
        _warned.add(type(exc))
        logger.warning(
            "locust-ml: judging an answer raised %r (counted as a failure)",
            exc,
            exc_info=exc,
        )


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
def load_profile(source: str) -> Profile:
    """A size profile by bundled name or path, loaded once per process."""
    return Profile.load(source)


def profile_source(option: str | None, default: str | None) -> str | None:
    """The profile a user class reads: the option's, else its own; None for ``none``."""
    source = option if option is not None else default
    return None if not source or source.lower() == NO_PROFILE else source
