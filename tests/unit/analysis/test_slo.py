from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from locust_ml.analysis.samples import StepSamples
from locust_ml.analysis.slo import (
    SLO,
    SLOStats,
    SLOStatus,
    evaluate,
    parse_slo,
    parse_slos,
    required_percentiles,
)
from locust_ml.analysis.steps import StepLog, summarize_steps
from locust_ml.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99<500ms", SLO.latency(99, 500)),
        ("p99.9<2s", SLO.latency(99.9, 2000)),
        ("errors<1%", SLO.errors(0.01)),
        ("ttft_p99<300ms", SLO.ttft(99, 300)),
        ("itl_p95<50ms", SLO.itl(95, 50)),
        ("p50<=200ms", SLO.latency(50, 200, inclusive=True)),
        ("p99<500", SLO.latency(99, 500)),  # bare latency: ms
        ("errors<0.01", SLO.errors(0.01)),  # bare error rate: a fraction
        ("errors<=0", SLO.errors(0.0, inclusive=True)),
        ("error_rate<2%", SLO.errors(0.02)),
        ("p99 < 250 us", SLO.latency(99, 0.25)),
        ("  P90<1.5S ", SLO.latency(90, 1500)),
        ("p99<1e3ms", SLO.latency(99, 1000)),
        ("p100<5s", SLO.latency(100, 5000)),
        ("ttft_p50<=.5s", SLO.ttft(50, 500, inclusive=True)),
    ],
)
def test_parse(text: str, expected: SLO) -> None:
    assert parse_slo(text) == expected


@pytest.mark.parametrize(
    ("slo", "text"),
    [
        (SLO.latency(99, 500), "p99<500ms"),
        (SLO.latency(99.9, 2000), "p99.9<2000ms"),
        (SLO.errors(0.01), "errors<1%"),
        (SLO.errors(0.005, inclusive=True), "errors<=0.5%"),
        (SLO.ttft(99, 300), "ttft_p99<300ms"),
        (SLO.itl(95, 50), "itl_p95<50ms"),
        (SLO.latency(50, 12.5, inclusive=True), "p50<=12.5ms"),
    ],
)
def test_str_is_canonical_and_round_trips(slo: SLO, text: str) -> None:
    assert str(slo) == text
    assert parse_slo(text) == slo


_PERCENTILES = st.sampled_from([50.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0, 12.34])


@given(
    metric=st.sampled_from(["latency", "ttft", "itl"]),
    q=_PERCENTILES,
    threshold=st.floats(min_value=1e-3, max_value=1e7, allow_nan=False),
    inclusive=st.booleans(),
)
def test_latency_slos_round_trip(metric: str, q: float, threshold: float, inclusive: bool) -> None:
    slo = SLO(metric, threshold, q, inclusive)
    assert parse_slo(str(slo)) == slo


@given(fraction=st.floats(min_value=1e-9, max_value=1.0), inclusive=st.booleans())
def test_error_slos_round_trip(fraction: float, inclusive: bool) -> None:
    slo = SLO.errors(fraction, inclusive=inclusive)
    assert parse_slo(str(slo)) == slo


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is not an SLO"),
        ("p99", "is not an SLO"),
        ("p99<", "is not an SLO"),
        ("p99<fast", "is not an SLO"),
        ("p99<5ms5", "is not an SLO"),
        ("p99>500ms", "upper bound"),
        ("p99=500ms", "upper bound"),
        ("latency<5ms", "unknown metric 'latency'"),
        ("p<5", "unknown metric 'p'"),
        ("q99<5ms", "unknown metric"),
        ("ttft<5ms", "unknown metric 'ttft'"),
        ("p99<5%", "us, ms or s"),
        ("p99<5min", "us, ms or s"),
        ("errors<5ms", "% or a bare fraction"),
        ("errors<200%", "fraction in"),
        ("errors<2", "fraction in"),
        ("p101<5ms", r"percentile in \(0, 100\]"),
        ("p0<5ms", r"percentile in \(0, 100\]"),
        ("p99<0ms", "can never pass"),
        ("errors<0%", "can never pass"),
    ],
)
def test_bad_expressions_name_the_text(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_slo(text, option="--ml-slo")
    assert repr(text) in str(info.value)
    assert str(info.value).startswith("--ml-slo: ")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "p99", "threshold": 1.0, "percentile": 99.0}, "unknown"),
        ({"metric": "latency", "threshold": 1.0}, "needs a percentile"),
        ({"metric": "latency", "threshold": -1.0, "percentile": 99.0}, ">= 0"),
        ({"metric": "latency", "threshold": math.inf, "percentile": 99.0}, "finite"),
        ({"metric": "errors", "threshold": 0.1, "percentile": 99.0}, "no percentile"),
    ],
)
def test_slo_objects_validate(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SLO(**kwargs)  # type: ignore[arg-type]


def test_parse_slos_takes_repeated_options_and_semicolons() -> None:
    assert parse_slos(["p99<1s", "errors<1%; ttft_p90<200"]) == (
        SLO.latency(99, 1000),
        SLO.errors(0.01),
        SLO.ttft(90, 200),
    )
    assert parse_slos(None) == ()
    assert parse_slos("p50<1") == (SLO.latency(50, 1),)


def test_required_percentiles_per_metric() -> None:
    slos = parse_slos(["p99<1s", "p50<100", "p99<=2s", "ttft_p90<1", "itl_p95<1", "errors<1%"])
    assert required_percentiles(slos) == (50.0, 99.0)
    assert required_percentiles(slos, "ttft") == (90.0,)
    assert required_percentiles(slos, "itl") == (95.0,)
    assert required_percentiles([]) == ()
    with pytest.raises(ConfigError, match="errors"):
        required_percentiles(slos, "errors")


def _stats(**kwargs: object) -> SLOStats:
    base: dict[str, object] = {"requests": 1000, "failure_ratio": 0.0, "latency_ms": {}}
    base.update(kwargs)
    return SLOStats(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("slo", "stats", "status", "measured"),
    [
        ("p99<500ms", _stats(latency_ms={"p99": 499.0}), SLOStatus.PASS, 499.0),
        ("p99<500ms", _stats(latency_ms={"p99": 500.0}), SLOStatus.FAIL, 500.0),
        ("p99<=500ms", _stats(latency_ms={"p99": 500.0}), SLOStatus.PASS, 500.0),
        ("p99.9<2s", _stats(latency_ms={"p99.9": 2500.0}), SLOStatus.FAIL, 2500.0),
        ("p99<500ms", _stats(latency_ms={"p50": 1.0}), SLOStatus.NO_DATA, None),
        ("p99<500ms", _stats(latency_ms={"p99": None}), SLOStatus.NO_DATA, None),
        ("p99<500ms", _stats(latency_ms={"p99": math.nan}), SLOStatus.NO_DATA, None),
        ("p99<500ms", _stats(requests=0, latency_ms={"p99": 1.0}), SLOStatus.NO_DATA, None),
        ("errors<1%", _stats(failure_ratio=0.005), SLOStatus.PASS, 0.005),
        ("errors<1%", _stats(failure_ratio=0.01), SLOStatus.FAIL, 0.01),
        ("errors<1%", _stats(requests=0), SLOStatus.NO_DATA, None),
        ("ttft_p99<300ms", _stats(ttft_ms={"p99": 250.0}), SLOStatus.PASS, 250.0),
        ("ttft_p99<300ms", _stats(), SLOStatus.NO_DATA, None),
        ("itl_p95<50ms", _stats(itl_ms={"p95": 51.0}), SLOStatus.FAIL, 51.0),
        ("itl_p95<50ms", _stats(ttft_ms={"p95": 1.0}), SLOStatus.NO_DATA, None),
    ],
)
def test_evaluate_one(slo: str, stats: SLOStats, status: SLOStatus, measured: float | None) -> None:
    (result,) = evaluate([parse_slo(slo)], stats).results
    assert (result.status, result.measured) == (status, measured)
    assert result.passed is (status is SLOStatus.PASS)


def test_verdict_passes_only_when_every_slo_passes() -> None:
    stats = _stats(latency_ms={"p99": 100.0}, failure_ratio=0.02)
    verdict = evaluate(parse_slos(["p99<500ms", "errors<1%", "p99.9<1s"]), stats)
    assert not verdict.passed
    assert [r.slo for r in verdict.failed] == [SLO.errors(0.01)]
    assert [r.slo for r in verdict.no_data] == [SLO.latency(99.9, 1000)]
    assert verdict.reasons() == ("errors<1%: measured 2% (fail)", "p99.9<1000ms: no data")
    assert evaluate(parse_slos(["p99<500ms"]), stats).passed
    assert evaluate([], stats).passed  # nothing to meet


def test_no_data_is_not_a_pass_even_alone() -> None:
    verdict = evaluate([SLO.latency(99, 500)], _stats(requests=0))
    assert not verdict.passed
    assert not verdict.failed


def test_evaluate_reads_step_stats_directly() -> None:
    log, samples = StepLog(), StepSamples()
    log.observe(0.0, users=1)
    for i in range(1000):
        samples.record(1, ("POST", "/x"), float(i % 100) + 1.0, failed=i < 5)
    (step,) = summarize_steps(log.close(10.0), samples, percentiles=(50.0, 99.0))
    verdict = evaluate(parse_slos(["p99<150ms", "p50<=50ms", "errors<1%"]), step)
    assert [r.status for r in verdict.results] == [SLOStatus.PASS, SLOStatus.FAIL, SLOStatus.PASS]
    assert verdict.results[2].measured == pytest.approx(0.005)


def test_slo_stats_validate() -> None:
    with pytest.raises(ValueError, match="failure_ratio"):
        SLOStats(requests=1, failure_ratio=1.5, latency_ms={})
    with pytest.raises(ValueError, match="requests"):
        SLOStats(requests=-1, failure_ratio=0.0, latency_ms={})
