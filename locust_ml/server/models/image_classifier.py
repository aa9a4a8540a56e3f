"""The image classifier: real JPEG/PNG decoding and a numpy CNN whose cost grows with pixels.

What it says is not meant to be right: the weights are random (drawn from
``--seed``, nothing is downloaded), so the top classes of a photo are as good as
a die roll, but a deterministic one: the same image always gets the same
answer. What it *costs* is real compute with the shape of a real image model:

- **decoding**: Pillow decodes the JPEG or PNG and converts it to 8-bit RGB;
  its cost grows with the pixels (and with the encoded bytes);
- **trunk**: a ConvNeXt-style 4 x 4 patchify stem (3 -> 16 channels, stride 4)
  then three 3 x 3 convolutions of stride 2 (16 -> 32 -> 64 -> 128 channels),
  each a ReLU over an im2col matmul built with
  :func:`numpy.lib.stride_tricks.sliding_window_view`, computed in row chunks so
  memory stays bounded. The image is **not** resized: about 260 multiply-adds
  per input pixel, so the trunk's cost is linear in width x height;
- **head**: global average pooling, a layer norm, two dense 1024-wide ReLU layers and a
  1000-class output layer with a softmax (labels ``class_0`` ... ``class_999``).
  Its cost is fixed per request and dominated by reading its 8.8 MB of weights.

So a request costs roughly ``fixed + per_pixel x width x height``: the decoding
and the trunk grow with the image, the head does not.

**What batching buys.** A batch runs the head once for all its images, as one
matrix-matrix product that reads the head's weights once instead of once per
image: that part's cost grows far less than linearly with the batch, as on a
GPU. Small images (up to half of :data:`STACK_PIXELS`, about 360 x 360) of
the same size are also stacked and run through the trunk together (fewer,
larger matmuls; up to :data:`STACK_PIXELS` pixels a stack, past which the
activations outgrow the CPU caches and stacking turns into a loss); larger
images run through the trunk one at a time, as soon as each is decoded (so a
batch holds one large image's activations at a time), with no gain beyond
the head's. Decoding is per image. So batching pays most for small
images, where the head dominates (3 to 4x at 64 x 64 and about 1.7x at
224 x 224 for a batch of 8, measured by ``benchmarks/server_models.py``), and
little for large ones, where the trunk does. A lone image's head is computed
as a two-row product, because BLAS libraries switch to a much cheaper
matrix-vector kernel for one row, a discontinuity no GPU has.

Inputs, for the Open Inference Protocol: one ``image`` tensor per request, either
``BYTES`` of shape ``[1]`` holding an encoded JPEG or PNG, or the decoded pixels
as ``UINT8`` or ``FP32`` (0-255 scale) of shape ``[1, H, W, 3]``. Images must be
at least 4 x 4 and at most ``--max-image-pixels`` (413 beyond). A request
parameter ``top_k`` (1-1000, default 5) sets how many classes come back as the
``labels`` (``BYTES``) and ``scores`` (``FP32``) outputs, both ``[1, top_k]``.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, UnidentifiedImageError

from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.oneshot import InputError, Tensor, TensorSpec

__all__ = [
    "DEFAULT_TOP_K",
    "LABELS",
    "ImageClassifier",
    "ImageItem",
    "decode_image",
    "probe_image",
]

#: Number of classes, and their labels.
NUM_CLASSES = 1000
LABELS = tuple(f"class_{i}" for i in range(NUM_CLASSES))
#: Classes returned when a request doesn't set ``top_k``.
DEFAULT_TOP_K = 5
#: Side of the stem's square patches (its stride).
PATCH = 4
#: Smallest width or height accepted.
MIN_SIDE = PATCH
#: Channels after the stem and after each 3 x 3 stride-2 convolution.
CHANNELS = (16, 32, 64, 128)
#: Width of the head's two dense layers.
HEAD_DIM = 1024
#: Most float32 elements in one im2col block (16 MiB).
CHUNK_ELEMS = 1 << 22
#: Most pixels in one stack of same-size images run through the trunk together:
#: past about this, a stack's activations outgrow the CPU caches and run slower
#: than the same images one by one.
STACK_PIXELS = 1 << 18
#: The head computes at least this many rows (see the module docstring).
MIN_HEAD_ROWS = 2
#: Encoded formats accepted (MPO is Pillow's name for multi-picture JPEG).
FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)
class ImageItem:
    """One request: an encoded image (decoded in the worker), or its pixels.

    ``pixels`` is ``(H, W, 3)`` uint8 or float32 on the 0-255 scale.
    """

    width: int
    height: int
    top_k: int
    encoded: bytes | None = None
    pixels: npt.NDArray[Any] | None = None


def probe_image(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """``(format, width, height)`` from the header of an encoded image; no decoding.

    Raises :class:`InputError`: 400 for bytes that are not a JPEG or PNG or are
    smaller than 4 x 4, 413 beyond ``max_pixels``.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format or "", img.size
    except Image.DecompressionBombError as exc:
        raise InputError(413, f"image too large: {exc}") from None
    except UnidentifiedImageError:
        head = data[:8].hex(" ") or "none"
        raise InputError(400, f"image bytes are not a JPEG or PNG (first bytes: {head})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(400, f"can't read the image header: {exc}") from None
    if fmt not in FORMATS:
        raise InputError(400, f"image format {fmt} is not supported; expected JPEG or PNG")
    _check_size(width, height, max_pixels)
    return FORMATS[fmt], width, height


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InputError(
            400, f"image is {width} x {height}; at least {MIN_SIDE} x {MIN_SIDE} expected"
        )
    if width * height > max_pixels:
        raise InputError(
            413,
            f"image is {width} x {height} = {width * height} pixels; the limit is "
            f"{max_pixels} (--max-image-pixels)",
        )


def decode_image(data: bytes, max_pixels: int) -> npt.NDArray[np.uint8]:
    """Decode a JPEG or PNG to ``(H, W, 3)`` uint8 RGB (no resize, no EXIF rotation).

    Raises :class:`InputError` (400) for undecodable or truncated bytes.
    """
    fmt, _, _ = probe_image(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = img.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(400, f"can't decode the {fmt} image: {exc}") from None
    return np.asarray(rgb, dtype=np.uint8)


class ImageClassifier:
    """The CNN and its input handling (a :class:`~locust_ml.server.oneshot.OneShotModel`).

    ``build()`` must run before :meth:`run`, :meth:`features` or :meth:`classify`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        max_pixels: int = 16_777_216,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.seed = seed
        self.max_pixels = max_pixels
        self._metrics = metrics
        self._convs: list[tuple[Float32Array, Float32Array]] = []
        self._head: list[tuple[Float32Array, Float32Array]] = []

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("image", "BYTES", (1,)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("labels", "BYTES", (1, -1)), TensorSpec("scores", "FP32", (1, -1)))

    @property
    def head_bytes(self) -> int:
        """Bytes of the head's weights: what every batch reads once."""
        return sum(w.nbytes + b.nbytes for w, b in self._head)

    def build(self) -> None:
        rng = np.random.default_rng(self.seed)

        def dense(fan_in: int, fan_out: int) -> tuple[Float32Array, Float32Array]:
            # He initialisation keeps relu activations at a stable scale.
            scale = np.float32(np.sqrt(2.0 / fan_in))
            w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * scale
            b = rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.01)
            return w, b

        stem_w, stem_b = dense(PATCH * PATCH * 3, CHANNELS[0])
        # Fold the input scaling (x / 255 - 0.5) into the stem's weights.
        stem_b = (stem_b - 0.5 * stem_w.sum(axis=0)).astype(np.float32)
        stem_w = (stem_w / np.float32(255.0)).astype(np.float32)
        self._convs = [(stem_w, stem_b)]
        for c_in, c_out in itertools.pairwise(CHANNELS):
            self._convs.append(dense(9 * c_in, c_out))
        self._head = [
            dense(CHANNELS[-1], HEAD_DIM),
            dense(HEAD_DIM, HEAD_DIM),
            dense(HEAD_DIM, NUM_CLASSES),
        ]

    # -- the network ---------------------------------------------------------

    def features(self, images: npt.NDArray[Any]) -> Float32Array:
        """Trunk and global average pooling: ``(B, H, W, 3)`` -> ``(B, 128)``."""
        if not self._convs:
            raise RuntimeError("ImageClassifier.build() must run before inference")
        (stem_w, stem_b), *convs = self._convs
        x = _stem(images, stem_w, stem_b)
        for w, b in convs:
            x = _conv3x3_s2(x, w, b)
        pooled: Float32Array = x.mean(axis=(1, 2), dtype=np.float32)
        # Layer norm (as in ConvNeXt): what sets images apart is the channel pattern.
        pooled -= pooled.mean(axis=1, keepdims=True)
        pooled /= pooled.std(axis=1, keepdims=True) + np.float32(1e-5)
        return pooled

    def classify(self, features: Float32Array) -> Float32Array:
        """Head and softmax: ``(B, 128)`` -> ``(B, 1000)`` probabilities."""
        if not self._head:
            raise RuntimeError("ImageClassifier.build() must run before inference")
        n = len(features)
        x = features if n >= MIN_HEAD_ROWS else np.resize(features, (MIN_HEAD_ROWS, CHANNELS[-1]))
        *hidden, (w_out, b_out) = self._head
        for w, b in hidden:
            x = x @ w
            x += b
            np.maximum(x, 0.0, out=x)
        logits = x[:n] @ w_out
        logits += b_out
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    # -- the OneShotModel contract ------------------------------------------

    def prepare(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, object]) -> ImageItem:
        tensor = _only_input(inputs, "image")
        top_k = _top_k(parameters)
        if tensor.datatype == "BYTES":
            if tensor.shape != (1,):
                raise InputError(
                    400,
                    f"input 'image' has shape {list(tensor.shape)}; this model takes one "
                    "encoded image per request, shape [1]",
                )
            encoded = tensor.data.reshape(-1)[0]
            _, width, height = probe_image(encoded, self.max_pixels)
            return ImageItem(width, height, top_k, encoded=encoded)
        if tensor.datatype in ("UINT8", "FP32"):
            shape = tensor.shape
            if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
                raise InputError(
                    400,
                    f"input 'image' of datatype {tensor.datatype} has shape {list(shape)}; "
                    "expected [1, H, W, 3] (RGB pixels, height first)",
                )
            _check_size(shape[2], shape[1], self.max_pixels)
            pixels = tensor.data.reshape(shape[1:])
            if tensor.datatype == "FP32" and not np.isfinite(pixels).all():
                raise InputError(400, "input 'image' holds NaN or infinite values")
            return ImageItem(shape[2], shape[1], top_k, pixels=pixels)
        raise InputError(
            400,
            f"input 'image' has datatype {tensor.datatype}; expected BYTES (an encoded "
            "JPEG or PNG, shape [1]) or UINT8/FP32 pixels of shape [1, H, W, 3]",
        )

    def run(self, items: Sequence[ImageItem]) -> list[list[Tensor] | InputError]:
        """Decode, trunk, then one head call for the whole batch.

        A large image runs through the trunk as soon as it is decoded, so at
        most one large image's pixels and activations are in memory at once;
        small ones wait to be stacked with others of their size.
        """
        results: list[list[Tensor] | InputError] = [[] for _ in items]
        feats: dict[int, Float32Array] = {}
        small: dict[tuple[int, ...], list[tuple[int, npt.NDArray[Any]]]] = {}
        for i, item in enumerate(items):
            try:
                pixels = item.pixels
                if item.encoded is not None:
                    pixels = decode_image(item.encoded, self.max_pixels)
                if pixels is None:
                    raise InputError(400, "the request carried no image")
            except InputError as exc:
                results[i] = exc
                continue
            if self._metrics is not None:
                self._metrics.image_pixels.inc(item.width * item.height)
                if item.encoded is not None:
                    self._metrics.input_bytes.inc(len(item.encoded))
            if 2 * pixels.shape[0] * pixels.shape[1] > STACK_PIXELS:
                feats[i] = self.features(pixels[None])[0]
            else:
                small.setdefault(pixels.shape, []).append((i, pixels))
        for size, group in small.items():
            per_stack = max(1, STACK_PIXELS // (size[0] * size[1]))
            for start in range(0, len(group), per_stack):
                part = group[start : start + per_stack]
                stacked = self.features(np.stack([pixels for _, pixels in part]))
                feats.update((i, row) for (i, _), row in zip(part, stacked, strict=True))
        if not feats:
            return results
        order = sorted(feats)
        probs = self.classify(np.stack([feats[i] for i in order]))
        for row, i in enumerate(order):
            results[i] = _top(probs[row], items[i].top_k)
        return results


def _only_input(inputs: Mapping[str, Tensor], name: str) -> Tensor:
    if set(inputs) != {name}:
        got = ", ".join(repr(n) for n in inputs) or "none"
        raise InputError(400, f"this model takes exactly one input, {name!r}; got {got}")
    return inputs[name]


def _top_k(parameters: Mapping[str, object]) -> int:
    k = parameters.get("top_k", DEFAULT_TOP_K)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= NUM_CLASSES:
        raise InputError(
            400, f"parameter top_k must be an integer in [1, {NUM_CLASSES}], got {k!r}"
        )
    return k


def _top(probs: Float32Array, k: int) -> list[Tensor]:
    order = np.argsort(-probs, kind="stable")[:k]
    labels = [LABELS[int(c)].encode() for c in order]
    scores = probs[order].astype(np.float32).reshape(1, k)
    return [Tensor.of_bytes("labels", labels, (1, k)), Tensor("scores", "FP32", (1, k), scores)]


def _relu_affine(x: Float32Array, w: Float32Array, b: Float32Array) -> Float32Array:
    y = x @ w
    y += b
    np.maximum(y, 0.0, out=y)
    return y


def _stem(images: npt.NDArray[Any], w: Float32Array, b: Float32Array) -> Float32Array:
    """Non-overlapping PATCH x PATCH patches -> ReLU(patch @ w + b), in row chunks."""
    n, height, width, _ = images.shape
    h, wd = height // PATCH, width // PATCH
    c = w.shape[1]
    out = np.empty((n, h, wd, c), dtype=np.float32)
    rows = max(1, CHUNK_ELEMS // (n * wd * PATCH * PATCH * 3))
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        block = images[:, r0 * PATCH : r1 * PATCH, : wd * PATCH, :]
        patches = (
            block.reshape(n, r1 - r0, PATCH, wd, PATCH, 3)
            .transpose(0, 1, 3, 2, 4, 5)
            .reshape(-1, PATCH * PATCH * 3)
            .astype(np.float32)
        )
        out[:, r0:r1] = _relu_affine(patches, w, b).reshape(n, r1 - r0, wd, c)
    return out


def _conv3x3_s2(x: Float32Array, w: Float32Array, b: Float32Array) -> Float32Array:
    """3 x 3 convolution, stride 2, zero padding 1, ReLU: im2col + matmul in row chunks."""
    n, height, width, c = x.shape
    ho, wo = (height + 1) // 2, (width + 1) // 2
    k = w.shape[1]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.empty((n, ho, wo, k), dtype=np.float32)
    rows = max(1, CHUNK_ELEMS // (n * wo * 9 * c))
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        band = padded[:, 2 * r0 : 2 * r1 + 1]
        # (n, r1 - r0, wo, c, 3, 3): channel-major windows, matching w's row order.
        windows = sliding_window_view(band, (3, 3), axis=(1, 2))[:, ::2, ::2]
        cols = windows.reshape(-1, c * 9)
        out[:, r0:r1] = _relu_affine(cols, w, b).reshape(n, r1 - r0, wo, k)
    return out
