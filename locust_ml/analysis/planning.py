"""From capacity per replica to a plan: utilization there, replicas, and cost.

These are the formulas a capacity planner applies by hand, written once and
tested exactly:

* **replicas** for a target peak ``R``::

      replicas = ceil(R / (capacity x target_utilization)) + redundancy

  ``target_utilization`` (< 1) leaves headroom for bursts and uneven load
  balancing; ``redundancy`` adds whole spare replicas (1 for N+1, 2 for N+2)
  so losing one still meets the peak.
* **cost per 1M inferences** at SLO capacity, for an instance billed
  ``price`` per hour::

      cost_per_1M = price / (capacity x 3600) x 1,000,000

  and per 1M output tokens, with the output token rate at capacity, for LLM
  endpoints.
* **utilization** at a step (GPU busy ratio, GPU memory, target CPU, load
  generator CPU), with headroom warnings: above 90% GPU busy there is no room
  for a burst; below 30% the instance is mostly paid-for idle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from locust_ml.analysis.utilization import SeriesStats
from locust_ml.errors import ConfigError

__all__ = [
    "HIGH_UTILIZATION",
    "LOW_UTILIZATION",
    "Cost",
    "Plan",
    "UtilizationAt",
    "cost_per_million",
    "plan_replicas",
    "replicas_needed",
    "utilization_at",
]

HIGH_UTILIZATION = 0.9
LOW_UTILIZATION = 0.3
#: Generator CPU (percent of one core) above which Locust itself may be the bottleneck;
#: Locust warns at the same level.
GENERATOR_CPU_LIMIT = 90.0


@dataclass(frozen=True)
class UtilizationAt:
    """How busy the target (and the generator) was at one step."""

    step: int
    gpu_utilization: float | None = None
    gpu_memory_used_bytes: float | None = None
    gpu_memory_ratio: float | None = None
    target_cpu_cores: float | None = None
    target_rss_bytes: float | None = None
    generator_cpu_percent: float | None = None
    warnings: tuple[str, ...] = ()


def _mean(rows: Sequence[SeriesStats], metric: str) -> float | None:
    vals = [r.mean for r in rows if r.metric == metric and r.mean is not None]
    return sum(vals) / len(vals) if vals else None


def _max(rows: Sequence[SeriesStats], metric: str) -> float | None:
    vals = [r.mean for r in rows if r.metric == metric and r.mean is not None]
    return max(vals) if vals else None


def utilization_at(step: int, rows: Sequence[SeriesStats], where: str) -> UtilizationAt:
    """Utilization over ``step`` from its telemetry; ``where`` names it in warnings."""
    gpu = _mean(rows, "gpu_utilization_ratio")
    used = _mean(rows, "gpu_memory_used_bytes")
    total = _mean(rows, "gpu_memory_total_bytes")
    ratio = used / total if used is not None and total else None
    cpu_rates = [
        r.rate_per_s for r in rows if r.metric == "process_cpu_seconds_total" and r.rate_per_s
    ]
    generator = _max(rows, "generator_cpu_percent")
    warnings: list[str] = []
    if gpu is not None and gpu > HIGH_UTILIZATION:
        warnings.append(f"GPU {gpu:.0%} busy at {where}: no headroom for bursts")
    elif gpu is not None and gpu < LOW_UTILIZATION:
        warnings.append(f"GPU only {gpu:.0%} busy at {where}: paying for idle capacity")
    if ratio is not None and ratio > HIGH_UTILIZATION:
        warnings.append(f"GPU memory {ratio:.0%} used at {where}: little room for larger batches")
    if generator is not None and generator > GENERATOR_CPU_LIMIT:
        warnings.append(
            f"load generator CPU at {generator:.0f}% at {where}: Locust may be the bottleneck"
        )
    return UtilizationAt(
        step=step,
        gpu_utilization=gpu,
        gpu_memory_used_bytes=used,
        gpu_memory_ratio=ratio,
        target_cpu_cores=sum(cpu_rates) if cpu_rates else None,
        target_rss_bytes=_mean(rows, "process_resident_memory_bytes"),
        generator_cpu_percent=generator,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class Plan:
    """Replicas for a target peak, and how the number was reached."""

    target_rps: float
    per_replica_rps: float
    target_utilization: float
    redundancy: int
    replicas: int

    @property
    def formula(self) -> str:
        base = self.replicas - self.redundancy
        return (
            f"ceil({self.target_rps:g} / ({self.per_replica_rps:.2f} x "
            f"{self.target_utilization:g})) + {self.redundancy} = {base} + "
            f"{self.redundancy} = {self.replicas}"
        )


def _check_plan_inputs(capacity: float, target_utilization: float, redundancy: int) -> None:
    if not (capacity > 0 and math.isfinite(capacity)):
        raise ConfigError(f"capacity per replica must be > 0 req/s, got {capacity!r}")
    if not 0.0 < target_utilization <= 1.0:
        raise ConfigError(f"--ml-target-utilization must be in (0, 1], got {target_utilization!r}")
    if redundancy < 0:
        raise ConfigError(f"--ml-redundancy must be >= 0 spare replicas, got {redundancy!r}")


def replicas_needed(
    target_rps: float, capacity: float, target_utilization: float = 0.8, redundancy: int = 1
) -> int:
    """``ceil(target / (capacity x target_utilization)) + redundancy``.

    >>> replicas_needed(1000, 120, 0.8, 1)  # 1000 / 96 = 10.4 -> 11, + 1 spare
    12
    """
    _check_plan_inputs(capacity, target_utilization, redundancy)
    if not (target_rps >= 0 and math.isfinite(target_rps)):
        raise ConfigError(f"--ml-target-rps must be a finite number >= 0, got {target_rps!r}")
    # Round before ceil so 100 / (125 x 0.8) = 1.0000000000000002 stays 1.
    return math.ceil(round(target_rps / (capacity * target_utilization), 9)) + redundancy


def plan_replicas(
    target_rps: float, capacity: float, target_utilization: float = 0.8, redundancy: int = 1
) -> Plan:
    return Plan(
        target_rps=target_rps,
        per_replica_rps=capacity,
        target_utilization=target_utilization,
        redundancy=redundancy,
        replicas=replicas_needed(target_rps, capacity, target_utilization, redundancy),
    )


@dataclass(frozen=True)
class Cost:
    """What serving costs at SLO capacity."""

    price_per_hour: float
    rps: float
    per_million_requests: float
    tokens_out_per_s: float | None = None
    per_million_output_tokens: float | None = None
    instance: str | None = None


def cost_per_million(price_per_hour: float, per_second: float) -> float:
    """``price / (rate x 3600) x 1e6``: the cost of a million of whatever ``rate`` counts.

    >>> cost_per_million(3.06, 100.0)  # an A100-class hour at 100 req/s
    8.5
    """
    if not (price_per_hour >= 0 and math.isfinite(price_per_hour)):
        raise ConfigError(f"--ml-price-per-hour must be >= 0, got {price_per_hour!r}")
    if not (per_second > 0 and math.isfinite(per_second)):
        raise ConfigError(f"a cost needs a finite throughput > 0, got {per_second!r}")
    return price_per_hour / (per_second * 3600.0) * 1_000_000.0
