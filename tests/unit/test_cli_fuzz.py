"""Fuzzing each ``locust-ml`` command in-process: bad input is one line and exit 2.

Issue 13, item 6. For each subcommand, Hypothesis builds argument lists
from the command's own options (with any values, and options it does not
have) and, where the command reads files, mutates real inputs (a report, a
profile, a trace) field by field. Every case must end with an exit code the
command documents, and an error must be one ``locust-ml COMMAND: ...`` line
(argparse's own usage errors, "usage:" plus one error line, count as the
standard two), with no traceback. ``locust-ml report`` must also leave the
report's directory as it was when it fails.

Nothing is started: ``serve``'s server, ``gpu-agent``'s listener,
``coldstart``'s measurement and ``sweep``'s loop are replaced by a stub that records that the
arguments were accepted. Examples are derandomized and bounded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import string
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locust_ml.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / "fixtures" / "report_json" / "ramp_open_loop.json"
#: What compare and autoscale read (through the same loader as ``report``).
READERS_REPORT = ROOT / "tests" / "fixtures" / "report_json" / "ramp_open_loop.json"
PROFILE = ROOT / "locust_ml" / "profiles" / "librispeech_durations.json"

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Reached(Exception):
    """The stub in place of what a command starts: its arguments were accepted."""


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[name]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


VALUES = st.one_of(
    st.sampled_from(["0", "-1", "1", "2", "1.5", "1e999", "nan", "inf", "", " ", "-", "x"]),
    st.sampled_from(["10s", "p99<1s", "http://127.0.0.1:9/", "a,b", "--", "/nonexistent/x"]),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.text(alphabet=string.printable, max_size=12),
    st.text(max_size=8),
)


@st.composite
def options(draw: st.DrawFn, parser: argparse.ArgumentParser, skip: frozenset[str]) -> list[str]:
    """Some of ``parser``'s options (and an unknown one), each with any value."""
    flags = sorted(
        {
            a.option_strings[-1]
            for a in parser._actions
            if a.option_strings and not skip & set(a.option_strings) and a.dest != "help"
        }
    )
    argv: list[str] = []
    for flag in draw(st.lists(st.sampled_from([*flags, "--bogus"]), max_size=4)):
        argv.append(flag)
        if draw(st.booleans()) or flag.endswith(("-json", "output")):
            argv.append(draw(VALUES))
    return argv


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code: Any = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    return int(code or 0), err


def _assert_one_line(code: int, err: str, command: str, codes: tuple[int, ...]) -> None:
    assert code in codes, (code, err)
    assert "Traceback" not in err, err
    if code == 0 or not err:
        return
    lines = err.strip("\n").split("\n")
    if lines[0].startswith("usage:"):  # argparse: usage (maybe wrapped) + one error line
        # (unknown options are reported by the top-level parser: "locust-ml: error: ...";
        # argparse quotes the bad argument as given, line breaks included)
        starts = (f"locust-ml {command}: error: ", "locust-ml: error: ")
        assert any(line.startswith(starts) for line in lines), err
        return
    assert len(lines) == 1, err
    assert lines[0].startswith(f"locust-ml {command}"), err


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace everything a command would start with :class:`Reached`."""

    def reached(*_: Any, **__: Any) -> Any:
        raise Reached

    monkeypatch.setattr("locust_ml.server.run.serve", reached)
    monkeypatch.setattr("locust_ml.telemetry.gpu_agent._bind", reached)
    monkeypatch.setattr("locust_ml.coldstart.measure_cold_start", reached)
    monkeypatch.setattr("locust_ml.sweep.command.run_sweep", reached)


def _accepted(call: Callable[[], tuple[int, str]]) -> tuple[int, str] | None:
    try:
        return call()
    except Reached:
        return None


# -- commands that start something -------------------------------------------------


@pytest.mark.usefixtures("stub")
@pytest.mark.parametrize(
    ("command", "fixed", "codes"),
    [
        ("serve", [], (2,)),
        ("gpu-agent", [], (2, 3)),  # 3: no NVML here (documented)
        ("coldstart", ["--cmd", "true", "--url", "http://127.0.0.1:9/"], (2, 3)),
        # Options it does not know are locust's, passed through (not an error here).
        (
            "sweep",
            ["-f", "locustfiles/summarizer.py", "--server", "s {port}", "--param", "b=1"],
            (2,),
        ),
    ],
)
def test_commands_that_start_something_reject_bad_options_in_one_line(
    capsys: pytest.CaptureFixture[str], command: str, fixed: list[str], codes: tuple[int, ...]
) -> None:
    parser = _subparser(command)

    @FUZZ
    @given(argv=options(parser, frozenset({"--allow-no-gpu"})))
    def check(argv: list[str]) -> None:
        result = _accepted(lambda: _run([command, *fixed, *argv], capsys))
        if result is not None:
            _assert_one_line(*result, command, codes)

    check()


# -- commands that read files ------------------------------------------------------


def _mutate(doc: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(doc, dict) and key in doc:
        return {**doc, key: _mutate(doc[key], rest, value)}
    if isinstance(doc, list) and isinstance(key, int) and 0 <= key < len(doc):
        return [*doc[:key], _mutate(doc[key], rest, value), *doc[key + 1 :]]
    return doc


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=6,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[Any, ...]]:
    out = [prefix]
    if depth == 0:
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k), depth - 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:2]):
            out += _paths(v, (*prefix, i), depth - 1)
    return out


@st.composite
def mutated_text(draw: st.DrawFn, source: Path) -> str:
    """``source``'s JSON with up to three fields replaced by any JSON value (or raw text)."""
    doc = json.loads(source.read_text())
    paths = _paths(doc)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        doc = _mutate(doc, list(draw(st.sampled_from(paths))), draw(JSON))
    text = json.dumps(doc)
    return draw(st.just(text) | st.sampled_from(["", "{", "[]", "1e999", "[" * 50_000]))


def test_report_fails_in_one_line_and_leaves_the_directory_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "report.json"
    parser = _subparser("report")

    # A report that loads is rendered whole (HTML plots: about 1 s), so fewer cases.
    @settings(FUZZ, max_examples=30)
    @given(text=mutated_text(REPORT), argv=options(parser, frozenset({"--output", "-o"})))
    def check(text: str, argv: list[str]) -> None:
        for extra in tmp_path.iterdir():  # the last case's redecided-* folder, if any
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        saved.write_text(text)
        code, err = _run(["report", str(saved), *argv], capsys)
        _assert_one_line(code, err, "report", (0, 1, 2))
        # Exit 2 is also the verdict of an invalid run (files written, nothing on stderr).
        if code == 2 and err and not err.startswith("usage:"):
            assert [p.name for p in tmp_path.iterdir()] == ["report.json"], err
            assert saved.read_text() == text

    check()


@pytest.mark.parametrize("command", ["compare", "autoscale"])
def test_report_readers_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    saved = tmp_path / "report.json"
    out = tmp_path / "out"
    parser = _subparser(command)
    fixed = (
        ["--deployment", "d", "-o", str(out)] if command == "autoscale" else [str(READERS_REPORT)]
    )

    @FUZZ
    @given(
        text=mutated_text(READERS_REPORT),
        argv=options(parser, frozenset({"--output", "-o", "--markdown", "--json"})),
    )
    def check(text: str, argv: list[str]) -> None:
        saved.write_text(text)
        code, err = _run([command, str(saved), *fixed, *argv], capsys)
        _assert_one_line(code, err, command, (0, 2))

    check()


def test_sample_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p.json"
    out = tmp_path / "out.csv"

    @FUZZ
    @given(
        source=st.sampled_from(["file", "librispeech_durations", "nope", "", "/nonexistent.json"]),
        text=mutated_text(PROFILE),
        # Bounded: a valid -n is drawn and written (streamed, but still n rows).
        n=st.integers(min_value=-3, max_value=500).map(str)
        | st.sampled_from(["", "x", "1.5", "1e999", "nan", "-0", "0x10"]),
        to_file=st.booleans(),
    )
    def check(source: str, text: str, n: str, to_file: bool) -> None:
        profile.write_text(text)
        argv = ["sample", str(profile) if source == "file" else source, "-n", n]
        code, err = _run([*argv, "-o", str(out)] if to_file else argv, capsys)
        _assert_one_line(code, err, "sample", (0, 2))

    check()


CELLS = st.one_of(
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.sampled_from(["", "x", "1e999", "nan", "-0", "2024-01-01 00:00:00.1234567", "1.5"]),
    st.text(alphabet=string.printable, max_size=6),
)


@st.composite
def traces(draw: st.DrawFn) -> tuple[str, str]:
    """A small CSV or JSONL trace with any cells, and its file suffix."""
    columns = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]
    # Half the traces are well-formed numbers (so fits run), half any cells.
    cells = draw(st.sampled_from([CELLS, st.integers(min_value=0, max_value=5000).map(str)]))
    rows = draw(st.lists(st.lists(cells, min_size=3, max_size=3), max_size=30))
    if draw(st.booleans()):
        lines = [",".join(columns)] + [",".join(r) for r in rows]
        return "\n".join(lines), ".csv"
    records = [json.dumps(dict(zip(columns, r, strict=True))) for r in rows]
    return "\n".join(records), ".jsonl"


def test_fit_trace_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = _subparser("fit-trace")

    @FUZZ
    @given(
        trace=traces(),
        columns=st.sampled_from(["ContextTokens", "ContextTokens,GeneratedTokens", "Nope", ","]),
        timestamp=st.sampled_from([[], ["--timestamp", "TIMESTAMP"], ["--timestamp", "X"]]),
        argv=options(parser, frozenset({"--columns", "--timestamp", "-o", "--output"})),
    )
    def check(trace: tuple[str, str], columns: str, timestamp: list[str], argv: list[str]) -> None:
        text, suffix = trace
        path = tmp_path / f"trace{suffix}"
        path.write_text(text)
        out = tmp_path / "profile.json"
        argv = ["fit-trace", str(path), "--columns", columns, *timestamp, "-o", str(out), *argv]
        code, err = _run(argv, capsys)
        _assert_one_line(code, err, "fit-trace", (0, 2))

    check()
