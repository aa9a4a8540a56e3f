"""``locust-ml sweep``'s options, and the checked :class:`~locust_ml.sweep.runner.Sweep` they make.

The sweep's own options are few (what to vary, how to start the target,
where to write); every ``--ml-*`` option is the plugin's, declared once in
:mod:`locust_ml.options`, registered here (hidden from ``--help``, which
points to ``locust-ml options``) so that a bad value fails before any
target starts, and passed to each configuration's locust run as given. Any
other option is locust's and is passed through untouched - ``--processes 4``
or ``--master --expect-workers 2`` make every search distributed.

Everything is checked before the first configuration starts (exit 2, one
line): the locustfile exists; there is a target mode (``--server`` or
``--host``); there are configurations; every template field is a parameter;
the shape, if given, is a capacity shape; no ``--ml-report-dir`` (each
configuration has its own).

Importing this module must stay cheap: the CLI imports it to build
``locust-ml --help`` (no numpy, no report model).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Final

from locust_ml.errors import ConfigError
from locust_ml.options import Decisions, flags, groups

if TYPE_CHECKING:
    from locust_ml.sweep.configs import Config
    from locust_ml.sweep.runner import Sweep
    from locust_ml.sweep.target import TargetSpec

__all__ = ["DECISION_FLAGS", "add_sweep_arguments", "ml_arguments", "sweep_from_args"]

#: Options that change decisions (cost, plan), never a measurement: a finished
#: configuration is kept when only these change, and re-priced.
DECISION_FLAGS: Final = frozenset(
    {
        "--ml-price-per-hour",
        "--ml-instance",
        "--ml-target-rps",
        "--ml-target-utilization",
        "--ml-redundancy",
    }
)
#: The shapes whose report states an SLO capacity.
CAPACITY_KINDS: Final = ("capacity-search", "ramp")

_EXAMPLE = """\
example (a local server per configuration, 3 x 2 configurations):
  locust-ml sweep -f locustfiles/summarizer.py \\
    --server "locust-ml serve --backend simulated --port {port} \\
              --max-batch-size {batch} --instances {instances}" \\
    --param batch=1,4,16 --param instances=1,2 \\
    --ml-slo "p99<500ms" --ml-price-per-hour 1.2 --ml-target-rps 1000 --out sweep/

example (a remote target reconfigured per configuration):
  locust-ml sweep -f locustfiles/summarizer.py --host http://summarizer.ml.svc:8000 \\
    --setup "helm upgrade summarizer ./chart --reuse-values --set batch={batch} --wait" \\
    --param batch=1,4,16 --ml-slo "p99<500ms" --out sweep/

Every --ml-* option (locust-ml options lists them) goes to each configuration's
capacity search; --ml-shape defaults to capacity-search. Any other option is
locust's and is passed through as given (--processes 4, --master
--expect-workers 2). Files: OUT/sweep.json, OUT/sweep.html, OUT/<config>/
(report/, locust and server logs, outcome.json). Running the same command
again skips the finished configurations (--fresh redoes them). Exit codes: 0 a
configuration was chosen, 1 none qualified, 2 bad options, 130 interrupted.
See docs/sweep.md.
"""


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``locust-ml sweep`` (the parser must have ``allow_abbrev=False``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EXAMPLE
    parser.add_argument(
        "-f", "--locustfile", required=True, metavar="LOCUSTFILE", help="the locustfile to run"
    )
    what = parser.add_argument_group("configurations")
    what.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="a parameter and its values (repeatable: the grid of every combination)",
    )
    what.add_argument(
        "--configs",
        metavar="FILE",
        help="YAML/JSON list of configurations, each a mapping of parameter values with an "
        "optional price_per_hour (crossed with --param if both are given)",
    )
    what.add_argument(
        "--strategy",
        default="grid",
        metavar="grid|quick[:NAME]",
        help="grid (default): every configuration; quick: walk the numeric parameter NAME "
        "upwards and stop once the score falls on both sides of the best",
    )
    target = parser.add_argument_group("targets")
    target.add_argument(
        "--server",
        metavar="CMD",
        help="command that starts the target, filled per configuration ({name} fields, "
        "{port}: a free loopback port); no shell, its own process group, stopped after",
    )
    target.add_argument(
        "--host",
        metavar="URL",
        help="the target's URL (a template too); with --server, default http://127.0.0.1:{port}",
    )
    target.add_argument(
        "--setup", metavar="CMD", help="command run before each configuration (must exit 0)"
    )
    target.add_argument(
        "--teardown", metavar="CMD", help="command run after each configuration, whatever happened"
    )
    target.add_argument(
        "--ready-path",
        action="append",
        metavar="PATH",
        help="polled until it answers 200 before the search (repeatable: the first that does); "
        "default /health/ready, then /v2/health/ready, then /health",
    )
    target.add_argument(
        "--ready-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds a target may take to be ready (default: 120)",
    )
    target.add_argument(
        "--setup-timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds --setup and --teardown may take (default: 600)",
    )
    out = parser.add_argument_group("output and resuming")
    out.add_argument(
        "--out",
        metavar="DIR",
        help="folder of the sweep's files (default: reports/sweep-<locustfile name>)",
    )
    out.add_argument(
        "--fresh",
        action="store_true",
        help="measure every configuration again, ignoring finished ones in --out",
    )
    out.add_argument(
        "--retry-failed",
        action="store_true",
        help="measure again the configurations that failed (no start, no report) or whose "
        "run was INVALID (e.g. the load generator fell behind)",
    )
    out.add_argument(
        "--config-timeout",
        type=float,
        default=1800.0,
        metavar="S",
        help="seconds one configuration's search may run before it is stopped (default: 1800)",
    )
    ml = parser.add_argument_group(
        "locust-ml options",
        "every --ml-* option (listed by: locust-ml options), given to each search",
    )
    for group in groups():
        for _name, meta, _default in flags(group):
            # Listed by locust-ml options; hidden here so --help stays about the sweep.
            ml.add_argument(
                meta.flag,
                dest=meta.dest,
                default=None,
                action="append" if meta.repeat else "store",
                help=argparse.SUPPRESS,
            )


def ml_arguments(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    """The ``--ml-*`` options given, as (flag, value) pairs in the option table's order."""
    given: list[tuple[str, str]] = []
    for group in groups():
        for _name, meta, _default in flags(group):
            raw = getattr(args, meta.dest, None)
            if raw is None:
                continue
            for value in raw if meta.repeat else [raw]:
                given.append((meta.flag, str(value)))
    return tuple(given)


_LOCUST_OWNED = re.compile(r"^(-H|--host|-f|--locustfile|--ml-report-dir)(=.*)?$")


def _check_extra(extra: list[str]) -> None:
    for word in extra:
        if word.startswith("--ml-"):
            raise ConfigError(
                f"{word.split('=')[0]}: not a locust-ml option (locust-ml options lists them)"
            )
        if _LOCUST_OWNED.match(word) or re.match(r"^-H.", word):
            raise ConfigError(
                f"{word}: the sweep sets the target and report folder of each run; use --host "
                "(a template) and --out"
            )


def _check_seconds(option: str, value: float) -> None:
    if not 0 < value <= 7 * 86_400:
        raise ConfigError(f"{option} {value!r}: expected seconds > 0")


def _configs(args: argparse.Namespace) -> tuple[Config, ...]:
    from locust_ml.sweep.configs import combine, load_configs_file, parse_param

    listed = load_configs_file(args.configs) if args.configs else None
    axes = [parse_param(text) for text in args.param]
    if listed is None and not axes:
        raise ConfigError("no configurations: give --param NAME=V1,V2,... or --configs FILE")
    configs = combine(listed, axes)
    folders: dict[str, Config] = {}
    for c in configs:
        other = folders.setdefault(c.slug, c)
        if other is not c:
            raise ConfigError(
                f"configurations {other.label} and {c.label} would share the folder {c.slug}; "
                "change a value"
            )
    return configs


def _target(args: argparse.Namespace, names: list[str]) -> TargetSpec:
    from locust_ml.sweep.configs import parse_template
    from locust_ml.sweep.target import DEFAULT_READY_PATHS, TargetSpec

    if args.server is None and args.host is None:
        raise ConfigError(
            "no target: give --server CMD (a server started here per configuration) or --host "
            "URL (a target elsewhere, reconfigured by --setup)"
        )
    server = None if args.server is None else parse_template(args.server, "--server")
    host = None if args.host is None else parse_template(args.host, "--host", split=False)
    setup = None if args.setup is None else parse_template(args.setup, "--setup")
    teardown = None if args.teardown is None else parse_template(args.teardown, "--teardown")
    local = server is not None
    for template in (server, host, setup, teardown):
        if template is not None:
            template.check(names, port=local and (template is server or template is host))
    if server is not None and host is None and "port" not in server.fields:
        raise ConfigError(
            "--server has no {port} field: add one (the sweep picks a free port per "
            "configuration) or give --host URL where the server listens"
        )
    ready_paths = tuple(args.ready_path or DEFAULT_READY_PATHS)
    for path in ready_paths:
        if not path.startswith("/"):
            raise ConfigError(f"--ready-path {path!r}: expected a path such as /health/ready")
    for option, seconds in (
        ("--ready-timeout", args.ready_timeout),
        ("--setup-timeout", args.setup_timeout),
        ("--config-timeout", args.config_timeout),
    ):
        _check_seconds(option, seconds)
    return TargetSpec(
        server=server,
        host=host,
        setup=setup,
        teardown=teardown,
        ready_paths=ready_paths,
        ready_timeout_s=args.ready_timeout,
        setup_timeout_s=args.setup_timeout,
    )


def sweep_from_args(args: argparse.Namespace, extra: list[str]) -> Sweep:
    """A checked :class:`Sweep` from the parsed options and locust's pass-through options."""
    from locust_ml.options import read_options
    from locust_ml.sweep.ranking import BY_CAPACITY, BY_COST
    from locust_ml.sweep.runner import Sweep
    from locust_ml.sweep.search import LocustCommand
    from locust_ml.sweep.strategy import parse_strategy

    _check_extra(extra)
    locustfile = Path(args.locustfile)
    if not locustfile.is_file():
        raise ConfigError(f"-f {args.locustfile}: no such file")
    options = read_options(args)  # every --ml-* value checked, one line each
    if options.report.report_dir is not None:
        raise ConfigError(
            "--ml-report-dir: the sweep gives each configuration its own report folder under --out"
        )
    shape = options.load.shape
    if shape is not None and shape.kind and shape.kind not in CAPACITY_KINDS:
        raise ConfigError(
            f"--ml-shape {shape.text}: a sweep compares SLO capacities, which only "
            f"{' and '.join(CAPACITY_KINDS)} measure"
        )
    configs = _configs(args)
    target = _target(args, [n for n, _ in configs[0].params])
    decisions: Decisions = options.decisions
    priced = decisions.price_per_hour is not None or any(
        c.price_per_hour is not None for c in configs
    )
    ml = ml_arguments(args)
    price = next((v for f, v in ml if f == "--ml-price-per-hour"), None)
    ml_args = tuple(w for f, v in ml if f != "--ml-price-per-hour" for w in (f, v))
    command = LocustCommand(
        locustfile=str(locustfile),
        ml_args=ml_args,
        locust_args=tuple(extra),
        price_per_hour=price,
        shape_given=shape is not None,
    )
    fingerprint = {
        "locustfile": str(locustfile),
        "server": args.server,
        "host": args.host,
        "setup": args.setup,
        "teardown": args.teardown,
        "ready_paths": list(target.ready_paths),
        "ml_args": [f"{f} {v}" for f, v in ml if f not in DECISION_FLAGS],
        "locust_args": list(extra),
    }
    out = Path(args.out) if args.out else Path("reports") / f"sweep-{locustfile.stem}"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    strategy = parse_strategy(args.strategy, configs)
    settings = {
        **fingerprint,
        "ml_args": list(ml_args) + ([] if price is None else ["--ml-price-per-hour", price]),
        "strategy": strategy.text,
        "configurations": len(configs),
        "out": str(out),
    }
    return Sweep(
        configs=configs,
        out=out,
        target=target,
        command=command,
        strategy=strategy,
        by=BY_COST if priced else BY_CAPACITY,
        decisions=decisions,
        fingerprint=fingerprint,
        settings=settings,
        config_timeout_s=args.config_timeout,
        fresh=args.fresh,
        retry_failed=args.retry_failed,
    )
