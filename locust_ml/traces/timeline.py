"""Arrival times for trace replay, from a trace file or from a profile.

Open-loop replay (``--ml-arrival trace:path=...``) needs only the arrival
times. They can come from the trace itself (its timestamp column, parsed with
the same rules and errors as ``fit-trace``) or from a profile, which stores
them as replay gaps; so a bundled profile replays the Azure traces without the
trace files. A Mooncake trace (:mod:`~locust_ml.traces.mooncake`: JSON Lines
with ``hash_ids``, ``timestamp`` in milliseconds) is recognised by its first
line and read in its own units. :func:`load_timestamps` has the signature
``locust_ml.arrivals`` expects of a timestamp loader.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.traces.mooncake import is_mooncake, read_mooncake
from locust_ml.traces.profile import Profile, bundled_profiles
from locust_ml.traces.read import read_trace

__all__ = ["DEFAULT_TIMESTAMP_COLUMN", "load_timestamps"]

#: The column read when none is named (the Azure traces' name for it).
DEFAULT_TIMESTAMP_COLUMN = "TIMESTAMP"


def load_timestamps(source: str, column: str | None = None) -> npt.NDArray[np.float64]:
    """Arrival times in seconds from the first one (sorted; the first is 0.0).

    ``source`` is a trace file (CSV/JSONL; ``column`` names its timestamp
    column, ``TIMESTAMP`` by default; a Mooncake trace's is ``timestamp``, in
    ms), a profile file (``*.json``) or a bundled profile name such as
    ``azure_conv``.
    """
    if is_mooncake(source):
        if column not in (None, "timestamp"):
            raise ConfigError(
                f"{source}: a Mooncake trace's times are in 'timestamp', not {column!r}"
            )
        return read_mooncake(source).timestamps_s()
    if source.endswith(".json") or source in bundled_profiles():
        profile = Profile.load(source)
        arrivals = profile.arrivals
        if arrivals is None:
            raise ConfigError(
                f"{source}: profile {profile.name!r} has no arrival data; fit it with "
                "--timestamp COLUMN, or replay the trace file itself"
            )
        if column is not None and column != arrivals.column:
            raise ConfigError(
                f"{source}: the profile's arrivals come from column {arrivals.column!r}, "
                f"not {column!r}"
            )
        return arrivals.timestamps_s()
    trace = read_trace(source, [], timestamp=column or DEFAULT_TIMESTAMP_COLUMN)
    if trace.timestamps_ns is None:  # pragma: no cover - read_trace always fills it
        raise ConfigError(f"{source}: no timestamps read")
    ns = np.sort(trace.timestamps_ns)
    seconds: npt.NDArray[np.float64] = (ns - ns[0]) / 1e9
    return seconds
