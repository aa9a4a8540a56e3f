"""Decoded samples: WAV and FLAC, mono, resampled, datatypes, fixed lengths."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from locust_ml.errors import ConfigError
from locust_ml.payloads.audio import AudioGenerator, encode_flac, encode_wav
from locust_ml.payloads.pcm import PcmSpec, decode_audio, to_pcm


def tone(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return np.round(0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)


def test_wav_and_flac_decode_to_the_same_samples() -> None:
    samples = tone(16000, 0.25)
    for data in (encode_wav(samples, 16000), encode_flac(samples, 16000)):
        x, rate = decode_audio(data)
        assert rate == 16000
        np.testing.assert_allclose(x, samples / 32768.0, atol=1e-9)


def test_stereo_is_mixed_to_mono() -> None:
    left, right = tone(8000, 0.1), np.zeros(800, np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.column_stack([left, right]).tobytes())
    x, _ = decode_audio(buf.getvalue())
    np.testing.assert_allclose(x, left / 32768.0 / 2)


def test_resampling_keeps_duration_and_pitch() -> None:
    wav = encode_wav(tone(8000, 1.0, hz=440.0), 8000)
    x = to_pcm(wav, PcmSpec(rate=16000))
    assert x.shape == (1, 16000)
    assert x.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(x[0]))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second


@pytest.mark.parametrize(
    ("spec", "shape", "dtype"),
    [
        (PcmSpec(datatype="INT16", batched=False), (4000,), np.int16),
        (PcmSpec(datatype="FP16", length=16000), (1, 16000), np.float16),
        (PcmSpec(length=100), (1, 100), np.float32),
    ],
)
def test_datatypes_and_lengths(spec: PcmSpec, shape: tuple[int, ...], dtype: type) -> None:
    data = AudioGenerator(seed=3).audio(0.25, sample_rate=16000).data
    x = to_pcm(data, spec)
    assert (x.shape, x.dtype) == (shape, dtype)
    if spec.length == 16000:
        assert not np.any(x[0, 4000:])  # padded with silence


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="rate"):
        PcmSpec(rate=10)
    with pytest.raises(ConfigError, match="datatype"):
        PcmSpec(datatype="UINT8")
    with pytest.raises(ConfigError, match="length"):
        PcmSpec(length=0)
    with pytest.raises(ConfigError, match="cannot decode"):
        decode_audio(b"RIFF\x00\x00\x00\x00WAVEjunk")
