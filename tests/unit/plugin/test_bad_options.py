"""Impossible or contradictory options stop the run at Locust's ``init``: one line, exit 2.

In-process: the same listener ``locust`` runs (``hooks._on_init``) on an
environment built from the same parser. The real-process contract (one
line on stderr, exit code 2, nothing started) is checked once, in
``tests/integration/test_bad_options.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from locust import task
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.plugin import hooks
from locust_ml.plugin.shapes import RampShape
from locust_ml.plugin.users import TextUser


class Summarizer(TextUser):
    @task
    def one(self) -> None:
        self.generate()


class Ramp(RampShape):
    start = 1
    factor = 2.0
    max = 16
    step = "20s"


CASES = [
    (["--ml-arrival", "bogus"], "--ml-arrival: unknown arrival process 'bogus'"),
    (["--ml-arrival", "gamma:cv=-1"], "cv"),
    (["--ml-shape", "ramp:start=-5"], "--ml-shape: ramp start: must be > 0, got '-5'"),
    (["--ml-shape", "ramp:start=5,max=2"], "ramp max (2 users) must be >= ramp start (5)"),
    (["--ml-shape", ":start=1.5"], "ramp start must be a whole number of users"),
    (["--ml-shape", "ramp:steps=3"], "--ml-shape: ramp has no key 'steps'; its keys are"),
    (["--ml-shape", ":hold=1h"], "the ramp shape has no key 'hold'"),
    (["--ml-shape", "capacity-search:start=-3"], "--ml-shape: capacity-search start"),
    (["--ml-shape", "capacity-search:precision=0"], "--ml-shape: capacity-search precision"),
    (["--ml-shape", "stages"], "--ml-shape stages needs a file"),
    (["--ml-slo", "p99<<3"], "--ml-slo: 'p99<<3' is not an SLO"),
    (["--ml-shape", "ramp:step=soon"], "--ml-shape: ramp step: 'soon' is not a duration"),
    (["--ml-shape", "spike:recovery=0"], "--ml-shape: spike recovery: expected a duration > 0"),
    (["--ml-open-loop", "senders=0"], "--ml-open-loop: senders: must be > 0"),
    (["--ml-exporter", "localhost:http"], "--ml-exporter: expected a number, got 'http'"),
    (["--ml-scrape", "ftp://x"], "scrape target"),
    (["--ml-step-hook", "'unterminated"], "--ml-step-hook"),
    (["--ml-stability-tolerance", "2"], "--ml-stability-tolerance: must be between"),
    # Issue 13: each of these failed only once the load had started, or with a traceback.
    (["--ml-shape", "ramp:step=0"], "--ml-shape: ramp step: expected a duration > 0"),
    (["--ml-arrival", "trace:path=TMP/none.csv"], "none.csv: cannot read the trace"),
    (["--ml-arrival", "trace:path=TMP/ts.csv,column=NOPE"], "'NOPE' (header): no such column"),
    (["--ml-report-dir", "TMP/file/r"], "is a file, not a directory"),
    (["--ml-server-args", "--port 1"], "--port is chosen by locust-ml"),
    (["--ml-shape", "stages:TMP/binary.json"], "not a text file"),
    (
        ["--ml-shape", "stages:file=TMP/rates.json", "--ml-arrival", "closed"],
        "--ml-arrival closed contradicts the stages file",
    ),
    (["--ml-shape", "stages:TMP/broken.yaml"], "broken.yaml: stage 2: field 'users'"),
]


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_bad_options_are_one_line_and_exit_2(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, args: list[str], expected: str
) -> None:
    (tmp_path / "ts.csv").write_text("TIMESTAMP\n1\n2\n")
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)))
    (tmp_path / "rates.json").write_text('[{"duration": 3, "rate": 5}]')
    (tmp_path / "broken.yaml").write_text(
        "- {duration: 10s, users: 2}\n- {duration: 5s, users: -3}\n"
    )
    argv = [
        *("-f", "locustfiles/summarizer.py", "--ml-server-backend", "simulated"),
        *("--ml-report-dir", str(tmp_path / "r")),
        *(a.replace("TMP", str(tmp_path)) for a in args),
    ]
    env = Environment(
        user_classes=[Summarizer],
        shape_class=Ramp(),
        events=Events(),
        parsed_options=get_parser().parse_args(argv),
    )
    with caplog.at_level(logging.ERROR, logger="locust_ml"), pytest.raises(SystemExit) as info:
        hooks._on_init(env)
    assert info.value.code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert errors[0].startswith("locust-ml: ")
    assert "\n" not in errors[0]
    assert env.host is None  # the embedded server was not started
    assert not (tmp_path / "r").exists()
