"""Synthetic photographs as real JPEG, PNG or WebP bytes of a requested size.

An image model server spends its time in proportion to what it receives: the
bytes (network, entropy decoding) and the pixels (decode, resize, the model).
So a load test needs images with the traffic's dimensions *and* its encoded
sizes, and the bytes must behave like a photograph's when encoded: a flat
colour compresses to almost nothing, white noise to more than any photo, and
either one would make the server look faster or slower than in production.

**Content model.** Natural images have a power spectrum close to ``1/f**2``,
colour channels that move together, and regions with edges between them.
:meth:`ImageGenerator.pixels` builds that cheaply:

* at a *shape resolution* of at most 256 px per side, with numpy FFTs:
  luma from ``1/f**1.1`` amplitude noise, two chroma fields with a steeper
  slope (colour varies more slowly than light), a vertical light gradient
  (sky and ground), two regions cut from a smoother field by thresholds
  (hard edges) and one to three ellipses, each region with its own colour
  offset; the result is converted from YCbCr to RGB (correlated channels)
  and upsampled to the requested size with Pillow's bicubic filter;
* at full resolution, a fine *texture* (foliage, fur, grain) from a bank of
  two seeded 383 x 383 tiles of ``1/f**0.5`` band-passed noise, cropped
  at random offsets, mostly shared by the channels (luma) with a third
  independent per channel (chroma), and weighted by a smooth random mask
  so some regions are textured and others are smooth, as in photographs.

Everything at full resolution is a tile copy, a table look-up or a Pillow
operation in C: synthesizing and encoding an image once costs about 50-100
ms per megapixel, 80-160 ms with a byte target (two shared cores; small
images cost more per pixel).

**Byte-size control.** The texture amplitude is a continuous *detail* knob
``a`` in ``[0, 4]`` (the texture's standard deviation is ``32 a`` grey
levels where the mask is full), and the encoder quality is a coarse one. For
a target of ``B`` bytes (:meth:`ImageGenerator.image` with ``target_bytes``):

1. a starting quality is picked from the target's bytes per pixel, on a
   ladder ``5, 10, 20, ... 90, 93, 95, 97, 98, 99, 100``;
2. the image is encoded with no texture; if that is already over ``B``
   the quality steps down the ladder, and if the full texture stays under
   ``B`` it steps up;
3. within the bracket, ``a`` is solved by regula falsi (Illinois) on
   ``log(bytes)`` against ``sqrt(a)``, where the curve is nearly straight.

The base image is synthesized once; each try is a texture look-up, an add
and an encode. It stops within ``tolerance`` (default 2 %) of ``B``, or after
``max_encodes`` (default 10) with the closest result. Measured on 1,000
draws of the bundled ``imagenet_image_sizes`` profile
(``benchmarks/payload_generation.py``): median absolute error 0.4 %, p90
1.6 %, every image within 2 %, 3.9 encodes per image on average (30 ms per
image), and a two-sample KS statistic of 0.037 between the sizes made and
the ImageNet trace's ``bytes`` (the draws themselves: 0.033; the acceptance
bound is 0.1). Targets outside what the content can reach (more than about
1.8 bytes per pixel, or less than the headers of a large image) come back
as close as it gets; :attr:`EncodedImage.target_bytes` and
:attr:`EncodedImage.nbytes` let a caller see the difference.

Without a target, the quality is 90 (JPEG) or 80 (WebP) and the detail is
drawn per image, log-uniform in ``[0.25, 3]``; PNG is lossless and its size
follows from the content (photographs encode to 1.5-3 bytes per pixel).

Pillow is imported on first use; without it, :class:`~locust_ml.errors.DependencyError`.
Nothing here writes files: encoding goes to an in-memory buffer.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError, DependencyError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "DETAIL_MAX",
    "IMAGE_CONTENT_TYPES",
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "MAX_SIDE",
    "EncodedImage",
    "ImageGenerator",
]

IMAGE_FORMATS: Final = ("jpeg", "png", "webp")
IMAGE_CONTENT_TYPES: Final = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
#: Largest width or height accepted (WebP's own limit; JPEG's is 65,535).
MAX_SIDE: Final = 16383
#: Largest image accepted, in pixels (Pillow refuses to decode much more by default).
MAX_PIXELS: Final = 64 * 1024 * 1024
#: Largest detail (texture amplitude); beyond it the texture clips and stops adding bytes.
DETAIL_MAX: Final = 4.0

_LOSSY = ("jpeg", "webp")
_DEFAULT_QUALITY = {"jpeg": 90, "webp": 80}
_QUALITY_LADDER: Final = (5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 93, 95, 97, 98, 99, 100)
# Starting rung from the target's bytes per pixel: the quality at which
# detail 1 gives about that many bytes per pixel for a 500 x 375 image.
_START_BPP: Final = ((1.1, 100), (0.8, 98), (0.6, 95), (0.42, 90), (0.25, 75), (0.16, 50))
_START_LOW = 30
_SHAPE_RES = 256
_TILE = 383
_TILE_STD = 32.0
_TILES = 2
_CHROMA_TEXTURE = 0.35
_GREY = (128, 128, 128)
_SQRT_DETAIL_MAX = math.sqrt(DETAIL_MAX)


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """An encoded image and how it was made.

    ``quality`` is the encoder quality used (``None`` for PNG); ``detail`` the
    texture amplitude; ``target_bytes`` what was asked for (``None``: no
    target), to compare with :attr:`nbytes`.
    """

    data: bytes
    format: str
    width: int
    height: int
    quality: int | None
    detail: float
    target_bytes: int | None = None
    encodes: int = 1

    @property
    def content_type(self) -> str:
        return IMAGE_CONTENT_TYPES[self.format]

    @property
    def nbytes(self) -> int:
        return len(self.data)

    @property
    def bytes_error(self) -> float | None:
        """``nbytes / target_bytes - 1``, or ``None`` without a target."""
        if self.target_bytes is None:
            return None
        return len(self.data) / self.target_bytes - 1.0


def _pil() -> Any:
    try:
        from PIL import Image, ImageChops
    except ImportError as exc:  # pragma: no cover - Pillow is a core dependency
        raise DependencyError(
            "image payloads need the 'Pillow' package: pip install Pillow"
        ) from exc
    return Image, ImageChops


def _check_dimension(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"image {name} must be an integer number of pixels, got {value!r}")
    if not 1 <= int(value) <= MAX_SIDE:
        raise ConfigError(f"image {name} must be 1..{MAX_SIDE} pixels, got {int(value)}")
    return int(value)


def _check_size(width: object, height: object) -> tuple[int, int]:
    w, h = _check_dimension("width", width), _check_dimension("height", height)
    if w * h > MAX_PIXELS:
        raise ConfigError(
            f"image {w} x {h} has {w * h:,} pixels; at most {MAX_PIXELS:,} are accepted"
        )
    return w, h


def _check_format(fmt: object) -> str:
    name = str(fmt).lower() if isinstance(fmt, str) else fmt
    if name == "jpg":
        name = "jpeg"
    if name not in IMAGE_FORMATS:
        raise ConfigError(
            f"unknown image format {fmt!r}; expected one of {', '.join(IMAGE_FORMATS)}"
        )
    assert isinstance(name, str)  # noqa: S101 - narrowed by the check above
    return name


@functools.lru_cache(maxsize=64)
def _amplitude(h: int, w: int, slope: float, low_cut: float) -> Any:
    """The ``1/f**slope`` amplitude spectrum of an ``h x w`` real FFT (cached: sizes repeat)."""
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    amp = f ** np.float32(-slope)
    amp[0, 0] = 0.0
    if low_cut:
        amp[f < low_cut] = 0.0
    amp.flags.writeable = False
    return amp


def _noise_field(
    rng: np.random.Generator, h: int, w: int, slope: float, low_cut: float = 0.0
) -> Any:
    """Gaussian noise with amplitude spectrum ``1/f**slope``, unit variance, float32."""
    amp = _amplitude(h, w, slope, low_cut)
    spec = np.empty(amp.shape, np.complex64)
    spec.real = rng.standard_normal(amp.shape, dtype=np.float32)
    spec.imag = rng.standard_normal(amp.shape, dtype=np.float32)
    spec *= amp
    x = np.fft.irfft2(spec, s=(h, w))
    std = float(x.std())
    return (x / std if std > 0 else x).astype(np.float32)


class _Parts:
    """One image's content, detail aside: compose with :meth:`at` for any detail."""

    __slots__ = ("base", "size", "texture")

    def __init__(self, base: PILImage.Image, texture: PILImage.Image) -> None:
        self.base = base
        self.texture = texture
        self.size = base.size

    def at(self, detail: float) -> PILImage.Image:
        _, chops = _pil()
        gain = np.arange(256, dtype=np.float64) - 128.0
        lut = np.clip(np.rint(128.0 + detail * gain), 0, 255).astype(np.uint8).tolist()
        texture = self.texture.point(lut * 3)
        out: PILImage.Image = chops.add(self.base, texture, 1.0, -128)
        return out


class ImageGenerator:
    """Seeded synthesizer of photograph-like images, encoded.

    >>> gen = ImageGenerator(seed=3)
    >>> img = gen.image(320, 240, target_bytes=30_000)
    >>> img.format, img.width, img.height, abs(img.bytes_error) <= 0.02
    ('jpeg', 320, 240, True)
    >>> gen.image(64, 48, format="png").data[:4]
    b'\\x89PNG'

    The same seed gives the same images in the same order. Not thread-safe:
    give each thread its own generator.
    """

    def __init__(
        self, seed: int | None = 0, *, tolerance: float = 0.02, max_encodes: int = 10
    ) -> None:
        if not 0 < tolerance < 1:
            raise ConfigError(f"tolerance must be in (0, 1), got {tolerance!r}")
        if isinstance(max_encodes, bool) or not isinstance(max_encodes, int) or max_encodes < 2:
            raise ConfigError(f"max_encodes must be an integer >= 2, got {max_encodes!r}")
        self._rng = np.random.default_rng(seed)
        self._tolerance = tolerance
        self._max_encodes = max_encodes
        self._tiles = [
            np.clip(
                _noise_field(self._rng, _TILE, _TILE, 0.5, low_cut=0.03) * _TILE_STD + 128, 0, 255
            ).astype(np.uint8)
            for _ in range(_TILES)
        ]

    # -- content ---------------------------------------------------------------

    def pixels(self, width: int, height: int, *, detail: float = 1.0) -> npt.NDArray[np.uint8]:
        """An ``(height, width, 3)`` uint8 RGB array of photograph-like content."""
        w, h = _check_size(width, height)
        return np.asarray(self._parts(w, h).at(_check_detail(detail)))

    def _parts(self, w: int, h: int) -> _Parts:
        image_mod, _ = _pil()
        rng = self._rng
        scale = min(1.0, _SHAPE_RES / max(w, h))
        sw, sh = max(2, round(w * scale)), max(2, round(h * scale))
        luma = _noise_field(rng, sh, sw, 1.1) * 28.0
        cb = _noise_field(rng, sh, sw, 1.5) * 10.0
        cr = _noise_field(rng, sh, sw, 1.5) * 10.0
        ys = np.linspace(-1.0, 1.0, sh, dtype=np.float32)[:, None]
        luma += np.float32(rng.normal(0.0, 25.0)) * ys
        cb += np.float32(rng.normal(0.0, 10.0)) * ys
        regions = _noise_field(rng, sh, sw, 2.0)
        masks = [regions > t for t in rng.uniform(-1.0, 1.0, 2)]
        xs = np.linspace(0.0, 1.0, sw, dtype=np.float32)[None, :]
        yu = (ys + 1.0) / 2.0
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(0.1, 0.9, 2)
            rx, ry = rng.uniform(0.05, 0.3, 2)
            masks.append(((xs - cx) / rx) ** 2 + ((yu - cy) / ry) ** 2 < 1.0)
        for mask in masks:
            dy, dcb, dcr = rng.normal(0.0, (32.0, 15.0, 15.0))
            luma += mask * np.float32(dy)
            cb += mask * np.float32(dcb)
            cr += mask * np.float32(dcr)
        luma += np.float32(rng.uniform(90.0, 160.0))
        rgb = np.stack(
            [luma + 1.402 * cr, luma - 0.344 * cb - 0.714 * cr, luma + 1.772 * cb], axis=-1
        )
        base = image_mod.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
        if (sw, sh) != (w, h):
            base = base.resize((w, h), image_mod.Resampling.BICUBIC)

        # Texture: a crop shared by the channels (luma) blended with one crop per
        # channel (chroma), faded towards grey 128 (no texture) by a smooth weight.
        crops = [image_mod.fromarray(self._crop(w, h), "L") for _ in range(4)]
        texture = image_mod.blend(
            image_mod.merge("RGB", (crops[0], crops[0], crops[0])),
            image_mod.merge("RGB", crops[1:]),
            _CHROMA_TEXTURE,
        )
        mw, mh = max(2, sw // 8), max(2, sh // 8)
        weight = np.clip(0.3 + np.abs(_noise_field(rng, mh, mw, 1.2)), 0.15, 2.0) * 127.5
        weight_image = image_mod.fromarray(weight.astype(np.uint8), "L").resize(
            (w, h), image_mod.Resampling.BILINEAR
        )
        texture = image_mod.composite(texture, image_mod.new("RGB", (w, h), _GREY), weight_image)
        return _Parts(base, texture)

    def _crop(self, w: int, h: int) -> npt.NDArray[np.uint8]:
        rng = self._rng
        tile = self._tiles[int(rng.integers(_TILES))]
        oy, ox = (int(v) for v in rng.integers(_TILE, size=2))
        reps = (-(-(h + oy) // _TILE), -(-(w + ox) // _TILE))
        return np.tile(tile, reps)[oy : oy + h, ox : ox + w]

    # -- encoding --------------------------------------------------------------

    def image(
        self,
        width: int,
        height: int,
        *,
        format: str = "jpeg",
        target_bytes: int | None = None,
        quality: int | None = None,
        detail: float | None = None,
    ) -> EncodedImage:
        """One encoded image of ``width x height`` pixels.

        ``target_bytes`` (JPEG and WebP only) makes the encoded size follow it,
        choosing quality and detail (see the module docstring); it cannot be
        combined with ``quality`` or ``detail``. Without it, ``quality`` defaults
        to 90 (JPEG) / 80 (WebP) and ``detail`` is drawn per image.
        """
        w, h = _check_size(width, height)
        fmt = _check_format(format)
        if quality is not None:
            if fmt not in _LOSSY:
                raise ConfigError(f"quality applies to jpeg and webp, not {fmt}")
            if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
                raise ConfigError(f"image quality must be an integer 1..100, got {quality!r}")
        if target_bytes is not None:
            target = _check_target(target_bytes, fmt)
            if quality is not None or detail is not None:
                raise ConfigError("target_bytes chooses quality and detail; do not pass them too")
            if fmt == "webp":
                _check_webp()
            return self._fit(self._parts(w, h), fmt, target)
        if fmt == "webp":
            _check_webp()
        a = (
            _check_detail(detail)
            if detail is not None
            else float(math.exp(self._rng.uniform(math.log(0.25), math.log(3.0))))
        )
        q = quality if quality is not None else _DEFAULT_QUALITY.get(fmt)
        data = _encode(self._parts(w, h).at(a), fmt, q)
        return EncodedImage(data, fmt, w, h, q, a)

    def _fit(self, parts: _Parts, fmt: str, target: int) -> EncodedImage:
        return _ByteFit(parts, fmt, target, self._tolerance, self._max_encodes).run()


class _ByteFit:
    """One image's search for a byte size: a quality ladder, then regula falsi on detail.

    Points are ``(x, y)`` with ``x = sqrt(detail / DETAIL_MAX)`` in ``[0, 1]``
    and ``y = log(bytes / target)``; the search stops once ``|y| <= log(1 + tol)``.
    """

    def __init__(
        self, parts: _Parts, fmt: str, target: int, tolerance: float, max_encodes: int
    ) -> None:
        self.parts, self.fmt, self.target = parts, fmt, target
        self.ok = math.log1p(tolerance)
        self.max_encodes = max_encodes
        self.encodes = 0
        self.best: tuple[float, bytes, int, float] | None = None

    def miss(self, x: float, quality: int) -> float:
        detail = (x * _SQRT_DETAIL_MAX) ** 2
        data = _encode(self.parts.at(detail), self.fmt, quality)
        self.encodes += 1
        y = math.log(len(data) / self.target)
        if self.best is None or abs(y) < self.best[0]:
            self.best = (abs(y), data, quality, detail)
        return y

    @property
    def spent(self) -> bool:
        return self.encodes >= self.max_encodes

    def run(self) -> EncodedImage:
        w, h = self.parts.size
        ladder = _QUALITY_LADDER
        rung = ladder.index(_start_quality(self.target / (w * h)))
        y0 = self.miss(0.0, ladder[rung])
        while y0 > self.ok and rung > 0 and not self.spent:  # too big even without texture
            rung -= 1
            y0 = self.miss(0.0, ladder[rung])
        while -self.ok > y0 and not self.spent:
            if self.solve(ladder[rung], y0) or rung + 1 == len(ladder):
                break
            rung += 1  # too small even with full texture
            y0 = self.miss(0.0, ladder[rung])
        assert self.best is not None  # noqa: S101 - at least one encode ran
        _, data, quality, detail = self.best
        return EncodedImage(data, self.fmt, w, h, quality, detail, self.target, self.encodes)

    def solve(self, quality: int, y0: float) -> bool:
        """Regula falsi (Illinois) from ``(0, y0 < 0)``; False if full texture falls short."""
        lo: tuple[float, float] = (0.0, y0)
        hi: tuple[float, float] | None = None
        x, kept = 0.5, 0  # kept: which end the last step moved (-1 lo, +1 hi)
        while not self.spent:
            y = self.miss(x, quality)
            if abs(y) <= self.ok:
                return True
            if y < 0:
                if x >= 1.0:
                    return False
                if kept == -1 and hi is not None:
                    hi = (hi[0], hi[1] / 2.0)
                lo, kept = (x, y), -1
            else:
                if kept == 1:
                    lo = (lo[0], lo[1] / 2.0)
                hi, kept = (x, y), 1
            if hi is None:  # secant through (0, y0) and lo, capped at full texture
                slope = (lo[1] - y0) / lo[0]
                x = min(1.0, lo[0] - lo[1] / slope) if slope > 0 else 1.0
            else:
                x = lo[0] - lo[1] * (hi[0] - lo[0]) / (hi[1] - lo[1])
                x = min(max(x, lo[0] + 1e-4), hi[0] - 1e-4)
        return True


def _start_quality(bpp: float) -> int:
    for threshold, quality in _START_BPP:
        if bpp >= threshold:
            return quality
    return _START_LOW


def _check_detail(detail: object) -> float:
    if isinstance(detail, bool) or not isinstance(detail, int | float):
        raise ConfigError(f"image detail must be a number in [0, {DETAIL_MAX}], got {detail!r}")
    value = float(detail)
    if not 0.0 <= value <= DETAIL_MAX:
        raise ConfigError(f"image detail must be in [0, {DETAIL_MAX}], got {value!r}")
    return value


def _check_target(target: object, fmt: str) -> int:
    if fmt not in _LOSSY:
        raise ConfigError(
            f"target_bytes applies to lossy formats (jpeg, webp), not {fmt}: a {fmt} "
            "image's size follows from its pixels"
        )
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or target <= 0:
        raise ConfigError(f"target_bytes must be a positive integer, got {target!r}")
    return int(target)


def _check_webp() -> None:
    from PIL import features

    if not features.check("webp"):
        raise DependencyError("this Pillow was built without WebP support (libwebp)")


def _encode(image: PILImage.Image, fmt: str, quality: int | None) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, "PNG")
    else:
        image.save(buf, fmt.upper(), quality=quality)
    return buf.getvalue()
