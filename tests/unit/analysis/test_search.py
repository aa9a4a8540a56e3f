"""The capacity search against a simulated batching server whose capacity is known.

The target (tests/queue_target.py) is a discrete-event model of the
reference server's simulated backend: Poisson or closed-loop load, dynamic
batching, a bounded or deep queue. Time is simulated: the search is driven a
second at a time, its measurements built as the plugin builds them, and the
run decided into a report exactly as the plugin decides it.
"""

from __future__ import annotations

import pytest

from locust_ml.analysis.judge import JudgeRule, Outcome, StepMeasurement, judge_step, measure_step
from locust_ml.analysis.search import (
    CapacitySearch,
    SearchConfig,
    StopReason,
)
from locust_ml.analysis.slo import SLOStats, parse_slos
from locust_ml.analysis.steps import WindowStats
from locust_ml.errors import ConfigError
from locust_ml.report.model import judge_rule
from tests.queue_target import QueueTarget, run_search

LOOSE = parse_slos(["p99<2000ms"])

#: Targets as keyword arguments (each test builds its own: a target keeps its state).
TARGETS = [
    pytest.param({"seed": 1}, id="B8-114rps-queue64"),
    pytest.param(
        {"base_ms": 40, "per_item_ms": 10, "batch": 16, "queue_limit": 5000, "seed": 2},
        id="B16-80rps-deep-queue",
    ),
    pytest.param({"base_ms": 45, "per_item_ms": 5, "batch": 1, "seed": 3}, id="B1-20rps"),
]


@pytest.mark.parametrize("target_kw", TARGETS)
@pytest.mark.parametrize("mode", ["open", "closed"])
def test_the_default_search_lands_on_the_analytic_saturation(
    target_kw: dict[str, float], mode: str
) -> None:
    """A loose SLO: the capacity is the saturation, within 5 %, inside its interval."""
    target = QueueTarget(**target_kw)  # type: ignore[arg-type]
    run = run_search(target, SearchConfig(slos=LOOSE, mode=mode))  # type: ignore[arg-type]
    report = run.report()
    c = report.capacity
    assert c is not None
    assert c.slo_rps is not None
    assert c.slo_rps == pytest.approx(target.xsat, rel=0.05)
    assert c.slo_rps_ci is not None
    low, high = c.slo_rps_ci
    assert low <= target.xsat <= (high if high is not None else float("inf"))
    assert report.verdict.valid, report.verdict.reasons
    assert report.verdict.passed, report.verdict.reasons
    assert run.search.result is not None
    assert run.search.result.reason in (StopReason.CONVERGED, StopReason.THROUGHPUT)
    assert run.elapsed_s <= 180.0


@pytest.mark.parametrize("target_kw", TARGETS)
def test_the_search_and_the_verdict_agree_on_every_step(target_kw: dict[str, float]) -> None:
    """The same measurements, judged once by the search and again by the report."""
    run = run_search(QueueTarget(**target_kw), SearchConfig(slos=LOOSE))  # type: ignore[arg-type]
    report = run.report()
    rule = judge_rule(report.slos, report.settings)
    history = [j for j in run.search.history if not j.probe]
    assert history
    for judged in history:
        # What the search saw when it decided, judged as the report judges a finished step...
        seen = judge_step(run.seen[judged.step], rule, final=True)
        # ...and the finished step itself, from the report's statistics.
        step = next(s for s in report.steps if s.id == judged.step)
        again = judge_step(measure_step(step, report.window_s), rule, final=True)
        assert seen is not None
        assert again is not None
        assert judged.outcome == seen.outcome == again.outcome, judged
    assert report.verdict.valid


def test_the_probe_doubles_concurrency_until_the_throughput_stops_rising() -> None:
    run = run_search(QueueTarget(seed=1), SearchConfig(slos=LOOSE))
    probe = [j for j in run.search.history if j.probe]
    assert [j.load for j in probe] == [1, 2, 4, 8, 16, 32]
    assert "saturated (2 doublings in a row without the gain)" in probe[-1].reasons[0]
    sat = run.search.saturation_rps
    assert sat is not None
    assert sat == pytest.approx(114.3, rel=0.03)
    searched = [j for j in run.search.history if not j.probe]
    # The first measured step offers 90 % of the probe's saturation.
    assert searched[0].load == pytest.approx(0.9 * sat, rel=0.01)
    # Between the probe and that step the backlog drains (a cooldown step).
    labels = [s.label for s in run.steps]
    assert labels[len(probe)] == "cooldown"


#: Good throughput at each probe concurrency, as measured against the reference
#: server's simulated backend (batch 8, 40 ms + 33 ms per request: X_sat 26.3/s).
#: 8 requests in flight, added to 4 already going, ran as two cohorts of 4 that
#: never shared a batch: no faster than 4; 16 filled the batches.
STALLED_PROBE = {1: 12.3, 2: 17.6, 4: 22.27, 8: 22.65, 16: 26.0, 32: 26.3, 64: 26.2}


def _probe(config: SearchConfig, rates: dict[int, float]) -> CapacitySearch:
    search = CapacitySearch(config)
    t, tick = 0.0, search.at(0.0)
    while tick is not None and tick.label == "probe":
        assert tick.concurrency is not None
        t += 12.0
        rate = rates[tick.concurrency]
        tick = search.at(t, _m(tick.step, 20.0, round(rate * 20), load=tick.concurrency))
    return search


def test_a_batcher_s_stall_for_one_doubling_is_not_its_saturation() -> None:
    search = _probe(SearchConfig(slos=LOOSE), STALLED_PROBE)
    probe = [j for j in search.history if j.probe]
    assert [j.load for j in probe] == [1, 2, 4, 8, 16, 32, 64]
    assert "one more doubling to see whether the plateau holds" in probe[3].reasons[0]
    assert "saturated (2 doublings in a row without the gain)" in probe[-1].reasons[0]
    assert search.saturation_rps == pytest.approx(26.3)
    # One doubling without the gain was taken for saturation: 14 % short.
    early = _probe(SearchConfig(slos=LOOSE, probe_plateau=1), STALLED_PROBE)
    assert [j.load for j in early.history if j.probe] == [1, 2, 4, 8]
    assert early.saturation_rps == pytest.approx(22.65)


def test_a_probe_step_of_a_shedding_target_ends_once_it_has_its_answers() -> None:
    """Refusals come back at once: waiting for 100 good answers floods the target."""
    search = CapacitySearch(SearchConfig(slos=LOOSE))
    tick = search.at(0.0)
    assert tick is not None
    assert tick.label == "probe"
    shed = SLOStats(500, 0.99, {"p50": 1.0, "p99": 2.0})
    after = tick.warmup_s + SearchConfig().probe_min_s
    nxt = search.at(after, StepMeasurement(tick.step, "open", 1.0, after, shed, 5))
    assert nxt is not None
    assert nxt.label == "cooldown"
    assert "the target sheds" in search.history[-1].reasons[0]


def test_the_step_ids_are_the_reports() -> None:
    run = run_search(QueueTarget(seed=1), SearchConfig(slos=LOOSE))
    report = run.report()
    assert [j.step for j in run.search.history] == [
        s.id for s in report.steps if s.label != "cooldown"
    ]


def test_a_tight_slo_steps_down_and_brackets_below_saturation() -> None:
    tight = parse_slos(["p99<120ms"])
    run = run_search(QueueTarget(seed=4), SearchConfig(slos=tight))
    report = run.report()
    c = report.capacity
    assert c is not None
    assert c.slo_rps is not None
    assert c.slo_rps < 0.95 * 114.3
    assert c.bound == "bracketed"
    assert "p99<120ms" in (c.limiting_slo or "")
    assert any(j.phase == "step-down" for j in run.search.history)
    assert report.verdict.valid


def test_closed_loop_stops_on_the_throughput_plateau() -> None:
    run = run_search(QueueTarget(seed=1, queue_limit=5000), SearchConfig(slos=LOOSE, mode="closed"))
    result = run.search.result
    assert result is not None
    assert result.reason is StopReason.THROUGHPUT
    loads = [j.load for j in result.history]
    assert loads[:4] == [1, 2, 4, 8]  # users double, every step fully judged
    assert not any(j.probe for j in result.history)


def _m(
    step: int, seconds: float, requests: int, windows: int = 0, load: float = 50.0
) -> StepMeasurement:
    win = tuple(
        WindowStats(
            float(i),
            i + 1.0,
            requests // max(windows, 1),
            0,
            {"p25": 8.0, "p50": 10.0, "p75": 12.0},
        )
        for i in range(windows)
    )
    stats = SLOStats(requests, 0.0, {"p50": 10.0, "p99": 20.0})
    return StepMeasurement(step, "open", load, seconds, stats, requests, win)


def test_a_pass_waits_for_the_minimum_step_time() -> None:
    search = CapacitySearch(SearchConfig(slos=LOOSE, start=50.0, warmup_s=0.0))
    tick = search.at(0.0)
    assert tick is not None
    assert (tick.offered_rps, tick.label) == (50.0, "step-up")
    # Stable with 400 requests after 8 s, but a pass needs 10 s of measurement.
    assert search.at(8.0, _m(tick.step, 8.0, 400, 8)) == tick
    nxt = search.at(10.0, _m(tick.step, 10.0, 500, 10))
    assert nxt is not None
    assert nxt.step != tick.step
    assert search.history[0].outcome is Outcome.PASS


def test_a_slow_step_runs_past_the_max_step_time_while_samples_accrue() -> None:
    search = CapacitySearch(SearchConfig(slos=LOOSE, start=5.0, warmup_s=0.0, max_step=30.0))
    tick = search.at(0.0)
    assert tick is not None
    # 5 req/s: p99 needs 299 requests, i.e. 60 s; at 30 s the step is not failed.
    assert search.at(30.0, _m(tick.step, 30.0, 150, 30, load=5.0)) == tick
    assert search.at(70.0, _m(tick.step, 70.0, 350, 70, load=5.0)) != tick
    assert search.history[0].outcome is Outcome.PASS


def test_a_step_never_measured_fails_at_the_max_step_time() -> None:
    search = CapacitySearch(SearchConfig(slos=LOOSE, start=50.0, warmup_s=0.0, max_step=30.0))
    search.at(0.0)
    search.at(31.0)
    assert search.history[0].outcome is Outcome.NO_ANSWERS


def test_stop_returns_what_was_found_and_the_time_limit_stops_it() -> None:
    search = CapacitySearch(SearchConfig(slos=LOOSE, max_time=60.0))
    assert search.at(0.0) is not None
    result = search.stop()
    assert result.reason is StopReason.STOPPED
    assert search.at(1.0) is None
    limited = CapacitySearch(SearchConfig(slos=LOOSE, max_time=40.0))
    limited.at(0.0)
    assert limited.at(40.0) is None
    assert limited.result is not None
    assert limited.result.reason is StopReason.TIME_LIMIT


def test_the_search_shares_the_reports_rule() -> None:
    config = SearchConfig(slos=LOOSE)
    assert config.rule == JudgeRule(
        slos=LOOSE, stability=config.stability, min_requests=config.min_requests
    )
    assert config.rule.describe() == "p99<2000ms, errors<=1% (default ceiling)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "sideways"}, "mode must be"),
        ({"start": 0.0}, "start must be > 0"),
        ({"mode": "closed", "start": 2.5}, "whole number of users"),
        ({"precision": 0.0}, "precision"),
        ({"factor_down": 1.5}, "factor down"),
        ({"min_step_s": 40.0, "max_step": 30.0}, "max_step"),
        ({"max_step": 300.0, "max_time": 100.0}, "longer than the whole search"),
        ({"pool_users": 0}, "pool users"),
    ],
)
def test_bad_configs_raise_one_clear_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SearchConfig(**kwargs)  # type: ignore[arg-type]
