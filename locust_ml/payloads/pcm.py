"""Decoded audio as a speech model's input tensor: mono samples at the model's rate.

Speech models exported as graphs (wav2vec2, Whisper's encoder behind a
feature extractor) take a waveform, not a WAV file: the client decodes and
resamples. :func:`to_pcm` does it the way such clients do: decode (WAV with
the standard library, FLAC with ``soundfile``), mix to mono, resample to the
model's rate (``scipy.signal.resample_poly``, a polyphase low-pass filter),
then floats in [-1, 1] (``FP32``, ``FP16``, ``FP64``) or 16-bit integers
(``INT16``); a fixed ``length`` pads with silence or cuts.

It runs once per pool variant, before the test (:mod:`.tensor_pool`). Pure.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError

__all__ = ["PcmSpec", "decode_audio", "to_pcm"]

_DTYPES: Final = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "INT16": np.int16}


@dataclass(frozen=True)
class PcmSpec:
    """Samples a model takes: ``rate`` Hz, datatype, ``[n]`` or ``[1, n]``, maybe a fixed length."""

    rate: int = 16000
    datatype: str = "FP32"
    batched: bool = True
    length: int | None = None

    def __post_init__(self) -> None:
        if not 1000 <= self.rate <= 384000:
            raise ConfigError(f"samples: rate {self.rate} Hz must be 1000-384000")
        if self.datatype not in _DTYPES:
            raise ConfigError(
                f"samples: datatype {self.datatype!r}, expected one of {', '.join(_DTYPES)}"
            )
        if self.length is not None and self.length < 1:
            raise ConfigError(f"samples: length {self.length} must be positive")

    def shape(self, samples: int) -> tuple[int, ...]:
        return (1, samples) if self.batched else (samples,)


def decode_audio(data: bytes) -> tuple[npt.NDArray[np.float64], int]:
    """An encoded WAV (PCM 8/16/32-bit) or FLAC file as mono floats in [-1, 1], and its rate."""
    if data[:4] == b"RIFF":
        try:
            with wave.open(io.BytesIO(data)) as w:
                width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise ConfigError(f"samples: cannot decode the WAV file: {exc}") from None
        if width == 1:
            x = (np.frombuffer(frames, np.uint8).astype(np.float64) - 128.0) / 128.0
        elif width in (2, 4):
            ints = np.frombuffer(frames, np.dtype(f"<i{width}"))
            x = ints.astype(np.float64) / float(2 ** (8 * width - 1))
        else:
            raise ConfigError(f"samples: {8 * width}-bit WAV is not supported")
        return x.reshape(-1, channels).mean(axis=1), rate
    from locust_ml.payloads.audio import _soundfile

    try:
        samples, rate = _soundfile().read(io.BytesIO(data), dtype="float64", always_2d=True)
    except RuntimeError as exc:
        raise ConfigError(f"samples: cannot decode the audio file: {exc}") from None
    return samples.mean(axis=1), int(rate)


def to_pcm(data: bytes, spec: PcmSpec) -> npt.NDArray[np.generic]:
    """The encoded audio ``data`` as ``spec``'s tensor (see the module docstring).

    >>> from locust_ml.payloads.audio import AudioGenerator
    >>> wav = AudioGenerator(seed=1).audio(0.5, sample_rate=8000).data
    >>> x = to_pcm(wav, PcmSpec(rate=16000))
    >>> x.shape, x.dtype.name, bool(abs(x).max() <= 1)
    ((1, 8000), 'float32', True)
    """
    from scipy.signal import resample_poly

    x, rate = decode_audio(data)
    if rate != spec.rate:
        g = math.gcd(rate, spec.rate)
        x = resample_poly(x, spec.rate // g, rate // g)
    if spec.length is not None:
        x = np.pad(x[: spec.length], (0, max(0, spec.length - len(x))))
    x = np.clip(x, -1.0, 1.0)
    if spec.datatype == "INT16":
        out: npt.NDArray[np.generic] = np.round(x * 32767.0).astype(np.int16)
    else:
        out = x.astype(_DTYPES[spec.datatype])
    return out.reshape(spec.shape(len(x)))
