"""The speech model: real WAV/FLAC decoding, a log-mel spectrogram and a numpy network.

Like the image classifier, its weights are random (drawn from ``--seed``;
nothing is downloaded), so its "transcript" is a string of pseudo-words, but a
deterministic one: the same audio always gets the same words, and they follow
the audio's pauses. What it costs is real compute with the shape of a real
speech model, proportional to the audio's duration:

- **decoding**: WAV (PCM 8/16/24/32-bit, IEEE float 32/64-bit, plain or
  ``WAVE_FORMAT_EXTENSIBLE``) is parsed with :mod:`struct` here, since Python
  3.11's :mod:`wave` refuses float and extensible files; FLAC is decoded by
  ``soundfile`` (libsndfile). Channels are averaged to mono as they are
  decoded (16,384 frames at a time), so memory holds the mono signal, not
  every channel as float32;
- **resampling** to 16 kHz with :func:`scipy.signal.resample_poly` when the
  file has another rate (8 to 192 kHz accepted). 16 kHz input skips it;
- **log-mel spectrogram**: 25 ms Hann frames every 10 ms (400 and 160 samples),
  a 512-point FFT (:func:`numpy.fft.rfft`), the power spectrum through 80
  triangular mel filters computed here (HTK mel scale, 0 to 8 kHz), then the
  log, normalised per utterance: 100 frames per second of audio;
- **network**: per frame, two dense ReLU layers (80 -> 512 -> 512); a 1-D
  convolution over time (kernel 5, 512 -> 256, ReLU, as im2col + matmul); a
  dense layer to 41 classes (a blank and 40 syllables). About a million
  multiply-adds per frame, so about 0.1 GFLOP per second of audio;
- **decoding the classes**: class scores are averaged over 40 ms, the best
  class taken (greedy CTC: repeats collapsed, blanks dropped), and the
  syllables joined into words that break at pauses (40 ms steps more than
  4 nats below the clip's loudest) and after 4 syllables.

**What batching buys.** A batch concatenates every clip's frames, so each
dense layer and the convolution run as one matmul for the whole batch instead
of one per clip (the convolution's windows never straddle two clips: each clip
is zero-padded on its own). That saves per-call overhead and re-reads of the
weights (3.9 MB), which matters for short clips and little for long ones,
whose matmuls are large already. Decoding, resampling and the FFT are per clip.

Inputs, for the Open Inference Protocol: one ``audio`` tensor per request,
either ``BYTES`` of shape ``[1]`` holding a WAV or FLAC file, or the samples
as ``FP32`` of shape ``[1, N]``, mono at 16 kHz, in [-1, 1]. Clips longer than
``--max-audio-seconds`` get 413. Outputs: ``transcript`` (``BYTES``, ``[1]``)
and ``audio_seconds`` (``FP32``, ``[1]``), the duration the server decoded.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soundfile  # type: ignore[import-untyped]
from numpy.lib.stride_tricks import sliding_window_view

from locust_ml.server.metrics import ServerMetrics
from locust_ml.server.oneshot import InputError, Tensor, TensorSpec

__all__ = [
    "SAMPLE_RATE",
    "SYLLABLES",
    "AudioInfo",
    "AudioItem",
    "SpeechModel",
    "decode_audio",
    "frame_energy",
    "log_mel",
    "mel_filterbank",
    "probe_audio",
    "resample",
    "transcript",
]

#: The model's sample rate; other rates are resampled to it.
SAMPLE_RATE = 16_000
#: Sample rates accepted in files.
MIN_RATE, MAX_RATE = 8_000, 192_000
#: Frame length, hop and FFT size in samples (25 ms, 10 ms at 16 kHz).
WIN, HOP, N_FFT = 400, 160, 512
#: Mel bands.
N_MELS = 80
#: Width of the per-frame dense layers, and of the convolution's output.
HIDDEN, CONV_OUT = 512, 256
#: Kernel of the 1-D convolution over time, in frames.
KERNEL = 5
#: Frames averaged per output step (40 ms).
POOL = 4
#: A step this many nats below the clip's loudest is a pause.
PAUSE_NATS = 4.0
#: Most syllables per word.
MAX_SYLLABLES = 4
#: Frames per convolution im2col block.
CHUNK_FRAMES = 2048

SYLLABLES = tuple(c + v for c in "bdfgklmnprst" for v in "aeiou")[:40]
#: Output classes: a blank, then the syllables.
NUM_CLASSES = 1 + len(SYLLABLES)

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file's header says."""

    format: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


@dataclass(frozen=True, eq=False)
class AudioItem:
    """One request: an encoded file (decoded in the worker), or 16 kHz samples."""

    seconds: float
    encoded: bytes | None = None
    samples: Float32Array | None = None


@dataclass(frozen=True)
class _Wav:
    info: AudioInfo
    float_samples: bool
    bits: int
    offset: int
    size: int


_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _parse_wav(data: bytes) -> _Wav:
    """The layout of a RIFF/WAVE file: format chunk and data chunk."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError(400, "not a WAV file: no RIFF/WAVE header")
    pos = 12
    fmt: tuple[int, int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            if size < 16 or body + size > len(data):
                raise InputError(400, f"WAV format chunk is {size} bytes; at least 16 expected")
            tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and size >= 26:
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID
            fmt = (tag, channels, rate, align, bits)
        elif chunk == b"data":
            if fmt is None:
                raise InputError(400, "WAV data chunk comes before its format chunk")
            return _wav_layout(fmt, body, min(size, len(data) - body))
        pos = body + size + (size & 1)
    raise InputError(400, "WAV file has no format or no data chunk")


def _wav_layout(fmt: tuple[int, int, int, int, int], offset: int, size: int) -> _Wav:
    tag, channels, rate, align, bits = fmt
    if not (tag == _PCM and bits in (8, 16, 24, 32)) and not (tag == _FLOAT and bits in (32, 64)):
        raise InputError(
            400,
            f"WAV encoding (format tag {tag}, {bits} bits) is not supported; expected PCM "
            "8/16/24/32-bit or IEEE float 32/64-bit",
        )
    if channels < 1 or align != channels * bits // 8:
        raise InputError(400, f"WAV header is inconsistent: {channels} channels, align {align}")
    _check_rate(rate)
    info = AudioInfo("WAV", rate, channels, size // align)
    return _Wav(info, tag == _FLOAT, bits, offset, size - size % align)


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(
            400, f"sample rate {rate} Hz is not supported; expected {MIN_RATE} to {MAX_RATE} Hz"
        )


def probe_audio(data: bytes, max_seconds: float) -> AudioInfo:
    """What a WAV or FLAC file holds, from its header; no decoding.

    Raises :class:`InputError`: 400 for other bytes or unsupported encodings,
    413 beyond ``max_seconds``.
    """
    if data[:4] == b"RIFF":
        info = _parse_wav(data).info
    elif data[:4] == b"fLaC":
        try:
            sf_info = soundfile.info(io.BytesIO(data))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise InputError(400, f"can't read the FLAC header: {exc}") from None
        _check_rate(int(sf_info.samplerate))
        info = AudioInfo(
            "FLAC", int(sf_info.samplerate), int(sf_info.channels), int(sf_info.frames)
        )
    else:
        head = data[:8].hex(" ")
        raise InputError(
            400,
            f"audio bytes are neither WAV (RIFF) nor FLAC (fLaC); first bytes: {head or 'none'}",
        )
    if info.frames == 0:
        raise InputError(400, f"the {info.format} file holds no samples")
    if info.seconds > max_seconds:
        raise InputError(
            413,
            f"audio is {info.seconds:.2f} s; the limit is {max_seconds:g} s (--max-audio-seconds)",
        )
    return info


def decode_audio(data: bytes, max_seconds: float) -> Float32Array:
    """Decode a WAV or FLAC file to mono float32 samples at :data:`SAMPLE_RATE`.

    Channels are mixed as they are decoded, :data:`DECODE_BLOCK_FRAMES`
    frames at a time, so memory holds the mono signal (at most
    ``max_seconds`` x 192 kHz x 4 bytes: 92 MB at the default 120 s) plus one
    block of every channel, never every channel as float32 (an 8-channel
    FLAC of 187 KB once cost 786 MB).
    """
    info = probe_audio(data, max_seconds)
    mono = _decode_wav(data) if info.format == "WAV" else _decode_flac(data, info)
    if len(mono) == 0:
        raise InputError(400, f"the {info.format} file holds no samples")
    return resample(mono, info.sample_rate)


#: FLAC frames decoded (all channels) per block before they are mixed to mono.
DECODE_BLOCK_FRAMES = 16_384


def _decode_flac(data: bytes, info: AudioInfo) -> Float32Array:
    mono = np.empty(info.frames, dtype=np.float32)
    block = np.empty((DECODE_BLOCK_FRAMES, info.channels), dtype=np.float32)
    done = 0
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            while done < info.frames:
                got = f.read(min(DECODE_BLOCK_FRAMES, info.frames - done), out=block)
                if len(got) == 0:
                    break
                mono[done : done + len(got)] = (
                    got.mean(axis=1, dtype=np.float32) if info.channels > 1 else got[:, 0]
                )
                done += len(got)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InputError(400, f"can't decode the FLAC file: {exc}") from None
    return mono[:done]


def _decode_wav(data: bytes) -> Float32Array:
    """Mono float32 samples of a WAV file, decoded and mixed a block of frames at a time."""
    wav = _parse_wav(data)
    channels = wav.info.channels
    frame_bytes = channels * wav.bits // 8
    frames = wav.size // frame_bytes
    mono = np.empty(frames, dtype=np.float32)
    view = memoryview(data)
    for start in range(0, frames, DECODE_BLOCK_FRAMES):
        stop = min(frames, start + DECODE_BLOCK_FRAMES)
        raw = view[wav.offset + start * frame_bytes : wav.offset + stop * frame_bytes]
        x = _wav_samples(raw, wav).reshape(-1, channels)
        mono[start:stop] = x.mean(axis=1, dtype=np.float32) if channels > 1 else x[:, 0]
    return mono


def _wav_samples(raw: memoryview, wav: _Wav) -> Float32Array:
    """Interleaved samples of (part of) a WAV data chunk as float32 in [-1, 1]."""
    if wav.float_samples:
        x = np.frombuffer(raw, dtype="<f4" if wav.bits == 32 else "<f8").astype(np.float32)
        if not np.isfinite(x).all():
            raise InputError(400, "the WAV file holds NaN or infinite samples")
        return x
    if wav.bits == 8:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if wav.bits == 24:
        # Each 3-byte sample into the top of a little-endian int32; the arithmetic
        # shift back down sign-extends it (no int32 copy of every byte).
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = np.zeros(len(b), dtype="<i4")
        ints.view(np.uint8).reshape(-1, 4)[:, 1:] = b
        ints >>= 8
        return ints.astype(np.float32) / np.float32(1 << 23)
    ints16_32 = np.frombuffer(raw, dtype="<i2" if wav.bits == 16 else "<i4")
    return ints16_32.astype(np.float32) / np.float32(1 << (wav.bits - 1))


def resample(x: Float32Array, rate: int) -> Float32Array:
    """``x`` at ``rate`` Hz, resampled to :data:`SAMPLE_RATE` (polyphase)."""
    if rate == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly  # slow to import; only other rates need it

    g = math.gcd(rate, SAMPLE_RATE)
    return np.asarray(resample_poly(x, SAMPLE_RATE // g, rate // g), dtype=np.float32)


def mel_filterbank(
    n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE
) -> Float32Array:
    """Triangular filters on the HTK mel scale, 0 Hz to Nyquist: ``(n_fft // 2 + 1, n_mels)``."""

    def mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    edges = hz(np.linspace(0.0, float(mel(np.array(rate / 2.0))), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights.T.astype(np.float32)


_WINDOW = np.hanning(WIN + 1)[:WIN].astype(np.float32)  # periodic Hann
_FILTERS = mel_filterbank()


def log_mel(x: Float32Array) -> Float32Array:
    """Log-mel spectrogram of 16 kHz samples: ``(frames, 80)``, 100 frames per second."""
    if len(x) < WIN:
        x = np.pad(x, (0, WIN - len(x)))
    frames = sliding_window_view(x, WIN)[::HOP]
    out = np.empty((len(frames), N_MELS), dtype=np.float32)
    for start in range(0, len(frames), CHUNK_FRAMES):
        block = frames[start : start + CHUNK_FRAMES] * _WINDOW
        spectrum = np.fft.rfft(block, n=N_FFT, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
        out[start : start + CHUNK_FRAMES] = power @ _FILTERS
    np.log(out + np.float32(1e-6), out=out)
    return out


class SpeechModel:
    """The spectrogram, the network and the transcript (a ``OneShotModel``).

    ``build()`` must run before :meth:`run` or :meth:`frame_scores`.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        max_seconds: float = 120.0,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.seed = seed
        self.max_seconds = max_seconds
        self._metrics = metrics
        self._layers: list[tuple[Float32Array, Float32Array]] = []

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("audio", "BYTES", (1,)),)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("transcript", "BYTES", (1,)), TensorSpec("audio_seconds", "FP32", (1,)))

    @property
    def weight_bytes(self) -> int:
        """Bytes of the network's weights."""
        return sum(w.nbytes + b.nbytes for w, b in self._layers)

    def build(self) -> None:
        rng = np.random.default_rng(self.seed)
        shapes = [(N_MELS, HIDDEN), (HIDDEN, HIDDEN), (KERNEL * HIDDEN, CONV_OUT)]
        shapes.append((CONV_OUT, NUM_CLASSES))
        self._layers = []
        for fan_in, fan_out in shapes:
            scale = np.float32(np.sqrt(2.0 / fan_in))
            w = rng.standard_normal((fan_in, fan_out), dtype=np.float32) * scale
            b = rng.standard_normal(fan_out, dtype=np.float32) * np.float32(0.01)
            self._layers.append((w, b))

    # -- the network ---------------------------------------------------------

    def frame_scores(self, features: Sequence[Float32Array]) -> list[Float32Array]:
        """Class scores per frame, ``(frames, 41)``, for each clip's log-mel features.

        The clips' frames are concatenated so every layer is one matmul for
        the whole batch; each clip is zero-padded on its own for the convolution.
        """
        if not self._layers:
            raise RuntimeError("SpeechModel.build() must run before inference")
        (w1, b1), (w2, b2), (w3, b3), (w4, b4) = self._layers
        lengths = [len(f) for f in features]
        x = np.concatenate([_normalise(f) for f in features])
        h = _relu_affine(_relu_affine(x, w1, b1), w2, b2)
        pad = KERNEL // 2
        parts: list[Float32Array] = []
        zeros = np.zeros((pad, HIDDEN), dtype=np.float32)
        start = 0
        for n in lengths:
            parts += [zeros, h[start : start + n], zeros]
            start += n
        padded = np.concatenate(parts)
        # Windows centred on real frames: clip i's frames sit after (2i + 1) pads.
        centres = np.concatenate(
            [np.arange(n) + sum(lengths[:i]) + 2 * pad * i for i, n in enumerate(lengths)]
        )
        windows = sliding_window_view(padded, KERNEL, axis=0)  # (rows, HIDDEN, KERNEL)
        conv = np.empty((len(centres), CONV_OUT), dtype=np.float32)
        for c0 in range(0, len(centres), CHUNK_FRAMES):
            idx = centres[c0 : c0 + CHUNK_FRAMES]
            cols = windows[idx].reshape(len(idx), HIDDEN * KERNEL)
            conv[c0 : c0 + CHUNK_FRAMES] = _relu_affine(cols, w3, b3)
        scores = conv @ w4
        scores += b4
        return np.split(scores, np.cumsum(lengths)[:-1])

    # -- the OneShotModel contract ------------------------------------------

    def prepare(self, inputs: Mapping[str, Tensor], parameters: Mapping[str, object]) -> AudioItem:
        if set(inputs) != {"audio"}:
            got = ", ".join(repr(n) for n in inputs) or "none"
            raise InputError(400, f"this model takes exactly one input, 'audio'; got {got}")
        tensor = inputs["audio"]
        if tensor.datatype == "BYTES":
            if tensor.shape != (1,):
                raise InputError(
                    400,
                    f"input 'audio' has shape {list(tensor.shape)}; this model takes one "
                    "WAV or FLAC file per request, shape [1]",
                )
            encoded = tensor.data.reshape(-1)[0]
            return AudioItem(probe_audio(encoded, self.max_seconds).seconds, encoded=encoded)
        if tensor.datatype == "FP32":
            if len(tensor.shape) != 2 or tensor.shape[0] != 1 or tensor.shape[1] < 1:
                raise InputError(
                    400,
                    f"input 'audio' of datatype FP32 has shape {list(tensor.shape)}; expected "
                    "[1, N]: N mono samples at 16 kHz",
                )
            seconds = tensor.shape[1] / SAMPLE_RATE
            if seconds > self.max_seconds:
                raise InputError(
                    413,
                    f"audio is {seconds:.2f} s; the limit is {self.max_seconds:g} s "
                    "(--max-audio-seconds)",
                )
            samples = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
            if not np.isfinite(samples).all():
                raise InputError(400, "input 'audio' holds NaN or infinite values")
            return AudioItem(seconds, samples=samples)
        raise InputError(
            400,
            f"input 'audio' has datatype {tensor.datatype}; expected BYTES (a WAV or FLAC "
            "file, shape [1]) or FP32 samples of shape [1, N] at 16 kHz",
        )

    def run(self, items: Sequence[AudioItem]) -> list[list[Tensor] | InputError]:
        results: list[list[Tensor] | InputError] = []
        features: list[Float32Array] = []
        ok: list[int] = []
        for i, item in enumerate(items):
            try:
                samples = item.samples
                if item.encoded is not None:
                    samples = decode_audio(item.encoded, self.max_seconds)
                if samples is None:
                    raise InputError(400, "the request carried no audio")
            except InputError as exc:
                results.append(exc)
                continue
            results.append([])
            features.append(log_mel(samples))
            ok.append(i)
            if self._metrics is not None:
                self._metrics.audio_seconds.inc(item.seconds)
                if item.encoded is not None:
                    self._metrics.input_bytes.inc(len(item.encoded))
        if not features:
            return results
        for feats, scores, i in zip(features, self.frame_scores(features), ok, strict=True):
            text = transcript(scores, frame_energy(feats))
            seconds = np.array([items[i].seconds], dtype=np.float32)
            results[i] = [
                Tensor.of_bytes("transcript", [text.encode()], (1,)),
                Tensor("audio_seconds", "FP32", (1,), seconds),
            ]
        return results


def transcript(scores: Float32Array, energy: Float32Array) -> str:
    """Pseudo-words from per-frame class scores and per-frame log energy.

    Greedy CTC over 40 ms steps (repeats collapsed, blanks dropped); a word
    ends at a pause or after :data:`MAX_SYLLABLES` syllables.
    """
    steps = len(scores) // POOL or 1
    n = min(len(scores), steps * POOL)
    pooled = scores[:n].reshape(steps, -1, NUM_CLASSES).mean(axis=1)
    loud = energy[:n].reshape(steps, -1).mean(axis=1)
    pause = loud < loud.max() - PAUSE_NATS
    words: list[str] = []
    word: list[str] = []
    prev = -1
    for cls, silent in zip(pooled.argmax(axis=1).tolist(), pause.tolist(), strict=True):
        if silent or len(word) == MAX_SYLLABLES:
            if word:
                words.append("".join(word))
            word = []
        if silent:
            prev = -1
            continue
        if cls not in (prev, 0):
            word.append(SYLLABLES[cls - 1])
        prev = cls
    if word:
        words.append("".join(word))
    return " ".join(words)


def frame_energy(features: Float32Array) -> Float32Array:
    """Log of each frame's total mel power, from its log-mel features."""
    top: Float32Array = features.max(axis=1)
    energy: Float32Array = top + np.log(np.exp(features - top[:, None]).sum(axis=1))
    return energy


def _normalise(f: Float32Array) -> Float32Array:
    out: Float32Array = (f - f.mean()) / (f.std() + np.float32(1e-5))
    return out


def _relu_affine(x: Float32Array, w: Float32Array, b: Float32Array) -> Float32Array:
    y = x @ w
    y += b
    np.maximum(y, 0.0, out=y)
    return y
