"""The capacity search against synthetic targets whose answer is known analytically.

The target model follows the reference server's simulated backend: batches of
``batch`` requests take ``base_ms + per_item_ms * batch``, so the saturation
rate is ``X_sat = instances * batch / (service_ms / 1000)``. Below saturation,
latency is M/D/1-like: ``service * (1 + rho / (2 (1 - rho)) * ln(1 / (1 - q)))``
at quantile ``q``, rising sharply as ``rho = rate / X_sat`` nears 1; at or above
saturation (from ``rho = 0.99``, so that latency never decreases with load) the
queue grows for as long as the step lasts. Time is fake: the
driver advances ``elapsed`` by one second per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.search import (
    CapacitySearch,
    JudgedStep,
    SearchConfig,
    SearchResult,
    StopReason,
    Verdict,
)
from locust_ml.analysis.slo import SLO, SLOStats, parse_slos
from locust_ml.analysis.stability import StabilityRule, StepObservation, WindowStats
from locust_ml.errors import ConfigError
from locust_ml.schedules import Plan, Tick

WINDOW_S = 5.0
#: From here on the model's queue grows for as long as the step lasts (continuous in load).
RHO_CAP = 0.99


def _no_errors(_load: float) -> float:
    return 0.0


@dataclass(frozen=True)
class Target:
    instances: int = 1
    batch: int = 8
    base_ms: float = 20.0
    per_item_ms: float = 5.0
    error_ratio: Callable[[float], float] = field(default_factory=lambda: _no_errors)

    @property
    def service_ms(self) -> float:
        return self.base_ms + self.per_item_ms * self.batch

    @property
    def xsat(self) -> float:
        return self.instances * self.batch / (self.service_ms / 1000.0)

    def latency_ms(self, load: float, q: float, t: float, mode: str) -> float:
        """Latency at quantile ``q`` (percent) after ``t`` s in a step at ``load``."""
        tail = math.log(1.0 / (1.0 - q / 100.0)) if q < 100 else 10.0
        if mode == "closed":  # N users, no think time: R = max(S, N / X_sat)
            r = max(self.service_ms, load / self.xsat * 1000.0)
            return r * (1.0 + 0.2 * tail)
        rho = min(load / self.xsat, RHO_CAP)
        stationary = self.service_ms * (1.0 + rho / (2.0 * (1.0 - rho)) * tail)
        if load < RHO_CAP * self.xsat:
            return stationary
        backlog_s = (load - RHO_CAP * self.xsat) * t / self.xsat  # the queue only grows
        return stationary + 1000.0 * backlog_s

    def throughput(self, load: float, mode: str) -> float:
        if mode == "closed":
            return load / (max(self.service_ms, load / self.xsat * 1000.0) / 1000.0)
        return min(load, self.xsat)

    def sustainable_rps(self, q: float, threshold_ms: float) -> float:
        """Open loop: the rate at which latency at ``q`` equals the threshold."""
        tail = math.log(1.0 / (1.0 - q / 100.0))
        a = 2.0 * (threshold_ms / self.service_ms - 1.0) / tail
        return a / (1.0 + a) * self.xsat

    def observe(
        self, tick: Tick, t_in_step: float, percentiles: tuple[float, ...]
    ) -> StepObservation:
        load, mode = tick.load, tick.mode
        rate = self.throughput(load, mode)
        n = max(0, int((t_in_step - tick.warmup_s) // WINDOW_S))
        windows = []
        for i in range(n):
            start = tick.warmup_s + i * WINDOW_S
            mid = start + WINDOW_S / 2
            lat = {f"p{q:g}": self.latency_ms(load, q, mid, mode) for q in (25.0, 50.0, 75.0)}
            windows.append(WindowStats(start, start + WINDOW_S, round(rate * WINDOW_S), 0, lat))
        requests = sum(w.requests for w in windows)
        aggregate = SLOStats(
            requests=requests,
            failure_ratio=self.error_ratio(load),
            latency_ms={f"p{q:g}": self.latency_ms(load, q, t_in_step, mode) for q in percentiles},
        )
        return StepObservation(tick.step, load, t_in_step, tuple(windows), aggregate)


def drive(search: Plan, target: Target, *, limit_s: float = 100_000.0) -> list[Tick]:
    """Call ``search.at`` once a (fake) second with the target's measurements."""
    assert isinstance(search, CapacitySearch)
    percentiles = tuple(sorted({s.percentile or 50.0 for s in search.config.slos} | {50.0}))
    t, ticks = 0.0, []
    tick = search.at(t)
    started = {}
    while tick is not None and t < limit_s:
        if tick.step not in started:
            started[tick.step] = t
            ticks.append(tick)
        t += 1.0
        obs = target.observe(tick, t - started[tick.step], percentiles)
        tick = search.at(t, obs)
    return ticks


def run(target: Target, **config: object) -> SearchResult:
    defaults: dict[str, object] = {"warmup_s": 5.0, "max_step_s": 60.0, "max_total_s": 36_000.0}
    search = CapacitySearch(SearchConfig(**{**defaults, **config}))  # type: ignore[arg-type]
    drive(search, target)
    assert search.finished
    assert search.result is not None
    return search.result


TARGETS = [
    Target(),  # X_sat = 133.3/s, service 60 ms
    Target(instances=2, batch=16, base_ms=30.0, per_item_ms=4.0),  # 338.6/s
    Target(instances=1, batch=4, base_ms=10.0, per_item_ms=10.0),  # 80/s
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("q", "factor_of_service"), [(99.0, 3.0), (99.0, 10.0), (50.0, 1.5)])
@pytest.mark.parametrize("precision", [0.05, 0.02])
def test_open_loop_search_finds_the_analytic_rate(
    target: Target, q: float, factor_of_service: float, precision: float
) -> None:
    threshold = target.service_ms * factor_of_service
    result = run(
        target, slos=(SLO.latency(q, threshold),), start=30.0, factor=2.0, precision=precision
    )
    truth = target.sustainable_rps(q, threshold)
    assert result.reason is StopReason.CONVERGED
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert result.sustainable < truth <= result.first_bad
    assert result.precision is not None
    assert result.precision <= precision
    assert result.first_bad / result.sustainable - 1 == pytest.approx(result.precision)
    assert abs(result.sustainable / truth - 1) <= precision


def test_search_history_is_step_up_then_bisect() -> None:
    target = Target()
    result = run(target, slos=parse_slos(["p99<180ms"]), start=20.0, factor=2.0, precision=0.05)
    phases = [s.phase for s in result.history]
    loads = [s.load for s in result.history]
    assert phases[:3] == ["step-up", "step-up", "step-up"]
    assert loads[:3] == [20.0, 40.0, 80.0]
    assert set(phases[3:]) == {"bisect"}
    assert loads[3] == pytest.approx(math.sqrt(40 * 80))
    steps = [s.step for s in result.history]
    assert steps == sorted(set(steps))  # cooldowns after failed steps take step ids too
    failed = [s for s in result.history if not s.passed]
    assert all(s.reasons for s in failed)
    assert all(not s.reasons for s in result.history if s.passed)
    assert result.sustainable_step is not None
    assert result.sustainable_step.load == result.sustainable
    assert "converged" in result.summary()


def test_overload_fails_fast_and_says_why() -> None:
    target = Target()  # saturates at 133/s
    search = CapacitySearch(
        SearchConfig(slos=parse_slos(["p99<1s"]), start=400.0, warmup_s=5.0, max_step_s=120.0)
    )
    drive(search, target)
    first = search.history[0]
    assert first.verdict is Verdict.FAIL
    assert first.end - first.start < 20.0  # judged on the first windows, not after 120 s
    assert any("p99<1000ms" in r for r in first.reasons)
    assert search.history[1].phase == "step-down"


def test_without_fail_fast_an_overloaded_step_is_unstable() -> None:
    target = Target()
    search = CapacitySearch(
        SearchConfig(
            slos=parse_slos(["p99<1s"]), start=400.0, warmup_s=5.0, max_step_s=60.0, fail_fast=False
        )
    )
    drive(search, target)
    first = search.history[0]
    assert first.verdict is Verdict.UNSTABLE
    assert first.end - first.start == 60.0
    assert first.reasons[0] == "not stable after 60 s"
    assert any("median latency" in r for r in first.reasons)


def test_without_slos_the_search_finds_saturation_within_the_tolerance() -> None:
    """Throughput alone: achieved must reach offered x (1 - 10 % - 3/sqrt(n))."""
    target = Target()
    result = run(target, slos=(), start=40.0, factor=2.0, precision=0.05)
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert 0.95 * target.xsat <= result.sustainable <= target.xsat / (1 - 0.1 - 0.07)
    assert all(s.reasons for s in result.history if not s.passed)


def test_open_loop_throughput_shortfall_fails_the_step() -> None:
    search = CapacitySearch(SearchConfig(start=100.0, warmup_s=0.0))
    search.at(0.0)
    search.at(20.0, replace(_obs(1, requests=350), achieved_rps=70.0))
    judged = _only(search)
    assert judged.verdict is Verdict.FAIL
    assert judged.reasons[0].startswith("throughput 70 requests/s is below the offered 100")


def test_error_slo_is_judged() -> None:
    target = Target(error_ratio=lambda load: 0.0 if load < 50 else 0.05)
    result = run(target, slos=parse_slos(["errors<1%"]), start=10.0, factor=2.0, precision=0.05)
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert result.sustainable < 50 <= result.first_bad
    assert any("errors<1%" in r for s in result.history for r in s.reasons)


def test_closed_loop_search_stops_where_throughput_stops_rising() -> None:
    target = Target()  # N* = X_sat * S = 8 users saturate it
    result = run(
        target, mode="closed", slos=parse_slos(["p99<2s"]), start=1, factor=2.0, precision=0.05
    )
    assert result.mode == "closed"
    assert result.reason is StopReason.RESOLUTION
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert result.first_bad - result.sustainable == 1
    assert all(s.load == int(s.load) for s in result.history)
    assert 7 <= result.sustainable <= 9
    bad = next(s for s in result.history if not s.passed)
    assert "stopped rising" in bad.reasons[0]


def test_closed_loop_latency_slo() -> None:
    target = Target()  # beyond 8 users R = N / X_sat: p99 = 7.5 ms * N * 1.92
    result = run(
        target, mode="closed", slos=parse_slos(["p99<200ms"]), start=2, min_gain=0.0, precision=0.01
    )
    tail = 1 + 0.2 * math.log(100)
    truth = 200.0 / tail * target.xsat / 1000.0  # users at which p99 == 200 ms
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert result.sustainable < truth <= result.first_bad
    assert result.first_bad - result.sustainable == 1


def test_first_step_failing_steps_down_until_one_passes() -> None:
    target = Target()
    truth = target.sustainable_rps(99, 120.0)
    result = run(target, slos=parse_slos(["p99<120ms"]), start=500.0, factor=2.0)
    phases = [s.phase for s in result.history]
    assert phases[0] == "step-up"
    assert phases[1] == "step-down"
    assert result.sustainable is not None
    assert result.sustainable < truth <= (result.first_bad or 0)


@pytest.mark.parametrize(
    ("config", "reason", "sustainable", "first_bad"),
    [
        ({"start": 10.0, "max_load": 50.0}, StopReason.MAX_LOAD, 50.0, None),
        (
            {"start": 4.0, "min_load": 1.0, "slos": parse_slos(["p99<10ms"])},
            StopReason.MIN_LOAD,
            None,
            1.0,
        ),
        ({"start": 10.0, "max_steps": 2}, StopReason.STEP_LIMIT, 20.0, None),
        (
            {"start": 40.0, "max_total_s": 60.0, "max_step_s": 30.0},
            StopReason.TIME_LIMIT,
            80.0,
            160.0,
        ),
    ],
)
def test_stop_reasons(
    config: dict[str, object],
    reason: StopReason,
    sustainable: float | None,
    first_bad: float | None,
) -> None:
    base: dict[str, object] = {"slos": parse_slos(["p99<1s"]), "factor": 2.0}
    result = run(Target(), **{**base, **config})
    assert result.reason is reason
    assert (result.sustainable, result.first_bad) == (sustainable, first_bad)


def test_max_load_caps_the_last_step_up() -> None:
    result = run(Target(), slos=parse_slos(["p99<1s"]), start=10.0, factor=2.0, max_load=30.0)
    assert [s.load for s in result.history] == [10.0, 20.0, 30.0]
    assert result.reason is StopReason.MAX_LOAD


def test_time_limit_stops_without_starting_a_doomed_step() -> None:
    search = CapacitySearch(
        SearchConfig(
            slos=parse_slos(["p99<1s"]), start=10.0, warmup_s=5.0, max_step_s=30.0, max_total_s=45.0
        )
    )
    ticks = [t for t in drive(search, Target()) if t.label != "cooldown"]
    result = search.result
    assert result is not None
    assert result.reason is StopReason.TIME_LIMIT
    assert len(ticks) in (len(result.history), len(result.history) + 1)


def _obs(
    step: int, *, windows: int = 3, requests: int = 500, p99: float = 100.0
) -> StepObservation:
    ws = tuple(
        WindowStats(i * 5.0, (i + 1) * 5.0, requests, 0, {"p25": 9.0, "p50": 10.0, "p75": 11.0})
        for i in range(windows)
    )
    agg = SLOStats(requests * windows, 0.0, {"p99": p99, "p50": 10.0})
    return StepObservation(step, 100.0, 20.0, ws, agg)


def _only(search: CapacitySearch) -> JudgedStep:
    (judged,) = search.history
    return judged


def test_warmup_is_never_judged_and_stale_observations_are_ignored() -> None:
    search = CapacitySearch(
        SearchConfig(slos=parse_slos(["p99<500ms"]), start=100.0, warmup_s=10.0, max_step_s=60.0)
    )
    first = search.at(0.0)
    assert first is not None
    assert (first.step, first.offered_rps, first.users, first.label) == (1, 100.0, 100, "step-up")
    assert search.at(9.9, _obs(1)) == first  # still warming up
    assert len(search.history) == 0
    other = CapacitySearch(search.config)
    other.at(0.0)
    assert other.at(20.0, _obs(7)) == first  # not this step's: ignored
    assert len(other.history) == 0
    second = search.at(21.0, _obs(1))
    assert second is not None
    assert (second.step, second.offered_rps) == (2, 200.0)
    judged = _only(search)
    assert (judged.verdict, judged.load, judged.start, judged.end) == (
        Verdict.PASS,
        100.0,
        0.0,
        21.0,
    )
    assert judged.achieved_rps == 100.0
    assert judged.slo is not None
    assert judged.slo.passed


def test_a_step_never_measured_is_unstable_at_the_max_step_time() -> None:
    search = CapacitySearch(SearchConfig(start=100.0, warmup_s=10.0, max_step_s=30.0))
    search.at(0.0)
    assert search.at(29.0) is not None
    assert len(search.history) == 0
    search.at(30.0)
    judged = _only(search)
    assert judged.verdict is Verdict.UNSTABLE
    assert judged.reasons == ("not stable after 30 s", "no measurement of this step")


def test_too_few_samples_is_explained() -> None:
    search = CapacitySearch(
        SearchConfig(slos=parse_slos(["p99.9<1s"]), start=100.0, warmup_s=0.0, max_step_s=30.0)
    )
    search.at(0.0)
    search.at(30.0, _obs(1, requests=100))
    judged = _only(search)
    assert judged.verdict is Verdict.UNSTABLE
    assert "300 of 2995 requests" in judged.reasons[1]
    assert search.samples_needed == 2995


def test_stop_returns_what_was_found() -> None:
    search = CapacitySearch(SearchConfig(slos=parse_slos(["p99<500ms"]), start=100.0, warmup_s=0.0))
    search.at(0.0)
    search.at(16.0, _obs(1))
    result = search.stop()
    assert (result.reason, result.sustainable, result.first_bad) == (
        StopReason.STOPPED,
        100.0,
        None,
    )
    assert search.at(17.0) is None
    assert search.current is None
    assert search.stop() is result


def test_closed_loop_ticks_carry_users() -> None:
    search = CapacitySearch(SearchConfig(mode="closed", start=4, spawn_rate=2.0, warmup_s=3.0))
    assert search.at(0.0) == Tick(4 // 4, 4, 2.0, None, "closed", 3.0, "step-up")


def test_min_load_defaults_to_one_or_the_start() -> None:
    assert SearchConfig(start=0.5).min_load == 0.5
    assert SearchConfig(start=50.0).min_load == 1.0
    assert SearchConfig(mode="closed", start=4).min_load == 1.0


def test_open_loop_pool_users_override() -> None:
    search = CapacitySearch(SearchConfig(start=500.0, pool_users=16))
    tick = search.at(0.0)
    assert tick is not None
    assert (tick.users, tick.offered_rps, tick.mode) == (16, 500.0, "open")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": -5.0}, "start must be > 0"),
        ({"start": 0.0}, "start must be > 0"),
        ({"start": float("nan")}, "start must be > 0"),
        ({"factor": 1.0}, "factor must be > 1"),
        ({"factor": 0.5}, "factor must be > 1"),
        ({"precision": 0.0}, "precision must be > 0"),
        ({"precision": -0.1}, "precision must be > 0"),
        ({"min_load": 0.0}, "min load must be > 0"),
        ({"min_load": 20.0, "start": 10.0}, "min load"),
        ({"max_load": 5.0, "start": 10.0}, "max load"),
        ({"warmup_s": 60.0, "max_step_s": 60.0}, "longer than the warm-up"),
        ({"max_step_s": 600.0, "max_total_s": 300.0}, "longer than the whole test"),
        ({"max_steps": 0}, "max steps"),
        ({"throughput_tolerance": 1.0}, "throughput tolerance"),
        ({"min_gain": 2.0}, "min gain"),
        ({"mode": "half-open"}, "mode"),
        ({"mode": "closed", "start": 2.5}, "whole number of users"),
        ({"spawn_rate": 0.0}, "spawn rate"),
        ({"pool_users": 0}, "pool users"),
    ],
)
def test_bad_configs_raise_one_clear_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        SearchConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith("capacity search: ")
    assert "\n" not in str(info.value)


_targets = st.builds(
    Target,
    instances=st.integers(1, 4),
    batch=st.integers(1, 16),
    base_ms=st.floats(5.0, 50.0),
    per_item_ms=st.floats(1.0, 10.0),
)


@settings(max_examples=40, deadline=None)
@given(
    target=_targets,
    mode=st.sampled_from(["open", "closed"]),
    q=st.sampled_from([50.0, 90.0, 99.0]),
    tight=st.floats(1.2, 20.0),
    loosen=st.floats(1.0, 3.0),
    start=st.floats(20.0, 400.0),
    factor=st.floats(1.5, 3.0),
    precision=st.floats(0.02, 0.2),
)
def test_loosening_the_slo_never_lowers_the_sustainable_load(
    target: Target,
    mode: str,
    q: float,
    tight: float,
    loosen: float,
    start: float,
    factor: float,
    precision: float,
) -> None:
    if mode == "closed":
        start = float(max(1, round(start / 10)))
    common = {"mode": mode, "start": start, "factor": factor, "precision": precision}
    strict = run(target, slos=(SLO.latency(q, target.service_ms * tight),), **common)
    loose = run(target, slos=(SLO.latency(q, target.service_ms * tight * loosen),), **common)
    assert (loose.sustainable or 0.0) >= (strict.sustainable or 0.0)


@settings(max_examples=25, deadline=None)
@given(target=_targets, tight=st.floats(1.5, 20.0), precision=st.floats(0.02, 0.2))
def test_search_brackets_the_analytic_rate(target: Target, tight: float, precision: float) -> None:
    threshold = target.service_ms * tight
    truth = target.sustainable_rps(99.0, threshold)
    start = max(30.0, truth / 3)
    # steps long enough for p99's 299 requests at the lowest load tried (about truth / 2)
    max_step_s = 60.0 + 2 * 299 / (truth / 2)
    result = run(
        target,
        slos=(SLO.latency(99, threshold),),
        start=start,
        precision=precision,
        max_step_s=max_step_s,
    )
    assert result.reason is StopReason.CONVERGED
    assert result.sustainable is not None
    assert result.first_bad is not None
    assert result.sustainable < truth <= result.first_bad
    assert result.first_bad / result.sustainable - 1 <= precision


def test_noisy_measurements_still_land_near_the_analytic_rate() -> None:
    """Seeded +-3 % noise on every latency and count: the answer moves by about that much."""
    rng = np.random.default_rng(5)

    @dataclass(frozen=True)
    class Noisy(Target):
        def observe(self, tick: Tick, t: float, percentiles: tuple[float, ...]) -> StepObservation:
            obs = super().observe(tick, t, percentiles)

            def jitter() -> float:
                return float(rng.normal(1.0, 0.03))

            ws = tuple(
                replace(
                    w,
                    requests=round(w.requests * jitter()),
                    latency_ms={k: v * jitter() for k, v in w.latency_ms.items() if v is not None},
                )
                for w in obs.windows
            )
            agg = replace(
                obs.aggregate,
                latency_ms={
                    k: v * jitter() for k, v in obs.aggregate.latency_ms.items() if v is not None
                },
            )
            return replace(obs, windows=ws, aggregate=agg)

    target = Noisy(instances=2, batch=16, base_ms=30.0, per_item_ms=4.0)
    truth = target.sustainable_rps(99.0, 300.0)
    result = run(target, slos=parse_slos(["p99<300ms"]), start=50.0, precision=0.03)
    assert result.sustainable is not None
    assert abs(result.sustainable / truth - 1) <= 0.08
    assert StabilityRule().windows == 3


def test_a_failed_step_is_followed_by_a_cooldown_until_the_backlog_drains() -> None:
    search = CapacitySearch(SearchConfig(slos=parse_slos(["p99<1s"]), start=100.0, warmup_s=5.0))
    first = search.at(0.0)
    assert first is not None
    # The step fails on its SLO.
    tick = search.at(20.0, _obs(first.step, p99=5000.0))
    assert tick is not None
    assert (tick.label, tick.offered_rps) == ("cooldown", 0.0)
    # Completions still arrive from the backlog: keep cooling down.
    assert search.at(24.0, _obs(tick.step, requests=30)) == tick
    # A whole window without completions: the next step starts.
    nxt = search.at(26.0, _obs(tick.step, requests=0))
    assert nxt is not None
    assert (nxt.label, nxt.step) == ("step-down", tick.step + 1)
    assert [j.step for j in search.history] == [first.step]
