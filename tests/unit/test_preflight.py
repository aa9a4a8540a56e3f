"""Checks before any load (issue 13, item 4 and the stages case of item 3).

Each case a user hit after the load had started - a missing trace file or
column, an unwritable report directory, a stages file of rates run closed
loop - is caught here, in the pure preflight, as one ``ConfigError``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from locust_ml.arrivals import DEFAULT_OPEN_ARRIVAL, parse_arrival
from locust_ml.errors import ConfigError
from locust_ml.preflight import (
    check_trace_arrival,
    check_writable_dir,
    preflight,
    resolve_arrival,
)
from locust_ml.traces.timeline import load_timestamps

CLOSED = parse_arrival("closed")
POISSON = parse_arrival("poisson")


def test_rate_stages_without_arrival_run_open_loop_and_say_so() -> None:
    chosen, note = resolve_arrival(None, CLOSED, "open", source="rates.json")
    assert chosen is not None
    assert str(chosen) == DEFAULT_OPEN_ARRIVAL
    assert note is not None
    assert "rates.json gives rates (open loop)" in note
    assert "\n" not in note


def test_user_stages_with_an_open_class_default_run_closed_loop() -> None:
    chosen, note = resolve_arrival(None, POISSON, "closed", source="users.yaml")
    assert chosen is not None
    assert not chosen.is_open
    assert note is not None
    assert "closed loop" in note


@pytest.mark.parametrize(
    ("given", "default", "mode"),
    [
        (None, CLOSED, "closed"),
        (None, POISSON, "open"),
        (POISSON, CLOSED, "open"),
        (CLOSED, CLOSED, "closed"),
        (None, CLOSED, None),
        (CLOSED, POISSON, None),
    ],
)
def test_agreeing_or_unfixed_modes_change_nothing(
    given: object, default: object, mode: object
) -> None:
    assert resolve_arrival(given, default, mode) == (None, None)  # type: ignore[arg-type]


def test_explicit_closed_with_rate_stages_is_an_error() -> None:
    with pytest.raises(
        ConfigError, match=r"--ml-arrival closed contradicts the stages file: s\.json gives rates"
    ):
        resolve_arrival(CLOSED, CLOSED, "open", source="s.json")


def test_explicit_open_process_with_user_stages_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"--ml-arrival gamma:cv=2 contradicts .* gives users"):
        resolve_arrival(parse_arrival("gamma:cv=2"), CLOSED, "closed", source="s.json")


def test_a_missing_trace_file_is_named(tmp_path: Path) -> None:
    spec = parse_arrival(f"trace:path={tmp_path / 'nope.csv'}")
    with pytest.raises(ConfigError, match=r"^--ml-arrival trace:path=.*nope\.csv: .*nope\.csv"):
        check_trace_arrival(spec, load_timestamps)


def test_a_missing_trace_column_is_named(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP\n1\n2\n3\n")
    spec = parse_arrival(f"trace:path={trace},column=NOPE")
    with pytest.raises(ConfigError, match=r"'NOPE'.*no such column"):
        check_trace_arrival(spec, load_timestamps)


def test_a_readable_trace_passes_and_other_processes_are_not_read(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP\n1\n2\n3.5\n")
    check_trace_arrival(parse_arrival(f"trace:path={trace}"), load_timestamps)

    def never(_path: str, _column: str | None) -> npt.NDArray[np.float64]:
        raise AssertionError("a poisson process reads no trace")

    check_trace_arrival(POISSON, never)
    check_trace_arrival(None, never)


def test_a_trace_too_short_to_replay_is_refused(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP\n1\n")
    with pytest.raises(ConfigError, match="--ml-arrival"):
        check_trace_arrival(parse_arrival(f"trace:path={trace}"), load_timestamps)


def test_writable_dir_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report"
    check_writable_dir(target)
    assert not (tmp_path / "a").exists()
    existing = tmp_path / "there"
    existing.mkdir()
    check_writable_dir(existing)
    assert list(existing.iterdir()) == []


def test_a_report_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(ConfigError, match=r"--ml-report-dir .*f/r: .*is a file, not a directory"):
        check_writable_dir(afile / "r")


def test_an_unwritable_report_dir_is_refused(tmp_path: Path) -> None:
    # /proc refuses new entries even to root, for whom permission bits do not count.
    with pytest.raises(
        ConfigError, match=r"--ml-report-dir /proc/locust-ml-nope/r: .*cannot be written"
    ):
        check_writable_dir("/proc/locust-ml-nope/r")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ConfigError, match="cannot be written"):
            check_writable_dir(locked / "r")


def test_preflight_runs_every_check_and_returns_the_resolved_arrival(tmp_path: Path) -> None:
    checked = preflight(
        arrival=None,
        default_arrival=CLOSED,
        plan_mode="open",
        stages_source="rates.json",
        report_dir=tmp_path / "r",
    )
    assert checked.arrival is not None
    assert checked.arrival.is_open
    assert len(checked.notes) == 1
    with pytest.raises(ConfigError, match="--ml-report-dir"):
        preflight(arrival=None, default_arrival=CLOSED, report_dir="/proc/locust-ml-nope")
    with pytest.raises(ConfigError, match="--ml-arrival trace"):
        preflight(
            arrival=parse_arrival(f"trace:path={tmp_path / 'no.csv'}"), default_arrival=CLOSED
        )
