"""Decoded images as a vision model's input tensor: resized, centre-cropped, laid out, normalised.

Models served from ONNX, TorchScript or TensorFlow graphs (Triton's usual
backends) take pixels, not JPEG bytes: the client decodes. A load test of
such a model sends what its real clients send, so the conversion is the one
image classifiers are trained with (torchvision's ImageNet evaluation
transform):

1. decode (Pillow), convert to RGB (3 channels) or L (1 channel);
2. resize so that the crop fills ``1 / crop_fraction`` of the shorter side
   (224 from 256, the default 0.875), bilinear;
3. centre-crop ``height x width``;
4. UINT8 and other integer datatypes: the 0-255 values as they are; floats:
   scaled to [0, 1], then ``(x - mean) / std`` per channel (ImageNet's
   mean and std by default; a grey image takes their averages);
5. lay out as ``NCHW`` or ``NHWC`` (``CHW``/``HWC`` without a batch).

It runs once per pool variant, before the test (:mod:`.tensor_pool`), never
on the request path. Pure: bytes in, a numpy array out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PixelSpec", "to_pixels"]

IMAGENET_MEAN: Final = (0.485, 0.456, 0.406)
IMAGENET_STD: Final = (0.229, 0.224, 0.225)

#: v2 datatypes and the numpy dtypes pixels take for them.
_DTYPES: Final = {
    "UINT8": np.uint8,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


@dataclass(frozen=True)
class PixelSpec:
    """The tensor a model takes: size, channels, layout, datatype, normalisation.

    >>> PixelSpec(224, 224).shape
    (1, 3, 224, 224)
    >>> PixelSpec(299, 299, layout="NHWC", datatype="UINT8", batched=False).shape
    (299, 299, 3)
    """

    height: int
    width: int
    channels: int = 3
    layout: str = "NCHW"
    datatype: str = "FP32"
    batched: bool = True
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    crop_fraction: float = 0.875

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ConfigError(f"pixels: size {self.height}x{self.width} must be positive")
        if self.channels not in (1, 3):
            raise ConfigError(f"pixels: {self.channels} channels; images have 1 or 3")
        if self.layout not in ("NCHW", "NHWC"):
            raise ConfigError(f"pixels: layout {self.layout!r}, expected NCHW or NHWC")
        if self.datatype not in _DTYPES:
            raise ConfigError(
                f"pixels: datatype {self.datatype!r}, expected one of {', '.join(_DTYPES)}"
            )
        if not 0 < self.crop_fraction <= 1:
            raise ConfigError(f"pixels: crop_fraction {self.crop_fraction} must be in (0, 1]")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.channels, 3):
                raise ConfigError(
                    f"pixels: {name} has {len(values)} values for {self.channels} channels"
                )
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"pixels: std {tuple(self.std)} must be positive")

    @property
    def shape(self) -> tuple[int, ...]:
        h, w, c = self.height, self.width, self.channels
        dims = (c, h, w) if self.layout == "NCHW" else (h, w, c)
        return (1, *dims) if self.batched else dims

    @property
    def dtype(self) -> np.dtype[np.generic]:
        return np.dtype(_DTYPES[self.datatype])


def to_pixels(data: bytes, spec: PixelSpec) -> npt.NDArray[np.generic]:
    """The encoded image ``data`` as ``spec``'s tensor (see the module docstring).

    >>> from locust_ml.payloads.image import ImageGenerator
    >>> jpeg = ImageGenerator(seed=1).image(320, 240).data
    >>> x = to_pixels(jpeg, PixelSpec(224, 224))
    >>> x.shape, x.dtype.name, bool(-3 < x.min() < x.max() < 3)
    ((1, 3, 224, 224), 'float32', True)
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as opened:
            im = opened.convert("RGB" if spec.channels == 3 else "L")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"pixels: cannot decode the image: {exc}") from None
    w0, h0 = im.size
    # The crop is crop_fraction of the resized image's shorter side (224 of 256).
    scale = max(spec.height / (h0 * spec.crop_fraction), spec.width / (w0 * spec.crop_fraction))
    size = (max(spec.width, round(w0 * scale)), max(spec.height, round(h0 * scale)))
    im = im.resize(size, Image.Resampling.BILINEAR)
    left, top = (size[0] - spec.width) // 2, (size[1] - spec.height) // 2
    im = im.crop((left, top, left + spec.width, top + spec.height))
    hwc = np.asarray(im, dtype=np.uint8).reshape(spec.height, spec.width, spec.channels)
    if spec.dtype.kind == "f":
        scaled = hwc.astype(np.float32) / np.float32(255.0)
        mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
        if spec.channels == 1:  # grey: the channels' mean and std, averaged
            mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
        out: npt.NDArray[np.generic] = ((scaled - mean) / std).astype(spec.dtype)
    else:
        out = hwc.astype(spec.dtype)
    if spec.layout == "NCHW":
        out = out.transpose(2, 0, 1)
    out = np.ascontiguousarray(out)
    return out.reshape(spec.shape)
