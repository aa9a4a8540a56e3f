"""The run's verdict: valid or not, passed or not, and the exit code CI sees.

Two questions, kept apart in the spirit of MLPerf LoadGen's VALID/INVALID:

* **Valid** - can the figures be trusted? Not when the run was interrupted
  (partial), when no request completed, when the step that establishes the
  capacity has too few samples for the SLO's percentile (a p99 from 100
  requests is the 2nd-largest value, not a p99), when that step was still
  drifting, or when the load generator fell behind (open-loop sends late or
  dropped, or its CPU saturated): then the target was not what limited the
  numbers.
* **Passed** - did the service meet its objectives at the load the test is
  about? A capacity test (ramp or search) drives load past the limit on
  purpose, so failing steps above capacity are expected: it passes when an
  SLO capacity was found and reaches ``--ml-min-capacity`` if given. Any
  other test (soak, stages, a constant load, a custom shape) passes when
  every step met every SLO, and the soak and stress verdicts, when present,
  passed.

Exit codes follow Locust's: ``0`` pass, ``1`` an SLO failed (Locust's own
code for failed requests), ``2`` invalid run or configuration error. Without
SLOs and with a valid run there is nothing of ours to judge: ``exit_code``
is then ``0`` and the Locust glue leaves Locust's own code in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from locust_ml.analysis.capacity import CapacityAnalysis
from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.slo import SLO, SLOVerdict
from locust_ml.analysis.stability import StabilityRule, min_samples
from locust_ml.analysis.steps import StepStats, full_windows

__all__ = [
    "CAPACITY_SHAPES",
    "EXIT_INVALID",
    "EXIT_PASS",
    "EXIT_SLO_FAILED",
    "RunVerdict",
    "judge_run",
]

EXIT_PASS = 0
EXIT_SLO_FAILED = 1
EXIT_INVALID = 2

#: Shapes whose purpose is to find the limit; steps beyond it fail by design.
CAPACITY_SHAPES = frozenset({"ramp", "capacity-search"})

#: Spike-test steps judged by the stress verdict (breaking, recovery), not per step.
SPIKE_JUDGED_ELSEWHERE = frozenset({"spike", "recovery"})

#: Open-loop lateness (p99, ms) the generator may add before it is suspect:
#: at least this, or 10% of the tightest latency SLO, whichever is larger.
LATENESS_FLOOR_MS = 10.0


@dataclass(frozen=True)
class RunVerdict:
    passed: bool
    valid: bool
    partial: bool = False
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if not self.valid:
            return EXIT_INVALID
        return EXIT_PASS if self.passed else EXIT_SLO_FAILED


def _sample_floor(slos: Sequence[SLO]) -> tuple[int, str] | None:
    """The largest sample floor any percentile SLO needs, and which SLO."""
    best: tuple[int, str] | None = None
    for slo in slos:
        if slo.percentile is None or slo.percentile >= 100.0:
            continue
        n = min_samples(slo.percentile / 100.0)
        if best is None or n > best[0]:
            best = (n, str(slo))
    return best


def _lateness_limit(slos: Sequence[SLO]) -> float:
    latency = [s.threshold for s in slos if s.metric == "latency"]
    return max(LATENESS_FLOOR_MS, 0.1 * min(latency)) if latency else LATENESS_FLOOR_MS


def _generator_reasons(step: StepStats, slos: Sequence[SLO]) -> list[str]:
    if step.mode != "open":
        return []
    reasons = []
    dropped = step.events.get("dropped", 0)
    if dropped:
        reasons.append(
            f"step {step.id}: the load generator dropped {dropped} sends "
            "(in-flight cap or lateness limit); raise --ml-max-inflight or add workers"
        )
    lateness = (step.extra_ms or {}).get("lateness") or {}
    p99 = lateness.get(percentile_key(99.0))
    limit = _lateness_limit(slos)
    if p99 is not None and not math.isnan(p99) and p99 > limit:
        reasons.append(
            f"step {step.id}: sends were {p99:.1f} ms late at p99 (limit {limit:.0f} ms); "
            "the load generator, not the target, shaped the latency"
        )
    return reasons


def _check_deciding(
    deciding: Sequence[StepStats],
    slos: Sequence[SLO],
    rule: StabilityRule,
    invalid: list[str],
    warnings: list[str],
) -> None:
    """Enough samples for the percentile, and stable, in each deciding step."""
    floor = _sample_floor(slos)
    for step in deciding:
        if floor is not None and step.requests < floor[0]:
            invalid.append(
                f"step {step.id}: {step.requests} requests; {floor[1]} needs at least "
                f"{floor[0]} for a 95% upper bound on the percentile (lengthen the step)"
            )
        needed = max(rule.windows, rule.min_windows)
        windows = full_windows(step.windows)
        if len(windows) >= needed:
            stable = rule.check(windows, samples=step.requests, samples_needed=0)
            if not stable.stable:
                invalid.append(f"step {step.id} was not stable: {'; '.join(stable.reasons)}")
        elif windows:
            warnings.append(
                f"step {step.id}: {len(windows)} measurement windows, too few to "
                "judge its stability"
            )


def _capacity_failures(
    slos: Sequence[SLO], capacity: CapacityAnalysis | None, min_capacity: float | None
) -> list[str]:
    if slos and (capacity is None or capacity.slo_rps is None):
        return ["no step met every SLO: SLO capacity is zero at the tested loads"]
    found = capacity.slo_rps if capacity is not None else None
    if found is not None and min_capacity is not None and found < min_capacity:
        return [
            f"SLO capacity {found:.2f} req/s is below the required "
            f"{min_capacity:g} req/s (--ml-min-capacity)"
        ]
    return []


def _step_failures(
    steps: Sequence[StepStats], slo_verdicts: Mapping[int, SLOVerdict], shape: str | None
) -> list[str]:
    failed = []
    for step in steps:
        if shape == "spike" and step.label in SPIKE_JUDGED_ELSEWHERE:
            continue  # the spike verdict judges the spike and the recovery
        verdict = slo_verdicts.get(step.id)
        if verdict is not None and not verdict.passed:
            failed.append(f"step {step.id}: " + "; ".join(verdict.reasons()))
    return failed


def judge_run(
    *,
    steps: Sequence[StepStats],
    slos: Sequence[SLO],
    slo_verdicts: Mapping[int, SLOVerdict],
    capacity: CapacityAnalysis | None,
    shape: str | None,
    total_requests: int,
    interrupted: str | None = None,
    min_capacity: float | None = None,
    generator_cpu: Mapping[int, float] | None = None,
    extra_verdicts: Sequence[tuple[str, bool, Sequence[str]]] = (),
    stability: StabilityRule | None = None,
) -> RunVerdict:
    """Judge the run; see the module docstring for the rules.

    ``interrupted`` says how the run was cut short (``"SIGTERM"``), if it
    was. ``generator_cpu`` is the load generator's peak CPU percent per step.
    ``extra_verdicts`` are (name, passed, reasons) from the soak and stress
    analyses.
    """
    by_id = {s.id: s for s in steps}
    invalid: list[str] = []
    warnings: list[str] = []
    if interrupted:
        invalid.append(
            f"the run was interrupted ({interrupted}); the report covers what was measured"
        )
    if total_requests == 0:
        invalid.append("no request completed; nothing was measured")
    capacity_test = shape in CAPACITY_SHAPES
    if capacity_test and capacity is not None and capacity.last_passing_step is not None:
        deciding = [by_id[capacity.last_passing_step]]
    else:
        deciding = [s for s in steps if s.id in slo_verdicts and slo_verdicts[s.id].passed]
    _check_deciding(deciding, slos, stability or StabilityRule(), invalid, warnings)
    # A capacity test overloads the target on purpose from its first failing
    # load up: late or dropped sends there are the overloaded target's doing.
    loads = {p.step: p.load for p in capacity.curve} if capacity is not None else {}
    limit = None
    if capacity_test and capacity is not None and capacity.first_failing_step is not None:
        limit = loads.get(capacity.first_failing_step)
    for step in steps:
        if limit is not None and loads.get(step.id, -math.inf) >= limit:
            continue
        invalid.extend(_generator_reasons(step, slos))
        cpu = (generator_cpu or {}).get(step.id)
        if cpu is not None and cpu > 90.0:
            invalid.append(
                f"step {step.id}: the load generator's CPU reached {cpu:.0f}%; "
                "add workers (--processes) so Locust is not the bottleneck"
            )
    if capacity_test:
        failed = _capacity_failures(slos, capacity, min_capacity)
    else:
        failed = _step_failures(steps, slo_verdicts, shape)
    for name, passed, reasons in extra_verdicts:
        if not passed:
            failed.extend([f"{name}: {r}" for r in reasons] or [f"{name} verdict failed"])
    # Keep the order stable and the list short enough to read.
    return RunVerdict(
        passed=not failed,
        valid=not invalid,
        partial=bool(interrupted),
        reasons=tuple(dict.fromkeys(invalid + failed)),
        warnings=tuple(dict.fromkeys(warnings)),
    )
