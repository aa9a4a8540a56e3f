"""Pre-encoded payload pools from a size profile: :func:`build_pool`.

Synthesizing and encoding a photograph takes tens of milliseconds, far more
than sending it; a load generator that encoded on the request path would
measure itself. A pool encodes ahead of the load (the Locust glue runs the
build in a thread or at test start, with a ``progress`` callback) and
:meth:`~locust_ml.payloads.payload.PayloadPool.pick` then costs a table
look-up and a 16-byte nonce. :func:`build_pool` reads a profile and hands its
size draws to the builder of its kind; each part of a pool lives in a module
of its own:

* :mod:`~locust_ml.payloads.payload`: what a pick returns (``Payload``,
  its body as ``parts``), the pool and its ``PoolStats``;
* :mod:`~locust_ml.payloads.buckets`: size draws grouped on a logarithmic
  grid, encoded variants per cell within ``max_mb``, the picker;
* :mod:`~locust_ml.payloads.image_pool` (``build_image_pool``): images, sent
  exactly at the common sizes, JPEG bytes matched to the trace's;
* :mod:`~locust_ml.payloads.audio_pool` (``build_audio_pool``): WAV cut to
  exact durations, FLAC on the grid;
* :mod:`~locust_ml.payloads.nonce`: cache busting, a per-pick nonce in a
  metadata field of each format, so that every pick's bytes are unique and
  the file stays valid.

**Cost of a pick.** A few microseconds whatever the payload's size: it
returns the body as ``parts`` (the pool's immutable buffers around a fresh
nonce). ``Payload.data`` joins them on first use, one copy at memory
speed (about 10-20 us per 100 KB, page faults included); senders that can
write several buffers at once skip that copy (the ML users send v2 bodies
with one ``sendmsg``). See ``benchmarks/payload_generation.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from locust_ml.errors import ConfigError
from locust_ml.payloads.audio_pool import build_audio_pool
from locust_ml.payloads.image_pool import build_image_pool
from locust_ml.payloads.payload import DEFAULT_DRAWS, DEFAULT_MAX_MB, PayloadPool, Progress

if TYPE_CHECKING:
    from locust_ml.traces.profile import Profile

__all__ = ["build_pool"]


def build_pool(
    profile: str | Profile,
    *,
    format: str | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    max_mb: float = DEFAULT_MAX_MB,
    progress: Progress | None = None,
) -> PayloadPool:
    """A pool for a profile: a bundled name, a path, or a :class:`~locust_ml.traces.Profile`.

    An image profile (``width`` and ``height`` columns) gives JPEG unless
    ``format`` says otherwise, an audio profile (``duration_s``) WAV. The
    profile is sampled ``draws`` times with ``seed``, and the pool built with
    the same seed.

    >>> import random
    >>> pool = build_pool("librispeech_durations", draws=64, max_mb=8)
    >>> p = pool.pick(random.Random(1))
    >>> p.content_type, abs(p.duration_s - p.target_duration_s) <= 0.5 / p.sample_rate
    ('audio/wav', True)
    """
    from locust_ml.traces.profile import Profile

    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ConfigError(f"draws must be an integer >= 1, got {draws!r}")
    prof = profile if isinstance(profile, Profile) else Profile.load(profile)
    columns = set(prof.column_names)
    sizes = prof.sampler(seed).sample(draws)
    if {"width", "height"} <= columns:
        return build_image_pool(
            sizes, format=format or "jpeg", seed=seed, max_mb=max_mb, progress=progress
        )
    if "duration_s" in columns:
        return build_audio_pool(
            sizes, format=format or "wav", seed=seed, max_mb=max_mb, progress=progress
        )
    raise ConfigError(
        f"profile {prof.name!r} has columns {', '.join(prof.column_names)}; a payload pool "
        "needs width and height (images) or duration_s (audio)"
    )
