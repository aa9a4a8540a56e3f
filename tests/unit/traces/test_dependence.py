"""The copula: dependence kept by each model, and its JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from locust_ml.errors import ConfigError, TraceError
from locust_ml.traces.dependence import Dependence, fit_dependence
from locust_ml.traces.schema import Field


def _correlated(n: int, rho: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    return np.exp(z) * [100, 10]


def _spearman(u: np.ndarray) -> float:
    return float(stats.spearmanr(u[:, 0], u[:, 1]).statistic)


@pytest.mark.parametrize("model", ["empirical", "gaussian"])
def test_models_keep_the_spearman_correlation(model: str) -> None:
    data = _correlated(3000, 0.6)
    dep = fit_dependence(["a", "b"], data, model=model)
    u = dep.uniforms(np.random.default_rng(1), 100_000)
    assert u.min() >= 0
    assert u.max() <= 1
    assert _spearman(u) == pytest.approx(dep.spearman[0, 1], abs=0.02)
    # marginals of the copula are uniform
    assert stats.kstest(u[:, 1], "uniform").statistic < 0.01


def test_independent_model_has_no_dependence() -> None:
    dep = fit_dependence(["a", "b"], _correlated(2000, 0.8), model="independent")
    assert dep.spearman[0, 1] > 0.7  # recorded anyway
    assert abs(_spearman(dep.uniforms(np.random.default_rng(2), 50_000))) < 0.02


def test_empirical_model_reproduces_joint_atoms() -> None:
    # Two discrete shapes only: (640, 480) and (480, 640); never (640, 640).
    data = np.array([[640.0, 480.0]] * 700 + [[480.0, 640.0]] * 300)
    dep = fit_dependence(["w", "h"], data)
    u = dep.uniforms(np.random.default_rng(3), 20_000)
    w = np.where(u[:, 0] < 0.3, 480, 640)  # the marginal quantile functions
    h = np.where(u[:, 1] < 0.7, 480, 640)
    assert np.mean((w == 640) & (h == 640)) < 0.002
    assert np.mean((w == 640) & (h == 480)) == pytest.approx(0.7, abs=0.02)


def test_a_long_trace_is_subsampled_for_the_copula() -> None:
    dep = fit_dependence(["a", "b"], _correlated(5000, 0.5), max_rows=1000)
    assert dep.ranks is not None
    assert dep.ranks.shape == (1000, 2)
    assert sorted(dep.ranks[:, 1].tolist()) == list(range(1000))


def test_a_single_column_is_independent() -> None:
    dep = fit_dependence(["a"], np.ones((10, 1)) * np.arange(1, 11)[:, None])
    assert dep.model == "independent"
    assert dep.uniforms(np.random.default_rng(0), 5).shape == (5, 1)


@pytest.mark.parametrize("model", ["empirical", "gaussian", "independent"])
def test_json_round_trip(model: str) -> None:
    dep = fit_dependence(
        ["a", "b", "c"], np.column_stack([_correlated(500, 0.4), np.arange(1, 501)]), model=model
    )
    text = json.dumps(dep.to_json())
    back = Dependence.from_json(
        Field(json.loads(text), file="p.json", path="dependence"), ["a", "b", "c"]
    )
    assert back.model == model
    assert back.columns == ("a", "b", "c")
    if dep.ranks is not None:
        assert back.ranks is not None
        assert np.array_equal(back.ranks, dep.ranks)
    a = dep.uniforms(np.random.default_rng(5), 100)
    b = back.uniforms(np.random.default_rng(5), 100)
    assert np.allclose(a, b, atol=1e-5)


def test_unknown_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'vine'"):
        fit_dependence(["a", "b"], _correlated(10, 0.1), model="vine")


def test_damaged_ranks_name_the_field() -> None:
    obj = fit_dependence(["a", "b"], _correlated(100, 0.3)).to_json()
    obj["ranks"][0]["data"] = "not base64!"
    with pytest.raises(TraceError, match=r"p.json: field 'dependence.ranks\[0\].data': corrupt"):
        Dependence.from_json(Field(obj, file="p.json", path="dependence"), ["a", "b"])
