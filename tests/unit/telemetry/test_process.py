"""CPU seconds and RSS of a local process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from locust_ml.telemetry.model import SourceUnavailable
from locust_ml.telemetry.process import ProcessSource, ProcessStats


def test_injected_reader_values_become_samples() -> None:
    source = ProcessSource(4321, reader=lambda pid: ProcessStats(12.5, 300 * 1024 * 1024))
    reading = source.read(9.0)
    assert [(s.metric, s.value, dict(s.labels)) for s in reading.samples] == [
        ("process_cpu_seconds_total", 12.5, {"pid": "4321"}),
        ("process_resident_memory_bytes", 300 * 1024 * 1024.0, {"pid": "4321"}),
    ]
    assert source.name == "process:4321"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ProcessLookupError(), "process 4321 is not running"),
        (PermissionError(), "no permission to read process 4321"),
    ],
)
def test_reader_errors_become_unavailable(error: Exception, reason: str) -> None:
    def reader(pid: int) -> ProcessStats:
        raise error

    with pytest.raises(SourceUnavailable, match=reason):
        ProcessSource(4321, reader=reader).read(0.0)


def test_this_process_through_psutil() -> None:
    reading = ProcessSource(os.getpid(), name="self").read(0.0)
    values = {s.metric: s.value for s in reading.samples}
    assert values["process_cpu_seconds_total"] > 0
    assert values["process_resident_memory_bytes"] > 1024 * 1024


def test_a_process_that_exited_is_unavailable() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    source = ProcessSource(proc.pid)
    proc.wait(30)
    with pytest.raises(SourceUnavailable, match=f"process {proc.pid} is not running"):
        source.read(0.0)
