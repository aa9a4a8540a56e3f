"""Tiny MLServer runtimes that decode what they receive (run in the MLServer venv, not by pytest).

``python mlserver_models.py DIR PORT`` writes a model repository into ``DIR``
(``settings.json``, one folder per model with its ``model-settings.json``) and
runs ``mlserver start DIR`` there, inside ``.interop/mlserver-venv`` (MLServer
from PyPI). The models, by the names the locustfiles use:

* ``image-classifier``: ``BYTES`` input ``image``, an encoded image. MLServer's
  codecs decode ``"parameters": {"content_type": "base64"}`` on the input
  (``self.decode``), so the model gets the file's bytes and opens it with Pillow;
* ``image-pixels`` (``FP32 [1, 3, 224, 224]``) and ``image-pixels-u8``
  (``UINT8 [1, 224, 224, 3]``): decoded pixels, shape and range checked;
* ``speech``: ``BYTES`` input ``audio``, WAV (``wave``) or FLAC (``soundfile``);
* ``speech-pcm``: ``FP32 [1, -1]`` samples at 16 kHz.

MLServer has no binary tensor data extension (``GET /v2`` lists no extension):
JSON tensors only.
"""

from __future__ import annotations

import io
import json
import os
import sys
import wave
from pathlib import Path

import numpy as np
import soundfile
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse
from PIL import Image


class BadInput(MLServerError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=400)


def _image_pixels(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes every pixel: a truncated file fails here
        return float(im.size[0] * im.size[1])


def _audio_seconds(data: bytes) -> float:
    if data[:4] == b"RIFF":
        with wave.open(io.BytesIO(data)) as w:
            frames = w.readframes(w.getnframes())
            if len(frames) != w.getnframes() * w.getsampwidth() * w.getnchannels():
                raise BadInput("truncated WAV")
            return w.getnframes() / w.getframerate()
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return len(samples) / rate


class Tiny(MLModel):
    """One input, decoded by MLServer's codecs (base64 included), then checked here."""

    async def load(self) -> bool:
        self.spec = self.settings.inputs[0]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        if len(payload.inputs) != 1 or payload.inputs[0].name != self.spec.name:
            raise BadInput(f"expected one input named {self.spec.name!r}")
        item = payload.inputs[0]
        if item.datatype != self.spec.datatype:
            raise BadInput(f"input {item.name!r} is {item.datatype}, not {self.spec.datatype}")
        # BYTES: the codec the request names ("content_type": "base64"); numbers: numpy,
        # as MLServer's own runtimes decode them by default.
        decoded = self.decode(item) if item.datatype == "BYTES" else NumpyCodec.decode_input(item)
        values = self.check(decoded)
        out = NumpyCodec.encode_output(
            self.settings.outputs[0].name, np.asarray(values, np.float32)
        )
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=[out])

    def check(self, decoded) -> list[float]:
        raise NotImplementedError


def _files(decoded) -> list[bytes]:
    items = list(decoded) if isinstance(decoded, list) else list(np.asarray(decoded).ravel())
    if not items or not all(isinstance(x, bytes) for x in items):
        raise BadInput(f"expected file bytes, got {[type(x).__name__ for x in items]}")
    return items


class ImageFiles(Tiny):
    def check(self, decoded):
        return [_image_pixels(f) for f in _files(decoded)]


class Pixels(Tiny):
    def check(self, decoded):
        array = np.asarray(decoded)
        if list(array.shape) != list(self.spec.shape):
            raise BadInput(f"pixels of shape {list(array.shape)}, expected {self.spec.shape}")
        if self.spec.datatype == "UINT8":
            if array.dtype != np.uint8:
                raise BadInput(f"dtype {array.dtype}")
        elif not (np.isfinite(array).all() and array.min() > -5 and array.max() < 5):
            raise BadInput("normalised pixels out of range")
        return [float(array.mean())]


class AudioFiles(Tiny):
    def check(self, decoded):
        return [_audio_seconds(f) for f in _files(decoded)]


class Pcm(Tiny):
    def check(self, decoded):
        array = np.asarray(decoded)
        if array.ndim != 2 or array.shape[0] != 1 or array.dtype != np.float32:
            raise BadInput(f"expected FP32 [1, n] samples, got {array.dtype} {array.shape}")
        if not (np.isfinite(array).all() and np.abs(array).max() <= 1.0):
            raise BadInput("samples outside [-1, 1]")
        return [array.shape[1] / 16000.0]


def _spec(name: str, datatype: str, shape: list[int]) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape}


MODELS = {
    "image-classifier": ("ImageFiles", _spec("image", "BYTES", [-1]), "pixels"),
    "image-pixels": ("Pixels", _spec("pixels", "FP32", [1, 3, 224, 224]), "mean"),
    "image-pixels-u8": ("Pixels", _spec("pixels", "UINT8", [1, 224, 224, 3]), "mean"),
    "speech": ("AudioFiles", _spec("audio", "BYTES", [-1]), "seconds"),
    "speech-pcm": ("Pcm", _spec("waveform", "FP32", [1, -1]), "seconds"),
}


def write_repository(root: Path, port: int) -> None:
    """``settings.json`` (this port, everything else off) and one folder per model."""
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": 0,
        "metrics_endpoint": None,
        "parallel_workers": 0,
        "debug": False,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    for name, (cls, spec, output) in MODELS.items():
        folder = root / name
        folder.mkdir(exist_ok=True)
        model = {
            "name": name,
            "implementation": f"mlserver_models.{cls}",
            "inputs": [spec],
            "outputs": [_spec(output, "FP32", [-1])],
        }
        (folder / "model-settings.json").write_text(json.dumps(model))


if __name__ == "__main__":
    root, port = Path(sys.argv[1]), int(sys.argv[2])
    write_repository(root, port)
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
    mlserver = Path(sys.executable).with_name("mlserver")
    os.execv(str(mlserver), [str(mlserver), "start", str(root)])  # noqa: S606
