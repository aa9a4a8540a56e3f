"""A size profile: what a trace's requests look like, as versioned JSON.

A profile is the product of ``locust-ml fit-trace`` and the input of payload
generators and ML users: per size column a fitted distribution with its
bounds (:mod:`~locust_ml.traces.marginals`), the dependence between columns
(:mod:`~locust_ml.traces.dependence`), optionally the arrival statistics and
replay gaps of a timestamp column (:mod:`~locust_ml.traces.replay`), and the
provenance of it all (source file and its sha256, rows, options, tool version,
creation time). The format is documented in ``docs/profiles.md``; its
top-level ``schema_version`` grows when a change would mislead an older reader.

Profiles bundled with the package (``locust_ml/profiles/*.json``) load by
short name: ``Profile.load("azure_conv")``. Loading validates every field and
fails with one :class:`~locust_ml.errors.TraceError` naming the file and field.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from locust_ml.errors import TraceError
from locust_ml.traces.dependence import Dependence
from locust_ml.traces.marginals import ColumnModel
from locust_ml.traces.replay import Arrivals
from locust_ml.traces.sampler import ProfileSampler
from locust_ml.traces.schema import Field

__all__ = ["KIND", "SCHEMA_VERSION", "Profile", "bundled_profiles"]

SCHEMA_VERSION = 1
KIND = "locust-ml/profile"
_BUNDLE_PACKAGE = "locust_ml.profiles"


@dataclass(frozen=True, eq=False)
class Profile:
    """A fitted size profile; immutable. Build with ``fit_trace`` or ``Profile.load``."""

    name: str
    columns: tuple[ColumnModel, ...]
    dependence: Dependence
    arrivals: Arrivals | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    checks: Mapping[str, Any] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnModel:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"profile {self.name!r} has no column {name!r} ({self.column_names})")

    def sampler(self, seed: int) -> ProfileSampler:
        """A seeded sampler of joint sizes (and the arrival replay data)."""
        return ProfileSampler(self, seed)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": KIND,
            "name": self.name,
            "description": self.description,
            "provenance": dict(self.provenance),
            "columns": [c.to_json() for c in self.columns],
            "dependence": self.dependence.to_json(),
            "arrivals": None if self.arrivals is None else self.arrivals.to_json(),
            "checks": dict(self.checks),
        }

    def dumps(self) -> str:
        """The profile as JSON text: indented, with number lists wrapped compactly."""
        return _dump(self.to_json(), 0) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the profile atomically (whole or not at all)."""
        from locust_ml.files import write_atomic

        return write_atomic(path, self.dumps())

    @classmethod
    def from_json(cls, data: Any, *, file: str = "<profile>") -> Profile:
        """Validate and build a profile from parsed JSON; errors name file and field."""
        top = Field(data, file=file)
        top.dict()
        version = top["schema_version"].int(minimum=1)
        if version > SCHEMA_VERSION:
            raise top["schema_version"].error(
                f"version {version} was written by a newer locust-ml; this one reads "
                f"up to {SCHEMA_VERSION}"
            )
        top["kind"].str(choices=(KIND,))
        columns = tuple(ColumnModel.from_json(c) for c in top["columns"].items())
        if not columns:
            raise top["columns"].error("expected at least one column")
        seen: set[str] = set()
        for item, column in zip(top["columns"].items(), columns, strict=True):
            if column.name in seen:
                raise item["name"].error(f"column {column.name!r} appears twice")
            seen.add(column.name)
        varying = [c.name for c in columns if c.family != "constant"]
        dependence = Dependence.from_json(top["dependence"], varying)
        if list(dependence.columns) != varying:
            raise top["dependence"]["columns"].error(
                f"expected the varying columns in profile order: {varying}"
            )
        arrivals_f = top.get("arrivals")
        provenance_f = top.get("provenance")
        checks_f = top.get("checks")
        description_f = top.get("description")
        return cls(
            name=top["name"].str(),
            columns=columns,
            dependence=dependence,
            arrivals=None if arrivals_f is None else Arrivals.from_json(arrivals_f),
            provenance={} if provenance_f is None else provenance_f.dict(),
            description="" if description_f is None else description_f.str(),
            checks={} if checks_f is None else checks_f.dict(),
        )

    @classmethod
    def loads(cls, text: str, *, file: str = "<profile>") -> Profile:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceError(
                f"{file}: line {exc.lineno}, character {exc.colno}: not valid JSON "
                f"({exc.msg}); expected a locust-ml profile"
            ) from None
        except RecursionError:
            raise TraceError(f"{file}: nested too deeply to be a locust-ml profile") from None
        return cls.from_json(data, file=file)

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Profile:
        """Load a profile from a path, or a bundled one by name (``"azure_conv"``)."""
        text, shown = _read(source)
        return cls.loads(text, file=shown)


def bundled_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped with the package."""
    root = resources.files(_BUNDLE_PACKAGE)
    return tuple(
        sorted(p.name[: -len(".json")] for p in root.iterdir() if p.name.endswith(".json"))
    )


def _is_path(source: str | os.PathLike[str]) -> bool:
    if not isinstance(source, str):
        return True
    return source.endswith(".json") or "/" in source or os.sep in source or Path(source).exists()


def _read(source: str | os.PathLike[str]) -> tuple[str, str]:
    if _is_path(source):
        shown = os.fspath(source)
        try:
            return Path(source).read_text(encoding="utf-8"), shown
        except UnicodeDecodeError:
            raise TraceError(f"{shown}: not a text file; expected a profile (JSON)") from None
        except OSError as exc:
            raise TraceError(f"{shown}: cannot read the profile ({exc.strerror or exc})") from None
    name = str(source)
    names = bundled_profiles()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise TraceError(
            f"{name}: no such file and no bundled profile of that name; {hint}"
            f"bundled profiles: {', '.join(names)} (or give a path to a .json profile)"
        )
    resource = resources.files(_BUNDLE_PACKAGE).joinpath(f"{name}.json")
    return resource.read_text(encoding="utf-8"), f"{name} (bundled: {name}.json)"


def _dump(obj: Any, level: int) -> str:
    """JSON with objects indented and lists of numbers wrapped at ~100 columns."""
    pad = "  " * level
    if isinstance(obj, dict) and obj:
        items = [f"{pad}  {json.dumps(k)}: {_dump(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and obj:
        if all(isinstance(v, int | float | str | bool) or v is None for v in obj):
            parts = [json.dumps(v) for v in obj]
            line = "[" + ", ".join(parts) + "]"
            if len(line) + len(pad) <= 100:
                return line
            lines: list[str] = []
            current: list[str] = []
            width = 0
            for p in parts:
                if current and width + len(p) + 2 > 96 - len(pad):
                    lines.append(", ".join(current))
                    current, width = [], 0
                current.append(p)
                width += len(p) + 2
            lines.append(", ".join(current))
            return "[\n" + ",\n".join(f"{pad}  {ln}" for ln in lines) + f"\n{pad}]"
        inner = [f"{pad}  {_dump(v, level + 1)}" for v in obj]
        return "[\n" + ",\n".join(inner) + f"\n{pad}]"
    return json.dumps(obj)
