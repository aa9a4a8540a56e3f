"""Arrival statistics and replay gaps from a timestamp column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from locust_ml.errors import TraceError
from locust_ml.traces.replay import Arrivals, fit_arrivals
from locust_ml.traces.schema import Field

START = 1_700_158_546_680_590_000  # 2023-11-16 18:15:46.68059 UTC, in ns


def _poisson_ns(n: int, rate: float, seed: int = 0) -> np.ndarray:
    gaps = np.random.default_rng(seed).exponential(1 / rate, size=n - 1)
    return START + np.concatenate(([0], np.cumsum(np.rint(gaps * 1e9)))).astype(np.int64)


def test_poisson_arrivals_have_cv_and_gamma_shape_near_one() -> None:
    a = fit_arrivals("t", _poisson_ns(20_000, rate=50.0), file="x.csv")
    assert a.count == 20_000
    assert a.mean_rate == pytest.approx(50.0, rel=0.03)
    assert a.gap_cv == pytest.approx(1.0, abs=0.03)
    assert a.gamma_shape == pytest.approx(1.0, abs=0.05)
    assert sum(a.rate_curve) == a.count
    assert a.start == "2023-11-16T18:15:46.680590000Z"


def test_bursty_gamma_arrivals_have_a_small_shape() -> None:
    gaps = np.random.default_rng(1).gamma(0.3, 1 / (0.3 * 10), size=10_000)
    ts = START + np.concatenate(([0], np.cumsum(np.rint(gaps * 1e9)))).astype(np.int64)
    a = fit_arrivals("t", ts, file="x.csv")
    assert a.gap_cv > 1.5
    assert a.gamma_shape == pytest.approx(0.3, rel=0.1)


def test_replay_times_are_exact_to_half_a_microsecond() -> None:
    ts = _poisson_ns(5000, rate=5.0, seed=2) + np.arange(5000)  # sub-us noise
    a = fit_arrivals("t", ts, file="x.csv")
    exact = (ts - ts[0]) / 1e9
    assert np.max(np.abs(a.timestamps_s() - exact)) <= 0.5e-6 + 1e-9
    assert a.gaps_s().size == 4999
    assert a.timestamps_s()[0] == 0.0


def test_unsorted_timestamps_are_sorted_and_flagged() -> None:
    ts = np.array([START + 3_000_000, START, START + 1_000_000], dtype=np.int64)
    a = fit_arrivals("t", ts, file="x.csv")
    assert not a.sorted_in_trace
    assert a.gaps_us.tolist() == [1000, 2000]


def test_too_few_or_identical_timestamps_are_errors() -> None:
    with pytest.raises(TraceError, match=r"x\.csv, column 't': 1 timestamp"):
        fit_arrivals("t", np.array([START]), file="x.csv")
    with pytest.raises(TraceError, match="same instant"):
        fit_arrivals("t", np.array([START, START]), file="x.csv")


def test_json_round_trip_keeps_the_gaps() -> None:
    a = fit_arrivals("TIMESTAMP", _poisson_ns(3000, rate=5.0), file="x.csv")
    obj = json.loads(json.dumps(a.to_json()))
    b = Arrivals.from_json(Field(obj, file="p.json", path="arrivals"))
    assert np.array_equal(a.gaps_us, b.gaps_us)
    assert (b.count, b.column, b.start_epoch_ns) == (a.count, a.column, a.start_epoch_ns)
    assert b.to_json() == obj


def test_gap_count_must_match_the_count() -> None:
    obj = fit_arrivals("t", _poisson_ns(100, rate=5.0), file="x.csv").to_json()
    obj["count"] = 50
    with pytest.raises(TraceError, match=r"field 'arrivals.replay.gaps': expected 49 gaps"):
        Arrivals.from_json(Field(obj, file="p.json", path="arrivals"))
