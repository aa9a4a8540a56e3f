"""The ``locust-ml`` command: tools around a load test, not the test itself.

The load test runs under ``locust -f LOCUSTFILE``; this command hosts what
surrounds it. Subcommands import their implementation lazily so that
``locust-ml --help`` is instant and a missing optional extra only affects the
subcommand that needs it.

Every :class:`~locust_ml.errors.LocustMLError` ends as one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from locust_ml.errors import EXIT_CONFIG, ConfigError, LocustMLError

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``locust-ml`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"locust-ml {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LocustMLError as exc:
        print(f"locust-ml {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
