from __future__ import annotations

import sys
from pathlib import Path

import pytest

from locust_ml.analysis.steps import StepSpan
from locust_ml.errors import ConfigError
from locust_ml.plugin.step_hook import StepHook, step_environment

SPAN = StepSpan(3, 100.0, 130.5, 8, None, "closed", "ramp")
OPEN = StepSpan(4, 130.5, None, 16, 250.0, "open", "")


def test_environment_describes_the_step() -> None:
    env = step_environment("end", SPAN)
    assert env["LOCUST_ML_STEP_EVENT"] == "end"
    assert env["LOCUST_ML_STEP_ID"] == "3"
    assert env["LOCUST_ML_STEP_USERS"] == "8"
    assert env["LOCUST_ML_STEP_RPS"] == ""
    assert env["LOCUST_ML_STEP_LABEL"] == "ramp"
    assert env["LOCUST_ML_STEP_END"] == "130.500"
    env = step_environment("start", OPEN)
    assert (env["LOCUST_ML_STEP_MODE"], env["LOCUST_ML_STEP_RPS"], env["LOCUST_ML_STEP_END"]) == (
        "open",
        "250",
        "",
    )


def test_a_real_command_sees_its_step(tmp_path: Path) -> None:
    out = tmp_path / "steps.txt"
    script = (
        "import os; open(os.environ['OUT'], 'a').write("
        "os.environ['LOCUST_ML_STEP_EVENT'] + ' ' + os.environ['LOCUST_ML_STEP_ID'] + '\\n')"
    )
    hook = StepHook(f'{sys.executable} -c "{script}"', environ={"OUT": str(out)})
    hook.fire("start", OPEN)
    hook.fire("end", SPAN)
    assert out.read_text().splitlines() == ["start 4", "end 3"]
    assert (hook.runs, hook.failures) == (2, 0)


def test_failures_are_counted_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    hook = StepHook(f"{sys.executable} -c 'raise SystemExit(3)'")
    hook.fire("start", SPAN)
    hook.fire("end", SPAN)
    assert hook.failures == 2
    warnings = [r for r in caplog.records if "--ml-step-hook failed" in r.getMessage()]
    assert len(warnings) == 1
    assert "exit code 3" in warnings[0].getMessage()


def test_missing_program_and_timeout_do_not_raise() -> None:
    hook = StepHook("/nonexistent/program --flag")
    hook.fire("start", SPAN)
    slow = StepHook(f"{sys.executable} -c 'import time; time.sleep(30)'", timeout=0.5)
    slow.fire("start", SPAN)
    assert (hook.failures, slow.failures) == (1, 1)


@pytest.mark.parametrize("command", ["", "   ", "echo 'unterminated"])
def test_bad_commands_are_config_errors(command: str) -> None:
    with pytest.raises(ConfigError, match="--ml-step-hook"):
        StepHook(command)
