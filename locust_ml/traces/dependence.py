"""Dependence between the size columns of a profile (a copula).

Sizes in a request come together: an image's width and height are tied by its
aspect ratio (COCO: the long side is 640 and the other one is not), a JPEG's
bytes grow with its pixels (ImageNet: Spearman 0.44 between pixels and bytes),
and prompt and answer lengths may move together (only weakly in the Azure
traces: Spearman 0.07 for conversations, -0.02 for code). Sampling each column
on its own would, for instance, make 13% of COCO images 640 x 640 where the
trace has 1%. We separate each column's distribution (its *marginal*,
:mod:`locust_ml.traces.marginals`) from how the columns move together (the
*copula*): a sampler first draws a tuple of uniforms ``u`` from the copula,
then maps each ``u_j`` through column ``j``'s quantile function.

Models (``model`` in the profile):

``empirical`` (default) — joint resampling of rank tuples. For each trace row
    we keep the rank of each column (ties broken at random, seeded). A draw
    picks a row at random and sets ``u_j = (rank_j + V) / m`` with ``V``
    uniform in [0, 1): the marginals of ``u`` are exactly uniform, and the
    joint structure is the trace's own, including the parts no parametric
    copula has (COCO's "one side is 640" shape, ImageNet's 500 x 375 pairs,
    tail dependence). Limits: it cannot produce a combination of ranks that
    never occurred (it interpolates only within one rank step of each
    column), and it stores one rank tuple per row, so traces with more than
    ``max_rows`` rows (20,000 by default) are subsampled (seeded) for the
    copula; the marginals still use every row. Rows are stored sorted by the
    first column, so only the other columns' ranks are written (packed).
``gaussian`` — a Gaussian copula whose correlation matrix is derived from the
    trace's Spearman matrix, ``R = 2 sin(pi * rho_S / 6)`` (the exact relation for a
    Gaussian copula), so draws keep the trace's rank correlations. We do not
    use the correlation of normal scores: the traces' dependence is far from
    Gaussian in the tails, and on the Azure conversation trace that estimate
    gave drawn pairs a Spearman of 0.014 against the trace's 0.073. Compact
    (d x d numbers) and smooth; but it has no tail dependence, ties (discrete
    columns) weaken it, and it loses discrete shapes: on COCO it makes 8% of
    images 640 x 640 (the trace has 1%) and gives a width/height Spearman of
    -0.36 (the trace: -0.42); on ImageNet 11% are 500 x 375 (the trace: 21%).
``independent`` — columns drawn independently; also used when fewer than two
    columns vary.

Whatever the model, the profile records the trace's Spearman matrix, so a user
can compare models without the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from locust_ml.errors import ConfigError
from locust_ml.traces.packing import pack_uints, unpack_uints
from locust_ml.traces.schema import Field

__all__ = ["DEPENDENCE_MODELS", "Dependence", "fit_dependence"]

DependenceModel = Literal["empirical", "gaussian", "independent"]
DEPENDENCE_MODELS: tuple[DependenceModel, ...] = ("empirical", "gaussian", "independent")
MAX_ROWS = 20_000
_MAX_STORED_ROWS = 1 << 20

FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Dependence:
    """The copula over ``columns`` (the profile's columns that vary).

    ``ranks`` (empirical model) is an ``(m, d)`` int array; row ``i`` is one
    trace row's ranks in ``0..m-1``, column 0 sorted. ``correlation`` is the
    Gaussian copula's matrix, ``spearman`` the trace's Spearman matrix.
    """

    model: DependenceModel
    columns: tuple[str, ...]
    spearman: FloatMatrix
    correlation: FloatMatrix
    ranks: npt.NDArray[np.int64] | None = None
    rows: int = 0

    def uniforms(self, rng: np.random.Generator, n: int) -> FloatMatrix:
        """``n`` draws of the copula: an ``(n, d)`` array of uniforms in [0, 1]."""
        d = len(self.columns)
        if self.model == "empirical" and self.ranks is not None and d > 1:
            m = self.ranks.shape[0]
            rows = self.ranks[rng.integers(0, m, size=n)]
            result: FloatMatrix = (rows + rng.random((n, d))) / m
            return result
        if self.model == "gaussian" and d > 1:
            from scipy import special

            z = rng.standard_normal((n, d)) @ _cholesky(self.correlation).T
            return np.asarray(special.ndtr(z), dtype=np.float64)
        return rng.random((n, d))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "columns": list(self.columns),
            "spearman": _rounded(self.spearman),
            "gaussian_correlation": _rounded(self.correlation),
        }
        if self.model == "empirical" and self.ranks is not None:
            out["rows"] = int(self.ranks.shape[0])
            out["ranks"] = [pack_uints(self.ranks[:, j]) for j in range(1, len(self.columns))]
        return out

    @classmethod
    def from_json(cls, f: Field, known_columns: Sequence[str]) -> Dependence:
        model = f["model"].str(choices=DEPENDENCE_MODELS)
        columns = tuple(c.str() for c in f["columns"].items())
        for i, name in enumerate(columns):
            if name not in known_columns:
                raise f["columns"].error(
                    f"item {i}: {name!r} is not a varying column of this profile "
                    f"({', '.join(known_columns) or 'none'})"
                )
        d = len(columns)
        spearman = _matrix(f["spearman"], d)
        correlation = _matrix(f["gaussian_correlation"], d)
        ranks = None
        rows = 0
        if model == "gaussian":
            try:
                np.linalg.cholesky(correlation)
            except np.linalg.LinAlgError:
                raise f["gaussian_correlation"].error(
                    "not a valid correlation matrix (not positive definite)"
                ) from None
        if model == "empirical" and d > 1:
            rows = f["rows"].int(minimum=1)
            packed = f["ranks"]
            if packed.length() != d - 1:
                raise packed.error(
                    f"expected {d - 1} packed rank arrays, one per column after the first"
                )
            cols = [np.arange(rows, dtype=np.int64)]
            for item in packed.items():
                r = unpack_uints(item)
                if r.size != rows or (rows and int(r.max()) >= rows):
                    raise item.error(f"expected {rows} ranks in 0..{rows - 1}")
                cols.append(r)
            ranks = np.stack(cols, axis=1)
        return cls(model, columns, spearman, correlation, ranks, rows)  # type: ignore[arg-type]


def _rounded(m: FloatMatrix) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in m]


def _matrix(f: Field, d: int) -> FloatMatrix:
    rows = [r.numbers() for r in f.items()]
    if len(rows) != d or any(len(r) != d for r in rows):
        raise f.error(f"expected a {d} x {d} matrix, one row per column")
    m = np.asarray(rows, dtype=np.float64).reshape(d, d)
    if not np.allclose(m, m.T, atol=1e-6) or np.any(np.abs(m) > 1 + 1e-9):
        raise f.error("expected a symmetric matrix of correlations in [-1, 1]")
    return m


def _cholesky(corr: FloatMatrix) -> FloatMatrix:
    return np.asarray(np.linalg.cholesky(corr), dtype=np.float64)


def _nearest_correlation(m: FloatMatrix) -> FloatMatrix:
    """Clip eigenvalues so the matrix is positive definite, keep a unit diagonal."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    fixed = (v * np.maximum(w, 1e-9)) @ v.T
    s = np.sqrt(np.diag(fixed))
    out: FloatMatrix = fixed / np.outer(s, s)
    np.fill_diagonal(out, 1.0)
    return out


def fit_dependence(
    columns: Sequence[str],
    data: FloatMatrix,
    *,
    model: str = "empirical",
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> Dependence:
    """Fit the copula of ``data`` (``(n, d)``, one column per name in ``columns``)."""
    if model not in DEPENDENCE_MODELS:
        raise ConfigError(
            f"dependence model {model!r}: expected one of {', '.join(DEPENDENCE_MODELS)}"
        )
    if not 1 <= max_rows <= _MAX_STORED_ROWS:
        raise ConfigError(f"copula rows must be in 1..{_MAX_STORED_ROWS}, got {max_rows}")
    from scipy import stats

    d = data.shape[1]
    if d < 2:
        eye = np.eye(d)
        return Dependence("independent", tuple(columns), eye, eye.copy())
    mid_ranks = np.column_stack([stats.rankdata(data[:, j]) for j in range(d)])
    spearman = np.corrcoef(mid_ranks, rowvar=False)
    correlation = _nearest_correlation(2 * np.sin(np.pi / 6 * spearman))
    if model != "empirical":
        return Dependence(model, tuple(columns), spearman, correlation)
    rng = np.random.default_rng(seed)
    sample = data
    if data.shape[0] > max_rows:
        sample = data[np.sort(rng.choice(data.shape[0], size=max_rows, replace=False))]
    m = int(sample.shape[0])
    ranks = np.empty((m, d), dtype=np.int64)
    for j in range(d):
        order = np.lexsort((rng.random(size=m), sample[:, j]))  # ties broken at random
        ranks[order, j] = np.arange(m)
    ranks = ranks[np.argsort(ranks[:, 0])]
    return Dependence("empirical", tuple(columns), spearman, correlation, ranks, m)
