"""Synthetic speech: exact durations, WAV and FLAC, sizes, spectrum, bad input."""

from __future__ import annotations

import io
import sys
import wave

import numpy as np
import pytest
import soundfile as sf  # type: ignore[import-untyped]
from scipy import signal

from locust_ml.errors import ConfigError, DependencyError
from locust_ml.payloads.audio import AudioGenerator, encode_flac, encode_wav, sample_count


@pytest.mark.parametrize(
    ("duration", "rate"),
    [(4.92, 16000), (2.845, 16000), (1 / 16000, 16000), (0.33333, 8000), (1.5, 44100), (3, 22050)],
)
def test_wav_duration_is_exact(duration: float, rate: int) -> None:
    clip = AudioGenerator(seed=1).audio(duration, rate)
    expected = round(duration * rate)
    assert clip.samples == expected
    with wave.open(io.BytesIO(clip.data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, rate)
        assert w.getnframes() == expected
        assert len(w.readframes(expected + 10)) == 2 * expected
    assert clip.nbytes == 44 + 2 * expected
    assert clip.duration_s == expected / rate
    assert clip.content_type == "audio/wav"


@pytest.mark.parametrize(("duration", "rate"), [(4.92, 16000), (0.5, 8000), (2.0, 48000)])
def test_flac_duration_is_exact_and_lossless(duration: float, rate: int) -> None:
    gen_a, gen_b = AudioGenerator(seed=2), AudioGenerator(seed=2)
    clip = gen_a.audio(duration, rate, format="flac")
    pcm = gen_b.waveform(duration, rate)
    decoded, decoded_rate = sf.read(io.BytesIO(clip.data), dtype="int16")
    assert clip.data[:4] == b"fLaC"
    assert clip.content_type == "audio/flac"
    assert (decoded_rate, len(decoded), clip.samples) == (rate, round(duration * rate), len(pcm))
    np.testing.assert_array_equal(decoded, pcm)


def test_long_clips_are_exact_and_bounded() -> None:
    """Past a minute, speech is made a minute at a time: length still exact."""
    pcm = AudioGenerator(seed=8).waveform(61.5, 8000)
    assert len(pcm) == 492_000
    second_minute = pcm[60 * 8000 :].astype(np.float64)
    assert np.abs(second_minute).max() > 1000  # the tail is speech, not padding


def test_sizes_scale_with_duration() -> None:
    gen = AudioGenerator(seed=3)
    wav = [gen.audio(d, 16000).nbytes for d in (1.0, 2.0, 8.0)]
    assert wav == [44 + 32000, 44 + 64000, 44 + 256000]
    flac = [gen.audio(d, 16000, format="flac").nbytes for d in (2.0, 4.0, 16.0)]
    assert 1.6 < flac[1] / flac[0] < 2.4
    assert 6.4 < flac[2] / flac[0] < 9.6
    assert 0.3 < flac[2] / (2 * 16 * 16000) < 0.8  # compresses like speech, not like noise


def test_spectrum_is_speech_like() -> None:
    rate = 16000
    pcm = AudioGenerator(seed=4).waveform(10.0, rate).astype(np.float64)
    power = np.abs(np.fft.rfft(pcm)) ** 2
    f = np.fft.rfftfreq(len(pcm), 1 / rate)
    assert power[f < 4000].sum() / power.sum() > 0.9  # energy mostly below 4 kHz
    in_band = [power[(f >= a) & (f < a * 2)].mean() for a in (250, 500, 1000, 2000, 4000)]
    assert in_band[0] > in_band[2] > in_band[4]  # falls with frequency: not white
    flatness = np.exp(np.mean(np.log(power[1:] + 1e-9))) / power[1:].mean()
    assert flatness < 0.1  # white noise is ~0.56


def test_pitch_and_syllable_rhythm() -> None:
    rate = 16000
    pcm = AudioGenerator(seed=5).waveform(20.0, rate).astype(np.float64)
    frame = rate // 100  # 10 ms frames
    envelope = np.sqrt((pcm.reshape(-1, frame) ** 2).mean(axis=1))
    nuclei, _ = signal.find_peaks(envelope, prominence=0.1 * envelope.max(), distance=8)
    voiced_s = np.count_nonzero(envelope > 0.01 * envelope.max()) * 0.01
    assert 3.0 <= len(nuclei) / voiced_s <= 7.0  # syllables per second of voice
    assert 0.05 <= np.mean(envelope < 0.03 * envelope.max()) <= 0.4  # pauses, not too many
    loud = pcm[int(np.argmax(envelope)) * frame :][: rate // 10]
    ac = np.correlate(loud, loud, "full")[len(loud) - 1 :]
    lag = np.argmax(ac[rate // 250 : rate // 80]) + rate // 250
    assert 80 <= rate / lag <= 250  # a voice's pitch


def test_seeded_and_varied() -> None:
    a, b = AudioGenerator(seed=6), AudioGenerator(seed=6)
    first = [a.audio(1.0).data for _ in range(3)]
    assert first == [b.audio(1.0).data for _ in range(3)]
    assert len(set(first)) == 3


def test_encoders_round_trip() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    with wave.open(io.BytesIO(encode_wav(pcm, 8000))) as w:
        assert np.frombuffer(w.readframes(5), "<i2").tolist() == pcm.tolist()
    flac = encode_flac(pcm, 8000, comment="hello")
    with sf.SoundFile(io.BytesIO(flac)) as f:
        assert f.comment == "hello"
        assert f.read(dtype="int16").tolist() == pcm.tolist()


def test_flac_without_soundfile_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(DependencyError, match="locust-ml\\[audio\\]"):
        AudioGenerator().audio(1.0, format="flac")
    AudioGenerator().audio(1.0, format="wav")  # WAV needs only the standard library


@pytest.mark.parametrize(
    ("duration", "rate", "fmt", "match"),
    [
        (0.0, 16000, "wav", "duration must be > 0"),
        (-1.0, 16000, "wav", "duration must be > 0"),
        (float("nan"), 16000, "wav", "duration must be > 0"),
        ("3", 16000, "wav", "duration must be a number"),
        (1e-6, 16000, "wav", "less than one sample"),
        (1.0, 0, "wav", "sample_rate must be 1000..384000"),
        (1.0, -16000, "wav", "sample_rate must be 1000..384000"),
        (1.0, 16000.5, "wav", "sample_rate must be an integer"),
        (1.0, 16000, "mp3", "unknown audio format 'mp3'"),
    ],
)
def test_bad_input_is_a_config_error(duration: object, rate: object, fmt: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AudioGenerator().audio(duration, rate, format=fmt)  # type: ignore[arg-type]


def test_sample_count_rounds() -> None:
    assert sample_count(4.92, 16000) == 78720
    assert sample_count(1.00003, 16000) == 16000
    assert sample_count(1.00004, 16000) == 16001
