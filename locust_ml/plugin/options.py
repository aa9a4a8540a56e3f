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

import contextlib
import functools
import importlib
import textwrap
from collections.abc import Callable, Mapping
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
    "OptionGroup",
    "OptionHelp",
    "ShapeOptions",
    "UserOptions",
    "add_options",
    "form_fields",
    "format_option_groups",
    "option_groups",
    "read_options",
    "web_form",
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


def _arg(group: Any, flag: str, *, form: str | None = None, **kwargs: Any) -> None:
    """Add ``flag`` to an argument group; in the web UI's start form when ``form`` is given.

    ``form`` is the field's label in the form: Locust shows each field as
    "name (help)" on one line, cut at the field's width, so it must be short
    and plain text (``help`` is argparse's, with ``%(default)s`` and ``%%``).
    The web UI's glue (:func:`locust_ml.plugin.webui.install`) swaps it in.
    Only options a web user changes between runs are in the form: the
    others keep their command-line values there.

    Locust's ``include_in_web_ui`` keyword exists only on the parser itself,
    not on argument groups, so we set the attributes Locust reads ourselves.
    Every option can also come from ``LOCUST_ML_<NAME>`` in the environment,
    as Locust's own options come from ``LOCUST_<NAME>``.
    """
    env = "LOCUST_" + flag.lstrip("-").upper().replace("-", "_")
    action = group.add_argument(flag, env_var=env, **kwargs)
    action.include_in_web_ui = form is not None
    action.form_help = form
    action.is_secret = False
    action.is_required = False
    action.is_multiple = False


def add_options(parser: Any) -> None:
    """Register the plugin's options on Locust's parser (idempotent).

    ``init_command_line_parser`` fires for every parser Locust builds,
    including one per web UI page load, so adding twice must be harmless.
    The groups' order is the web form's: the load shape first.
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
        "shortest step (0.5-5 s) in the other shapes, 5s without a locust-ml shape.",
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
    _add_shape_options(parser)
    _add_user_options(parser)
    report = parser.add_argument_group(
        "locust-ml decisions",
        "What the report concludes from the measurements: required capacity, cost, replicas. "
        "locust-ml report takes the same options to re-decide a saved run.",
    )
    add_report_options(report, _arg)
    _add_process_options(parser)


def _add_shape_options(parser: Any) -> None:
    """What load to offer (``docs/load-shapes.md``). Unset: the shape class's attribute."""
    shape = parser.add_argument_group(
        "locust-ml load shape",
        "What load to offer and how: the shape (ramp, soak, spike, stages, capacity-search), "
        "closed loop (users) or open loop (arrival rate), and the SLOs. Loads are users in "
        "closed loop and requests/s in open loop. Unset values keep the locustfile's shape "
        "class defaults.",
    )
    _arg(
        shape,
        "--ml-slo",
        metavar="EXPR",
        action="append",
        # None, not []: Locust's web form parses a field whose default is an
        # empty list as a list of integers (and fails on any SLO).
        default=None,
        help="A service-level objective (repeatable, or several separated by commas): "
        "p99<500ms, p99.9<2s, errors<1%%, ttft_p99<300ms, itl_p95<50ms. Read by the capacity "
        "search and the report.",
        form="SLOs, comma-separated: p99<500ms, errors<1%",
    )
    _arg(
        shape,
        "--ml-shape",
        choices=list(SHAPE_KINDS),
        default=None,
        help="Test type. Default: the locustfile's shape class (a ramp in the bundled ones).",
        form="Test type",
    )
    _arg(
        shape,
        "--ml-arrival",
        metavar="PROCESS",
        default=None,
        help="closed (users loop: send, wait for the answer, repeat), or an open-loop arrival "
        "process: constant, poisson, gamma:cv=C (bursty), trace:path=FILE[,column=C]"
        "[,time_scale=S][,loop=true]. Default: the shape class's (closed for a ramp).",
        form="closed (users), or open loop: constant, poisson, gamma:cv=2",
    )
    _arg(
        shape,
        "--ml-warmup",
        metavar="TIME",
        default=None,
        help="Start of each step excluded from its measurements (stability, SLO judgement).",
    )
    _arg(
        shape,
        "--ml-ramp-start",
        metavar="LOAD",
        default=None,
        help="Ramp: load of step 1.",
        form="Ramp: load of step 1",
    )
    _arg(
        shape,
        "--ml-ramp-step",
        metavar="LOAD",
        default=None,
        help="Ramp: load added at each step.",
        form="Ramp: load added at each step",
    )
    _arg(
        shape,
        "--ml-ramp-factor",
        metavar="F",
        default=None,
        help="Ramp: multiply the load by F at each step instead of adding --ml-ramp-step.",
        form="Ramp: or multiply the load by F at each step",
    )
    _arg(
        shape,
        "--ml-ramp-max",
        metavar="LOAD",
        default=None,
        help="Ramp: load of the last step (a step just below it, within a quarter step, is "
        "skipped).",
        form="Ramp: load of the last step",
    )
    _arg(
        shape,
        "--ml-step-time",
        metavar="TIME",
        default=None,
        help="Ramp: duration of each step, e.g. 30s, 1m30s.",
        form="Ramp: time per step, e.g. 30s",
    )
    _arg(
        shape,
        "--ml-spawn-rate",
        metavar="USERS/S",
        default=None,
        help="Users started per second when a step begins.",
    )
    _arg(
        shape,
        "--ml-soak-load",
        metavar="LOAD",
        default=None,
        help="Soak: load to hold.",
        form="Soak: load to hold",
    )
    _arg(
        shape,
        "--ml-soak-ramp",
        metavar="TIME",
        default=None,
        help="Soak: time to ramp up to the load, in 5 steps (0: no ramp-up).",
        form="Soak: ramp-up time",
    )
    _arg(
        shape,
        "--ml-soak-time",
        metavar="TIME",
        default=None,
        help="Soak: how long to hold the load.",
        form="Soak: hold time, e.g. 4h",
    )
    _arg(
        shape,
        "--ml-soak-ramp-down",
        metavar="TIME",
        default=None,
        help="Soak: time to ramp down after the hold, one step at half the load (0: none). "
        "Default: the shape class's (60 s).",
        form="Soak: ramp-down time (0: none)",
    )
    _arg(
        shape,
        "--ml-spike-baseline",
        metavar="LOAD",
        default=None,
        help="Spike: baseline load.",
        form="Spike: baseline load",
    )
    _arg(
        shape,
        "--ml-spike-baseline-time",
        metavar="TIME",
        default=None,
        help="Spike: time at the baseline before the spike. Default: the shape class's (120 s).",
        form="Spike: time at the baseline before the spike",
    )
    _arg(
        shape,
        "--ml-spike-factor",
        metavar="N",
        default=None,
        help="Spike: the spike is N x the baseline.",
        form="Spike: the spike is N x the baseline",
    )
    _arg(
        shape,
        "--ml-spike-time",
        metavar="TIME",
        default=None,
        help="Spike: spike duration.",
        form="Spike: spike duration",
    )
    _arg(
        shape,
        "--ml-spike-recovery",
        metavar="TIME",
        default=None,
        help="Spike: time at baseline after the spike to observe recovery.",
        form="Spike: time watched after the spike",
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
    )


def _add_process_options(parser: Any) -> None:
    """Telemetry and the embedded server: set once per process, never in the web form."""
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
    )
    _arg(
        tele,
        "--ml-telemetry-interval",
        metavar="TIME",
        default="1s",
        help="Time between telemetry reads; 0 turns telemetry off. Default: %(default)s",
    )
    _arg(
        tele,
        "--ml-exporter-port",
        metavar="PORT",
        type=int,
        default=None,
        help="Serve live metrics for Prometheus on this port (0: any free port). Default: off",
    )
    _arg(
        tele,
        "--ml-exporter-host",
        metavar="HOST",
        default="127.0.0.1",
        help="Address the exporter binds to. Default: %(default)s",
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
    )
    _arg(
        server,
        "--ml-server-args",
        metavar="ARGS",
        default="",
        help="Extra arguments for the embedded 'locust-ml serve', e.g. "
        '"--max-batch-size 16 --load-seconds 2". Without --model-name in them, the server '
        "serves the model the locustfile's users ask for.",
    )
    _arg(
        server,
        "--ml-server-timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="How long to wait for the embedded server to become ready. Default: %(default)s",
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
    _arg(
        users,
        "--ml-model",
        metavar="NAME",
        default=None,
        help="Model name sent to the server. Default: the user class's model.",
        form="Model name sent (empty: the user class's)",
    )
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
    )
    _arg(
        users,
        "--ml-pool-max-mb",
        metavar="MB",
        default=None,
        help="Image and audio users: memory cap of the payload pool, in MiB. Default: the "
        "user class's.",
    )


# --------------------------------------------------------- listing and web form


@dataclass(frozen=True)
class OptionHelp:
    """One option as ``locust-ml options`` lists it (help with its defaults filled in)."""

    flag: str
    metavar: str
    default: str
    help: str
    env: str
    #: The option's label in the web UI's start form; None: not in the form.
    form: str | None


@dataclass(frozen=True)
class OptionGroup:
    """A group of options, in the order they are registered."""

    title: str
    description: str
    options: tuple[OptionHelp, ...]


def _default_text(value: Any) -> str:
    if value is None or value in ("", []):
        return "-"
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


@functools.cache
def option_groups() -> tuple[OptionGroup, ...]:
    """Every ``--ml-*`` option, grouped as registered: what ``locust-ml options`` prints.

    Locust prints ``--help`` before it loads a locustfile, so the plugin's
    options never appear there; this reads them from a parser of their own.
    """
    # Locust's parser library (its add_argument takes env_var=); it ships no type hints.
    configargparse: Any = importlib.import_module("configargparse")
    parser = configargparse.ArgumentParser(add_help=False)
    add_options(parser)
    groups = []
    for group in parser._action_groups:
        options = []
        for action in group._group_actions:
            flag = next((f for f in action.option_strings if f.startswith("--ml-")), None)
            if flag is None:
                continue
            text = action.help or ""
            with contextlib.suppress(KeyError, TypeError, ValueError):
                text = text % {"default": _default_text(action.default)}
            metavar = action.metavar or (
                "{" + ",".join(action.choices) + "}" if action.choices else ""
            )
            options.append(
                OptionHelp(
                    flag=flag,
                    metavar=str(metavar),
                    default=_default_text(action.default),
                    help=text,
                    env=str(getattr(action, "env_var", "") or ""),
                    form=getattr(action, "form_help", None),
                )
            )
        if options:
            groups.append(OptionGroup(group.title or "", group.description or "", tuple(options)))
    return tuple(groups)


def form_fields() -> dict[str, str]:
    """Option dest (``ml_slo``) -> its label in the web form, for the options shown there."""
    return {
        o.flag.removeprefix("--").replace("-", "_"): o.form
        for g in option_groups()
        for o in g.options
        if o.form is not None
    }


def web_form(
    extra_options: Mapping[str, Mapping[str, Any]], *, shape_kind: str | None = None
) -> dict[str, dict[str, Any]]:
    """Locust's ``extra_options`` (the start form's custom fields) with our fields made usable.

    Locust labels a field "name (help)" on one line, from argparse's raw
    help: ``%(default)s`` and ``%%`` would show as typed and long help is cut
    off, so our fields get their short ``form`` labels. A list default (SLOs
    given on the command line) becomes one comma-separated string, which the
    form sends back and :func:`read_options` splits. ``--ml-shape`` is a select
    whose first choice would be taken when it has no default, so it shows the
    locustfile's shape kind (``shape_kind``) instead.
    """
    labels = form_fields()
    out: dict[str, dict[str, Any]] = {}
    for key, spec in extra_options.items():
        item = dict(spec)
        if key in labels:
            item["help_text"] = labels[key]
            default = item.get("default_value")
            if isinstance(default, list | tuple):
                item["default_value"] = ", ".join(str(x) for x in default)
            if key == "ml_shape" and not default and shape_kind in SHAPE_KINDS:
                item["default_value"] = shape_kind
        out[key] = item
    return out


def format_option_groups(groups: tuple[OptionGroup, ...], width: int = 100) -> str:
    """The listing ``locust-ml options`` prints: each group, each option, its default."""
    lines = [
        "Options the locust-ml plugin adds to locust (locust -f LOCUSTFILE ... prints its "
        "--help before it loads the locustfile, so they are not listed there). Each can also "
        "be set in locust.conf (without the dashes) or as the environment variable shown. "
        "[web form]: also in the web UI's start form.",
    ]
    lines = textwrap.wrap(lines[0], width)
    for g in groups:
        lines += ["", g.title]
        if g.description:
            lines += textwrap.wrap(
                g.description, width, initial_indent="  ", subsequent_indent="  "
            )
        for o in g.options:
            head = f"  {o.flag} {o.metavar}".rstrip()
            if o.form is not None:
                head += "  [web form]"
            lines.append(head)
            lines += textwrap.wrap(
                o.help, width, initial_indent="      ", subsequent_indent="      "
            )
            shown = "unset" if o.default == "-" else o.default
            default = "" if "Default:" in o.help else f"default: {shown}; "
            lines.append(f"      {default}env: {o.env}")
    return "\n".join(lines) + "\n"


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
    soak_ramp_down_s: float | None = None
    spike_baseline: float | None = None
    spike_baseline_s: float | None = None
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


def _slo_texts(value: Any) -> list[str]:
    """SLO expressions from the option: a list (command line) or one string (web form).

    Either may hold several expressions separated by commas or semicolons
    (no SLO contains either); empty parts are ignored.
    """
    items = [value] if isinstance(value, str) else list(value or ())
    return [
        part.strip()
        for item in items
        for part in str(item).replace(";", ",").split(",")
        if part.strip()
    ]


def _opt_span(value: Any, option: str) -> float | None:
    seconds = _opt_time(value, option)
    if seconds is not None and not 0 < seconds < float("inf"):
        raise ConfigError(f"{option}: expected a duration > 0 s (e.g. 30s), got {value!r}")
    return seconds


def _shape_options(get: Callable[..., Any]) -> ShapeOptions:
    def num(name: str, kind: type[int] | type[float] = float) -> Any:
        return _opt_num(get("ml_" + name.replace("-", "_")), "--ml-" + name, kind)

    def secs(name: str) -> float | None:
        return _opt_time(get("ml_" + name.replace("-", "_")), "--ml-" + name)

    def span(name: str) -> float | None:
        """A duration that must be > 0: the shape would read 0 as "not given"."""
        return _opt_span(get("ml_" + name.replace("-", "_")), "--ml-" + name)

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
        slos=parse_slos(_slo_texts(get("ml_slo")), option="--ml-slo"),
        warmup_s=secs("warmup"),
        start=num("ramp-start"),
        step=num("ramp-step"),
        factor=num("ramp-factor"),
        max=num("ramp-max"),
        step_seconds=span("step-time"),
        spawn_rate=num("spawn-rate"),
        soak_load=num("soak-load"),
        soak_s=span("soak-time"),
        soak_ramp_s=secs("soak-ramp"),
        soak_ramp_down_s=secs("soak-ramp-down"),
        spike_baseline=num("spike-baseline"),
        spike_baseline_s=span("spike-baseline-time"),
        spike_factor=num("spike-factor"),
        spike_s=span("spike-time"),
        spike_recovery_s=span("spike-recovery"),
        stages=None if stages is None else str(stages),
        search_start=num("search-start"),
        search_precision=num("search-precision"),
        search_max_s=span("search-max-time"),
        search_step_s=span("search-step-time"),
        stability_tolerance=num("stability-tolerance") or 0.25,
        pool_users=num("pool-users", int),
        max_inflight=num("max-inflight", int) or 1000,
        max_lateness_s=_opt_span(get("ml_max_lateness"), "--ml-max-lateness") or 10.0,
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
