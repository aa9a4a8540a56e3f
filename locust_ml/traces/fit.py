"""Fit a profile from a trace: marginals, dependence, arrivals, provenance.

This module only orchestrates; each piece documents its own method:

* each size column: :func:`~locust_ml.traces.marginals.fit_column` (parametric
  candidates scored by KS and AIC, empirical quantiles as the fallback);
* the columns together: :func:`~locust_ml.traces.dependence.fit_dependence`
  (empirical copula by default);
* the timestamp column: :func:`~locust_ml.traces.replay.fit_arrivals`.

After fitting, the profile is *checked* by sampling it (``CHECK_DRAWS`` draws
with the fit seed) and comparing with the trace: the two-sample KS statistic
per column and the Spearman matrix of the draws. The figures are stored in the
profile's ``checks`` so anyone can see how well it reproduces its source
without the trace at hand.

Everything is deterministic given the trace and ``FitOptions.seed``, except
the ``created`` time of the provenance, which comes from the injected clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np

from locust_ml.errors import ConfigError
from locust_ml.traces.dependence import DEPENDENCE_MODELS, MAX_ROWS, fit_dependence
from locust_ml.traces.marginals import FAMILIES, fit_column
from locust_ml.traces.profile import Profile
from locust_ml.traces.read import Trace
from locust_ml.traces.replay import fit_arrivals

__all__ = ["CHECK_DRAWS", "FitOptions", "fit_trace"]

#: Draws used for the stored sample-vs-trace checks.
CHECK_DRAWS = 100_000


@dataclass(frozen=True)
class FitOptions:
    """How to fit; the defaults are what the bundled profiles use.

    >>> FitOptions(dependence="gaussian").dependence
    'gaussian'
    >>> FitOptions(family="normal")
    Traceback (most recent call last):
    ...
    locust_ml.errors.ConfigError: family 'normal': expected auto, empirical, lognorm, ...
    """

    family: str = "auto"
    dependence: str = "empirical"
    quantile_points: int = 1024
    max_copula_rows: int = MAX_ROWS
    alpha: float = 0.05
    max_ks: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        families = ("auto", "empirical", *FAMILIES)
        if self.family not in families:
            raise ConfigError(f"family {self.family!r}: expected {', '.join(families)}")
        if self.dependence not in DEPENDENCE_MODELS:
            raise ConfigError(
                f"dependence {self.dependence!r}: expected {', '.join(DEPENDENCE_MODELS)}"
            )
        if not 16 <= self.quantile_points <= 65_536:
            raise ConfigError(f"quantile points {self.quantile_points}: expected 16..65536")
        if not 0 < self.alpha < 1 or not 0 < self.max_ks <= 1:
            raise ConfigError(f"alpha {self.alpha} / max_ks {self.max_ks}: expected in (0, 1)")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def fit_trace(
    trace: Trace,
    options: FitOptions | None = None,
    *,
    name: str,
    description: str = "",
    source_info: Mapping[str, str] | None = None,
    clock: Callable[[], dt.datetime] = _utc_now,
) -> Profile:
    """Fit a :class:`Profile` from a read trace.

    ``source_info`` adds fields to ``provenance.source`` (origin, licence,
    citation of a published trace).
    """
    from locust_ml.version import __version__

    opts = options or FitOptions()
    if not trace.columns:
        raise ConfigError(f"{trace.source.path}: a profile needs at least one size column")
    columns = tuple(
        fit_column(
            col,
            values,
            family=opts.family,
            points=opts.quantile_points,
            alpha=opts.alpha,
            max_ks=opts.max_ks,
            seed=opts.seed,
        )
        for col, values in trace.columns.items()
    )
    varying = [c.name for c in columns if c.family != "constant"]
    data = np.column_stack([trace.columns[n] for n in varying]) if varying else np.empty((0, 0))
    dependence = fit_dependence(
        varying, data, model=opts.dependence, max_rows=opts.max_copula_rows, seed=opts.seed
    )
    arrivals = None
    if trace.timestamp_column is not None and trace.timestamps_ns is not None:
        arrivals = fit_arrivals(trace.timestamp_column, trace.timestamps_ns, file=trace.source.path)
    src = trace.source
    provenance = {
        "source": {
            "file": src.name,
            "sha256": src.sha256,
            "bytes": src.size_bytes,
            "format": src.format,
            "rows": src.rows,
            **dict(source_info or {}),
        },
        "rows_used": src.rows,
        "columns": list(trace.columns),
        "timestamp_column": trace.timestamp_column,
        "created": clock().astimezone(dt.UTC).isoformat(timespec="seconds"),
        "tool": f"locust-ml {__version__}",
        "options": asdict(opts),
    }
    profile = Profile(
        name=name,
        columns=columns,
        dependence=dependence,
        arrivals=arrivals,
        provenance=provenance,
        description=description,
    )
    return replace(profile, checks=_checks(profile, trace, opts.seed))


def _checks(profile: Profile, trace: Trace, seed: int) -> dict[str, object]:
    """Sample the profile and compare with the trace (KS per column, Spearman)."""
    from scipy import stats

    drawn = profile.sampler(seed).sample(CHECK_DRAWS)
    ks = {
        name: round(float(stats.ks_2samp(values, drawn[name]).statistic), 6)
        for name, values in trace.columns.items()
    }
    varying = list(profile.dependence.columns)
    spearman: list[list[float]] = []
    if len(varying) > 1:
        ranks = np.column_stack([stats.rankdata(drawn[n]) for n in varying])
        spearman = [[round(float(v), 6) for v in row] for row in np.corrcoef(ranks, rowvar=False)]
    return {
        "draws": CHECK_DRAWS,
        "seed": seed,
        "columns": varying,
        "ks_statistic": ks,
        "spearman_sampled": spearman,
    }
