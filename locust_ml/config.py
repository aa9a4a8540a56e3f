"""Parsing of the small value languages our options use.

Options arrive as strings (from the command line, a config file, or the web
UI form), so each parser here takes a string and either returns a typed value
or raises :class:`~locust_ml.errors.ConfigError` naming the option, the bad
value and what was expected. No Locust imports: the pure layer and the CLI
share these.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from locust_ml.errors import ConfigError, DependencyError

__all__ = [
    "DEFAULT_PERCENTILES",
    "Key",
    "duration",
    "duration_range",
    "format_duration",
    "format_value",
    "fraction",
    "int_range",
    "key",
    "non_negative",
    "optional_duration",
    "optional_positive",
    "parse_duration",
    "parse_keys",
    "parse_percentiles",
    "parse_switch",
    "plain_text",
    "positive",
    "positive_duration",
    "positive_int",
    "positive_int_or_zero",
    "spec_keys",
    "split_keys",
    "split_spec",
]

_T = TypeVar("_T")

#: The latency percentiles a report shows unless ``--ml-percentiles`` says otherwise.
DEFAULT_PERCENTILES: Final[tuple[float, ...]] = (50.0, 90.0, 95.0, 99.0, 99.9)

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


# ---------------------------------------------------------------- NAME:KEY=VALUE specs

_SWITCH = {
    **dict.fromkeys(("on", "true", "yes", "1"), True),
    **dict.fromkeys(("off", "false", "no", "0"), False),
}


def parse_switch(text: str, *, option: str = "switch") -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0) as a bool.

    >>> parse_switch("on"), parse_switch("False")
    (True, False)
    """
    value = _SWITCH.get(str(text).strip().lower())
    if value is None:
        raise ConfigError(f"{option}: expected on or off, got {text!r}")
    return value


def split_spec(text: str, *, option: str, bare: str | None = None) -> tuple[str, dict[str, str]]:
    """``NAME[:KEY=VALUE,...]`` into the name and its raw key values.

    The one mini-language of ``--ml-shape``, ``--ml-arrival`` and
    ``--ml-open-loop``. ``bare`` names the key a first value without ``=``
    stands for (``trace:data/t.csv`` is ``trace:path=data/t.csv``). Keys are
    lower-cased; a key given twice is an error (the second would silently win).

    >>> split_spec("ramp:start=2, max=64", option="--ml-shape")
    ('ramp', {'start': '2', 'max': '64'})
    """
    name, _, rest = str(text).strip().partition(":")
    return name.strip().lower(), split_keys(rest, option=option, bare=bare, whole=text)


def split_keys(
    text: str, *, option: str, bare: str | None = None, whole: str | None = None
) -> dict[str, str]:
    """``KEY=VALUE,...`` into raw key values (see :func:`split_spec`).

    >>> split_keys("senders=8, lateness=5s", option="--ml-open-loop")
    {'senders': '8', 'lateness': '5s'}
    """
    text = str(text)
    whole = text if whole is None else whole
    params: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        key, eq, value = part.partition("=")
        if not eq:
            if bare is None or i != 0:
                raise ConfigError(f"{option}: {part!r} in {whole!r} is not KEY=VALUE")
            key, value = bare, part
        key = key.strip().lower()
        if key in params:
            raise ConfigError(f"{option}: {key!r} is given twice in {whole!r}")
        params[key] = value.strip()
    return params


@dataclasses.dataclass(frozen=True)
class Key:
    """A key of a spec dataclass: how its text is parsed, and what it means.

    Stored in the field's metadata by :func:`key`, so each key is written
    once: the dataclass field is the key's name, type and default, and the
    spec parser, the listing and the docs all read it from there.
    """

    parse: Callable[[str, str], Any]
    help: str
    #: How the default reads in the listing and the docs (None: formatted from the value).
    shown: str | None = None

    @property
    def seconds(self) -> bool:
        """Whether the value is a duration (written back as ``30s``, ``4h``)."""
        return self.parse in (duration, positive_duration, optional_duration)

    def text(self, value: Any) -> str:
        """``value`` as this key's text."""
        return format_value(value, seconds=self.seconds)


def key(default: _T, parse: Callable[[str, str], _T], help: str, shown: str | None = None) -> _T:
    """A spec dataclass field with its parser and help (``parse(text, where)``)."""
    return dataclasses.field(default=default, metadata={"key": Key(parse, help, shown)})


def spec_keys(cls: type) -> dict[str, tuple[Key, Any]]:
    """The keys of a spec dataclass, in declaration order: name -> (key, default)."""
    return {
        f.name: (f.metadata["key"], f.default)
        for f in dataclasses.fields(cls)
        if "key" in f.metadata
    }


def parse_keys(cls: type, params: dict[str, str], *, option: str, what: str) -> dict[str, Any]:
    """Typed values of ``params`` for the spec dataclass ``cls``; unknown keys are errors."""
    keys = spec_keys(cls)
    out: dict[str, Any] = {}
    for name, text in params.items():
        if name not in keys:
            owner = f"{what} has" if what else "it has"
            raise ConfigError(f"{option}: {owner} no key {name!r}; its keys are {', '.join(keys)}")
        out[name] = keys[name][0].parse(text, f"{option}: {what} {name}".replace(":  ", ": "))
    return out


def format_duration(seconds: float) -> str:
    """Seconds as the duration language writes them, exactly (parse_duration reads them back).

    >>> [format_duration(x) for x in (20, 90, 14400, 0.25, 0, 3725)]
    ['20s', '1m30s', '4h', '250ms', '0s', '1h2m5s']
    """
    if seconds < 1 and seconds != 0 and float(seconds * 1000).is_integer():
        return f"{seconds * 1000:g}ms"
    if not float(seconds).is_integer():
        return f"{seconds:g}s"
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text or "0s"


def format_value(value: Any, *, seconds: bool = False) -> str:
    """A key's value as the spec language writes it (``seconds``: as a duration).

    >>> format_value(2.0), format_value(None), format_value(True), format_value(90.0, seconds=True)
    ('2', '-', 'on', '1m30s')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if seconds and isinstance(value, int | float):
        return format_duration(float(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# Key parsers: ``(text, where) -> value``, raising ConfigError that names ``where``.


def positive(text: str, where: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{where}: must be > 0, got {text!r}")
    return value


def optional_positive(text: str, where: str) -> float | None:
    """A number > 0, or ``-``/``none`` for unset."""
    return None if text.strip().lower() in ("", "-", "none") else positive(text, where)


def positive_int(text: str, where: str) -> int:
    """A whole number >= 1."""
    value = positive(text, where)
    if value != int(value):
        raise ConfigError(f"{where}: expected a whole number, got {text!r}")
    return int(value)


def duration(text: str, where: str) -> float:
    """A duration >= 0 (``30``, ``30s``, ``1m30s``, ``250ms``; 0 turns a phase off)."""
    return parse_duration(text, option=where)


def positive_duration(text: str, where: str) -> float:
    """A duration > 0 (0 would mean "not given" nowhere: it is refused)."""
    seconds = parse_duration(text, option=where)
    if not seconds > 0:
        raise ConfigError(f"{where}: expected a duration > 0 (e.g. 30s), got {text!r}")
    return seconds


def optional_duration(text: str, where: str) -> float | None:
    """A duration > 0, or ``-``/``auto``/``none`` for the default rule."""
    if text.strip().lower() in ("", "-", "auto", "none"):
        return None
    return positive_duration(text, where)


def fraction(text: str, where: str) -> float:
    """A number in (0, 1)."""
    value = positive(text, where)
    if not value < 1:
        raise ConfigError(f"{where}: expected a fraction in (0, 1) (e.g. 0.03), got {text!r}")
    return value


def plain_text(text: str, where: str) -> str:
    """Any non-empty text."""
    if not text.strip():
        raise ConfigError(f"{where}: expected a value")
    return text.strip()


def non_negative(text: str, where: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{where}: must be >= 0, got {text!r}")
    return value


def positive_int_or_zero(text: str, where: str) -> int:
    """A whole number >= 0."""
    value = non_negative(text, where)
    if value != int(value):
        raise ConfigError(f"{where}: expected a whole number, got {text!r}")
    return int(value)


def _range(text: str, where: str, one: Callable[[str, str], _T]) -> tuple[_T, _T]:
    low_text, dash, high_text = text.strip().partition("-")
    low = one(low_text, where)
    high = one(high_text, where) if dash else low
    if high < low:  # type: ignore[operator] # ints and floats
        raise ConfigError(f"{where}: the range {text!r} ends below its start")
    return low, high


def int_range(text: str, where: str) -> tuple[int, int]:
    """``N`` or ``LOW-HIGH`` (whole numbers >= 1; a draw is uniform over the range).

    >>> int_range("2-6", "turns"), int_range("4", "turns")
    ((2, 6), (4, 4))
    """
    return _range(text, where, positive_int)


def duration_range(text: str, where: str) -> tuple[float, float]:
    """``TIME`` or ``LOW-HIGH`` durations >= 0 (a draw is uniform over the range).

    >>> duration_range("500ms-2s", "think"), duration_range("0", "think")
    ((0.5, 2.0), (0.0, 0.0))
    """
    return _range(text, where, duration)


def parse_document(text: str, source: str, fmt: str, what: str) -> Any:
    """A JSON or YAML document (``fmt``), or one ConfigError line naming ``source``.

    The user's files (stages, sweep configurations) are read by this one
    function, so a bad file reads the same everywhere: what, where (line and
    column), what was expected. PyYAML is imported only for YAML: a missing
    one is a DependencyError naming ``what`` and the JSON way out.
    """
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
    if fmt != "yaml":
        raise ConfigError(f"{source}: unknown {what} format {fmt!r}; expected yaml or json")
    try:
        yaml: Any = importlib.import_module("yaml")  # PyYAML ships no type hints
    except ImportError:
        raise DependencyError(
            f"YAML {what} files need the 'pyyaml' package: pip install pyyaml "
            f"(or write the {what} as JSON)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: not valid YAML: {problem}{where}") from None
