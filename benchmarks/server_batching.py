"""Does continuous batching pay? Summarizer throughput at batch 1 vs batch 16.

Starts the reference server (summarizer backend) twice, one after the other:
``--max-batch-size 1`` and ``--max-batch-size 16``, and drives each with the
same closed-loop load: 32 concurrent streaming requests of one fixed ~300-token
prompt, ``max_tokens=64`` with ``ignore_eos`` (so every response is exactly 64
tokens), for a fixed time. Prints requests/s, tokens/s and latency side by side
and the batched/unbatched tokens/s ratio against the target (>= 1.5x).

Run by hand, not in CI::

    python benchmarks/server_batching.py [--seconds 15] [--concurrency 32]

The load generator (this process, raw keep-alive connections, microseconds of
CPU per event) runs on the same machine; the server gets one BLAS thread. On a
2-core machine they still compete for CPU, so the ratio measured here is a
lower bound on what the model alone gains. Only 127.0.0.1 is targeted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5
MAX_REQUESTS = 100_000  # a bound on the loop, far above what a run can reach

PROMPT = " ".join(
    f"Sentence {i} reports that the {topic} team measured {i * 7 % 50} units of {thing} "
    f"during the {phase} phase."
    for i, (topic, thing, phase) in enumerate(
        [
            ("inference", "latency", "warm-up"),
            ("serving", "throughput", "ramp"),
            ("capacity", "queueing delay", "steady"),
            ("platform", "GPU memory", "soak"),
            ("research", "token rate", "spike"),
        ]
        * 4
    )
    if i < 17  # about 300 tokens
)


@dataclass(frozen=True)
class Result:
    batch: int
    seconds: float
    requests: int
    tokens: int
    errors: int
    latency_p50_ms: float
    ttft_p50_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def tps(self) -> float:
        return self.tokens / self.seconds


def start_server(batch: int, port_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "locust_ml.cli",
        "serve",
        "--host=127.0.0.1",
        "--port=0",
        f"--port-file={port_file}",
        "--backend=summarizer",
        f"--max-batch-size={batch}",
        "--blas-threads=1",
        "--queue-limit=256",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen[bytes], port_file: Path, limit_s: float = 60.0) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        if port_file.exists():
            url = f"http://127.0.0.1:{int(port_file.read_text())}"
            try:
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise SystemExit("server did not become ready")


class Connection:
    """A minimal keep-alive HTTP/1.1 client that reads chunked SSE responses.

    httpx spends milliseconds of CPU per request with dozens of pooled
    connections; on a 2-core machine that would take CPU from the server being
    measured. This costs microseconds per event.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def stream(self, request: bytes) -> tuple[int, float, float]:
        """(completion tokens, latency s, time to first event s) of one stream."""
        t0 = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head.lower():
            raise ValueError(f"unexpected response {head[:80]!r}")
        ttft = -1.0
        buf = b""
        last = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                break
            buf += data[:-2]
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                if ttft < 0:
                    ttft = time.perf_counter() - t0
                if event != b"data: [DONE]":
                    last = event
        usage = json.loads(last[len(b"data: ") :])["usage"]
        return int(usage["completion_tokens"]), time.perf_counter() - t0, ttft

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def build_request(url: str) -> bytes:
    host = url.removeprefix("http://")
    body = json.dumps(
        {
            "model": "summarizer",
            "prompt": PROMPT,
            "max_tokens": 64,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def drive(url: str, batch: int, concurrency: int, warmup_s: float, seconds: float) -> Result:
    request = build_request(url)
    conns = [await Connection.open(url) for _ in range(concurrency)]
    start = time.perf_counter()
    window = (start + warmup_s, start + warmup_s + seconds)
    done: list[tuple[int, float, float]] = []
    errors = 0
    issued = 0

    async def worker(conn: Connection) -> None:
        nonlocal errors, issued
        while time.perf_counter() < window[1] and issued < MAX_REQUESTS:
            issued += 1
            try:
                sample = await conn.stream(request)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                errors += 1
                return
            if window[0] <= time.perf_counter() <= window[1]:
                done.append(sample)

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    return Result(
        batch=batch,
        seconds=seconds,
        requests=len(done),
        tokens=sum(d[0] for d in done),
        errors=errors,
        latency_p50_ms=1000 * statistics.median(d[1] for d in done) if done else float("nan"),
        ttft_p50_ms=1000 * statistics.median(d[2] for d in done) if done else float("nan"),
    )


def run_one(batch: int, args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = start_server(batch, port_file)
        try:
            url = wait_ready(proc, port_file)
            return asyncio.run(drive(url, batch, args.concurrency, args.warmup, args.seconds))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent streams")
    parser.add_argument("--batch", type=int, default=16, help="batch size of the batched run")
    args = parser.parse_args()

    from locust_ml.server.tokens import count_tokens

    print(
        f"summarizer, prompt {count_tokens(PROMPT)} tokens, 64 output tokens (ignore_eos), "
        f"{args.concurrency} concurrent streams, {args.seconds:g} s measured after "
        f"{args.warmup:g} s warm-up"
    )
    results = [run_one(1, args), run_one(args.batch, args)]
    print(
        f"{'max_batch_size':>15} {'req/s':>8} {'tokens/s':>9} {'p50 ms':>8} "
        f"{'TTFT p50':>9} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r.batch:>15} {r.rps:>8.2f} {r.tps:>9.1f} {r.latency_p50_ms:>8.0f} "
            f"{r.ttft_p50_ms:>9.0f} {r.errors:>6}"
        )
    ratio = results[1].tps / results[0].tps if results[0].tps else float("inf")
    verdict = "PASS" if ratio >= TARGET_RATIO and not any(r.errors for r in results) else "FAIL"
    print(
        f"tokens/s ratio batch {args.batch} / batch 1: {ratio:.2f}x "
        f"(target >= {TARGET_RATIO}x) {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
