"""Mooncake request traces: arrival times, lengths and the prefix blocks each prompt shares.

The Mooncake traces (Qin et al., FAST 2025) are JSON Lines, one request a
line::

    {"timestamp": 27482, "input_length": 1500, "output_length": 52, "hash_ids": [46, 47, 2353]}

``timestamp`` is milliseconds since the trace's start, the lengths are
tokens, and ``hash_ids`` are ids of the prompt's 512-token blocks, in order:
two requests whose lists start with the same ``k`` ids share their first
``k x 512`` prompt tokens, which a prefix cache can reuse. The last block
may be partial. Unlike a size trace (:mod:`~locust_ml.traces.read`), a
Mooncake trace says *which* requests share prefixes, so replaying it with
prompts made block by block (:mod:`locust_ml.payloads.blocks`) reproduces
the cache behaviour of the workload, not only its lengths.

:func:`read_mooncake` reads and checks a file (one :class:`~locust_ml.errors.TraceError`
naming the line and the field at the first bad value); :func:`prefix_reuse`
computes from the ids alone what a prefix cache with unlimited room would
hit: a request's hits are its leading blocks up to the first id no earlier
request had, capped at its ``input_length`` (the ground truth the reference
server's cache is checked against).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import TraceError

__all__ = [
    "BLOCK_TOKENS",
    "MooncakeRequest",
    "MooncakeTrace",
    "PrefixReuse",
    "is_mooncake",
    "prefix_reuse",
    "read_mooncake",
    "replay_row",
]

#: Tokens per prefix block in the Mooncake traces.
BLOCK_TOKENS: Final = 512
_FIELDS: Final = ("timestamp", "input_length", "output_length", "hash_ids")


@dataclass(frozen=True)
class MooncakeRequest:
    """One line of a Mooncake trace."""

    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...]


@dataclass(frozen=True)
class MooncakeTrace:
    """The requests of a Mooncake trace, in file (and time) order."""

    path: str
    requests: tuple[MooncakeRequest, ...]

    def __len__(self) -> int:
        return len(self.requests)

    def timestamps_s(self) -> npt.NDArray[np.float64]:
        """Arrival times in seconds from the first request (which is 0.0)."""
        ms = np.fromiter((r.timestamp_ms for r in self.requests), np.float64, len(self.requests))
        out: npt.NDArray[np.float64] = (ms - ms[0]) / 1000.0 if ms.size else ms
        return out

    @property
    def duration_s(self) -> float:
        """Seconds from the first arrival to the last."""
        if not self.requests:
            return 0.0
        return (self.requests[-1].timestamp_ms - self.requests[0].timestamp_ms) / 1000.0


def _where(path: str, line: int) -> str:
    return f"{path}, line {line}"


def _int_field(doc: dict[str, Any], name: str, where: str, minimum: int) -> int:
    value = doc.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise TraceError(f"{where}: {name} is {value!r}; expected a whole number >= {minimum}")
    if value < minimum:
        raise TraceError(f"{where}: {name} is {value!r}; expected a whole number >= {minimum}")
    return int(value)


def _request(doc: Any, where: str, block_tokens: int) -> MooncakeRequest:
    if not isinstance(doc, dict):
        raise TraceError(f"{where}: expected a JSON object with {', '.join(_FIELDS)}")
    missing = [f for f in _FIELDS if f not in doc]
    if missing:
        raise TraceError(
            f"{where}: no {', '.join(missing)}; a Mooncake line has {', '.join(_FIELDS)}"
        )
    ts = doc["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts < 0:
        raise TraceError(f"{where}: timestamp is {ts!r}; expected milliseconds >= 0")
    input_length = _int_field(doc, "input_length", where, 1)
    output_length = _int_field(doc, "output_length", where, 1)
    ids = doc["hash_ids"]
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
    ):
        raise TraceError(f"{where}: hash_ids must be a list of whole numbers >= 0")
    needed = math.ceil(input_length / block_tokens)
    if len(ids) < needed:
        raise TraceError(
            f"{where}: {len(ids)} hash_ids for input_length {input_length}; "
            f"expected {needed} (one per {block_tokens}-token block)"
        )
    return MooncakeRequest(float(ts), input_length, output_length, tuple(ids))


def _lines(path: str) -> Iterable[tuple[int, str]]:
    try:
        with Path(path).open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise TraceError(f"{_where(path, number)}: not UTF-8 text") from None
                if text.strip():
                    yield number, text
    except OSError as exc:
        raise TraceError(f"{path}: cannot read the trace ({exc.strerror or exc})") from None


def read_mooncake(
    path: str | Path, *, limit: int | None = None, block_tokens: int = BLOCK_TOKENS
) -> MooncakeTrace:
    """The first ``limit`` requests (all without one) of the Mooncake trace at ``path``.

    Timestamps must not go back in time: replay pairs the ``i``-th arrival
    with the ``i``-th line.
    """
    if limit is not None and limit < 1:
        raise TraceError(f"{path}: limit must be >= 1 request, got {limit}")
    name = str(path)
    requests: list[MooncakeRequest] = []
    last = -math.inf
    for number, text in _lines(name):
        where = _where(name, number)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise TraceError(f"{where}: not JSON ({exc})") from None
        request = _request(doc, where, block_tokens)
        if request.timestamp_ms < last:
            raise TraceError(
                f"{where}: timestamp {request.timestamp_ms:g} is before the line above's "
                f"({last:g}); expected the requests in time order"
            )
        last = request.timestamp_ms
        requests.append(request)
        if limit is not None and len(requests) >= limit:
            break
    if not requests:
        raise TraceError(f"{name}: no requests (an empty Mooncake trace)")
    return MooncakeTrace(name, tuple(requests))


def is_mooncake(path: str | Path) -> bool:
    """Whether ``path``'s first line is a Mooncake request (a JSON object with hash_ids)."""
    try:
        with Path(path).open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    doc = json.loads(raw)
                    return isinstance(doc, dict) and all(f in doc for f in _FIELDS)
    except (OSError, ValueError):
        return False
    return False


@dataclass(frozen=True)
class PrefixReuse:
    """What an unbounded prefix cache hits replaying requests in order (tokens)."""

    #: Each request's hit tokens, in order.
    hits: tuple[int, ...]
    hit_tokens: int
    prompt_tokens: int

    @property
    def rate(self) -> float:
        """Hit tokens over prompt tokens (0 for no tokens)."""
        return self.hit_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def prefix_reuse(
    requests: Sequence[MooncakeRequest], *, block_tokens: int = BLOCK_TOKENS
) -> PrefixReuse:
    """Hits of an unbounded cache: leading blocks seen before, capped at the input length.

    >>> a = MooncakeRequest(0, 1024, 1, (1, 2))
    >>> b = MooncakeRequest(1, 700, 1, (1, 3))
    >>> c = MooncakeRequest(2, 300, 1, (1,))
    >>> reuse = prefix_reuse([a, b, c])
    >>> reuse.hits, reuse.hit_tokens, reuse.prompt_tokens
    ((0, 512, 300), 812, 2024)
    """
    seen: set[int] = set()
    hits: list[int] = []
    for r in requests:
        k = 0
        for block in r.hash_ids:
            if block not in seen:
                break
            k += 1
        hits.append(min(k * block_tokens, r.input_length))
        seen.update(r.hash_ids)
    return PrefixReuse(tuple(hits), sum(hits), sum(r.input_length for r in requests))


def replay_row(arrival: int, worker_index: int, worker_count: int, rows: int) -> int:
    """The trace request a worker's ``arrival``-th arrival (from 0) sends.

    Worker ``k`` of ``W`` sends the global arrivals ``k, k + W, ...``
    (:mod:`locust_ml.arrivals`), and global arrival ``i`` is request ``i``;
    past the trace's end the requests start over.

    >>> [replay_row(j, 1, 3, 10) for j in range(4)]
    [1, 4, 7, 0]
    """
    return (worker_index + arrival * worker_count) % rows
