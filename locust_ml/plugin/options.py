"""Command-line options of the plugin, and their typed, validated reading.

Options are registered on Locust's parser (so they work in ``locust.conf``,
environment variables ``LOCUST_ML_*``, the command line, and, where
``include_in_web_ui`` is set, the web UI form). All are prefixed ``--ml-`` so
they can't collide with Locust's own.

Locust hands option values around loosely typed (the web UI writes strings
back into ``parsed_options``; workers only get them with the spawn message),
so :func:`read_options` parses whatever is there into a frozen
:class:`MLOptions`, raising :class:`~locust_ml.errors.ConfigError` with the
option's name on a bad value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.analysis.slo import SLO, parse_slos
from locust_ml.arrivals import ArrivalSpec, parse_arrival
from locust_ml.config import parse_duration, parse_percentiles
from locust_ml.errors import ConfigError
from locust_ml.payloads.lengths import LengthDistribution
from locust_ml.report.model import ReportSettings
from locust_ml.report.options import add_report_options, read_report_settings

__all__ = [
    "AUDIO_FORMATS",
    "IMAGE_FORMATS",
    "NO_PROFILE",
    "PROTOCOLS",
    "SERVER_BACKENDS",
    "SHAPE_KINDS",
    "MLOptions",
    "ShapeOptions",
    "UserOptions",
    "add_options",
    "read_options",
]

SHAPE_KINDS = ("ramp", "soak", "spike", "stages", "capacity-search")
#: Wire protocols of the ML users: text users speak the first two, payload users the rest.
PROTOCOLS = ("chat", "completions", "v2", "torchserve", "multipart", "raw")
IMAGE_FORMATS = ("jpeg", "png", "webp")
AUDIO_FORMATS = ("wav", "flac")
#: ``--ml-profile none``: draw no sizes from a profile (text users use the token options).
NO_PROFILE = "none"
SERVER_BACKENDS = ("summarizer", "simulated", "image-classifier", "speech")
_SWITCH = {**dict.fromkeys(("on", "true", "yes", "1"), True)}
_SWITCH.update(dict.fromkeys(("off", "false", "no", "0"), False))

DEFAULT_PROMPT_TOKENS = "lognormal:median=300,sigma=0.5,min=16,max=2000"
DEFAULT_OUTPUT_TOKENS = "lognormal:median=48,sigma=0.4,min=8,max=256"


def _arg(group: Any, flag: str, *, web_ui: bool = True, **kwargs: Any) -> None:
    """Add ``flag`` to an argument group, visible in the web UI if ``web_ui``.

    Locust's ``include_in_web_ui`` keyword exists only on the parser itself,
    not on argument groups, so we set the attributes Locust reads ourselves.
    Every option can also come from ``LOCUST_ML_<NAME>`` in the environment,
    as Locust's own options come from ``LOCUST_<NAME>``.
    """
    env = "LOCUST_" + flag.lstrip("-").upper().replace("-", "_")
    action = group.add_argument(flag, env_var=env, **kwargs)
    action.include_in_web_ui = web_ui
    action.is_secret = False
    action.is_required = False
    action.is_multiple = False


def add_options(parser: Any) -> None:
    """Register the plugin's options on Locust's parser (idempotent).

    ``init_command_line_parser`` fires for every parser Locust builds,
    including one per web UI page load, so adding twice must be harmless.
    """
    if "--ml-report-dir" in getattr(parser, "_option_string_actions", {}):
        return
    group = parser.add_argument_group(
        "locust-ml", "Options of the locust-ml plugin (ML load testing and capacity reports)."
    )
    _arg(
        group,
        "--ml-report-dir",
        metavar="DIR",
        default=None,
        help="Directory for the end-of-test report (report.json, ...). "
        "Default: reports/<locustfile>-<YYYYmmdd-HHMMSS>/",
        web_ui=False,
    )
    _arg(
        group,
        "--ml-percentiles",
        metavar="LIST",
        default=",".join(f"{q:g}" for q in DEFAULT_PERCENTILES),
        help="Latency percentiles in the report, comma-separated. Default: %(default)s",
    )
    _arg(
        group,
        "--ml-window",
        metavar="TIME",
        default=None,
        help="Length of the measurement windows within each step (stability checks, "
        "time series in the report). Default: 1s in a capacity search, a tenth of the "
        "shortest step (1-5 s) in the other shapes, 5s without a locust-ml shape.",
    )
    _arg(
        group,
        "--ml-prompt-tokens",
        metavar="DIST",
        default=DEFAULT_PROMPT_TOKENS,
        help="Prompt length in tokens: const:N, uniform:LOW,HIGH or "
        "lognormal:median=M,sigma=S[,min=A][,max=B]. Default: %(default)s",
    )
    _arg(
        group,
        "--ml-output-tokens",
        metavar="DIST",
        default=DEFAULT_OUTPUT_TOKENS,
        help="Requested output length (max_tokens), same forms as --ml-prompt-tokens. "
        "Default: %(default)s",
    )
    _arg(
        group,
        "--ml-seed",
        metavar="N",
        type=int,
        default=0,
        help="Seed for payload sampling; each user derives its own from it. Default: %(default)s",
    )
    add_report_options(group, _arg)
    _add_user_options(parser)
    shape = parser.add_argument_group(
        "locust-ml load shape",
        "What load to offer and how: the shape (ramp, soak, spike, stages, capacity-search), "
        "closed loop (users) or open loop (arrival rate), and the SLOs. Loads are users in "
        "closed loop and requests/s in open loop. Unset values keep the locustfile's shape "
        "class defaults.",
    )
    _arg(
        shape,
        "--ml-shape",
        choices=["ramp", "soak", "spike", "stages", "capacity-search"],
        default=None,
        help="Test type. Default: the locustfile's shape class (a ramp in the bundled ones).",
    )
    _arg(
        shape,
        "--ml-arrival",
        metavar="PROCESS",
        default=None,
        help="closed (users loop: send, wait for the answer, repeat), or an open-loop arrival "
        "process: constant, poisson, gamma:cv=C (bursty), trace:path=FILE[,column=C]"
        "[,time_scale=S][,loop=true]. Default: the shape class's (closed for a ramp).",
    )
    _arg(
        shape,
        "--ml-slo",
        metavar="EXPR",
        action="append",
        default=[],
        help="A service-level objective (repeatable): p99<500ms, p99.9<2s, errors<1%%, "
        "ttft_p99<300ms, itl_p95<50ms. Read by the capacity search and the report.",
    )
    _arg(
        shape,
        "--ml-warmup",
        metavar="TIME",
        default=None,
        help="Start of each step excluded from its measurements (stability, SLO judgement).",
    )
    _arg(shape, "--ml-ramp-start", metavar="LOAD", default=None, help="Load of step 1.")
    _arg(shape, "--ml-ramp-step", metavar="LOAD", default=None, help="Load added at each step.")
    _arg(
        shape,
        "--ml-ramp-factor",
        metavar="F",
        default=None,
        help="Multiply the load by F at each step instead of adding --ml-ramp-step.",
    )
    _arg(
        shape,
        "--ml-ramp-max",
        metavar="LOAD",
        default=None,
        help="Load of the last step (a step just below it, within a quarter step, is skipped).",
    )
    _arg(
        shape,
        "--ml-step-time",
        metavar="TIME",
        default=None,
        help="Duration of each ramp step, e.g. 30s, 1m30s.",
    )
    _arg(
        shape,
        "--ml-spawn-rate",
        metavar="USERS/S",
        default=None,
        help="Users started per second when a step begins.",
    )
    _arg(shape, "--ml-soak-load", metavar="LOAD", default=None, help="Soak: load to hold.")
    _arg(shape, "--ml-soak-time", metavar="TIME", default=None, help="Soak: how long to hold it.")
    _arg(
        shape,
        "--ml-soak-ramp",
        metavar="TIME",
        default=None,
        help="Soak: time to ramp up to the load.",
    )
    _arg(shape, "--ml-spike-baseline", metavar="LOAD", default=None, help="Spike: baseline load.")
    _arg(
        shape,
        "--ml-spike-factor",
        metavar="N",
        default=None,
        help="Spike: the spike is N x the baseline.",
    )
    _arg(shape, "--ml-spike-time", metavar="TIME", default=None, help="Spike: spike duration.")
    _arg(
        shape,
        "--ml-spike-recovery",
        metavar="TIME",
        default=None,
        help="Spike: time at baseline after the spike to observe recovery.",
    )
    _arg(
        shape,
        "--ml-stages",
        metavar="FILE",
        default=None,
        help="Stages: a YAML or JSON file listing {duration, users | rate} stages.",
    )
    _arg(
        shape,
        "--ml-search-start",
        metavar="LOAD",
        default=None,
        help="Capacity search: closed loop, the first user count (default 1); open loop, a "
        "first rate to try instead of probing the target's saturation first.",
    )
    _arg(
        shape,
        "--ml-search-precision",
        metavar="P",
        default=None,
        help="Capacity search: stop when first failing / last passing load - 1 <= P. "
        "Default: 0.03.",
    )
    _arg(
        shape,
        "--ml-search-max-time",
        metavar="TIME",
        default=None,
        help="Capacity search: stop after this long. Default: 10m.",
    )
    _arg(
        shape,
        "--ml-search-step-time",
        metavar="TIME",
        default=None,
        help="Capacity search: judge a step after at most this long, failing it if it is "
        "not stable by then (longer while a slow target answers the requests its SLO "
        "percentile needs). Default: 30s.",
    )
    _arg(
        shape,
        "--ml-pool-users",
        metavar="N",
        default=None,
        help="Open loop: users sending the arrivals (each runs many requests at once). "
        "Default: 8, and at least one per worker.",
    )
    _arg(
        shape,
        "--ml-max-inflight",
        metavar="N",
        default="1000",
        help="Open loop: requests in flight per worker at most; arrivals beyond wait (late) "
        "and are dropped past --ml-max-lateness. Default: %(default)s",
    )
    _arg(
        shape,
        "--ml-max-lateness",
        metavar="TIME",
        default="10s",
        help="Open loop: an arrival that can't be sent this long after its intended time is "
        "dropped and counted. Default: %(default)s",
    )
    _arg(
        shape,
        "--ml-step-hook",
        metavar="CMD",
        default="",
        help="Command run at each step start and end, with LOCUST_ML_STEP_EVENT/ID/USERS/RPS/"
        "MODE/LABEL/START/END in its environment (e.g. to start a profiler for one step).",
        web_ui=False,
    )
    tele = parser.add_argument_group(
        "locust-ml telemetry",
        "GPU and server metrics read on the master during the test, and the Prometheus exporter.",
    )
    _arg(
        tele,
        "--ml-nvml",
        choices=["auto", "on", "off"],
        default="auto",
        help="Read local GPUs through NVML: auto (when an NVIDIA driver is present), on "
        "(warn when it can't), off. Default: %(default)s",
        web_ui=False,
    )
    _arg(
        tele,
        "--ml-scrape",
        metavar="[KIND=]URL",
        action="append",
        default=[],
        help="A Prometheus endpoint to read every interval (repeatable): DCGM exporter, Triton, "
        "vLLM, a locust-ml gpu-agent... KIND (dcgm, triton, vllm, locust-ml, gpu-agent) is "
        "detected when omitted.",
        web_ui=False,
    )
    _arg(
        tele,
        "--ml-telemetry-interval",
        metavar="TIME",
        default="1s",
        help="Time between telemetry reads; 0 turns telemetry off. Default: %(default)s",
        web_ui=False,
    )
    _arg(
        tele,
        "--ml-exporter-port",
        metavar="PORT",
        type=int,
        default=None,
        help="Serve live metrics for Prometheus on this port (0: any free port). Default: off",
        web_ui=False,
    )
    _arg(
        tele,
        "--ml-exporter-host",
        metavar="HOST",
        default="127.0.0.1",
        help="Address the exporter binds to. Default: %(default)s",
        web_ui=False,
    )
    server = parser.add_argument_group(
        "locust-ml embedded server",
        "Without --host, the reference inference server is started on a free loopback port.",
    )
    _arg(
        server,
        "--ml-server-backend",
        choices=list(SERVER_BACKENDS),
        default=None,
        help="Backend of the embedded reference server. Default: the locustfile's users' "
        "(image-classifier for ImageUser, speech for AudioUser), else summarizer.",
        web_ui=False,
    )
    _arg(
        server,
        "--ml-server-args",
        metavar="ARGS",
        default="",
        help="Extra arguments for the embedded 'locust-ml serve', e.g. "
        '"--max-batch-size 16 --load-seconds 2".',
        web_ui=False,
    )
    _arg(
        server,
        "--ml-server-timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="How long to wait for the embedded server to become ready. Default: %(default)s",
        web_ui=False,
    )


def _add_user_options(parser: Any) -> None:
    """What the ML users send (``docs/users.md``). Unset: the user class's attribute."""
    users = parser.add_argument_group(
        "locust-ml users and payloads",
        "What TextUser, ImageUser and AudioUser send, and how. Unset values keep the user "
        "class's attributes.",
    )
    _arg(
        users,
        "--ml-profile",
        metavar="NAME|PATH",
        default=None,
        help="Size profile the requests are drawn from: a bundled name (azure_conv, "
        "imagenet_image_sizes, librispeech_durations, ...), a profile file, or 'none' (text "
        "users then use --ml-prompt-tokens/--ml-output-tokens). Explicit token options "
        "override the profile's columns. Default: the user class's.",
    )
    _arg(
        users,
        "--ml-protocol",
        metavar="PROTOCOL",
        default=None,
        help="Wire protocol: chat or completions (text users); v2, torchserve, multipart or raw "
        "(image and audio users). Default: the user class's (chat; v2).",
    )
    _arg(users, "--ml-model", metavar="NAME", default=None, help="Model name sent to the server.")
    _arg(
        users,
        "--ml-endpoint",
        metavar="PATH",
        default=None,
        help="Request path, replacing the protocol's (e.g. /openai/v1/chat/completions); "
        "needed by the multipart and raw protocols.",
    )
    _arg(
        users,
        "--ml-stream",
        metavar="on|off",
        default=None,
        help="Text users: stream the answer (server-sent events) and record time to first "
        "token and inter-token latency. Default: the user class's (off).",
    )
    _arg(
        users,
        "--ml-image-format",
        metavar="FORMAT",
        default=None,
        help="Image users: jpeg, png or webp. Default: the user class's (jpeg).",
    )
    _arg(
        users,
        "--ml-audio-format",
        metavar="FORMAT",
        default=None,
        help="Audio users: wav or flac. Default: the user class's (wav).",
    )
    _arg(
        users,
        "--ml-pool-draws",
        metavar="N",
        default=None,
        help="Image and audio users: size draws the payload pool is built from (more: closer to "
        "the profile, slower to build). Default: the user class's.",
        web_ui=False,
    )
    _arg(
        users,
        "--ml-pool-max-mb",
        metavar="MB",
        default=None,
        help="Image and audio users: memory cap of the payload pool, in MiB. Default: the "
        "user class's.",
        web_ui=False,
    )


@dataclass(frozen=True)
class UserOptions:
    """What the ML users send, from the command line (None: the user class decides).

    ``prompt_tokens_set``/``output_tokens_set`` say whether ``--ml-prompt-tokens``/
    ``--ml-output-tokens`` differ from their defaults: an explicit length
    overrides the matching column of a profile.
    """

    profile: str | None = None
    protocol: str | None = None
    model: str | None = None
    endpoint: str | None = None
    stream: bool | None = None
    image_format: str | None = None
    audio_format: str | None = None
    pool_draws: int | None = None
    pool_max_mb: float | None = None
    prompt_tokens_set: bool = False
    output_tokens_set: bool = False


@dataclass(frozen=True)
class ShapeOptions:
    """Load-shape settings from the command line (None: keep the shape class's)."""

    kind: str | None = None
    #: None: not given, the shape class decides (see shapes.effective_arrival).
    arrival: ArrivalSpec | None = None
    slos: tuple[SLO, ...] = ()
    warmup_s: float | None = None
    start: float | None = None
    step: float | None = None
    factor: float | None = None
    max: float | None = None
    step_seconds: float | None = None
    spawn_rate: float | None = None
    soak_load: float | None = None
    soak_s: float | None = None
    soak_ramp_s: float | None = None
    spike_baseline: float | None = None
    spike_factor: float | None = None
    spike_s: float | None = None
    spike_recovery_s: float | None = None
    stages: str | None = None
    search_start: float | None = None
    search_precision: float | None = None
    search_max_s: float | None = None
    search_step_s: float | None = None
    stability_tolerance: float = 0.25
    pool_users: int | None = None
    max_inflight: int = 1000
    max_lateness_s: float = 10.0


@dataclass(frozen=True)
class MLOptions:
    """The plugin's options, parsed and validated."""

    report_dir: str | None = None
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    #: None: the shape's default (see shapes.MLShape.window_s).
    window_s: float | None = None
    prompt_tokens: LengthDistribution = field(
        default_factory=lambda: LengthDistribution.parse(DEFAULT_PROMPT_TOKENS)
    )
    output_tokens: LengthDistribution = field(
        default_factory=lambda: LengthDistribution.parse(DEFAULT_OUTPUT_TOKENS)
    )
    seed: int = 0
    shape: ShapeOptions = field(default_factory=ShapeOptions)
    step_hook: str = ""
    nvml: str = "auto"
    scrape: tuple[str, ...] = ()
    telemetry_interval: float = 1.0
    exporter_port: int | None = None
    exporter_host: str = "127.0.0.1"
    server_backend: str = "summarizer"
    server_args: str = ""
    server_timeout: float = 60.0
    users: UserOptions = field(default_factory=UserOptions)
    report: ReportSettings = field(default_factory=ReportSettings)


def _opt_num(value: Any, option: str, kind: type[int] | type[float]) -> Any:
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected a {kind.__name__}, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{option}: must be > 0, got {value!r}")
    return number


def _positive_duration(value: Any, default: str, option: str) -> float:
    seconds = parse_duration(value if value not in (None, "") else default, option=option)
    if not seconds > 0:
        raise ConfigError(f"{option}: must be > 0 s, got {value!r}")
    return seconds


def _window(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return _positive_duration(value, "1s", "--ml-window")


def _choice(value: Any, option: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{option}: expected one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _port(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--ml-exporter-port: expected a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--ml-exporter-port: {port} is not a port (0-65535)")
    return port


def _opt_time(value: Any, option: str) -> float | None:
    return None if value in (None, "") else parse_duration(value, option=option)


def _shape_options(get: Callable[..., Any]) -> ShapeOptions:
    def num(name: str, kind: type[int] | type[float] = float) -> Any:
        return _opt_num(get("ml_" + name.replace("-", "_")), "--ml-" + name, kind)

    def secs(name: str) -> float | None:
        return _opt_time(get("ml_" + name.replace("-", "_")), "--ml-" + name)

    kind = get("ml_shape") or None
    if kind is not None:
        kind = _choice(kind, "--ml-shape", SHAPE_KINDS)
    stages = get("ml_stages") or None
    return ShapeOptions(
        kind=kind,
        arrival=(
            None
            if get("ml_arrival") in (None, "")
            else parse_arrival(str(get("ml_arrival")), option="--ml-arrival")
        ),
        slos=parse_slos(list(get("ml_slo") or ()), option="--ml-slo"),
        warmup_s=secs("warmup"),
        start=num("ramp-start"),
        step=num("ramp-step"),
        factor=num("ramp-factor"),
        max=num("ramp-max"),
        step_seconds=secs("step-time"),
        spawn_rate=num("spawn-rate"),
        soak_load=num("soak-load"),
        soak_s=secs("soak-time"),
        soak_ramp_s=secs("soak-ramp"),
        spike_baseline=num("spike-baseline"),
        spike_factor=num("spike-factor"),
        spike_s=secs("spike-time"),
        spike_recovery_s=secs("spike-recovery"),
        stages=None if stages is None else str(stages),
        search_start=num("search-start"),
        search_precision=num("search-precision"),
        search_max_s=secs("search-max-time"),
        search_step_s=secs("search-step-time"),
        stability_tolerance=num("stability-tolerance") or 0.25,
        pool_users=num("pool-users", int),
        max_inflight=num("max-inflight", int) or 1000,
        max_lateness_s=_opt_time(get("ml_max_lateness"), "--ml-max-lateness") or 10.0,
    )


def _opt_str(value: Any) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def _user_options(get: Callable[..., Any]) -> UserOptions:
    protocol = _opt_str(get("ml_protocol"))
    if protocol is not None:
        protocol = _choice(protocol.lower(), "--ml-protocol", PROTOCOLS)
    endpoint = _opt_str(get("ml_endpoint"))
    if endpoint is not None and not endpoint.startswith(("/", "http://", "https://")):
        raise ConfigError(
            f"--ml-endpoint: expected a path starting with / (or an http(s):// URL), "
            f"got {endpoint!r}"
        )
    stream = _opt_str(get("ml_stream"))
    if stream is not None and stream.lower() not in _SWITCH:
        raise ConfigError(f"--ml-stream: expected on or off, got {stream!r}")
    image_format, audio_format = _opt_str(get("ml_image_format")), _opt_str(get("ml_audio_format"))
    return UserOptions(
        profile=_opt_str(get("ml_profile")),
        protocol=protocol,
        model=_opt_str(get("ml_model")),
        endpoint=endpoint,
        stream=None if stream is None else _SWITCH[stream.lower()],
        image_format=(
            None
            if image_format is None
            else _choice(image_format.lower(), "--ml-image-format", IMAGE_FORMATS)
        ),
        audio_format=(
            None
            if audio_format is None
            else _choice(audio_format.lower(), "--ml-audio-format", AUDIO_FORMATS)
        ),
        pool_draws=_opt_num(get("ml_pool_draws"), "--ml-pool-draws", int),
        pool_max_mb=_opt_num(get("ml_pool_max_mb"), "--ml-pool-max-mb", float),
        prompt_tokens_set=_opt_str(get("ml_prompt_tokens")) not in (None, DEFAULT_PROMPT_TOKENS),
        output_tokens_set=_opt_str(get("ml_output_tokens")) not in (None, DEFAULT_OUTPUT_TOKENS),
    )


def read_options(parsed: Any) -> MLOptions:
    """Parse Locust's ``parsed_options`` (or None) into :class:`MLOptions`."""
    if parsed is None:
        return MLOptions()

    def get(name: str, default: Any = None) -> Any:
        return getattr(parsed, name, default)

    seed = get("ml_seed", 0)
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ConfigError(f"--ml-seed: expected an integer, got {seed!r}") from None
    timeout = _opt_num(get("ml_server_timeout", 60.0), "--ml-server-timeout", float)
    shape = _shape_options(get)
    return MLOptions(
        report_dir=get("ml_report_dir") or None,
        percentiles=parse_percentiles(
            str(get("ml_percentiles") or "50,90,95,99,99.9"), option="--ml-percentiles"
        ),
        window_s=_window(get("ml_window")),
        prompt_tokens=LengthDistribution.parse(
            str(get("ml_prompt_tokens") or DEFAULT_PROMPT_TOKENS), option="--ml-prompt-tokens"
        ),
        output_tokens=LengthDistribution.parse(
            str(get("ml_output_tokens") or DEFAULT_OUTPUT_TOKENS), option="--ml-output-tokens"
        ),
        seed=seed,
        shape=shape,
        step_hook=str(get("ml_step_hook") or ""),
        nvml=_choice(get("ml_nvml") or "auto", "--ml-nvml", ("auto", "on", "off")),
        scrape=tuple(str(x) for x in (get("ml_scrape") or ())),
        telemetry_interval=parse_duration(
            get("ml_telemetry_interval") or "1s", option="--ml-telemetry-interval"
        ),
        exporter_port=_port(get("ml_exporter_port")),
        exporter_host=str(get("ml_exporter_host") or "127.0.0.1"),
        server_backend=str(get("ml_server_backend") or "summarizer"),
        server_args=str(get("ml_server_args") or ""),
        server_timeout=60.0 if timeout is None else timeout,
        users=_user_options(get),
        report=read_report_settings(get, shape.stability_tolerance, shape.warmup_s),
    )
