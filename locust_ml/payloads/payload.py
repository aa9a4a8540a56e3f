"""What a payload pool hands out: a :class:`Payload` per pick, and the pool itself.

A pick is the request path's only contact with payload generation, so its
shape is set by what sending needs: the body comes as ``parts``, the pool's
immutable buffers around a fresh nonce, never one buffer that every request
would have to copy first. A sender that can write a sequence of buffers
(``socket.sendmsg``) sends them as they are; code that builds a larger body
(a multipart upload) joins them into it; :attr:`Payload.data` joins them
once for everything else. Buffers are never mutated, so requests in flight
share no mutable state.

The builders live next door: :mod:`locust_ml.payloads.image_pool`,
:mod:`locust_ml.payloads.audio_pool`, and :func:`locust_ml.payloads.pool.build_pool`
from a profile.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_DRAWS",
    "DEFAULT_MAX_MB",
    "Payload",
    "PayloadPool",
    "PoolStats",
    "Progress",
    "make_payload",
]

#: Size draws a pool is built from, unless told otherwise.
DEFAULT_DRAWS: Final = 4096
#: A pool's cap on encoded bytes, in MiB, unless told otherwise.
DEFAULT_MAX_MB: Final = 64.0

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


def make_payload(parts: tuple[bytes | memoryview, ...], *fields: Mapping[str, Any]) -> Payload:
    """``Payload(parts, **fields)``, made faster: a pool's picker makes one per request.

    The dataclass's ``__init__`` sets eleven frozen fields one by one, a
    visible share of a pick; a picker keeps each variant's and each draw's
    fields in dicts built once, and this fills them in directly. Together the
    ``fields`` must name every field but ``parts`` (a test compares the
    result with ``Payload(...)``).
    """
    payload = object.__new__(Payload)
    values = payload.__dict__
    values["parts"] = parts
    for more in fields:
        values.update(more)
    return payload


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
