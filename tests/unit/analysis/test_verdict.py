"""The run verdict: valid or not, passed or not, and the exit code CI sees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from locust_ml.analysis.capacity import (
    CapacityAnalysis,
    CapacitySettings,
    analyze_capacity,
    points_from_steps,
)
from locust_ml.analysis.slo import SLO, SLOVerdict, evaluate
from locust_ml.analysis.stability import StabilityRule
from locust_ml.analysis.steps import StepStats, WindowStats
from locust_ml.analysis.verdict import (
    CAPACITY_SHAPES,
    EXIT_INVALID,
    EXIT_PASS,
    EXIT_SLO_FAILED,
    RunVerdict,
    judge_run,
)

P99 = SLO.latency(99, 300)  # needs 299 requests per judged step


def step(
    sid: int,
    p99: float,
    *,
    requests: int = 1000,
    failures: int = 0,
    mode: str = "closed",
    label: str = "",
    windows: Sequence[WindowStats] = (),
    events: Mapping[str, int] | None = None,
    lateness_p99: float | None = None,
) -> StepStats:
    """Step ``sid`` runs from 10*sid to 10*sid + 10 at ``10 * sid`` users or req/s."""
    latency = {"p50": p99 / 3, "p99": p99, "p99.9": p99 * 1.5}
    extra = {"corrected": latency} if mode == "open" else {}
    if lateness_p99 is not None:
        extra["lateness"] = {"p50": lateness_p99 / 3, "p99": lateness_p99}
    return StepStats(
        id=sid,
        start=10.0 * sid,
        end=10.0 * sid + 10.0,
        users=None if mode == "open" else 10 * sid,
        offered_rps=10.0 * sid if mode == "open" else None,
        achieved_rps=requests / 10.0,
        requests=requests,
        failures=failures,
        latency_ms=latency,
        endpoints=(),
        mode=mode,
        label=label,
        extra_ms=extra,
        windows=tuple(windows),
        events=dict(events or {}),
    )


def ramp(*p99s: float, **kw: object) -> list[StepStats]:
    """Steps with load rising 100 req/s a step and the given tail latencies."""
    return [step(i, lat, requests=1000 * i, **kw) for i, lat in enumerate(p99s, start=1)]  # type: ignore[arg-type]


def judged(
    steps: Sequence[StepStats], slos: Sequence[SLO] = (P99,)
) -> tuple[dict[int, SLOVerdict], CapacityAnalysis]:
    verdicts = {s.id: evaluate(slos, s) for s in steps} if slos else {}
    points = points_from_steps(steps, {k: v.passed for k, v in verdicts.items()})
    return verdicts, analyze_capacity(points, slos, CapacitySettings(bootstrap=0))


def judge(
    steps: Sequence[StepStats],
    shape: str | None = "ramp",
    slos: Sequence[SLO] = (P99,),
    **kw: object,
) -> RunVerdict:
    verdicts, capacity = judged(steps, slos)
    args: dict[str, object] = {
        "steps": steps,
        "slos": slos,
        "slo_verdicts": verdicts,
        "capacity": capacity,
        "shape": shape,
        "total_requests": sum(s.requests for s in steps),
    }
    args.update(kw)
    return judge_run(**args)  # type: ignore[arg-type]


def stable_windows(n: int = 3, requests: int = 400) -> tuple[WindowStats, ...]:
    return tuple(
        WindowStats(
            start=5.0 * i,
            end=5.0 * i + 5.0,
            requests=requests,
            latency_ms={"p25": 9.0, "p50": 10.0, "p75": 12.0},
            index=i,
        )
        for i in range(n)
    )


# --------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("passed", "valid", "code"),
    [
        (True, True, EXIT_PASS),
        (False, True, EXIT_SLO_FAILED),
        (True, False, EXIT_INVALID),
        (False, False, EXIT_INVALID),  # an invalid run's failure proves nothing
    ],
)
def test_exit_codes(passed: bool, valid: bool, code: int) -> None:
    assert RunVerdict(passed=passed, valid=valid).exit_code == code
    assert (EXIT_PASS, EXIT_SLO_FAILED, EXIT_INVALID) == (0, 1, 2)


# ------------------------------------------------------------ capacity tests pass


@pytest.mark.parametrize("shape", sorted(CAPACITY_SHAPES))
def test_a_capacity_test_passes_with_failing_steps_above_capacity(shape: str) -> None:
    assert sorted(CAPACITY_SHAPES) == ["capacity-search", "ramp"]
    steps = ramp(100, 120, 150, 250, 600, 2000)
    v = judge(steps, shape)
    assert (v.passed, v.valid, v.partial) == (True, True, False)
    assert v.reasons == ()
    assert v.exit_code == 0


@pytest.mark.parametrize("shape", ["stages", "soak", "spike", None])
def test_any_other_test_fails_on_one_failing_step(shape: str | None) -> None:
    steps = ramp(100, 120, 150, 250, 310)
    v = judge(steps, shape)
    assert v.valid
    assert not v.passed
    assert v.exit_code == 1
    assert v.reasons == ("step 5: p99<300ms: measured 310ms (fail)",)


def test_every_failing_step_is_a_reason() -> None:
    v = judge(ramp(100, 400, 150, 500), "stages")
    assert [r.split(":")[0] for r in v.reasons] == ["step 2", "step 4"]


def test_a_capacity_test_fails_when_no_step_met_the_slos() -> None:
    v = judge(ramp(400, 500, 600), "ramp")
    assert v.valid
    assert not v.passed
    assert v.exit_code == 1
    assert v.reasons == ("no step met every SLO: SLO capacity is zero at the tested loads",)


def test_a_capacity_test_without_slos_has_nothing_to_fail() -> None:
    v = judge(ramp(400, 500, 600), "ramp", slos=())
    assert (v.passed, v.valid, v.exit_code) == (True, True, 0)


def test_min_capacity_above_the_slo_capacity_fails() -> None:
    steps = ramp(100, 200, 400)  # capacity: 200 + (300-200)/(400-200) * 100 = 250 req/s
    _, capacity = judged(steps)
    assert capacity.slo_rps == pytest.approx(250.0)
    ok = judge(steps, "ramp", min_capacity=250.0)
    assert (ok.passed, ok.exit_code) == (True, 0)
    v = judge(steps, "ramp", min_capacity=300.0)
    assert (v.passed, v.valid, v.exit_code) == (False, True, 1)
    assert v.reasons == (
        "SLO capacity 250.00 req/s is below the required 300 req/s (--ml-min-capacity)",
    )


def test_failing_extra_verdicts_fail_the_run_with_their_reasons() -> None:
    steps = ramp(100, 120, 150)
    extra = [
        ("soak", False, ["p99 drifted 40% over the run", "memory grew 2 GiB/h"]),
        ("spike", False, []),
        ("stress", True, ["not shown"]),
    ]
    v = judge(steps, "soak", extra_verdicts=extra)
    assert (v.passed, v.valid, v.exit_code) == (False, True, 1)
    assert v.reasons == (
        "soak: p99 drifted 40% over the run",
        "soak: memory grew 2 GiB/h",
        "spike verdict failed",
    )
    # A capacity test is failed by them too.
    assert not judge(steps, "ramp", extra_verdicts=extra).passed


def test_spike_and_recovery_steps_are_left_to_the_spike_verdict() -> None:
    steps = [
        step(1, 100),
        step(2, 900, label="spike"),
        step(3, 400, label="recovery"),
        step(4, 120),
    ]
    assert judge(steps, "spike").passed
    v = judge(steps, "stages")
    assert [r.split(":")[0] for r in v.reasons] == ["step 2", "step 3"]


# -------------------------------------------------------------------------- validity


def test_an_interrupted_run_is_partial_and_invalid() -> None:
    v = judge(ramp(100, 120, 400), "ramp", interrupted="SIGTERM")
    assert v.partial
    assert not v.valid
    assert v.passed  # what was measured met the SLOs, but the run is not one to trust
    assert v.exit_code == 2
    assert v.reasons == ("the run was interrupted (SIGTERM); the report covers what was measured",)


def test_no_request_at_all_is_invalid() -> None:
    v = judge([], None, slos=(), total_requests=0)
    assert (v.valid, v.exit_code) == (False, 2)
    assert v.reasons == ("no request completed; nothing was measured",)


@pytest.mark.parametrize(("requests", "valid"), [(298, False), (299, True), (5000, True)])
def test_the_deciding_step_needs_enough_samples_for_the_percentile(
    requests: int, valid: bool
) -> None:
    # Step 2 serves the most within the SLO: the capacity rests on it alone.
    steps = [step(1, 100, requests=100), step(2, 200, requests=requests), step(3, 600)]
    _, capacity = judged(steps)
    assert capacity.last_passing_step == 2
    v = judge(steps, "ramp")
    assert v.valid is valid
    if not valid:
        assert v.exit_code == 2
        assert v.reasons == (
            "step 2: 298 requests; p99<300ms needs at least 299 for a 95% upper bound "
            "on the percentile (lengthen the step)",
        )


def test_only_the_deciding_step_of_a_capacity_test_needs_the_samples() -> None:
    # Step 1 (short) passed but step 2 decides the capacity; step 3 failed anyway.
    steps = [step(1, 100, requests=50), step(2, 200), step(3, 600, requests=50)]
    assert judge(steps, "ramp").valid
    # Any other test leans on every passing step.
    v = judge(steps, "stages")
    assert not v.valid
    assert v.reasons[0].startswith("step 1: 50 requests; p99<300ms needs at least 299")


def test_the_tightest_percentile_sets_the_sample_floor() -> None:
    steps = [step(1, 100, requests=2000), step(2, 600)]
    slos = (SLO.latency(50, 300), SLO.latency(99.9, 300))
    v = judge(steps, "ramp", slos=slos)
    assert not v.valid
    assert "p99.9<300ms needs at least 2995" in v.reasons[0]
    assert judge(steps, "ramp", slos=(SLO.latency(50, 300),)).valid  # p50 needs 5


def test_an_unstable_deciding_step_is_invalid_and_too_few_windows_warn() -> None:
    drifting = (*stable_windows(2), *stable_windows(1, requests=150))
    steps = [step(1, 100, windows=drifting), step(2, 600)]
    v = judge(steps, "ramp", stability=StabilityRule())
    assert not v.valid
    assert v.reasons[0].startswith("step 1 was not stable: throughput of window 3")
    assert judge([step(1, 100, windows=stable_windows()), step(2, 600)], "ramp").valid
    few = judge([step(1, 100, windows=stable_windows(2)), step(2, 600)], "ramp")
    assert few.valid
    assert few.warnings == ("step 1: 2 measurement windows, too few to judge its stability",)


def test_dropped_open_loop_sends_make_the_run_invalid() -> None:
    steps = [step(1, 100, mode="open", events={"dropped": 12, "late": 40}), step(2, 120)]
    v = judge(steps, "stages")
    assert not v.valid
    assert v.exit_code == 2
    assert v.reasons == (
        "step 1: the load generator dropped 12 sends (in-flight cap or lateness limit); "
        "raise --ml-max-inflight or add workers",
    )


@pytest.mark.parametrize(
    ("slos", "lateness", "valid"),
    [
        ((P99,), 29.0, True),  # limit: max(10 ms, 10% of 300 ms) = 30 ms
        ((P99,), 31.0, False),
        ((SLO.latency(99, 50),), 9.0, True),  # limit: the 10 ms floor
        ((SLO.latency(99, 50),), 11.0, False),
        ((SLO.errors(0.01),), 11.0, False),  # no latency SLO: the floor
    ],
)
def test_late_open_loop_sends_make_the_run_invalid(
    slos: tuple[SLO, ...], lateness: float, valid: bool
) -> None:
    steps = [step(1, 20, mode="open", lateness_p99=lateness), step(2, 20, mode="open")]
    v = judge(steps, "stages", slos=slos)
    assert v.valid is valid
    if not valid:
        assert v.reasons[0].startswith(f"step 1: sends were {lateness:.1f} ms late at p99")
        assert "the load generator, not the target, shaped the latency" in v.reasons[0]


def test_lateness_of_closed_loop_steps_is_not_judged() -> None:
    assert judge([step(1, 100, lateness_p99=500.0)], "stages").valid


def test_a_busy_generator_makes_the_run_invalid() -> None:
    steps = ramp(100, 120, 150)
    v = judge(steps, "ramp", generator_cpu={1: 50.0, 2: 95.4, 3: 60.0})
    assert not v.valid
    assert v.exit_code == 2
    assert v.reasons == (
        "step 2: the load generator's CPU reached 95%; add workers (--processes) so "
        "Locust is not the bottleneck",
    )
    assert judge(steps, "ramp", generator_cpu={1: 90.0, 2: 90.0}).valid


def test_the_generator_may_fall_behind_beyond_the_first_failure_of_a_capacity_test() -> None:
    # Step 3 fails the SLO (the limit); at step 4 the overloaded target makes
    # the generator drop sends and burn CPU: the target's doing, not the test's.
    steps = [
        step(1, 100, mode="open"),
        step(2, 200, mode="open"),
        step(3, 400, mode="open"),
        step(4, 3000, mode="open", events={"dropped": 500}, lateness_p99=900.0),
    ]
    v = judge(steps, "ramp", generator_cpu={4: 99.0})
    assert (v.valid, v.passed, v.exit_code) == (True, True, 0)
    # Below the limit, it still counts.
    v = judge(steps, "ramp", generator_cpu={2: 99.0})
    assert not v.valid
    # And any other test judges every step.
    assert not judge(steps, "stages").valid


def test_invalid_reasons_come_first_and_repeat_once() -> None:
    steps = ramp(100, 400)
    extra = [("soak", False, ["drift"]), ("soak", False, ["drift"])]
    v = judge(steps, "stages", interrupted="SIGINT", extra_verdicts=extra)
    assert (v.valid, v.passed, v.partial, v.exit_code) == (False, False, True, 2)
    assert v.reasons == (
        "the run was interrupted (SIGINT); the report covers what was measured",
        "step 2: p99<300ms: measured 400ms (fail)",
        "soak: drift",
    )
