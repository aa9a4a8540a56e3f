"""Do the reference server's image and speech models cost what they claim?

Two questions, measured side by side in one run:

1. **Cost grows with size.** In this process, with one BLAS thread, the image
   classifier's service time for one request (decode + network, no HTTP; best of a few runs) at
   image sizes from 0.05 to 4 megapixels, and the speech model's at clip
   lengths from 1 to 60 seconds. Prints milliseconds per request, per
   megapixel / per audio second, and a least-squares line
   ``fixed + per_unit x size`` with its R^2 (the cost model is linear).
2. **What batching buys.** Throughput of a batch of 8 identical-size inputs vs
   the same 8 run one by one, in process (the model alone); then end to end:
   the server started twice (``--max-batch-size 1`` and ``8``), each driven by
   the same closed loop of binary v2 requests from 16 concurrent keep-alive
   connections for a fixed time, requests/s side by side.

Run by hand, not in CI::

    python benchmarks/server_models.py [--seconds 8] [--concurrency 16] [--skip-http]

The load generator runs on the same machine as the server (which gets one
BLAS thread); on a 2-core machine they compete for CPU, so the end-to-end
ratios are lower bounds on what the model alone gains. Only 127.0.0.1 is
targeted, and every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os

# One BLAS thread, as `locust-ml serve` defaults to; must be set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import statistics
import struct
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from locust_ml.server.models.image_classifier import ImageClassifier, ImageItem
from locust_ml.server.models.speech import AudioItem, SpeechModel

REPO = Path(__file__).resolve().parents[1]
MAX_REQUESTS = 100_000  # a bound on the load loop, far above what a run can reach
IMAGE_MP = (0.05, 0.25, 0.5, 1.0, 2.0, 4.0)
AUDIO_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def photo(megapixels: float, seed: int = 0) -> bytes:
    """A 4:3 JPEG of about ``megapixels``, smooth like a photo (not noise)."""
    height = max(4, round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = max(4, round(height * 4 / 3))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = rng.uniform(40, 200, 3) + 50 * np.sin(xx / 37.0)[..., None]
    pixels = pixels + 30 * np.cos(yy / 23.0)[..., None] + rng.normal(0, 6, (height, width, 1))
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def clip(seconds: float, seed: int = 0) -> bytes:
    """A 16 kHz PCM16 WAV of speech-like bursts and pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    bursts = np.sin(2 * np.pi * 2.5 * t) > -0.2
    pitch = 150 + 40 * np.sin(2 * np.pi * 0.7 * t)
    x = 0.3 * np.sin(2 * np.pi * pitch * t) * bursts + 0.003 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def best_ms(fn: Callable[[], object], reps: int) -> float:
    """Best of ``reps`` timings (as timeit does): the least disturbed by other processes."""
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000.0


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """(intercept, slope, R^2) of the least-squares line."""
    slope, intercept = np.polyfit(xs, ys, 1)
    pred = intercept + slope * np.asarray(xs)
    ss_res = float(np.sum((np.asarray(ys) - pred) ** 2))
    ss_tot = float(np.sum((np.asarray(ys) - np.mean(ys)) ** 2))
    return float(intercept), float(slope), 1.0 - ss_res / ss_tot


def cost_vs_size() -> None:
    image_model = ImageClassifier()
    image_model.build()
    print("image classifier: service time of one request (JPEG decode + network)")
    print(f"{'MP':>6} {'width x height':>15} {'JPEG KB':>8} {'ms':>9} {'ms/MP':>8}")
    mps, ms = [], []
    for mp in IMAGE_MP:
        data = photo(mp)
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
        item = ImageItem(w, h, 5, encoded=data)
        t = best_ms(lambda: image_model.run([item]), reps=5 if mp <= 1 else 3)  # noqa: B023
        real_mp = w * h / 1e6
        mps.append(real_mp)
        ms.append(t)
        print(
            f"{real_mp:6.2f} {f'{w} x {h}':>15} {len(data) / 1024:8.0f} {t:9.1f} {t / real_mp:8.1f}"
        )
    b, a, r2 = linear_fit(mps, ms)
    print(f"fit: {b:.1f} ms + {a:.1f} ms/MP x megapixels (R^2 = {r2:.4f})\n")

    speech_model = SpeechModel()
    speech_model.build()
    print("speech: service time of one request (WAV decode + log-mel + network)")
    print(f"{'audio s':>8} {'WAV KB':>8} {'ms':>9} {'ms/s':>8}")
    secs, ms = [], []
    for s in AUDIO_S:
        data = clip(s)
        audio = AudioItem(s, encoded=data)
        t = best_ms(lambda: speech_model.run([audio]), reps=5 if s <= 10 else 3)  # noqa: B023
        secs.append(s)
        ms.append(t)
        print(f"{s:8.0f} {len(data) / 1024:8.0f} {t:9.1f} {t / s:8.2f}")
    b, a, r2 = linear_fit(secs, ms)
    print(f"fit: {b:.1f} ms + {a:.2f} ms/s x seconds (R^2 = {r2:.4f})\n")


def batching_in_process() -> None:
    print("batching, model alone: 8 requests as one batch vs one by one")
    print(f"{'input':>22} {'batch of 8 ms':>14} {'8 x 1 ms':>10} {'gain':>6}")
    image_model = ImageClassifier()
    image_model.build()
    speech_model = SpeechModel()
    speech_model.build()
    cases: list[tuple[str, Sequence[Any], Callable[[Sequence[Any]], object]]] = []
    for side in (64, 224, 640):
        images = [ImageItem(side, side, 5, encoded=photo(side * side / 1e6, s)) for s in range(8)]
        cases.append((f"JPEG {side} x {side}", images, image_model.run))
    for sec in (1.0, 5.0):
        clips = [AudioItem(sec, encoded=clip(sec, seed)) for seed in range(8)]
        cases.append((f"WAV {sec:g} s", clips, speech_model.run))
    for name, items, run in cases:

        def together(items: Sequence[Any] = items, run: Any = run) -> object:
            return run(items)

        def one_by_one(items: Sequence[Any] = items, run: Any = run) -> object:
            return [run([item]) for item in items]

        batched = best_ms(together, reps=7)
        single = best_ms(one_by_one, reps=7)
        print(f"{name:>22} {batched:14.1f} {single:10.1f} {single / batched:5.2f}x")
    print()


# -- end to end over HTTP --------------------------------------------------------------


def start_server(backend: str, batch: int, port_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "locust_ml.cli",
        "serve",
        "--host=127.0.0.1",
        "--port=0",
        f"--port-file={port_file}",
        f"--backend={backend}",
        f"--max-batch-size={batch}",
        "--max-queue-delay-ms=5",
        "--blas-threads=1",
        "--queue-limit=256",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(proc: subprocess.Popen[bytes], port_file: Path, limit_s: float = 60) -> int:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text())
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                writer.close()
                if head.startswith(b"HTTP/1.1 200"):
                    return port
        await asyncio.sleep(0.1)
    raise SystemExit("server did not become ready")


def binary_request(port: int, model: str, name: str, payload: bytes) -> bytes:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 4 + len(payload)},
                }
            ]
        }
    ).encode()
    body = header + struct.pack("<I", len(payload)) + payload
    head = (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/octet-stream\r\n"
        f"Inference-Header-Content-Length: {len(header)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, int]:
    """Send one request on a keep-alive connection; (status, batch size)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {
        k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    await reader.readexactly(int(fields["content-length"]))
    return status, int(fields.get("x-batch-size", "0"))


async def drive(port: int, request: bytes, concurrency: int, seconds: float) -> dict[str, float]:
    start = time.perf_counter()
    warm, end = start + 1.0, start + 1.0 + seconds
    done = errors = issued = 0
    batch_sizes: list[int] = []

    async def worker() -> None:
        nonlocal done, errors, issued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < end and issued < MAX_REQUESTS:
                issued += 1
                status, batch = await exchange(reader, writer, request)
                if warm <= time.perf_counter() <= end:
                    if status == 200:
                        done += 1
                        batch_sizes.append(batch)
                    else:
                        errors += 1
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "rps": done / seconds,
        "errors": errors,
        "mean_batch": statistics.mean(batch_sizes) if batch_sizes else 0.0,
    }


async def batching_over_http(seconds: float, concurrency: int) -> None:
    print(f"batching, end to end: {concurrency} closed-loop connections, {seconds:g} s each")
    print(f"{'model / input':>28} {'batch':>6} {'req/s':>8} {'mean batch':>11} {'errors':>7}")
    cases = [
        ("image-classifier", "image", "JPEG 224 x 224", photo(224 * 224 / 1e6)),
        ("image-classifier", "image", "JPEG 640 x 480", photo(0.3072)),
        ("speech", "audio", "WAV 2 s", clip(2.0)),
    ]
    for backend, name, label, payload in cases:
        results: dict[int, dict[str, float]] = {}
        for batch in (1, 8):
            with tempfile.TemporaryDirectory() as tmp:
                port_file = Path(tmp) / "port"
                proc = start_server(backend, batch, port_file)
                try:
                    port = await wait_ready(proc, port_file)
                    request = binary_request(port, backend, name, payload)
                    results[batch] = await drive(port, request, concurrency, seconds)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            r = results[batch]
            print(
                f"{backend + ' ' + label:>28} {batch:6d} {r['rps']:8.1f} "
                f"{r['mean_batch']:11.2f} {int(r['errors']):7d}"
            )
        ratio = results[8]["rps"] / results[1]["rps"] if results[1]["rps"] else float("nan")
        print(f"{'':>28} batch 8 / batch 1 = {ratio:.2f}x")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="measured seconds per server run"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process parts")
    args = parser.parse_args(argv)
    cost_vs_size()
    batching_in_process()
    if not args.skip_http:
        asyncio.run(batching_over_http(args.seconds, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
