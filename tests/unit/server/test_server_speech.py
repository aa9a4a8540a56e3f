"""The speech model: WAV and FLAC decoding, resampling, the log-mel spectrogram,
the network's shapes and determinism, batching that doesn't change answers,
the transcript's rules, input checks."""

from __future__ import annotations

import io
import struct
import wave
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from locust_ml.server.models import speech
from locust_ml.server.models.speech import (
    SAMPLE_RATE,
    SYLLABLES,
    AudioItem,
    SpeechModel,
    decode_audio,
    log_mel,
    mel_filterbank,
    probe_audio,
    transcript,
)
from locust_ml.server.oneshot import InputError, Tensor

Samples = npt.NDArray[np.float32]


def _voice(seconds: float, rate: int = SAMPLE_RATE, seed: int = 0) -> Samples:
    """Speech-like: a gliding voiced tone in bursts (about 2.5 a second) with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    bursts = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(np.float64)
    pitch = 150 + 40 * np.sin(2 * np.pi * 0.7 * t)
    tone = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.1 * np.sin(2 * np.pi * 3.1 * pitch * t)
    return (tone * bursts + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def _wav_pcm16(x: Samples, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _riff(
    tag: int, channels: int, rate: int, bits: int, data: bytes, *, ext: bool = False
) -> bytes:
    """A hand-built WAV file (the stdlib can't write float or extensible ones)."""
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if ext else tag, channels, rate, rate * align, align, bits)
    if ext:
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # an odd-sized chunk to skip
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _flac(x: Samples, rate: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, x, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def model() -> SpeechModel:
    m = SpeechModel(seed=0)
    m.build()
    return m


def test_wav_pcm16_decodes_to_the_samples() -> None:
    x = _voice(0.5)
    data = _wav_pcm16(x)
    info = probe_audio(data, 120.0)
    assert (info.format, info.sample_rate, info.channels, info.frames) == ("WAV", 16000, 1, 8000)
    assert info.seconds == 0.5
    out = decode_audio(data, 120.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, atol=1 / 16000)


def test_stereo_is_averaged_to_mono() -> None:
    x = _voice(0.2)
    stereo = np.stack([x, np.zeros_like(x)], axis=1).reshape(-1)
    out = decode_audio(_wav_pcm16(stereo, channels=2), 120.0)
    np.testing.assert_allclose(out, x / 2, atol=1 / 16000)


@pytest.mark.parametrize(
    ("tag", "bits", "encode"),
    [
        (1, 8, lambda x: (np.round(x * 127) + 128).astype(np.uint8).tobytes()),
        (
            1,
            24,
            lambda x: b"".join(
                int(v).to_bytes(3, "little", signed=True) for v in np.round(x * (2**23 - 1))
            ),
        ),
        (1, 32, lambda x: np.round(x * (2**31 - 1)).astype("<i4").tobytes()),
        (3, 32, lambda x: x.astype("<f4").tobytes()),
        (3, 64, lambda x: x.astype("<f8").tobytes()),
    ],
)
@pytest.mark.parametrize("ext", [False, True])
def test_other_wav_encodings(tag: int, bits: int, encode: Any, ext: bool) -> None:
    x = _voice(0.05)
    out = decode_audio(_riff(tag, 1, SAMPLE_RATE, bits, encode(x), ext=ext), 120.0)
    np.testing.assert_allclose(out, x, atol=1.5 / 128 if bits == 8 else 1e-5)


def test_flac_decodes() -> None:
    x = _voice(0.5)
    data = _flac(x)
    info = probe_audio(data, 120.0)
    assert (info.format, info.sample_rate, info.frames) == ("FLAC", 16000, 8000)
    np.testing.assert_allclose(decode_audio(data, 120.0), x, atol=1 / 16000)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_other_rates_are_resampled_to_16k(rate: int) -> None:
    x = _voice(0.25, rate)
    out = decode_audio(_wav_pcm16(x, rate), 120.0)
    assert len(out) == pytest.approx(0.25 * SAMPLE_RATE, abs=1)
    # A 150-200 Hz voice survives resampling: the energy is about the same.
    assert np.mean(out**2) == pytest.approx(np.mean(x**2), rel=0.1)


@pytest.mark.parametrize(
    ("data", "status", "match"),
    [
        (b"ID3 certainly not audio", 400, "neither WAV .RIFF. nor FLAC"),
        (b"", 400, "first bytes: none"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", 400, "no format or no data chunk"),
        (_riff(1, 1, 16000, 12, b"\x00" * 30), 400, "12 bits"),
        (_riff(2, 1, 16000, 16, b"\x00" * 30), 400, "format tag 2"),
        (_riff(1, 1, 4000, 16, b"\x00" * 30), 400, "4000 Hz is not supported"),
        (_riff(1, 1, 16000, 16, b""), 400, "holds no samples"),
        (_wav_pcm16(np.zeros(16001, np.float32)), 413, "1.00 s; the limit is 1 s"),
        (_flac(np.zeros(16001, np.float32)), 413, "--max-audio-seconds"),
        (b"fLaC" + b"\x00" * 40, 400, "FLAC header"),
    ],
)
def test_probe_refuses_with_a_status(data: bytes, status: int, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        probe_audio(data, 1.0)
    assert info.value.status == status


def test_nan_float_wav_is_refused() -> None:
    data = _riff(3, 1, 16000, 32, np.array([0.0, np.nan], "<f4").tobytes())
    with pytest.raises(InputError, match="NaN"):
        decode_audio(data, 1.0)


def test_mel_filterbank() -> None:
    fb = mel_filterbank()
    assert fb.shape == (257, 80)
    assert (fb >= 0).all()
    # Every band catches some bin (the lowest are narrower than a bin: 31.25 Hz).
    assert (fb.max(axis=0) > 0.25).all()
    peaks = fb.argmax(axis=0)
    assert (np.diff(peaks) >= 0).all()  # bands ascend in frequency


def test_log_mel_has_100_frames_a_second_and_finds_the_pitch() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    feats = log_mel(tone)
    assert feats.shape == (1 + (SAMPLE_RATE - 400) // 160, 80)
    loudest = int(np.median(feats.argmax(axis=1)))
    centres = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 82)[1:-1] / 2595) - 1)
    assert abs(centres[loudest] - 1000) < 100
    assert log_mel(np.zeros(10, np.float32)).shape == (1, 80)  # padded to one frame


def test_frame_scores_shapes_and_seed(model: SpeechModel) -> None:
    feats = [log_mel(_voice(0.3)), log_mel(_voice(0.1, seed=1))]
    scores = model.frame_scores(feats)
    assert [s.shape for s in scores] == [(len(feats[0]), 41), (len(feats[1]), 41)]
    other = SpeechModel(seed=1)
    other.build()
    assert not np.allclose(other.frame_scores(feats)[0], scores[0])
    assert model.weight_bytes > 3_000_000


def _answer(result: list[Tensor] | InputError) -> tuple[str, float]:
    assert not isinstance(result, InputError), result
    text, seconds = result
    assert (text.name, text.datatype, text.shape) == ("transcript", "BYTES", (1,))
    assert (seconds.name, seconds.datatype, seconds.shape) == ("audio_seconds", "FP32", (1,))
    return bytes(text.data[0]).decode(), float(seconds.data[0])


def test_transcript_is_deterministic_pseudo_words(model: SpeechModel) -> None:
    data = _wav_pcm16(_voice(2.0))
    text, seconds = _answer(model.run([AudioItem(2.0, encoded=data)])[0])
    assert seconds == 2.0
    words = text.split()
    assert len(words) >= 4  # about 5 bursts, so at least a word each
    syllables = set(SYLLABLES)
    for word in words:
        assert len(word) % 2 == 0
        assert all(word[i : i + 2] in syllables for i in range(0, len(word), 2))
    assert _answer(model.run([AudioItem(2.0, encoded=data)])[0])[0] == text


def test_batching_does_not_change_answers(model: SpeechModel) -> None:
    items = [
        AudioItem(0.7, encoded=_wav_pcm16(_voice(0.7, seed=1))),
        AudioItem(0.05, samples=_voice(0.05, seed=2)),
        AudioItem(1.3, encoded=_flac(_voice(1.3, seed=3))),
        AudioItem(0.7, encoded=_wav_pcm16(_voice(0.7, seed=1))),
    ]
    batched = [_answer(r) for r in model.run(items)]
    alone = [_answer(model.run([item])[0]) for item in items]
    assert batched == alone
    assert batched[0] == batched[3]


def test_a_bad_item_fails_alone(model: SpeechModel) -> None:
    good = AudioItem(0.3, encoded=_wav_pcm16(_voice(0.3)))
    bad = AudioItem(1.0, encoded=_riff(3, 1, 16000, 32, np.array([np.inf], "<f4").tobytes()))
    results = model.run([good, bad, good])
    assert isinstance(results[1], InputError)
    assert _answer(results[0]) == _answer(results[2])


def test_transcript_rules() -> None:
    n = speech.NUM_CLASSES

    def scores(classes: list[int]) -> Samples:
        out = np.zeros((4 * len(classes), n), np.float32)
        for step, cls in enumerate(classes):
            out[4 * step : 4 * step + 4, cls] = 1.0
        return out

    loud = np.zeros(4 * 9, np.float32)
    # Repeats collapse, blanks drop (and separate repeats), 4 syllables at most a word.
    classes = [1, 1, 0, 1, 2, 3, 4, 5, 6]
    assert transcript(scores(classes), loud) == "bababebi bobuda"
    # A quiet step (a pause) ends the word.
    quiet = loud.copy()
    quiet[8:12] = -10.0
    assert transcript(scores([1, 2, 3, 4, 5, 6, 7, 8, 9]), quiet) == "babe bobudade dido"


def _bytes_tensor(data: bytes, shape: tuple[int, ...] = (1,)) -> Tensor:
    return Tensor.of_bytes("audio", [data] * int(np.prod(shape)), shape)


def test_prepare_accepts_files_and_samples(model: SpeechModel) -> None:
    data = _wav_pcm16(_voice(0.25))
    item = model.prepare({"audio": _bytes_tensor(data)}, {})
    assert (item.seconds, item.encoded) == (0.25, data)
    x = _voice(0.5)
    item = model.prepare({"audio": Tensor("audio", "FP32", (1, len(x)), x[None])}, {})
    assert item.seconds == 0.5
    assert item.samples is not None


@pytest.mark.parametrize(
    ("inputs", "status", "match"),
    [
        ({}, 400, "exactly one input, 'audio'"),
        ({"audio": _bytes_tensor(b"RIFF", (1, 1))}, 400, r"shape \[1, 1\]"),
        ({"audio": Tensor("audio", "INT16", (1, 4), np.zeros((1, 4), np.int16))}, 400, "INT16"),
        ({"audio": Tensor("audio", "FP32", (4,), np.zeros(4, np.float32))}, 400, r"\[1, N\]"),
        (
            {"audio": Tensor("audio", "FP32", (1, 2), np.array([[0, np.inf]], np.float32))},
            400,
            "NaN or infinite",
        ),
        (
            {"audio": Tensor("audio", "FP32", (1, 16001), np.zeros((1, 16001), np.float32))},
            413,
            "--max-audio-seconds",
        ),
        ({"audio": _bytes_tensor(b"OggS....")}, 400, "neither WAV"),
    ],
)
def test_prepare_refuses_bad_inputs(inputs: dict[str, Tensor], status: int, match: str) -> None:
    short = SpeechModel(max_seconds=1.0)
    with pytest.raises(InputError, match=match) as info:
        short.prepare(inputs, {})
    assert info.value.status == status


@pytest.mark.parametrize(
    ("fmt", "subtype"), [("FLAC", "PCM_16"), ("WAV", "PCM_16"), ("WAV", "PCM_24")]
)
def test_channels_are_mixed_as_decoded_memory_holds_one_block(fmt: str, subtype: str) -> None:
    # Issue 13: every channel was decoded to float32 before the mix (+786 MB for one
    # 187 KB 8-channel FLAC). Now the peak is the mono signal plus one block of frames.
    import io
    import tracemalloc

    from scipy.signal import resample_poly

    rng = np.random.default_rng(7)
    t = np.arange(5 * 48_000) / 48_000
    channels = np.stack([np.sin(2 * np.pi * (100 + 50 * c) * t) for c in range(8)], axis=1)
    channels = (0.1 * channels + 0.01 * rng.standard_normal(channels.shape)).astype(np.float32)
    buf = io.BytesIO()
    soundfile.write(buf, channels, 48_000, format=fmt, subtype=subtype)
    data = buf.getvalue()
    decode_audio(data, 120.0)  # imports and caches first
    tracemalloc.start()
    try:
        mono = decode_audio(data, 120.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    all_channels = channels.nbytes  # 7.3 MB as float32
    assert peak < 0.4 * all_channels, (peak, all_channels)
    decoded, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    expected = resample_poly(decoded.mean(axis=1, dtype=np.float32), 1, 3).astype(np.float32)
    np.testing.assert_allclose(mono, expected, atol=1e-6)
