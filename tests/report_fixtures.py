"""Typed reports for the writer and command tests.

The JSON fixtures (``tests/fixtures/report_json``, see its README) are read
through the one loader, as ``locust-ml report`` reads a saved run; a test
that needs another case changes the typed report (``dataclasses.replace``)
or builds one with :func:`decided`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from locust_ml.analysis.capacity import CapacityAnalysis, CurvePoint
from locust_ml.analysis.planning import Cost, Plan, UtilizationAt
from locust_ml.analysis.slo import SLO, parse_slos
from locust_ml.analysis.steps import Totals
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.report.json import report_to_dict
from locust_ml.report.load import load_report
from locust_ml.report.model import RunInfo, RunReport

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "report_json"


def fixture_json(name: str) -> dict[str, Any]:
    """A fixture's JSON form (a fresh copy: tests may change it)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@functools.cache
def fixture(name: str) -> RunReport:
    """A fixture as the typed report (immutable, so loaded once)."""
    return load_report(FIXTURES / f"{name}.json")


def capacity(
    slo_rps: float | None,
    *,
    knee_rps: float | None = None,
    bound: str = "bracketed",
    curve: tuple[CurvePoint, ...] = (),
    last_passing: int | None = None,
    first_failing: int | None = None,
    ci: tuple[float, float | None] | None = None,
    notes: tuple[str, ...] = (),
) -> CapacityAnalysis:
    """A capacity analysis with the figures compare and autoscale read."""
    if ci is None and slo_rps is not None:
        ci = (slo_rps * 0.9, slo_rps * 1.1)
    return CapacityAnalysis(
        slo_rps=slo_rps,
        slo_rps_ci=ci,
        knee_rps=knee_rps,
        knee_latency_ms=None,
        knee_step=None,
        saturation_rps=None,
        saturation_step=None,
        limiting_slo="p99<500ms",
        last_passing_step=last_passing,
        first_failing_step=first_failing,
        latency_key="p99",
        bound=bound,
        curve=curve,
        notes=notes,
    )


def cost(
    price: float,
    rps: float,
    *,
    instance: str | None = None,
    tokens_out_per_s: float | None = None,
) -> Cost:
    """The cost as ``decide`` computes it: price / (rate x 3600) x 1e6."""
    return Cost(
        price_per_hour=price,
        rps=rps,
        per_million_requests=price / (rps * 3600) * 1_000_000,
        tokens_out_per_s=tokens_out_per_s,
        per_million_output_tokens=(
            None if tokens_out_per_s is None else price / (tokens_out_per_s * 3600) * 1_000_000
        ),
        instance=instance,
    )


def decided(
    *,
    capacity: CapacityAnalysis | None = None,
    cost: Cost | None = None,
    plan: Plan | None = None,
    verdict: RunVerdict | None = None,
    utilization: Mapping[str, UtilizationAt] | None = None,
    slos: tuple[SLO, ...] | None = None,
) -> RunReport:
    """A report with no steps and the given decisions (what compare and autoscale read)."""
    return RunReport(
        run=RunInfo(
            locustfile="locustfiles/summarizer.py",
            target="http://127.0.0.1:8000",
            started_at=1000.0,
            ended_at=1060.0,
            mode="local",
        ),
        percentiles=(50.0, 99.0),
        window_s=None,
        steps=(),
        totals=Totals(requests=0, failures=0, latency_ms={}, endpoints=()),
        slos=parse_slos(["p99<500ms"]) if slos is None else slos,
        capacity=capacity,
        cost=cost,
        plan=plan,
        utilization=dict(utilization or {}),
        verdict=verdict or RunVerdict(passed=False, valid=True),
    )


def write_report(path: Path, report: RunReport | Mapping[str, Any]) -> Path:
    """``report`` saved as report.json would be (a dict is written as it is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = report_to_dict(report) if isinstance(report, RunReport) else report
    path.write_text(json.dumps(data))
    return path
