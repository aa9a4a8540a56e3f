"""The run verdict: valid or not, passed or not, and the exit code CI sees.

Steps are judged by ``judge_step`` (tests/unit/analysis/test_judge.py); here
the judgements are given, and ``judge_run`` turns them into the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from locust_ml.analysis.capacity import analyze_capacity, points_from_steps
from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement
from locust_ml.analysis.slo import SLO
from locust_ml.analysis.steps import StepStats
from locust_ml.analysis.verdict import (
    CAPACITY_SHAPES,
    EXIT_INVALID,
    EXIT_PASS,
    EXIT_SLO_FAILED,
    RunVerdict,
    judge_run,
)

RULE = JudgeRule(slos=(SLO.latency(99, 300),))


def step(sid: int, *, requests: int = 1000, label: str = "", partial: bool = False) -> StepStats:
    """Step ``sid`` runs 10 s at ``10 * sid`` users, ``requests`` of them answered."""
    return StepStats(
        id=sid,
        start=10.0 * sid,
        end=10.0 * sid + 10.0,
        users=10 * sid,
        offered_rps=None,
        achieved_rps=requests / 10.0,
        requests=requests,
        failures=0,
        latency_ms={"p99": 100.0},
        endpoints=(),
        label=label,
        partial=partial,
    )


def judgements(*outcomes: Outcome | None) -> dict[int, StepJudgement]:
    return {
        i: StepJudgement(i, o, () if o is Outcome.PASS else (f"{o} in step {i}",))
        for i, o in enumerate(outcomes, start=1)
        if o is not None
    }


def judge(
    outcomes: Sequence[Outcome | None],
    shape: str | None = "ramp",
    *,
    steps: Sequence[StepStats] | None = None,
    **kw: object,
) -> RunVerdict:
    steps = list(steps or [step(i) for i in range(1, len(outcomes) + 1)])
    js = judgements(*outcomes)
    capacity = analyze_capacity(points_from_steps(steps, js))
    args: dict[str, object] = {
        "steps": steps,
        "judgements": js,
        "rule": RULE,
        "capacity": capacity,
        "shape": shape,
        "total_requests": sum(s.requests for s in steps),
    }
    args.update(kw)
    return judge_run(**args)  # type: ignore[arg-type]


P, F = Outcome.PASS, Outcome.SLO


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
    assert RunVerdict(passed=passed, valid=True, fail_code=7).exit_code == (0 if passed else 7)


@pytest.mark.parametrize("shape", sorted(CAPACITY_SHAPES))
def test_a_capacity_test_passes_with_failing_steps_above_capacity(shape: str) -> None:
    v = judge([P, P, F, F], shape)
    assert (v.passed, v.valid, v.exit_code, v.reasons) == (True, True, 0, ())


@pytest.mark.parametrize("shape", ["soak", "stages", None])
def test_any_other_test_fails_on_each_failing_step(shape: str | None) -> None:
    v = judge([P, P, F, F], shape)
    assert (v.passed, v.valid, v.exit_code) == (False, True, 1)
    assert v.reasons == ("step 3: slo in step 3", "step 4: slo in step 4")


def test_a_capacity_test_fails_when_no_step_met_the_slos() -> None:
    v = judge([F, F])
    assert (v.passed, v.valid) == (False, True)
    assert v.reasons[0].startswith("no step met the SLOs: the SLO capacity is zero")


def test_a_first_step_that_could_not_be_judged_leaves_a_capacity_test_invalid() -> None:
    v = judge([Outcome.TOO_FEW, F])
    assert (v.valid, v.exit_code) == (False, EXIT_INVALID)
    assert v.reasons[0].startswith("step 1, the first judged, could not be judged")
    # Below a step that passed at a higher load it bounds nothing (analysis/capacity.py).
    assert (judge([Outcome.TOO_FEW, P]).valid, judge([Outcome.TOO_FEW, P]).passed) == (True, True)


def test_an_unstable_step_above_the_capacity_is_a_failure_like_any_other() -> None:
    # The search fails such a step and bisects below it: the run is valid.
    v = judge([P, P, Outcome.UNSTABLE])
    assert (v.passed, v.valid) == (True, True)


def test_the_generator_behind_at_the_first_failure_makes_the_run_invalid() -> None:
    v = judge([P, Outcome.GENERATOR, F])
    assert (v.valid, v.exit_code) == (False, EXIT_INVALID)
    assert v.reasons[0].startswith(
        "step 2, the first to fail, failed because of the load generator"
    )


def test_min_capacity_above_the_slo_capacity_fails() -> None:
    v = judge([P, P, F], min_capacity=1000.0)
    assert (v.passed, v.exit_code) == (False, 1)
    assert v.reasons == (
        "SLO capacity 100.00 req/s is below the required 1000 req/s (--ml-min-capacity)",
    )


def test_a_step_without_answers_fails_every_shape() -> None:
    for shape in ("ramp", "soak"):
        v = judge([P, Outcome.NO_ANSWERS], shape)
        assert (v.passed, v.valid) == (False, True)
        assert v.reasons[0] == "the target answered nothing in step 2: no-answers in step 2"


def test_errors_over_the_whole_run_fail_a_test_that_is_not_a_capacity_test() -> None:
    v = judge([P, P], "stages", total_failures=100)  # 100 of 2000: 5 %
    assert v.passed is False
    assert v.reasons == ("errors 5.00% of 2000 requests over the run, above the 1% error ceiling",)


def test_failing_extra_verdicts_fail_the_run_with_their_reasons() -> None:
    v = judge([P], "soak", extra_verdicts=[("soak", False, ["p99 rises 40%/h"])])
    assert (v.passed, v.reasons) == (False, ("soak: p99 rises 40%/h",))
    v = judge([P], "spike", extra_verdicts=[("spike", False, [])])
    assert v.reasons == ("spike verdict failed",)


def test_transition_steps_are_not_judged_by_a_non_capacity_test() -> None:
    steps = [step(1, label="ramp-up"), step(2, label="hold"), step(3, label="ramp-down")]
    v = judge([Outcome.TOO_FEW, P, F], "soak", steps=steps)
    assert (v.passed, v.valid) == (True, True)


def test_an_interrupted_run_is_partial_and_invalid() -> None:
    v = judge([P, P], interrupted="SIGTERM")
    assert (v.partial, v.valid, v.exit_code) == (True, False, EXIT_INVALID)
    assert v.reasons[0].startswith("the run was interrupted (SIGTERM)")


def test_a_step_cut_short_makes_the_run_partial_but_not_invalid() -> None:
    steps = [step(1), step(2), step(3, partial=True)]
    v = judge([P, P, None], steps=steps)
    assert (v.partial, v.valid, v.passed) == (True, True, True)
    assert v.warnings == ("step 3 ended before its planned end (partial: shown, not judged)",)


def test_nothing_judged_or_nothing_at_all_is_invalid() -> None:
    v = judge([None], steps=[step(1, partial=True)])
    assert (v.valid, v.reasons) == (
        False,
        ("no step ran to its end (1 cut short); nothing could be judged",),
    )
    v = judge([None], steps=[step(1, requests=0)], total_requests=0)
    assert v.reasons == ("no request completed; nothing was measured",)


def test_a_target_that_refuses_connections_fails_even_a_capacity_test() -> None:
    steps = [step(1), step(2)]
    steps[1] = StepStats(**{**steps[1].__dict__, "status": {"connection": 980, "ok": 20}})
    v = judge([P, F], steps=steps)
    assert (v.passed, v.valid) == (False, True)
    assert v.reasons[0] == (
        "the target stopped taking connections in step 2: 980 of 1000 requests were refused "
        "or dropped"
    )
    # Shedding (503s) above the capacity is overload, not a broken target.
    steps[1] = StepStats(**{**steps[1].__dict__, "status": {"shed": 980, "ok": 20}})
    assert judge([P, F], steps=steps).passed
