"""What a sweep knows about each configuration: measured, failed, or skipped.

A configuration's run ends one of three ways:

* **done**: the target started, the capacity search ran and wrote its
  report; :class:`Measurement` keeps what the report concluded (SLO capacity
  with its interval, knee, saturation, latency at capacity, verdict), read
  from the typed report (:func:`~locust_ml.sweep.runner.measurement_from_report`),
  never re-derived;
* **failed**: the target did not start or get ready, the setup command
  failed, or the run left no report; ``reason`` says which and ``log_tail``
  holds the last lines of the target's output;
* **skipped**: the early-stop strategy (:mod:`.strategy`) ruled it out.

Replicas and cost are *decisions* on top of the measurement: they depend
on a price and a peak that change no measurement, so :func:`decide` makes
them from the SLO capacity each time the sweep is ranked (a resumed sweep
with another ``--ml-price-per-hour`` re-prices without re-measuring), with
the formulas of :mod:`locust_ml.analysis.planning`.

Pure: frozen data in, frozen data out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from locust_ml.analysis.planning import cost_per_million, replicas_needed
from locust_ml.sweep.configs import Config

if TYPE_CHECKING:
    from locust_ml.options import Decisions

__all__ = [
    "DONE",
    "FAILED",
    "SKIPPED",
    "ConfigResult",
    "Measurement",
    "decide",
    "failed",
    "measured",
    "skipped",
]

DONE: Final = "done"
FAILED: Final = "failed"
SKIPPED: Final = "skipped"


@dataclass(frozen=True)
class Measurement:
    """What one configuration's report concluded (the figures ``compare`` shows too)."""

    verdict: str  # PASS, FAIL or INVALID
    verdict_reasons: tuple[str, ...] = ()
    slo_rps: float | None = None
    #: 95 % interval of the SLO capacity; the top is None when open.
    slo_rps_ci: tuple[float, float | None] | None = None
    knee_rps: float | None = None
    saturation_rps: float | None = None
    #: What bounds the SLO capacity (bracketed, saturated, lower-bound, none).
    bound: str = "none"
    #: The percentile the SLOs judge (the first latency SLO's, else p99).
    latency_key: str = "p99"
    #: Latency percentiles (ms) of the step that stands for the SLO capacity.
    latency_ms: Mapping[str, float | None] = field(default_factory=dict)
    #: Why there is no SLO capacity, when there is none.
    note: str | None = None
    #: report.json, relative to the sweep's folder.
    report: str | None = None
    duration_s: float = 0.0

    @property
    def latency_at_capacity_ms(self) -> float | None:
        """The judged percentile at SLO capacity (the Pareto plot's y)."""
        value = self.latency_ms.get(self.latency_key)
        return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class ConfigResult:
    """One configuration's outcome, with the plan and cost decided for it."""

    config: Config
    status: str  # DONE, FAILED or SKIPPED
    measurement: Measurement | None = None
    #: Why it failed or was skipped.
    reason: str | None = None
    #: The last lines of the target's output (failed starts).
    log_tail: tuple[str, ...] = ()
    #: Seconds from the target's start to its stop (or to the failure).
    elapsed_s: float = 0.0
    #: What went wrong around a measurement that still stands (a teardown that failed).
    notes: tuple[str, ...] = ()
    #: Decided by :func:`decide`.
    price_per_hour: float | None = None
    cost_per_million: float | None = None
    replicas: int | None = None
    target_rps: float | None = None

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def slo_rps(self) -> float | None:
        return None if self.measurement is None else self.measurement.slo_rps

    @property
    def verdict(self) -> str | None:
        return None if self.measurement is None else self.measurement.verdict


def measured(
    config: Config, measurement: Measurement, elapsed_s: float = 0.0, notes: tuple[str, ...] = ()
) -> ConfigResult:
    return ConfigResult(config, DONE, measurement, elapsed_s=elapsed_s, notes=notes)


def failed(
    config: Config,
    reason: str,
    log_tail: tuple[str, ...] = (),
    elapsed_s: float = 0.0,
    notes: tuple[str, ...] = (),
) -> ConfigResult:
    return ConfigResult(
        config, FAILED, reason=reason, log_tail=log_tail, elapsed_s=elapsed_s, notes=notes
    )


def skipped(config: Config, reason: str) -> ConfigResult:
    return ConfigResult(config, SKIPPED, reason=reason)


def decide(result: ConfigResult, decisions: Decisions) -> ConfigResult:
    """Price, cost per 1M requests and replicas at the measured SLO capacity.

    The configuration's own price (a configurations file) wins over
    ``--ml-price-per-hour``. Without a capacity there is no cost and no plan.
    """
    price = result.config.price_per_hour
    if price is None:
        price = decisions.price_per_hour
    cap = result.slo_rps
    cost = replicas = None
    if cap is not None and cap > 0 and math.isfinite(cap):
        if price is not None:
            cost = cost_per_million(price, cap)
        if decisions.target_rps is not None:
            replicas = replicas_needed(
                decisions.target_rps, cap, decisions.target_utilization, decisions.redundancy
            )
    return replace(
        result,
        price_per_hour=price,
        cost_per_million=cost,
        replicas=replicas,
        target_rps=decisions.target_rps,
    )
