"""The sweep loop: every configuration's target up, its search, its target down; then the ranking.

For each configuration the strategy (:mod:`.strategy`) picks next:

1. its folder ``OUT/<config>/`` is cleared of a previous attempt's
   ``outcome.json`` and ``report/`` (a run that fails must never be read as
   the old report);
2. :func:`~locust_ml.sweep.target.target_up` sets up, starts and waits for
   the target; a failure there makes the configuration *failed* with the
   reason and the output's last lines, and the sweep goes on;
3. the capacity search runs (:func:`~locust_ml.sweep.search.run_search`)
   and its ``report.json`` is read back (:func:`~locust_ml.report.load.load_report`);
   locust ending without a report is a failure of that configuration - except
   before any configuration has been measured, when it exits 2: then the
   options the sweep passes to every run are wrong, and the sweep stops
   with locust's own error line instead of repeating it for every configuration;
4. the target is stopped and torn down; ``outcome.json`` is written, last
   and atomically: from then on the configuration is finished.

**Resuming.** Before the loop the finished configurations are read back
(:func:`~locust_ml.sweep.record.read_outcome`) and not run again; failed ones
and INVALID ones are measured again only with ``retry_failed``; ``fresh``
ignores them all. A
record made with other settings (its fingerprint differs) stops the sweep
with a :class:`~locust_ml.errors.ConfigError` naming what changed.

**Interruptions.** Ctrl-C (or SIGTERM, which the command turns into the
same) stops locust (it writes its report), the server and the teardown,
writes ``sweep.json`` and ``sweep.html`` of what is finished, and re-raises:
the configuration that was running has no ``outcome.json`` and runs again
next time.

Every side effect is injected (:class:`RunEffects`): the unit tests run
sweeps with fake targets, fake searches and fake reports.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust_ml.errors import ConfigError, ReportError
from locust_ml.report.compare import no_capacity_reason
from locust_ml.report.sections import verdict_word
from locust_ml.sweep.configs import Config
from locust_ml.sweep.ranking import Ranking, rank, score
from locust_ml.sweep.record import OUTCOME_FILE, outcome_to_dict, read_outcome, write_json
from locust_ml.sweep.result import (
    DONE,
    FAILED,
    ConfigResult,
    Measurement,
    decide,
    failed,
    measured,
    skipped,
)
from locust_ml.sweep.search import REPORT_DIR, LocustCommand, SearchRun, run_search
from locust_ml.sweep.strategy import Strategy, next_config
from locust_ml.sweep.target import Effects, StartFailed, TargetSpec, target_up

if TYPE_CHECKING:
    from locust_ml.options import Decisions
    from locust_ml.report.model import RunReport

__all__ = ["RunEffects", "Sweep", "SweepOutcome", "measurement_from_report", "run_sweep"]

#: Why a configuration has no result in a sweep cut short.
NOT_RUN = "not run (the sweep was interrupted)"


@dataclass(frozen=True)
class Sweep:
    """Everything one sweep needs, checked (built by :mod:`.settings`)."""

    configs: tuple[Config, ...]
    out: Path
    target: TargetSpec
    command: LocustCommand
    strategy: Strategy
    #: ``cost`` or ``capacity`` (:mod:`.ranking`).
    by: str
    decisions: Decisions
    #: What a finished configuration's measurement depends on (:mod:`.record`).
    fingerprint: Mapping[str, Any]
    #: Shown in sweep.json and sweep.html.
    settings: Mapping[str, Any] = field(default_factory=dict)
    config_timeout_s: float = 3600.0
    fresh: bool = False
    retry_failed: bool = False

    def folder(self, config: Config) -> Path:
        return self.out / config.slug


@dataclass(frozen=True)
class SweepOutcome:
    """The decided results in configuration order, the ranking, and what ran now."""

    results: tuple[ConfigResult, ...]
    ranking: Ranking
    complete: bool
    elapsed_s: float
    measured_now: tuple[str, ...] = ()
    reused: tuple[str, ...] = ()


def _load(path: Path) -> RunReport:
    from locust_ml.report.load import load_report

    return load_report(path)


@dataclass(frozen=True)
class RunEffects:
    """The sweep's side effects (real ones by default)."""

    target: Effects = field(default_factory=Effects)
    search: Callable[[Sequence[str], Path, float], SearchRun] = run_search
    load: Callable[[Path], RunReport] = _load
    #: Writes sweep.json and sweep.html from the outcome so far.
    write: Callable[[Sweep, SweepOutcome], None] = field(default=lambda sweep, outcome: None)
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    clock: Callable[[], float] = time.monotonic


def _shown(value: Any) -> str:
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed, as ``key: old -> new`` (lists of options by the words that differ)."""
    changes = []
    for k in sorted({*old, *new}):
        before, after = old.get(k), new.get(k)
        if before == after:
            continue
        if isinstance(before, list) and isinstance(after, list):
            gone = [w for w in before if w not in after]
            added = [w for w in after if w not in before]
            before, after = gone or ["(none)"], added or ["(none)"]
        changes.append(f"{k}: {_shown(before)} -> {_shown(after)}")
    return changes


def _finished(sweep: Sweep, say: Callable[[str], None]) -> dict[str, ConfigResult]:
    """The configurations finished by an earlier run of the same sweep, by key."""
    if sweep.fresh:
        return {}
    found: dict[str, ConfigResult] = {}
    for c in sweep.configs:
        record = read_outcome(sweep.folder(c) / OUTCOME_FILE, c)
        if record is None:
            continue
        fingerprint, result = record
        changed = _diff(fingerprint, sweep.fingerprint)
        if changed:
            raise ConfigError(
                f"{sweep.out} holds results measured with other settings ({'; '.join(changed)}; "
                f"first in {c.slug}/{OUTCOME_FILE}); add --fresh to measure them again, "
                "or give another --out"
            )
        if sweep.retry_failed and (result.status == FAILED or result.verdict == "INVALID"):
            why = result.reason if result.status == FAILED else "INVALID"
            say(f"  {c.label}: {why} before; measuring it again (--retry-failed)")
            continue
        found[c.key] = result
    return found


def _clear(folder: Path) -> None:
    """Remove a previous attempt's record and report, so nothing stale is read back."""
    (folder / OUTCOME_FILE).unlink(missing_ok=True)
    shutil.rmtree(folder / REPORT_DIR, ignore_errors=True)


def _measure(
    sweep: Sweep, config: Config, effects: RunEffects, *, any_measured: bool
) -> ConfigResult:
    folder = sweep.folder(config)
    _clear(folder)
    notes: list[str] = []
    say = effects.say
    started = effects.clock()

    def ready(url: str, seconds: float) -> None:
        say(f"  target ready at {url} in {seconds:.1f} s; capacity search running")

    try:
        with target_up(
            sweep.target, config, folder, effects.target, on_ready=ready, on_note=notes.append
        ) as url:
            argv = sweep.command.argv(url, folder / REPORT_DIR, config.price_per_hour)
            run = effects.search(argv, folder, sweep.config_timeout_s)
    except StartFailed as exc:
        return failed(config, exc.reason, exc.tail, effects.clock() - started, tuple(notes))
    elapsed = effects.clock() - started
    path = folder / REPORT_DIR / "report.json"
    if not path.exists():
        if run.timed_out:
            reason = f"the search ran past --config-timeout ({sweep.config_timeout_s:g} s)"
        else:
            reason = f"locust exited with status {run.returncode} and wrote no report"
        if not any_measured and run.returncode == 2 and not run.timed_out:
            last = run.tail[-1] if run.tail else "(no output)"
            raise ConfigError(
                f"locust rejected the options the sweep passes to every configuration: {last} "
                f"(full output: {folder}/locust.stderr.log)"
            )
        return failed(config, reason, run.tail, elapsed, tuple(notes))
    try:
        report = effects.load(path)
    except ReportError as exc:
        return failed(config, f"its report cannot be read: {exc}", run.tail, elapsed, tuple(notes))
    relative = str(path.relative_to(sweep.out))
    measurement = measurement_from_report(report, relative, report.duration_s)
    return measured(config, measurement, elapsed, tuple(notes))


def measurement_from_report(report: RunReport, path: str | None, duration_s: float) -> Measurement:
    """The figures of a configuration's report (``path``: report.json, relative)."""
    c = report.capacity
    latency: dict[str, float | None] = {}
    if c is not None and c.slo_rps is not None:
        point = next((p for p in c.curve if p.step == c.last_passing_step), None)
        if point is not None:
            latency = dict(point.latency_ms)
    return Measurement(
        verdict=verdict_word(report),
        verdict_reasons=tuple(report.verdict.reasons),
        slo_rps=None if c is None else c.slo_rps,
        slo_rps_ci=None if c is None else c.slo_rps_ci,
        knee_rps=None if c is None else c.knee_rps,
        saturation_rps=None if c is None else c.saturation_rps,
        bound="none" if c is None else c.bound,
        latency_key="p99" if c is None else c.latency_key,
        latency_ms=latency,
        note=None if c is not None and c.slo_rps is not None else no_capacity_reason(report),
        report=path,
        duration_s=duration_s,
    )


def _describe(result: ConfigResult) -> str:
    m = result.measurement
    if result.status != DONE or m is None:
        return f"FAILED: {result.reason}"
    cap = "no SLO capacity" if m.slo_rps is None else f"SLO capacity {m.slo_rps:.1f} req/s"
    if m.slo_rps is not None and m.slo_rps_ci is not None:
        low, high = m.slo_rps_ci
        cap += f" (95% {low:.1f}-{'open' if high is None else f'{high:.1f}'})"
    lat = m.latency_at_capacity_ms
    if lat is not None:
        cap += f", {m.latency_key} {lat:.0f} ms there"
    return f"{m.verdict}, {cap} [{result.elapsed_s:.0f} s]"


def _outcome(
    sweep: Sweep,
    finished: Mapping[str, ConfigResult],
    skipped_now: Mapping[str, str],
    *,
    complete: bool,
    elapsed_s: float,
    measured_now: Sequence[str],
    reused: Sequence[str],
) -> SweepOutcome:
    results = []
    for c in sweep.configs:
        if c.key in finished:
            r = finished[c.key]
        elif c.key in skipped_now:
            r = skipped(c, skipped_now[c.key])
        else:
            r = skipped(c, NOT_RUN)
        results.append(decide(r, sweep.decisions))
    return SweepOutcome(
        results=tuple(results),
        ranking=rank(results, sweep.by),
        complete=complete,
        elapsed_s=elapsed_s,
        measured_now=tuple(measured_now),
        reused=tuple(reused),
    )


def run_sweep(sweep: Sweep, effects: RunEffects | None = None) -> SweepOutcome:
    """Measure what is not finished, in the strategy's order; rank; write as it goes."""
    fx = effects or RunEffects()
    began = fx.clock()
    finished = _finished(sweep, fx.say)
    reused = list(finished)
    measured_now: list[str] = []
    scores = {k: score(decide(r, sweep.decisions), sweep.by) for k, r in finished.items()}
    total = len(sweep.configs)
    skipped_now: Mapping[str, str] = {}

    def snapshot(complete: bool) -> SweepOutcome:
        return _outcome(
            sweep,
            finished,
            skipped_now,
            complete=complete,
            elapsed_s=fx.clock() - began,
            measured_now=measured_now,
            reused=reused,
        )

    for key in reused:
        kept = finished[key]
        fx.say(f"  {kept.label}: finished before, kept ({_describe(kept)})")
    try:
        while True:
            plan = next_config(sweep.strategy, sweep.configs, scores)
            skipped_now = plan.skipped
            config = plan.next
            if config is None:
                break
            position = sweep.configs.index(config) + 1
            fx.say(f"[{position}/{total}] {config.label}")
            any_measured = any(r.status == DONE for r in finished.values())
            result = _measure(sweep, config, fx, any_measured=any_measured)
            write_json(
                sweep.folder(config) / OUTCOME_FILE, outcome_to_dict(result, sweep.fingerprint)
            )
            finished[config.key] = result
            measured_now.append(config.key)
            scores[config.key] = score(decide(result, sweep.decisions), sweep.by)
            fx.say(f"  {config.label}: {_describe(result)}")
            for note in result.notes:
                fx.say(f"  warning: {note}")
            if result.status == FAILED and result.log_tail:
                fx.say("  last output:\n" + "\n".join(f"    {ln}" for ln in result.log_tail[-5:]))
            fx.write(sweep, snapshot(False))
    except BaseException:
        fx.write(sweep, snapshot(False))
        raise
    outcome = snapshot(True)
    fx.write(sweep, outcome)
    return outcome
