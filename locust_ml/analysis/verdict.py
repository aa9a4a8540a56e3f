"""The run's verdict: valid or not, passed or not, and the exit code CI sees.

Two questions, kept apart in the spirit of MLPerf LoadGen's VALID/INVALID:

* **Valid** - can the figures be trusted? Not when the run was interrupted
  by a signal, when nothing completed, when no step ran to its end, or when
  the step that decides the answer could not be judged: the load generator
  fell behind (open-loop sends late or dropped, its CPU saturated), or - for
  a test that is not a capacity test - a step had too few requests for its
  SLO percentile.
* **Passed** - did the service meet its objectives at the load the test is
  about? A capacity test (ramp or search) drives load past the limit on
  purpose, so failing steps above the capacity are expected: it passes when
  an SLO capacity was found and reaches ``--ml-min-capacity`` if given. Any
  other test (soak, stages, a constant load, a custom shape) passes when
  every judged step passed and, over the whole run, errors stayed under the
  ceiling; the soak and spike verdicts, when present, must pass too. In every
  test a step in which the target answered nothing, or refused or dropped
  nearly every connection, fails the run: a target that stopped answering is
  broken, not overloaded.

Steps are judged once, by :func:`~locust_ml.analysis.judge.judge_step`
(the capacity search's judgements are the search's own, made by the same
function), and only here turned into a verdict: a capacity search that
converged is VALID unless something outside it went wrong.

Exit codes: ``0`` pass, ``1`` failed (Locust's ``--exit-code-on-error``
value, which is Locust's own code for a run with failures), ``2`` invalid run
or configuration error. The plugin sets the process's exit code from this
verdict whenever it wrote a report, so the printed code is the process's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from locust_ml.analysis.capacity import CapacityAnalysis
from locust_ml.analysis.judge import JudgeRule, Outcome, StepJudgement
from locust_ml.analysis.steps import StepStats

__all__ = [
    "CAPACITY_SHAPES",
    "EXIT_INVALID",
    "EXIT_PASS",
    "EXIT_SLO_FAILED",
    "NOT_JUDGED_LABELS",
    "NO_CAPACITY_SHAPES",
    "RunVerdict",
    "judge_run",
]

EXIT_PASS = 0
EXIT_SLO_FAILED = 1
EXIT_INVALID = 2

#: Shapes whose purpose is to find the limit; steps beyond it fail by design.
CAPACITY_SHAPES = frozenset({"ramp", "capacity-search"})

#: Shapes that hold loads on purpose rather than search them: a report of one
#: states no capacity (a soak's one held load is not a limit).
NO_CAPACITY_SHAPES = frozenset({"soak", "spike"})

#: Steps that are transitions, not measurements: ramps into and out of a
#: soak's hold, a search's drain; a spike's spike and recovery are judged
#: by the spike verdict, a search's probe only measures.
NOT_JUDGED_LABELS = frozenset({"ramp-up", "ramp-down", "cooldown", "probe", "spike", "recovery"})


@dataclass(frozen=True)
class RunVerdict:
    passed: bool
    valid: bool
    partial: bool = False
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: The exit code of a run that is valid but failed (``--exit-code-on-error``).
    fail_code: int = EXIT_SLO_FAILED

    @property
    def exit_code(self) -> int:
        if not self.valid:
            return EXIT_INVALID
        return EXIT_PASS if self.passed else self.fail_code


#: A step whose requests failed this much on the connection itself (refused,
#: reset, dropped) had a target that was down, not overloaded.
DOWN_SHARE = 0.9


def _target_broke(steps: Sequence[StepStats], judgements: Mapping[int, StepJudgement]) -> list[str]:
    """Steps where the target answered nothing, or refused the connections: broken, not busy.

    An overloaded target answers late or sheds (429/503); one that answers
    nothing for a whole step, or refuses or drops nearly every connection,
    has stopped (a crash, a hang, a kill -9). That fails any run, a
    capacity test's included, where failing steps above the capacity are
    otherwise expected.
    """
    out = []
    for step in steps:
        j = judgements.get(step.id)
        if j is None or step.label == "cooldown":
            continue
        if j.outcome is Outcome.NO_ANSWERS:
            out.append(f"the target answered nothing in step {step.id}: {'; '.join(j.reasons)}")
            continue
        refused = (step.status or {}).get("connection", 0)
        if step.requests and refused >= DOWN_SHARE * step.requests:
            out.append(
                f"the target stopped taking connections in step {step.id}: {refused} of "
                f"{step.requests} requests were refused or dropped"
            )
    return out


def _capacity_verdict(
    capacity: CapacityAnalysis | None,
    judgements: Mapping[int, StepJudgement],
    min_capacity: float | None,
    invalid: list[str],
    failed: list[str],
) -> None:
    if capacity is None:
        invalid.append("no step was judged; nothing to decide the capacity from")
        return
    first = capacity.first_failing_step
    top = judgements.get(first) if first is not None else None
    if top is not None and top.outcome is Outcome.GENERATOR:
        invalid.append(
            f"step {first}, the first to fail, failed because of the load generator: "
            + "; ".join(top.reasons)
        )
        return
    if capacity.slo_rps is None:
        if top is not None and not top.valid:
            invalid.append(
                f"step {first}, the first judged, could not be judged: {'; '.join(top.reasons)}"
            )
        else:
            why = f" (step {first}: {capacity.limiting_slo})" if first is not None else ""
            failed.append(
                f"no step met the SLOs: the SLO capacity is zero at the tested loads{why}"
            )
        return
    if min_capacity is not None and capacity.slo_rps < min_capacity:
        failed.append(
            f"SLO capacity {capacity.slo_rps:.2f} req/s is below the required "
            f"{min_capacity:g} req/s (--ml-min-capacity)"
        )


def _steps_verdict(
    steps: Sequence[StepStats],
    judgements: Mapping[int, StepJudgement],
    invalid: list[str],
    failed: list[str],
) -> None:
    for step in steps:
        j = judgements.get(step.id)
        if j is None or j.passed or step.label in NOT_JUDGED_LABELS:
            continue
        if j.outcome is Outcome.NO_ANSWERS:
            continue  # said once, for every shape (_no_answers)
        line = f"step {step.id}: {'; '.join(j.reasons)}"
        if j.outcome in (Outcome.TOO_FEW, Outcome.GENERATOR):
            invalid.append(line)
        else:
            failed.append(line)


def judge_run(
    *,
    steps: Sequence[StepStats],
    judgements: Mapping[int, StepJudgement],
    rule: JudgeRule,
    capacity: CapacityAnalysis | None,
    shape: str | None,
    total_requests: int,
    total_failures: int = 0,
    interrupted: str | None = None,
    min_capacity: float | None = None,
    extra_verdicts: Sequence[tuple[str, bool, Sequence[str]]] = (),
    fail_code: int = EXIT_SLO_FAILED,
    warnings: Sequence[str] = (),
) -> RunVerdict:
    """Judge the run; see the module docstring for the rules.

    ``judgements`` has every judged step's judgement (partial steps have
    none); ``interrupted`` says how a signal cut the run short
    (``"SIGTERM"``); ``extra_verdicts`` are (name, passed, reasons) from the
    soak and spike analyses.
    """
    invalid: list[str] = []
    failed: list[str] = []
    partial = [s.id for s in steps if s.partial]
    if interrupted:
        invalid.append(
            f"the run was interrupted ({interrupted}); the report covers what was measured"
        )
    if total_requests == 0:
        invalid.append("no request completed; nothing was measured")
    elif not judgements:
        invalid.append(
            f"no step ran to its end ({len(partial)} cut short); nothing could be judged"
        )
    else:
        if shape in CAPACITY_SHAPES:
            _capacity_verdict(capacity, judgements, min_capacity, invalid, failed)
        else:
            _steps_verdict(steps, judgements, invalid, failed)
            ceiling = rule.ceiling
            ratio = total_failures / total_requests
            if ceiling is not None and ratio > ceiling:
                failed.append(
                    f"errors {ratio:.2%} of {total_requests} requests over the run, above the "
                    f"{ceiling:.0%} error ceiling"
                )
        failed[:0] = _target_broke(steps, judgements)
    for name, passed, reasons in extra_verdicts:
        if not passed:
            failed.extend([f"{name}: {r}" for r in reasons] or [f"{name} verdict failed"])
    notes = list(warnings)
    if partial and not interrupted:
        several = len(partial) > 1
        notes.append(
            f"step{'s' if several else ''} {', '.join(map(str, partial))} ended before "
            f"{'their' if several else 'its'} planned end (partial: shown, not judged)"
        )
    return RunVerdict(
        passed=not failed,
        valid=not invalid,
        partial=bool(interrupted) or bool(partial),
        reasons=tuple(dict.fromkeys(invalid + failed)),
        warnings=tuple(dict.fromkeys(notes)),
        fail_code=fail_code,
    )
