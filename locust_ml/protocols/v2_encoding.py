"""How an image or audio user's payload goes to a v2 model: decided once, from what the server said.

Two questions, answered from the server's and the model's metadata
(:mod:`~locust_ml.protocols.v2_metadata`) before the test:

**What to send** (the *form*), from the model's input:

* ``file``: the encoded file (JPEG, WAV...) as one ``BYTES`` element, for
  models that decode it themselves (an input of datatype ``BYTES``, or a
  model that states no inputs);
* ``pixels``: the decoded image, resized, centre-cropped, in the input's
  layout (``NCHW``/``NHWC``) and datatype (``UINT8`` as is, floats scaled to
  [0, 1] then normalised by mean and std), for an image model whose input is
  a numeric tensor of rank 3 or 4; height and width come from its shape when
  it states them;
* ``pcm``: decoded samples (floats in [-1, 1], or ``INT16``) at the model's
  sample rate, for an audio model whose input is a numeric tensor of rank 1
  or 2.

**How to put it on the wire**: ``binary`` (the binary tensor data extension)
only when the server lists ``binary_tensor_data`` in ``GET /v2``; otherwise
``json``: a ``BYTES`` element base64-encoded with ``"parameters":
{"content_type": "base64"}`` on the input (MLServer's codec decodes it;
KServe models read the string), numbers as JSON numbers.

Either can be forced (``--ml-encoding``); the decision carries its reason,
which the console prints. A model whose input cannot take the payload at all
(an image for a ``BOOL`` input, a batch of 8 where one image is sent, several
inputs and none of the user's name) is a :class:`~locust_ml.errors.ConfigError`
before the test, not thousands of failed requests. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from locust_ml.errors import ConfigError
from locust_ml.protocols.v2_metadata import (
    BINARY_EXTENSION,
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
)

__all__ = [
    "FORMS",
    "WIRES",
    "Encoding",
    "PcmLayout",
    "PixelLayout",
    "choose_encoding",
]

WIRES: Final = ("auto", "binary", "json")
FORMS: Final = ("auto", "file", "pixels", "pcm")
#: Datatypes pixels may take (floats are normalised, integers sent as 0-255).
PIXEL_DATATYPES: Final = ("UINT8", "INT8", "INT16", "INT32", "FP16", "FP32", "FP64")
#: Datatypes samples may take (floats in [-1, 1], INT16 as 16-bit PCM).
PCM_DATATYPES: Final = ("FP16", "FP32", "FP64", "INT16")


@dataclass(frozen=True)
class PixelLayout:
    """A decoded image's tensor: ``shape`` as sent (batch 1), its layout and datatype."""

    height: int
    width: int
    channels: int
    layout: str  # "NCHW" or "NHWC"
    batched: bool  # rank 4 (a batch dimension) or rank 3

    @property
    def shape(self) -> tuple[int, ...]:
        h, w, c = self.height, self.width, self.channels
        dims = (c, h, w) if self.layout == "NCHW" else (h, w, c)
        return (1, *dims) if self.batched else dims


@dataclass(frozen=True)
class PcmLayout:
    """Decoded samples: ``rate`` Hz, one clip as ``[n]`` or ``[1, n]``; ``length`` fixed or None."""

    rate: int
    batched: bool
    length: int | None = None

    def shape(self, samples: int) -> tuple[int, ...]:
        return (1, samples) if self.batched else (samples,)


@dataclass(frozen=True)
class Encoding:
    """The decision: which input, in which form, on which wire, and why."""

    input: TensorMetadata
    form: str  # "file", "pixels", "pcm"
    wire: str  # "binary", "json"
    reason: str
    pixels: PixelLayout | None = None
    pcm: PcmLayout | None = None

    def describe(self) -> str:
        """The console's words: ``... as JSON tensors (BYTES, base64): <why>``."""
        what = {
            "file": "encoded files as BYTES",
            "pixels": f"decoded pixels {list(self.pixels.shape) if self.pixels else ''}",
            "pcm": f"decoded samples at {self.pcm.rate if self.pcm else '?'} Hz",
        }[self.form]
        if self.form == "file" and self.wire == "json":
            what += " (base64)"
        wire = "binary tensors" if self.wire == "binary" else "JSON tensors"
        return f"input {self.input.name!r} {self.input.datatype}: {what} in {wire}: {self.reason}"


def _wire(server: ServerMetadata | None, unknown: str, forced: str) -> tuple[str, str]:
    if forced != "auto":
        return forced, f"--ml-encoding {forced}"
    if server is None:
        return "json", f"{unknown}; JSON is what every v2 server takes"
    said = f"GET /v2 ({server.describe()})"
    if server.binary_tensors:
        return "binary", f"{said} lists {BINARY_EXTENSION}"
    listed = ", ".join(server.extensions) or "none"
    return "json", f"{said} lists no {BINARY_EXTENSION} (extensions: {listed})"


def _input(model: ModelMetadata | None, name: str, kind: str) -> TensorMetadata | None:
    """The input to send: the model's only one, or the one called ``name``; None if unstated."""
    if model is None or not model.inputs:
        return None
    if len(model.inputs) == 1:
        return model.inputs[0]
    for tensor in model.inputs:
        if tensor.name == name:
            return tensor
    names = ", ".join(t.describe() for t in model.inputs)
    raise ConfigError(
        f"model {model.name!r} has {len(model.inputs)} inputs ({names}) and none is named "
        f"{name!r}, where the {kind} would go: set input_name in the user class"
    )


def _batch(dim: int, model: str, tensor: TensorMetadata) -> None:
    if dim not in (-1, 1):
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} takes batches of {dim}; "
            "each request sends one"
        )


def _pixels(tensor: TensorMetadata, model: str, size: int, layout: str) -> PixelLayout:
    shape = tensor.shape
    if tensor.datatype not in PIXEL_DATATYPES:
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} cannot take an image "
            f"(pixels go as {', '.join(PIXEL_DATATYPES)}; encoded files as BYTES)"
        )
    if shape is None:
        shape = (-1, -1, -1, -1)
    if len(shape) not in (3, 4):
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} cannot take an image: pixels need "
            "rank 3 (CHW/HWC) or 4 (NCHW/NHWC)"
        )
    batched = len(shape) == 4
    if batched:
        _batch(shape[0], model, tensor)
    dims = shape[1:] if batched else shape
    first, last = dims[0], dims[2]
    if layout == "auto":
        if first in (1, 3) and last not in (1, 3):
            layout = "NCHW"
        elif last in (1, 3):
            layout = "NHWC"
        else:
            layout = "NCHW"  # nothing stated: PyTorch's, ONNX's usual layout
    layout = layout.upper()
    if layout == "NCHW":
        channels, height, width = dims
    else:
        height, width, channels = dims
    if channels == -1:
        channels = 3
    if channels not in (1, 3):
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} has {channels} channels in "
            f"{layout} layout; images have 1 or 3 (--ml-encoding layout=nchw|nhwc)"
        )
    return PixelLayout(
        height=size if height == -1 else height,
        width=size if width == -1 else width,
        channels=channels,
        layout=layout,
        batched=batched,
    )


def _pcm(tensor: TensorMetadata, model: str, rate: int) -> PcmLayout:
    if tensor.datatype not in PCM_DATATYPES:
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} cannot take audio samples "
            f"(samples go as {', '.join(PCM_DATATYPES)}; encoded files as BYTES)"
        )
    shape = tensor.shape if tensor.shape is not None else (-1, -1)
    if len(shape) not in (1, 2):
        raise ConfigError(
            f"model {model!r}: input {tensor.describe()} cannot take audio samples: "
            "they need rank 1 ([n]) or 2 ([1, n])"
        )
    if len(shape) == 2:
        _batch(shape[0], model, tensor)
    length = shape[-1] if shape[-1] > 0 else None
    return PcmLayout(rate=rate, batched=len(shape) == 2, length=length)


def choose_encoding(
    *,
    kind: str,
    server: ServerMetadata | None,
    model: ModelMetadata | None,
    input_name: str,
    wire: str = "auto",
    form: str = "auto",
    size: int = 224,
    layout: str = "auto",
    rate: int = 16000,
    unknown: str = "the server did not say which extensions it supports",
) -> Encoding:
    """The encoding for a ``kind`` ("image" or "audio") payload; ConfigError on a mismatch.

    ``server``/``model`` are None where the server could not be asked
    (``unknown`` says why, for the reason). ``wire`` and ``form`` force a
    choice; ``size`` (pixels' side where the shape doesn't say), ``layout``
    and ``rate`` (samples per second) fill what metadata never states.

    >>> from locust_ml.protocols.v2_metadata import parse_server_metadata
    >>> server = parse_server_metadata(b'{"name":"mlserver","version":"1.7.1","extensions":[]}')
    >>> choose_encoding(kind="image", server=server, model=None, input_name="image").describe()
    "input 'image' BYTES: encoded files as BYTES (base64) in JSON tensors: GET /v2 (mlserver ..."
    """
    if wire not in WIRES:
        raise ConfigError(f"wire {wire!r}: expected one of {', '.join(WIRES)}")
    if form not in FORMS:
        raise ConfigError(f"input {form!r}: expected one of {', '.join(FORMS)}")
    model_name = model.name if model is not None else "?"
    tensor = _input(model, input_name, kind)
    if tensor is None:
        tensor = TensorMetadata(input_name, "BYTES" if form in ("auto", "file") else "FP32")
    decoded = "pixels" if kind == "image" else "pcm"
    if form == "auto":
        form = "file" if tensor.datatype == "BYTES" else decoded
    if form == "file" and tensor.datatype != "BYTES":
        raise ConfigError(
            f"model {model_name!r}: input {tensor.describe()} takes numbers; an encoded "
            f"{kind} file goes as BYTES (to send it decoded: --ml-encoding input={decoded})"
        )
    if (form == "pixels" and kind != "image") or (form == "pcm" and kind != "audio"):
        raise ConfigError(f"input={form} is for {'images' if form == 'pixels' else 'audio'}")
    chosen, reason = _wire(server, unknown, wire)
    return Encoding(
        input=tensor,
        form=form,
        wire=chosen,
        reason=reason,
        pixels=_pixels(tensor, model_name, size, layout) if form == "pixels" else None,
        pcm=_pcm(tensor, model_name, rate) if form == "pcm" else None,
    )
