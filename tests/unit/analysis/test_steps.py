from __future__ import annotations

import numpy as np
import pytest

from locust_ml.analysis.histogram import LatencyHistogram
from locust_ml.analysis.samples import StepSamples
from locust_ml.analysis.steps import StepLog, StepSpan, summarize_steps, summarize_totals

GET = ("GET", "/a")
POST = ("POST", "/v1/chat/completions")


def test_step_log_opens_a_step_per_load_change() -> None:
    log = StepLog()
    assert log.observe(0.0, users=1).id == 1
    assert log.observe(1.0, users=1) is None
    assert log.observe(10.0, users=2).id == 2
    assert log.observe(20.0, users=2, offered_rps=5.0).id == 3
    spans = log.close(25.0)
    assert [(s.id, s.start, s.end, s.users, s.offered_rps) for s in spans] == [
        (1, 0.0, 10.0, 1, None),
        (2, 10.0, 20.0, 2, None),
        (3, 20.0, 25.0, 2, 5.0),
    ]
    assert log.close(30.0) == spans  # idempotent
    assert log.current is None


def test_step_log_spans_is_provisional() -> None:
    log = StepLog()
    log.observe(0.0, users=3)
    (span,) = log.spans(4.0)
    assert (span.end, log.current.end) == (4.0, None)


def test_samples_wire_roundtrip_and_drain() -> None:
    s = StepSamples()
    s.record(1, GET, 10.0)
    s.record(1, GET, 20.0, failed=True, nbytes=5)
    s.record(2, POST, 30.0, nbytes=7)
    wire = s.drain_wire()
    assert len(s) == 0
    back = StepSamples.from_wire(wire)
    assert back.requests == 3
    stats = summarize_totals(back, duration=1.0)
    assert (stats.requests, stats.failures) == (3, 1)
    assert {e.name: e.bytes_received for e in stats.endpoints} == {
        "/a": 5,
        "/v1/chat/completions": 7,
    }


@pytest.mark.parametrize(
    "row",
    [
        {"step": 1},
        {
            "step": "1",
            "type": "GET",
            "name": "/",
            "requests": 1,
            "failures": 0,
            "bytes": 0,
            "latency": {},
        },
    ],
)
def test_from_wire_rejects_malformed_rows(row: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed"):
        StepSamples.from_wire([row])


def test_merge_of_worker_deltas_equals_single_recorder() -> None:
    rng = np.random.default_rng(11)
    whole = StepSamples()
    master = StepSamples()
    for _worker in range(3):
        mine = StepSamples()
        for _report in range(4):
            for step in (1, 2):
                for v in rng.lognormal(3, 1, 200):
                    mine.record(step, POST, float(v))
                    whole.record(step, POST, float(v))
            master.merge_wire(mine.drain_wire())
    spans = [StepSpan(1, 0.0, 10.0, 1), StepSpan(2, 10.0, 20.0, 2)]
    a = summarize_steps(spans, master)
    b = summarize_steps(spans, whole)
    assert a == b
    assert [s.requests for s in a] == [2400, 2400]


def test_summarize_steps_rates_and_percentiles_are_exact() -> None:
    s = StepSamples()
    for i in range(1, 101):
        s.record(1, GET, float(i))  # 1..100 ms over a 10 s step
    for _ in range(30):
        s.record(2, GET, 500.0, failed=True)
    spans = [StepSpan(1, 100.0, 110.0, 4), StepSpan(2, 110.0, 115.0, 8)]
    one, two = summarize_steps(spans, s, percentiles=(50, 99))
    assert one.achieved_rps == pytest.approx(10.0)
    assert one.latency_ms["p50"] == pytest.approx(50.0, rel=1e-3)
    assert one.latency_ms["p99"] == pytest.approx(99.0, rel=1e-3)
    assert (two.requests, two.failures, two.failure_ratio) == (30, 30, 1.0)
    assert two.achieved_rps == pytest.approx(6.0)
    assert two.duration_s == 5.0


def test_step_zero_samples_fold_into_the_first_step() -> None:
    s = StepSamples()
    s.record(0, GET, 5.0)  # before the worker heard of step 3
    s.record(3, GET, 5.0)
    (only,) = summarize_steps([StepSpan(3, 0.0, 1.0, 2)], s)
    assert only.requests == 2


def test_empty_step_has_null_latencies() -> None:
    (step,) = summarize_steps([StepSpan(1, 0.0, 5.0, 1)], StepSamples())
    assert step.requests == 0
    assert step.achieved_rps == 0.0
    assert set(step.latency_ms.values()) == {None}


def test_totals_count_samples_of_unknown_steps() -> None:
    s = StepSamples()
    s.record(1, GET, 1.0)
    s.record(9, GET, 1.0)  # a late sample tagged with a step no span knows
    assert sum(x.requests for x in summarize_steps([StepSpan(1, 0, 1, 1)], s)) == 1
    assert summarize_totals(s, 1.0).requests == 2


def test_memory_is_bounded_by_steps_not_requests() -> None:
    s = StepSamples()
    for i in range(20_000):
        s.record(1, GET, float(i % 977) + 0.5)
    assert len(s) == 1
    assert isinstance(s.by_step(1)[1][GET].hist("latency"), LatencyHistogram)
