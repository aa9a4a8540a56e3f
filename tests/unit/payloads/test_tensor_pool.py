"""Tensor pools: converted once, serialized for the wire, within their memory cap."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.payloads.pcm import PcmSpec, to_pcm
from locust_ml.payloads.pixels import PixelSpec, to_pixels
from locust_ml.payloads.pool import build_pool
from locust_ml.payloads.tensor_pool import build_tensor_pool, json_text


@pytest.fixture(scope="module")
def images():  # type: ignore[no-untyped-def]
    return build_pool("imagenet_image_sizes", draws=32, max_mb=4, seed=1)


def test_binary_pixels_are_the_tensors_bytes(images) -> None:  # type: ignore[no-untyped-def]
    spec = PixelSpec(32, 32)
    pool = build_tensor_pool(
        images, lambda d: to_pixels(d, spec), wire="binary", what="px", count=5
    )
    assert len(pool) == 5
    rng = random.Random(0)
    for _ in range(10):
        pick = pool.pick(rng)
        assert pick.shape == (1, 3, 32, 32)
        np.testing.assert_array_equal(
            np.frombuffer(pick.parts[0], "<f4").reshape(pick.shape),
            to_pixels(pick.source.data, spec),
        )
    assert pool.memory_bytes == 5 * 3 * 32 * 32 * 4
    assert repr(pool) == "TensorPool(px, binary: 5 tensors, 0.1 MiB)"


def test_json_pixels_parse_back_exactly(images) -> None:  # type: ignore[no-untyped-def]
    spec = PixelSpec(16, 16)
    pool = build_tensor_pool(images, lambda d: to_pixels(d, spec), wire="json", what="px", count=3)
    pick = pool.pick(random.Random(2))
    values = np.asarray(json.loads(pick.parts[0]), np.float32).reshape(pick.shape)
    np.testing.assert_array_equal(values, to_pixels(pick.source.data, spec))


def test_samples_follow_the_source_durations() -> None:
    audio = build_pool("librispeech_durations", draws=16, max_mb=4, seed=2)
    pool = build_tensor_pool(
        audio, lambda d: to_pcm(d, PcmSpec(rate=8000)), wire="binary", what="pcm", count=8
    )
    for pick in (pool.pick(random.Random(i)) for i in range(8)):
        assert pick.shape[0] == 1
        assert abs(pick.shape[1] - pick.source.duration_s * 8000) <= 1  # type: ignore[operator]
        assert len(pick.parts[0]) == pick.shape[1] * 4


def test_the_memory_cap_stops_the_pool_but_keeps_one(images) -> None:  # type: ignore[no-untyped-def]
    spec = PixelSpec(64, 64)  # 48 KiB each in binary
    pool = build_tensor_pool(
        images, lambda d: to_pixels(d, spec), wire="binary", what="px", max_mb=0.1, count=50
    )
    assert len(pool) == 2
    one = build_tensor_pool(
        images, lambda d: to_pixels(d, spec), wire="binary", what="px", max_mb=0.01
    )
    assert len(one) == 1


def test_json_text() -> None:
    assert json_text(np.array([1, -2], np.int64)) == b"[1,-2]"
    assert json_text(np.array([True, False])) == b"[true,false]"
    with pytest.raises(ConfigError, match="NaN"):
        json_text(np.array([np.nan], np.float32))
    with pytest.raises(ConfigError, match="binary or json"):
        build_tensor_pool(None, lambda d: np.zeros(1), wire="xml", what="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["pixels", "pcm", "tensor_pool"])
def test_doctests(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"locust_ml.payloads.{name}")
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
