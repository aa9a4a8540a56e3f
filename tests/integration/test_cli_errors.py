"""The CLI's error contract in real processes: one line on stderr, exit 2, no traceback.

The in-process fuzz tests (``tests/unit/test_cli_fuzz.py``) call ``main``;
this checks what a shell sees for a few representative bad inputs of
issue 13, including that nothing is written.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import BIN, ROOT

pytestmark = pytest.mark.slow

FIXTURE = ROOT / "tests" / "fixtures" / "report_json" / "ramp_open_loop.json"


def _cases(tmp: Path) -> list[tuple[list[str], str]]:
    edited = tmp / "edited" / "report.json"
    edited.parent.mkdir()
    data = json.loads(FIXTURE.read_text())
    data["steps"][0]["latency_ms"]["p99"] = 123456.789
    edited.write_text(json.dumps(data).replace("123456.789", "1e999", 1))
    negative = tmp / "negative.json"
    data = json.loads(FIXTURE.read_text())
    data["capacity"]["slo_rps"] = -5
    negative.write_text(json.dumps(data))
    return [
        (["report", str(edited)], "the number 1e999 is out of range"),
        (["compare", str(negative)], "capacity.slo_rps must be >= 0"),
        (
            ["serve", "--backend", "simulated", "--port-file", str(tmp / "missing" / "port")],
            "does not exist",
        ),
        (["sample", "azure_conv", "-n", "0"], "-n 0: expected a number of samples >= 1"),
    ]


def test_bad_cli_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    for argv, expected in _cases(tmp_path):
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        proc = subprocess.run(
            [str(BIN / "locust-ml"), *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, (argv, proc.stderr)
        assert expected in lines[0], (argv, lines[0])
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
