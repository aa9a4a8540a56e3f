"""The ``locust-ml`` command: tools around a load test, not the test itself.

The load test runs under ``locust -f LOCUSTFILE``; this command hosts what
surrounds it. Subcommands import their implementation lazily so that
``locust-ml --help`` is instant and a missing optional extra only affects the
subcommand that needs it.

Every :class:`~locust_ml.errors.LocustMLError` ends as one line on stderr and a
non-zero exit code, never a traceback: 2 for a configuration error (a bad
option, an unusable input file), 3 when a target can't be started or reached,
1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence

from locust_ml.errors import (
    EXIT_CONFIG,
    EXIT_TARGET,
    ConfigError,
    LocustMLError,
    ReportError,
    TargetError,
)

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    from locust_ml.server.config import config_from_args

    config = config_from_args(args)  # validate before importing the server stack
    # One BLAS thread by default: the reference server usually shares the
    # machine with the load generator, and a many-threaded matmul would make
    # its cost depend on what else runs. Must be set before numpy loads.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.blas_threads))
    from locust_ml.server.run import serve

    return serve(config)


def _gpu_agent(args: argparse.Namespace) -> int:
    from locust_ml.telemetry.gpu_agent import run_gpu_agent

    return run_gpu_agent(args)


def _compare(args: argparse.Namespace) -> int:
    from locust_ml.report.compare import run_compare

    return run_compare(args)


def _sweep(args: argparse.Namespace) -> int:
    from locust_ml.sweep.command import run_sweep_command

    return run_sweep_command(args, list(args.passthrough))


def _options(args: argparse.Namespace) -> int:
    from locust_ml.options import format_listing, markdown_table

    sys.stdout.write(markdown_table() if args.markdown else format_listing())
    return 0


def _autoscale(args: argparse.Namespace) -> int:
    from locust_ml.report.autoscaling import run_autoscale

    return run_autoscale(args)


# The options of the commands that read reports are defined here rather than
# beside their code: importing anything in ``locust_ml.report`` loads the
# report model, and with it numpy, which ``locust-ml --help`` and ``locust-ml
# serve`` (whose start-up ``coldstart`` measures) should not pay for. A test
# checks that choices and defaults match the modules' constants.
_SORT_KEYS = ("cost", "capacity")
_METRICS = ("requests", "gpu", "cpu")
_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
_REQUESTS_COUNTER = "http_requests_total"
_TARGET_UTILIZATION = 0.7


def _add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT.json",
        help="report.json files of the runs, or the directories holding them",
    )
    parser.add_argument(
        "--label",
        action="append",
        metavar="NAME",
        help="name of a run in the table, once per report in the same order "
        "(default: the report's directory name, plus the instance type if known)",
    )
    parser.add_argument(
        "--price",
        action="append",
        metavar="USD_PER_HOUR",
        help="instance price in $/h, once per report in the same order ('-' keeps the "
        "report's own); for runs made without --ml-price-per-hour",
    )
    parser.add_argument(
        "--sort",
        choices=_SORT_KEYS,
        default="cost",
        help="cost (default): cheapest per 1M requests at SLO capacity first; "
        "capacity: highest SLO capacity per replica first",
    )
    parser.add_argument("--markdown", metavar="OUT.md", help="also write the table as Markdown")
    parser.add_argument("--json", metavar="OUT.json", help="also write the comparison as JSON")


def _add_autoscale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", metavar="REPORT.json", help="report.json of a capacity run")
    parser.add_argument(
        "--deployment", required=True, metavar="NAME", help="the Deployment to scale"
    )
    parser.add_argument(
        "--namespace", default="default", metavar="NS", help="its namespace (default: default)"
    )
    parser.add_argument(
        "--name", metavar="NAME", help="name of the HPA / ScaledObject (default: the deployment's)"
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        default=".",
        metavar="DIR",
        help="directory to write the two files to (default: .)",
    )
    parser.add_argument(
        "--metric",
        choices=_METRICS,
        default="requests",
        help="signal to scale on: requests (default), the request rate per pod, the measured "
        "capacity's own unit; gpu or cpu: GPU utilization or CPU cores at SLO capacity, "
        "if the report measured them",
    )
    parser.add_argument(
        "--target-utilization",
        type=float,
        metavar="U",
        help="fraction of the SLO capacity each replica is kept at "
        f"(default: the report's plan, else {_TARGET_UTILIZATION})",
    )
    parser.add_argument(
        "--metric-name",
        metavar="NAME",
        help="Pods metric the HPA reads (default: inference_requests_per_second for requests, "
        "DCGM_FI_DEV_GPU_UTIL for gpu)",
    )
    parser.add_argument(
        "--prometheus-url",
        default=_PROMETHEUS_URL,
        metavar="URL",
        help=f"Prometheus that KEDA queries (default: {_PROMETHEUS_URL})",
    )
    parser.add_argument(
        "--counter",
        default=_REQUESTS_COUNTER,
        metavar="NAME",
        help="request counter that the default KEDA query rates, for --metric requests "
        f"(default: {_REQUESTS_COUNTER})",
    )
    parser.add_argument(
        "--query", metavar="PROMQL", help="KEDA query replacing the default (deployment's total)"
    )
    parser.add_argument("--min-replicas", type=int, metavar="N", help="default: 1 + redundancy")
    parser.add_argument(
        "--max-replicas", type=int, metavar="N", help="default: the report's plan.replicas"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the manifests even from a report whose verdict is INVALID (said so in "
        "their comments)",
    )


def _add_report_tools(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compare = sub.add_parser(
        "compare",
        help="compare runs side by side, cheapest per 1M requests at SLO capacity first",
        description=(
            "Rank several report.json files by cost per 1M requests at SLO capacity "
            "(price per hour / (SLO capacity req/s x 3600) x 1e6), with capacity, knee, "
            "p99 and GPU utilization at capacity, and cost relative to the cheapest."
        ),
    )
    _add_compare_arguments(compare)
    compare.set_defaults(func=_compare)
    autoscale = sub.add_parser(
        "autoscale",
        help="write an HPA and a KEDA ScaledObject from a run's SLO capacity",
        description=(
            "Write a Kubernetes autoscaling/v2 HorizontalPodAutoscaler and a KEDA ScaledObject "
            "(prometheus trigger) whose per-replica target is the measured SLO capacity x "
            "the target utilization. Apply one of the two, not both."
        ),
    )
    _add_autoscale_arguments(autoscale)
    autoscale.set_defaults(func=_autoscale)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, exposed for documentation and tests."""
    parser = argparse.ArgumentParser(
        prog="locust-ml",
        description="Load testing and capacity planning for ML inference services.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from locust_ml.server.config import add_server_arguments

    serve = sub.add_parser(
        "serve",
        help="run the reference inference server",
        description=(
            "Run the reference inference server: an OpenAI-compatible API in front of "
            "a real CPU summarizer or a simulated backend with an exact service-time model."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_server_arguments(serve)
    serve.set_defaults(func=_serve)

    from locust_ml.traces.commands import (
        add_fit_trace_arguments,
        add_sample_arguments,
        run_fit_trace,
        run_sample,
    )

    fit = sub.add_parser(
        "fit-trace",
        help="fit size and arrival distributions of a trace into a profile",
        description="Fit the size columns (and arrivals) of a CSV/JSONL trace into a profile.",
    )
    add_fit_trace_arguments(fit)
    fit.set_defaults(func=run_fit_trace)
    sample = sub.add_parser(
        "sample",
        help="draw samples from a profile as CSV",
        description="Draw joint samples from a profile (a path or a bundled name) as CSV.",
    )
    add_sample_arguments(sample)
    sample.set_defaults(func=run_sample)

    from locust_ml.telemetry.gpu_agent import add_gpu_agent_arguments

    agent = sub.add_parser(
        "gpu-agent",
        help="expose this host's NVML GPU readings for Prometheus",
        description=(
            "A sidecar for GPU hosts: serves NVML readings (utilization, memory, power, "
            "temperature, clocks) as a Prometheus endpoint, bound to 127.0.0.1 by default."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_gpu_agent_arguments(agent)
    agent.set_defaults(func=_gpu_agent)

    _add_report_tools(sub)

    from locust_ml.report.rerender import add_parser as add_report_parser

    add_report_parser(sub)

    options = sub.add_parser(
        "options",
        help="list every --ml-* option of the locust plugin, with its default and help",
        description=(
            "List the --ml-* options the plugin adds to locust, grouped as registered, with "
            "each one's default, environment variable and whether the web UI's start form "
            "shows it. (locust -f LOCUSTFILE --help prints before the locustfile, and so the "
            "plugin, is loaded: it cannot list them.)"
        ),
    )
    options.add_argument(
        "--markdown",
        action="store_true",
        help="print the tables of docs/options.md instead (generated from the same table)",
    )
    options.set_defaults(func=_options)

    from locust_ml.sweep.settings import add_sweep_arguments

    sweep = sub.add_parser(
        "sweep",
        help="run the capacity search once per server configuration and rank them",
        description=textwrap.fill(
            "Measure the SLO capacity of every configuration of a server (--param grids or a "
            "configurations file) with the capacity search, each against a target started "
            "(--server) or reconfigured (--setup/--teardown with --host) for it; rank them by "
            "cost per 1M requests at SLO capacity when prices are given, else by SLO capacity "
            "per replica; write OUT/sweep.json, OUT/sweep.html and one report folder per "
            "configuration.",
            width=79,
        ),
        allow_abbrev=False,  # locust's --config must not pass for --configs
    )
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=_sweep, passthrough=True)

    from locust_ml.coldstart import add_coldstart_arguments, run_coldstart

    coldstart = sub.add_parser(
        "coldstart",
        help="measure time to ready and first-request latency of a server, K times",
        description=(
            "Start a server command K times (its own process group, no shell), time it until "
            "the ready URL answers 200, then time the first request against the median of "
            "W warm ones; stop it (SIGTERM, then SIGKILL) after each. Loopback URLs only."
        ),
    )
    add_coldstart_arguments(coldstart)
    coldstart.set_defaults(func=run_coldstart)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``locust-ml`` console script."""
    parser = build_parser()
    # Only ``sweep`` takes options it does not know: locust's, passed to each run.
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passthrough", None) is True:
        args.passthrough = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        result: int = args.func(args)
    except (ConfigError, ReportError) as exc:
        print(f"locust-ml {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except TargetError as exc:
        print(f"locust-ml {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_TARGET
    except LocustMLError as exc:
        print(f"locust-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
