"""Payload pools: bucket errors, memory cap, cache busting, valid bytes, determinism."""

from __future__ import annotations

import dataclasses
import io
import itertools
import random
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]
from PIL import Image

from locust_ml.errors import ConfigError
from locust_ml.payloads.audio_pool import build_audio_pool
from locust_ml.payloads.image_pool import build_image_pool
from locust_ml.payloads.nonce import NONCE_LENGTH
from locust_ml.payloads.payload import Payload, PayloadPool, make_payload
from locust_ml.payloads.pool import build_pool
from locust_ml.traces import Profile

TRACES = Path(__file__).resolve().parents[3] / "data" / "traces"


def _sizes(name: str, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    return Profile.load(name).sampler(seed).sample(n)


@pytest.fixture(scope="module")
def jpeg_pool() -> PayloadPool:
    sizes = _sizes("imagenet_image_sizes", 200, seed=3)
    return build_image_pool(sizes, seed=3, max_mb=8)


@pytest.fixture(scope="module")
def flac_pool() -> PayloadPool:
    sizes = _sizes("librispeech_durations", 100, seed=4)
    return build_audio_pool(sizes, format="flac", seed=4, max_mb=6)


def _check_cache_busting(pool: PayloadPool, picks: int = 400) -> list[Payload]:
    rng = random.Random(8)
    got = [pool.pick(rng) for _ in range(picks)]
    datas = [p.data for p in got]
    assert all(a != b for a, b in itertools.pairwise(datas))  # consecutive differ
    assert len(set(datas)) == picks  # every pick unique
    return got


def test_jpeg_pool_picks_are_valid_unique_and_near_their_draws(jpeg_pool: PayloadPool) -> None:
    s = jpeg_pool.stats
    assert (s.kind, s.format, s.draws) == ("image", "jpeg", 200)
    assert s.memory_bytes <= s.max_bytes == 8 * 2**20
    assert s.size_error_max <= s.tolerance + 1e-9
    picks = _check_cache_busting(jpeg_pool)
    for p in picks[:40]:
        img = Image.open(io.BytesIO(p.data))
        img.load()
        assert img.format == "JPEG"
        assert img.size == (p.width, p.height)
        assert img.info["comment"].startswith(b"locust-ml ")  # the nonce, in a COM segment
        assert p.content_type == "image/jpeg"
        assert p.target_width
        assert p.target_height
        assert p.target_bytes
        pixels, drawn = p.width * p.height, p.target_width * p.target_height  # type: ignore[operator]
        assert abs(pixels / drawn - 1) <= s.tolerance + 1e-9


def test_consecutive_picks_differ_in_content_too(jpeg_pool: PayloadPool) -> None:
    rng = random.Random(2)
    strip = 20 + 2 + 2 + 10 + NONCE_LENGTH  # SOI + APP0 (JFIF), COM marker, length, prefix

    def content(p: Payload) -> bytes:
        return p.data[:20] + p.data[strip:]

    picks = [jpeg_pool.pick(rng) for _ in range(300)]
    same = sum(content(a) == content(b) for a, b in itertools.pairwise(picks))
    assert same <= 3  # only from cells holding a single variant, a rare repeat


def test_pool_is_deterministic() -> None:
    sizes = _sizes("coco_image_sizes", 40, seed=1)
    a = build_image_pool(sizes, seed=5, max_mb=2)
    b = build_image_pool(sizes, seed=5, max_mb=2)
    ra, rb = random.Random(3), random.Random(3)
    assert [a.pick(ra).data for _ in range(50)] == [b.pick(rb).data for _ in range(50)]
    assert a.stats == b.stats


def test_png_and_webp_pools_stay_valid() -> None:
    rng = np.random.default_rng(2)
    sizes = {"width": rng.integers(16, 200, 30), "height": rng.integers(16, 200, 30)}
    for fmt, pil in (("png", "PNG"), ("webp", "WEBP")):
        pool = build_image_pool(sizes, format=fmt, seed=2, max_mb=4)
        for p in _check_cache_busting(pool, 30)[:10]:
            img = Image.open(io.BytesIO(p.data))
            img.load()  # Pillow checks PNG chunk CRCs
            assert (img.format, img.size) == (pil, (p.width, p.height))
        if fmt == "png":
            assert img.info["Comment"].startswith("locust-ml ")
            at = p.data.index(b"tEXt")
            length = struct.unpack(">I", p.data[at - 4 : at])[0]
            body = p.data[at : at + 4 + length]
            assert struct.unpack(">I", p.data[at + 4 + length : at + 8 + length])[0] == (
                zlib.crc32(body)
            )


def test_wav_pool_durations_are_exact() -> None:
    sizes = _sizes("librispeech_durations", 500, seed=6)
    pool = build_audio_pool(sizes, seed=6, max_mb=16)
    s = pool.stats
    assert (s.format, s.tolerance, s.payloads) == ("wav", 0.0, 1)
    assert s.size_error_max < 1 / 16000 / 1.4  # only the rounding to whole samples
    picks = _check_cache_busting(pool, 200)
    contents = [p.data[-2 * 1000 :] for p in picks]
    assert all(a != b for a, b in itertools.pairwise(contents))
    for p in picks[:20]:
        assert p.duration_s is not None
        assert p.target_duration_s is not None
        n = round(p.target_duration_s * 16000)
        assert p.duration_s == n / 16000
        with wave.open(io.BytesIO(p.data)) as w:
            assert (w.getframerate(), w.getnframes()) == (16000, n)
            assert len(w.readframes(n + 1)) == 2 * n
        decoded, rate = sf.read(io.BytesIO(p.data), dtype="int16")
        assert (rate, len(decoded)) == (16000, n)


def test_flac_pool_is_valid_and_within_tolerance(flac_pool: PayloadPool) -> None:
    s = flac_pool.stats
    assert (s.kind, s.format) == ("audio", "flac")
    assert s.size_error_max <= s.tolerance + 1e-9
    assert s.tolerance <= 0.1
    assert s.memory_bytes <= s.max_bytes
    for p in _check_cache_busting(flac_pool, 200)[:10]:
        with sf.SoundFile(io.BytesIO(p.data)) as f:
            assert f.comment.startswith("locust-ml ")
            assert f.frames == round(p.duration_s * f.samplerate)
            f.read(dtype="int16")  # decodes whole: frame CRCs untouched
        assert abs(p.duration_s / p.target_duration_s - 1) <= s.tolerance + 1e-9  # type: ignore[operator]


def test_memory_cap_coarsens_the_grid_and_holds() -> None:
    sizes = _sizes("imagenet_image_sizes", 300, seed=3)
    pool = build_image_pool(sizes, seed=3, max_mb=3)
    s = pool.stats
    assert s.memory_bytes <= 3 * 2**20
    assert s.tolerance > 0.03  # coarser than the default to fit
    assert s.size_error_max <= s.tolerance + 1e-9
    with pytest.raises(ConfigError, match=r"max_mb=0\.01 is too small"):
        build_image_pool(sizes, max_mb=0.01)


def test_common_sizes_are_sent_exactly() -> None:
    sizes = {"width": np.array([500] * 50 + [501, 502, 503]), "height": np.array([375] * 53)}
    pool = build_image_pool(sizes, seed=1, max_mb=4)
    rng = random.Random(1)
    for _ in range(50):
        p = pool.pick(rng)
        if p.target_width == 500:
            assert (p.width, p.height) == (500, 375)
        else:
            assert p.width in (501, 502, 503)
            assert p.height == 375


def test_progress_is_reported() -> None:
    calls: list[tuple[int, int]] = []
    pool = build_pool("coco_image_sizes", draws=20, max_mb=2, progress=lambda *a: calls.append(a))
    assert calls == [(k, len(pool)) for k in range(1, len(pool) + 1)]


def test_build_pool_picks_the_kind_from_the_profile() -> None:
    assert build_pool("coco_image_sizes", draws=10, max_mb=2).stats.format == "jpeg"
    assert build_pool("librispeech_durations", draws=10, max_mb=8).stats.format == "wav"
    with pytest.raises(ConfigError, match="needs width and height"):
        build_pool("azure_conv", draws=10)


@pytest.mark.parametrize(
    ("sizes", "kwargs", "match"),
    [
        ({"width": [0, 10], "height": [5, 5]}, {}, "'width' has a non-positive size 0"),
        ({"width": [10, 10], "height": [5, -5]}, {}, "'height' has a non-positive size -5"),
        ({"width": [10], "height": [5, 5]}, {}, "'height' must be a non-empty 1-D array of 1"),
        ({"height": [5]}, {}, "need a 'width' column"),
        ({"width": [], "height": []}, {}, "non-empty"),
        ({"width": [10], "height": [5]}, {"format": "bmp"}, "unknown payload format 'bmp'"),
        ({"width": [10], "height": [5]}, {"max_mb": 0}, "max_mb must be a positive"),
        ({"width": [10], "height": [5]}, {"max_variants": 0}, "max_variants"),
        ({"width": [10], "height": [5]}, {"pixel_tolerance": 0}, "tolerance"),
        ({"width": [10], "height": [5], "bytes": [0]}, {}, "'bytes' has a non-positive"),
    ],
)
def test_bad_image_sizes_are_config_errors(
    sizes: dict[str, list[int]], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        build_image_pool(sizes, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sizes", "kwargs", "match"),
    [
        ({"duration_s": [1.0, 0.0]}, {}, "'duration_s' has a non-positive size 0.0"),
        ({"duration_s": [1.0, -2.0]}, {}, "non-positive"),
        ({"duration_s": [1.0, float("nan")]}, {}, "finite numbers"),
        ({"duration_s": [1.0], "sample_rate": [0]}, {}, "'sample_rate' has a non-positive"),
        ({"duration_s": [1.0], "sample_rate": [16000.5]}, {}, "whole numbers of Hz"),
        ({"duration_s": [1.0]}, {"format": "ogg"}, "unknown payload format 'ogg'"),
        ({"duration_s": [1.0]}, {"sample_rate": 10}, "sample_rate must be 1000"),
        ({"seconds": [1.0]}, {}, "need a 'duration_s' column"),
    ],
)
def test_bad_audio_sizes_are_config_errors(
    sizes: dict[str, list[float]], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        build_audio_pool(sizes, **kwargs)  # type: ignore[arg-type]


def test_picks_are_whole_payloads(jpeg_pool: PayloadPool, flac_pool: PayloadPool) -> None:
    """Pickers fill Payload's fields directly (make_payload): all of them, as __init__ would."""
    wav_pool = build_audio_pool(_sizes("librispeech_durations", 20, seed=5), seed=5, max_mb=8)
    rng = random.Random(3)
    for pool in (jpeg_pool, flac_pool, wav_pool):
        for _ in range(20):
            p = pool.pick(rng)
            values = {f.name: getattr(p, f.name) for f in dataclasses.fields(Payload)}
            assert set(vars(p)) == set(values)  # no field missing, none extra
            assert Payload(**values) == p
            assert p.data == b"".join(p.parts)
            assert p.nbytes == len(p.data)


def test_make_payload_is_the_constructor() -> None:
    fields = {
        "content_type": "image/png",
        "format": "png",
        "width": 4,
        "height": 3,
        "duration_s": None,
        "sample_rate": None,
    }
    drawn = {"target_width": 5, "target_height": 3, "target_duration_s": None, "target_bytes": 99}
    parts = (b"a", memoryview(b"bc"))
    made = make_payload(parts, fields, drawn)
    assert made == Payload(parts, **fields, **drawn)  # type: ignore[arg-type]
    assert made.data == b"abc"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.width = 1  # type: ignore[misc]
