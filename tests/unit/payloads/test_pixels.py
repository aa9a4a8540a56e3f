"""Decoded pixels: resize and centre crop, layouts, datatypes, normalisation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from locust_ml.errors import ConfigError
from locust_ml.payloads.pixels import IMAGENET_MEAN, IMAGENET_STD, PixelSpec, to_pixels


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")  # lossless: exact pixel checks
    return buf.getvalue()


def quadrants(w: int, h: int) -> np.ndarray:
    """Red left half, blue right half; a green band in the middle third of the rows."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2 :] = (0, 0, 255)
    a[h // 3 : 2 * h // 3] = (0, 255, 0)
    return a


def test_uint8_nhwc_keeps_values_and_crops_the_centre() -> None:
    data = png(quadrants(400, 200))
    x = to_pixels(data, PixelSpec(100, 100, layout="NHWC", datatype="UINT8"))
    assert x.shape == (1, 100, 100, 3)
    assert x.dtype == np.uint8
    # Resized so the 100 px crop is 87.5 % of the shorter side, then cut from the centre:
    # the middle rows are the green band, left and right of the centre red and blue.
    assert tuple(x[0, 50, 10]) == (0, 255, 0)
    assert tuple(x[0, 2, 10]) == (255, 0, 0)
    assert tuple(x[0, 2, 90]) == (0, 0, 255)


def test_fp32_nchw_is_normalised_per_channel() -> None:
    red = np.zeros((300, 300, 3), np.uint8)
    red[..., 0] = 255
    x = to_pixels(png(red), PixelSpec(224, 224))
    assert x.shape == (1, 3, 224, 224)
    assert x.dtype == np.float32
    expected = [
        (c - m) / s for c, m, s in zip((1.0, 0.0, 0.0), IMAGENET_MEAN, IMAGENET_STD, strict=True)
    ]
    np.testing.assert_allclose(x[0, :, 100, 100], expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("spec", "shape", "dtype"),
    [
        (PixelSpec(32, 48, channels=1, datatype="FP16"), (1, 1, 32, 48), np.float16),
        (PixelSpec(32, 32, batched=False), (3, 32, 32), np.float32),
        (PixelSpec(20, 30, layout="NHWC", datatype="INT32", batched=False), (20, 30, 3), np.int32),
    ],
)
def test_shapes_and_datatypes(spec: PixelSpec, shape: tuple[int, ...], dtype: type) -> None:
    x = to_pixels(png(quadrants(64, 50)), spec)
    assert x.shape == spec.shape == shape
    assert x.dtype == dtype
    assert x.flags.c_contiguous


def test_a_small_image_is_scaled_up() -> None:
    x = to_pixels(png(quadrants(10, 7)), PixelSpec(224, 224, datatype="UINT8"))
    assert x.shape == (1, 3, 224, 224)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 4}, "1 or 3"),
        ({"layout": "CHW"}, "layout"),
        ({"datatype": "BOOL"}, "datatype"),
        ({"crop_fraction": 0}, "crop_fraction"),
        ({"mean": (0.1, 0.2)}, "mean has 2 values"),
        ({"channels": 1, "std": (0.1, 0.2)}, "std has 2 values"),
        ({"std": (0.0,)}, "must be positive"),
    ],
)
def test_bad_specs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PixelSpec(8, 8, **kwargs)  # type: ignore[arg-type]


def test_not_an_image() -> None:
    with pytest.raises(ConfigError, match="cannot decode the image"):
        to_pixels(b"RIFF....WAVE", PixelSpec(8, 8))
