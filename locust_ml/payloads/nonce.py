"""Cache busting: where each format carries a per-pick nonce and stays valid.

A server must not be able to cache its way to a good result, so every pick's
bytes are unique: a 16-hex-digit nonce from the caller's generator goes into
a metadata field that decoders skip and that keeps the file valid:

* JPEG: a ``COM`` segment after ``APP0`` (JFIF wants ``APP0`` right after SOI);
* PNG: a ``tEXt`` chunk after ``IHDR``, its CRC-32 finished per pick from the
  running CRC kept in the slot;
* WebP: the file is rewritten once to the extended format (``VP8X``) with an
  unknown chunk at the end, which the container spec has readers skip;
* WAV: a ``LIST/INFO/ICMT`` chunk before ``data`` (:func:`wav_info_chunk`);
* FLAC: a Vorbis comment written at encoding (``FLAC_MARKER``), so the audio
  frames and their CRCs are untouched.

Each encoded variant is cut once, at build time, into a :data:`Slot`: the
bytes before the nonce, the bytes after it, and for PNG the running CRC. A
pick then costs a 16-byte nonce (and a CRC over it), never a copy of the file.
"""

from __future__ import annotations

import random
import struct
import zlib
from typing import Final

from locust_ml.errors import ConfigError

__all__ = ["FLAC_MARKER", "NONCE_LENGTH", "NONCE_PREFIX", "Slot", "nonce", "slot", "wav_info_chunk"]

#: Length of the per-pick nonce written into each payload's metadata.
NONCE_LENGTH: Final = 16
#: What precedes the nonce in every format's metadata field.
NONCE_PREFIX: Final = b"locust-ml "
#: The Vorbis comment a FLAC payload is encoded with: the nonce replaces the zeros.
FLAC_MARKER: Final = NONCE_PREFIX + b"0" * NONCE_LENGTH

#: ``(head, tail, crc)`` around the nonce; ``crc`` is None, or the running
#: CRC-32 of a PNG chunk up to the nonce.
Slot = tuple[bytes, bytes, int | None]


def nonce(rng: random.Random) -> bytes:
    """:data:`NONCE_LENGTH` hex digits from ``rng``."""
    return b"%016x" % rng.getrandbits(64)


def slot(data: bytes, fmt: str) -> Slot:
    """Cut an encoded file (``jpeg``, ``png``, ``webp`` or ``flac``) around its nonce."""
    if fmt == "jpeg":  # a COM segment after APP0 (JFIF wants APP0 right after SOI)
        at = 4 + int.from_bytes(data[4:6], "big") if data[2:4] == b"\xff\xe0" else 2
        length = (2 + len(NONCE_PREFIX) + NONCE_LENGTH).to_bytes(2, "big")
        return data[:at] + b"\xff\xfe" + length + NONCE_PREFIX, data[at:], None
    if fmt == "png":  # a tEXt chunk after IHDR
        at = 8 + 12 + int.from_bytes(data[8:12], "big")
        text = b"Comment\x00" + NONCE_PREFIX
        head = data[:at] + struct.pack(">I", len(text) + NONCE_LENGTH) + b"tEXt" + text
        return head, data[at:], zlib.crc32(b"tEXt" + text)
    if fmt == "webp":
        return _webp_slot(data)
    if fmt == "flac":  # the Vorbis comment written at encoding
        at = data.index(FLAC_MARKER) + len(NONCE_PREFIX)
        return data[:at], data[at + NONCE_LENGTH :], None
    raise ConfigError(f"no nonce slot for format {fmt!r}")  # pragma: no cover


def _webp_slot(data: bytes) -> Slot:
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
    extra = len(NONCE_PREFIX) + NONCE_LENGTH
    riff = b"RIFF" + struct.pack("<I", 4 + len(body) + 8 + extra) + b"WEBP"
    return riff + body + b"LCST" + struct.pack("<I", extra) + NONCE_PREFIX, b"", None


def wav_info_chunk() -> tuple[bytes, bytes]:
    """A ``LIST/INFO/ICMT`` chunk around the nonce: (head, tail = NUL and pad byte)."""
    text = len(NONCE_PREFIX) + NONCE_LENGTH + 1
    pad = text & 1
    head = b"LIST" + struct.pack("<I", 4 + 8 + text + pad) + b"INFO"
    head += b"ICMT" + struct.pack("<I", text) + NONCE_PREFIX
    return head, bytes(1 + pad)
