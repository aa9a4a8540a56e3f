"""The image classifier: decoding, the convolutions against a naive reference,
output shapes, determinism, batching that doesn't change answers, input checks."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from locust_ml.server.models import image_classifier as ic
from locust_ml.server.models.image_classifier import (
    LABELS,
    ImageClassifier,
    ImageItem,
    decode_image,
    probe_image,
)
from locust_ml.server.oneshot import InputError, Tensor

MAX = 16_777_216


def _pixels(height: int, width: int, seed: int = 0) -> npt.NDArray[np.uint8]:
    """A smooth, photo-like RGB image (gradients and waves, not noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, 3)
    waves = 50 * np.sin(xx / rng.uniform(3, 9))[..., None] + 30 * np.cos(yy / rng.uniform(2, 7))[
        ..., None
    ] * np.array([1.0, -0.5, 0.3])
    pixels: npt.NDArray[np.uint8] = np.clip(base + waves, 0, 255).astype(np.uint8)
    return pixels


def _encode(pixels: npt.NDArray[Any], fmt: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def model() -> ImageClassifier:
    m = ImageClassifier(seed=0)
    m.build()
    return m


def test_png_decodes_exactly() -> None:
    pixels = _pixels(20, 30)
    out = decode_image(_encode(pixels, "PNG"), MAX)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels)


def test_jpeg_decodes_to_rgb_of_the_same_size() -> None:
    pixels = _pixels(24, 40)
    data = _encode(pixels, "JPEG")
    assert probe_image(data, MAX) == ("JPEG", 40, 24)
    out = decode_image(data, MAX)
    assert out.shape == (24, 40, 3)
    # Lossy, but close on a smooth image.
    assert np.abs(out.astype(int) - pixels.astype(int)).mean() < 8


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_png_modes_convert_to_rgb(mode: str) -> None:
    out = decode_image(_encode(_pixels(8, 12), "PNG", mode), MAX)
    assert out.shape == (8, 12, 3)
    assert out.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "status", "match"),
    [
        (b"garbage bytes, not an image", 400, "not a JPEG or PNG"),
        (b"", 400, "not a JPEG or PNG"),
        (_encode(_pixels(8, 8), "GIF"), 400, "GIF is not supported"),
        (_encode(_pixels(3, 40), "PNG"), 400, "at least 4 x 4"),
        (_encode(_pixels(40, 50), "PNG"), 413, "2000 pixels; the limit is 1999"),
    ],
)
def test_probe_refuses_with_a_status(data: bytes, status: int, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        probe_image(data, 1999)
    assert info.value.status == status


def test_truncated_jpeg_is_a_400_at_decode() -> None:
    data = _encode(_pixels(256, 256), "JPEG")
    cut = data[: len(data) * 2 // 3]
    assert probe_image(cut, MAX)[0] == "JPEG"  # the header is intact...
    with pytest.raises(InputError, match="can't decode the JPEG") as info:
        decode_image(cut, MAX)  # ...the pixels are not
    assert info.value.status == 400


def _naive_conv3x3_s2(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32]) -> Any:
    n, h, wd, c = x.shape
    k = w.shape[1]
    kernel = w.reshape(c, 3, 3, k)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ho, wo = (h + 1) // 2, (wd + 1) // 2
    out = np.zeros((n, ho, wo, k), dtype=np.float64)
    for i in range(ho):
        for j in range(wo):
            patch = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]  # (n, 3, 3, c)
            out[:, i, j] = np.einsum("nyxc,cyxk->nk", patch, kernel)
    return np.maximum(out, 0.0)


@pytest.mark.parametrize("shape", [(1, 7, 9, 3), (2, 8, 6, 4), (1, 1, 1, 2)])
def test_conv_matches_a_naive_convolution(shape: tuple[int, ...], monkeypatch: Any) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((9 * shape[3], 5)).astype(np.float32)
    b = np.zeros(5, dtype=np.float32)
    expected = _naive_conv3x3_s2(x, w)
    np.testing.assert_allclose(ic._conv3x3_s2(x, w, b), expected, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(ic, "CHUNK_ELEMS", 1)  # one output row per chunk
    np.testing.assert_allclose(ic._conv3x3_s2(x, w, b), expected, rtol=1e-4, atol=1e-4)


def test_stem_is_a_patch_matmul(monkeypatch: Any) -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (2, 9, 13, 3), dtype=np.uint8)  # 9 x 13: edges cropped
    w = rng.standard_normal((48, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    expected = np.zeros((2, 2, 3, 4))
    for i in range(2):
        for j in range(3):
            patch = x[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4, :].reshape(2, 48).astype(float)
            expected[:, i, j] = np.maximum(patch @ w + b, 0.0)
    np.testing.assert_allclose(ic._stem(x, w, b), expected, rtol=1e-4, atol=1e-3)
    monkeypatch.setattr(ic, "CHUNK_ELEMS", 1)
    np.testing.assert_allclose(ic._stem(x, w, b), expected, rtol=1e-4, atol=1e-3)


def test_network_shapes_and_probabilities(model: ImageClassifier) -> None:
    images = np.stack([_pixels(37, 50, seed=s) for s in range(3)])
    feats = model.features(images)
    assert feats.shape == (3, 128)
    assert feats.dtype == np.float32
    probs = model.classify(feats)
    assert probs.shape == (3, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (probs > 0).all()
    assert model.head_bytes > 8_000_000


def test_weights_come_from_the_seed() -> None:
    image = _pixels(32, 32)[None]
    a, b, c = ImageClassifier(seed=3), ImageClassifier(seed=3), ImageClassifier(seed=4)
    for m in (a, b, c):
        m.build()
    pa, pb, pc = (m.classify(m.features(image)) for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.allclose(pa, pc)


def _item(pixels: npt.NDArray[Any], k: int = 5, *, encoded: bytes | None = None) -> ImageItem:
    h, w = pixels.shape[:2]
    return ImageItem(w, h, k, encoded=encoded, pixels=None if encoded else pixels)


def _answer(result: list[Tensor] | InputError) -> tuple[list[bytes], list[float]]:
    assert not isinstance(result, InputError), result
    labels, scores = result
    assert (labels.name, labels.datatype) == ("labels", "BYTES")
    assert (scores.name, scores.datatype) == ("scores", "FP32")
    return list(labels.data.reshape(-1)), scores.data.reshape(-1).tolist()


def test_run_gives_top_k_labels_and_scores(model: ImageClassifier) -> None:
    (result,) = model.run([_item(_pixels(40, 60), k=7)])
    assert not isinstance(result, InputError)
    assert [t.shape for t in result] == [(1, 7), (1, 7)]
    labels, scores = _answer(result)
    assert all(label.decode() in LABELS for label in labels)
    assert len(set(labels)) == 7
    assert scores == sorted(scores, reverse=True)
    # Deterministic: the same image, the same answer.
    assert _answer(model.run([_item(_pixels(40, 60), k=7)])[0]) == (labels, scores)


def test_batching_does_not_change_answers(model: ImageClassifier) -> None:
    same_a, same_b, other = _pixels(32, 48, 1), _pixels(32, 48, 2), _pixels(20, 28, 3)
    jpeg = _encode(_pixels(30, 30, 4), "JPEG")
    items = [
        _item(same_a),
        _item(other),
        _item(np.zeros((30, 30, 3)), encoded=jpeg),
        _item(same_b),
        _item(same_a.astype(np.float32)),  # FP32 pixels on the 0-255 scale
    ]
    batched = [_answer(r) for r in model.run(items)]
    alone = [_answer(model.run([item])[0]) for item in items]
    for (lb, sb), (la, sa) in zip(batched, alone, strict=True):
        assert lb == la
        np.testing.assert_allclose(sb, sa, rtol=1e-4)
    assert batched[0][0] == batched[4][0]


def test_a_bad_item_fails_alone(model: ImageClassifier) -> None:
    good = _pixels(16, 16)
    bad = ImageItem(64, 64, 5, encoded=_encode(_pixels(64, 64), "JPEG")[:300])
    results = model.run([_item(good), bad, _item(good)])
    assert isinstance(results[1], InputError)
    assert results[1].status == 400
    (labels_0, scores_0), (labels_2, scores_2) = _answer(results[0]), _answer(results[2])
    assert labels_0 == labels_2
    np.testing.assert_allclose(scores_0, scores_2, rtol=1e-4)


def _bytes_tensor(data: bytes, name: str = "image", shape: tuple[int, ...] = (1,)) -> Tensor:
    return Tensor.of_bytes(name, [data] * int(np.prod(shape)), shape)


def test_prepare_accepts_encoded_and_raw_images(model: ImageClassifier) -> None:
    png = _encode(_pixels(12, 20), "PNG")
    item = model.prepare({"image": _bytes_tensor(png)}, {"top_k": 3})
    assert (item.width, item.height, item.top_k, item.encoded) == (20, 12, 3, png)
    raw = Tensor("image", "UINT8", (1, 12, 20, 3), _pixels(12, 20)[None])
    item = model.prepare({"image": raw}, {})
    assert (item.width, item.height, item.top_k) == (20, 12, 5)
    assert item.pixels is not None
    assert item.pixels.shape == (12, 20, 3)


@pytest.mark.parametrize(
    ("inputs", "params", "status", "match"),
    [
        ({}, {}, 400, "exactly one input, 'image'; got none"),
        ({"img": _bytes_tensor(b"x", "img")}, {}, 400, "got 'img'"),
        (
            {"image": Tensor("image", "INT64", (1, 4, 4, 3), np.zeros((1, 4, 4, 3), np.int64))},
            {},
            400,
            "datatype INT64",
        ),
        ({"image": _bytes_tensor(b"x", shape=(2,))}, {}, 400, r"shape \[2\]"),
        (
            {"image": Tensor("image", "UINT8", (1, 4, 4), np.zeros((1, 4, 4), np.uint8))},
            {},
            400,
            r"expected \[1, H, W, 3\]",
        ),
        (
            {"image": Tensor("image", "FP32", (1, 4, 4, 3), np.full((1, 4, 4, 3), np.nan))},
            {},
            400,
            "NaN",
        ),
        (
            {"image": Tensor("image", "UINT8", (1, 50, 50, 3), np.zeros((1, 50, 50, 3), np.uint8))},
            {},
            413,
            "--max-image-pixels",
        ),
        ({"image": _bytes_tensor(b"x")}, {"top_k": 0}, 400, "top_k"),
        ({"image": _bytes_tensor(b"x")}, {"top_k": True}, 400, "top_k"),
    ],
)
def test_prepare_refuses_bad_inputs(
    inputs: dict[str, Tensor], params: dict[str, object], status: int, match: str
) -> None:
    small = ImageClassifier(max_pixels=2000)
    with pytest.raises(InputError, match=match) as info:
        small.prepare(inputs, params)
    assert info.value.status == status
