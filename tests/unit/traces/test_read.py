"""Reading traces: formats, timestamps, and one clear error per kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from locust_ml.errors import ConfigError, TraceError
from locust_ml.traces.read import parse_timestamp, read_trace

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "traces"
LLM = ["ContextTokens", "GeneratedTokens"]


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _error(path: Path, columns: list[str], **kw: str) -> str:
    with pytest.raises(TraceError) as info:
        read_trace(path, columns, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- good input -------------------------------------------------------------


def test_csv_with_crlf_and_no_final_newline_reads_every_row() -> None:
    trace = read_trace(FIXTURES / "small_llm.csv", LLM, timestamp="TIMESTAMP")
    assert trace.rows == 5
    assert trace.columns["ContextTokens"].tolist() == [374, 396, 1200, 88, 2048]
    assert trace.columns["GeneratedTokens"].tolist() == [44, 109, 20, 310, 7]
    assert trace.timestamps_ns is not None
    assert trace.timestamps_ns.dtype == np.int64
    # 100 ns resolution survives: rows 3 and 4 are 100 ns apart.
    assert int(trace.timestamps_ns[3] - trace.timestamps_ns[2]) == 100
    assert trace.source.format == "csv"
    assert len(trace.source.sha256) == 64


def test_jsonl_reads_the_same_values_as_the_csv() -> None:
    csv = read_trace(FIXTURES / "small_llm.csv", LLM, timestamp="TIMESTAMP")
    jsonl = read_trace(FIXTURES / "small_llm.jsonl", LLM, timestamp="TIMESTAMP")
    assert jsonl.source.format == "jsonl"
    assert jsonl.rows == 5  # the blank line is not a row
    for name in LLM:
        assert jsonl.columns[name].tolist() == csv.columns[name].tolist()
    assert jsonl.timestamps_ns is not None
    assert csv.timestamps_ns is not None
    assert jsonl.timestamps_ns.tolist() == csv.timestamps_ns.tolist()


def test_format_is_sniffed_when_the_suffix_says_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, "trace.log", '{"w": 3}\n{"w": 4}\n')
    assert read_trace(path, ["w"]).source.format == "jsonl"
    path = _write(tmp_path, "trace.dat", "w\n3\n4\n")
    assert read_trace(path, ["w"]).columns["w"].tolist() == [3, 4]


def test_only_requested_columns_are_read_in_the_order_asked(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "a,b,c\n1,x,2\n3,y,4\n")
    trace = read_trace(path, ["c", "a"])
    assert list(trace.columns) == ["c", "a"]
    assert trace.columns["c"].tolist() == [2, 4]


def test_bom_blank_lines_and_quoted_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", '\ufeff"w","note"\n\n5,"a, b"\n\n6,"c"\n\n')
    assert read_trace(path, ["w"]).columns["w"].tolist() == [5, 6]


def test_tsv_uses_tabs(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.tsv", "w\th\n3\t4\n")
    assert read_trace(path, ["w", "h"]).columns["h"].tolist() == [4]


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("2023-11-16 18:15:46.6805900", 1700158546_680590000),
        ("2023-11-16T18:15:46.680590000Z", 1700158546_680590000),
        ("2023-11-16T18:15:46.68059", 1700158546_680590000),
        ("2023-11-16T19:15:46.68059+01:00", 1700158546_680590000),
        ("2023-11-16T17:15:46.68059-0100", 1700158546_680590000),
        ("2023-11-16 18:15:46,6805900", 1700158546_680590000),
        ("2023-11-16 18:15", 1700158500_000000000),
        ("2023-11-16", 1700092800_000000000),
        ("1700158546.6805900", 1700158546_680590000),
        ("1700158546", 1700158546_000000000),
        ("1.7e9", 1700000000_000000000),
        (" 12.5 ", 12_500000000),
    ],
)
def test_timestamp_forms(text: str, expected_ns: int) -> None:
    assert parse_timestamp(text) == expected_ns


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2023-13-01 00:00:00", "2023-02-30", "2023-11-16 24:00:00", "nan"]
)
def test_bad_timestamps_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"timestamp|date|range"):
        parse_timestamp(text)


# --- bad requests -------------------------------------------------------------


def test_no_columns_or_duplicates_are_config_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "a\n1\n")
    with pytest.raises(ConfigError):
        read_trace(path, [])
    with pytest.raises(ConfigError, match="'a' requested twice"):
        read_trace(path, ["a", "a"])
    with pytest.raises(ConfigError, match="timestamp column"):
        read_trace(path, ["a"], timestamp="a")


# --- bad input: one test per kind, each naming file, row and column -------------


def test_missing_column_suggests_the_closest_name() -> None:
    message = _error(FIXTURES / "small_llm.csv", ["ContextToken", "GeneratedTokens"])
    assert "line 1" in message
    assert "column 'ContextToken'" in message
    assert "did you mean 'ContextTokens'?" in message
    assert "(the header has: TIMESTAMP, ContextTokens, GeneratedTokens)" in message


def test_missing_column_with_wrong_case_suggests_the_real_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "Width,Height\n3,4\n")
    assert "did you mean 'Width'?" in _error(path, ["width"])


def test_missing_timestamp_column_is_named(tmp_path: Path) -> None:
    message = _error(FIXTURES / "small_llm.csv", LLM, timestamp="TIME")
    assert "column 'TIME'" in message
    assert "did you mean 'TIMESTAMP'?" in message


def test_missing_key_in_one_jsonl_row_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.jsonl", '{"width": 1}\n{"width": 2}\n{"widht": 3}\n')
    message = _error(path, ["width"])
    assert "row 3 (line 3)" in message
    assert "column 'width'" in message
    assert "did you mean 'widht'? (this row has: widht)" in message


def test_non_numeric_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,h\n3,4\n5,abc\n")
    message = _error(path, ["w", "h"])
    assert "row 2 (line 3)" in message
    assert "column 'h'" in message
    assert "'abc' is not a number" in message


def test_non_numeric_json_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.jsonl", '{"w": 3}\n{"w": true}\n')
    message = _error(path, ["w"])
    assert "row 2 (line 2), column 'w'" in message
    assert "True is not a number" in message


def test_empty_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,h\n3,\n")
    message = _error(path, ["w", "h"])
    assert "row 1 (line 2), column 'h': empty value" in message


def test_non_finite_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w\n3\ninf\n")
    assert "row 2 (line 3), column 'w': value 'inf' is not finite" in _error(path, ["w"])


def test_zero_size() -> None:
    message = _error(FIXTURES / "zero_size.csv", ["width", "height"])
    assert "row 3 (line 4), column 'width'" in message
    assert "'0' is not a positive size" in message


def test_negative_size(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,h\n3,4\n5,-2\n")
    message = _error(path, ["w", "h"])
    assert "row 2 (line 3), column 'h'" in message
    assert "'-2' is not a positive size" in message


def test_unparseable_timestamp() -> None:
    message = _error(FIXTURES / "bad_timestamp.csv", LLM, timestamp="TIMESTAMP")
    assert "row 2 (line 3), column 'TIMESTAMP'" in message
    assert "'2023-11-16 25:99:00' is not a timestamp" in message
    assert "YYYY-MM-DD HH:MM:SS" in message


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.csv", "")
    message = _error(path, ["width", "height"])
    assert "line 1" in message
    assert "empty file" in message
    assert "'width', 'height'" in message


def test_whitespace_only_jsonl_is_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, "empty.jsonl", "\n  \n")
    assert "empty file" in _error(path, ["w"])


def test_header_without_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,h\r\n")
    message = _error(path, ["w", "h"])
    assert "line 2" in message
    assert "no data rows" in message


def test_binary_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "trace.csv", b"w,h\n3,4\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    message = _error(path, ["w", "h"])
    assert "line 5" in message  # the NUL follows "\x1a\n", the 4th line
    assert "not a text trace (NUL byte at byte 16)" in message


def test_invalid_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, "trace.csv", b"w,h\n3,4\n5,\xff\xfe\n")
    message = _error(path, ["w", "h"])
    assert "line 3" in message
    assert "invalid UTF-8" in message


def test_short_row_names_the_missing_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,h,bytes\n3,4,5\n6,7\n")
    message = _error(path, ["w", "bytes"])
    assert "row 2 (line 3), column 'bytes'" in message
    assert "2 fields, the header has 3" in message


def test_duplicate_header_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "w,w\n3,4\n")
    assert "line 1, column 'w' (header): the column name appears 2 times" in _error(path, ["w"])


def test_invalid_json_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.jsonl", '{"w": 1}\n{"w": 2,}\n')
    message = _error(path, ["w"])
    assert "row 2 (line 2)" in message
    assert "not valid JSON" in message


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.jsonl", "[1, 2]\n")
    assert "row 1 (line 1): expected a JSON object per line, got list" in _error(path, ["w"])


def test_missing_file_is_a_trace_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert "cannot read the trace" in _error(path, ["w"])
