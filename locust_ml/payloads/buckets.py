"""Bucketed pools: size draws grouped on a grid, encoded variants within a memory cap.

Synthesizing and encoding a photograph takes tens of milliseconds, so a pool
encodes a bounded number of payloads ahead of the load and maps every size
draw to one of them. This module holds the steps that image and FLAC pools
share (:mod:`~locust_ml.payloads.image_pool`,
:mod:`~locust_ml.payloads.audio_pool`): the grid, the plan within the
memory cap, the build, and the picker.

**Sizes to buckets.** A pool is built from ``N`` size draws; picks choose
uniformly among those ``N`` rows, so they follow the profile as closely as
``N`` draws do (KS within about ``1.36 / sqrt(N)`` at 95 %, 0.02 for 4,096).
Draws are grouped on a logarithmic grid (the builder gives the keys: pixels
and aspect ratio for images, samples for FLAC); each non-empty cell is
encoded at its median draw and holds one or more *variants*.

**Memory.** A cell gets variants in proportion to its share of the draws,
from 1 to ``max_variants`` (and at most one per draw), within ``max_mb`` of
encoded bytes. The plan uses estimates (byte targets, or bytes per pixel or
per sample of the format) and is checked after the build: if the estimate
was low, variants beyond the first are dropped from the largest cells until
the pool fits (:func:`trim`). If one variant per cell does not fit, the grid
is coarsened (``s`` times 1.5, at most 8 times) and the pool's
:class:`~locust_ml.payloads.payload.PoolStats` report the bound actually
used. A builder can ask for ``spare`` room: the grid is coarsened until one
variant per cell takes at most ``1 - spare`` of the cap (if it can), so that
common sizes keep room for more variants.

**Picks.** :class:`BucketPicker` draws a row, takes its variant (the next
one in the cell when it was the last payload served, so consecutive picks
differ in content too), and returns the variant's :data:`~locust_ml.payloads.nonce.Slot`
around a fresh nonce: a table look-up and no copy of the payload's bytes.
"""

from __future__ import annotations

import random
import struct
import zlib
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.payloads.nonce import Slot, slot
from locust_ml.payloads.payload import Payload, PoolStats, Progress, make_payload

__all__ = [
    "BucketPicker",
    "Cell",
    "Sizes",
    "assemble",
    "check_options",
    "column",
    "encode_cells",
    "group",
    "plan",
    "pool_stats",
    "trim",
]

#: Grid coarsening factor, and how many times at most, when one variant per cell won't fit.
COARSEN: Final = 1.5
MAX_COARSEN: Final = 8

#: (width, height, duration_s, sample_rate) sent, or drawn: the Payload's size fields.
Sizes = tuple[int | None, int | None, float | None, int | None]
_SIZE_FIELDS: Final = ("width", "height", "duration_s", "sample_rate")
_TARGET_FIELDS: Final = ("target_width", "target_height", "target_duration_s", "target_bytes")


@dataclass
class Cell:
    """Draws that share a grid cell, and how many variants encode them."""

    rows: npt.NDArray[np.intp]  # the draws in this cell
    rep: int  # the draw it is encoded at (median by size)
    estimate: float = 0.0  # estimated bytes per variant
    variants: int = 1


def group(keys: npt.NDArray[np.int64], order_by: npt.NDArray[Any]) -> list[Cell]:
    """Cells of rows with equal keys; each one's representative is its median by ``order_by``."""
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.lexsort((order_by, inverse))  # by cell, then by size within a cell
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [
        Cell(rows=np.sort(rows), rep=int(rows[(len(rows) - 1) // 2]))
        for rows in np.split(order, bounds)
    ]


def plan(
    what: str,
    keys_at: Callable[[float], npt.NDArray[np.int64]],
    order_by: npt.NDArray[Any],
    estimate: Callable[[Cell], float],
    step: float,
    budget: float,
    max_variants: int,
    spare: float = 0.0,
) -> tuple[list[Cell], float]:
    """Cells on the finest grid from ``step`` whose one-variant estimate fits in
    ``(1 - spare) * budget`` (else in ``budget``), and their variants."""
    need = 0.0
    fits: tuple[list[Cell], float] | None = None
    for _ in range(MAX_COARSEN + 1):
        cells = group(keys_at(step), order_by)
        for c in cells:
            c.estimate = estimate(c)
        need = sum(c.estimate for c in cells)
        if need <= budget and fits is None:
            fits = (cells, step)
        if need <= (1.0 - spare) * budget:
            fits = (cells, step)
            break
        step *= COARSEN
    if fits is None:
        raise ConfigError(
            f"max_mb={budget / 2**20:g} is too small for these {what}: even a coarse grid "
            f"needs about {need / 2**20:.1f} MiB for one payload per bucket"
        )
    _allocate(fits[0], len(order_by), max_variants, budget)
    return fits


def _allocate(cells: list[Cell], draws: int, max_variants: int, budget: float) -> None:
    """Variants ~ each cell's share of the draws, 1..max_variants (and at most one
    per draw), with the estimated total within budget."""

    def variants(c: Cell, scale: float) -> int:
        most = min(max_variants, len(c.rows))
        return int(min(most, max(1, round(scale * len(c.rows) / draws))))

    lo, hi = 0.0, float(max_variants * draws)
    for _ in range(40):
        mid = (lo + hi) / 2
        if sum(variants(c, mid) * c.estimate for c in cells) <= budget:
            lo = mid
        else:
            hi = mid
    for c in cells:
        c.variants = variants(c, lo)


def encode_cells(
    cells: list[Cell], make: Callable[[Cell, int], bytes], progress: Progress | None
) -> list[list[bytes]]:
    """Each cell's variants, ``make(cell, k)`` for ``k < cell.variants``, with progress."""
    total, done = sum(c.variants for c in cells), 0
    encoded = []
    for c in cells:
        cell_data = []
        for k in range(c.variants):
            cell_data.append(make(c, k))
            done += 1
            if progress is not None:
                progress(done, total)
        encoded.append(cell_data)
    return encoded


def trim(encoded: list[list[bytes]], budget: float) -> None:
    """Drop variants beyond the first, from the largest cells, until within budget.

    The middle variant goes first, so a cell keeps the extremes of its bytes.
    """
    sizes = [sum(map(len, cell_data)) for cell_data in encoded]
    total = sum(sizes)
    while total > budget:
        c = max(range(len(encoded)), key=lambda i: (len(encoded[i]) > 1, sizes[i]))
        if len(encoded[c]) <= 1:
            return
        dropped = len(encoded[c].pop(len(encoded[c]) // 2))
        sizes[c] -= dropped
        total -= dropped


class BucketPicker:
    """``pick`` for a bucketed pool: a draw, its payload, a nonce."""

    def __init__(
        self,
        fmt: str,
        content_type: str,
        slots: list[Slot],
        meta: list[Sizes],
        alt: list[int],
        entry: array[int],
        targets: list[Sizes],
    ) -> None:
        self.slots, self.alt, self.entry = slots, alt, entry
        # Each payload's and each draw's Payload fields, for make_payload.
        self.sent = [
            {"content_type": content_type, "format": fmt, **dict(zip(_SIZE_FIELDS, m, strict=True))}
            for m in meta
        ]
        self.drawn = [dict(zip(_TARGET_FIELDS, t, strict=True)) for t in targets]
        self.n = len(entry)
        self.last = -1

    def __call__(self, rng: random.Random) -> Payload:
        """A payload for one request (the pool's ``pick``)."""
        i = int(rng.random() * self.n)
        j = self.entry[i]
        if j == self.last:
            j = self.alt[j]
        self.last = j
        head, tail, crc = self.slots[j]
        tag = b"%016x" % rng.getrandbits(64)  # nonce(rng), inline: this runs per request
        if crc is None:
            parts: tuple[bytes, ...] = (head, tag, tail)
        else:
            parts = (head, tag, struct.pack(">I", zlib.crc32(tag, crc)), tail)
        return make_payload(parts, self.sent[j], self.drawn[i])


def assemble(
    cells: list[Cell],
    encoded: list[list[bytes]],
    fmt: str,
    meta_of: Callable[[Cell], Sizes],
    choose: Callable[[Cell, list[bytes]], npt.NDArray[np.intp]] | None,
) -> tuple[list[Slot], list[Sizes], list[int], array[int]]:
    """Flatten cells into payload slots; map each draw to a payload (``choose`` or round robin)."""
    slots: list[Slot] = []
    meta: list[Sizes] = []
    alt: list[int] = []
    entry = array("I", bytes(4 * sum(len(c.rows) for c in cells)))
    for c, cell_data in zip(cells, encoded, strict=True):
        first, count = len(slots), len(cell_data)
        for k, data in enumerate(cell_data):
            slots.append(slot(data, fmt))
            meta.append(meta_of(c))
            alt.append(first + (k + 1) % count)
        picks = choose(c, cell_data) if choose else np.arange(len(c.rows)) % count
        for row, k in zip(c.rows.tolist(), picks.tolist(), strict=True):
            entry[row] = first + k
    return slots, meta, alt, entry


def pool_stats(
    kind: str,
    fmt: str,
    buckets: int,
    payloads: list[bytes],
    budget: float,
    tolerance: float,
    sent: npt.NDArray[Any],
    drawn: npt.NDArray[Any],
    bytes_error: npt.NDArray[Any] | None = None,
) -> PoolStats:
    """The pool's stats: relative size errors of ``sent`` vs ``drawn``, memory, buckets."""
    err = np.abs(np.asarray(sent, np.float64) / np.asarray(drawn, np.float64) - 1.0)
    return PoolStats(
        kind=kind,
        format=fmt,
        draws=len(drawn),
        buckets=buckets,
        payloads=len(payloads),
        memory_bytes=sum(map(len, payloads)),
        max_bytes=int(budget),
        tolerance=tolerance,
        size_error_mean=float(err.mean()),
        size_error_p95=float(np.quantile(err, 0.95)),
        size_error_max=float(err.max()),
        bytes_error_median=None if bytes_error is None else float(np.median(bytes_error)),
        bytes_error_p95=None if bytes_error is None else float(np.quantile(bytes_error, 0.95)),
    )


# -- input checks -----------------------------------------------------------------


def column(sizes: Mapping[str, Any], name: str, what: str, n: int | None) -> npt.NDArray[Any]:
    """Column ``name`` of the draws: ``n`` (if given) finite, positive numbers, or ConfigError."""
    if name not in sizes:
        have = ", ".join(map(repr, sizes)) or "none"
        raise ConfigError(f"{what} sizes need a {name!r} column; got columns {have}")
    values = np.asarray(sizes[name])
    if values.ndim != 1 or values.size == 0 or (n is not None and values.size != n):
        raise ConfigError(
            f"{what} sizes: column {name!r} must be a non-empty 1-D array"
            + (f" of {n} values like the first column" if n is not None else "")
            + f", got shape {values.shape}"
        )
    if values.dtype.kind not in "iuf" or not np.all(np.isfinite(values)):
        raise ConfigError(f"{what} sizes: column {name!r} must hold finite numbers")
    if np.any(values <= 0):
        bad = values[values <= 0][0].item()
        raise ConfigError(f"{what} sizes: column {name!r} has a non-positive size {bad!r}")
    return values


def check_options(
    fmt: object, formats: tuple[str, ...], max_mb: object, max_variants: object, tol: object
) -> str:
    """The format's canonical name (``jpg`` is ``jpeg``) once every option checks out."""
    name = fmt.lower() if isinstance(fmt, str) else fmt
    name = "jpeg" if name == "jpg" else name
    if name not in formats:
        raise ConfigError(f"unknown payload format {fmt!r}; expected one of {', '.join(formats)}")
    if isinstance(max_mb, bool) or not isinstance(max_mb, int | float) or not max_mb > 0:
        raise ConfigError(f"max_mb must be a positive number of MiB, got {max_mb!r}")
    if isinstance(max_variants, bool) or not isinstance(max_variants, int) or max_variants < 1:
        raise ConfigError(f"max_variants must be an integer >= 1, got {max_variants!r}")
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 1:
        raise ConfigError(f"the size tolerance must be a number in (0, 1), got {tol!r}")
    return str(name)
