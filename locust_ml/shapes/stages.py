"""Stages: a list of loads and durations, in code or from a YAML or JSON file.

``--ml-shape stages:file=stages.yaml`` (or ``stages:stages.yaml``). A stages
file lists the test's stages in order; each is a duration and a load (users
for closed loop, a rate for open loop)::

    stages:
      - {duration: 2m, users: 10, label: warm}
      - {duration: 10m, users: 50, spawn_rate: 5}

Every error names the file, the stage (counted from 1) and the field, so a
typo in a long file is one line to fix, and the test never starts half-read.
The file fixes the loop mode (users or rates): :mod:`locust_ml.preflight`
reconciles it with ``--ml-arrival`` before the load starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from locust_ml.config import key, parse_document, parse_duration, plain_text
from locust_ml.errors import ConfigError
from locust_ml.schedules import (
    MAX_PLAN_STEPS,
    FixedPlan,
    LoadMode,
    PlannedStep,
    Tick,
    check_common,
    format_seconds,
)
from locust_ml.shapes.base import PlanContext, ShapeSpec

__all__ = ["Stage", "StagesPlan", "StagesSpec", "load_stages_file", "parse_stages"]


@dataclass(frozen=True)
class StagesSpec(ShapeSpec):
    """Parameters of a stages test: the file (its stages carry their own loads)."""

    kind: ClassVar[str] = "stages"
    file: str | None = key(
        None, plain_text, "YAML or JSON file listing {duration, users | rate} stages"
    )

    def plan(self, context: PlanContext) -> StagesPlan:
        if not self.file:
            raise ConfigError(
                "--ml-shape stages needs a file: stages:file=stages.yaml (YAML or JSON)"
            )
        return load_stages_file(
            self.file,
            spawn_rate=self.spawn_rate,
            pool_users=context.pool_users,
            warmup_s=self.warmup,
        )


@dataclass(frozen=True)
class Stage:
    """One stage: ``duration_s`` at ``users`` (closed loop) or at ``rps`` (open loop).

    With ``rps``, ``users`` (optional) is the starting user pool. ``spawn_rate``
    overrides the plan's; ``warmup_s`` is excluded from the stage's measurements.
    """

    duration_s: float
    users: int | None = None
    rps: float | None = None
    spawn_rate: float | None = None
    label: str = ""
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError(f"duration must be > 0 s, got {self.duration_s!r}")
        if self.users is None and self.rps is None:
            raise ConfigError("a stage needs users (closed loop) or rate (open loop)")
        if self.users is not None and (int(self.users) != self.users or self.users < 0):
            raise ConfigError(f"users must be a whole number >= 0, got {self.users!r}")
        if self.rps is not None and not (math.isfinite(self.rps) and self.rps >= 0):
            raise ConfigError(f"rate must be >= 0 requests/s, got {self.rps!r}")
        if self.rps is not None and self.users == 0:
            raise ConfigError("users (the starting pool of an open-loop stage) must be >= 1")
        if self.spawn_rate is not None and not self.spawn_rate > 0:
            raise ConfigError(f"spawn_rate must be > 0 users/s, got {self.spawn_rate!r}")
        if not 0 <= self.warmup_s < self.duration_s:
            raise ConfigError(
                f"warmup must be >= 0 s and shorter than the stage ({self.duration_s:g} s), "
                f"got {self.warmup_s!r}"
            )

    @property
    def mode(self) -> LoadMode:
        return "closed" if self.rps is None else "open"


@dataclass(frozen=True)
class StagesPlan(FixedPlan):
    """A list of stages, run in order; the test ends after the last.

    All stages use the same mode (users, or rates). Consecutive stages with
    the same load stay separate steps here (each stage is a step); unlabelled
    stages are labelled ``stage-N``.

    >>> plan = StagesPlan((Stage(60, users=5), Stage(120, users=20, label="peak")))
    >>> [(s.start, s.tick.users, s.tick.label) for s in plan.steps()]
    [(0.0, 5, 'stage-1'), (60.0, 20, 'peak')]
    """

    stages: tuple[Stage, ...]
    spawn_rate: float = 100.0
    pool_users: int | None = None

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("stages: no stages given")
        object.__setattr__(self, "stages", tuple(self.stages))
        modes = {s.mode for s in self.stages}
        if len(modes) > 1:
            first_open = next(i for i, s in enumerate(self.stages, 1) if s.mode == "open")
            raise ConfigError(
                "stages: mixing users (closed loop) and rate (open loop) stages is not "
                f"supported (stage {first_open} has a rate, others have only users)"
            )
        if len(self.stages) > MAX_PLAN_STEPS:
            raise ConfigError(f"stages: {len(self.stages)} stages; at most {MAX_PLAN_STEPS}")
        check_common("stages", self.spawn_rate, self.pool_users, 0.0, math.inf)

    @property
    def mode(self) -> LoadMode:
        return self.stages[0].mode

    def describe(self) -> str:
        """``stages plan: 2 stages; total 3 min``."""
        return f"stages plan: {len(self.stages)} stages; total {format_seconds(self.duration)}"

    def steps(self) -> tuple[PlannedStep, ...]:
        out, start = [], 0.0
        for i, s in enumerate(self.stages, start=1):
            load = s.rps if s.rps is not None else s.users or 0
            pool = s.users if s.rps is not None and s.users else self.pool_users
            rate, label = s.spawn_rate or self.spawn_rate, s.label or f"stage-{i}"
            tick = Tick.of(i, load, s.mode, rate, s.warmup_s, label, pool_users=pool)
            out.append(PlannedStep(start, start + s.duration_s, tick))
            start += s.duration_s
        return tuple(out)


def load_stages_file(
    path: str | Path,
    *,
    spawn_rate: float = 100.0,
    pool_users: int | None = None,
    warmup_s: float = 0.0,
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
    return parse_stages(
        text,
        source=str(p),
        fmt=fmt,
        spawn_rate=spawn_rate,
        pool_users=pool_users,
        warmup_s=warmup_s,
    )


_STAGE_KEYS: Final = ("duration", "users", "rate", "rps", "spawn_rate", "label", "warmup")


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


def _stage_from(raw: object, index: int, source: str, warmup_s: float) -> Stage:
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
            warmup_s=_first(_field(raw, "warmup", where, seconds=True), warmup_s),
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
    warmup_s: float = 0.0,
) -> StagesPlan:
    """A :class:`StagesPlan` from YAML or JSON text.

    The document is a list of stages, or a mapping with ``stages`` (and
    optionally ``spawn_rate``). Each stage is a mapping: ``duration``
    (seconds, or ``"90s"``, ``"5m"``), ``users`` or ``rate`` (alias ``rps``),
    and optionally ``spawn_rate``, ``label``, ``warmup`` (default ``warmup_s``). Errors name
    ``source``, the stage (counted from 1) and the field::

        stages:
          - {duration: 2m, users: 10, label: warm}
          - {duration: 10m, users: 50, spawn_rate: 5}

    >>> parse_stages('[{"duration": 60, "rate": 5}]', fmt="json").steps()[0].tick.offered_rps
    5.0
    """
    doc = parse_document(text, source, fmt, "stages")
    if isinstance(doc, Mapping):
        extra = sorted(str(k) for k in doc if k not in ("stages", "spawn_rate"))
        if extra:
            raise ConfigError(f"{source}: unknown key {extra[0]!r}; expected stages, spawn_rate")
        if doc.get("spawn_rate") is not None:
            spawn_rate = _number(doc["spawn_rate"], f"{source}: spawn_rate")
        doc = doc.get("stages")
    if not isinstance(doc, list) or not doc:
        raise ConfigError(f"{source}: expected a non-empty list of stages (or a 'stages' list)")
    stages = tuple(_stage_from(raw, i, source, warmup_s) for i, raw in enumerate(doc, start=1))
    try:
        return StagesPlan(stages, spawn_rate=spawn_rate, pool_users=pool_users)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _first(value: float | None, default: float) -> float:
    return default if value is None else value
