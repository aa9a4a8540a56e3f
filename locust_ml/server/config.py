"""Options of the reference server, their validation, and its analytic capacity.

The CLI imports this module to build ``locust-ml serve --help``, so it imports
only the standard library and :mod:`locust_ml.errors`: no FastAPI, no numpy.

:class:`ServerConfig` is the single source of truth: the argparse options take
their defaults from its fields, and validation lives in its ``__post_init__`` so
a config built in a test is checked the same way as one built from the command
line. Error messages name the option as the user typed it.

``--model-name`` defaults to the backend's own name (``summarizer`` for both
text backends, so that existing clients keep working; ``image-classifier`` and
``speech`` for the models served over the Open Inference Protocol v2).

The simulated backend's capacity is known in closed form, which is what makes it
useful as ground truth for knee and capacity detection::

    >>> cfg = ServerConfig(backend="simulated", base_ms=20, per_item_ms=5, max_batch_size=8)
    >>> round(saturation_rps(cfg), 3)   # 8 requests per 60 ms batch
    133.333
    >>> unloaded_latency_ms(cfg)        # 5 ms batch window + 20 + 5 ms for a batch of one
    30.0

With a prefill cost per uncached prompt token (``--per-prompt-token-ms``),
every request adds ``per_prompt_token_ms`` times its prompt tokens the
prefix cache did not hold, so capacity depends on the workload's mean
uncached prompt length ``U``::

    >>> sim = ServerConfig(backend="simulated", base_ms=20, per_item_ms=5, max_batch_size=8,
    ...                    per_prompt_token_ms=0.01)
    >>> round(saturation_rps(sim, uncached_tokens=1000), 3)   # 8 per (20 + 8 x (5 + 10)) ms
    57.143
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from locust_ml.errors import ConfigError

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL_NAMES",
    "ONESHOT_BACKENDS",
    "ServerConfig",
    "add_server_arguments",
    "config_from_args",
    "saturation_rps",
    "unloaded_latency_ms",
]

#: The model backends ``--backend`` accepts.
BACKENDS = ("summarizer", "simulated", "image-classifier", "speech")

#: Backends that answer one request with one model call (no tokens), served
#: over the Open Inference Protocol v2 with dynamic batching.
ONESHOT_BACKENDS = ("image-classifier", "speech")

#: ``--model-name`` when it isn't given, per backend.
DEFAULT_MODEL_NAMES = {
    "summarizer": "summarizer",
    "simulated": "summarizer",
    "image-classifier": "image-classifier",
    "speech": "speech",
}

#: Largest ``max_tokens`` a request may ask for (the OpenAI-style API's limit).
MAX_TOKENS_LIMIT = 4096


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``locust-ml serve`` can be told; see ``docs/reference-server.md``.

    Times carry their unit in the name (``_ms``, ``_s``, ``_seconds``), sizes in
    bytes or tokens. Construction validates every field and raises
    :class:`~locust_ml.errors.ConfigError` naming the option. An empty
    ``model_name`` becomes the backend's default (:data:`DEFAULT_MODEL_NAMES`).
    """

    backend: str = "summarizer"
    model_name: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    port_file: str | None = None
    #: Stop when the process that started this one exits (an embedded server
    #: must not outlive a load generator that was killed with SIGKILL).
    exit_with_parent: bool = False
    access_log: bool = False
    blas_threads: int = 1
    # Scheduling, shared by both backends.
    max_batch_size: int = 8
    max_queue_delay_ms: float = 5.0
    queue_limit: int = 64
    request_timeout_s: float = 60.0
    load_seconds: float = 0.0
    max_body_bytes: int = 8 * 1024 * 1024
    max_prompt_tokens: int = 16384
    #: Prefix cache size in 512-token blocks (0: off); see server/prefix_cache.py.
    prefix_cache_blocks: int = 4096
    # Simulated backend: service time of one batch = base_ms + per_item_ms * size.
    base_ms: float = 20.0
    per_item_ms: float = 5.0
    #: ... plus this per prompt token the prefix cache did not hold (prefill).
    per_prompt_token_ms: float = 0.0
    instances: int = 1
    # Summarizer backend: the size of its dense cost model.
    model_dim: int = 768
    model_layers: int = 4
    seed: int = 0
    # One-shot backends (image classifier, speech): the largest input accepted.
    max_image_pixels: int = 16_777_216
    max_audio_seconds: float = 120.0

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        if self.model_name == "":
            object.__setattr__(self, "model_name", DEFAULT_MODEL_NAMES[self.backend])
        _check_name("model_name", self.model_name)
        _check_name("host", self.host)
        _check_int("port", self.port, 0, 65535)
        _check_int("blas_threads", self.blas_threads, 1, 256)
        _check_int("max_batch_size", self.max_batch_size, 1, 1024)
        _check_number("max_queue_delay_ms", self.max_queue_delay_ms, 0.0, 60_000.0)
        _check_int("queue_limit", self.queue_limit, 1, 1_000_000)
        _check_number("request_timeout_s", self.request_timeout_s, 0.0, 86_400.0, open_low=True)
        _check_number("load_seconds", self.load_seconds, 0.0, 86_400.0)
        _check_int("max_body_bytes", self.max_body_bytes, 1024, 1024**3)
        _check_int("max_prompt_tokens", self.max_prompt_tokens, 1, 10_000_000)
        _check_int("prefix_cache_blocks", self.prefix_cache_blocks, 0, 2**31)
        _check_number("base_ms", self.base_ms, 0.0, 3_600_000.0)
        _check_number("per_item_ms", self.per_item_ms, 0.0, 3_600_000.0)
        _check_number("per_prompt_token_ms", self.per_prompt_token_ms, 0.0, 60_000.0)
        if self.base_ms + self.per_item_ms <= 0.0:
            raise ConfigError(
                "--base-ms and --per-item-ms can't both be 0: "
                "a batch must take some time (expected base_ms + per_item_ms > 0)"
            )
        _check_int("instances", self.instances, 1, 256)
        _check_int("model_dim", self.model_dim, 8, 8192)
        _check_int("model_layers", self.model_layers, 1, 64)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("max_image_pixels", self.max_image_pixels, 16, 1 << 30)
        _check_number("max_audio_seconds", self.max_audio_seconds, 0.0, 86_400.0, open_low=True)
        if self.port_file is not None and not isinstance(self.port_file, str):
            raise ConfigError(f"--port-file must be a path, got {self.port_file!r}")

    def describe(self) -> str:
        """The short summary ``serve`` prints after ``listening on ...``."""
        parts = [f"backend={self.backend}", f"model={self.model_name}"]
        parts.append(f"max_batch_size={self.max_batch_size}")
        parts.append(f"max_queue_delay_ms={self.max_queue_delay_ms:g}")
        parts.append(f"queue_limit={self.queue_limit}")
        if self.backend == "simulated":
            parts.append(f"base_ms={self.base_ms:g}")
            parts.append(f"per_item_ms={self.per_item_ms:g}")
            if self.per_prompt_token_ms:
                parts.append(f"per_prompt_token_ms={self.per_prompt_token_ms:g}")
            parts.append(f"instances={self.instances}")
            parts.append(f"saturation_rps={saturation_rps(self):.1f}")
        elif self.backend in ONESHOT_BACKENDS:
            parts.append(f"instances={self.instances}")
            if self.backend == "image-classifier":
                parts.append(f"max_image_pixels={self.max_image_pixels}")
            else:
                parts.append(f"max_audio_seconds={self.max_audio_seconds:g}")
            parts.append(f"blas_threads={self.blas_threads}")
        else:
            parts.append(f"model_dim={self.model_dim}")
            parts.append(f"model_layers={self.model_layers}")
            parts.append(f"blas_threads={self.blas_threads}")
        if self.backend not in ONESHOT_BACKENDS:
            parts.append(f"prefix_cache_blocks={self.prefix_cache_blocks}")
        if self.load_seconds:
            parts.append(f"load_seconds={self.load_seconds:g}")
        return ", ".join(parts)


def saturation_rps(config: ServerConfig, *, uncached_tokens: float = 0.0) -> float:
    """Requests per second the simulated backend completes at saturation.

    ``X_sat = instances * B / ((base_ms + B * (per_item_ms + per_prompt_token_ms * U)) / 1000)``
    with ``B = max_batch_size`` and ``U`` = ``uncached_tokens``, the mean
    number of prompt tokens per request that the prefix cache did not hold
    (which matters only with ``per_prompt_token_ms``).

    At saturation every instance always finds at least ``max_batch_size``
    requests waiting, so it runs full batches back to back and each batch takes
    ``base_ms + per_item_ms * max_batch_size``. Assumptions: the waiting queue
    never runs empty (offered load above ``X_sat``, ``queue_limit`` at least
    ``instances * max_batch_size`` so shedding doesn't starve batches), and the
    HTTP layer and the load generator are not the bottleneck. Output token
    counts play no part, and prompt tokens only through ``U``.
    """
    per_request = config.per_item_ms + config.per_prompt_token_ms * uncached_tokens
    batch_ms = config.base_ms + per_request * config.max_batch_size
    return config.instances * config.max_batch_size / (batch_ms / 1000.0)


def unloaded_latency_ms(config: ServerConfig) -> float:
    """Service latency of a lone request on an idle simulated backend, in ms.

    An idle instance waits ``max_queue_delay_ms`` for a batch to form (unless
    ``max_batch_size`` is 1, when one request already fills it), then runs a batch
    of one for ``base_ms + per_item_ms``. HTTP overhead comes on top.
    """
    wait = config.max_queue_delay_ms if config.max_batch_size > 1 else 0.0
    return wait + config.base_ms + config.per_item_ms


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{_option(field)} must be one of {', '.join(choices)}; got {value!r}")


def _check_name(field: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ConfigError(
            f"{_option(field)} must be a non-empty string without spaces, got {value!r}"
        )


def _check_int(field: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{_option(field)} must be an integer, got {value!r} ({type(value).__name__})"
        )
    if not low <= value <= high:
        raise ConfigError(f"{_option(field)} must be an integer in [{low}, {high}], got {value}")


def _check_number(
    field: str, value: object, low: float, high: float, *, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"{_option(field)} must be a number, got {value!r} ({type(value).__name__})"
        )
    too_low = value <= low if open_low else value < low
    if not math.isfinite(value) or too_low or value > high:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        raise ConfigError(f"{_option(field)} must be a number {bound} and <= {high:g}, got {value}")


_DEFAULTS = ServerConfig()


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every ``locust-ml serve`` option to ``parser`` (defaults from ServerConfig)."""
    d = _DEFAULTS
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host", metavar="HOST", default=d.host, help="interface to bind (0.0.0.0 for all)"
    )
    net.add_argument(
        "--port",
        metavar="PORT",
        type=int,
        default=d.port,
        help="TCP port to bind; 0 picks a free port",
    )
    net.add_argument(
        "--port-file",
        default=d.port_file,
        metavar="PATH",
        help="write the bound port number to PATH (atomically) once listening",
    )
    net.add_argument(
        "--exit-with-parent",
        action="store_true",
        default=d.exit_with_parent,
        help="shut down when the process that started the server exits (embedded use)",
    )
    net.add_argument(
        "--access-log", action="store_true", default=d.access_log, help="log every request"
    )
    net.add_argument(
        "--max-body-bytes",
        metavar="BYTES",
        type=int,
        default=d.max_body_bytes,
        help="largest request body in bytes; larger bodies get 413",
    )
    net.add_argument(
        "--request-timeout-s",
        metavar="SECONDS",
        type=float,
        default=d.request_timeout_s,
        help="seconds a request may wait and run before it is answered 504",
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--backend",
        choices=BACKENDS,
        default=d.backend,
        help="summarizer: a real CPU extractive summarizer with a dense cost model; "
        "simulated: an exact service-time model (base + per-item x batch); "
        "image-classifier: decodes JPEG/PNG, a numpy CNN whose cost grows with pixels; "
        "speech: decodes WAV/FLAC, log-mel spectrogram and a numpy network whose cost "
        "grows with duration (the last two over the Open Inference Protocol v2)",
    )
    model.add_argument(
        "--model-name",
        metavar="NAME",
        default="",  # the backend's own name, resolved by ServerConfig
        help="model id served by the API; empty: the backend's own name "
        "(summarizer for summarizer and simulated)",
    )
    model.add_argument(
        "--load-seconds",
        metavar="SECONDS",
        type=float,
        default=d.load_seconds,
        help="cold start: seconds after bind before the model is ready (at least the build)",
    )
    model.add_argument(
        "--max-prompt-tokens",
        metavar="TOKENS",
        type=int,
        default=d.max_prompt_tokens,
        help="context limit in tokens; longer prompts get 400",
    )
    model.add_argument(
        "--prefix-cache-blocks",
        metavar="N",
        type=int,
        default=d.prefix_cache_blocks,
        help="text backends: blocks of 512 prompt tokens the prefix cache keeps (LRU); "
        "a prompt's leading cached blocks are not prefilled again; 0 turns it off",
    )
    model.add_argument(
        "--model-dim",
        metavar="D",
        type=int,
        default=d.model_dim,
        help="summarizer: width d of the dense layers (weights are d x d float32)",
    )
    model.add_argument(
        "--model-layers",
        metavar="L",
        type=int,
        default=d.model_layers,
        help="summarizer: number L of dense d x d layers per prefill and decode step",
    )
    model.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=d.seed,
        help="seed of the generated weights (summarizer, image-classifier, speech)",
    )
    model.add_argument(
        "--blas-threads",
        metavar="N",
        type=int,
        default=d.blas_threads,
        help="BLAS threads for the models' matmuls",
    )
    model.add_argument(
        "--max-image-pixels",
        metavar="PIXELS",
        type=int,
        default=d.max_image_pixels,
        help="image-classifier: largest image (width x height) accepted; larger get 413",
    )
    model.add_argument(
        "--max-audio-seconds",
        metavar="SECONDS",
        type=float,
        default=d.max_audio_seconds,
        help="speech: longest audio accepted; longer gets 413",
    )

    sched = parser.add_argument_group("batching and queueing")
    sched.add_argument(
        "--max-batch-size",
        metavar="N",
        type=int,
        default=d.max_batch_size,
        help="most requests in one batch (summarizer: active sequences per decode step)",
    )
    sched.add_argument(
        "--max-queue-delay-ms",
        metavar="MS",
        type=float,
        default=d.max_queue_delay_ms,
        help="milliseconds an idle model waits for a batch to fill before it starts",
    )
    sched.add_argument(
        "--queue-limit",
        metavar="N",
        type=int,
        default=d.queue_limit,
        help="most requests waiting (not yet running); beyond it requests get 503",
    )
    sim = parser.add_argument_group("simulated backend")
    sim.add_argument(
        "--base-ms",
        metavar="MS",
        type=float,
        default=d.base_ms,
        help="milliseconds every batch takes regardless of its size",
    )
    sim.add_argument(
        "--per-item-ms",
        metavar="MS",
        type=float,
        default=d.per_item_ms,
        help="milliseconds each request adds to its batch's execution time",
    )
    sim.add_argument(
        "--per-prompt-token-ms",
        metavar="MS",
        type=float,
        default=d.per_prompt_token_ms,
        help="milliseconds each prompt token not in the prefix cache adds to its batch "
        "(prefill; streamed tokens start after it)",
    )
    sim.add_argument(
        "--instances",
        metavar="N",
        type=int,
        default=d.instances,
        help="parallel model instances, each running one batch at a time "
        "(simulated: asyncio tasks; image-classifier, speech: worker threads)",
    )


def config_from_args(ns: argparse.Namespace) -> ServerConfig:
    """Build a validated :class:`ServerConfig` from parsed ``serve`` arguments.

    Raises :class:`~locust_ml.errors.ConfigError` naming the bad option.
    """
    values: dict[str, Any] = {}
    for field in dataclasses.fields(ServerConfig):
        if hasattr(ns, field.name):
            values[field.name] = getattr(ns, field.name)
    return ServerConfig(**values)
