"""docs/getting-started.md's "Write your own locustfile", run exactly as written.

The example's ``model = "my-model"`` used to fail every request against the
embedded reference server (404: the server served only ``summarizer``)
while the report plotted thousands of requests per second. The embedded
server now serves the model the locustfile asks for, and a target that does
not serve it stops the run before any load (the preflight), which the
second test shows with the server told to serve another name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT, run_locust

pytestmark = pytest.mark.slow

#: One 4 s step of the example's first load (4 users) instead of 16 steps of 60 s
#: (eight half-second windows: enough for the step to be judged on a busy machine).
SHORT = ["--ml-shape", "ramp:max=4,step=4s", "--ml-server-backend", "simulated"]


def _example(tmp_path: Path) -> Path:
    """The Python block under "## Write your own locustfile", written to a file."""
    doc = (ROOT / "docs" / "getting-started.md").read_text()
    section = doc.split("## Write your own locustfile", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the example is gone from docs/getting-started.md"
    path = tmp_path / "my_locustfile.py"
    path.write_text(match.group(1))
    return path


def test_the_getting_started_example_runs_as_written(tmp_path: Path) -> None:
    locustfile = _example(tmp_path)
    assert 'model = "my-model"' in locustfile.read_text()
    out = tmp_path / "report"
    run = run_locust(
        ["-f", str(locustfile), "--headless", *SHORT, "--ml-report-dir", str(out)], timeout=60
    )
    assert run.returncode == 0, run.output[-4000:]
    assert "starting the reference server (backend=simulated, model 'my-model')" in run.output
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["requests"] > 0
    assert report["totals"]["failures"] == 0
    assert [s["users"] for s in report["steps"]] == [4]


def test_a_model_the_target_does_not_serve_stops_the_run_before_the_load(tmp_path: Path) -> None:
    locustfile = _example(tmp_path)
    out = tmp_path / "report"
    run = run_locust(
        [
            "-f",
            str(locustfile),
            "--headless",
            *SHORT,
            "--ml-server-args",
            "--model-name other-model",
            "--ml-report-dir",
            str(out),
        ],
        timeout=60,
    )
    assert run.returncode == 2, run.output[-4000:]
    errors = [line for line in run.output.splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    assert re.search(
        r"locust-ml: the target does not serve the model 'my-model' that MyModel asks for: "
        r"GET http://127\.0\.0\.1:\d+/v1/models lists other-model\. "
        r"Set model = \.\.\. in the user class or --ml-model$",
        errors[0],
    ), errors[0]
    assert "Traceback" not in run.output
    assert not (out / "report.json").exists()
