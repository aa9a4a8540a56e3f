"""Validated access to a profile's JSON, so a bad field is named exactly.

A profile is data a user may edit by hand, copy between versions, or truncate
by accident. Loading one must fail with a line that says which file and which
field (``columns[1].marginal.quantiles[7]``) is wrong and what was expected,
not with a ``KeyError`` deep inside the sampler. :class:`Field` wraps one JSON
value together with its path; every accessor checks the type and raises
:class:`~locust_ml.errors.TraceError` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from locust_ml.errors import TraceError

__all__ = ["Field"]


class Field:
    """A JSON value plus where it sits (file and field path), for precise errors.

    >>> f = Field({"a": [1, 2.5]}, file="p.json")
    >>> [x.number() for x in f["a"].items()]
    [1.0, 2.5]
    >>> f["b"]
    Traceback (most recent call last):
    ...
    locust_ml.errors.TraceError: p.json: field 'b': missing; expected it in the profile
    """

    def __init__(self, value: Any, *, file: str, path: str = "") -> None:
        self.value = value
        self.file = file
        self.path = path

    def error(self, problem: str) -> TraceError:
        where = f"field {self.path!r}" if self.path else "top level"
        return TraceError(f"{self.file}: {where}: {problem}")

    def _child(self, key: str | int, value: Any) -> Field:
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return Field(value, file=self.file, path=path)

    def __getitem__(self, key: str) -> Field:
        obj = self.dict()
        if key not in obj:
            raise self._child(key, None).error("missing; expected it in the profile")
        return self._child(key, obj[key])

    def get(self, key: str) -> Field | None:
        """The child field, or None when absent or null."""
        obj = self.dict()
        if obj.get(key) is None:
            return None
        return self._child(key, obj[key])

    def dict(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.error(f"expected an object, got {_kind(self.value)}")
        return self.value

    def items(self) -> Iterator[Field]:
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_kind(self.value)}")
        for i, v in enumerate(self.value):
            yield self._child(i, v)

    def length(self) -> int:
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_kind(self.value)}")
        return len(self.value)

    def str(self, *, choices: tuple[str, ...] | None = None) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected a string, got {_kind(self.value)}")
        if choices is not None and self.value not in choices:
            raise self.error(f"{self.value!r} is not one of {', '.join(choices)}")
        return self.value

    def number(self, *, positive: bool = False, minimum: float | None = None) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.error(f"expected a finite number, got {_kind(v)}")
        if positive and v <= 0:
            raise self.error(f"expected a number > 0, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.error(f"expected a number >= {minimum:g}, got {v!r}")
        return float(v)

    def int(self, *, minimum: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(f"expected an integer, got {_kind(v)}")
        if minimum is not None and v < minimum:
            raise self.error(f"expected an integer >= {minimum}, got {v!r}")
        return v

    def numbers(self) -> list[float]:
        """A list of finite numbers (read fast: this is where the big arrays are)."""
        values = self.value
        if not isinstance(values, list):
            raise self.error(f"expected a list of numbers, got {_kind(values)}")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise self._child(i, v).error(f"expected a finite number, got {_kind(v)}")
        return [float(v) for v in values]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {value!r}".lower()
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
