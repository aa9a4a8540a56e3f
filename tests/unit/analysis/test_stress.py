from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locust_ml.analysis.slo import SLO, SLOResult, SLOStatus, SLOVerdict, parse_slos
from locust_ml.analysis.steps import StepStats, WindowStats
from locust_ml.analysis.stress import StressConfig, StressVerdict, stress_verdict
from locust_ml.errors import ConfigError

WINDOW_S = 5.0
SLOS = parse_slos(["p99<500ms", "errors<1%"])


def _windows(
    start: float, p99s: Sequence[float], fails: Sequence[int] | None, requests: int
) -> tuple[WindowStats, ...]:
    fails = fails or [0] * len(p99s)
    return tuple(
        WindowStats(
            start=start + i * WINDOW_S,
            end=start + (i + 1) * WINDOW_S,
            requests=requests,
            failures=fails[i],
            latency_ms={"p50": v / 4, "p99": v},
            index=i,
        )
        for i, v in enumerate(p99s)
    )


def _step(
    step_id: int,
    label: str,
    load: float,
    *,
    start: float,
    p99: float = 200.0,
    windows: Sequence[float] | None = None,
    window_fails: Sequence[int] | None = None,
    seconds: float | None = None,
    status: Mapping[str, int] | None = None,
    requests: int = 1000,
    mode: str = "closed",
    corrected_p99: float | None = None,
) -> StepStats:
    """A step at ``load`` (users, or requests/s in open loop) with outcome ``status``."""
    status = dict(status if status is not None else {"ok": requests})
    total = sum(status.values())
    failures = total - status.get("ok", 0)
    wins = _windows(start, windows or [], window_fails, 50)
    end = start + (seconds if seconds is not None else max(len(wins), 6) * WINDOW_S)
    return StepStats(
        id=step_id,
        start=start,
        end=end,
        users=int(load) if mode == "closed" else 8,
        offered_rps=load if mode == "open" else None,
        achieved_rps=total / (end - start),
        requests=total,
        failures=failures,
        latency_ms={"p50": p99 / 4, "p99": p99},
        endpoints=(),
        mode=mode,
        label=label,
        status=status,
        extra_ms=(
            {"corrected": {"p50": corrected_p99 / 4, "p99": corrected_p99}}
            if corrected_p99 is not None
            else {}
        ),
        windows=wins,
    )


def _spike(
    recovery_p99s: Sequence[float],
    *,
    recovery_fails: Sequence[int] | None = None,
    spike_status: Mapping[str, int] | None = None,
    spike_p99: float = 2000.0,
    baseline_p99: float = 200.0,
) -> list[StepStats]:
    """Baseline 60 s at 10 users, spike 30 s at 50, recovery windows as given."""
    baseline = _step(1, "baseline", 10, start=0.0, p99=baseline_p99, windows=[baseline_p99] * 12)
    spike = _step(
        2,
        "spike",
        50,
        start=60.0,
        p99=spike_p99,
        windows=[spike_p99] * 6,
        status=spike_status or {"ok": 900, "shed": 100},
    )
    recovery = _step(
        3,
        "recovery",
        10,
        start=90.0,
        p99=max(recovery_p99s),
        windows=recovery_p99s,
        window_fails=recovery_fails,
    )
    return [baseline, spike, recovery]


def _v(verdict: StressVerdict | None) -> StressVerdict:
    assert verdict is not None
    return verdict


# --------------------------------------------------------------------------- applicability


def test_not_a_stress_test_without_a_spike_step() -> None:
    ramp = [_step(i, "", 10 * i, start=30.0 * i) for i in range(1, 4)]
    assert stress_verdict(ramp, SLOS) is None
    assert stress_verdict(ramp, SLOS, kind="ramp") is not None


def test_bad_kind_and_config_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="kind"):
        stress_verdict([], SLOS, kind="soak")  # type: ignore[arg-type]
    for kwargs in (
        {"error_budget": 1.5},
        {"recovery_windows": 0},
        {"graceful_fraction": 0.0},
        {"baseline_factor": 0.5},
        {"warmup_s": -1.0},
    ):
        with pytest.raises(ConfigError):
            StressConfig(**kwargs)


# --------------------------------------------------------------------------- breaking point


def test_breaking_point_and_last_good_load_of_a_ramp() -> None:
    steps = [
        _step(1, "", 10, start=0.0, p99=150.0),
        _step(2, "", 20, start=30.0, p99=300.0),
        _step(3, "", 40, start=60.0, p99=700.0),
        _step(4, "", 80, start=90.0, p99=3000.0),
    ]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.breaking_point is not None
    assert v.breaking_point.step == 3
    assert v.breaking_point.load == 40
    assert v.breaking_point.unit == "users"
    assert v.breaking_point.reasons == ("p99<500ms: measured 700ms (fail)",)
    assert v.last_good_load == 20
    assert v.last_good_step == 2
    assert v.failure_mode == "none"  # latency only: nothing failed
    assert v.passed  # a stress ramp is meant to break
    assert any("latency only" in n for n in v.notes)


def test_load_order_not_time_order_and_open_loop_rates() -> None:
    steps = [
        _step(1, "a", 100.0, start=0.0, mode="open", p99=100.0, corrected_p99=900.0),
        _step(2, "b", 25.0, start=30.0, mode="open", p99=100.0, corrected_p99=120.0),
        _step(3, "c", 50.0, start=60.0, mode="open", p99=100.0, corrected_p99=200.0),
    ]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.load_unit == "requests/s"
    assert v.breaking_point is not None
    assert v.breaking_point.step == 1  # corrected latency, not service latency, breaks it
    assert v.last_good_load == 50.0


def test_error_budget_breaks_a_step_without_an_errors_slo() -> None:
    steps = [
        _step(1, "", 10, start=0.0, status={"ok": 995, "shed": 5}),
        _step(2, "", 20, start=30.0, status={"ok": 980, "shed": 20}),
    ]
    v = _v(stress_verdict(steps, parse_slos(["p99<500ms"]), kind="ramp"))
    assert v.breaking_point is not None
    assert v.breaking_point.step == 2
    assert "error budget errors<1%" in v.breaking_point.reasons[0]
    loose = _v(stress_verdict(steps, parse_slos(["p99<500ms"]), kind="ramp", error_budget=0.05))
    assert loose.breaking_point is None
    assert loose.last_good_load == 20


def test_a_step_that_completed_nothing_breaks() -> None:
    steps = [_step(1, "", 10, start=0.0), _step(2, "", 20, start=30.0, status={})]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.breaking_point is not None
    assert v.breaking_point.reasons == ("no request completed",)


def test_the_reports_verdicts_are_used_when_given() -> None:
    steps = [_step(1, "", 10, start=0.0), _step(2, "", 20, start=30.0)]
    fail = SLOVerdict((SLOResult(SLO.latency(99, 500), 612.0, SLOStatus.FAIL),))
    v = _v(stress_verdict(steps, SLOS, kind="ramp", verdicts={2: fail}))
    assert v.breaking_point is not None
    assert v.breaking_point.step == 2


# --------------------------------------------------------------------------- failure mode


def test_shedding_only_is_graceful() -> None:
    steps = [
        _step(1, "", 10, start=0.0),
        _step(2, "", 20, start=30.0, status={"ok": 700, "shed": 300}),
        _step(3, "", 40, start=60.0, status={"ok": 400, "shed": 600}),
    ]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.failure_mode == "graceful"
    assert v.failures.steps == (2, 3)
    assert v.failures.requests == 2000
    assert v.failures.failures == 900
    assert v.failures.by_class["shed"] == 900
    assert v.failures.fractions["shed"] == 1.0
    assert v.passed
    assert any(n.startswith("graceful failure from 20 users") for n in v.notes)


@pytest.mark.parametrize(
    ("status", "dominant"),
    [
        ({"ok": 700, "server_error": 300}, "server_error"),
        ({"ok": 700, "timeout": 200, "shed": 100}, "timeout"),
        ({"ok": 700, "connection": 150, "invalid": 150}, "connection"),
    ],
)
def test_5xx_timeouts_and_broken_connections_are_not_graceful(
    status: dict[str, int], dominant: str
) -> None:
    steps = [_step(1, "", 10, start=0.0), _step(2, "", 20, start=30.0, status=status)]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.failure_mode == "not graceful"
    assert not v.passed
    assert v.failures.by_class[dominant] == status[dominant]
    assert v.reasons[0].startswith("not graceful failure from 20 users: 300 of 1000 requests")
    assert dominant in v.reasons[0]


def test_a_little_non_shed_failure_within_the_graceful_fraction_is_graceful() -> None:
    steps = [
        _step(1, "", 10, start=0.0),
        _step(2, "", 20, start=30.0, status={"ok": 0, "shed": 950, "timeout": 50}),
    ]
    assert _v(stress_verdict(steps, SLOS, kind="ramp")).failure_mode == "graceful"
    strict = StressConfig(graceful_fraction=1.0)
    assert _v(stress_verdict(steps, SLOS, kind="ramp", config=strict)).failure_mode == (
        "not graceful"
    )


def test_no_breaking_point_means_no_failure_mode() -> None:
    steps = [_step(1, "", 10, start=0.0, status={"ok": 999, "server_error": 1})]
    v = _v(stress_verdict(steps, SLOS, kind="ramp"))
    assert v.breaking_point is None
    assert v.failure_mode == "none"
    assert v.failures.by_class["server_error"] == 1  # still counted, for the record
    assert v.passed


# --------------------------------------------------------------------------- recovery


def test_recovery_time_is_the_start_of_the_first_good_run() -> None:
    """4 bad windows (20 s) after the spike, then good ones: recovery_s == 20 exactly."""
    v = _v(stress_verdict(_spike([3000, 2000, 900, 600, 250, 220, 210, 200, 205, 200]), SLOS))
    assert v.kind == "spike"
    assert v.recovered
    assert v.recovery_s == 20.0
    assert v.watched_s == 50.0
    assert v.recovery_criteria == ("p99<500ms", "errors<1%")
    assert v.breaking_point is not None
    assert v.breaking_point.label == "spike"
    assert v.last_good_load == 10
    assert v.failure_mode == "graceful"
    assert v.passed
    assert v.baseline_p99_ms == 200.0
    assert v.after_p99_ms == 207.5  # median of 250, 220, 210, 200, 205, 200


def test_a_bad_window_restarts_the_run() -> None:
    p99s = [3000, 900, 200, 200, 800, 200, 200, 200, 200, 200]
    v = _v(stress_verdict(_spike(p99s), SLOS))
    assert v.recovery_s == 25.0  # windows 2-3 are good, 4 is not: the run starts at 5
    assert _v(stress_verdict(_spike(p99s), SLOS, recovery_windows=2)).recovery_s == 10.0


def test_errors_over_budget_in_a_window_are_not_recovered() -> None:
    fails = [0, 3, 0, 0, 0, 0, 0, 0]  # 3 of 50 = 6 % in window 1
    v = _v(stress_verdict(_spike([200.0] * 8, recovery_fails=fails), SLOS))
    assert v.recovery_s == 10.0
    v_loose = _v(stress_verdict(_spike([200.0] * 8, recovery_fails=fails), SLOS, error_budget=0.1))
    assert v_loose.recovery_s == 0.0


def test_a_window_without_completions_breaks_the_run() -> None:
    steps = _spike([200.0] * 8)
    recovery = steps[2]
    gap = tuple(w for w in recovery.windows if w.index != 2)  # nothing completed in window 2
    steps[2] = StepStats(**{**recovery.__dict__, "windows": gap})
    assert _v(stress_verdict(steps, SLOS)).recovery_s == 15.0


def test_no_recovery_is_reported_with_the_time_watched() -> None:
    v = _v(stress_verdict(_spike([3000, 2000, 1500, 1200, 900, 700, 600, 550]), SLOS))
    assert not v.recovered
    assert v.recovery_s is None
    assert v.watched_s == 40.0
    assert not v.passed
    assert "did not recover" in v.reasons[-1]
    assert "40 s watched" in v.reasons[-1]
    assert v.after_p99_ms is None


def test_without_a_latency_slo_the_bar_is_the_baseline_p99() -> None:
    v = _v(stress_verdict(_spike([900, 400, 290, 290, 290, 290]), parse_slos(["errors<1%"])))
    assert v.recovery_criteria == ("p99<300ms", "errors<1%")  # 1.5 x 200 ms
    assert v.recovery_s == 10.0
    assert any("1.5 x the baseline p99" in n for n in v.notes)


def test_a_failing_baseline_fails_the_spike_test() -> None:
    v = _v(stress_verdict(_spike([700.0] * 6, baseline_p99=700.0, spike_p99=900.0), SLOS))
    assert v.breaking_point is not None
    assert v.breaking_point.label == "baseline"
    assert v.last_good_load is None
    assert not v.passed
    assert any("baseline load (10 users) already fails" in r for r in v.reasons)


def test_a_spike_without_a_recovery_step_is_not_passed() -> None:
    v = _v(stress_verdict(_spike([200.0] * 6)[:2], SLOS))
    assert not v.recovered
    assert not v.passed
    assert "no recovery step" in v.reasons[-1]


def test_not_graceful_spike_fails_even_after_recovering() -> None:
    steps = _spike([200.0] * 6, spike_status={"ok": 600, "server_error": 300, "timeout": 100})
    v = _v(stress_verdict(steps, SLOS))
    assert v.recovered
    assert v.failure_mode == "not graceful"
    assert v.failures.steps == (2, 3)  # the spike and its recovery
    assert not v.passed


def test_to_dict_is_json_safe() -> None:
    for verdict in (
        stress_verdict(_spike([3000, 200, 200, 200]), SLOS),
        stress_verdict(_spike([3000, 3000, 3000, 3000]), SLOS),
        stress_verdict([_step(1, "", 10, start=0.0)], (), kind="ramp"),
    ):
        d = _v(verdict).to_dict()
        assert json.loads(json.dumps(d, allow_nan=False)) == d
        assert set(d["failures"]["by_class"]) == {
            "ok",
            "shed",
            "client_error",
            "server_error",
            "timeout",
            "connection",
            "invalid",
            "other",
        }
    d = _v(stress_verdict(_spike([3000, 200, 200, 200]), SLOS)).to_dict()
    assert d["recovery_s"] == 5.0
    assert d["breaking_point"]["unit"] == "users"


# --------------------------------------------------------------------------- properties


_p99s = st.lists(st.floats(1.0, 5000.0), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(p99s=st.lists(st.floats(1.0, 499.0), min_size=3, max_size=30))
def test_never_above_the_threshold_recovers_at_the_first_window(p99s: list[float]) -> None:
    v = _v(stress_verdict(_spike(p99s), SLOS))
    assert v.recovered
    assert v.recovery_s == 0.0


@settings(max_examples=80, deadline=None)
@given(p99s=_p99s, k=st.integers(1, 4))
def test_recovery_time_is_the_first_run_of_k_good_windows(p99s: list[float], k: int) -> None:
    good = [v < 500.0 for v in p99s]
    first = next((i for i in range(len(good) - k + 1) if all(good[i : i + k])), None)
    v = _v(stress_verdict(_spike(p99s), SLOS, recovery_windows=k))
    assert v.recovered == (first is not None)
    assert v.recovery_s == (None if first is None else first * WINDOW_S)
