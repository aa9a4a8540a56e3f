"""A pool of decoded tensors (pixels, samples), made once from a pool of encoded files.

For models that take tensors rather than files (see :mod:`.pixels`,
:mod:`.pcm`), decoding, resizing and normalising cost milliseconds per
image: far too much for the request path. :func:`build_tensor_pool` picks
files from an encoded pool (so sizes and durations follow the same
profile), converts each once, and keeps the result already serialized the
way the wire wants it:

* ``binary``: the tensor's raw little-endian bytes (the binary tensor data
  extension sends them as they are);
* ``json``: the flat, row-major data as JSON number text (``[0.1,...]``),
  floats with 9 significant digits (exact for FP32 and FP16), so that a
  request only joins a header template and this text.

A pick then costs what a file pick does. Unlike files, the tensors repeat
across picks: a decoded image has no metadata field for a per-request nonce,
and changing pixels would change the input. A server that caches answers by
input (Triton's response cache) would serve repeats from its cache; turn the
cache off for a load test, or use files.

Variants are added until ``max_mb`` (the wire's bytes) or ``count`` is
reached; at least one always.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.payloads.payload import Payload, PayloadPool

__all__ = ["TensorPayload", "TensorPool", "build_tensor_pool", "json_text"]

#: Tensors a pool holds at most (sizes follow the profile well before that).
DEFAULT_COUNT: Final = 256


@dataclass(frozen=True)
class TensorPayload:
    """One request's tensor: ``parts`` serialized for the wire, its ``shape``, and its source."""

    parts: tuple[bytes, ...]
    shape: tuple[int, ...]
    source: Payload

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.parts))


class TensorPool:
    """Decoded tensors ready to send; :meth:`pick` one per request (read-only, shareable)."""

    def __init__(self, variants: list[TensorPayload], wire: str, what: str) -> None:
        if not variants:
            raise ConfigError("a tensor pool needs at least one tensor")
        self._variants = variants
        self.wire = wire
        self.what = what

    def pick(self, rng: random.Random) -> TensorPayload:
        return self._variants[int(rng.random() * len(self._variants))]

    def __len__(self) -> int:
        return len(self._variants)

    @property
    def memory_bytes(self) -> int:
        return sum(v.nbytes for v in self._variants)

    def __repr__(self) -> str:
        return (
            f"TensorPool({self.what}, {self.wire}: {len(self)} tensors, "
            f"{self.memory_bytes / 2**20:.1f} MiB)"
        )


def json_text(array: npt.NDArray[Any]) -> bytes:
    """The flat data as a JSON array: integers as they are, floats with 9 significant digits.

    >>> json_text(np.array([[0.1, -2.0], [3e-9, 4.0]], np.float32))
    b'[0.100000001,-2,3.00000003e-09,4]'
    """
    flat = array.reshape(-1)
    if flat.dtype.kind == "f":
        if not np.isfinite(flat).all():
            raise ConfigError("JSON can't carry NaN or infinite tensor values")
        text = ",".join(np.char.mod("%.9g", flat.astype(np.float64)).tolist())
    elif flat.dtype.kind == "b":
        text = ",".join("true" if v else "false" for v in flat.tolist())
    else:
        text = ",".join(map(str, flat.tolist()))
    return f"[{text}]".encode()


def build_tensor_pool(
    source: PayloadPool,
    convert: Callable[[bytes], npt.NDArray[Any]],
    *,
    wire: str,
    what: str,
    seed: int = 0,
    max_mb: float = 64.0,
    count: int = DEFAULT_COUNT,
) -> TensorPool:
    """Tensors from ``count`` picks of ``source`` (seeded), each ``convert``-ed once.

    Stops early when the serialized tensors reach ``max_mb``. ``what``
    describes the tensors (``"pixels FP32 [1, 3, 224, 224]"``) for the
    pool's repr and the console.
    """
    if wire not in ("binary", "json"):
        raise ConfigError(f"wire {wire!r}: expected binary or json")
    rng = random.Random(f"tensor-pool:{seed}")
    limit = max_mb * 2**20
    variants: list[TensorPayload] = []
    total = 0
    for _ in range(count):
        payload = source.pick(rng)
        array = np.asarray(convert(payload.data))
        if wire == "binary":
            data = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        else:
            data = json_text(array)
        if variants and total + len(data) > limit:
            break
        variants.append(TensorPayload((data,), tuple(int(d) for d in array.shape), payload))
        total += len(data)
    return TensorPool(variants, wire, what)
