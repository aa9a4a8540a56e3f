"""One size column: its fitted distribution, bounds, and quantile function.

Fitting. Three parametric families from ``scipy.stats`` are fitted by maximum
likelihood with the location fixed at 0 (sizes start at zero, and a free
location makes the fits unstable): ``lognorm``, ``gamma`` and ``weibull_min``.
Each candidate records its parameters, log-likelihood, AIC and the one-sample
Kolmogorov-Smirnov statistic D and p-value against the column.

The choice rule: among the candidates whose KS p-value is >= ``alpha`` (0.05:
the data cannot tell the family from the truth) *and* whose D is <= ``max_ks``
(0.05: the tolerance the tests apply to samples drawn from a profile), the one
with the lowest AIC wins. If none qualifies, the column uses the **empirical**
model. So small traces, where the empirical distribution is noisy, get a
smooth parametric fit when one is plausible, and large traces, where every
family is rejected by the data, are reproduced as they are. On the five
bundled traces every family is rejected (KS p < 0.01), so every bundled
column is empirical. P-values computed with parameters estimated from the
same data are optimistic (Lilliefors); the D bound keeps that in check.

The empirical model is the quantile function at ``points + 1`` evenly spaced
probabilities (1025 by default; the first is the minimum, the last the
maximum), read with the inverse-CDF rule, so every knot is a value seen in the
trace. Sampling interpolates linearly between knots. Runs of equal knots are
point masses: COCO's 640 px cap (over half the widths) and ImageNet's 500 x 375
come back exactly, with their mass right to within 1/1024. Between two distinct
knots values are interpolated; the sampled CDF stays within ~1/points of the
trace's everywhere.

Sampling of any model maps a uniform ``u`` through the quantile function
(parametric families are truncated to the column's [min, max], not clipped, so
no spurious mass piles up at the bounds), then integer columns are rounded to
integers and float columns to the number of decimals seen in the trace.
A column with a single value is ``constant`` (LibriSpeech's 16 kHz rate).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.traces.schema import Field

__all__ = [
    "FAMILIES",
    "Candidate",
    "ColumnModel",
    "fit_column",
]

#: Parametric families and their shape/scale parameter names (location fixed at 0).
FAMILIES: Mapping[str, tuple[str, str]] = {
    "lognorm": ("s", "scale"),
    "gamma": ("a", "scale"),
    "weibull_min": ("c", "scale"),
}
MODEL_FAMILIES = ("constant", "empirical", *FAMILIES)
#: Parametric fits use at most this many rows (a seeded subsample): MLE and KS
#: on millions of rows cost seconds and change nothing that matters.
MAX_FIT_ROWS = 200_000
_SUMMARY = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0))

Dtype = Literal["int", "float"]
QuantileFunction = Callable[[npt.NDArray[np.float64]], npt.NDArray[Any]]


@dataclass(frozen=True)
class Candidate:
    """One parametric family fitted to a column, with its goodness of fit."""

    family: str
    params: Mapping[str, float]
    log_likelihood: float
    aic: float
    ks_statistic: float
    ks_pvalue: float

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "params": dict(self.params),
            "log_likelihood": _finite(self.log_likelihood),
            "aic": _finite(self.aic),
            "ks_statistic": _finite(self.ks_statistic),
            "ks_pvalue": _finite(self.ks_pvalue),
        }

    @classmethod
    def from_json(cls, f: Field) -> Candidate:
        family = f["family"].str(choices=tuple(FAMILIES))
        params = f["params"]
        return cls(
            family=family,
            params={k: params[k].number(positive=True) for k in FAMILIES[family]},
            log_likelihood=_maybe(f, "log_likelihood"),
            aic=_maybe(f, "aic"),
            ks_statistic=_maybe(f, "ks_statistic"),
            ks_pvalue=_maybe(f, "ks_pvalue"),
        )


@dataclass(frozen=True, eq=False)
class ColumnModel:
    """A fitted size column: bounds, type, the chosen model and how it was chosen.

    ``family`` is ``constant``, ``empirical`` or a key of :data:`FAMILIES`.
    ``ks_statistic``/``ks_pvalue`` compare the model *as sampled* (rounded,
    truncated) with the trace column. ``summary`` holds the trace's count,
    mean, std and percentiles, for documentation and checks.
    """

    name: str
    dtype: Dtype
    decimals: int | None
    minimum: float
    maximum: float
    family: str
    params: Mapping[str, float] = field(default_factory=dict)
    quantiles: npt.NDArray[np.float64] | None = None
    candidates: tuple[Candidate, ...] = ()
    choice: str = ""
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    summary: Mapping[str, float] = field(default_factory=dict)

    def quantile_function(self) -> QuantileFunction:
        """A vectorized ``u -> value`` map; build once, call per batch."""
        lo, hi, dtype, decimals = self.minimum, self.maximum, self.dtype, self.decimals

        def finish(x: npt.NDArray[np.float64]) -> npt.NDArray[Any]:
            if dtype == "int":
                return np.clip(np.rint(x), lo, hi).astype(np.int64)
            if decimals is not None:
                x = np.round(x, decimals)
            return np.clip(x, lo, hi)

        if self.family == "constant":
            value = self.minimum
            return lambda u: finish(np.full(u.shape, value))
        if self.family == "empirical":
            q = self.quantiles
            if q is None:
                raise ConfigError(f"column {self.name!r}: empirical model without quantiles")
            grid = np.linspace(0.0, 1.0, q.size)
            return lambda u: finish(np.interp(u, grid, q))
        from scipy import stats

        frozen = getattr(stats, self.family)(**self.params)
        half = 0.5 if dtype == "int" else 0.0
        p_lo = float(frozen.cdf(max(lo - half, 0.0)))
        p_hi = float(frozen.cdf(hi + half))
        width = p_hi - p_lo
        if not width > 0:  # the bounds lie far in one tail: fall back to them
            return lambda u: finish(lo + u * (hi - lo))
        return lambda u: finish(np.asarray(frozen.ppf(p_lo + u * width), dtype=np.float64))

    def to_json(self) -> dict[str, Any]:
        model: dict[str, Any] = {"family": self.family}
        if self.family in FAMILIES:
            model["params"] = dict(self.params)
        if self.family == "empirical" and self.quantiles is not None:
            model["quantiles"] = _as_list(self.quantiles, self.dtype)
        return {
            "name": self.name,
            "dtype": self.dtype,
            "decimals": self.decimals,
            "min": _scalar(self.minimum, self.dtype),
            "max": _scalar(self.maximum, self.dtype),
            "model": model,
            "fit": {
                "choice": self.choice,
                "ks_statistic": None if self.ks_statistic is None else round(self.ks_statistic, 6),
                "ks_pvalue": None if self.ks_pvalue is None else _finite(self.ks_pvalue),
                "candidates": [c.to_json() for c in self.candidates],
            },
            "summary": {k: _finite(v) for k, v in self.summary.items()},
        }

    @classmethod
    def from_json(cls, f: Field) -> ColumnModel:
        dtype: Dtype = "int" if f["dtype"].str(choices=("int", "float")) == "int" else "float"
        decimals_f = f.get("decimals")
        lo = f["min"].number(positive=True)
        hi = f["max"].number(positive=True)
        if hi < lo:
            raise f["max"].error(f"max {hi:g} is below min {lo:g}")
        model = f["model"]
        family = model["family"].str(choices=MODEL_FAMILIES)
        params: dict[str, float] = {}
        quantiles = None
        if family in FAMILIES:
            p = model["params"]
            params = {k: p[k].number(positive=True) for k in FAMILIES[family]}
        elif family == "empirical":
            qf = model["quantiles"]
            quantiles = np.asarray(qf.numbers(), dtype=np.float64)
            if quantiles.size < 2:
                raise qf.error(f"expected at least 2 quantiles, got {quantiles.size}")
            if np.any(np.diff(quantiles) < 0):
                bad = int(np.argmax(np.diff(quantiles) < 0)) + 1
                raise qf.error(
                    f"quantiles must not decrease (index {bad} is below index {bad - 1})"
                )
            if quantiles[0] < lo or quantiles[-1] > hi:
                raise qf.error(f"quantiles must lie within [min, max] = [{lo:g}, {hi:g}]")
        elif family == "constant" and lo != hi:
            raise model["family"].error(f"a constant column needs min == max, got {lo:g}, {hi:g}")
        fit = f.get("fit")
        candidates: tuple[Candidate, ...] = ()
        choice, ks, ksp = "", None, None
        if fit is not None:
            cands = fit.get("candidates")
            candidates = tuple(Candidate.from_json(c) for c in cands.items()) if cands else ()
            choice = fit["choice"].str() if fit.get("choice") else ""
            ks = fit["ks_statistic"].number() if fit.get("ks_statistic") else None
            ksp = fit["ks_pvalue"].number() if fit.get("ks_pvalue") else None
        summary_f = f.get("summary")
        summary = {}
        if summary_f is not None:
            summary = {k: summary_f[k].number() for k in summary_f.dict() if summary_f.get(k)}
        return cls(
            name=f["name"].str(),
            dtype=dtype,
            decimals=None if decimals_f is None else decimals_f.int(minimum=0),
            minimum=lo,
            maximum=hi,
            family=family,
            params=params,
            quantiles=quantiles,
            candidates=candidates,
            choice=choice,
            ks_statistic=ks,
            ks_pvalue=ksp,
            summary=summary,
        )


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _maybe(f: Field, key: str) -> float:
    child = f.get(key)
    return child.number() if child is not None else math.nan


def _scalar(x: float, dtype: Dtype) -> int | float:
    return int(x) if dtype == "int" else float(x)


def _as_list(a: npt.NDArray[np.float64], dtype: Dtype) -> list[int] | list[float]:
    if dtype == "int":
        return [int(v) for v in a.tolist()]
    return [float(v) for v in a.tolist()]


def _decimals(x: npt.NDArray[np.float64]) -> int | None:
    """The fewest decimals (<= 9) that write every value exactly, or None."""
    scale = np.maximum(np.abs(x), 1.0)
    for k in range(10):
        if np.all(np.abs(np.round(x, k) - x) <= 1e-12 * scale):
            return k
    return None


def _candidates(x: npt.NDArray[np.float64]) -> list[Candidate]:
    from scipy import stats

    out = []
    for family, names in FAMILIES.items():
        dist = getattr(stats, family)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                shape, _, scale = dist.fit(x, floc=0)
            except (ValueError, RuntimeError, FloatingPointError):
                continue
            if not (math.isfinite(shape) and math.isfinite(scale) and shape > 0 and scale > 0):
                continue
            frozen = dist(shape, scale=scale)
            loglik = float(np.sum(frozen.logpdf(x)))
            ks = stats.kstest(x, frozen.cdf)
        params = dict(zip(names, (float(shape), float(scale)), strict=True))
        aic = 2 * len(names) - 2 * loglik
        out.append(Candidate(family, params, loglik, aic, float(ks.statistic), float(ks.pvalue)))
    return out


def _summary(x: npt.NDArray[np.float64]) -> dict[str, float]:
    out = {"count": float(x.size), "mean": float(x.mean()), "std": float(x.std())}
    out.update({k: float(np.percentile(x, q)) for k, q in _SUMMARY})
    return out


def fit_column(
    name: str,
    values: npt.ArrayLike,
    *,
    family: str = "auto",
    points: int = 1024,
    alpha: float = 0.05,
    max_ks: float = 0.05,
    seed: int = 0,
) -> ColumnModel:
    """Fit one column (values > 0); ``family`` forces a model instead of the rule."""
    if family not in ("auto", *MODEL_FAMILIES[1:]):
        raise ConfigError(
            f"family {family!r}: expected auto, empirical or one of {', '.join(FAMILIES)}"
        )
    if points < 1:
        raise ConfigError(f"quantile points must be >= 1, got {points}")
    x = np.asarray(values, dtype=np.float64)
    integral = bool(np.all(x == np.rint(x)))
    dtype: Dtype = "int" if integral else "float"
    decimals = 0 if integral else _decimals(x)
    lo, hi = float(x.min()), float(x.max())
    column = ColumnModel(
        name=name,
        dtype=dtype,
        decimals=decimals,
        minimum=lo,
        maximum=hi,
        family="constant",
        choice="a single value",
        summary=_summary(x),
    )
    if lo == hi:
        return column
    fit_x = x
    if x.size > MAX_FIT_ROWS:
        rng = np.random.default_rng(seed)
        fit_x = rng.choice(x, size=MAX_FIT_ROWS, replace=False)
    candidates = tuple(_candidates(fit_x))
    if family == "auto":
        ok = [c for c in candidates if c.ks_pvalue >= alpha and c.ks_statistic <= max_ks]
        chosen = min(ok, key=lambda c: c.aic).family if ok else "empirical"
        rule = f"families with KS p >= {alpha:g} and D <= {max_ks:g}"
        choice = f"lowest AIC among {rule}" if ok else f"empirical quantiles: no {rule}"
    else:
        chosen, choice = family, "forced by the caller"
    params: Mapping[str, float] = {}
    quantiles = None
    if chosen == "empirical":
        probabilities = np.linspace(0.0, 1.0, points + 1)
        quantiles = np.quantile(x, probabilities, method="inverted_cdf")
    else:
        match = [c for c in candidates if c.family == chosen]
        if not match:
            raise ConfigError(f"column {name!r}: the {chosen} fit failed; use another family")
        params = match[0].params
    column = replace(
        column,
        family=chosen,
        params=params,
        quantiles=quantiles,
        candidates=candidates,
        choice=choice,
    )
    ks, ksp = _model_ks(column, x)
    return replace(column, ks_statistic=ks, ks_pvalue=ksp)


def _model_ks(model: ColumnModel, x: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Two-sample KS of the model *as sampled* against the column.

    The model side is a quasi-sample: the quantile function at 65,536 evenly
    spaced probabilities, so the figure is deterministic and includes the
    effect of rounding and truncation.
    """
    from scipy import stats

    n = 1 << 16
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    drawn = model.quantile_function()(u)
    result = stats.ks_2samp(x, drawn)
    return float(result.statistic), float(result.pvalue)
