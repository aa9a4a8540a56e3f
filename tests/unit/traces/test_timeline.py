"""Arrival times for replay, from a trace file or a profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from locust_ml.errors import ConfigError, TraceError
from locust_ml.traces import load_timestamps

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "traces"


def test_from_a_trace_file() -> None:
    times = load_timestamps(str(FIXTURES / "small_llm.csv"))
    assert times[0] == 0.0
    assert times.tolist() == pytest.approx([0.0, 4.314579, 4.51941, 4.5194101, 6.81941])


def test_from_jsonl_with_a_named_column() -> None:
    times = load_timestamps(str(FIXTURES / "small_llm.jsonl"), "TIMESTAMP")
    assert times.size == 5


def test_from_a_bundled_profile() -> None:
    times = load_timestamps("azure_code")
    assert times.size == 8819
    assert np.all(np.diff(times) >= 0)
    assert times[-1] == pytest.approx(3435.95, abs=0.01)


def test_profile_without_arrivals_or_with_another_column() -> None:
    with pytest.raises(ConfigError, match="no arrival data"):
        load_timestamps("coco_image_sizes")
    with pytest.raises(ConfigError, match="column 'TIMESTAMP', not 'time'"):
        load_timestamps("azure_code", "time")


def test_bad_column_names_file_and_column() -> None:
    with pytest.raises(TraceError, match=r"small_llm\.csv, line 1, column 'timestamp'.*TIMESTAMP"):
        load_timestamps(str(FIXTURES / "small_llm.csv"), "timestamp")
