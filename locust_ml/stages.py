"""The stages-file language: load a :class:`~locust_ml.schedules.StagesPlan` from YAML or JSON.

A stages file lists the test's stages in order; each is a duration and a load
(users for closed loop, a rate for open loop)::

    stages:
      - {duration: 2m, users: 10, label: warm}
      - {duration: 10m, users: 50, spawn_rate: 5}

Every error names the file, the stage (counted from 1) and the field, so a
typo in a long file is one line to fix, and the test never starts half-read.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from locust_ml.config import parse_duration
from locust_ml.errors import ConfigError, DependencyError
from locust_ml.schedules import Stage, StagesPlan

__all__ = ["load_stages_file", "parse_stages"]


def load_stages_file(
    path: str | Path, *, spawn_rate: float = 100.0, pool_users: int | None = None
) -> StagesPlan:
    """Read stages from a ``.yaml``/``.yml`` or ``.json`` file (see :func:`parse_stages`)."""

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the stages file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: not a text file (byte {exc.object[exc.start]:#04x} at offset {exc.start} "
            "is not UTF-8); expected YAML or JSON stages"
        ) from None
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(p.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{p}: unknown stages file type; expected .yaml, .yml or .json")
    return parse_stages(text, source=str(p), fmt=fmt, spawn_rate=spawn_rate, pool_users=pool_users)


_STAGE_KEYS: Final = ("duration", "users", "rate", "rps", "spawn_rate", "label", "warmup")


def _load_document(text: str, source: str, fmt: str) -> object:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
    if fmt != "yaml":
        raise ConfigError(f"{source}: unknown stages format {fmt!r}; expected yaml or json")
    try:
        yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints
    except ImportError:
        raise DependencyError(
            "YAML stages files need the 'pyyaml' package: pip install pyyaml "
            "(or write the stages as JSON)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: not valid YAML: {problem}{where}") from None


def _number(value: object, where: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a {'whole ' if integer else ''}number, got {value!r}")
    if integer and value != int(value):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    return float(value)


def _field(
    raw: Mapping[str, object], key: str, where: str, *, seconds: bool = False, integer: bool = False
) -> float | None:
    value, at = raw.get(key), f"{where}: field {key!r}"
    if value is None:
        return None
    if seconds and isinstance(value, str):
        return parse_duration(value, option=at)
    return _number(value, at, integer=integer)


def _stage_from(raw: object, index: int, source: str) -> Stage:
    where = f"{source}: stage {index}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with duration and users or rate")
    unknown = sorted(str(k) for k in raw if k not in _STAGE_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field {unknown[0]!r}; expected {', '.join(_STAGE_KEYS)}"
        )
    if "rate" in raw and "rps" in raw:
        raise ConfigError(f"{where}: give 'rate' or 'rps', not both")
    duration = _field(raw, "duration", where, seconds=True)
    if duration is None:
        raise ConfigError(f"{where}: field 'duration' is missing")
    label = raw.get("label", "")
    if not isinstance(label, str):
        raise ConfigError(f"{where}: field 'label': expected text, got {label!r}")
    users = _field(raw, "users", where, integer=True)
    try:
        return Stage(
            duration_s=duration,
            users=None if users is None else int(users),
            rps=_field(raw, "rps" if "rps" in raw else "rate", where),
            spawn_rate=_field(raw, "spawn_rate", where),
            label=label,
            warmup_s=_field(raw, "warmup", where, seconds=True) or 0.0,
        )
    except ConfigError as exc:
        named = next((k for k in _STAGE_KEYS if str(exc).startswith(k + " ")), None)
        prefix = f"{where}: field {named!r}: " if named else f"{where}: "
        raise ConfigError(prefix + str(exc)) from None


def parse_stages(
    text: str,
    *,
    source: str = "<stages>",
    fmt: str = "yaml",
    spawn_rate: float = 100.0,
    pool_users: int | None = None,
) -> StagesPlan:
    """A :class:`StagesPlan` from YAML or JSON text.

    The document is a list of stages, or a mapping with ``stages`` (and
    optionally ``spawn_rate``). Each stage is a mapping: ``duration``
    (seconds, or ``"90s"``, ``"5m"``), ``users`` or ``rate`` (alias ``rps``),
    and optionally ``spawn_rate``, ``label``, ``warmup``. Errors name
    ``source``, the stage (counted from 1) and the field::

        stages:
          - {duration: 2m, users: 10, label: warm}
          - {duration: 10m, users: 50, spawn_rate: 5}

    >>> parse_stages('[{"duration": 60, "rate": 5}]', fmt="json").steps()[0].tick.offered_rps
    5.0
    """
    doc = _load_document(text, source, fmt)
    if isinstance(doc, Mapping):
        extra = sorted(str(k) for k in doc if k not in ("stages", "spawn_rate"))
        if extra:
            raise ConfigError(f"{source}: unknown key {extra[0]!r}; expected stages, spawn_rate")
        if doc.get("spawn_rate") is not None:
            spawn_rate = _number(doc["spawn_rate"], f"{source}: spawn_rate")
        doc = doc.get("stages")
    if not isinstance(doc, list) or not doc:
        raise ConfigError(f"{source}: expected a non-empty list of stages (or a 'stages' list)")
    stages = tuple(_stage_from(raw, i, source) for i, raw in enumerate(doc, start=1))
    try:
        return StagesPlan(stages, spawn_rate=spawn_rate, pool_users=pool_users)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
