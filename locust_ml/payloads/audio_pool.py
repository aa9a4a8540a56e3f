"""Audio pools: trace-length speech, exact durations for WAV, buckets for FLAC.

:func:`build_audio_pool` serves speech-like audio for a set of duration
draws (and sample rates):

* WAV needs no buckets. One long speech track per sample rate is cut at a
  random offset to exactly the drawn number of samples on every pick (the
  header is written for that length, the nonce goes into a ``LIST/INFO``
  chunk), so durations are exact and consecutive picks differ in content;
* FLAC must be encoded whole, so it uses the grid of
  :mod:`~locust_ml.payloads.buckets`: cells ``round(ln(samples) / s)`` per
  sample rate, ``s = ln(1 + duration_tolerance)`` (default 2 %), the nonce
  in a Vorbis comment.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Mapping
from typing import Any, Final

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
from locust_ml.payloads.nonce import FLAC_MARKER, NONCE_LENGTH, nonce, wav_info_chunk
from locust_ml.payloads.payload import DEFAULT_MAX_MB, Payload, PayloadPool, Progress, make_payload

__all__ = ["build_audio_pool"]

_WAV_TRACK_MIN_S: Final = 60.0
# Estimated FLAC bytes per sample, to plan within max_mb before building.
_FLAC_BYTES_PER_SAMPLE: Final = 1.4


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
    fmt = check_options(format, AUDIO_FORMATS, max_mb, max_variants, duration_tolerance)
    duration = column(sizes, "duration_s", "audio", None).astype(np.float64)
    if "sample_rate" in sizes:
        rate_values = column(sizes, "sample_rate", "audio", len(duration)).tolist()
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
    cells, step = plan(
        "audio durations",
        lambda s: np.stack([rate_arr, np.rint(log_n / s).astype(np.int64)], 1),
        log_n,
        lambda c: samples[c.rep] * _FLAC_BYTES_PER_SAMPLE + 4096,
        math.log1p(duration_tolerance),
        budget,
        max_variants,
    )
    comment = FLAC_MARKER.decode()

    def make(c: Cell, _k: int) -> bytes:
        rate = rates[c.rep]
        return encode_flac(gen.waveform(samples[c.rep] / rate, rate), rate, comment=comment)

    encoded = encode_cells(cells, make, progress)
    trim(encoded, budget)
    slots, meta, alt, entry = assemble(
        cells,
        encoded,
        "flac",
        lambda c: (None, None, samples[c.rep] / rates[c.rep], rates[c.rep]),
        None,
    )
    sent = np.array([meta[j][2] for j in entry], np.float64)
    flat = [d for cell_data in encoded for d in cell_data]
    stats = pool_stats("audio", "flac", len(cells), flat, budget, math.expm1(step), sent, duration)
    targets: list[Sizes] = [(None, None, d, None) for d in duration.tolist()]
    picker = BucketPicker("flac", AUDIO_CONTENT_TYPES["flac"], slots, meta, alt, entry, targets)
    return PayloadPool(picker, stats)


class _WavPicker:
    """``pick`` for WAV: a draw, a window of its exact length from the track, a nonce."""

    def __init__(
        self, tracks: dict[int, bytes], rates: list[int], samples: list[int], drawn: list[float]
    ) -> None:
        self.tracks = {r: memoryview(t) for r, t in tracks.items()}
        self.room = {r: len(t) // 2 for r, t in tracks.items()}
        self.rates, self.samples = rates, samples
        # Each draw's Payload fields, for make_payload.
        self.fields = [
            {
                "content_type": AUDIO_CONTENT_TYPES["wav"],
                "format": "wav",
                "width": None,
                "height": None,
                "duration_s": n / r,
                "sample_rate": r,
                "target_width": None,
                "target_height": None,
                "target_duration_s": d,
                "target_bytes": None,
            }
            for n, r, d in zip(samples, rates, drawn, strict=True)
        ]
        self.fmt_chunk = {
            r: b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, r, 2 * r, 2, 16) for r in tracks
        }
        self.info_head, self.info_tail = wav_info_chunk()
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
        parts = (head, nonce(rng), data_head, self.tracks[rate][2 * start : 2 * (start + n)])
        return make_payload(parts, self.fields[i])


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
    stats = pool_stats(
        "audio", "wav", len(distinct), tracks_list, budget, 0.0, np.array(sent), duration
    )
    return PayloadPool(_WavPicker(tracks, rates, samples, duration.tolist()), stats)
