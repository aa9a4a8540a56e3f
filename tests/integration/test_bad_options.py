"""A bad option in a real ``locust`` process: one line on stderr, exit 2, nothing started.

Every kind of bad option is checked in-process (``tests/unit/plugin/test_bad_options.py``);
this is the process-level contract, once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import run_locust

pytestmark = pytest.mark.slow


def test_a_bad_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run = run_locust(
        [
            *("-f", "locustfiles/summarizer.py", "--headless"),
            *("--ml-shape", "ramp:steps=3", "--ml-report-dir", str(tmp_path / "r")),
        ],
        timeout=60,
    )
    assert run.returncode == 2, run.output[-2000:]
    assert "Traceback" not in run.output
    errors = [ln for ln in run.stderr.splitlines() if "ERROR/locust_ml" in ln]
    assert len(errors) == 1, run.stderr[-2000:]
    assert "--ml-shape: ramp has no key 'steps'; its keys are warmup, spawn_rate" in errors[0]
    assert "starting the reference server" not in run.output  # nothing was started
    assert not (tmp_path / "r").exists()
