from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.histogram import LatencyHistogram, percentile_key

PCTS = (50.0, 90.0, 95.0, 99.0, 99.9)


def _exact(values: np.ndarray, q: float) -> float:
    """Nearest-rank percentile: the sample at rank ceil(q/100 * n).

    Computed by hand because numpy's ``inverted_cdf`` is off by one rank when
    ``q/100 * n`` is an integer that floating point lands just above.
    """
    rank = max(1, math.ceil(q * len(values) / 100.0 - 1e-9))
    return float(np.sort(values)[rank - 1])


@pytest.mark.parametrize(
    ("name", "draw"),
    [
        ("lognormal", lambda rng, n: rng.lognormal(mean=4.0, sigma=1.0, size=n)),
        ("pareto", lambda rng, n: (rng.pareto(1.5, size=n) + 1.0) * 20.0),
        ("exponential", lambda rng, n: rng.exponential(80.0, size=n)),
        ("bimodal", lambda rng, n: np.where(rng.random(n) < 0.9, 30.0, 2000.0) + rng.random(n)),
        ("submillisecond", lambda rng, n: rng.uniform(0.01, 0.9, size=n)),
    ],
)
def test_percentiles_match_exact_within_precision(name: str, draw) -> None:
    rng = np.random.default_rng(20261128)
    values = draw(rng, 50_000)
    h = LatencyHistogram()
    for v in values:
        h.record_ms(float(v))
    assert h.count == len(values)
    for q in PCTS:
        got, want = h.percentile_ms(q), _exact(values, q)
        # 3 significant digits plus the microsecond recording unit.
        assert got == pytest.approx(want, rel=2e-3, abs=1e-3), (name, q, got, want)


def test_empty_histogram_reports_nan() -> None:
    h = LatencyHistogram()
    assert h.count == 0
    assert math.isnan(h.percentile_ms(99))
    assert all(math.isnan(v) for v in h.percentiles_ms().values())
    assert math.isnan(h.mean_ms)


def test_out_of_range_values_are_clamped_and_counted() -> None:
    h = LatencyHistogram()
    h.record_ms(0.0)  # below 1 us
    h.record_ms(5_000_000_000.0)  # above one hour
    h.record_ms(12.0)
    assert h.count == 3
    assert h.clamped == 2
    assert h.max_ms == pytest.approx(3_600_000.0, rel=1e-3)


def test_nan_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        LatencyHistogram().record_ms(float("nan"))


def test_wire_roundtrip_is_exact() -> None:
    rng = np.random.default_rng(3)
    h = LatencyHistogram()
    for v in rng.lognormal(3, 1.2, 5000):
        h.record_ms(float(v))
    h.record_ms(0.0)
    back = LatencyHistogram.from_wire(h.to_wire())
    assert back.count == h.count
    assert back.clamped == 1
    for q in PCTS:
        assert back.percentile_ms(q) == h.percentile_ms(q)


def test_from_wire_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="malformed"):
        LatencyHistogram.from_wire({"hdr": 12, "clamped": 0})


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.lists(st.floats(min_value=0.001, max_value=600_000.0), max_size=40),
        min_size=1,
        max_size=5,
    )
)
def test_merging_parts_equals_histogram_of_union(parts: list[list[float]]) -> None:
    merged = LatencyHistogram()
    union = LatencyHistogram()
    for part in parts:
        h = LatencyHistogram()
        for v in part:
            h.record_ms(v)
            union.record_ms(v)
        merged.merge(LatencyHistogram.from_wire(h.to_wire()))
    assert merged.count == union.count
    for q in (1.0, *PCTS, 100.0):
        a, b = merged.percentile_ms(q), union.percentile_ms(q)
        assert (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize(("q", "key"), [(50, "p50"), (99.0, "p99"), (99.9, "p99.9"), (100, "p100")])
def test_percentile_key(q: float, key: str) -> None:
    assert percentile_key(q) == key


def test_percentile_key_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile_key(0)


def test_mean_min_max_are_exact_to_the_microsecond() -> None:
    rng = np.random.default_rng(9)
    values = np.round(rng.lognormal(2, 1, 1000), 3)
    h = LatencyHistogram()
    for v in values:
        h.record_ms(float(v))
    assert h.mean_ms == pytest.approx(values.mean(), abs=1e-6)
    assert h.min_ms == pytest.approx(values.min(), rel=1e-3)
    assert h.max_ms == pytest.approx(values.max(), rel=1e-3)
    assert LatencyHistogram.from_wire(h.to_wire()).mean_ms == h.mean_ms


def test_small_samples_use_nearest_rank() -> None:
    h = LatencyHistogram()
    for v in (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0):
        h.record_ms(v)
    # rank ceil(q/100 * 10): p50 -> 5th, p94 -> 10th, p90 -> 9th, p100 -> max
    assert h.percentile_ms(50) == pytest.approx(50.0, rel=1e-3)
    assert h.percentile_ms(90) == pytest.approx(90.0, rel=1e-3)
    assert h.percentile_ms(94) == pytest.approx(100.0, rel=1e-3)
    assert h.percentile_ms(100) == pytest.approx(100.0, rel=1e-3)
    assert h.percentile_ms(1) == pytest.approx(10.0, rel=1e-3)


def test_from_wire_rejects_corrupt_encoding() -> None:
    with pytest.raises(ValueError, match="malformed"):
        LatencyHistogram.from_wire({"hdr": b"not an hdr histogram", "clamped": 0, "sum_us": 0})
