"""Is the simulated backend's capacity what the formula says?

Starts the reference server with the simulated backend (base 20 ms, per item
5 ms, batch 8) with 1 and then 2 instances, drives each well past saturation
with a closed loop of enough concurrent clients that the waiting queue never
runs dry, counts only the 200 answers completed in the measured window, and
prints the measured throughput next to
:func:`locust_ml.server.config.saturation_rps` and the relative error (target:
within 10%). It also times lone requests against the unloaded latency formula
(HTTP overhead included, so measured is expected a little above).

Run by hand, not in CI::

    python benchmarks/simulated_saturation.py [--seconds 10]

Concurrency per run is ``4 * instances * max_batch_size`` keep-alive
connections: every instance always finds a full batch waiting, while the queue
(``--queue-limit 256``) never sheds. Rates stay at a few hundred requests/s and
the load generator (this process) is a raw HTTP/1.1 client costing tens of
microseconds per request, so that it is not the bottleneck. Only 127.0.0.1 is targeted.
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
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from locust_ml.server.config import (  # noqa: E402 - after the path fix-up above
    ServerConfig,
    saturation_rps,
    unloaded_latency_ms,
)

TOLERANCE = 0.10
MAX_REQUESTS = 1_000_000  # a bound on the loop, far above what a run can reach
BODY = {"model": "summarizer", "prompt": "measure the saturation throughput", "max_tokens": 16}


def start_server(cfg: ServerConfig, port_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "locust_ml.cli",
        "serve",
        "--host=127.0.0.1",
        "--port=0",
        f"--port-file={port_file}",
        "--backend=simulated",
        f"--base-ms={cfg.base_ms}",
        f"--per-item-ms={cfg.per_item_ms}",
        f"--max-batch-size={cfg.max_batch_size}",
        f"--max-queue-delay-ms={cfg.max_queue_delay_ms}",
        f"--instances={cfg.instances}",
        f"--queue-limit={cfg.queue_limit}",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen[bytes], port_file: Path, limit_s: float = 30.0) -> str:
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
    """A minimal keep-alive HTTP/1.1 client for one fixed request.

    httpx spends milliseconds of CPU per request with dozens of pooled
    connections, which on a small machine makes the load generator the
    bottleneck; this costs tens of microseconds.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def post(self, request: bytes) -> int:
        """Send ``request``; read the whole response; return its status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def build_request(url: str) -> bytes:
    host = url.removeprefix("http://")
    body = json.dumps(BODY).encode()
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def lone_latency_ms(conn: Connection, request: bytes, n: int = 20) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        if await conn.post(request) != 200:
            raise SystemExit("lone request failed")
        samples.append(1000 * (time.perf_counter() - t0))
    return statistics.median(samples)


async def drive(url: str, concurrency: int, warmup_s: float, seconds: float) -> dict[str, float]:
    request = build_request(url)
    conns = [await Connection.open(url) for _ in range(concurrency)]
    try:
        lone = await lone_latency_ms(conns[0], request)
        start = time.perf_counter()
        window = (start + warmup_s, start + warmup_s + seconds)
        ok = 0
        other = 0
        issued = 0

        async def worker(conn: Connection) -> None:
            nonlocal ok, other, issued
            while time.perf_counter() < window[1] and issued < MAX_REQUESTS:
                issued += 1
                status = await conn.post(request)
                if window[0] <= time.perf_counter() <= window[1]:
                    if status == 200:
                        ok += 1
                    else:
                        other += 1

        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    return {"rps": ok / seconds, "not_ok": other, "lone_ms": lone}


def run_one(cfg: ServerConfig, args: argparse.Namespace) -> dict[str, float]:
    concurrency = 4 * cfg.instances * cfg.max_batch_size
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = start_server(cfg, port_file)
        try:
            url = wait_ready(proc, port_file)
            result = asyncio.run(drive(url, concurrency, args.warmup, args.seconds))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result["concurrency"] = concurrency
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--base-ms", type=float, default=20.0, help="service time per batch")
    parser.add_argument("--per-item-ms", type=float, default=5.0, help="added per batched item")
    parser.add_argument("--batch", type=int, default=8, help="max batch size")
    args = parser.parse_args()

    base = ServerConfig(
        backend="simulated",
        base_ms=args.base_ms,
        per_item_ms=args.per_item_ms,
        max_batch_size=args.batch,
        max_queue_delay_ms=5.0,
        queue_limit=256,
    )
    print(
        f"simulated backend: base {base.base_ms:g} ms, per item {base.per_item_ms:g} ms, "
        f"batch {base.max_batch_size}, window {base.max_queue_delay_ms:g} ms; "
        f"{args.seconds:g} s measured after {args.warmup:g} s warm-up"
    )
    header = (
        f"{'instances':>9} {'clients':>7} {'measured rps':>12} {'formula rps':>11} "
        f"{'error':>7} {'non-200':>7} {'lone ms':>8} {'formula ms':>10}"
    )
    print(header)
    verdict = "PASS"
    for instances in (1, 2):
        cfg = ServerConfig(**{**base.__dict__, "instances": instances})
        r = run_one(cfg, args)
        expected = saturation_rps(cfg)
        error = (r["rps"] - expected) / expected
        if abs(error) > TOLERANCE or r["not_ok"]:
            verdict = "FAIL"
        print(
            f"{instances:>9} {int(r['concurrency']):>7} {r['rps']:>12.1f} {expected:>11.1f} "
            f"{error:>+7.1%} {int(r['not_ok']):>7} {r['lone_ms']:>8.1f} "
            f"{unloaded_latency_ms(cfg):>10.1f}"
        )
    print(f"saturation throughput within {TOLERANCE:.0%} of the formula: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
