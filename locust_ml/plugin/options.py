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

from dataclasses import dataclass, field
from typing import Any

from locust_ml.analysis.histogram import DEFAULT_PERCENTILES
from locust_ml.config import parse_duration, parse_percentiles
from locust_ml.errors import ConfigError
from locust_ml.payloads.lengths import LengthDistribution

__all__ = ["MLOptions", "add_options", "read_options"]

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
        default="5s",
        help="Length of the measurement windows within each step (stability checks, "
        "time series in the report). Default: %(default)s",
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
    ramp = parser.add_argument_group(
        "locust-ml ramp",
        "Step ramp of the RampShape (capacity test). Unset values keep the shape's own defaults.",
    )
    _arg(ramp, "--ml-ramp-start", metavar="USERS", default=None, help="Users in step 1.")
    _arg(ramp, "--ml-ramp-step", metavar="USERS", default=None, help="Users added at each step.")
    _arg(
        ramp,
        "--ml-ramp-factor",
        metavar="F",
        default=None,
        help="Multiply the users by F at each step instead of adding --ml-ramp-step.",
    )
    _arg(ramp, "--ml-ramp-max", metavar="USERS", default=None, help="Users in the last step.")
    _arg(
        ramp,
        "--ml-step-time",
        metavar="TIME",
        default=None,
        help="Duration of each step, e.g. 30s, 1m30s.",
    )
    _arg(ramp, "--ml-spawn-rate", metavar="USERS/S", default=None, help="Users started per second.")
    _arg(
        ramp,
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
        choices=["summarizer", "simulated"],
        default="summarizer",
        help="Backend of the embedded reference server. Default: %(default)s",
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


@dataclass(frozen=True)
class RampOverrides:
    """Ramp settings given on the command line (None: keep the shape's)."""

    start_users: int | None = None
    step_users: int | None = None
    factor: float | None = None
    max_users: int | None = None
    step_seconds: float | None = None
    spawn_rate: float | None = None


@dataclass(frozen=True)
class MLOptions:
    """The plugin's options, parsed and validated."""

    report_dir: str | None = None
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    window_s: float = 5.0
    prompt_tokens: LengthDistribution = field(
        default_factory=lambda: LengthDistribution.parse(DEFAULT_PROMPT_TOKENS)
    )
    output_tokens: LengthDistribution = field(
        default_factory=lambda: LengthDistribution.parse(DEFAULT_OUTPUT_TOKENS)
    )
    seed: int = 0
    ramp: RampOverrides = RampOverrides()
    step_hook: str = ""
    nvml: str = "auto"
    scrape: tuple[str, ...] = ()
    telemetry_interval: float = 1.0
    exporter_port: int | None = None
    exporter_host: str = "127.0.0.1"
    server_backend: str = "summarizer"
    server_args: str = ""
    server_timeout: float = 60.0


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


def _window(value: Any) -> float:
    return _positive_duration(value, "5s", "--ml-window")


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


def read_options(parsed: Any) -> MLOptions:
    """Parse Locust's ``parsed_options`` (or None) into :class:`MLOptions`."""
    if parsed is None:
        return MLOptions()

    def get(name: str, default: Any = None) -> Any:
        return getattr(parsed, name, default)

    step_time = get("ml_step_time")
    seed = get("ml_seed", 0)
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise ConfigError(f"--ml-seed: expected an integer, got {seed!r}") from None
    timeout = _opt_num(get("ml_server_timeout", 60.0), "--ml-server-timeout", float)
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
        ramp=RampOverrides(
            start_users=_opt_num(get("ml_ramp_start"), "--ml-ramp-start", int),
            step_users=_opt_num(get("ml_ramp_step"), "--ml-ramp-step", int),
            factor=_opt_num(get("ml_ramp_factor"), "--ml-ramp-factor", float),
            max_users=_opt_num(get("ml_ramp_max"), "--ml-ramp-max", int),
            step_seconds=(
                None
                if step_time in (None, "")
                else parse_duration(step_time, option="--ml-step-time")
            ),
            spawn_rate=_opt_num(get("ml_spawn_rate"), "--ml-spawn-rate", float),
        ),
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
    )
