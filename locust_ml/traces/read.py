"""Read a request trace (CSV or JSON Lines) into numpy columns.

A trace is a table with one row per request: size columns (tokens, pixels,
bytes, seconds of audio) and, optionally, a timestamp column. We read only the
columns asked for, by name, and every value is checked on the way in, because
a profile fitted from a silently mangled trace would make every later load
test wrong without anyone noticing. The first bad value stops the read with
one :class:`~locust_ml.errors.TraceError` that names the file, the row and the
column, and says what was expected::

    trace.csv, row 17 (line 18), column 'ContextTokens': value 'abc' is not a
    number; expected a positive size

Rows are counted from 1 over data rows (the CSV header and blank lines are not
rows); the physical line is given too, since that is what an editor shows.

Why not pandas: it is not a dependency, it guesses types per column where we
need one rule (sizes are finite numbers > 0), and its errors name neither the
row nor the column. Memory stays bounded for big files: the file is streamed
twice (first to hash it and reject binary data, then to parse it) and values
go straight into typed arrays, 8 bytes per value, never a list of dicts.

Timestamps become int64 nanoseconds since the Unix epoch, so the 100 ns
resolution of the Azure traces survives (a float64 of epoch seconds keeps only
~0.2 us). Accepted forms: ``YYYY-MM-DD[ T]HH:MM[:SS[.f...]]`` with up to 9
fractional digits, an optional ``Z`` or ``+HH:MM`` offset (a time without a
zone is taken as UTC), or a plain number of epoch seconds.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import hashlib
import json
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError, TraceError

__all__ = ["Trace", "TraceFormat", "TraceSource", "parse_timestamp", "read_trace"]

TraceFormat = Literal["csv", "jsonl"]

_CHUNK = 1 << 20
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_TIMESTAMP_FORMS = (
    "expected YYYY-MM-DD HH:MM:SS[.fffffffff] (ISO 8601; 'T' or space, "
    "optional Z or +HH:MM) or epoch seconds"
)
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)
_EPOCH = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NS = 1_000_000_000


@dataclass(frozen=True)
class TraceSource:
    """Where a trace came from: enough to tell later which file a profile was fitted on."""

    path: str
    name: str
    sha256: str
    size_bytes: int
    format: TraceFormat
    rows: int


@dataclass(frozen=True, eq=False)
class Trace:
    """The requested columns of one trace file, validated.

    ``columns`` maps each size column, in the order asked for, to a float64
    array of finite values > 0. ``timestamps_ns`` holds the timestamp column as
    int64 nanoseconds since the epoch, in file order (not necessarily sorted).
    """

    source: TraceSource
    columns: Mapping[str, npt.NDArray[np.float64]]
    timestamp_column: str | None = None
    timestamps_ns: npt.NDArray[np.int64] | None = None

    @property
    def rows(self) -> int:
        return self.source.rows


def _where(file: str, row: int | None = None, line: int | None = None, column: str = "") -> str:
    parts = [file]
    if row is not None:
        parts.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
    elif line is not None:
        parts.append(f"line {line}")
    if column:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


def _missing_column(name: str, available: Sequence[str], where: str, what: str) -> TraceError:
    lowered = {a.lower(): a for a in available}
    close = [lowered[name.lower()]] if name.lower() in lowered else []
    close = close or difflib.get_close_matches(name, list(available), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(available) if available else "(none)"
    return TraceError(f"{where}: no such column{hint} ({what}: {shown})")


def _scan(path: Path, shown: str) -> tuple[str, int, str]:
    """Hash the file and reject binary data; return (sha256, size, first text)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines_before = 0
    size = 0
    head = ""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            nul = chunk.find(b"\0")
            if nul >= 0:
                line = lines_before + chunk.count(b"\n", 0, nul) + 1
                raise TraceError(
                    f"{_where(shown, line=line)}: not a text trace (NUL byte at byte "
                    f"{size + nul}); expected a UTF-8 CSV or JSON Lines file"
                )
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + bytes(exc.object[: exc.start]).count(b"\n") + 1
                raise TraceError(
                    f"{_where(shown, line=line)}: not a text trace (invalid UTF-8 near byte "
                    f"{size + exc.start}); expected a UTF-8 CSV or JSON Lines file"
                ) from None
            if len(head) < 4096:
                head += text[:4096]
            lines_before += chunk.count(b"\n")
            size += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise TraceError(
                f"{_where(shown, line=lines_before + 1)}: not a text trace (truncated UTF-8 "
                "at the end); expected a UTF-8 CSV or JSON Lines file"
            ) from None
    return digest.hexdigest(), size, head


def _detect_format(path: Path, head: str) -> TraceFormat:
    suffix = path.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    return "jsonl" if head.lstrip("\ufeff \t\r\n").startswith("{") else "csv"


@lru_cache(maxsize=4096)
def _day_seconds(year: int, month: int, day: int) -> int:
    return (dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 86_400


def parse_timestamp(text: str) -> int:
    """Parse one timestamp into int nanoseconds since the Unix epoch (UTC).

    >>> parse_timestamp("2023-11-16 18:15:46.6805900") % 10**9
    680590000
    >>> parse_timestamp("1970-01-01T00:00:01Z"), parse_timestamp("1.5")
    (1000000000, 1500000000)
    >>> parse_timestamp("1970-01-01T01:00:00+01:00")
    0

    Raises :class:`ValueError` (the reader turns it into a ``TraceError`` with
    the file, row and column) when ``text`` is neither form.
    """
    s = text.strip()
    m = _ISO.fullmatch(s)
    if m:
        year, month, day, hh, mm, ss, frac, zone = m.groups()
        hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)
        if hour > 23 or minute > 59 or second > 60:
            raise ValueError(f"time of day out of range in {text!r}")
        try:
            seconds = _day_seconds(int(year), int(month), int(day))
        except ValueError:
            raise ValueError(f"no such date in {text!r}") from None
        seconds += hour * 3600 + minute * 60 + second
        if zone and zone not in "Zz":
            digits = zone[1:].replace(":", "")
            offset = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
            seconds -= offset if zone[0] == "+" else -offset
        return seconds * _NS + int((frac or "0").ljust(9, "0"))
    m = _EPOCH.fullmatch(s)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac = m.groups()
        ns = int(whole or 0) * _NS + int((frac or "0")[:9].ljust(9, "0"))
        return -ns if sign == "-" else ns
    try:
        value = float(s)  # exponent forms such as 1.7e9
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite timestamp: {text!r}")
    return round(value * _NS)


class _Columns:
    """Typed accumulators for the requested columns, plus the per-value checks."""

    def __init__(self, file: str, sizes: Sequence[str], timestamp: str | None) -> None:
        self.file = file
        self.sizes = list(sizes)
        self.timestamp = timestamp
        self.values = {name: array("d") for name in sizes}
        self.stamps = array("q")

    def add_size(self, name: str, raw: Any, row: int, line: int) -> None:
        try:
            value = float(raw) if not isinstance(raw, bool) else math.nan
        except (TypeError, ValueError):
            value = math.nan
        if value > 0 and math.isfinite(value):  # the fast path: a good value
            self.values[name].append(value)
            return
        where = _where(self.file, row, line, name)
        if isinstance(raw, str) and not raw.strip():
            raise TraceError(f"{where}: empty value; expected a positive size")
        if math.isnan(value) or isinstance(raw, bool) or raw is None:
            raise TraceError(f"{where}: value {raw!r} is not a number; expected a positive size")
        if not math.isfinite(value):
            raise TraceError(f"{where}: value {raw!r} is not finite; expected a positive size")
        raise TraceError(
            f"{where}: value {raw!r} is not a positive size; sizes must be > 0 "
            "(drop or fix rows with zero or negative sizes)"
        )

    def add_timestamp(self, name: str, raw: Any, row: int, line: int) -> None:
        try:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError(raw)
            ns = parse_timestamp(raw if isinstance(raw, str) else repr(raw))
        except (ValueError, OverflowError):
            raise TraceError(
                f"{_where(self.file, row, line, name)}: value {raw!r} is not a timestamp; "
                f"{_TIMESTAMP_FORMS}"
            ) from None
        self.stamps.append(ns)

    def arrays(self) -> tuple[dict[str, npt.NDArray[np.float64]], npt.NDArray[np.int64] | None]:
        cols = {n: np.frombuffer(self.values[n], dtype=np.float64).copy() for n in self.sizes}
        stamps = None
        if self.timestamp is not None:
            stamps = np.frombuffer(self.stamps, dtype=np.int64).copy()
        return cols, stamps


def _csv_rows(
    path: Path, shown: str, wanted: Sequence[str], delimiter: str
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Yield (row, line, {column: text}) for each data row of a CSV file."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        index: dict[str, int] = {}
        header: list[str] | None = None
        row = 0
        try:
            for fields in reader:
                if not any(f.strip() for f in fields):
                    continue  # blank line
                if header is None:
                    header = [f.strip() for f in fields]
                    index = _header_index(header, wanted, shown, reader.line_num)
                    continue
                row += 1
                if len(fields) < len(header):
                    short = [n for n in wanted if index[n] >= len(fields)]
                    raise TraceError(
                        f"{_where(shown, row, reader.line_num, short[0] if short else '')}: "
                        f"the row has {len(fields)} fields, the header has {len(header)}"
                    )
                yield row, reader.line_num, {n: fields[index[n]] for n in wanted}
        except csv.Error as exc:
            raise TraceError(
                f"{_where(shown, line=reader.line_num)}: unreadable CSV ({exc})"
            ) from None
    if header is None:
        raise TraceError(
            f"{_where(shown, line=1)}: empty file; expected a CSV header naming the "
            f"columns {', '.join(map(repr, wanted))}, then one row per request"
        )


def _header_index(
    header: list[str], wanted: Sequence[str], shown: str, line: int
) -> dict[str, int]:
    index: dict[str, int] = {}
    for name in wanted:
        positions = [i for i, h in enumerate(header) if h == name]
        if not positions:
            where = _where(shown, line=line, column=name) + " (header)"
            raise _missing_column(name, header, where, "the header has")
        if len(positions) > 1:
            raise TraceError(
                f"{_where(shown, line=line, column=name)} (header): the column name appears "
                f"{len(positions)} times; expected unique column names"
            )
        index[name] = positions[0]
    return index


def _jsonl_rows(
    path: Path, shown: str, wanted: Sequence[str]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield (row, line, {column: value}) for each object of a JSON Lines file."""
    row = 0
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            row += 1
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TraceError(
                    f"{_where(shown, row, line_no)}: not valid JSON ({exc.msg} at character "
                    f"{exc.colno}); expected one JSON object per line"
                ) from None
            if not isinstance(obj, dict):
                raise TraceError(
                    f"{_where(shown, row, line_no)}: expected a JSON object per line, got "
                    f"{type(obj).__name__}"
                )
            for name in wanted:
                if name not in obj:
                    where = _where(shown, row, line_no, name)
                    raise _missing_column(name, list(obj), where, "this row has")
            yield row, line_no, {n: obj[n] for n in wanted}
    if row == 0:
        raise TraceError(
            f"{_where(shown, line=1)}: empty file; expected one JSON object per line "
            f"with the keys {', '.join(map(repr, wanted))}"
        )


def _check_names(columns: Sequence[str], timestamp: str | None) -> list[str]:
    names = [c.strip() for c in columns]
    if (not names and timestamp is None) or any(not n for n in names):
        raise ConfigError(f"trace columns: expected one or more column names, got {columns!r}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"trace columns: {', '.join(map(repr, dupes))} requested twice")
    if timestamp is not None and timestamp in names:
        raise ConfigError(
            f"trace columns: {timestamp!r} is the timestamp column; it cannot also be a size column"
        )
    return names


def read_trace(
    path: str | PathLike[str],
    columns: Iterable[str],
    *,
    timestamp: str | None = None,
    format: TraceFormat | None = None,
) -> Trace:
    """Read the size ``columns`` (and the ``timestamp`` column) of a trace file.

    ``columns`` may be empty when only the ``timestamp`` column is wanted.

    ``format`` is guessed from the suffix (``.csv``/``.tsv``, ``.jsonl``/
    ``.ndjson``) or, failing that, from the first character. Raises
    :class:`TraceError` naming file, row and column for any bad value, and
    :class:`ConfigError` for a bad request (no columns, a column named twice).
    """
    sizes = _check_names(list(columns), timestamp)
    shown = str(path)
    p = Path(path)
    try:
        sha256, size, head = _scan(p, shown)
        fmt = format or _detect_format(p, head)
        wanted = [*sizes, *([timestamp] if timestamp is not None else [])]
        rows: Iterator[tuple[int, int, Mapping[str, Any]]]
        if fmt == "jsonl":
            rows = _jsonl_rows(p, shown, wanted)
        else:
            rows = _csv_rows(p, shown, wanted, "\t" if p.suffix.lower() == ".tsv" else ",")
        acc = _Columns(shown, sizes, timestamp)
        count = 0
        for row, line, values in rows:
            for name in sizes:
                acc.add_size(name, values[name], row, line)
            if timestamp is not None:
                acc.add_timestamp(timestamp, values[timestamp], row, line)
            count = row
    except OSError as exc:
        raise TraceError(f"{shown}: cannot read the trace ({exc.strerror or exc})") from None
    if count == 0:
        raise TraceError(
            f"{_where(shown, line=2)}: no data rows after the header; expected one row per request"
        )
    cols, stamps = acc.arrays()
    source = TraceSource(
        path=shown, name=p.name, sha256=sha256, size_bytes=size, format=fmt, rows=count
    )
    return Trace(source=source, columns=cols, timestamp_column=timestamp, timestamps_ns=stamps)
