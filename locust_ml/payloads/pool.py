"""Pre-encoded payload pools: trace-sized images and audio at microseconds a pick.

Synthesizing and encoding a photograph takes tens of milliseconds, far more
than sending it; a load generator that encoded on the request path would
measure itself. A pool encodes ahead of the load (:func:`build_image_pool`,
:func:`build_audio_pool`, or :func:`build_pool` from a profile; the Locust
glue runs the build in a thread or at test start, with a ``progress``
callback) and :meth:`PayloadPool.pick` then costs a table look-up and one copy
of the payload's bytes.

**Sizes to buckets.** A pool is built from ``N`` size draws (by default
4,096 from the profile); picks choose uniformly among those ``N`` rows, so
they follow the profile as closely as ``N`` draws do (KS within about
``1.36 / sqrt(N)`` at 95 %, 0.02 for 4,096). Draws are grouped on a
logarithmic grid and each non-empty cell holds one or more encoded
*variants*:

* images: a width x height that makes at least 1 % of the draws (the point
  masses of real traces: 500 x 375, 640 x 480 ...) is a cell of its own and
  is sent exactly. Other sizes go to cell
  ``(round(ln(w h) / s), round(ln(w / h) / (2 s)))`` with
  ``s = ln(1 + pixel_tolerance)``; a cell is encoded at the dimensions of its
  draw with the median pixel count, so every draw's pixels are within
  ``pixel_tolerance`` (default 3 %) of what is sent and its aspect ratio
  within about twice that;
* audio: WAV needs no buckets. One long speech track per sample rate is cut
  at a random offset to exactly the drawn number of samples on every pick
  (the header is written for that length), so durations are exact. FLAC must
  be encoded whole, so its cells are ``round(ln(samples) / s)`` per sample
  rate, ``s = ln(1 + duration_tolerance)`` (default 2 %).

When the draws carry JPEG byte sizes (``bytes``, as the ImageNet profile
does) and the format is JPEG, a cell with ``V`` variants targets ``V``
of its draws' bytes (scaled to the cell's pixels), one drawn at random from
each ``1/V`` stratum of them, and each draw is served by the variant nearest
its own bytes: sent sizes follow the trace's bytes, not only its dimensions.
(A cell with one variant passes on one random draw's bytes, not the median:
over many cells that keeps the spread of the bytes, at the price of a larger
error for single requests.)

**Memory.** A cell gets variants in proportion to its share of the draws,
from 1 to ``max_variants`` (and at most one per draw), within ``max_mb``
(default 64 MiB) of encoded bytes. The plan uses estimates (the byte
targets, or bytes per pixel or per sample of the format) and is checked
after the build: if the estimate was low, variants beyond the first are
dropped from the largest cells until the pool fits. If one variant per cell
does not fit, the grid is coarsened (``s`` times 1.5, at most 8 times) and
:class:`PoolStats` reports the bound actually used. When bytes are matched,
the grid is coarsened until one variant per cell takes at most two thirds
of ``max_mb`` (if it can), so that the common sizes keep room for the
variants that carry their spread of bytes. On the ImageNet profile (4,096
draws): 64 MiB keeps the 3 % grid (KS of picked bytes vs the trace 0.04,
of pixels 0.03); 32 MiB coarsens it to 6.9 % (0.05, 0.03); 16 MiB with
1,024 draws to 10.5 % (0.05, 0.04).

**Cache busting.** Every pick's bytes are unique: a 16-hex-digit nonce from
the caller's generator goes into a metadata field that decoders skip and
that keeps the file valid: a JPEG ``COM`` segment after ``APP0``, a PNG
``tEXt`` chunk (with its CRC), a WebP extended-format chunk, a WAV
``LIST/INFO/ICMT`` chunk, a FLAC Vorbis comment. Consecutive picks from one
cell also use different variants, and WAV picks are cut at a new offset, so
consecutive payloads differ in content too.

A pick costs a few microseconds whatever the payload's size: it returns
the body as ``parts`` (the pool's immutable buffers around a fresh nonce),
and :attr:`Payload.data` joins them on first use, one copy at memory speed
(about 10-20 us per 100 KB, page faults included); see
``benchmarks/payload_generation.py``. Buffers are never mutated, so requests
in flight never share mutable state.
"""

from __future__ import annotations

import functools
import math
import random
import struct
import zlib
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.payloads.audio import (
    AUDIO_CONTENT_TYPES,
    AUDIO_FORMATS,
    AudioGenerator,
    encode_flac,
    sample_count,
)
from locust_ml.payloads.image import (
    IMAGE_CONTENT_TYPES,
    IMAGE_FORMATS,
    MAX_SIDE,
    ImageGenerator,
)

if TYPE_CHECKING:
    from locust_ml.traces.profile import Profile

__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_MAX_MB",
    "NONCE_LENGTH",
    "Payload",
    "PayloadPool",
    "PoolStats",
    "Progress",
    "build_audio_pool",
    "build_image_pool",
    "build_pool",
]

DEFAULT_DRAWS: Final = 4096
DEFAULT_MAX_MB: Final = 64.0
#: Length of the per-pick nonce written into each payload's metadata.
NONCE_LENGTH: Final = 16
_NONCE_PREFIX: Final = b"locust-ml "
_COARSEN: Final = 1.5
_MAX_COARSEN: Final = 8
_WAV_TRACK_MIN_S: Final = 60.0
_COMMON_SHARE: Final = 0.01
# Share of max_mb kept for extra byte variants when bytes are matched.
_BYTE_VARIANTS_SHARE: Final = 1 / 3
# Estimated encoded size, to plan within max_mb before building (the check
# after the build makes a low estimate safe): bytes per pixel for images
# without a byte target, bytes per sample for FLAC.
_BYTES_PER_PIXEL: Final = {"jpeg": 0.8, "png": 3.0, "webp": 0.4}
_FLAC_BYTES_PER_SAMPLE: Final = 1.4

#: ``progress(done, total)``: called after each payload is encoded.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Payload:
    """One request body and what it stands for.

    The body is held as ``parts`` (pieces of the pool's buffers around this
    pick's nonce); :attr:`data` joins them into one ``bytes`` on first use (one
    copy, cached). Code that assembles a larger body (multipart, a binary
    tensor request) can join ``parts`` into it directly and skip that copy.

    ``width``/``height`` (images) or ``duration_s``/``sample_rate`` (audio)
    describe what was encoded; the ``target_*`` fields the size drawn from the
    profile that this pick stands for (within the pool's tolerance), and
    ``target_bytes`` the drawn byte size where the draws have one.
    """

    parts: tuple[bytes | memoryview, ...]
    content_type: str
    format: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    target_width: int | None = None
    target_height: int | None = None
    target_duration_s: float | None = None
    target_bytes: int | None = None

    @functools.cached_property
    def data(self) -> bytes:
        """The body as one ``bytes`` object."""
        return b"".join(self.parts)

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.parts))


@dataclass(frozen=True)
class PoolStats:
    """What a pool holds, and how far what it sends is from the draws.

    Errors are relative, over the pool's draws: ``size_error_*`` compare the
    pixels (images) or duration (audio) sent with those drawn, ``bytes_error_*``
    the bytes sent with the drawn ``bytes`` (``None`` unless the pool matched
    them). ``tolerance`` is the grid's bound on the size error (0: exact).
    """

    kind: str
    format: str
    draws: int
    buckets: int
    payloads: int
    memory_bytes: int
    max_bytes: int
    tolerance: float
    size_error_mean: float
    size_error_p95: float
    size_error_max: float
    bytes_error_median: float | None = None
    bytes_error_p95: float | None = None


class PayloadPool:
    """Pre-encoded payloads; :meth:`pick` one per request.

    Build with :func:`build_image_pool`, :func:`build_audio_pool` or
    :func:`build_pool`. A pick only reads the pool, apart from remembering the
    last variant served, so one pool can serve every user of a process.
    """

    def __init__(self, picker: Callable[[random.Random], Payload], stats: PoolStats) -> None:
        self._picker = picker
        self.stats = stats

    def pick(self, rng: random.Random) -> Payload:
        """A payload for one request, its bytes unique to this pick."""
        return self._picker(rng)

    def __len__(self) -> int:
        return self.stats.payloads

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"PayloadPool({s.kind}/{s.format}: {s.payloads} payloads in {s.buckets} buckets, "
            f"{s.memory_bytes / 2**20:.1f} MiB, {s.draws} draws)"
        )


# -- where the nonce goes: (head, tail, crc) around NONCE_LENGTH bytes ----------
# ``crc`` is None, or the running CRC-32 of a PNG chunk up to the nonce.

_Slot = tuple[bytes, bytes, int | None]
# (width, height, duration_s, sample_rate) sent, or drawn: the Payload's size fields.
_Sizes = tuple[int | None, int | None, float | None, int | None]


def _slot(data: bytes, fmt: str) -> _Slot:
    if fmt == "jpeg":  # a COM segment after APP0 (JFIF wants APP0 right after SOI)
        at = 4 + int.from_bytes(data[4:6], "big") if data[2:4] == b"\xff\xe0" else 2
        length = (2 + len(_NONCE_PREFIX) + NONCE_LENGTH).to_bytes(2, "big")
        return data[:at] + b"\xff\xfe" + length + _NONCE_PREFIX, data[at:], None
    if fmt == "png":  # a tEXt chunk after IHDR
        at = 8 + 12 + int.from_bytes(data[8:12], "big")
        text = b"Comment\x00" + _NONCE_PREFIX
        head = data[:at] + struct.pack(">I", len(text) + NONCE_LENGTH) + b"tEXt" + text
        return head, data[at:], zlib.crc32(b"tEXt" + text)
    if fmt == "webp":
        return _webp_slot(data)
    if fmt == "flac":  # the Vorbis comment written at encoding
        at = data.index(_FLAC_MARKER) + len(_NONCE_PREFIX)
        return data[:at], data[at + NONCE_LENGTH :], None
    raise ConfigError(f"no nonce slot for format {fmt!r}")  # pragma: no cover


def _webp_slot(data: bytes) -> _Slot:
    """Simple WebP -> extended format (``VP8X``) with an unknown chunk at the end.

    The WebP container spec has readers ignore unknown chunks at the end of
    an extended-format file.
    """
    body = data[12:]
    if body[:4] != b"VP8X":
        if body[:4] == b"VP8L":  # lossless: 14-bit width - 1 and height - 1
            bits = int.from_bytes(body[9:13], "little")
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        else:  # "VP8 ": frame tag, start code, then 14-bit width and height
            width = int.from_bytes(body[14:16], "little") & 0x3FFF
            height = int.from_bytes(body[16:18], "little") & 0x3FFF
        size = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        body = b"VP8X" + struct.pack("<I", 10) + bytes(4) + size + body
    extra = len(_NONCE_PREFIX) + NONCE_LENGTH
    riff = b"RIFF" + struct.pack("<I", 4 + len(body) + 8 + extra) + b"WEBP"
    return riff + body + b"LCST" + struct.pack("<I", extra) + _NONCE_PREFIX, b"", None


_FLAC_MARKER: Final = _NONCE_PREFIX + b"0" * NONCE_LENGTH


def _nonce(rng: random.Random) -> bytes:
    return b"%016x" % rng.getrandbits(64)


# -- bucketed pools (images, FLAC) ----------------------------------------------


@dataclass
class _Cell:
    rows: npt.NDArray[np.intp]  # the draws in this cell
    rep: int  # the draw it is encoded at (median by size)
    estimate: float = 0.0  # estimated bytes per variant
    variants: int = 1


def _group(keys: npt.NDArray[np.int64], order_by: npt.NDArray[Any]) -> list[_Cell]:
    """Cells of rows with equal keys; each one's representative is its median by ``order_by``."""
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.lexsort((order_by, inverse))  # by cell, then by size within a cell
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return [
        _Cell(rows=np.sort(rows), rep=int(rows[(len(rows) - 1) // 2]))
        for rows in np.split(order, bounds)
    ]


def _plan(
    what: str,
    keys_at: Callable[[float], npt.NDArray[np.int64]],
    order_by: npt.NDArray[Any],
    estimate: Callable[[_Cell], float],
    step: float,
    budget: float,
    max_variants: int,
    spare: float = 0.0,
) -> tuple[list[_Cell], float]:
    """Cells on the finest grid from ``step`` whose one-variant estimate fits in
    ``(1 - spare) * budget`` (else in ``budget``), and their variants."""
    need = 0.0
    fits: tuple[list[_Cell], float] | None = None
    for _ in range(_MAX_COARSEN + 1):
        cells = _group(keys_at(step), order_by)
        for c in cells:
            c.estimate = estimate(c)
        need = sum(c.estimate for c in cells)
        if need <= budget and fits is None:
            fits = (cells, step)
        if need <= (1.0 - spare) * budget:
            fits = (cells, step)
            break
        step *= _COARSEN
    if fits is None:
        raise ConfigError(
            f"max_mb={budget / 2**20:g} is too small for these {what}: even a coarse grid "
            f"needs about {need / 2**20:.1f} MiB for one payload per bucket"
        )
    _allocate(fits[0], len(order_by), max_variants, budget)
    return fits


def _allocate(cells: list[_Cell], draws: int, max_variants: int, budget: float) -> None:
    """Variants ~ each cell's share of the draws, 1..max_variants (and at most one
    per draw), with the estimated total within budget."""

    def variants(c: _Cell, scale: float) -> int:
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


def _encode_cells(
    cells: list[_Cell], make: Callable[[_Cell, int], bytes], progress: Progress | None
) -> list[list[bytes]]:
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


def _trim(encoded: list[list[bytes]], budget: float) -> None:
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


class _BucketPicker:
    """``pick`` for a bucketed pool: a draw, its payload, a nonce."""

    def __init__(
        self,
        fmt: str,
        content_type: str,
        slots: list[_Slot],
        meta: list[_Sizes],
        alt: list[int],
        entry: array[int],
        targets: list[_Sizes],
    ) -> None:
        self.fmt, self.content_type = fmt, content_type
        self.slots, self.meta, self.alt, self.entry, self.targets = slots, meta, alt, entry, targets
        self.n = len(entry)
        self.last = -1

    def __call__(self, rng: random.Random) -> Payload:
        i = int(rng.random() * self.n)
        j = self.entry[i]
        if j == self.last:
            j = self.alt[j]
        self.last = j
        head, tail, crc = self.slots[j]
        nonce = _nonce(rng)
        if crc is None:
            parts: tuple[bytes, ...] = (head, nonce, tail)
        else:
            parts = (head, nonce, struct.pack(">I", zlib.crc32(nonce, crc)), tail)
        return Payload(parts, self.content_type, self.fmt, *self.meta[j], *self.targets[i])


def _assemble(
    cells: list[_Cell],
    encoded: list[list[bytes]],
    fmt: str,
    meta_of: Callable[[_Cell], _Sizes],
    choose: Callable[[_Cell, list[bytes]], npt.NDArray[np.intp]] | None,
) -> tuple[list[_Slot], list[_Sizes], list[int], array[int]]:
    """Flatten cells into payload slots; map each draw to a payload (``choose`` or round robin)."""
    slots: list[_Slot] = []
    meta: list[_Sizes] = []
    alt: list[int] = []
    entry = array("I", bytes(4 * sum(len(c.rows) for c in cells)))
    for c, cell_data in zip(cells, encoded, strict=True):
        first, count = len(slots), len(cell_data)
        for k, data in enumerate(cell_data):
            slots.append(_slot(data, fmt))
            meta.append(meta_of(c))
            alt.append(first + (k + 1) % count)
        picks = choose(c, cell_data) if choose else np.arange(len(c.rows)) % count
        for row, k in zip(c.rows.tolist(), picks.tolist(), strict=True):
            entry[row] = first + k
    return slots, meta, alt, entry


def _stats(
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


def _column(sizes: Mapping[str, Any], name: str, what: str, n: int | None) -> npt.NDArray[Any]:
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


def _check_options(
    fmt: object, formats: tuple[str, ...], max_mb: object, max_variants: object, tol: object
) -> str:
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


# -- images -----------------------------------------------------------------------


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
    fmt = _check_options(format, IMAGE_FORMATS, max_mb, max_variants, pixel_tolerance)
    width = _column(sizes, "width", "image", None).astype(np.int64)
    height = _column(sizes, "height", "image", len(width)).astype(np.int64)
    drawn: npt.NDArray[np.float64] | None = None
    if match_bytes and fmt == "jpeg" and "bytes" in sizes:
        drawn = _column(sizes, "bytes", "image", len(width)).astype(np.float64)
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

    def scaled_bytes(c: _Cell) -> npt.NDArray[np.float64]:
        """The cell's drawn bytes, scaled to the pixels it is encoded at."""
        assert drawn is not None  # noqa: S101 - only called when bytes are matched
        return np.asarray(drawn[c.rows] * pixels[c.rep] / pixels[c.rows], np.float64)

    def estimate(c: _Cell) -> float:
        if drawn is not None:  # targets are met within 2 %: plan for the worst
            return float(scaled_bytes(c).mean()) * 1.02
        return float(pixels[c.rep]) * _BYTES_PER_PIXEL[fmt] + 1024

    cells, step = _plan(
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

    def make(c: _Cell, k: int) -> bytes:
        target = None
        if byte_targets is not None:
            target = max(1, round(float(byte_targets[cell_index[id(c)]][k])))
        return gen.image(
            int(width[c.rep]), int(height[c.rep]), format=fmt, target_bytes=target
        ).data

    def nearest(c: _Cell, cell_data: list[bytes]) -> npt.NDArray[np.intp]:
        have = np.log([len(d) for d in cell_data])
        miss = np.abs(np.log(scaled_bytes(c))[:, None] - have[None, :])
        return np.asarray(miss.argmin(axis=1), np.intp)

    encoded = _encode_cells(cells, make, progress)
    _trim(encoded, budget)
    flat = [d for cell_data in encoded for d in cell_data]
    slots, meta, alt, entry = _assemble(
        cells,
        encoded,
        fmt,
        lambda c: (int(width[c.rep]), int(height[c.rep]), None, None),
        nearest if drawn is not None else None,
    )
    targets: list[_Sizes] = [
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
    stats = _stats(
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
    picker = _BucketPicker(fmt, IMAGE_CONTENT_TYPES[fmt], slots, meta, alt, entry, targets)
    return PayloadPool(picker, stats)


# -- audio ------------------------------------------------------------------------


def build_audio_pool(
    sizes: Mapping[str, Any],
    *,
    format: str = "wav",
    seed: int = 0,
    max_mb: float = DEFAULT_MAX_MB,
    max_variants: int = 8,
    duration_tolerance: float = 0.02,
    sample_rate: int = 16000,
    progress: Progress | None = None,
) -> PayloadPool:
    """A pool of encoded speech for draws ``sizes`` (``duration_s``, optional ``sample_rate``).

    Without a ``sample_rate`` column every clip is at ``sample_rate`` Hz. WAV
    picks are cut to the exact drawn duration from one long track per sample
    rate; FLAC uses buckets (see the module docstring).
    """
    fmt = _check_options(format, AUDIO_FORMATS, max_mb, max_variants, duration_tolerance)
    duration = _column(sizes, "duration_s", "audio", None).astype(np.float64)
    if "sample_rate" in sizes:
        rate_values = _column(sizes, "sample_rate", "audio", len(duration)).tolist()
    else:
        rate_values = [sample_rate] * len(duration)
    if not all(float(r).is_integer() for r in rate_values):
        raise ConfigError("audio sizes: column 'sample_rate' must hold whole numbers of Hz")
    rates = [int(r) for r in rate_values]
    samples = [sample_count(d, r) for d, r in zip(duration.tolist(), rates, strict=True)]
    budget = float(max_mb) * 2**20
    gen = AudioGenerator(seed)
    if fmt == "wav":
        return _wav_pool(gen, duration, rates, samples, budget, progress)

    log_n = np.log(np.array(samples, np.float64))
    rate_arr = np.array(rates, np.int64)
    cells, step = _plan(
        "audio durations",
        lambda s: np.stack([rate_arr, np.rint(log_n / s).astype(np.int64)], 1),
        log_n,
        lambda c: samples[c.rep] * _FLAC_BYTES_PER_SAMPLE + 4096,
        math.log1p(duration_tolerance),
        budget,
        max_variants,
    )
    comment = _FLAC_MARKER.decode()

    def make(c: _Cell, _k: int) -> bytes:
        rate = rates[c.rep]
        return encode_flac(gen.waveform(samples[c.rep] / rate, rate), rate, comment=comment)

    encoded = _encode_cells(cells, make, progress)
    _trim(encoded, budget)
    slots, meta, alt, entry = _assemble(
        cells,
        encoded,
        "flac",
        lambda c: (None, None, samples[c.rep] / rates[c.rep], rates[c.rep]),
        None,
    )
    sent = np.array([meta[j][2] for j in entry], np.float64)
    flat = [d for cell_data in encoded for d in cell_data]
    stats = _stats("audio", "flac", len(cells), flat, budget, math.expm1(step), sent, duration)
    targets: list[_Sizes] = [(None, None, d, None) for d in duration.tolist()]
    picker = _BucketPicker("flac", AUDIO_CONTENT_TYPES["flac"], slots, meta, alt, entry, targets)
    return PayloadPool(picker, stats)


def _info_chunk() -> tuple[bytes, bytes]:
    """A ``LIST/INFO/ICMT`` chunk around the nonce: (head, tail = NUL and pad byte)."""
    text = len(_NONCE_PREFIX) + NONCE_LENGTH + 1
    pad = text & 1
    head = b"LIST" + struct.pack("<I", 4 + 8 + text + pad) + b"INFO"
    head += b"ICMT" + struct.pack("<I", text) + _NONCE_PREFIX
    return head, bytes(1 + pad)


class _WavPicker:
    """``pick`` for WAV: a draw, a window of its exact length from the track, a nonce."""

    def __init__(
        self, tracks: dict[int, bytes], rates: list[int], samples: list[int], drawn: list[float]
    ) -> None:
        self.tracks = {r: memoryview(t) for r, t in tracks.items()}
        self.room = {r: len(t) // 2 for r, t in tracks.items()}
        self.rates, self.samples, self.drawn = rates, samples, drawn
        self.fmt_chunk = {
            r: b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, r, 2 * r, 2, 16) for r in tracks
        }
        self.info_head, self.info_tail = _info_chunk()
        # RIFF size = "WAVE" + fmt + LIST + data header + samples.
        self.fixed = 4 + 24 + len(self.info_head) + NONCE_LENGTH + len(self.info_tail) + 8
        self.last = -1

    def __call__(self, rng: random.Random) -> Payload:
        i = int(rng.random() * len(self.samples))
        rate, n = self.rates[i], self.samples[i]
        starts = self.room[rate] - n + 1
        start = int(rng.random() * starts)
        if start == self.last:
            start = (start + 1) % starts
        self.last = start
        head = b"".join(
            (
                b"RIFF",
                struct.pack("<I", self.fixed + 2 * n),
                b"WAVE",
                self.fmt_chunk[rate],
                self.info_head,
            )
        )
        data_head = self.info_tail + b"data" + struct.pack("<I", 2 * n)
        parts = (head, _nonce(rng), data_head, self.tracks[rate][2 * start : 2 * (start + n)])
        return Payload(
            parts,
            AUDIO_CONTENT_TYPES["wav"],
            "wav",
            duration_s=n / rate,
            sample_rate=rate,
            target_duration_s=self.drawn[i],
        )


def _wav_pool(
    gen: AudioGenerator,
    duration: npt.NDArray[np.float64],
    rates: list[int],
    samples: list[int],
    budget: float,
    progress: Progress | None,
) -> PayloadPool:
    distinct = sorted(set(rates))
    longest = {r: max(n for n, q in zip(samples, rates, strict=True) if q == r) for r in distinct}
    length = {r: max(2 * longest[r], round(_WAV_TRACK_MIN_S * r)) for r in distinct}
    if 2 * sum(length.values()) > budget:
        length = {r: 2 * longest[r] for r in distinct}  # the least that still varies
    if 2 * sum(length.values()) > budget:
        raise ConfigError(
            f"max_mb={budget / 2**20:g} is too small for WAV payloads of these durations: "
            f"the speech tracks need {2 * sum(length.values()) / 2**20:.1f} MiB"
        )
    tracks = {}
    for k, r in enumerate(distinct):
        tracks[r] = np.ascontiguousarray(gen.waveform(length[r] / r, r), "<i2").tobytes()
        if progress is not None:
            progress(k + 1, len(distinct))
    sent = [n / r for n, r in zip(samples, rates, strict=True)]
    tracks_list = list(tracks.values())
    stats = _stats(
        "audio", "wav", len(distinct), tracks_list, budget, 0.0, np.array(sent), duration
    )
    return PayloadPool(_WavPicker(tracks, rates, samples, duration.tolist()), stats)


def build_pool(
    profile: str | Profile,
    *,
    format: str | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    max_mb: float = DEFAULT_MAX_MB,
    progress: Progress | None = None,
) -> PayloadPool:
    """A pool for a profile: a bundled name, a path, or a :class:`~locust_ml.traces.Profile`.

    An image profile (``width`` and ``height`` columns) gives JPEG unless
    ``format`` says otherwise, an audio profile (``duration_s``) WAV. The
    profile is sampled ``draws`` times with ``seed``, and the pool built with
    the same seed.

    >>> pool = build_pool("librispeech_durations", draws=64, max_mb=8)
    >>> p = pool.pick(random.Random(1))
    >>> p.content_type, abs(p.duration_s - p.target_duration_s) <= 0.5 / p.sample_rate
    ('audio/wav', True)
    """
    from locust_ml.traces.profile import Profile

    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be an integer >= 1, got {draws!r}")
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    columns = set(prof.column_names)
    sizes = prof.sampler(seed).sample(draws)
    if {"width", "height"} <= columns:
        return build_image_pool(
            sizes, format=format or "jpeg", seed=seed, max_mb=max_mb, progress=progress
        )
    if "duration_s" in columns:
        return build_audio_pool(
            sizes, format=format or "wav", seed=seed, max_mb=max_mb, progress=progress
        )
    raise ConfigError(
        f"profile {prof.name!r} has columns {', '.join(prof.column_names)}; a payload pool "
        "needs width and height (images) or duration_s (audio)"
    )
