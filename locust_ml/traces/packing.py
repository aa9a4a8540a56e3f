"""Compact integer arrays inside a JSON profile.

Two parts of a profile are long integer arrays: the rank tuples of the
empirical copula (one per trace row) and the replay gaps of the arrival
pattern (one per request, in microseconds). Written as JSON numbers they would
make the bundled Azure conversation profile ~300 KB; packed they take ~110 KB.

The packing is plain and standard-library only: the smallest unsigned
little-endian dtype that holds the values, bytes *shuffled* (all first bytes,
then all second bytes, ... as Blosc and HDF5 do, so the mostly-zero high bytes
compress to almost nothing), zlib, then base64::

    {"dtype": "<u4", "count": 19365, "codec": "shuffle+zlib+base64", "data": "eNrt..."}
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

from locust_ml.traces.schema import Field

__all__ = ["CODEC", "pack_uints", "unpack_uints"]

CODEC = "shuffle+zlib+base64"
_DTYPES = ("<u1", "<u2", "<u4", "<u8")


def pack_uints(values: npt.ArrayLike) -> dict[str, Any]:
    """Pack non-negative integers; see the module docstring for the format.

    >>> obj = pack_uints([3, 0, 70000])
    >>> obj["dtype"], obj["count"]
    ('<u4', 3)
    """
    a = np.asarray(values)
    if a.ndim != 1 or (a.size and (a.min() < 0 or not np.issubdtype(a.dtype, np.integer))):
        raise ValueError("pack_uints packs a 1-D array of non-negative integers")
    top = int(a.max()) if a.size else 0
    dtype = next(d for d in _DTYPES if top <= np.iinfo(np.dtype(d)).max)
    raw = a.astype(dtype)
    shuffled = raw.view(np.uint8).reshape(-1, raw.itemsize).T.tobytes()
    data = base64.b64encode(zlib.compress(shuffled, 9)).decode("ascii")
    return {"dtype": dtype, "count": int(a.size), "codec": CODEC, "data": data}


def unpack_uints(field: Field) -> npt.NDArray[np.int64]:
    """Unpack what :func:`pack_uints` wrote; a damaged field raises ``TraceError``."""
    dtype = field["dtype"].str(choices=_DTYPES)
    count = field["count"].int(minimum=0)
    field["codec"].str(choices=(CODEC,))
    data = field["data"]
    try:
        shuffled = zlib.decompress(base64.b64decode(data.str(), validate=True))
    except (binascii.Error, zlib.error, ValueError):
        raise data.error("corrupt packed data (not base64 of zlib data)") from None
    itemsize = np.dtype(dtype).itemsize
    if len(shuffled) != count * itemsize:
        raise data.error(
            f"packed data holds {len(shuffled)} bytes; expected {count} values of "
            f"{itemsize} bytes (count={count})"
        )
    planes = np.frombuffer(shuffled, dtype=np.uint8).reshape(itemsize, count)
    values = np.ascontiguousarray(planes.T).view(dtype).reshape(count)
    return values.astype(np.int64)
