from __future__ import annotations

import numpy as np
import pytest

from locust_ml.analysis.samples import (
    Accumulator,
    RequestSample,
    StepSamples,
    judged_latency,
    window_index,
)
from locust_ml.analysis.steps import StepSpan, summarize_steps, summarize_totals

CHAT = ("POST", "/v1/chat/completions")


def _stream(latency: float, ttft: float, itl: list[float], **kw) -> RequestSample:
    return RequestSample(CHAT, latency, ttft_ms=ttft, itl_ms=itl, **kw)


def test_ml_fields_are_summarized_per_step() -> None:
    s = StepSamples()
    for i in range(100):
        s.add(
            1,
            _stream(
                200.0 + i,
                20.0 + i / 10,
                [5.0, 6.0, 7.0],
                corrected_ms=250.0 + i,
                lateness_ms=float(i) / 10,
                tokens_in=100,
                tokens_out=3,
                bytes_sent=1000,
                bytes_received=300,
            ),
        )
    (step,) = summarize_steps([StepSpan(1, 0.0, 10.0, None, 10.0)], s, percentiles=(50, 99))
    assert step.mode == "closed"
    assert step.offered_rps == 10.0
    assert step.extra_ms is not None
    assert step.extra_ms["corrected"]["p50"] == pytest.approx(299.0, rel=2e-3)
    assert step.extra_ms["ttft"]["p99"] == pytest.approx(29.8, rel=2e-3)
    assert step.extra_ms["itl"]["p50"] == pytest.approx(6.0, rel=2e-3)
    assert step.extra_ms["lateness"]["p99"] == pytest.approx(9.8, rel=2e-3)
    assert step.tokens_out_per_s == pytest.approx(30.0)
    (ep,) = step.endpoints
    assert (ep.tokens_in, ep.tokens_out, ep.bytes_sent, ep.bytes_received) == (
        10_000,
        300,
        100_000,
        30_000,
    )


def test_fields_that_never_occur_have_no_histogram() -> None:
    acc = Accumulator()
    acc.add(RequestSample(CHAT, 10.0))
    assert set(acc.hists) == {"latency"}


def test_judged_hist_is_corrected_in_open_loop_and_latency_in_closed_loop() -> None:
    acc = Accumulator()
    acc.add(RequestSample(CHAT, 10.0, corrected_ms=40.0))
    assert acc.judged_hist(open_loop=True) is acc.hist("corrected")
    assert acc.judged_hist(open_loop=False) is acc.hist("latency")
    # Without corrected data (closed-loop users never set it) open loop falls back.
    plain = Accumulator()
    plain.add(RequestSample(CHAT, 10.0))
    assert plain.judged_hist(open_loop=True) is plain.hist("latency")
    assert Accumulator().judged_hist(open_loop=True) is None
    # A failure records no latency: an empty corrected histogram is no data either.
    failed = Accumulator()
    failed.add(RequestSample(CHAT, 10.0, corrected_ms=40.0, status="timeout"))
    assert failed.judged_hist(open_loop=True) is None


def test_judged_hist_agrees_with_the_finished_steps_judged_latency() -> None:
    """The live rule and StepStats.judged_latency_ms are one rule (issue 15)."""
    for mode in ("open", "closed"):
        s = StepSamples()
        for i in range(50):
            s.add(1, RequestSample(CHAT, 100.0 + i, corrected_ms=300.0 + i), measured=True)
        span = StepSpan(1, 0.0, 10.0, None, 5.0, mode=mode)
        (step,) = summarize_steps([span], s, percentiles=(99,))
        hist = s.measured_of(1).judged_hist(open_loop=mode == "open")
        assert hist is not None
        assert step.judged_latency_ms["p99"] == pytest.approx(hist.percentile_ms(99))
    assert judged_latency(True, "latency", None) == "latency"
    assert judged_latency(False, "latency", "corrected") == "latency"


def test_status_classes_are_counted_and_failures_derive_from_them() -> None:
    s = StepSamples()
    for status, n in (("ok", 7), ("shed", 2), ("timeout", 1)):
        for _ in range(n):
            s.add(1, RequestSample(CHAT, 5.0, status=status))
    totals = summarize_totals(s, 1.0)
    assert totals.status == {"ok": 7, "shed": 2, "timeout": 1}
    assert (totals.requests, totals.failures) == (10, 3)


def test_windows_are_kept_per_step_with_two_digit_histograms() -> None:
    s = StepSamples()
    for t in np.arange(0.0, 20.0, 0.1):  # 10 requests/s for 20 s, 5 s windows
        s.add(1, RequestSample(CHAT, 100.0 + t), window=window_index(100.0 + t, 100.0, 5.0))
    (step,) = summarize_steps([StepSpan(1, 100.0, 120.0, 4)], s, window_s=5.0)
    assert [w.index for w in step.windows] == [0, 1, 2, 3]
    assert [w.requests for w in step.windows] == [50, 50, 50, 50]
    assert all(w.achieved_rps == pytest.approx(10.0) for w in step.windows)
    assert step.windows[3].latency_ms["p50"] == pytest.approx(117.5, rel=1e-2)
    assert step.requests == 200  # windows don't double count
    assert s.requests == 200


def test_last_window_is_cut_at_the_step_end() -> None:
    s = StepSamples()
    s.add(1, RequestSample(CHAT, 1.0), window=2)
    (step,) = summarize_steps([StepSpan(1, 0.0, 12.0, 1)], s, window_s=5.0)
    # Windows without a completion are windows too (empty), up to the step's end.
    assert [(w.index, w.requests) for w in step.windows] == [(0, 0), (1, 0), (2, 1)]
    w = step.windows[-1]
    assert (w.start, w.end, w.achieved_rps) == (10.0, 12.0, 0.5)
    assert step.windows[0].latency_ms["p50"] is None


def test_wire_roundtrip_keeps_every_field_exactly() -> None:
    s = StepSamples()
    rng = np.random.default_rng(4)
    for i in range(300):
        s.add(
            1 + i % 2,
            _stream(
                float(rng.lognormal(5, 0.5)),
                float(rng.lognormal(3, 0.5)),
                list(rng.lognormal(2, 0.3, 5)),
                corrected_ms=float(rng.lognormal(5.5, 0.5)),
                status="ok" if i % 7 else "shed",
                tokens_in=50,
                tokens_out=5,
            ),
            window=i % 3,
        )
    spans = [StepSpan(1, 0.0, 10.0, 1), StepSpan(2, 10.0, 20.0, 2)]
    back = StepSamples.from_wire(s.to_wire())
    assert summarize_steps(spans, back, window_s=5.0) == summarize_steps(spans, s, window_s=5.0)


@pytest.mark.parametrize(
    "acc",
    [
        {"requests": 1, "status": {"ok": 2}, "bytes": [0, 0], "tokens": [0, 0, 0], "hists": {}},
        {"requests": 1, "status": {"bogus": 1}, "bytes": [0, 0], "tokens": [0, 0, 0], "hists": {}},
        {"requests": 1, "status": {"ok": 1}, "bytes": [0], "tokens": [0, 0, 0], "hists": {}},
        {"requests": "1", "status": {}, "bytes": [0, 0], "tokens": [0, 0, 0], "hists": {}},
    ],
)
def test_malformed_accumulators_are_rejected(acc: dict[str, object]) -> None:
    row = {"step": 1, "window": None, "type": "GET", "name": "/", "acc": acc}
    with pytest.raises(ValueError, match="malformed"):
        StepSamples.from_wire([row])


@pytest.mark.parametrize(
    ("t", "start", "size", "index"),
    [
        (100.0, 100.0, 5.0, 0),
        (104.999, 100.0, 5.0, 0),
        (105.0, 100.0, 5.0, 1),
        (99.0, 100.0, 5.0, 0),
    ],
)
def test_window_index(t: float, start: float, size: float, index: int) -> None:
    assert window_index(t, start, size) == index


@pytest.mark.parametrize("dist", ["lognormal", "pareto", "bimodal"])
def test_merged_worker_percentiles_match_exact_within_one_percent(dist: str) -> None:
    rng = np.random.default_rng(77)
    n = 30_000
    values = {
        "lognormal": lambda: rng.lognormal(5.0, 1.2, n),
        "pareto": lambda: (rng.pareto(1.5, n) + 1.0) * 20.0,
        "bimodal": lambda: np.where(rng.random(n) < 0.95, 30.0, 2000.0) + rng.random(n),
    }[dist]()
    master = StepSamples()
    for part in np.array_split(values, 3):  # three workers, two reports each
        worker = StepSamples()
        for half in np.array_split(part, 2):
            for v in half:
                worker.add(1, RequestSample(CHAT, float(v)))
            master.merge_wire(worker.drain_wire())
    (step,) = summarize_steps([StepSpan(1, 0.0, 1.0, 1)], master)
    ordered = np.sort(values)
    for q in (50, 90, 95, 99, 99.9):
        exact = ordered[max(1, int(np.ceil(q * n / 100 - 1e-9))) - 1]
        assert step.latency_ms[f"p{q:g}"] == pytest.approx(exact, rel=0.01)
