"""Image pools: trace-sized photographs, sent exactly at common sizes, bytes matched.

:func:`build_image_pool` encodes a pool of images (JPEG, PNG, WebP) for a set
of size draws, on the grid of :mod:`~locust_ml.payloads.buckets`:

* a width x height that makes at least 1 % of the draws (the point masses of
  real traces: 500 x 375, 640 x 480 ...) is a cell of its own and is sent
  exactly. Other sizes go to cell
  ``(round(ln(w h) / s), round(ln(w / h) / (2 s)))`` with
  ``s = ln(1 + pixel_tolerance)``; a cell is encoded at the dimensions of its
  draw with the median pixel count, so every draw's pixels are within
  ``pixel_tolerance`` (default 3 %) of what is sent and its aspect ratio
  within about twice that.

**Bytes.** When the draws carry JPEG byte sizes (``bytes``, as the ImageNet
profile does) and the format is JPEG, a cell with ``V`` variants targets
``V`` of its draws' bytes (scaled to the cell's pixels), one drawn at random
from each ``1/V`` stratum of them, and each draw is served by the variant
nearest its own bytes: sent sizes follow the trace's bytes, not only its
dimensions. (A cell with one variant passes on one random draw's bytes, not
the median: over many cells that keeps the spread of the bytes, at the price
of a larger error for single requests.) The grid is then coarsened until one
variant per cell takes at most two thirds of ``max_mb`` (if it can), so that
the common sizes keep room for the variants that carry their spread of
bytes. On the ImageNet profile (4,096 draws): 64 MiB keeps the 3 % grid (KS
of picked bytes vs the trace 0.04, of pixels 0.03); 32 MiB coarsens it to
6.9 % (0.05, 0.03); 16 MiB with 1,024 draws to 10.5 % (0.05, 0.04).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.payloads.buckets import (
    BucketPicker,
    Cell,
    Sizes,
    assemble,
    check_options,
    column,
    encode_cells,
    plan,
    pool_stats,
    trim,
)
from locust_ml.payloads.image import IMAGE_CONTENT_TYPES, IMAGE_FORMATS, MAX_SIDE, ImageGenerator
from locust_ml.payloads.nonce import NONCE_LENGTH
from locust_ml.payloads.payload import DEFAULT_MAX_MB, PayloadPool, Progress

__all__ = ["build_image_pool"]

_COMMON_SHARE: Final = 0.01
# Share of max_mb kept for extra byte variants when bytes are matched.
_BYTE_VARIANTS_SHARE: Final = 1 / 3
# Estimated encoded bytes per pixel without a byte target, to plan within
# max_mb before building (the check after the build makes a low estimate safe).
_BYTES_PER_PIXEL: Final = {"jpeg": 0.8, "png": 3.0, "webp": 0.4}


def build_image_pool(
    sizes: Mapping[str, Any],
    *,
    format: str = "jpeg",
    seed: int = 0,
    max_mb: float = DEFAULT_MAX_MB,
    max_variants: int = 16,
    pixel_tolerance: float = 0.03,
    match_bytes: bool = True,
    progress: Progress | None = None,
) -> PayloadPool:
    """A pool of encoded images for draws ``sizes`` (``width``, ``height``, optional ``bytes``).

    ``sizes`` maps column names to equal-length arrays, as
    ``Profile.sampler(seed).sample(n)`` returns them; ``bytes`` is matched for
    JPEG when ``match_bytes`` (see the module docstring).
    """
    fmt = check_options(format, IMAGE_FORMATS, max_mb, max_variants, pixel_tolerance)
    width = column(sizes, "width", "image", None).astype(np.int64)
    height = column(sizes, "height", "image", len(width)).astype(np.int64)
    drawn: npt.NDArray[np.float64] | None = None
    if match_bytes and fmt == "jpeg" and "bytes" in sizes:
        drawn = column(sizes, "bytes", "image", len(width)).astype(np.float64)
    budget = float(max_mb) * 2**20
    pixels = (width * height).astype(np.float64)
    log_pixels, log_aspect = np.log(pixels), np.log(width / height)

    # Sizes that make >= 1 % of the draws (point masses: 500 x 375, 640 x 480 ...)
    # get cells of their own and are sent exactly; the rest go on the grid.
    _, inverse, counts = np.unique(
        width * (MAX_SIDE + 1) + height, return_inverse=True, return_counts=True
    )
    common = (counts[inverse.reshape(-1)] >= max(2, math.ceil(_COMMON_SHARE * len(width))))[:, None]
    exact = np.stack([np.ones_like(width), width, height], 1)

    def keys_at(s: float) -> npt.NDArray[np.int64]:
        grid = np.stack(
            [np.zeros_like(width), np.rint(log_pixels / s), np.rint(log_aspect / (2 * s))], 1
        ).astype(np.int64)
        return np.where(common, exact, grid)

    def scaled_bytes(c: Cell) -> npt.NDArray[np.float64]:
        """The cell's drawn bytes, scaled to the pixels it is encoded at."""
        assert drawn is not None  # noqa: S101 - only called when bytes are matched
        return np.asarray(drawn[c.rows] * pixels[c.rep] / pixels[c.rows], np.float64)

    def estimate(c: Cell) -> float:
        if drawn is not None:  # targets are met within 2 %: plan for the worst
            return float(scaled_bytes(c).mean()) * 1.02
        return float(pixels[c.rep]) * _BYTES_PER_PIXEL[fmt] + 1024

    cells, step = plan(
        "image sizes",
        keys_at,
        log_pixels,
        estimate,
        math.log1p(pixel_tolerance),
        budget,
        max_variants,
        spare=0.0 if drawn is None else _BYTE_VARIANTS_SHARE,
    )
    gen = ImageGenerator(seed)
    # Byte targets: one draw per stratum of each cell's bytes, at random within
    # the stratum, so that cells with few variants still pass on the spread of
    # their bytes (a median per cell would shrink it).
    strata = np.random.default_rng(seed)
    byte_targets = (
        [
            np.quantile(
                scaled_bytes(c),
                (np.arange(c.variants) + strata.random(c.variants)) / c.variants,
                method="inverted_cdf",
            )
            for c in cells
        ]
        if drawn is not None
        else None
    )
    cell_index = {id(c): i for i, c in enumerate(cells)}

    def make(c: Cell, k: int) -> bytes:
        target = None
        if byte_targets is not None:
            target = max(1, round(float(byte_targets[cell_index[id(c)]][k])))
        return gen.image(
            int(width[c.rep]), int(height[c.rep]), format=fmt, target_bytes=target
        ).data

    def nearest(c: Cell, cell_data: list[bytes]) -> npt.NDArray[np.intp]:
        have = np.log([len(d) for d in cell_data])
        miss = np.abs(np.log(scaled_bytes(c))[:, None] - have[None, :])
        return np.asarray(miss.argmin(axis=1), np.intp)

    encoded = encode_cells(cells, make, progress)
    trim(encoded, budget)
    flat = [d for cell_data in encoded for d in cell_data]
    slots, meta, alt, entry = assemble(
        cells,
        encoded,
        fmt,
        lambda c: (int(width[c.rep]), int(height[c.rep]), None, None),
        nearest if drawn is not None else None,
    )
    targets: list[Sizes] = [
        (w, h, None, b)
        for w, h, b in zip(
            width.tolist(),
            height.tolist(),
            [None] * len(width) if drawn is None else drawn.astype(np.int64).tolist(),
            strict=True,
        )
    ]
    sent_pixels = np.array([(meta[j][0] or 0) * (meta[j][1] or 0) for j in entry], np.float64)
    sent_bytes = np.array([len(b) for b in flat])[np.asarray(entry)]
    stats = pool_stats(
        "image",
        fmt,
        len(cells),
        flat,
        budget,
        math.expm1(step),
        sent_pixels,
        pixels,
        None if drawn is None else np.abs((sent_bytes + NONCE_LENGTH) / drawn - 1.0),
    )
    picker = BucketPicker(fmt, IMAGE_CONTENT_TYPES[fmt], slots, meta, alt, entry, targets)
    return PayloadPool(picker, stats)
