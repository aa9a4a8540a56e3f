"""A third-party batching server and an independent client: ground truth for the search.

Our capacity search reports a saturation throughput; measured only against our
own reference server by our own load generator, a shared blind spot (a
miscounted window, a client that cannot keep up) would go unseen. This module
gives the benchmark a target and a yardstick that are not ours:

* **The server** is `LitServe <https://pypi.org/project/litserve/>`_ (Lightning
  AI), installed from PyPI into its own venv, ``.bench/third_party-venv/``
  (:func:`ensure_venv`; pinned to the versions verified here, see
  :data:`REQUIREMENTS`). LitServe does the HTTP (FastAPI/uvicorn), the OpenAI
  API (``ls.OpenAISpec``: ``POST /v1/chat/completions``, streamed or not, with
  ``usage``) and the dynamic batching (a worker takes up to ``max_batch_size``
  queued requests, waiting at most ``batch_timeout`` seconds to fill a batch).
  The only code of ours on that side is the simulated model: a batch of ``n``
  requests sleeps ``base_ms + per_item_ms * n`` and answers each request
  ``max_tokens`` tokens (``ignore_eos`` semantics), plus an ``encode_response``
  that hands LitServe one message per request of the batch: the spec's own
  ``encode_response`` encodes a single message per step, so it does not unbatch.
  LitServe serves no ``GET /v1/models``: our preflight warns once and goes on.
* **The client** (:func:`measure`, :func:`measure_saturation`, :func:`sweep`)
  is neither Locust nor our plugin: asyncio streams speaking raw keep-alive
  HTTP/1.1, ``concurrency`` connections each with one request in flight
  (closed loop), sending the kind of body ``locustfiles/summarizer.py`` sends
  (a chat completion, a small prompt, ``max_tokens``, ``ignore_eos``). It counts
  the successful answers (HTTP 200 with a non-empty ``choices[0].message.content``)
  that complete inside the measured window, after a warm-up.

With ``concurrency`` well above ``max_batch_size`` every batch is full, so the
measured throughput is the saturation: at most ``workers * max_batch_size /
(base_ms + per_item_ms * max_batch_size)`` per ms (:attr:`ServerConfig.expected_rps`),
less the framework's overhead per batch. The ground truth is what the client
measures, not the formula.

Run it by hand, not in CI (about a minute; loopback only)::

    .venv/bin/python benchmarks/third_party.py

It installs (or reuses) the venv, starts the server, sweeps the independent
client over three concurrencies, then runs ``locustfiles/summarizer.py`` with 16
closed-loop users for 20 s against the same server, and prints both throughputs
side by side with Locust's failure count.

Every load here goes to 127.0.0.1 only, every loop is bounded in time and in
requests, and the server is stopped by the process group this module started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REQUIREMENTS",
    "LocustRun",
    "Measurement",
    "ServerConfig",
    "ensure_venv",
    "measure",
    "measure_saturation",
    "run_locust",
    "serve",
    "sweep",
]

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".bench" / "third_party-venv"
#: What is installed in :data:`VENV`: the versions this module was verified with.
#: LitServe does the batching and the OpenAI API; fastapi and uvicorn (its HTTP
#: stack) are pinned too because they set the per-request overhead we measure.
REQUIREMENTS = ("litserve==0.2.19", "fastapi==0.165.0", "uvicorn[standard]==0.55.0")
#: The model id the server answers for (and the summarizer locustfile asks for).
MODEL = "summarizer"
#: A bound on the independent client's requests per measurement, far above what it reaches.
MAX_REQUESTS = 200_000
#: Seconds one request may take before the client counts it failed.
REQUEST_TIMEOUT_S = 30.0

_SERVER_SCRIPT = '''\
"""LitServe's OpenAISpec over a simulated model whose batch of n takes base + per_item * n."""

import argparse
import time

import litserve as ls


class SimulatedModel(ls.LitAPI):
    def __init__(self, base_ms, per_item_ms, batch_log, **kwargs):
        super().__init__(**kwargs)
        self.base_s = base_ms / 1000.0
        self.per_item_s = per_item_ms / 1000.0
        self.batch_log = batch_log

    def setup(self, device):
        self.log = open(self.batch_log, "a", buffering=1) if self.batch_log else None

    def predict(self, requests):
        # With max_batch_size > 1 LitServe passes the batch: a list of ChatCompletionRequest.
        time.sleep(self.base_s + self.per_item_s * len(requests))
        if self.log is not None:
            self.log.write(f"{len(requests)}\\n")
        yield [self.answer(request) for request in requests]

    @staticmethod
    def answer(request):
        tokens = min(request.max_tokens or request.max_completion_tokens or 16, 4096)
        prompt = sum(len(str(m.content or "").split()) for m in request.messages)
        return {
            "role": "assistant",
            "content": " ".join(["tok"] * tokens),
            "prompt_tokens": prompt,
            "completion_tokens": tokens,
            "total_tokens": prompt + tokens,
        }

    def encode_response(self, outputs):
        # Each step is a list with one message per request of the batch; LitServe
        # sends element i to request i (OpenAISpec.encode_response would keep one).
        yield from outputs


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for name in ("port", "max_batch_size", "workers"):
        p.add_argument("--" + name, type=int, required=True)
    for name in ("batch_timeout", "base_ms", "per_item_ms"):
        p.add_argument("--" + name, type=float, required=True)
    p.add_argument("--batch_log", default="")
    a = p.parse_args()
    api = SimulatedModel(
        a.base_ms,
        a.per_item_ms,
        a.batch_log,
        max_batch_size=a.max_batch_size,
        batch_timeout=a.batch_timeout,
        spec=ls.OpenAISpec(),
    )
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=a.workers)
    server.run(host="127.0.0.1", port=a.port, log_level="warning", generate_client_file=False)
'''


def ensure_venv(venv_dir: Path = VENV, requirements: Sequence[str] = REQUIREMENTS) -> Path:
    """Create ``venv_dir`` if needed and install ``requirements`` there; its python.

    A stamp file named for the requirements' hash makes a second call free;
    changing :data:`REQUIREMENTS` reinstalls. Raises ``RuntimeError`` when pip fails.
    """
    python = venv_dir / "bin" / "python"
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    stamp = venv_dir / f".installed-{digest}"
    if stamp.exists() and python.exists():
        return python
    if not python.exists():
        print(f"third_party: creating {venv_dir}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements]
    print("third_party: + " + " ".join(cmd[2:]), flush=True)
    if subprocess.call(cmd) != 0:
        raise RuntimeError(f"pip install {' '.join(requirements)} failed in {venv_dir}")
    for old in venv_dir.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return python


@dataclass(frozen=True)
class ServerConfig:
    """The server's batching and its simulated model.

    >>> ServerConfig(max_batch_size=8, base_ms=40.0, per_item_ms=5.0).expected_rps
    100.0
    """

    #: Most requests LitServe puts in one batch.
    max_batch_size: int = 8
    #: Seconds LitServe waits to fill a batch. 0 makes its worker poll the queue
    #: without sleeping (a busy loop that takes a core), so keep it above 0.
    batch_timeout: float = 0.01
    #: A batch of n sleeps base_ms + per_item_ms * n.
    base_ms: float = 40.0
    per_item_ms: float = 5.0
    #: LitServe inference worker processes (each batches on its own).
    workers: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.workers < 1:
            raise ValueError(f"max_batch_size and workers must be >= 1, got {self}")
        if self.batch_timeout < 0 or self.base_ms < 0 or self.per_item_ms < 0:
            raise ValueError(f"batch_timeout, base_ms and per_item_ms must be >= 0, got {self}")

    @property
    def expected_rps(self) -> float:
        """Full batches back to back, no overhead: the ceiling the measurement approaches."""
        batch_ms = self.base_ms + self.per_item_ms * self.max_batch_size
        return math.inf if batch_ms == 0 else self.workers * self.max_batch_size * 1000 / batch_ms


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:  # noqa: S310
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the server's process group (it and its workers), then SIGKILL what is left.

    The server runs in a session of its own (``start_new_session``), so its
    process group id is its PID and holds only processes it started.
    """
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)  # anyone left in the group?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


@contextlib.contextmanager
def serve(
    config: ServerConfig | None = None,
    *,
    python: Path | None = None,
    ready_timeout_s: float = 60.0,
    stop_timeout_s: float = 10.0,
    batch_log: Path | None = None,
) -> Iterator[str]:
    """Run the LitServe server on a free 127.0.0.1 port; yield its base URL.

    ``python`` defaults to :func:`ensure_venv`'s. Waits (at most
    ``ready_timeout_s``) for ``GET /health`` to answer 200, which LitServe does
    once its inference workers are set up. ``batch_log``: a file the model
    appends each batch's size to, one per line (to check that batching
    happened). On exit the server's process group gets SIGTERM, then SIGKILL
    after ``stop_timeout_s``. Raises ``RuntimeError`` (with the server's log
    tail) when it exits or is not ready in time.
    """
    config = config or ServerConfig()
    python = python or ensure_venv()
    with tempfile.TemporaryDirectory(prefix="third-party-server-") as tmp:
        script = Path(tmp) / "litserve_server.py"
        script.write_text(_SERVER_SCRIPT)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [str(python), str(script), f"--port={port}"]
        cmd += [f"--{k}={v}" for k, v in vars(config).items()]
        cmd += [f"--batch_log={batch_log or ''}"]
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + ready_timeout_s
            while not _healthy(url):
                tail = log_path.read_text(errors="replace")[-2000:]
                if proc.poll() is not None:
                    raise RuntimeError(f"the LitServe server exited ({proc.returncode}):\n{tail}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the LitServe server not ready in {ready_timeout_s:g} s")
                time.sleep(0.2)
            yield url
        finally:
            _stop(proc, stop_timeout_s)


# -- the independent client ---------------------------------------------------

#: A short summarization prompt, like the summarizer locustfile's (about 60 words).
PROMPT = (
    "Summarize the following incident report in two sentences. At 09:12 the "
    "inference fleet in the eastern region began returning slow answers; p99 "
    "latency rose from 800 ms to 6 s within four minutes. The on-call engineer "
    "found that a new model version doubled the batch time and rolled it back "
    "at 09:31, after which latency recovered."
)
#: Requested output length (the server generates exactly this many tokens).
MAX_TOKENS = 64


@dataclass(frozen=True)
class Measurement:
    """What the independent client measured at one concurrency."""

    concurrency: int
    seconds: float
    #: Successful answers completed inside the measured window.
    ok: int
    #: Failed requests during the whole run (warm-up included).
    failed: int
    latency_p50_ms: float
    latency_p99_ms: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


def _request_bytes(host: str, port: int, max_tokens: int) -> bytes:
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": max_tokens,
            "ignore_eos": True,
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """``(status, body, keep_alive)`` of one HTTP/1.1 response (length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get("transfer-encoding") == "chunked":
        parts: list[bytes] = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")  # the empty trailer
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection") != "close"


def _answered(status: int, body: bytes) -> bool:
    """HTTP 200 and a chat completion with non-empty text (what our client also requires)."""
    if status != 200:
        return False
    try:
        content = json.loads(body)["choices"][0]["message"]["content"]
    except (ValueError, LookupError, TypeError):
        return False
    return isinstance(content, str) and bool(content)


async def _drive(
    host: str, port: int, concurrency: int, warmup_s: float, seconds: float, max_tokens: int
) -> Measurement:
    request = _request_bytes(host, port, max_tokens)
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + seconds)
    latencies: list[float] = []
    failed = 0
    issued = 0

    async def connection() -> None:
        nonlocal failed, issued
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        try:
            while time.perf_counter() < window[1] and issued < MAX_REQUESTS:
                issued += 1
                t0 = time.perf_counter()
                try:
                    if writer is None or reader is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    writer.write(request)
                    status, body, keep = await asyncio.wait_for(
                        _read_answer(reader), REQUEST_TIMEOUT_S
                    )
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ValueError,
                    IndexError,
                ):
                    failed += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    await asyncio.sleep(0.05)  # a refusing server must not spin us
                    continue
                t1 = time.perf_counter()
                if not _answered(status, body):
                    failed += 1
                elif window[0] <= t1 <= window[1]:
                    latencies.append(t1 - t0)
                if not keep and writer is not None:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    latencies.sort()

    def pct(q: float) -> float:
        if not latencies:
            return math.nan
        return 1000 * latencies[min(len(latencies) - 1, math.ceil(q * len(latencies)) - 1)]

    return Measurement(concurrency, seconds, len(latencies), failed, pct(0.5), pct(0.99))


def _loopback(url: str) -> tuple[str, int]:
    rest = url.removeprefix("http://").rstrip("/")
    host, _, port = rest.partition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the independent client loads loopback only, got {url!r}")
    return "127.0.0.1", int(port or 80)


def measure(
    url: str,
    concurrency: int,
    seconds: float,
    *,
    warmup_s: float = 2.0,
    max_tokens: int = MAX_TOKENS,
) -> Measurement:
    """Keep ``concurrency`` chat completions in flight at ``url`` (loopback) for a while.

    Runs ``warmup_s + seconds`` (plus the last answers' time); counts the
    successful answers that complete in the last ``seconds``.
    """
    if concurrency < 1 or seconds <= 0 or warmup_s < 0:
        raise ValueError(
            f"bad concurrency={concurrency!r}, seconds={seconds!r}, warmup_s={warmup_s!r}"
        )
    host, port = _loopback(url)
    return asyncio.run(_drive(host, port, concurrency, warmup_s, seconds, max_tokens))


def measure_saturation(url: str, concurrency: int, seconds: float) -> float:
    """Successful answers per second with ``concurrency`` requests always in flight."""
    return measure(url, concurrency, seconds).rps


def sweep(url: str, concurrencies: Sequence[int], seconds: float) -> tuple[Measurement, ...]:
    """:func:`measure` at each concurrency in turn; the saturation is the highest ``rps``."""
    return tuple(measure(url, c, seconds) for c in concurrencies)


# -- Locust, for the side-by-side ------------------------------------------------


@dataclass(frozen=True)
class LocustRun:
    """Locust's one step, as the plugin's ``report.json`` records it."""

    requests: int
    failures: int
    #: Successful and failed answers per second over the step (what the search sees).
    rps: float
    p99_ms: float
    #: Locust's exit code (0: the step was judged and passed the default error ceiling).
    exit_code: int


def run_locust(url: str, *, seconds: int = 20, users: int = 16) -> LocustRun:
    """``locustfiles/summarizer.py`` headless against ``url``: ``users`` closed-loop users.

    The locustfile has a ramp shape, and the shape sets the load, not
    ``-u``/``-r`` (the plugin warns that it ignores them): the ramp options pin
    it to one step of ``users`` users for ``seconds``, and the plan ends the
    test. ``-t`` is only a bound a little past that; were it to cut the step
    short, the step would not be judged and Locust would exit 2. The report
    goes to a temporary directory, not ``reports/``.
    """
    with tempfile.TemporaryDirectory(prefix="third-party-locust-") as tmp:
        cmd = [
            sys.executable, "-m", "locust", "-f", str(REPO / "locustfiles" / "summarizer.py"),
            "--headless", "--host", url, "-t", f"{seconds + 10}s", "--only-summary",
            "--ml-shape", f"ramp:start={users},max={users},step={seconds}s",
            "--ml-report-dir", f"{tmp}/report",
        ]  # fmt: skip
        print("third_party: + locust " + " ".join(cmd[3:]), flush=True)
        done = subprocess.run(cmd, cwd=REPO, timeout=seconds + 120, check=False)
        report_path = Path(tmp) / "report" / "report.json"
        if not report_path.exists():
            raise RuntimeError(f"Locust wrote no report (exit code {done.returncode})")
        report = json.loads(report_path.read_text())
    step = report["steps"][0]
    p99 = step["latency_ms"]["p99"]
    return LocustRun(
        requests=int(step["requests"]),
        failures=int(step["failures"]),
        rps=float(step["achieved_rps"]),
        p99_ms=math.nan if p99 is None else float(p99),
        exit_code=done.returncode,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-timeout", type=float, default=0.01, help="seconds")
    parser.add_argument("--base-ms", type=float, default=40.0)
    parser.add_argument("--per-item-ms", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured s per concurrency")
    parser.add_argument("--locust-seconds", type=int, default=20)
    parser.add_argument("--locust-users", type=int, default=16)
    args = parser.parse_args()
    config = ServerConfig(
        args.max_batch_size, args.batch_timeout, args.base_ms, args.per_item_ms, args.workers
    )
    python = ensure_venv()
    b = config.max_batch_size * config.workers
    with tempfile.TemporaryDirectory(prefix="third-party-batches-") as tmp:
        batch_log = Path(tmp) / "batches"
        with serve(config, python=python, batch_log=batch_log) as url:
            print(f"third_party: LitServe ({REQUIREMENTS[0]}) at {url}, {config}", flush=True)
            results = sweep(url, (2 * b, 4 * b, 8 * b), args.seconds)
            sizes_client = [int(n) for n in batch_log.read_text().split()]
            locust = run_locust(url, seconds=args.locust_seconds, users=args.locust_users)
            sizes_all = [int(n) for n in batch_log.read_text().split()]
    sizes_locust = sizes_all[len(sizes_client) :]
    print(f"\n{'independent client':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for m in results:
        print(
            f"{'  concurrency ' + str(m.concurrency):<28} {m.rps:>8.1f} "
            f"{m.latency_p50_ms:>8.0f} {m.latency_p99_ms:>8.0f} {m.failed:>7}"
        )
    best = max(results, key=lambda m: m.rps)
    label = f"locust, {args.locust_users} users"
    print(f"{label:<28} {locust.rps:>8.1f} {'':>8} {locust.p99_ms:>8.0f} {locust.failures:>7}")

    def mean(xs: list[int]) -> float:
        return sum(xs) / len(xs) if xs else math.nan

    print(
        f"\nsaturation: formula {config.expected_rps:.1f} req/s, independent client "
        f"{best.rps:.1f} (concurrency {best.concurrency}, {best.rps / config.expected_rps:.0%} "
        f"of the formula), Locust {locust.rps:.1f} ({locust.rps / best.rps:.0%} of the client)"
    )
    print(
        f"mean batch size seen by the model: {mean(sizes_client):.2f} under the client, "
        f"{mean(sizes_locust):.2f} under Locust (max_batch_size {config.max_batch_size})"
    )
    print(
        f"Locust: {locust.requests} requests, {locust.failures} failures, "
        f"exit code {locust.exit_code}"
    )
    clean = locust.failures == 0 and locust.exit_code == 0
    return 0 if clean and not any(m.failed for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
