"""Atomic file writes: an output is either whole on disk or not there at all.

A test can be killed while it writes its report; a reader (CI, a dashboard)
must never see half a JSON file. We write to a temporary file in the same
directory and ``os.replace`` it over the target, which is atomic on POSIX and
Windows. Reports, fitted profiles (``traces/``), samples and manifests all
write this way, so the module sits beside the layers rather than in one of
them: ``traces/`` must not import upward from ``report/`` for it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["write_atomic", "write_atomic_chunks"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent directories."""
    return write_atomic_chunks(path, (data,))


def write_atomic_chunks(path: str | os.PathLike[str], chunks: Iterable[str | bytes]) -> Path:
    """Write ``chunks`` one after another to ``path`` atomically; memory holds one chunk.

    For outputs too large to build in memory first (``locust-ml sample -n``
    of millions of rows): the temporary file grows chunk by chunk and
    replaces ``path`` only once the last chunk is written. An exception
    from the iterable (a bad input found midway) removes the temporary file,
    so ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file 0600; a report or profile is meant to be read.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
