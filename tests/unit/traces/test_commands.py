"""``fit-trace`` and ``sample`` end to end: output, exit codes, nothing written on error."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from locust_ml.traces import Profile
from locust_ml.traces.commands import (
    add_fit_trace_arguments,
    add_sample_arguments,
    run_fit_trace,
    run_sample,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "traces"


def _run(
    add: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: list[str],
) -> int:
    parser = argparse.ArgumentParser()
    add(parser)
    return run(parser.parse_args(argv))


def fit(*argv: str | Path) -> int:
    return _run(add_fit_trace_arguments, run_fit_trace, [str(a) for a in argv])


def sample(*argv: str | Path) -> int:
    return _run(add_sample_arguments, run_sample, [str(a) for a in argv])


def _synthetic_trace(path: Path, n: int = 3000) -> None:
    rng = np.random.default_rng(5)
    ctx = np.rint(rng.lognormal(6.5, 0.8, size=n)).astype(int) + 1
    gen = np.minimum(np.rint(ctx * rng.uniform(0.05, 0.3, size=n)).astype(int) + 1, 500)
    t = np.cumsum(rng.exponential(0.2, size=n))
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    lines += [f"{s:.6f},{c},{g}" for s, c, g in zip(t, ctx, gen, strict=True)]
    path.write_text("\r\n".join(lines))


def test_fit_trace_writes_a_profile_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "small.json"
    code = fit(
        FIXTURES / "small_llm.csv",
        "--columns",
        "ContextTokens, GeneratedTokens",
        "--timestamp",
        "TIMESTAMP",
        "-o",
        out,
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert printed.err == ""
    assert "small_llm.csv: 5 rows" in printed.out
    assert "ContextTokens" in printed.out
    assert "KS D" in printed.out
    assert "dependence: empirical copula over 5 rank tuples" in printed.out
    assert "arrivals (TIMESTAMP): 5 requests" in printed.out
    profile = Profile.load(out)
    assert profile.name == "small"
    assert profile.column_names == ("ContextTokens", "GeneratedTokens")


@pytest.mark.parametrize(
    ("trace", "columns", "expected"),
    [
        ("zero_size.csv", "width,height", "row 3 (line 4), column 'width'"),
        ("small_llm.csv", "ContextToken", "did you mean 'ContextTokens'?"),
        ("bad_timestamp.csv", "ContextTokens", "row 2 (line 3), column 'TIMESTAMP'"),
    ],
)
def test_bad_trace_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trace: str,
    columns: str,
    expected: str,
) -> None:
    out = tmp_path / "p.json"
    extra = ["--timestamp", "TIMESTAMP"] if trace == "bad_timestamp.csv" else []
    code = fit(FIXTURES / trace, "--columns", columns, *extra, "-o", out)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("locust-ml fit-trace: error: ")
    assert err.count("\n") == 1
    assert trace in err
    assert expected in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_trace_leaves_an_existing_profile_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.json"
    out.write_text("keep me")
    assert fit(FIXTURES / "zero_size.csv", "--columns", "width", "-o", out) == 2
    assert out.read_text() == "keep me"
    capsys.readouterr()


def test_binary_trace_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    trace.write_bytes(b"\x00\x01\x02binary")
    assert fit(trace, "--columns", "w", "-o", tmp_path / "p.json") == 2
    assert "not a text trace" in capsys.readouterr().err


def test_sample_to_stdout_uses_the_trace_column_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert sample("coco_image_sizes", "-n", "50", "--seed", "3") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["width", "height"]
    assert len(rows) == 51
    assert all(r[0].isdigit() and r[1].isdigit() for r in rows[1:])


def test_sample_is_seeded(capsys: pytest.CaptureFixture[str]) -> None:
    sample("librispeech_durations", "-n", "20", "--seed", "9")
    first = capsys.readouterr().out
    sample("librispeech_durations", "-n", "20", "--seed", "9")
    assert capsys.readouterr().out == first
    assert first.splitlines()[0] == "duration_s,sample_rate"
    assert first.splitlines()[1].endswith(",16000")


def test_sample_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert sample("azure_code", "-n", "100", "-o", out) == 0
    assert "wrote 100 draws" in capsys.readouterr().out
    assert out.read_text().splitlines()[0] == "ContextTokens,GeneratedTokens"
    assert len(out.read_text().splitlines()) == 101


def test_sample_bad_profile_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "kind": "locust-ml/profile", "name": "x", "columns": 3}')
    out = tmp_path / "out.csv"
    assert sample(bad, "-n", "10", "-o", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("locust-ml sample: error: ")
    assert err.count("\n") == 1
    assert "bad.json: field 'columns': expected a list" in err
    assert not out.exists()


def test_sample_needs_a_positive_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert sample("azure_conv", "-n", "0") == 2
    assert "-n 0" in capsys.readouterr().err


def test_fit_then_sample_reproduces_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, profile, drawn = tmp_path / "t.csv", tmp_path / "p.json", tmp_path / "s.csv"
    _synthetic_trace(trace)
    cols = "ContextTokens,GeneratedTokens"
    assert fit(trace, "--columns", cols, "--timestamp", "TIMESTAMP", "-o", profile) == 0
    assert sample(profile, "-n", "50000", "-o", drawn, "--seed", "1") == 0
    capsys.readouterr()
    real = np.loadtxt(trace, delimiter=",", skiprows=1, usecols=(1, 2))
    fake = np.loadtxt(drawn, delimiter=",", skiprows=1)
    for j in range(2):
        assert stats.ks_2samp(real[:, j], fake[:, j]).statistic <= 0.05
    rho_real = stats.spearmanr(real[:, 0], real[:, 1]).statistic
    rho_fake = stats.spearmanr(fake[:, 0], fake[:, 1]).statistic
    assert rho_fake == pytest.approx(rho_real, abs=0.05)


def test_option_choices_match_the_models() -> None:
    from locust_ml.traces import commands
    from locust_ml.traces.dependence import DEPENDENCE_MODELS, MAX_ROWS
    from locust_ml.traces.marginals import FAMILIES

    assert ("auto", "empirical", *FAMILIES) == commands.FAMILY_CHOICES
    assert commands.DEPENDENCE_CHOICES == DEPENDENCE_MODELS
    assert commands.DEFAULT_COPULA_ROWS == MAX_ROWS


def test_building_the_parser_imports_neither_numpy_nor_scipy() -> None:
    import subprocess
    import sys

    code = (
        "import argparse, sys\n"
        "from locust_ml.traces.commands import add_fit_trace_arguments, add_sample_arguments\n"
        "add_fit_trace_arguments(argparse.ArgumentParser())\n"
        "add_sample_arguments(argparse.ArgumentParser())\n"
        "print(','.join(m for m in ('numpy', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_fit_trace_on_evenly_spaced_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 13: scipy's gamma fit raised ValueError on gaps that never vary.
    trace = tmp_path / "even.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens\n"
        + "".join(f"{1700000000 + i},{100 + i % 7}\n" for i in range(100))
    )
    out = tmp_path / "even.json"
    assert fit(trace, "--columns", "ContextTokens", "--timestamp", "TIMESTAMP", "-o", out) == 0
    arrivals = Profile.load(out).arrivals
    assert arrivals is not None
    assert arrivals.gap_cv == 0.0
    assert arrivals.mean_rate == pytest.approx(1.0)
    assert arrivals.gamma_shape == pytest.approx(1e6)
    assert arrivals.gamma_shape * arrivals.gamma_scale == pytest.approx(1.0)
    assert "gamma shape 1000000" in capsys.readouterr().out


def _peak_bytes(argv: list[str]) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        assert sample(*argv) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sample_streams_its_file_in_chunks_memory_stays_flat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 13: -n 200000000 reached 19.7 GB before writing a byte (all draws, then one
    # CSV string). Now rows go out 65,536 at a time: 5x the rows, the same peak.
    out = tmp_path / "s.csv"
    sample("coco_image_sizes", "-n", "10", "-o", out)  # load the profile and imports first
    small = _peak_bytes(["coco_image_sizes", "-n", "70000", "-o", str(out)])
    large = _peak_bytes(["coco_image_sizes", "-n", "350000", "-o", str(out)])
    assert large < 1.25 * small, (small, large)
    assert large < 30 * 2**20, large  # drawing 350,000 rows at once took over 45 MB
    with out.open() as f:
        assert sum(1 for _ in f) == 350_001
    capsys.readouterr()


def test_sample_chunks_join_to_the_same_rows_on_stdout_and_in_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.csv"
    assert sample("azure_code", "-n", "70000", "--seed", "4", "-o", out) == 0
    capsys.readouterr()
    assert sample("azure_code", "-n", "70000", "--seed", "4") == 0
    assert capsys.readouterr().out == out.read_text()
