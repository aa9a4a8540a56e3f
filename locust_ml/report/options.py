"""Options that shape the end-of-test decisions: required capacity, price, peak.

They change no measurement, only what the report concludes from it, so
``locust-ml report`` accepts the same ones to re-decide a saved run. Parsed
into :class:`~locust_ml.report.model.ReportSettings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from locust_ml.errors import ConfigError

if TYPE_CHECKING:  # the model pulls in numpy; parsers are built without it
    from locust_ml.report.model import ReportSettings

__all__ = ["add_report_options", "read_report_settings"]


def add_report_options(group: Any, arg: Callable[..., None]) -> None:
    """Add the options to ``group`` with ``arg`` (the parser helper of the caller).

    ``form=`` is the label in Locust's web form for the few options shown there
    (see :func:`locust_ml.plugin.options._arg`); other callers drop it.
    """
    arg(
        group,
        "--ml-min-capacity",
        metavar="RPS",
        default=None,
        help="Capacity tests (ramp, capacity-search) fail (exit 1) when the SLO capacity "
        "per replica is below this many requests/s.",
    )
    arg(
        group,
        "--ml-price-per-hour",
        metavar="USD",
        default=None,
        help="Hourly price of one replica's instance; the report then gives the cost per "
        "1M inferences (and per 1M output tokens) at SLO capacity.",
        form="Price of one replica per hour, USD (for the cost)",
    )
    arg(
        group,
        "--ml-instance",
        metavar="NAME",
        default=None,
        help="Name of the instance type (e.g. g5.xlarge), shown with the cost and by "
        "locust-ml compare.",
    )
    arg(
        group,
        "--ml-target-rps",
        metavar="RPS",
        default=None,
        help="Peak requests/s to plan for; the report then gives the replicas needed.",
        form="Peak req/s to plan replicas for",
    )
    arg(
        group,
        "--ml-target-utilization",
        metavar="FRACTION",
        default="0.8",
        help="Fraction of SLO capacity each replica is planned to run at (headroom for "
        "bursts). Default: %(default)s",
    )
    arg(
        group,
        "--ml-redundancy",
        metavar="N",
        default="1",
        help="Spare replicas added to the plan: 1 for N+1, 2 for N+2. Default: %(default)s",
    )


def _number(value: Any, option: str, *, low: float, high: float = math.inf) -> float | None:
    if value is None or value == "":
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: expected a number, got {value!r}") from None
    if not (math.isfinite(x) and low <= x <= high):
        bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f">= {low:g}"
        raise ConfigError(f"{option}: must be {bound}, got {value!r}")
    return x


def read_report_settings(
    get: Callable[..., Any], stability_tolerance: float, warmup_s: float | None = None
) -> ReportSettings:
    """Parse the options (``get(dest)`` reads one) into :class:`ReportSettings`."""
    from locust_ml.report.model import ReportSettings

    utilization = _number(
        get("ml_target_utilization"), "--ml-target-utilization", low=0.01, high=1.0
    )
    redundancy = _number(get("ml_redundancy"), "--ml-redundancy", low=0, high=1000)
    if redundancy is not None and redundancy != int(redundancy):
        raise ConfigError(f"--ml-redundancy: expected a whole number, got {redundancy!r}")
    instance = get("ml_instance")
    return ReportSettings(
        min_capacity=_number(get("ml_min_capacity"), "--ml-min-capacity", low=0),
        price_per_hour=_number(get("ml_price_per_hour"), "--ml-price-per-hour", low=0),
        instance=str(instance) if instance else None,
        target_rps=_number(get("ml_target_rps"), "--ml-target-rps", low=0),
        target_utilization=0.8 if utilization is None else utilization,
        redundancy=1 if redundancy is None else int(redundancy),
        stability_tolerance=stability_tolerance,
        warmup_s=warmup_s or 0.0,
    )
