"""Parsing of the small value languages our options use.

Options arrive as strings (from the command line, a config file, or the web
UI form), so each parser here takes a string and either returns a typed value
or raises :class:`~locust_ml.errors.ConfigError` naming the option, the bad
value and what was expected. No Locust imports: the pure layer and the CLI
share these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from locust_ml.errors import ConfigError

__all__ = ["parse_duration", "parse_percentiles"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | float | int, *, option: str = "duration") -> float:
    """Seconds from ``"90"``, ``"90s"``, ``"1m30s"``, ``"1h"``, ``"250ms"``.

    Bare numbers are seconds, as in Locust's ``--run-time``.

    >>> parse_duration("1m30s"), parse_duration("250ms"), parse_duration(5)
    (90.0, 0.25, 5.0)
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = text.strip().lower()
        try:
            value = float(s)
        except ValueError:
            pos, value = 0, 0.0
            for m in _DURATION_PART.finditer(s):
                if m.start() != pos:
                    break
                value += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
                pos = m.end()
            if pos != len(s) or not s:
                raise ConfigError(
                    f"{option}: {text!r} is not a duration; expected e.g. 30, 30s, 1m30s, 250ms"
                ) from None
    if not math.isfinite(value):
        raise ConfigError(f"{option}: {text!r} is not a finite duration; expected e.g. 30s")
    if value < 0:
        raise ConfigError(f"{option}: duration must not be negative, got {text!r}")
    return value


def parse_percentiles(
    text: str | Sequence[float], *, option: str = "percentiles"
) -> tuple[float, ...]:
    """Sorted unique percentiles from ``"50,90,99,99.9"`` (each in (0, 100]).

    >>> parse_percentiles("99, 50,99.9")
    (50.0, 99.0, 99.9)
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out: set[float] = set()
    for item in items:
        try:
            q = float(item)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{option}: {item!r} is not a number; "
                "expected a comma-separated list like 50,99,99.9"
            ) from None
        if not 0.0 < q <= 100.0:
            raise ConfigError(f"{option}: percentile {q:g} is outside (0, 100]")
        out.add(q)
    if not out:
        raise ConfigError(f"{option}: no percentiles given")
    return tuple(sorted(out))
