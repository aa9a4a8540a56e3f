"""The configurations a sweep measures, and the command templates they fill.

A configuration is a set of named parameter values (``batch=8``,
``instances=2``) and, when configurations are instance types, a price per
hour. They come from two sources, which multiply:

* ``--param NAME=V1,V2,...``: each ``--param`` is one axis; several make the
  grid of every combination, the first axis varying slowest (``--param
  batch=1,4 --param instances=1,2`` gives ``batch=1,instances=1``,
  ``batch=1,instances=2``, ``batch=4,instances=1``, ``batch=4,instances=2``);
* ``--configs FILE`` (YAML or JSON): a list of configurations, each a mapping
  of parameter values with an optional ``price_per_hour``::

      - {instance: g5.xlarge, gpus: 1, price_per_hour: 1.006}
      - {instance: g5.12xlarge, gpus: 4, price_per_hour: 5.672}

  (or the same list under a top-level ``configs:`` key). Every entry names
  the same parameters, and either every entry has a price or none has: a
  ranking that compares some configurations by cost and others by capacity
  would compare nothing.

Command templates (``--server``, ``--setup``, ``--teardown``, ``--host``) are
split like a shell would (:func:`shlex.split`, no shell runs them) and then
each word is filled with Python's ``str.format`` fields: ``{batch}`` with the
configuration's value, ``{port}`` with a free loopback port; ``{{`` and ``}}``
are literal braces. A word stays one argument whatever its value holds.
Every field must be a parameter (or ``port`` where a port is chosen): a
misspelt ``{batchsize}`` is an error before anything starts, not a server
started with a literal ``{batchsize}``.

Pure: the file reader (:func:`load_configs_file`) reads the one file it is
given; nothing else touches the system.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import shlex
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from locust_ml.config import parse_document
from locust_ml.errors import ConfigError

__all__ = [
    "PORT_FIELD",
    "PRICE_KEY",
    "Config",
    "Template",
    "combine",
    "configs_from_document",
    "grid",
    "load_configs_file",
    "parse_param",
    "parse_template",
]

#: The template field filled with a free loopback port (local servers only).
PORT_FIELD: Final = "port"
#: The key of a configurations file's entries that is a price, not a parameter.
PRICE_KEY: Final = "price_per_hour"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest folder name a configuration gets (the rest is a hash).
_MAX_SLUG = 80


@dataclass(frozen=True)
class Config:
    """One configuration: parameter values in axis order, and its price if it has one."""

    params: tuple[tuple[str, str], ...]
    price_per_hour: float | None = None

    @property
    def values(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def label(self) -> str:
        """``batch=8 instances=2``: how the console and the page name it."""
        return " ".join(f"{k}={v}" for k, v in self.params) or "(no parameters)"

    @property
    def key(self) -> str:
        """A stable identity: the same parameters and price give the same key."""
        price = "" if self.price_per_hour is None else repr(self.price_per_hour)
        raw = json.dumps([list(p) for p in self.params]) + "|" + price
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    @property
    def slug(self) -> str:
        """The configuration's folder name: ``batch-8_instances-2`` (safe on any filesystem)."""
        text = "_".join(f"{k}-{v}" for k, v in self.params) or "default"
        slug = _SLUG_UNSAFE.sub("-", text).strip("-._") or "config"
        exact = slug == text
        if not exact or len(slug) > _MAX_SLUG:
            # Values that lost characters (or length) could now collide: add the key.
            slug = f"{slug[: _MAX_SLUG - 13]}-{self.key}"
        return slug


# --------------------------------------------------------------------- the grid


def _value_text(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {value!r} is not a usable value")
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError(f"{where}: empty value; expected text or a number")
        return value.strip()
    raise ConfigError(
        f"{where}: {value!r} ({type(value).__name__}) is not a parameter value; "
        "expected text or a number"
    )


def _check_name(name: str, where: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: parameter name {name!r} is not a name; expected letters, digits and _ "
            "(not starting with a digit), as in batch or max_batch_size"
        )
    if name == PORT_FIELD:
        raise ConfigError(
            f"{where}: 'port' is the template field of the free port, not a parameter"
        )
    if name == PRICE_KEY:
        raise ConfigError(f"{where}: {PRICE_KEY!r} is the configuration's price, not a parameter")
    return name


def parse_param(text: str) -> tuple[str, tuple[str, ...]]:
    """``--param NAME=V1,V2,...`` as (name, values).

    >>> parse_param("batch=1,4, 16")
    ('batch', ('1', '4', '16'))
    """
    where = f"--param {text!r}"
    name, sep, rest = text.partition("=")
    if not sep:
        raise ConfigError(f"{where}: expected NAME=V1,V2,... as in batch=1,4,16")
    name = _check_name(name.strip(), where)
    values = tuple(v.strip() for v in rest.split(","))
    if not values or any(not v for v in values):
        raise ConfigError(f"{where}: an empty value; expected NAME=V1,V2,... as in batch=1,4,16")
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ConfigError(f"{where}: {', '.join(dupes)} given twice")
    return name, values


def grid(axes: Sequence[tuple[str, Sequence[str]]]) -> tuple[Config, ...]:
    """Every combination of the axes, the first varying slowest (no axes: one empty config)."""
    names = [name for name, _ in axes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"--param {dupes[0]} given twice; give its values in one --param")
    return tuple(
        Config(tuple(zip(names, combo, strict=True)))
        for combo in itertools.product(*(values for _, values in axes))
    )


def configs_from_document(doc: object, source: str) -> tuple[Config, ...]:
    """The configurations of a parsed configurations file (see the module docstring)."""
    if isinstance(doc, Mapping) and set(doc) == {"configs"}:
        doc = doc["configs"]
    if not isinstance(doc, list) or not doc:
        raise ConfigError(
            f"{source}: expected a non-empty list of configurations (mappings of parameter "
            "values, optionally with price_per_hour), or one under a 'configs:' key"
        )
    out: list[Config] = []
    for i, entry in enumerate(doc, start=1):
        where = f"{source}: configuration {i}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping such as {{batch: 8}}, got {entry!r}")
        params: list[tuple[str, str]] = []
        price: float | None = None
        for raw_name, value in entry.items():
            name = str(raw_name)
            if name == PRICE_KEY:
                price = _price(value, f"{where}: {PRICE_KEY}")
                continue
            params.append((_check_name(name, where), _value_text(value, f"{where}: {name}")))
        out.append(Config(tuple(params), price))
    first = [n for n, _ in out[0].params]
    for i, c in enumerate(out[1:], start=2):
        names = [n for n, _ in c.params]
        if sorted(names) != sorted(first):
            raise ConfigError(
                f"{source}: configuration {i} names {', '.join(names) or 'no parameter'}, "
                f"configuration 1 {', '.join(first) or 'none'}; every entry names the same ones"
            )
        # One order for every entry: the first entry's.
        out[i - 1] = Config(tuple((n, c.values[n]) for n in first), c.price_per_hour)
    priced = [c.price_per_hour is not None for c in out]
    if any(priced) and not all(priced):
        missing = priced.index(False) + 1
        raise ConfigError(
            f"{source}: configuration {missing} has no {PRICE_KEY} while others have one; "
            "give every configuration a price or none"
        )
    return _unique(out, source)


def _price(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected dollars per hour (a number >= 0), got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: expected dollars per hour >= 0, got {value!r}")
    return float(value)


def _unique(configs: Iterable[Config], source: str) -> tuple[Config, ...]:
    seen: set[tuple[tuple[str, str], ...]] = set()
    out = []
    for c in configs:
        if c.params in seen:
            raise ConfigError(f"{source}: configuration {c.label} is listed twice")
        seen.add(c.params)
        out.append(c)
    return tuple(out)


def combine(
    listed: Sequence[Config] | None, axes: Sequence[tuple[str, Sequence[str]]]
) -> tuple[Config, ...]:
    """The file's configurations crossed with the ``--param`` grid (either alone, alone)."""
    crossed = grid(axes)
    if listed is None:
        return crossed
    file_names = {n for n, _ in listed[0].params} if listed else set()
    clash = sorted(file_names & {n for n, _ in axes})
    if clash:
        raise ConfigError(
            f"--param {clash[0]}: the configurations file names it too; give it in one place"
        )
    return _unique(
        (Config(a.params + b.params, a.price_per_hour) for a in listed for b in crossed),
        "the configurations",
    )


def load_configs_file(path: str | Path) -> tuple[Config, ...]:
    """Read ``--configs FILE`` (``.yaml``/``.yml`` or ``.json``)."""
    p = Path(path)
    fmt = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(p.suffix.lower())
    if fmt is None:
        raise ConfigError(f"--configs {p}: unknown file type; expected .yaml, .yml or .json")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--configs {p}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--configs {p}: not a UTF-8 text file; expected YAML or JSON") from None
    return configs_from_document(
        parse_document(text, f"--configs {p}", fmt, "configurations"), f"--configs {p}"
    )


# --------------------------------------------------------------------- templates


@dataclass(frozen=True)
class Template:
    """A command (or URL) template: its words and the fields they name."""

    option: str
    words: tuple[str, ...]
    fields: frozenset[str]

    def fill(self, config: Config, port: int | None = None) -> tuple[str, ...]:
        """The words with every field filled (``{port}`` needs ``port``)."""
        values: dict[str, object] = dict(config.params)
        if port is not None:
            values[PORT_FIELD] = port
        missing = sorted(self.fields - set(values))
        if missing:  # check() prevents this for configurations of the sweep
            raise ConfigError(f"{self.option}: no value for {{{missing[0]}}} in {config.label}")
        return tuple(w.format_map(values) for w in self.words)

    def fill_one(self, config: Config, port: int | None = None) -> str:
        """A one-word template (a URL) filled."""
        return " ".join(self.fill(config, port))

    def check(self, names: Iterable[str], *, port: bool) -> None:
        """Every field must be a parameter (or the port, where one is chosen)."""
        known = set(names) | ({PORT_FIELD} if port else set())
        unknown = sorted(self.fields - known)
        if unknown:
            field_text = "{" + unknown[0] + "}"
            if unknown[0] == PORT_FIELD:
                raise ConfigError(
                    f"{self.option}: {field_text} is only filled for a --server started here"
                )
            names_text = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"{self.option}: {field_text} is not a parameter of the sweep (parameters: "
                f"{names_text}); write a literal brace as {{{{ or }}}}"
            )


def parse_template(text: str, option: str, *, split: bool = True) -> Template:
    """Split ``text`` (``split=False``: one word, as a URL) and find its fields."""
    try:
        words = tuple(shlex.split(text)) if split else (text.strip(),)
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r}: cannot split: {exc}") from None
    if not words or not words[0]:
        raise ConfigError(f"{option}: empty; expected a command")
    fields: set[str] = set()
    formatter = string.Formatter()
    for word in words:
        try:
            parsed = list(formatter.parse(word))
        except ValueError as exc:
            raise ConfigError(
                f"{option} {text!r}: {exc}; fields are {{name}}, literal braces {{{{ and }}}}"
            ) from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not _NAME.fullmatch(name) or spec or conversion:
                raise ConfigError(
                    f"{option} {text!r}: field {{{name}}} is not a plain {{name}} field"
                )
            fields.add(name)
    return Template(option, words, frozenset(fields))
