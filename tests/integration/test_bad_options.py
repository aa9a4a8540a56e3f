"""Impossible or contradictory options stop the run before it starts: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ml-arrival", "bogus"], "--ml-arrival: unknown arrival process 'bogus'"),
        (["--ml-arrival", "gamma:cv=-1"], "cv"),
        (["--ml-ramp-start", "-5"], "--ml-ramp-start"),
        (["--ml-ramp-start", "5", "--ml-ramp-max", "2"], "ramp max (2) must be >= ramp start (5)"),
        (["--ml-shape", "capacity-search", "--ml-search-start", "-3"], "--ml-search-start"),
        (["--ml-shape", "capacity-search", "--ml-search-precision", "0"], "--ml-search-precision"),
        (["--ml-shape", "stages"], "--ml-stages"),
        (["--ml-slo", "p99<<3"], "--ml-slo: 'p99<<3' is not an SLO"),
        (["--ml-step-time", "soon"], "--ml-step-time"),
        (["--ml-scrape", "ftp://x"], "scrape target"),
        (["--ml-step-hook", "'unterminated"], "--ml-step-hook"),
        # Issue 13: each of these failed only once the load had started, or with a traceback.
        (["--ml-step-time", "0"], "--ml-step-time: expected a duration > 0 s"),
        (["--ml-arrival", "trace:path=TMP/none.csv"], "none.csv: cannot read the trace"),
        (["--ml-arrival", "trace:path=TMP/ts.csv,column=NOPE"], "'NOPE' (header): no such column"),
        (["--ml-report-dir", "TMP/file/r"], "is a file, not a directory"),
        (["--ml-server-args", "--port 1"], "--port is chosen by locust-ml"),
        (["--ml-shape", "stages", "--ml-stages", "TMP/binary.json"], "not a text file"),
        (
            ["--ml-shape", "stages", "--ml-stages", "TMP/rates.json", "--ml-arrival", "closed"],
            "--ml-arrival closed contradicts the stages file",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "ts.csv").write_text("TIMESTAMP\n1\n2\n")
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    (tmp_path / "rates.json").write_text('[{"duration": 3, "rate": 5}]')
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-backend",
            "simulated",
            "--ml-report-dir",
            str(tmp_path / "r"),
            *(a.replace("TMP", str(tmp_path)) for a in args),
        ],
        timeout=60,
    )
    assert run.returncode == 2, run.output[-2000:]
    assert "Traceback" not in run.output
    errors = [ln for ln in run.stderr.splitlines() if "ERROR/locust_ml" in ln]
    assert len(errors) == 1, run.stderr[-2000:]
    assert expected in errors[0]
    assert "starting the reference server" not in run.output  # nothing was started
    assert not (tmp_path / "r").exists()


def test_a_broken_stages_file_names_the_file_stage_and_field(tmp_path: Path) -> None:
    stages = tmp_path / "stages.yaml"
    stages.write_text("- {duration: 10s, users: 2}\n- {duration: 5s, users: -3}\n")
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-shape",
            "stages",
            "--ml-stages",
            str(stages),
            "--ml-report-dir",
            str(tmp_path / "r"),
        ],
        timeout=60,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.output
    assert f"{stages}: stage 2: field 'users'" in run.stderr
