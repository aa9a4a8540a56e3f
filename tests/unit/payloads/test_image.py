"""Synthetic photographs: dimensions, formats, byte-size control, content, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from locust_ml.errors import ConfigError
from locust_ml.payloads.image import DETAIL_MAX, EncodedImage, ImageGenerator
from locust_ml.traces import Profile

IMAGENET = (
    Path(__file__).resolve().parents[3] / "data" / "traces" / "image_sizes_imagenet_sample.csv"
)


def _decode(img: EncodedImage) -> Image.Image:
    decoded = Image.open(io.BytesIO(img.data))
    decoded.load()
    return decoded


@pytest.mark.parametrize(("fmt", "pil"), [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")])
@pytest.mark.parametrize(("w", "h"), [(1, 1), (7, 3), (500, 375), (333, 500), (1024, 17)])
def test_decodes_to_requested_dimensions(fmt: str, pil: str, w: int, h: int) -> None:
    img = ImageGenerator(seed=w * h).image(w, h, format=fmt)
    decoded = _decode(img)
    assert (decoded.format, decoded.size, decoded.mode) == (pil, (w, h), "RGB")
    assert (img.width, img.height, img.format) == (w, h, fmt)
    assert img.content_type == f"image/{fmt}"


def test_target_bytes_within_tolerance_across_sizes() -> None:
    gen = ImageGenerator(seed=4)
    cases = [(500, 375, 110_000), (500, 375, 20_000), (500, 375, 300_000), (64, 48, 2_500)]
    cases += [(1600, 1200, 400_000), (200, 200, 9_000), (640, 480, 45_000)]
    for w, h, target in cases:
        img = gen.image(w, h, target_bytes=target)
        assert img.target_bytes == target
        assert img.bytes_error is not None
        assert abs(img.bytes_error) <= 0.02, (w, h, target, img.nbytes, img.quality)
        assert _decode(img).size == (w, h)


def test_webp_follows_target_bytes() -> None:
    img = ImageGenerator(seed=2).image(400, 300, format="webp", target_bytes=25_000)
    assert img.bytes_error is not None
    assert abs(img.bytes_error) <= 0.02
    assert _decode(img).format == "WEBP"


def test_unreachable_target_returns_the_closest() -> None:
    gen = ImageGenerator(seed=1, max_encodes=12)
    big = gen.image(100, 100, target_bytes=1_000_000)  # 100 bytes per pixel: no photo is
    assert big.quality == 100
    assert big.detail == pytest.approx(DETAIL_MAX)
    assert big.nbytes < 1_000_000
    small = gen.image(1000, 1000, target_bytes=500)  # the headers alone are bigger
    assert small.nbytes > 500
    assert small.quality == 5


def test_jpeg_bytes_follow_imagenet_draws() -> None:
    """Generated sizes track the profile's joint draws image by image."""
    sizes = Profile.load("imagenet_image_sizes").sampler(seed=7).sample(60)
    gen = ImageGenerator(seed=7)
    made = np.array(
        [
            gen.image(int(w), int(h), target_bytes=int(b)).nbytes
            for w, h, b in zip(sizes["width"], sizes["height"], sizes["bytes"], strict=True)
        ]
    )
    err = np.abs(made / sizes["bytes"] - 1)
    assert np.mean(err <= 0.02) >= 0.95
    assert err.max() <= 0.1
    assert stats.ks_2samp(made, sizes["bytes"], method="asymp").statistic <= 0.05


def test_seeded_and_varied() -> None:
    a, b = ImageGenerator(seed=11), ImageGenerator(seed=11)
    first = [a.image(120, 90, target_bytes=6000).data for _ in range(3)]
    assert first == [b.image(120, 90, target_bytes=6000).data for _ in range(3)]
    assert len(set(first)) == 3
    assert ImageGenerator(seed=12).image(120, 90, target_bytes=6000).data != first[0]


def test_content_looks_like_a_photograph() -> None:
    """Not flat, not white noise: neighbours correlate, spectrum falls with frequency."""
    px = ImageGenerator(seed=3).pixels(256, 256, detail=1.0).astype(np.float64)
    assert px.std() > 20  # not flat
    luma = px.mean(axis=2)
    right = np.corrcoef(luma[:, :-1].ravel(), luma[:, 1:].ravel())[0, 1]
    assert right > 0.5  # white noise would be ~0
    channels = np.asarray(np.corrcoef(px.reshape(-1, 3).T), dtype=np.float64)
    assert channels[0, 1] > 0.3
    assert channels[1, 2] > 0.3
    power = np.abs(np.fft.fft2(luma - luma.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256)))
    low = power[(f > 0.01) & (f < 0.05)].mean()
    high = power[(f > 0.25) & (f < 0.5)].mean()
    assert low > 30 * high


def test_more_detail_means_more_bytes() -> None:
    sizes = []
    for detail in (0.0, 0.5, 2.0, 4.0):
        img = ImageGenerator(seed=9).image(300, 200, detail=detail, quality=85)
        sizes.append(img.nbytes)
    assert sizes == sorted(sizes)
    assert sizes[-1] > 2 * sizes[0]


def test_png_is_lossless_and_sized_like_a_photo() -> None:
    gen = ImageGenerator(seed=5)
    img = gen.image(200, 150, format="png", detail=1.0)
    assert img.quality is None
    assert 0.8 < img.nbytes / (200 * 150) < 4.0  # bytes per pixel of PNG photographs
    assert np.asarray(_decode(img)).shape == (150, 200, 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0, "height": 10}, "width must be 1.."),
        ({"width": 10, "height": -3}, "height must be 1.."),
        ({"width": 10.5, "height": 10}, "width must be an integer"),
        ({"width": True, "height": 10}, "width must be an integer"),
        ({"width": 20_000, "height": 10}, "width must be 1..16383"),
        ({"width": 10_000, "height": 10_000}, "at most 67,108,864 are accepted"),
        ({"width": 10, "height": 10, "format": "gif"}, "unknown image format 'gif'"),
        ({"width": 10, "height": 10, "target_bytes": 0}, "target_bytes must be a positive"),
        ({"width": 10, "height": 10, "target_bytes": -5}, "target_bytes must be a positive"),
        ({"width": 10, "height": 10, "format": "png", "target_bytes": 900}, "lossy formats"),
        ({"width": 10, "height": 10, "quality": 0}, "quality must be an integer 1..100"),
        ({"width": 10, "height": 10, "format": "png", "quality": 80}, "quality applies"),
        ({"width": 10, "height": 10, "detail": -1.0}, "detail must be in"),
        ({"width": 10, "height": 10, "target_bytes": 900, "quality": 80}, "do not pass"),
    ],
)
def test_bad_input_is_a_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ImageGenerator().image(**kwargs)  # type: ignore[arg-type]


def test_bad_generator_options() -> None:
    with pytest.raises(ConfigError, match="tolerance"):
        ImageGenerator(tolerance=0)
    with pytest.raises(ConfigError, match="max_encodes"):
        ImageGenerator(max_encodes=1)
