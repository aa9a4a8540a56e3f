"""Synthetic speech as real WAV (PCM16) or FLAC bytes of an exact duration.

A speech model's cost grows with the audio's duration, and a lossless codec's
output size with how much the signal varies: FLAC shrinks silence to almost
nothing and cannot shrink white noise at all. So payloads must last exactly
the sampled duration and sound, to a codec and a spectrogram, like speech.

**Content model** (a source-filter formant synthesizer, vectorized with numpy
and ``scipy.signal``; no per-sample Python):

* *prosody*: syllables of gamma-distributed length (mean 0.2 s: about 5
  syllables per second of voice), grouped into phrases by pauses of
  0.15-0.6 s after about one syllable in eight (10-30 % of a clip is pause);
  each syllable gets a raised-sine amplitude envelope with a random stress,
  so the loudness is modulated at the syllable rate, as in speech;
* *pitch*: a speaker's base pitch in 90-210 Hz, with a smooth random contour
  (+-12 %) and a declination over each phrase, clipped to 80-250 Hz;
* *source*: a glottal pulse train at that pitch (one impulse per period),
  shaped by a two-pole 200 Hz low-pass (the glottal pulse's -12 dB/octave)
  and a first difference (lip radiation, +6 dB/octave), plus a little
  aspiration noise;
* *vocal tract*: the source runs through five vowels' cascades of four
  Klatt formant resonators (F1-F3 of /a/, /e/, /i/, /o/, /u/, scaled per
  speaker, and a fixed F4); the outputs are cross-faded syllable by
  syllable, so the formants glide from one vowel to the next;
* *consonants and room*: a third of the syllables start with a burst of
  band-passed noise (a fricative, 3-7 kHz), and a noise floor at about
  -60 dBFS keeps silences from being digital zero.

The level is normalized to a random peak of -6 to -1 dBFS and rounded to
16-bit integers. Energy is mostly below 4 kHz (98-99 % at 16 kHz), the
spectrum falls with frequency, and FLAC compresses the result to about 60 %
of the WAV size at 16 kHz (50 % at 44.1 kHz).

**Duration is exact**: a clip of ``d`` seconds at ``r`` Hz has
``round(d * r)`` samples. Clips longer than a minute are synthesized a
minute at a time (same speaker), so memory stays bounded.

WAV is written with the standard library's :mod:`wave`; FLAC with the
``soundfile`` package (libsndfile, bundled in its wheels), imported on first
use: without it, :class:`~locust_ml.errors.DependencyError`. Encoding goes to
an in-memory buffer; nothing here writes files.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError, DependencyError

__all__ = [
    "AUDIO_CONTENT_TYPES",
    "AUDIO_FORMATS",
    "MAX_DURATION_S",
    "AudioGenerator",
    "EncodedAudio",
    "encode_flac",
    "encode_wav",
    "sample_count",
]

AUDIO_FORMATS: Final = ("wav", "flac")
AUDIO_CONTENT_TYPES: Final = {"wav": "audio/wav", "flac": "audio/flac"}
#: Longest clip accepted, in seconds (a long meeting; bounds memory).
MAX_DURATION_S: Final = 4 * 3600.0
_MIN_RATE, _MAX_RATE = 1000, 384_000

# F1, F2, F3 (Hz) of five vowels for an adult male voice (Peterson & Barney),
# and a fixed F4 that gives the 2-4 kHz band its share of energy.
_VOWELS: Final = (
    (730.0, 1090.0, 2440.0, 3350.0),  # a
    (530.0, 1840.0, 2480.0, 3350.0),  # e
    (270.0, 2290.0, 3010.0, 3500.0),  # i
    (570.0, 840.0, 2410.0, 3350.0),  # o
    (300.0, 870.0, 2240.0, 3350.0),  # u
)
_BANDWIDTHS: Final = (70.0, 100.0, 140.0, 220.0)
_SYLLABLE_MEAN_S = 0.2
_SYLLABLE_SHAPE = 5.0
_PAUSE_P = 0.12
_FRICATIVE_P = 0.33
_UTTERANCE_S = 60


@dataclass(frozen=True, slots=True)
class EncodedAudio:
    """An encoded mono clip: its bytes, format, rate and exact length in samples."""

    data: bytes
    format: str
    sample_rate: int
    samples: int

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def content_type(self) -> str:
        return AUDIO_CONTENT_TYPES[self.format]

    @property
    def nbytes(self) -> int:
        return len(self.data)


def _check_rate(sample_rate: object) -> int:
    if isinstance(sample_rate, float) and sample_rate.is_integer():
        sample_rate = int(sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise ConfigError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    if not _MIN_RATE <= int(sample_rate) <= _MAX_RATE:
        raise ConfigError(f"sample_rate must be {_MIN_RATE}..{_MAX_RATE} Hz, got {sample_rate}")
    return int(sample_rate)


def sample_count(duration_s: float, sample_rate: int) -> int:
    """Samples in a clip of ``duration_s`` at ``sample_rate``: ``round(d * r)``, >= 1.

    >>> sample_count(4.92, 16000)
    78720
    """
    rate = _check_rate(sample_rate)
    if isinstance(duration_s, bool) or not isinstance(duration_s, int | float | np.number):
        raise ConfigError(f"duration must be a number of seconds, got {duration_s!r}")
    d = float(duration_s)
    if not math.isfinite(d) or d <= 0 or d > MAX_DURATION_S:
        raise ConfigError(f"duration must be > 0 and <= {MAX_DURATION_S:g} s, got {duration_s!r}")
    n = round(d * rate)
    if n < 1:
        raise ConfigError(f"duration {d!r} s at {rate} Hz is less than one sample")
    return n


def _check_format(fmt: object) -> str:
    name = fmt.lower() if isinstance(fmt, str) else fmt
    if name not in AUDIO_FORMATS:
        raise ConfigError(
            f"unknown audio format {fmt!r}; expected one of {', '.join(AUDIO_FORMATS)}"
        )
    return str(name)


def _soundfile() -> Any:
    try:
        import soundfile  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: the package is there, libsndfile is not
        raise DependencyError(
            f"FLAC payloads need the 'soundfile' package (libsndfile): "
            f"pip install 'locust-ml[audio]' ({exc})"
        ) from exc
    return soundfile


def encode_wav(samples: npt.NDArray[np.int16], sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``samples`` (the :mod:`wave` module's layout)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(_check_rate(sample_rate))
        out.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


def encode_flac(
    samples: npt.NDArray[np.int16], sample_rate: int, *, comment: str | None = None
) -> bytes:
    """A mono 16-bit FLAC file of ``samples``; ``comment`` goes in a Vorbis comment."""
    sf = _soundfile()
    buf = io.BytesIO()
    with sf.SoundFile(
        buf, "w", samplerate=_check_rate(sample_rate), channels=1, subtype="PCM_16", format="FLAC"
    ) as out:
        if comment is not None:
            out.comment = comment
        out.write(np.ascontiguousarray(samples, dtype=np.int16))
    return buf.getvalue()


def _resonator(freq: float, bandwidth: float, rate: int) -> list[float]:
    """A Klatt resonator as one second-order section, unity gain at 0 Hz."""
    r = math.exp(-math.pi * bandwidth / rate)
    b = 2.0 * r * math.cos(2.0 * math.pi * freq / rate)
    c = -r * r
    return [1.0 - b - c, 0.0, 0.0, 1.0, -b, -c]


class AudioGenerator:
    """Seeded synthesizer of speech-like mono clips.

    >>> gen = AudioGenerator(seed=1)
    >>> clip = gen.audio(2.5, 16000)
    >>> clip.samples, clip.duration_s, clip.data[:4], clip.content_type
    (40000, 2.5, b'RIFF', 'audio/wav')

    The same seed gives the same clips in the same order. Not thread-safe:
    give each thread its own generator.
    """

    def __init__(self, seed: int | None = 0) -> None:
        self._rng = np.random.default_rng(seed)

    def audio(
        self,
        duration_s: float,
        sample_rate: int = 16000,
        *,
        format: str = "wav",
    ) -> EncodedAudio:
        """One encoded clip of exactly ``round(duration_s * sample_rate)`` samples."""
        fmt = _check_format(format)
        if fmt == "flac":
            _soundfile()
        rate = _check_rate(sample_rate)
        pcm = self.waveform(duration_s, rate)
        data = encode_wav(pcm, rate) if fmt == "wav" else encode_flac(pcm, rate)
        return EncodedAudio(data, fmt, rate, len(pcm))

    def waveform(self, duration_s: float, sample_rate: int = 16000) -> npt.NDArray[np.int16]:
        """The clip's samples, mono int16, ``round(duration_s * sample_rate)`` of them."""
        rate = _check_rate(sample_rate)
        n = sample_count(duration_s, rate)
        rng = self._rng
        base = rng.uniform(90.0, 210.0)  # one speaker per clip
        peak = 32767.0 * 10 ** (rng.uniform(-6.0, -1.0) / 20)
        out = np.empty(n, dtype=np.int16)
        step = _UTTERANCE_S * rate  # long clips: utterances of a minute, in bounded memory
        for start in range(0, n, step):
            piece = _utterance(rng, min(step, n - start), rate, base)
            piece *= peak / max(float(np.abs(piece).max()), 1e-12)
            out[start : start + len(piece)] = np.rint(piece)
        return out


def _utterance(rng: np.random.Generator, n: int, rate: int, base: float) -> npt.NDArray[np.float64]:
    """``n`` samples of one speaker's speech, unnormalized float."""
    tl = _Timeline.draw(rng, n, rate)
    source = _glottal_source(rng, _pitch(rng, tl, base), rate) * tl.envelope(rng)
    out = _vocal_tract(rng, tl, source, base) + _fricatives(rng, tl)
    out += rng.normal(0.0, 10 ** (-60 / 20), n)  # noise floor
    return out


@dataclass(frozen=True)
class _Timeline:
    """Syllables and pauses of one clip, and each sample's syllable."""

    rate: int
    t: npt.NDArray[np.float64]  # sample times, s
    starts: npt.NDArray[np.float64]  # syllable starts, s
    lengths: npt.NDArray[np.float64]  # syllable lengths, s
    pauses: npt.NDArray[np.float64]  # silence before each syllable, s
    idx: npt.NDArray[np.intp]  # each sample's syllable (the last one started)

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int, rate: int) -> _Timeline:
        length = n / rate
        lengths, pauses = np.empty(0), np.empty(0)
        while lengths.sum() + pauses.sum() < length + 1.0:
            count = int(length / _SYLLABLE_MEAN_S) + 8
            more = rng.gamma(_SYLLABLE_SHAPE, _SYLLABLE_MEAN_S / _SYLLABLE_SHAPE, count)
            gaps = np.where(rng.random(count) < _PAUSE_P, rng.uniform(0.15, 0.6, count), 0.0)
            lengths, pauses = np.concatenate((lengths, more)), np.concatenate((pauses, gaps))
        pauses[0] = rng.uniform(0.0, 0.3)  # lead-in silence
        starts = np.cumsum(pauses + np.concatenate(([0.0], lengths[:-1])))
        t = np.arange(n, dtype=np.float64) / rate
        idx = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return cls(rate, t, starts, lengths, pauses, idx)

    @property
    def onset(self) -> npt.NDArray[np.float64]:
        """Seconds since the current syllable started (negative before the first)."""
        return self.t - self.starts[self.idx]

    def envelope(self, rng: np.random.Generator) -> npt.NDArray[np.float64]:
        """A raised-sine loudness per syllable, 0 in pauses, random stress."""
        phase = self.onset / self.lengths[self.idx]
        inside = (phase >= 0) & (phase < 1)
        shape = np.where(inside, np.sin(np.pi * np.clip(phase, 0, 1)) ** 0.6, 0.0)
        return shape * rng.uniform(0.5, 1.0, len(self.starts))[self.idx]


def _pitch(rng: np.random.Generator, tl: _Timeline, base: float) -> npt.NDArray[np.float64]:
    """F0 in Hz: the speaker's base, a smooth contour, declination over each phrase."""
    knots = np.arange(0.0, tl.t[-1] + 0.4, 0.2)
    contour = np.interp(tl.t, knots, rng.normal(0.0, 0.12, len(knots)))
    phrase_start = np.maximum.accumulate(np.where(tl.pauses > 0, tl.starts, 0.0))[tl.idx]
    declination = 1.0 - 0.04 * np.minimum(tl.t - phrase_start, 3.0)
    return np.clip(base * (1.0 + contour) * declination, 80.0, 250.0)


def _glottal_source(
    rng: np.random.Generator, f0: npt.NDArray[np.float64], rate: int
) -> npt.NDArray[np.float64]:
    """An impulse per pitch period, -12 dB/octave pulse shape, +6 dB/octave lips, breath."""
    from scipy import signal

    pulses = np.diff(np.floor(np.cumsum(f0 / rate)), prepend=0.0)
    p = math.exp(-2.0 * math.pi * 200.0 / rate)
    source = signal.lfilter([1.0], [1.0, -2.0 * p, p * p], pulses)
    source = signal.lfilter([1.0, -0.97], [1.0], source)
    source /= max(float(np.abs(source).max()), 1e-12)
    return np.asarray(source + rng.normal(0.0, 0.02, len(f0)), dtype=np.float64)


def _vocal_tract(
    rng: np.random.Generator, tl: _Timeline, source: npt.NDArray[np.float64], base: float
) -> npt.NDArray[np.float64]:
    """Five vowels' formant cascades, cross-faded from syllable to syllable; peak 1."""
    from scipy import signal

    scale = rng.uniform(0.95, 1.12) * (1.0 + 0.12 * (base - 90.0) / 120.0)
    vowel_of = rng.integers(len(_VOWELS), size=len(tl.starts))
    mids = tl.starts + tl.lengths / 2.0
    voice = np.zeros(len(source))
    for k, formants in enumerate(_VOWELS):
        weight = np.interp(tl.t, mids, (vowel_of == k).astype(np.float64))
        if not weight.any():
            continue
        sos = [
            _resonator(f * scale, bw, tl.rate)
            for f, bw in zip(formants, _BANDWIDTHS, strict=True)
            if f * scale < 0.45 * tl.rate
        ]
        voice += weight * signal.sosfilt(np.array(sos), source)
    return voice / max(float(np.abs(voice).max()), 1e-12)


def _fricatives(rng: np.random.Generator, tl: _Timeline) -> npt.NDArray[np.float64]:
    """Band-passed noise bursts (3-7 kHz) at about a third of the syllable onsets."""
    from scipy import signal

    rate = tl.rate
    band = [min(3000.0, 0.3 * rate), min(7000.0, 0.45 * rate)]
    sos = signal.butter(4, band, btype="bandpass", fs=rate, output="sos")
    hiss = signal.sosfilt(sos, rng.normal(0.0, 1.0, len(tl.t)))
    onset = tl.onset
    span = rng.uniform(0.05, 0.12, len(tl.starts))[tl.idx]
    on = (rng.random(len(tl.starts)) < _FRICATIVE_P)[tl.idx] & (onset >= 0) & (onset < span)
    burst = np.where(on, np.sin(np.pi * np.clip(onset / span, 0, 1)), 0.0)
    return np.asarray(0.04 * burst * hiss / max(float(hiss.std()), 1e-12), dtype=np.float64)
