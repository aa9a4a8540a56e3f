"""``locust-ml coldstart``: how long a model server takes to become useful, K times.

Autoscaling only helps if a new replica is ready before the burst that asked
for it is over, and a replica's first requests are often much slower than its
steady state (lazy CUDA context, kernel autotuning, JIT, cache warm-up). A
load test of a warm server sees neither. This command measures both, from a
real process start, ``K`` times:

1. start the command (``shlex.split``, no shell) in a process group of its own;
2. poll the ready URL (default: the URL's ``/health/ready``) until it answers
   200 -- the **time to ready**, from just before the start to that answer
   (resolution: the poll interval, 50 ms by default);
3. send the request once -- the **first-request latency**;
4. send it ``W`` more times, one after another -- their median is the **warm p50**;
5. stop the process group (SIGTERM, then SIGKILL after a grace period), always.

Every request opens a new connection, so the first and the warm requests pay
the same client-side cost and their ratio shows the server's own warm-up.

Loopback only, unless ``--allow-remote``: the numbers are attributed to the
process this command started, and only a URL on this machine can belong to it.
A remote URL would time some other server -- and send it requests -- while the
local process merely ran alongside. Before each start the ready URL must *not*
already answer 200: a server left running on that port would otherwise be
measured as a zero-second cold start.

The statistics (:func:`summarize_trials`) are pure; the process and HTTP glue
is injected (``launch=``, ``fetch=``, ``clock=``, ``sleep=``) so the failure paths
are tested without real processes. Errors: a bad option is a
:class:`~locust_ml.errors.ConfigError` (exit 2); a command that exits early,
never gets ready, or answers a request with an error is a
:class:`~locust_ml.errors.TargetError` (exit 3) naming the command, its exit
status and its last line of output.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from locust_ml.errors import ConfigError, TargetError
from locust_ml.launch import Child, Fetch, http_fetch, launch_process
from locust_ml.launch import display as display_command

__all__ = [
    "COLDSTART_SCHEMA_VERSION",
    "LOOPBACK_HOSTS",
    "ColdStartSpec",
    "ColdStartSummary",
    "Spread",
    "Trial",
    "add_coldstart_arguments",
    "default_ready_url",
    "measure_cold_start",
    "run_coldstart",
    "summarize_trials",
]

COLDSTART_SCHEMA_VERSION = "1.0"
#: Hosts a URL may name without ``--allow-remote``.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


# --------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Trial:
    """One start of the command: time to ready, then the first and warm latencies."""

    index: int
    ready_s: float
    first_ms: float
    warm_ms: tuple[float, ...]

    @property
    def warm_p50_ms(self) -> float:
        return float(statistics.median(self.warm_ms))

    @property
    def first_to_warm(self) -> float | None:
        """First-request latency / warm p50 (None if the warm p50 is 0)."""
        p50 = self.warm_p50_ms
        return self.first_ms / p50 if p50 > 0 else None


@dataclass(frozen=True)
class Spread:
    """Minimum, median and maximum over the trials."""

    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(min(values), float(statistics.median(values)), max(values))


@dataclass(frozen=True)
class ColdStartSummary:
    """What ``coldstart`` reports over all trials."""

    trials: int
    warm_requests: int
    ready_s: Spread
    first_ms: Spread
    warm_p50_ms: Spread
    #: Per-trial first / warm p50; None when a warm p50 was 0.
    first_to_warm: Spread | None


def summarize_trials(trials: Sequence[Trial]) -> ColdStartSummary:
    """Min/median/max of time to ready, first latency, warm p50 and their ratio.

    The ratio is taken per trial (each first request against its own warm
    requests) before the spread, so a slow machine in one trial does not skew
    it. Medians of an even count are the mean of the middle two.
    """
    if not trials:
        raise ValueError("summarize_trials needs at least one trial")
    ratios = [t.first_to_warm for t in trials]
    return ColdStartSummary(
        trials=len(trials),
        warm_requests=len(trials[0].warm_ms),
        ready_s=Spread.of([t.ready_s for t in trials]),
        first_ms=Spread.of([t.first_ms for t in trials]),
        warm_p50_ms=Spread.of([t.warm_p50_ms for t in trials]),
        first_to_warm=None if None in ratios else Spread.of([r for r in ratios if r is not None]),
    )


# --------------------------------------------------------------------- the spec


def default_ready_url(url: str) -> str:
    """``scheme://host:port/health/ready`` of ``url`` (vLLM's and the reference server's)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/health/ready", "", ""))


def _check_url(option: str, url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{option} {url!r}: expected an http(s) URL such as http://127.0.0.1:8000/"
        )
    if not allow_remote and parts.hostname.lower() not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"{option} {url!r}: host {parts.hostname!r} is not loopback (127.0.0.1, localhost, "
            "::1); coldstart times the process it starts, which only a local URL belongs to "
            "(--allow-remote if the command really starts that server)"
        )


@dataclass(frozen=True)
class ColdStartSpec:
    """What to start, where to ask, and how often (validated on construction)."""

    command: tuple[str, ...]
    url: str
    ready_url: str = ""  # empty: default_ready_url(url)
    trials: int = 3
    warm: int = 20
    method: str = ""  # empty: POST with a body, else GET
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 120.0
    request_timeout_s: float = 60.0
    grace_s: float = 10.0
    poll_s: float = 0.05
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if not self.command:
            raise ConfigError("--cmd is empty; expected the command that starts the server")
        if not self.ready_url:
            object.__setattr__(self, "ready_url", default_ready_url(self.url))
        if not self.method:
            object.__setattr__(self, "method", "GET" if self.body is None else "POST")
        _check_url("--url", self.url, self.allow_remote)
        _check_url("--ready-url", self.ready_url, self.allow_remote)
        for option, value, low, high in (
            ("-k", self.trials, 1, 1000),
            ("--warm", self.warm, 1, 100_000),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"{option} {value!r}: expected an integer in [{low}, {high}]")
        for option, seconds in (
            ("--timeout", self.timeout_s),
            ("--request-timeout", self.request_timeout_s),
            ("--grace", self.grace_s),
            ("--poll", self.poll_s),
        ):
            if not 0 < seconds <= 86_400:
                raise ConfigError(f"{option} {seconds!r}: expected seconds > 0 and <= 86400")

    @property
    def display(self) -> str:
        return display_command(self.command)


# --------------------------------------------------------------------- processes and HTTP
# launch.py: the process group (launch_process) and the HTTP probe (http_fetch).


# --------------------------------------------------------------------- measuring


def _wait_ready(
    spec: ColdStartSpec,
    child: Child,
    t0: float,
    fetch: Fetch,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> float:
    deadline = t0 + spec.timeout_s
    last = "no answer yet"
    while True:
        code = child.poll()
        if code is not None:
            raise TargetError(_exited(spec, child, code))
        try:
            timeout = min(2.0, max(0.05, deadline - clock()))
            status, _ = fetch("GET", spec.ready_url, None, {}, timeout)
        except OSError as exc:
            last = f"no answer: {exc}"
        else:
            if status == 200:
                return clock() - t0
            last = f"last answer {status}"
        if clock() > deadline:
            tail = child.last_line()
            raise TargetError(
                f"the command ({spec.display}) was not ready after {spec.timeout_s:g} s "
                f"({spec.ready_url}: {last})" + (f"; last output: {tail}" if tail else "")
            )
        sleep(spec.poll_s)


def _exited(spec: ColdStartSpec, child: Child, code: int, when: str = "before it was ready") -> str:
    tail = child.last_line()
    status = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return f"the command ({spec.display}) {status} {when}" + (f": {tail}" if tail else "")


def _timed(
    spec: ColdStartSpec, fetch: Fetch, clock: Callable[[], float], what: str, child: Child
) -> float:
    start = clock()
    try:
        status, text = fetch(spec.method, spec.url, spec.body, spec.headers, spec.request_timeout_s)
    except OSError as exc:
        code = child.poll()
        if code is not None:
            raise TargetError(_exited(spec, child, code, f"during the {what}")) from None
        raise TargetError(f"{spec.method} {spec.url} ({what}): no answer: {exc}") from None
    elapsed_ms = (clock() - start) * 1000.0
    if not 200 <= status < 300:
        snippet = " ".join(text.split())[:120]
        raise TargetError(
            f"{spec.method} {spec.url} ({what}) answered {status}, expected 2xx"
            + (f": {snippet}" if snippet else "")
        )
    return elapsed_ms


def measure_cold_start(
    spec: ColdStartSpec,
    *,
    launch: Callable[[Sequence[str]], Child] = launch_process,
    fetch: Fetch = http_fetch,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    on_trial: Callable[[Trial], None] | None = None,
) -> tuple[Trial, ...]:
    """Run ``spec.trials`` cold starts; the child is stopped after each, whatever happens."""
    trials: list[Trial] = []
    for index in range(1, spec.trials + 1):
        try:
            status, _ = fetch("GET", spec.ready_url, None, {}, 2.0)
        except OSError:
            status = 0
        if status == 200:
            raise TargetError(
                f"{spec.ready_url} already answers 200 before the command ({spec.display}) started "
                f"(trial {index}); stop the server that holds the port, or use another one"
            )
        t0 = clock()
        child = launch(spec.command)
        try:
            ready_s = _wait_ready(spec, child, t0, fetch, clock, sleep)
            first_ms = _timed(spec, fetch, clock, f"first request of trial {index}", child)
            warm = tuple(
                _timed(spec, fetch, clock, f"warm request {i} of trial {index}", child)
                for i in range(1, spec.warm + 1)
            )
        finally:
            child.stop(spec.grace_s)
        trial = Trial(index, ready_s, first_ms, warm)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return tuple(trials)


# --------------------------------------------------------------------- output


def _spread(s: Spread, fmt: str, unit: str) -> str:
    return f"min {s.min:{fmt}}{unit}  median {s.median:{fmt}}{unit}  max {s.max:{fmt}}{unit}"


def format_trial(t: Trial) -> str:
    ratio = "-" if t.first_to_warm is None else f"{t.first_to_warm:.2f}x"
    return (
        f"trial {t.index}: ready {t.ready_s:.3f} s, first request {t.first_ms:.1f} ms, "
        f"warm p50 {t.warm_p50_ms:.1f} ms, first/warm {ratio}"
    )


def format_summary(s: ColdStartSummary) -> str:
    lines = [
        f"time to ready     {_spread(s.ready_s, '.3f', ' s')}",
        f"first request     {_spread(s.first_ms, '.1f', ' ms')}",
        f"warm p50          {_spread(s.warm_p50_ms, '.1f', ' ms')}"
        f"  ({s.warm_requests} requests per trial)",
    ]
    if s.first_to_warm is not None:
        lines.append(f"first / warm p50  {_spread(s.first_to_warm, '.2f', 'x')}")
    return "\n".join(lines)


def result_to_dict(spec: ColdStartSpec, trials: Sequence[Trial]) -> dict[str, Any]:
    """The ``-o`` JSON: the spec, every trial, and the summary."""
    summary = summarize_trials(trials)

    def spread(s: Spread | None, ndigits: int) -> dict[str, float] | None:
        if s is None:
            return None
        return {
            k: round(v, ndigits) for k, v in (("min", s.min), ("median", s.median), ("max", s.max))
        }

    return {
        "schema_version": COLDSTART_SCHEMA_VERSION,
        "command": list(spec.command),
        "url": spec.url,
        "ready_url": spec.ready_url,
        "method": spec.method,
        "warm_requests": spec.warm,
        "trials": [
            {
                "index": t.index,
                "ready_s": round(t.ready_s, 6),
                "first_request_ms": round(t.first_ms, 3),
                "warm_p50_ms": round(t.warm_p50_ms, 3),
                "first_to_warm": None if t.first_to_warm is None else round(t.first_to_warm, 4),
                "warm_ms": [round(x, 3) for x in t.warm_ms],
            }
            for t in trials
        ],
        "summary": {
            "trials": summary.trials,
            "ready_s": spread(summary.ready_s, 6),
            "first_request_ms": spread(summary.first_ms, 3),
            "warm_p50_ms": spread(summary.warm_p50_ms, 3),
            "first_to_warm": spread(summary.first_to_warm, 4),
        },
    }


# --------------------------------------------------------------------- CLI


def add_coldstart_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``locust-ml coldstart --cmd ... --url ...``."""
    parser.add_argument(
        "--cmd", required=True, metavar="COMMAND", help="command that starts the server (no shell)"
    )
    parser.add_argument("--url", required=True, metavar="URL", help="URL of the request to time")
    parser.add_argument(
        "--ready-url", metavar="URL", help="polled until 200 (default: the URL's /health/ready)"
    )
    parser.add_argument(
        "-k", "--trials", type=int, default=3, metavar="K", help="cold starts (default: 3)"
    )
    parser.add_argument(
        "-w",
        "--warm",
        type=int,
        default=20,
        metavar="W",
        help="warm requests after the first (default: 20)",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--request-json", metavar="FILE", help="JSON body of the request (POST)")
    body.add_argument("--body", metavar="TEXT", help="body of the request (POST)")
    parser.add_argument("--method", metavar="METHOD", help="default: POST with a body, else GET")
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="request header (repeatable); a body is sent as application/json unless set here",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to wait for ready (default: 120)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds per request (default: 60)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds from SIGTERM to SIGKILL (default: 10)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback URL (only if the command itself starts that server)",
    )
    parser.add_argument("-o", "--output", metavar="OUT.json", help="write the results as JSON")


def _headers(values: Sequence[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in values:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"-H {raw!r}: expected 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def spec_from_args(args: argparse.Namespace) -> ColdStartSpec:
    """A validated :class:`ColdStartSpec` from parsed options (ConfigError naming the option)."""
    try:
        command = tuple(shlex.split(args.cmd))
    except ValueError as exc:
        raise ConfigError(f"--cmd {args.cmd!r}: cannot split: {exc}") from None
    body: bytes | None = None
    if args.request_json is not None:
        try:
            body = Path(args.request_json).read_bytes()
            json.loads(body)
        except OSError as exc:
            raise ConfigError(
                f"--request-json {args.request_json}: cannot read ({exc.strerror or exc})"
            ) from None
        except ValueError as exc:
            raise ConfigError(f"--request-json {args.request_json}: not JSON ({exc})") from None
    elif args.body is not None:
        body = args.body.encode("utf-8")
    headers = _headers(args.header)
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    return ColdStartSpec(
        command=command,
        url=args.url,
        ready_url=args.ready_url or "",
        trials=args.trials,
        warm=args.warm,
        method=(args.method or "").upper(),
        body=body,
        headers=headers,
        timeout_s=args.timeout,
        request_timeout_s=args.request_timeout,
        grace_s=args.grace,
        allow_remote=args.allow_remote,
    )


def run_coldstart(args: argparse.Namespace) -> int:
    """Measure, print, write ``-o``; ConfigError (2) and TargetError (3) go to the CLI."""
    from locust_ml.files import write_atomic

    spec = spec_from_args(args)
    if args.output is not None and Path(args.output).is_dir():
        raise ConfigError(f"-o {args.output}: is a directory; expected a file name")
    starts = "1 cold start" if spec.trials == 1 else f"{spec.trials} cold starts"
    print(f"locust-ml coldstart: {starts} of {spec.display}", flush=True)
    trials = measure_cold_start(spec, on_trial=lambda t: print(format_trial(t), flush=True))
    print(format_summary(summarize_trials(trials)))
    if args.output is not None:
        text = json.dumps(result_to_dict(spec, trials), indent=2) + "\n"
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            raise ConfigError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from None
        print(f"wrote {args.output}")
    return 0
