"""The sweep loop on fakes: failures go on, resuming measures only what is missing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from locust_ml.errors import ConfigError
from locust_ml.options import Decisions
from locust_ml.sweep.configs import Config, grid, parse_param, parse_template
from locust_ml.sweep.ranking import BY_CAPACITY
from locust_ml.sweep.record import OUTCOME_FILE
from locust_ml.sweep.result import DONE, FAILED, SKIPPED
from locust_ml.sweep.runner import NOT_RUN, RunEffects, Sweep, SweepOutcome, run_sweep
from locust_ml.sweep.search import LocustCommand
from locust_ml.sweep.strategy import QUICK, Strategy
from locust_ml.sweep.target import TargetSpec
from tests.unit.sweep.fakes import FakeSearch, FakeWorld

#: SLO capacity by batch size (from the report folder's name): a middle batch is best.
CAPACITY = {"1": 20.0, "2": 35.0, "4": 60.0, "8": 70.0, "16": 50.0, "32": 40.0}


def _capacity(argv: Sequence[str]) -> float | None:
    batch = Path(_report_dir(argv)).parent.name.removeprefix("batch-")
    return CAPACITY[batch]


def _sweep(out: Path, values: str = "1,2,4", **kw: object) -> Sweep:
    base: dict[str, object] = {
        "configs": grid([parse_param(f"batch={values}")]),
        "out": out,
        "target": TargetSpec(
            server=parse_template("serve --port {port} --batch {batch}", "--server"),
            ready_timeout_s=10.0,
            poll_s=0.25,
        ),
        "command": LocustCommand("locustfiles/summarizer.py", ("--ml-slo", "p99<1s")),
        "strategy": Strategy(),
        "by": BY_CAPACITY,
        "decisions": Decisions(),
        "fingerprint": {"ml_args": ["--ml-slo p99<1s"]},
    }
    return Sweep(**{**base, **kw})  # type: ignore[arg-type]


class Harness:
    def __init__(self) -> None:
        self.world = FakeWorld()
        self.search = FakeSearch(self.world.clock, _capacity)
        self.lines: list[str] = []
        self.writes: list[SweepOutcome] = []

    def effects(self) -> RunEffects:
        return RunEffects(
            target=self.world.effects(),
            search=self.search,
            write=lambda sweep, outcome: self.writes.append(outcome),
            say=self.lines.append,
            clock=self.world.clock,
        )

    def searched(self) -> list[str]:
        return [Path(_report_dir(a)).parent.name for a in self.search.runs]


def _report_dir(argv: Sequence[str]) -> str:
    return argv[list(argv).index("--ml-report-dir") + 1]


def test_every_configuration_is_measured_and_the_best_chosen(tmp_path: Path) -> None:
    h = Harness()
    outcome = run_sweep(_sweep(tmp_path), h.effects())
    assert h.searched() == ["batch-1", "batch-2", "batch-4"]
    assert [r.status for r in outcome.results] == [DONE, DONE, DONE]
    assert outcome.ranking.best is not None
    assert outcome.ranking.best.label == "batch=4"
    assert outcome.complete
    assert all((tmp_path / f"batch-{b}" / OUTCOME_FILE).is_file() for b in ("1", "2", "4"))
    # Each server was stopped before the next started; each search ran against its own.
    assert all(c.stopped for c in h.world.children)
    urls = [a[a.index("--host") + 1] for a in h.search.runs]
    assert urls == ["http://127.0.0.1:40001", "http://127.0.0.1:40002", "http://127.0.0.1:40003"]
    assert h.search.runs[0][-2:] == ("--ml-slo", "p99<1s")
    assert [w.complete for w in h.writes] == [False, False, False, True]


def test_a_configuration_that_cannot_start_is_recorded_and_the_others_complete(
    tmp_path: Path,
) -> None:
    h = Harness()
    sweep = _sweep(
        tmp_path,
        target=TargetSpec(
            # batch 2 "crashes" (the fake server exits with CUDA out of memory).
            server=parse_template("serve --port {port} --{batch}", "--server"),
            ready_timeout_s=10.0,
        ),
        configs=(
            Config((("batch", "1"),)),
            Config((("batch", "crash"),)),
            Config((("batch", "4"),)),
        ),
    )
    outcome = run_sweep(sweep, h.effects())
    statuses = {r.label: r.status for r in outcome.results}
    assert statuses == {"batch=1": DONE, "batch=crash": FAILED, "batch=4": DONE}
    failed = outcome.results[1]
    assert failed.reason == "the server exited with status 1 before it was ready"
    assert failed.log_tail[-1] == "RuntimeError: CUDA out of memory"
    assert outcome.ranking.best is not None
    assert outcome.ranking.best.label == "batch=4"
    assert ("batch=crash", failed.reason) in [(r.label, why) for r, why in outcome.ranking.others]
    assert any("CUDA out of memory" in line for line in h.lines)
    assert h.searched() == ["batch-1", "batch-4"]


def test_resuming_an_interrupted_sweep_measures_only_the_missing_configurations(
    tmp_path: Path,
) -> None:
    first = Harness()
    first.search.interrupt_on = "batch-2/"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(_sweep(tmp_path), first.effects())
    assert first.searched() == ["batch-1", "batch-2"]
    assert first.world.children[-1].stopped  # the interrupted one's server too
    assert first.writes[-1].complete is False
    assert [r.reason for r in first.writes[-1].results[1:]] == [NOT_RUN, NOT_RUN]
    assert (tmp_path / "batch-1" / OUTCOME_FILE).exists()
    assert not (tmp_path / "batch-2" / OUTCOME_FILE).exists()

    second = Harness()
    outcome = run_sweep(_sweep(tmp_path), second.effects())
    assert second.searched() == ["batch-2", "batch-4"]
    assert outcome.reused == (Config((("batch", "1"),)).key,)
    assert [r.slo_rps for r in outcome.results] == [20.0, 35.0, 60.0]
    assert any("batch=1: finished before, kept" in line for line in second.lines)

    third = Harness()
    run_sweep(_sweep(tmp_path), third.effects())
    assert third.searched() == []
    fresh = Harness()
    run_sweep(_sweep(tmp_path, fresh=True), fresh.effects())
    assert fresh.searched() == ["batch-1", "batch-2", "batch-4"]


def test_results_of_other_settings_are_not_mixed_in(tmp_path: Path) -> None:
    run_sweep(_sweep(tmp_path, values="1"), Harness().effects())
    other = _sweep(tmp_path, values="1", fingerprint={"ml_args": ["--ml-slo p99<2s"]})
    with pytest.raises(ConfigError, match=r"ml_args: --ml-slo p99<1s -> --ml-slo p99<2s"):
        run_sweep(other, Harness().effects())


def test_failed_configurations_are_kept_unless_retried(tmp_path: Path) -> None:
    configs = (Config((("batch", "crash"),)),)
    target = TargetSpec(server=parse_template("serve --port {port} --{batch}", "--server"))
    run_sweep(_sweep(tmp_path, configs=configs, target=target), Harness().effects())
    again = Harness()
    outcome = run_sweep(_sweep(tmp_path, configs=configs, target=target), again.effects())
    assert again.world.children == []
    assert outcome.results[0].status == FAILED
    retry = Harness()
    run_sweep(_sweep(tmp_path, configs=configs, target=target, retry_failed=True), retry.effects())
    assert len(retry.world.children) == 1


def test_invalid_runs_are_measured_again_only_when_retried(tmp_path: Path) -> None:
    first = Harness()
    first.search.invalid = ("batch-2/",)
    outcome = run_sweep(_sweep(tmp_path), first.effects())
    assert [r.verdict for r in outcome.results] == ["PASS", "INVALID", "PASS"]
    again = Harness()
    run_sweep(_sweep(tmp_path), again.effects())
    assert again.searched() == []
    retry = Harness()
    outcome = run_sweep(_sweep(tmp_path, retry_failed=True), retry.effects())
    assert retry.searched() == ["batch-2"]
    assert [r.verdict for r in outcome.results] == ["PASS", "PASS", "PASS"]


def test_options_locust_rejects_stop_the_sweep_before_the_second_configuration(
    tmp_path: Path,
) -> None:
    h = Harness()
    h.search.no_report = ("--bogus",)
    sweep = _sweep(tmp_path, command=LocustCommand("x.py", locust_args=("--bogus",)))
    with pytest.raises(ConfigError, match=r"locust rejected the options.*--bogus"):
        run_sweep(sweep, h.effects())
    assert len(h.search.runs) == 1
    assert h.world.children[0].stopped


def test_a_run_without_a_report_after_others_is_that_configurations_failure(
    tmp_path: Path,
) -> None:
    h = Harness()
    h.search.no_report = ("batch-2/",)
    outcome = run_sweep(_sweep(tmp_path), h.effects())
    assert [r.status for r in outcome.results] == [DONE, FAILED, DONE]
    assert outcome.results[1].reason == "locust exited with status 2 and wrote no report"


def test_a_stale_report_is_never_read_as_a_new_one(tmp_path: Path) -> None:
    run_sweep(_sweep(tmp_path, values="1,2"), Harness().effects())
    assert (tmp_path / "batch-2" / "report" / "report.json").exists()
    h = Harness()
    h.search.no_report = ("batch-2/",)
    outcome = run_sweep(replace(_sweep(tmp_path, values="1,2"), fresh=True), h.effects())
    assert outcome.results[1].status == FAILED  # the old report.json was not read back


def test_a_configurations_own_price_goes_to_its_run(tmp_path: Path) -> None:
    h = Harness()
    configs = (Config((("batch", "1"),), 0.5), Config((("batch", "2"),), 1.5))
    run_sweep(_sweep(tmp_path, configs=configs), h.effects())
    prices = [a[a.index("--ml-price-per-hour") + 1] for a in h.search.runs]
    assert prices == ["0.5", "1.5"]


def test_quick_skips_what_the_early_stop_rules_out(tmp_path: Path) -> None:
    h = Harness()
    sweep = _sweep(tmp_path, values="1,2,4,8,16,32", strategy=Strategy(QUICK, "batch"))
    outcome = run_sweep(sweep, h.effects())
    assert h.searched() == ["batch-1", "batch-2", "batch-4", "batch-8", "batch-16"]
    last = outcome.results[-1]
    assert last.status == SKIPPED
    assert last.reason is not None
    assert "early stop" in last.reason
    assert outcome.ranking.best is not None
    assert outcome.ranking.best.label == "batch=8"
