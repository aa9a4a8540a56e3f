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
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    run = run_locust(
        [
            "-f",
            "locustfiles/summarizer.py",
            "--headless",
            "--ml-server-backend",
            "simulated",
            "--ml-report-dir",
            str(tmp_path / "r"),
            *args,
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
