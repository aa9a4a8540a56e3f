"""Distributed scaling: achieved open-loop rate with 1 vs 2 workers, and generator CPU.

Is one load-generating process the limit, and does a second worker lift it?
And what does sending ML payloads cost the load generator per request?

Against the reference server's simulated backend with ample model capacity
(4 instances of batches up to 64 at 1 ms + 0.05 ms per item: the server's
limit is its own CPU for HTTP, JSON and tokenizing prompts), a ``--master``
and N ``--worker`` processes run ``locustfiles/summarizer.py`` (a TextUser)
with Poisson arrivals, one open-loop step per offered rate, with two kinds of
payload:

* ``trace``: ML payloads - prompts of trace-fitted length (the Azure
  conversation trace, ``azure_conv``: natural-language-like text of a few
  hundred to a few thousand tokens, kilobytes per request, cut from text
  generated once per process), 8 output tokens;
* ``small``: 30-token prompts and 4 output tokens, the least a request costs,
  to push the offered rate high enough that one worker saturates.

(ImageUser payloads weigh more on the wire but need the image backend, whose
numpy CNN is far slower than any load generator; see ``user_overhead.py``
for ImageUser against a sink.)

On a small machine the reference server, which shares the cores, may give
out before one worker does (its CPU column says so). ``--target sink``
replaces it with a minimal asyncio HTTP server in its own process that reads
each request and returns a canned chat completion, several times cheaper per
request, so that the load generator is what saturates. For each target,
payload, worker count and offered rate it prints:

* the achieved rate over the step's whole windows after a 2 s warm-up, and
  achieved / offered; ``late`` and ``dropped`` arrivals and the report's
  validity verdict (a worker that can't keep up sends late, then drops, and
  the report calls the run INVALID: the generator, not the target, set the
  pace);
* the workers' CPU, in percent of one core each, and **CPU seconds per 1,000
  requests** (user + system time of the worker processes over the same
  windows, read from ``/proc/<pid>/stat`` by PID, divided by the requests
  completed in them);
* the master's and the server's CPU, because on a small machine they share
  the cores: a server near 100 % of a core, or workers whose CPU adds up to
  the machine's, means the machine and not the worker count set the pace.

Then, per payload and offered rate, the ratios side by side: achieved(2
workers) / achieved(1 worker), and CPU per 1,000 requests with 2 vs 1. No
asserts: the numbers depend on the machine and on what else runs on it.

Run (the lock keeps benchmarks on a shared machine from overlapping)::

    flock /tmp/bench.lock .venv/bin/python benchmarks/distributed_scaling.py \\
        [--target server|sink] [--small-rates 500,1000,2000] [--trace-rates 100,200] \\
        [--seconds 12] [--workers 1,2]

About 20 s per run (payload x workers x rate) with process start-up, 4 to 5
minutes with the defaults. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sink import sink

from locust_ml.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SERVER_ARGS = "--base-ms 1 --per-item-ms 0.05 --max-batch-size 64 --instances 4"
SERVER_ARGS += " --max-queue-delay-ms 1"
LOCUSTFILE = "locustfiles/summarizer.py"
WARMUP_S = 2.0
PAYLOADS = {
    "trace": ["--ml-output-tokens", "const:8"],
    "small": [
        "--ml-profile", "none", "--ml-prompt-tokens", "const:30", "--ml-output-tokens", "const:4",
    ],
}  # fmt: skip
TICK = os.sysconf("SC_CLK_TCK")
CHAT_ANSWER = json.dumps(
    {
        "id": "sink",
        "object": "chat.completion",
        "model": "summarizer",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two three four"},
                "finish_reason": "length",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34},
    }
).encode()


@contextlib.contextmanager
def target(kind: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """``(url, pid)`` of the target, stopped (by PID) on exit."""
    if kind == "server":
        with EmbeddedServer("simulated", SERVER_ARGS) as server:
            url = server.start(timeout=60)
            assert server.pid is not None
            yield url, server.pid
        return
    with sink(tmp, CHAT_ANSWER) as where:
        yield where


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" that ends the command name, utime and stime are fields 12 and 13.
    return (int(fields[11]) + int(fields[12])) / TICK


class CpuSampler:
    """Polls the CPU time of some PIDs a few times a second, with time stamps."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float]]] = {k: [] for k in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            for name, pid in self.pids.items():
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    self.samples[name].append((now, cpu))
            self._stop.wait(self.interval)

    def between(self, name: str, t0: float, t1: float) -> float:
        """CPU seconds ``name`` used from ``t0`` to ``t1`` (nearest samples inside)."""
        inside = [(t, c) for t, c in self.samples[name] if t0 <= t <= t1]
        if len(inside) < 2:
            return float("nan")
        (ta, ca), (tb, cb) = inside[0], inside[-1]
        return (cb - ca) * (t1 - t0) / (tb - ta)


@dataclass(frozen=True)
class Result:
    payload: str
    workers: int
    offered: float
    achieved: float
    requests: int
    late: int
    dropped: int
    failures: int
    valid: bool
    worker_cpu_pct: float
    cpu_per_1k: float
    master_cpu_pct: float
    target_cpu_pct: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_once(
    host: str, target_pid: int, payload: str, workers: int, rate: float, seconds: float, tmp: Path
) -> Result | None:
    name = f"{payload}-w{workers}-r{rate:g}"
    out = tmp / name
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    master_args = [
        str(BIN / "locust"), "-f", LOCUSTFILE, "--headless", "--master",
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--expect-workers", str(workers), "--host", host,
        "--ml-arrival", "poisson",
        "--ml-shape", f"ramp:start={rate},max={rate},step={seconds}s,window=1s",
        "--ml-seed", "1", *PAYLOADS[payload], "--ml-nvml", "off",
        "--ml-open-loop", f"senders={8 * workers},lateness=2s",
        "--ml-report-dir", str(out), "--only-summary",
    ]  # fmt: skip
    worker_args = [
        str(BIN / "locust"), "-f", LOCUSTFILE, "--worker",
        "--master-host", "127.0.0.1", "--master-port", str(port),
    ]  # fmt: skip
    logs: list[IO[bytes]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for role, args in [("master", master_args)] + [
            (f"worker{i}", worker_args) for i in range(workers)
        ]:
            fh = (tmp / f"{name}-{role}.log").open("wb")
            logs.append(fh)
            procs.append(
                subprocess.Popen(args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env)
            )
        pids = {"master": procs[0].pid, "target": target_pid}
        pids.update({f"worker{i}": p.pid for i, p in enumerate(procs[1:])})
        with CpuSampler(pids) as cpu:
            code = procs[0].wait(timeout=seconds + 120)
        for p in procs[1:]:
            p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"  {name} did not finish in time; logs in {tmp}")
        return None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    # Exit codes 1 and 2 are the report's verdicts (FAIL; INVALID: the generator could not
    # keep up); only a run without its report is a failed run here.
    if code not in (0, 1, 2) or not (out / "report.json").exists():
        print(f"  {name}: exit {code}; logs in {tmp}")
        return None
    report = json.loads((out / "report.json").read_text())
    (step,) = report["steps"]
    windows = [
        w
        for w in step["windows"]
        if w["start"] >= step["start"] + WARMUP_S and w["end"] - w["start"] > 0.999
    ]
    if not windows:
        return None
    t0, t1 = windows[0]["start"], windows[-1]["end"]
    span = t1 - t0
    requests = sum(w["requests"] for w in windows)
    worker_cpu = sum(cpu.between(f"worker{i}", t0, t1) for i in range(workers))
    return Result(
        payload=payload,
        workers=workers,
        offered=rate,
        achieved=requests / span,
        requests=requests,
        late=int(step.get("late") or 0),
        dropped=int(step.get("dropped") or 0),
        failures=sum(w["failures"] for w in windows),
        valid=bool(report["verdict"]["valid"]),
        worker_cpu_pct=100.0 * worker_cpu / span / workers,
        cpu_per_1k=1000.0 * worker_cpu / requests if requests else float("nan"),
        master_cpu_pct=100.0 * cpu.between("master", t0, t1) / span,
        target_cpu_pct=100.0 * cpu.between("target", t0, t1) / span,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=("server", "sink"), default="server")
    parser.add_argument("--small-rates", default="500,1000,2000", help="requests/s, small")
    parser.add_argument("--trace-rates", default="100,200", help="requests/s, trace-sized")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each step")
    args = parser.parse_args(argv)
    plan = {
        payload: [float(r) for r in text.split(",") if r]
        for payload, text in (("small", args.small_rates), ("trace", args.trace_rates))
    }
    counts = [int(n) for n in args.workers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="locust-ml-distributed-"))
    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        "target: "
        + (f"reference server, simulated, {SERVER_ARGS}" if args.target == "server" else "sink")
        + f"; {LOCUSTFILE}"
    )
    print(
        f"{'payload':>7} {'workers':>7} {'offered/s':>9} {'achieved/s':>10} {'ratio':>6} "
        f"{'fail%':>6} {'late':>6} {'dropped':>7} {'verdict':>7} {'worker CPU%':>11} "
        f"{'CPU s/1k':>8} {'master%':>7} {'target%':>7}"
    )
    results: dict[tuple[str, int, float], Result] = {}
    with target(args.target, tmp) as (host, target_pid):
        for payload, rates in plan.items():
            for rate in rates:
                for n in counts:
                    r = run_once(host, target_pid, payload, n, rate, args.seconds, tmp)
                    if r is None:
                        continue
                    results[(payload, n, rate)] = r
                    print(
                        f"{payload:>7} {n:>7} {rate:>9.0f} {r.achieved:>10.1f} "
                        f"{r.achieved / rate:>6.2f} {100 * r.failures / max(r.requests, 1):>6.1f} "
                        f"{r.late:>6} {r.dropped:>7} {'valid' if r.valid else 'INVALID':>7} "
                        f"{r.worker_cpu_pct:>11.0f} {r.cpu_per_1k:>8.2f} "
                        f"{r.master_cpu_pct:>7.0f} {r.target_cpu_pct:>7.0f}",
                        flush=True,
                    )
    if len(counts) >= 2:
        a, b = counts[0], counts[-1]
        print(
            f"\nside by side: {b} workers vs {a} (CPU s per 1,000 requests: all workers together)"
        )
        print(
            f"{'payload':>7} {'offered/s':>9} {f'achieved {b}/{a}':>14} "
            f"{f'CPU s/1k {a} | {b}':>17} {f'CPU {b}/{a}':>8}"
        )
        for payload, rates in plan.items():
            for rate in rates:
                one, two = results.get((payload, a, rate)), results.get((payload, b, rate))
                if one is None or two is None:
                    continue
                print(
                    f"{payload:>7} {rate:>9.0f} {two.achieved / one.achieved:>14.2f} "
                    f"{one.cpu_per_1k:>8.2f} | {two.cpu_per_1k:<6.2f} "
                    f"{two.cpu_per_1k / one.cpu_per_1k:>8.2f}"
                )
    print(f"reports and logs: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
