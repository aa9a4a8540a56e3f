"""The option table: every ``--ml-*`` option, declared once.

Each option is a field of a frozen dataclass below, made with :func:`flag`:
the field is the option's name in code, its type and its default; the
metadata holds the flag, the parser, the help, and whether the web UI's
start form shows it. Everything else is generated from these fields:

* registration on Locust's parser (:func:`locust_ml.plugin.options.add_options`)
  and on ``locust-ml report``'s (:func:`add_group`), with the environment
  variable ``LOCUST_ML_<NAME>`` of each;
* parsing Locust's loosely typed values into a frozen :class:`MLOptions`
  (:func:`read_options`), each bad value one :class:`~locust_ml.errors.ConfigError`
  naming its flag;
* ``locust-ml options`` and ``docs/options.md`` (:func:`format_listing`,
  :func:`markdown_table`; a test fails when the doc and the table differ).

Options whose parameters belong together take one spec in the mini-language
of ``--ml-arrival`` (``--ml-shape ramp:start=1,max=64``, ``--ml-open-loop
senders=8,inflight=500``): the keys are the fields of one dataclass, written
once with :func:`locust_ml.config.key`.

A value left unset is ``None`` on Locust's side, so "not given" stays
visible (the locustfile's class attributes then decide); the field's
default is what an unset option means. Pure: no Locust import.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from locust_ml.config import (
    DEFAULT_PERCENTILES,
    Key,
    duration_range,
    format_value,
    int_range,
    key,
    non_negative,
    parse_duration,
    parse_keys,
    parse_percentiles,
    parse_switch,
    plain_text,
    positive,
    positive_duration,
    positive_int,
    positive_int_or_zero,
    spec_keys,
    split_keys,
)
from locust_ml.errors import ConfigError

if TYPE_CHECKING:
    from locust_ml.analysis.slo import SLO
    from locust_ml.arrivals import ArrivalSpec
    from locust_ml.payloads.lengths import LengthDistribution
    from locust_ml.shapes import ShapeChoice, ShapeSpec

__all__ = [
    "AUDIO_FORMATS",
    "IMAGE_FORMATS",
    "NO_PROFILE",
    "PROTOCOLS",
    "SERVER_BACKENDS",
    "ConversationSpec",
    "Decisions",
    "EncodingSpec",
    "Flag",
    "LoadOptions",
    "MLOptions",
    "OpenLoop",
    "ReportOptions",
    "ServerOptions",
    "TelemetryOptions",
    "TraceReplay",
    "UserOptions",
    "add_group",
    "flag",
    "flags",
    "format_listing",
    "groups",
    "ignored_options",
    "markdown_table",
    "read_given",
    "read_group",
    "read_options",
]

_T = TypeVar("_T")

#: Wire protocols of the ML users: text users speak the first two, payload users the rest.
PROTOCOLS: Final = ("chat", "completions", "v2", "v1", "torchserve", "multipart", "raw")
IMAGE_FORMATS: Final = ("jpeg", "png", "webp")
AUDIO_FORMATS: Final = ("wav", "flac")
#: ``--ml-profile none``: draw no sizes from a profile (text users use the token options).
NO_PROFILE: Final = "none"
SERVER_BACKENDS: Final = ("summarizer", "simulated", "image-classifier", "speech")

DEFAULT_PROMPT_TOKENS: Final = "lognormal:median=300,sigma=0.5,min=16,max=2000"
DEFAULT_OUTPUT_TOKENS: Final = "lognormal:median=48,sigma=0.4,min=8,max=256"


@dataclass(frozen=True)
class Flag:
    """One option's declaration (kept in its dataclass field's metadata)."""

    flag: str
    #: ``parse(value, flag)``: Locust's value (a string, or a list for a
    #: repeatable option given on the command line) into the field's type.
    parse: Callable[[Any, str], Any]
    help: str
    metavar: str = ""
    #: The label in the web UI's start form (short, plain); None: not in the form.
    form: str | None = None
    #: Among the options a person has to know (``locust-ml options`` lists them first).
    core: bool = False
    #: Repeatable on the command line (``--ml-slo A --ml-slo B``).
    repeat: bool = False
    #: The default as the listing shows it (None: formatted from the field's default).
    shown: str | None = None
    #: The fields of a spec option's dataclass (``--ml-open-loop KEY=VALUE,...``).
    keys: type | None = None
    #: The classes that read it, by name (user or shape classes; their
    #: subclasses too); empty: every run does. Given to a run with none of
    #: them, it would do nothing: the console says so (:func:`ignored_options`).
    readers: tuple[str, ...] = ()

    @property
    def dest(self) -> str:
        """The attribute Locust's parsed options keep the value in (``ml_slo``)."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable Locust reads the option from (``LOCUST_ML_SLO``)."""
        return "LOCUST_" + self.dest.upper()


def flag(default: _T, name: str, parse: Callable[[Any, str], _T], help: str, **kw: Any) -> _T:
    """A dataclass field that is an option: ``name`` parsed by ``parse``, with ``help``."""
    return field(default=default, metadata={"flag": Flag(name, parse, help, **kw)})


# --------------------------------------------------------------------- value parsers


def _text(value: Any, option: str) -> str | None:
    text = str(value).strip()
    return text or None


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, option: str) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ConfigError(f"{option}: expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def _number(low: float, high: float | None = None) -> Callable[[Any, str], float]:
    def parse(value: Any, option: str) -> float:
        x = positive(str(value), option) if low > 0 else _finite(value, option)
        if x < low or (high is not None and x > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise ConfigError(f"{option}: must be {bound}, got {value!r}")
        return x

    return parse


def _finite(value: Any, option: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ConfigError(f"{option}: expected a finite number, got {value!r}")
    return x


def _whole(low: int, high: int) -> Callable[[Any, str], int]:
    def parse(value: Any, option: str) -> int:
        x = _finite(value, option)
        if x != int(x) or not low <= x <= high:
            raise ConfigError(f"{option}: expected a whole number {low}-{high}, got {value!r}")
        return int(x)

    return parse


def _seed(value: Any, option: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{option}: expected an integer, got {value!r}") from None


def _slos(value: Any, option: str) -> tuple[SLO, ...]:
    """SLOs from a list (command line) or one string (web form), each maybe comma-separated.

    No SLO contains a comma or a semicolon, so either separates them; empty
    parts are ignored.
    """
    items = [value] if isinstance(value, str) else list(value or ())
    texts = [
        part.strip()
        for item in items
        for part in str(item).replace(";", ",").split(",")
        if part.strip()
    ]
    from locust_ml.analysis.slo import parse_slos

    return parse_slos(texts, option=option)


def _strings(value: Any, option: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or ())
    return tuple(str(x).strip() for x in items if str(x).strip())


def _endpoint(value: Any, option: str) -> str | None:
    text = _text(value, option)
    if text is not None and not text.startswith(("/", "http://", "https://")):
        raise ConfigError(
            f"{option}: expected a path starting with / (or an http(s):// URL), got {text!r}"
        )
    return text


def _lengths(value: Any, option: str) -> LengthDistribution:
    from locust_ml.payloads.lengths import LengthDistribution

    return LengthDistribution.parse(str(value), option=option)


def _shape(value: Any, option: str) -> ShapeChoice:
    from locust_ml.shapes import parse_shape

    return parse_shape(str(value), option=option)


def _arrival(value: Any, option: str) -> ArrivalSpec:
    from locust_ml.arrivals import parse_arrival

    return parse_arrival(str(value), option=option)


def _spec(cls: type[_T], bare: str | None = None) -> Callable[[Any, str], _T]:
    """A parser of ``KEY=VALUE,...`` into the keys dataclass ``cls`` (``bare``: the key
    a first value without ``KEY=`` is for)."""

    def parse(value: Any, option: str) -> _T:
        keys = split_keys(str(value), option=option, bare=bare)
        return cls(**parse_keys(cls, keys, option=option, what=""))

    return parse


def _word(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    """A spec key's parser: one of ``choices``, case-insensitive."""

    def parse(text: str, where: str) -> str:
        word = text.strip().lower()
        if word not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {text!r}")
        return word

    return parse


def _given_keys(cls: type, *, bare: str | None = None) -> Callable[[Any, str], dict[str, Any]]:
    """A parser of ``KEY=VALUE,...`` into the keys given, typed (the user class's
    attributes fill in the rest, as a shape class's do for ``--ml-shape``)."""

    def parse(value: Any, option: str) -> dict[str, Any]:
        return parse_keys(
            cls, split_keys(str(value), option=option, bare=bare), option=option, what=""
        )

    return parse


def _exporter(value: Any, option: str) -> tuple[str, int]:
    text = str(value).strip()
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host = "127.0.0.1"
    port = _whole(0, 65535)(port_text, option)
    return host.strip("[]") or "127.0.0.1", port


def _duration(value: Any, option: str) -> float:
    return parse_duration(str(value), option=option)


# --------------------------------------------------------------------- the groups


@dataclass(frozen=True)
class ConversationSpec:
    """A conversation workload (``--ml-conversation KEY=VALUE,...``; keys below)."""

    turns: tuple[int, int] = key(
        (4, 4),
        int_range,
        "turns per conversation: N, or LOW-HIGH drawn uniformly (a dataset's conversations "
        "keep their own)",
        shown="4",
    )
    think: tuple[float, float] = key(
        (1.0, 1.0),
        duration_range,
        "time between an answer and the next turn: TIME, or LOW-HIGH drawn uniformly",
        shown="1s",
    )
    system: int = key(
        0,
        positive_int_or_zero,
        "shared system prompts in the pool (0: none; a dataset's own system prompt wins)",
    )
    system_tokens: tuple[int, int] = key(
        (1024, 1024),
        int_range,
        "each system prompt's length in tokens: N, or LOW-HIGH drawn once per prompt",
        shown="1024",
    )
    zipf: float = key(
        1.0,
        non_negative,
        "popularity of the system prompts: the i-th is picked with weight 1/i^zipf (0: all alike)",
    )
    dataset: str | None = key(
        None,
        plain_text,
        "a file of JSONL prompts or ShareGPT/OpenAI conversations whose messages and answer "
        "lengths are sent instead of generated ones",
        shown="none",
    )


@dataclass(frozen=True)
class TraceReplay:
    """A Mooncake trace to replay (``--ml-trace FILE,limit=N,time_scale=S``)."""

    path: str = key("", plain_text, "the trace file (Mooncake JSON Lines)", shown="required")
    limit: int | None = key(None, positive_int, "replay only its first N requests", shown="all")
    time_scale: float = key(
        1.0, positive, "stretch its times: 2 plays it at half speed, 0.5 at double"
    )


def _trace(value: Any, option: str) -> TraceReplay:
    given = _given_keys(TraceReplay, bare="path")(value, option)
    if not given.get("path"):
        raise ConfigError(f"{option}: expected FILE[,limit=N][,time_scale=S], got {value!r}")
    return TraceReplay(**given)


@dataclass(frozen=True)
class OpenLoop:
    """How the open-loop senders run (``--ml-open-loop KEY=VALUE,...``)."""

    senders: int | None = key(
        None,
        positive_int,
        "Locust users sending the arrivals (each runs many requests at once); "
        "default: 8, and at least one per worker",
        shown="8",
    )
    inflight: int = key(
        1000,
        positive_int,
        "requests in flight per worker at most; arrivals beyond it wait (late), "
        "and are dropped past lateness",
    )
    lateness: float = key(
        10.0,
        positive_duration,
        "an arrival that can't be sent this long after its intended time is dropped and counted",
    )


@dataclass(frozen=True)
class EncodingSpec:
    """How image and audio users send v2 tensors (``--ml-encoding WIRE[,KEY=VALUE,...]``)."""

    wire: str = key(
        "auto",
        _word(("auto", "binary", "json")),
        "binary (the binary tensor data extension) or json (BYTES in base64); auto: binary "
        "only when GET /v2 lists binary_tensor_data. The first value may be given alone: "
        "--ml-encoding json",
    )
    input: str = key(
        "auto",
        _word(("auto", "file", "pixels", "pcm")),
        "file (the encoded file as BYTES), pixels (a decoded image tensor) or pcm (decoded "
        "audio samples); auto: from the model's input in GET /v2/models/{model} (BYTES: file, "
        "numbers: pixels or pcm)",
    )
    size: int = key(
        224,
        positive_int,
        "pixels: height and width where the model's input shape does not state them",
    )
    layout: str = key(
        "auto",
        _word(("auto", "nchw", "nhwc")),
        "pixels: NCHW or NHWC; auto: from the input shape (channels of 1 or 3 first or last), "
        "else NCHW",
    )
    rate: int = key(16000, positive_int, "pcm: the model's sample rate in Hz")


@dataclass(frozen=True)
class LoadOptions:
    """What load to offer and how, and what it is judged by."""

    TITLE: ClassVar[str] = "locust-ml load"
    ABOUT: ClassVar[str] = (
        "The test's shape (ramp, soak, spike, stages, capacity-search, each with its keys), "
        "closed loop (users) or open loop (an arrival rate), and the SLOs. Loads are users in "
        "closed loop and requests/s in open loop."
    )

    shape: ShapeChoice | None = flag(
        None,
        "--ml-shape",
        _shape,
        "The test: KIND[:KEY=VALUE,...] with KIND ramp, soak, spike, stages or "
        "capacity-search; a preset (smoke, quick-search, soak-1h, soak-8h, spike-5x, "
        "spike-10x) with keys of its own; or :KEY=VALUE,... for the locustfile's own kind. "
        "Keys not given keep the locustfile's shape class's values for its own kind, else the "
        "kind's defaults (see the keys below).",
        metavar="SPEC",
        form="Test: ramp:start=1,max=16 | capacity-search | soak:load=10,hold=1h | ...",
        core=True,
        shown="the locustfile's shape",
    )
    arrival: ArrivalSpec | None = flag(
        None,
        "--ml-arrival",
        _arrival,
        "closed (users loop: send, wait for the answer, repeat), or an open-loop arrival "
        "process: constant, poisson, gamma:cv=C (bursty), "
        "trace:path=FILE[,column=C][,time_scale=S][,loop=true].",
        metavar="PROCESS",
        form="closed (users), or open loop: constant, poisson, gamma:cv=2",
        core=True,
        shown="poisson in a capacity search, else the shape class's (closed)",
    )
    slos: tuple[SLO, ...] = flag(
        (),
        "--ml-slo",
        _slos,
        "A service-level objective (repeatable, or several separated by commas): p99<500ms, "
        "p99.9<2s, errors<1%, ttft_p99<300ms, itl_p95<50ms. Judges every step, the capacity "
        "search and the verdict; without an errors SLO, steps with over 1% errors fail.",
        metavar="EXPR",
        form="SLOs, comma-separated: p99<500ms, errors<1%",
        core=True,
        repeat=True,
        shown="none",
    )
    open_loop: OpenLoop = flag(
        OpenLoop(),
        "--ml-open-loop",
        _spec(OpenLoop),
        "Open loop's senders: KEY=VALUE,... (keys below).",
        metavar="KEYS",
        keys=OpenLoop,
        shown="senders=8,inflight=1000,lateness=10s",
    )
    step_hook: str | None = flag(
        None,
        "--ml-step-hook",
        _text,
        "Command run at each step start and end, with LOCUST_ML_STEP_EVENT/ID/USERS/RPS/"
        "MODE/LABEL/START/END in its environment (e.g. to start a profiler for one step).",
        metavar="CMD",
    )


@dataclass(frozen=True)
class UserOptions:
    """What the ML users send; unset values keep the user class's attributes."""

    TITLE: ClassVar[str] = "locust-ml users and payloads"
    ABOUT: ClassVar[str] = (
        "What TextUser, ImageUser and AudioUser send, and how. Unset values keep the user "
        "class's attributes."
    )

    model: str | None = flag(
        None,
        "--ml-model",
        _text,
        "Model name sent to the server.",
        metavar="NAME",
        form="Model name sent (empty: the user class's)",
        core=True,
        shown="the user class's",
    )
    endpoint: str | None = flag(
        None,
        "--ml-endpoint",
        _endpoint,
        "Request path, replacing the protocol's (e.g. /openai/v1/chat/completions); needed by "
        "the multipart and raw protocols.",
        metavar="PATH",
        core=True,
        shown="the protocol's",
    )
    protocol: str | None = flag(
        None,
        "--ml-protocol",
        _choice(PROTOCOLS),
        "Wire protocol: chat or completions (text users); v2, v1 (TF Serving / KServe v1 "
        ":predict), torchserve, multipart or raw (image and audio users).",
        metavar="PROTOCOL",
        core=True,
        shown="the user class's (chat; v2)",
    )
    stream: bool | None = flag(
        None,
        "--ml-stream",
        lambda value, option: parse_switch(str(value), option=option),
        "Text users: stream the answer (server-sent events) and record time to first token "
        "and inter-token latency.",
        metavar="on|off",
        core=True,
        shown="the user class's (off)",
        readers=("TextUser",),
    )
    profile: str | None = flag(
        None,
        "--ml-profile",
        _text,
        "Size profile the requests are drawn from: a bundled name (azure_conv, "
        "imagenet_image_sizes, librispeech_durations, ...), a profile file, or 'none' (text "
        "users then use --ml-prompt-tokens/--ml-output-tokens). Explicit token options "
        "override the profile's columns.",
        metavar="NAME|PATH",
        core=True,
        shown="the user class's",
    )
    prompt_tokens: LengthDistribution | None = flag(
        None,
        "--ml-prompt-tokens",
        _lengths,
        "Prompt length in tokens: const:N, uniform:LOW,HIGH or "
        "lognormal:median=M,sigma=S[,min=A][,max=B].",
        metavar="DIST",
        core=True,
        shown=DEFAULT_PROMPT_TOKENS,
        readers=("TextUser",),
    )
    output_tokens: LengthDistribution | None = flag(
        None,
        "--ml-output-tokens",
        _lengths,
        "Requested output length (max_tokens), same forms as --ml-prompt-tokens.",
        metavar="DIST",
        core=True,
        shown=DEFAULT_OUTPUT_TOKENS,
        readers=("TextUser",),
    )
    seed: int = flag(
        0, "--ml-seed", _seed, "Seed for payload sampling; each user derives its own.", metavar="N"
    )
    conversation: Mapping[str, Any] | None = flag(
        None,
        "--ml-conversation",
        _given_keys(ConversationSpec),
        "ConversationUser: each conversation's turns, think time, shared system prompts and "
        "dataset, KEY=VALUE,... (keys below; keys not given keep the user class's "
        "conversation attribute's). Each new message's length and max_tokens come from "
        "--ml-prompt-tokens/--ml-output-tokens unless a dataset gives them.",
        metavar="KEYS",
        keys=ConversationSpec,
        shown="turns=4,think=1s,system=0",
        readers=("ConversationUser",),
    )
    trace: TraceReplay | None = flag(
        None,
        "--ml-trace",
        _trace,
        "TraceReplayUser: the Mooncake trace to replay, FILE[,limit=N][,time_scale=S]: each "
        "request's prompt made of its 512-token prefix blocks, sent at the trace's times "
        "(stretched by time_scale) or at the shape's rate.",
        metavar="FILE[,KEYS]",
        keys=TraceReplay,
        shown="the user class's",
        readers=("TraceReplayUser", "TraceReplayShape"),
    )
    image_format: str | None = flag(
        None,
        "--ml-image-format",
        _choice(IMAGE_FORMATS),
        "Image users: jpeg, png or webp.",
        metavar="FORMAT",
        shown="the user class's (jpeg)",
        readers=("ImageUser",),
    )
    audio_format: str | None = flag(
        None,
        "--ml-audio-format",
        _choice(AUDIO_FORMATS),
        "Audio users: wav or flac.",
        metavar="FORMAT",
        shown="the user class's (wav)",
        readers=("AudioUser",),
    )
    pool_draws: int | None = flag(
        None,
        "--ml-pool-draws",
        lambda value, option: positive_int(str(value), option),
        "Image and audio users: size draws the payload pool is built from (more: closer to the "
        "profile, slower to build).",
        metavar="N",
        shown="the user class's",
        readers=("PayloadUser",),
    )
    encoding: EncodingSpec = flag(
        EncodingSpec(),
        "--ml-encoding",
        _spec(EncodingSpec, bare="wire"),
        "Image and audio users over v2: how payloads go (keys below). By default the server "
        "and model metadata decide, and the console says what was chosen and why.",
        metavar="KEYS",
        keys=EncodingSpec,
        shown="auto (wire=auto,input=auto,size=224,layout=auto,rate=16000)",
        readers=("PayloadUser",),
    )
    pool_max_mb: float | None = flag(
        None,
        "--ml-pool-max-mb",
        lambda value, option: positive(str(value), option),
        "Image and audio users: memory cap of the payload pool, in MiB.",
        metavar="MB",
        shown="the user class's",
        readers=("PayloadUser",),
    )

    @property
    def prompt_tokens_set(self) -> bool:
        """An explicit prompt length overrides the matching column of a profile."""
        return self.prompt_tokens is not None

    @property
    def output_tokens_set(self) -> bool:
        return self.output_tokens is not None


@dataclass(frozen=True)
class Decisions:
    """What the report concludes from the measurements: they change no measurement,
    so ``locust-ml report`` takes the same options to re-decide a saved run."""

    TITLE: ClassVar[str] = "locust-ml decisions"
    ABOUT: ClassVar[str] = (
        "What the report concludes from the measurements: required capacity, cost, replicas. "
        "locust-ml report takes the same options to re-decide a saved run."
    )

    price_per_hour: float | None = flag(
        None,
        "--ml-price-per-hour",
        _number(0.0),
        "Hourly price of one replica's instance; the report then gives the cost per 1M "
        "inferences (and per 1M output tokens) at SLO capacity.",
        metavar="USD",
        form="Price of one replica per hour, USD (for the cost)",
        core=True,
        shown="none",
    )
    instance: str | None = flag(
        None,
        "--ml-instance",
        _text,
        "Name of the instance type (e.g. g5.xlarge), shown with the cost and by locust-ml compare.",
        metavar="NAME",
        core=True,
        shown="none",
    )
    target_rps: float | None = flag(
        None,
        "--ml-target-rps",
        _number(0.0),
        "Peak requests/s to plan for; the report then gives the replicas needed.",
        metavar="RPS",
        form="Peak req/s to plan replicas for",
        core=True,
        shown="none",
    )
    min_capacity: float | None = flag(
        None,
        "--ml-min-capacity",
        _number(0.0),
        "Capacity tests (ramp, capacity-search) fail (exit 1) when the SLO capacity per "
        "replica is below this many requests/s.",
        metavar="RPS",
        core=True,
        shown="none",
    )
    target_utilization: float = flag(
        0.8,
        "--ml-target-utilization",
        _number(0.01, 1.0),
        "Fraction of SLO capacity each replica is planned to run at (headroom for bursts).",
        metavar="FRACTION",
    )
    redundancy: int = flag(
        1,
        "--ml-redundancy",
        _whole(0, 1000),
        "Spare replicas added to the plan: 1 for N+1, 2 for N+2.",
        metavar="N",
    )
    stability_tolerance: float = flag(
        0.25,
        "--ml-stability-tolerance",
        _number(0.01, 0.99),
        "A step whose median latency rises (or throughput falls) by more than this fraction "
        "across its windows, with a significant trend, is not stable: the search and the "
        "verdict reject it alike.",
        metavar="FRACTION",
    )


@dataclass(frozen=True)
class ReportOptions:
    """Where the report goes and which percentiles it shows."""

    TITLE: ClassVar[str] = "locust-ml report"
    ABOUT: ClassVar[str] = "The end-of-test report: report.html, report.json, report.md, steps.csv."

    report_dir: str | None = flag(
        None,
        "--ml-report-dir",
        _text,
        "Directory for the end-of-test report.",
        metavar="DIR",
        core=True,
        shown="reports/<locustfile>-<YYYYmmdd-HHMMSS>/",
    )
    percentiles: tuple[float, ...] = flag(
        DEFAULT_PERCENTILES,
        "--ml-percentiles",
        lambda value, option: parse_percentiles(str(value), option=option),
        "Latency percentiles in the report, comma-separated.",
        metavar="LIST",
    )


@dataclass(frozen=True)
class TelemetryOptions:
    """GPU and server metrics read on the master, and the Prometheus exporter."""

    TITLE: ClassVar[str] = "locust-ml telemetry"
    ABOUT: ClassVar[str] = (
        "GPU and server metrics read on the master during the test, and the Prometheus exporter."
    )

    scrape: tuple[str, ...] = flag(
        (),
        "--ml-scrape",
        _strings,
        "A Prometheus endpoint to read every interval (repeatable): DCGM exporter, Triton, "
        "vLLM, SGLang, a locust-ml gpu-agent... KIND (dcgm, triton, vllm, sglang, locust-ml, "
        "gpu-agent) is "
        "detected when omitted.",
        metavar="[KIND=]URL",
        core=True,
        repeat=True,
        shown="none",
    )
    exporter: tuple[str, int] | None = flag(
        None,
        "--ml-exporter",
        _exporter,
        "Serve live metrics for Prometheus on this port (0: any free port), on 127.0.0.1 "
        "unless a host is given.",
        metavar="[HOST:]PORT",
        core=True,
        shown="off",
    )
    nvml: str = flag(
        "auto",
        "--ml-nvml",
        _choice(("auto", "on", "off")),
        "Read local GPUs through NVML: auto (when an NVIDIA driver is present), on (warn when "
        "it can't), off.",
        metavar="auto|on|off",
    )
    interval: float = flag(
        1.0,
        "--ml-telemetry-interval",
        _duration,
        "Time between telemetry reads; 0 turns telemetry off.",
        metavar="TIME",
        shown="1s",
    )


@dataclass(frozen=True)
class ServerOptions:
    """The embedded reference server, started when there is no ``--host``."""

    TITLE: ClassVar[str] = "locust-ml embedded server"
    ABOUT: ClassVar[str] = (
        "Without --host, the reference inference server is started on a free loopback port."
    )

    backend: str | None = flag(
        None,
        "--ml-server-backend",
        _choice(SERVER_BACKENDS),
        "Backend of the embedded reference server.",
        metavar="BACKEND",
        core=True,
        shown="the users' (image-classifier for ImageUser, speech for AudioUser), else summarizer",
    )
    args: str = flag(
        "",
        "--ml-server-args",
        lambda value, option: str(value),
        "Extra arguments for the embedded 'locust-ml serve', e.g. \"--max-batch-size 16 "
        '--load-seconds 2". Without --model-name in them, the server serves the model the '
        "locustfile's users ask for.",
        metavar="ARGS",
        core=True,
        shown="none",
    )
    timeout: float = flag(
        60.0,
        "--ml-server-timeout",
        lambda value, option: positive(str(value), option),
        "How long to wait for the embedded server to become ready, in seconds.",
        metavar="SECONDS",
    )


@dataclass(frozen=True)
class MLOptions:
    """Every option of the plugin, parsed and checked (one group each)."""

    load: LoadOptions = field(default_factory=LoadOptions)
    users: UserOptions = field(default_factory=UserOptions)
    decisions: Decisions = field(default_factory=Decisions)
    report: ReportOptions = field(default_factory=ReportOptions)
    telemetry: TelemetryOptions = field(default_factory=TelemetryOptions)
    server: ServerOptions = field(default_factory=ServerOptions)

    @property
    def slos(self) -> tuple[SLO, ...]:
        return self.load.slos

    @property
    def seed(self) -> int:
        return self.users.seed

    @property
    def prompt_tokens(self) -> LengthDistribution:
        """``--ml-prompt-tokens``, or the default distribution."""
        return self.users.prompt_tokens or _lengths(DEFAULT_PROMPT_TOKENS, "--ml-prompt-tokens")

    @property
    def output_tokens(self) -> LengthDistribution:
        """``--ml-output-tokens``, or the default distribution."""
        return self.users.output_tokens or _lengths(DEFAULT_OUTPUT_TOKENS, "--ml-output-tokens")


#: The groups, in the order of the listing and the web form (the load first).
GROUPS: Final = (
    LoadOptions,
    UserOptions,
    Decisions,
    ReportOptions,
    TelemetryOptions,
    ServerOptions,
)


def flags(group: type) -> Iterator[tuple[str, Flag, Any]]:
    """The options of a group: (field name, flag, default), in declaration order."""
    for f in dataclasses.fields(group):
        meta = f.metadata.get("flag")
        if meta is not None:
            yield f.name, meta, f.default


def groups() -> tuple[type, ...]:
    """The option groups, in order."""
    return GROUPS


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and not value)


def read_given(group: type, get: Callable[[str], Any]) -> dict[str, Any]:
    """The options of ``group`` that ``get(dest)`` has a value for, parsed: name -> value."""
    values: dict[str, Any] = {}
    for name, meta, _default in flags(group):
        raw = get(meta.dest)
        if not _unset(raw):
            values[name] = meta.parse(raw, meta.flag)
    return values


def read_group(group: type[_T], get: Callable[[str], Any]) -> _T:
    """One group's options from ``get(dest)`` (unset: the field's default)."""
    return group(**read_given(group, get))


def read_options(parsed: Any) -> MLOptions:
    """Locust's ``parsed_options`` (or any namespace, or None) as :class:`MLOptions`.

    Locust hands option values around loosely typed (the web UI writes
    strings back into ``parsed_options``; workers get them with the spawn
    message), so every value is parsed here, whatever its type.
    """
    if parsed is None:
        return MLOptions()

    def get(dest: str) -> Any:
        return getattr(parsed, dest, None)

    return MLOptions(
        load=read_group(LoadOptions, get),
        users=read_group(UserOptions, get),
        decisions=read_group(Decisions, get),
        report=read_group(ReportOptions, get),
        telemetry=read_group(TelemetryOptions, get),
        server=read_group(ServerOptions, get),
    )


def ignored_options(
    options: MLOptions, user_classes: Iterable[type], shape_class: type | None = None
) -> list[str]:
    """One line for each option given that no class of the run reads (:attr:`Flag.readers`).

    ``--ml-conversation system=8`` with a locustfile of TextUsers would do
    nothing at all, silently: the person meant shared system prompts, and the
    capacity measured without them answers another question.

    >>> class TextUser: ...
    >>> class Summarizer(TextUser): ...
    >>> opts = MLOptions(users=UserOptions(conversation={"system": 8}, stream=True))
    >>> ignored_options(opts, [Summarizer])
    ['--ml-conversation ignored: only ConversationUser reads it; this run has Summarizer']
    """
    users = tuple(user_classes)
    classes = (*users, shape_class) if shape_class is not None else users
    present = {base.__name__ for cls in classes for base in cls.__mro__}
    has = ", ".join(sorted({cls.__name__ for cls in users})) or "no user class"
    lines = []
    for group in dataclasses.fields(options):
        values = getattr(options, group.name)
        for name, meta, default in flags(type(values)):
            read = not meta.readers or bool(present & set(meta.readers))
            if not read and getattr(values, name) != default:
                readers = " or ".join(meta.readers)
                lines.append(f"{meta.flag} ignored: only {readers} reads it; this run has {has}")
    return lines


def add_group(
    parser: Any,
    group: type,
    add: Callable[..., Any] | None = None,
    *,
    unset: str | None = None,
) -> Any:
    """Register one group's options on an argparse (or Locust) parser; returns the group.

    ``add(arg_group, meta, **argparse_kwargs)`` adds one option (the Locust
    glue sets the web form's attributes there); by default argparse's own.
    ``unset`` says what an option not given means when it is not the
    field's default (``locust-ml report``: the value saved in the report).
    """
    arg_group = parser.add_argument_group(group.TITLE, group.ABOUT)  # type: ignore[attr-defined]
    for _name, meta, default in flags(group):
        shown = unset if unset is not None else default_text(meta, default)
        kwargs: dict[str, Any] = {
            "dest": meta.dest,
            "default": None,
            "help": f"{meta.help} Default: {shown}.".replace("%", "%%"),
        }
        if meta.metavar:
            kwargs["metavar"] = meta.metavar
        if meta.repeat:
            kwargs["action"] = "append"
        if add is None:
            arg_group.add_argument(meta.flag, **kwargs)
        else:
            add(arg_group, meta, **kwargs)
    return arg_group


# --------------------------------------------------------------------- listing and docs


def default_text(meta: Flag, default: Any) -> str:
    """An option's default as the listing shows it."""
    if meta.shown is not None:
        return meta.shown
    if isinstance(default, tuple) and default and all(isinstance(x, float) for x in default):
        return ",".join(f"{x:g}" for x in default)
    return format_value(default, seconds=False)


def _key_lines(keys: Mapping[str, tuple[Key, Any]], width: int, indent: str) -> list[str]:
    lines = []
    for name, (k, default) in keys.items():
        lines += textwrap.wrap(
            f"{name}={_key_default(k, default)}: {k.help}",
            width,
            initial_indent=indent,
            subsequent_indent=indent + "    ",
        )
    return lines


def _key_default(k: Key, default: Any) -> str:
    return k.shown if k.shown is not None else k.text(default)


def format_listing(width: int = 100, *, everything: bool = True) -> str:
    """What ``locust-ml options`` prints: the options people need first, then each group.

    Locust prints ``--help`` before it loads a locustfile, so the plugin's
    options never appear there.
    """
    lines = textwrap.wrap(
        "Options the locust-ml plugin adds to locust (locust -f LOCUSTFILE --help does not list "
        "them: Locust prints its help before it loads the locustfile). Each can also be set in "
        "locust.conf (without the dashes) or as the environment variable shown. [web form]: "
        "also in the web UI's start form.",
        width,
    )
    core = [meta.flag for g in GROUPS for _n, meta, _d in flags(g) if meta.core]
    lines += ["", f"The {len(core)} you will use most:"]
    lines += textwrap.wrap(
        " ".join(core), width, break_on_hyphens=False, initial_indent="  ", subsequent_indent="  "
    )
    if not everything:
        return "\n".join(lines) + "\n"
    for g in GROUPS:
        lines += ["", g.TITLE]
        lines += textwrap.wrap(
            g.ABOUT, width, break_on_hyphens=False, initial_indent="  ", subsequent_indent="  "
        )
        for _name, meta, default in flags(g):
            head = f"  {meta.flag} {meta.metavar}".rstrip()
            if meta.form is not None:
                head += "  [web form]"
            lines.append(head)
            lines += textwrap.wrap(
                meta.help, width, initial_indent="      ", subsequent_indent="      "
            )
            lines.append(f"      default: {default_text(meta, default)}; env: {meta.env}")
            if meta.keys is not None:
                lines += _key_lines(spec_keys(meta.keys), width, "        ")
    from locust_ml.shapes import KINDS, PRESETS, ShapeSpec
    from locust_ml.shapes.choice import PRESET_HELP

    lines += ["", "Shape kinds and their keys (--ml-shape KIND:KEY=VALUE,...)"]
    for kind, cls in KINDS.items():
        lines.append(f"  {kind}")
        lines += _key_lines(_own_keys(cls), width, "      ")
    lines += ["  every kind"]
    lines += _key_lines(spec_keys(ShapeSpec), width, "      ")
    lines += ["", "Presets (--ml-shape PRESET[:KEY=VALUE,...])"]
    for name, text in PRESETS.items():
        lines.append(f"  {name}: {text} ({PRESET_HELP[name]})")
    return "\n".join(lines) + "\n"


def _own_keys(cls: type[ShapeSpec]) -> dict[str, tuple[Key, Any]]:
    """The keys ``cls`` adds to the common ones (or redefines)."""
    from locust_ml.shapes import ShapeSpec

    common = spec_keys(ShapeSpec)
    return {
        name: kd
        for name, kd in spec_keys(cls).items()
        if name not in common or kd[1] != common[name][1] or kd[0].help != common[name][0].help
    }


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def markdown_table() -> str:
    """``docs/options.md``'s generated part: every group, option, default and meaning."""
    from locust_ml.shapes import KINDS, PRESETS, ShapeSpec
    from locust_ml.shapes.choice import PRESET_HELP

    out: list[str] = []
    for g in GROUPS:
        out += [f"## {g.TITLE.removeprefix('locust-ml ').capitalize()}", "", g.ABOUT, ""]
        out += ["| option | default | meaning |", "|---|---|---|"]
        for _name, meta, default in flags(g):
            name = f"`{meta.flag} {meta.metavar}`".replace(" `", "`")
            form = " (*web form*)" if meta.form is not None else ""
            out.append(
                f"| {_md(name)} | {_md(default_text(meta, default))} | {_md(meta.help)}{form} |"
            )
            if meta.keys is not None:
                for key_name, (k, kd) in spec_keys(meta.keys).items():
                    shown = _md(_key_default(k, kd))
                    out.append(f"| &nbsp;&nbsp;`{key_name}=` | {shown} | {_md(k.help)} |")
        out.append("")
    out += ["## Shape kinds and their keys", ""]
    out += [
        "`--ml-shape KIND:KEY=VALUE,...`; keys not given keep the locustfile's shape class's "
        "values (class attributes of the same names) for its own kind, else these defaults. "
        "Loads are users in closed loop and requests/s in open loop.",
        "",
    ]
    kinds: list[tuple[str, type[ShapeSpec]]] = [*KINDS.items(), ("every kind", ShapeSpec)]
    for kind, cls in kinds:
        out += [f"### {kind}", "", "| key | default | meaning |", "|---|---|---|"]
        keys = spec_keys(ShapeSpec) if cls is ShapeSpec else _own_keys(cls)
        for key_name, (k, kd) in keys.items():
            out.append(f"| `{key_name}` | {_md(_key_default(k, kd))} | {_md(k.help)} |")
        out.append("")
    out += ["### Presets", "", "| preset | is | for |", "|---|---|---|"]
    for name, text in PRESETS.items():
        out.append(f"| `{name}` | `{text}` | {PRESET_HELP[name]} |")
    return "\n".join(out) + "\n"
