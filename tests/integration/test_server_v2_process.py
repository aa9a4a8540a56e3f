"""``locust-ml serve --backend image-classifier`` as a real process: port file,
readiness on the v2 health route, one binary-extension inference over a plain
``http.client`` connection, and a clean exit on SIGTERM."""

from __future__ import annotations

import http.client
import io
import json
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _jpeg() -> bytes:
    yy, xx = np.mgrid[0:96, 0:128]
    pixels = np.stack([xx * 2, yy * 2, (xx + yy) % 256], axis=-1)
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _wait_for_port(path: Path, proc: subprocess.Popen[str], limit_s: float = 30.0) -> int:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        if path.exists():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("server never wrote its port file")


def _get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_binary_v2_inference_against_a_real_process(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "locust_ml.cli",
            "serve",
            "--backend",
            "image-classifier",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _wait_for_port(port_file, proc)
        deadline = time.monotonic() + 30
        while _get_status(port, "/v2/health/ready") != 200:
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.05)

        image = _jpeg()
        header = json.dumps(
            {
                "id": "one",
                "inputs": [
                    {
                        "name": "image",
                        "shape": [1],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": 4 + len(image)},
                    }
                ],
                "outputs": [
                    {"name": "labels", "parameters": {"binary_data": True}},
                    {"name": "scores", "parameters": {"binary_data": True}},
                ],
            }
        ).encode()
        body = header + struct.pack("<I", len(image)) + image
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "POST",
                "/v2/models/image-classifier/infer",
                body=body,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Inference-Header-Content-Length": str(len(header)),
                },
            )
            resp = conn.getresponse()
            payload = resp.read()
            assert resp.status == 200, payload
            n = int(resp.getheader("Inference-Header-Content-Length") or "-1")
            assert resp.getheader("X-Batch-Size") == "1"
        finally:
            conn.close()

        meta = json.loads(payload[:n])
        assert (meta["model_name"], meta["model_version"], meta["id"]) == (
            "image-classifier",
            "1",
            "one",
        )
        (labels_meta, scores_meta) = meta["outputs"]
        assert labels_meta["shape"] == scores_meta["shape"] == [1, 5]
        blob = payload[n:]
        size = labels_meta["parameters"]["binary_data_size"]
        labels_blob, scores_blob = blob[:size], blob[size:]
        labels = []
        while labels_blob:
            (length,) = struct.unpack_from("<I", labels_blob)
            labels.append(labels_blob[4 : 4 + length].decode())
            labels_blob = labels_blob[4 + length :]
        scores = np.frombuffer(scores_blob, "<f4")
        assert len(labels) == 5
        assert all(label.startswith("class_") for label in labels)
        assert len(scores) == scores_meta["parameters"]["binary_data_size"] // 4 == 5
        assert (np.diff(scores) <= 0).all()
        assert 0 < scores.sum() <= 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "backend=image-classifier" in out
