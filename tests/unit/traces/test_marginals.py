"""Fitting one column: the choice rule, the empirical fallback, bounds and types."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from locust_ml.errors import ConfigError
from locust_ml.traces.marginals import FAMILIES, fit_column


def _draw(column_fit: object, n: int, seed: int = 1) -> np.ndarray:
    fn = column_fit.quantile_function()  # type: ignore[attr-defined]
    return np.asarray(fn(np.random.default_rng(seed).random(n)))


def test_a_small_lognormal_sample_gets_a_parametric_fit() -> None:
    x = np.random.default_rng(7).lognormal(mean=6.0, sigma=0.7, size=400)
    col = fit_column("bytes", x)
    assert col.family == "lognorm"
    assert col.dtype == "float"
    assert {c.family for c in col.candidates} == set(FAMILIES)
    best = min(col.candidates, key=lambda c: c.aic)
    assert best.family == "lognorm"
    assert col.params["s"] == pytest.approx(0.7, rel=0.15)
    assert col.params["scale"] == pytest.approx(np.exp(6.0), rel=0.15)
    assert "lowest AIC" in col.choice


def test_parametric_draws_are_truncated_to_the_trace_bounds() -> None:
    x = np.random.default_rng(8).gamma(2.0, 50.0, size=300)
    col = fit_column("v", x, family="gamma")
    drawn = _draw(col, 50_000)
    assert drawn.min() >= x.min()
    assert drawn.max() <= x.max()
    # truncation, not clipping: no pile-up at the bounds
    assert np.mean(drawn == x.max()) < 0.001


def test_a_capped_column_falls_back_to_empirical_and_keeps_the_point_mass() -> None:
    rng = np.random.default_rng(3)
    x = np.minimum(np.rint(rng.lognormal(6.2, 0.3, size=5000)), 640)  # ~40% at the cap
    col = fit_column("width", x)
    assert col.family == "empirical"
    assert all(c.ks_pvalue < 0.05 for c in col.candidates)
    drawn = _draw(col, 200_000)
    assert drawn.dtype == np.int64
    assert drawn.max() == 640
    assert np.mean(drawn == 640) == pytest.approx(np.mean(x == 640), abs=0.005)
    assert stats.ks_2samp(x, drawn).statistic < 0.01


def test_empirical_quantiles_are_trace_values_with_min_and_max() -> None:
    x = np.array([5.0, 1.0, 3.0, 3.0, 9.0])
    col = fit_column("x", x, family="empirical", points=16)
    assert col.quantiles is not None
    assert col.quantiles.size == 17
    assert col.quantiles[0] == 1.0
    assert col.quantiles[-1] == 9.0
    assert set(col.quantiles.tolist()) <= set(x.tolist())


def test_integer_columns_stay_integers_and_float_decimals_are_kept() -> None:
    ints = fit_column("tokens", np.array([3.0, 10, 200, 41, 7, 7, 99]))
    assert ints.dtype == "int"
    assert _draw(ints, 100).dtype == np.int64
    floats = fit_column("seconds", np.array([1.445, 2.5, 32.645, 5.92, 7.0]))
    assert floats.dtype == "float"
    assert floats.decimals == 3
    drawn = _draw(floats, 1000)
    assert np.allclose(drawn, np.round(drawn, 3))


def test_a_single_value_is_constant() -> None:
    col = fit_column("sample_rate", np.full(10, 16000.0))
    assert col.family == "constant"
    assert col.candidates == ()
    assert set(_draw(col, 10).tolist()) == {16000}


def test_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'normal'"):
        fit_column("x", [1.0, 2.0], family="normal")


def test_fit_is_deterministic() -> None:
    x = np.random.default_rng(1).weibull(1.5, size=1000) * 100
    a, b = fit_column("x", x), fit_column("x", x)
    assert a.to_json() == b.to_json()
