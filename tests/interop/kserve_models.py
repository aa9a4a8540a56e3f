"""Tiny KServe models that decode what they receive (run in the KServe venv, not by pytest).

Started by ``tests/interop/servers.py`` as ``python kserve_models.py --http_port N``
inside ``.interop/kserve-venv`` (KServe from PyPI). Each model really decodes its
input, so an answer of 200 means the payload arrived intact:

* ``image-classifier``: one ``BYTES`` input ``image``, an encoded JPEG/PNG/WebP.
  KServe's REST layer hands ``BYTES`` elements to models as strings, so they
  come base64-encoded (JSON tensors; the v1 protocol's ``{"b64": ...}``); the
  model opens the image with Pillow and answers its width and height.
* ``image-pixels``: ``FP32 [1, 3, 224, 224]`` (decoded, normalised pixels, NCHW);
  ``image-pixels-u8``: ``UINT8 [1, 224, 224, 3]`` (NHWC): checks the shape and
  the value range.
* ``speech``: one ``BYTES`` input ``audio``, an encoded WAV or FLAC file: decoded
  with the standard library's ``wave`` or ``soundfile``; answers its seconds.
* ``speech-pcm``: ``FP32 [1, -1]`` samples at 16 kHz: answers their seconds.

v1 (``POST /v1/models/{name}:predict``, ``{"instances": [{"b64": ...}]}``) reaches
the same models: the ``predict`` below reads either form.
"""

from __future__ import annotations

import base64
import io
import uuid
import wave

import numpy as np
import soundfile
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.errors import InvalidInput
from PIL import Image


def _decode_b64(value: object) -> bytes:
    if isinstance(value, bytes):
        value = value.decode("ascii")
    if not isinstance(value, str):
        raise InvalidInput(f"expected a base64 string, got {type(value).__name__}")
    return base64.b64decode(value, validate=True)


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes every pixel: a truncated file fails here
        return im.size


def _audio_seconds(data: bytes) -> float:
    if data[:4] == b"RIFF":
        with wave.open(io.BytesIO(data)) as w:
            frames = w.readframes(w.getnframes())
            if len(frames) != w.getnframes() * w.getsampwidth() * w.getnchannels():
                raise InvalidInput("truncated WAV")
            return w.getnframes() / w.getframerate()
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    return len(samples) / rate


class Tiny(Model):
    """One input; ``check(array)`` decodes it and says what it found."""

    def __init__(self, name: str, input_spec: dict, output: dict) -> None:
        super().__init__(name)
        self.input_spec = input_spec
        self.output = output
        self.ready = True

    def get_input_types(self) -> list[dict]:
        return [self.input_spec]

    def get_output_types(self) -> list[dict]:
        return [self.output]

    def answer(self, request: InferRequest, values: list[float]) -> InferResponse:
        out = InferOutput(name=self.output["name"], shape=[len(values)], datatype="FP32")
        out.set_data_from_numpy(np.asarray(values, np.float32), binary_data=False)
        return InferResponse(
            model_name=self.name, infer_outputs=[out], response_id=request.id or uuid.uuid4().hex
        )

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            if len(payload.inputs) != 1:
                raise InvalidInput(f"expected one input, got {len(payload.inputs)}")
            item = payload.inputs[0]
            if item.name != self.input_spec["name"]:
                raise InvalidInput(f"unknown input {item.name!r}")
            if item.datatype != self.input_spec["datatype"]:
                raise InvalidInput(f"input {item.name!r} is {item.datatype}")
            return self.answer(payload, self.decode_v2(item))
        # v1: {"instances": [...]}
        instances = payload.get("instances")
        if not isinstance(instances, list) or not instances:
            raise InvalidInput("v1 request without instances")
        found = []
        for inst in instances:
            if isinstance(inst, dict) and "b64" in inst:
                found.extend(self.decode_files([_decode_b64(inst["b64"])]))
            else:
                found.extend(self.decode_tensor(np.asarray([inst], dtype=np.float32)))
        return {"predictions": found}

    def decode_v2(self, item) -> list[float]:
        if item.datatype == "BYTES":
            return self.decode_files([_decode_b64(v) for v in item.data])
        return self.decode_tensor(item.as_numpy())

    def decode_files(self, files: list[bytes]) -> list[float]:
        raise InvalidInput(f"{self.name} takes no files")

    def decode_tensor(self, array: np.ndarray) -> list[float]:
        raise InvalidInput(f"{self.name} takes no tensors")


class ImageFiles(Tiny):
    def decode_files(self, files):
        return [float(w * h) for w, h in map(_image_size, files)]


class Pixels(Tiny):
    def decode_tensor(self, array):
        want = self.input_spec["shape"]
        if list(array.shape) != want:
            raise InvalidInput(f"pixels of shape {list(array.shape)}, expected {want}")
        if self.input_spec["datatype"] == "UINT8":
            if array.dtype != np.uint8:
                raise InvalidInput(f"dtype {array.dtype}")
        elif not (np.isfinite(array).all() and array.min() > -5 and array.max() < 5):
            raise InvalidInput("normalised pixels out of range")
        return [float(array.mean())]


class AudioFiles(Tiny):
    def decode_files(self, files):
        return [_audio_seconds(f) for f in files]


class Pcm(Tiny):
    def decode_tensor(self, array):
        if array.ndim != 2 or array.shape[0] != 1 or array.dtype != np.float32:
            raise InvalidInput(f"expected FP32 [1, n] samples, got {array.dtype} {array.shape}")
        if not (np.isfinite(array).all() and np.abs(array).max() <= 1.0):
            raise InvalidInput("samples outside [-1, 1]")
        return [array.shape[1] / 16000.0]


def _spec(name: str, datatype: str, shape: list[int]) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape}


MODELS = [
    ImageFiles("image-classifier", _spec("image", "BYTES", [-1]), _spec("pixels", "FP32", [-1])),
    Pixels("image-pixels", _spec("pixels", "FP32", [1, 3, 224, 224]), _spec("mean", "FP32", [1])),
    Pixels(
        "image-pixels-u8", _spec("pixels", "UINT8", [1, 224, 224, 3]), _spec("mean", "FP32", [1])
    ),
    AudioFiles("speech", _spec("audio", "BYTES", [-1]), _spec("seconds", "FP32", [-1])),
    Pcm("speech-pcm", _spec("waveform", "FP32", [1, -1]), _spec("seconds", "FP32", [1])),
]

if __name__ == "__main__":
    ModelServer(enable_grpc=False, workers=1).start(MODELS)
