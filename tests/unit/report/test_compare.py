"""``locust-ml compare``: ranking by cost per 1M at SLO capacity, exact arithmetic, bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from locust_ml.analysis.capacity import CurvePoint
from locust_ml.analysis.planning import UtilizationAt
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.cli import main
from locust_ml.errors import ConfigError
from locust_ml.report.compare import (
    compare_runs,
    comparison_to_dict,
    default_label,
    format_markdown,
    format_table,
    p99_at_capacity,
    summarize_run,
)
from locust_ml.report.json import report_to_dict
from locust_ml.report.model import RunReport
from tests.report_fixtures import capacity, cost, decided, write_report

T4_PRICE, T4_RPS = 0.526, 40.0
A100_PRICE, A100_RPS = 3.67, 400.0


def _curve(points: list[tuple[int, float, float, float, bool]]) -> tuple[CurvePoint, ...]:
    """(step, good_rps, achieved_rps, p99, passed) -> capacity curve points."""
    return tuple(
        CurvePoint(
            step=step,
            load=float(step),
            achieved_rps=achieved,
            good_rps=good,
            requests=100,
            failure_ratio=0.0,
            latency_ms={"p50": p99 / 3, "p95": p99 * 0.9, "p99": p99, "p99.9": p99 * 1.2},
            passed=passed,
        )
        for step, good, achieved, p99, passed in points
    )


def report(
    *,
    slo_rps: float | None,
    price: float | None = None,
    instance: str | None = None,
    knee_rps: float | None = None,
    gpu: float | None = None,
    tokens_out_per_s: float | None = None,
    verdict: RunVerdict | None = None,
    curve: tuple[CurvePoint, ...] = (),
    last_passing: int | None = None,
    first_failing: int | None = None,
    bound: str = "bracketed",
) -> RunReport:
    """A decided report with only what compare reads."""
    priced = None
    if price is not None and slo_rps is not None:
        priced = cost(price, slo_rps, instance=instance, tokens_out_per_s=tokens_out_per_s)
    return decided(
        capacity=capacity(
            slo_rps,
            knee_rps=knee_rps,
            bound=bound,
            curve=curve,
            last_passing=last_passing,
            first_failing=first_failing,
        ),
        cost=priced,
        verdict=verdict,
        utilization={} if gpu is None else {"slo_capacity": UtilizationAt(1, gpu_utilization=gpu)},
    )


def old_report() -> RunReport:
    """A report without a capacity analysis (no step was measured)."""
    return replace(decided(), run=replace(decided().run, target="http://127.0.0.1:44565"))


# --------------------------------------------------------------------- ranking and arithmetic


def test_a100_ranks_first_and_t4_costs_exactly_its_ratio_more() -> None:
    t4 = summarize_run(report(slo_rps=T4_RPS, price=T4_PRICE, instance="g4dn.xlarge"), "t4")
    a100 = summarize_run(report(slo_rps=A100_RPS, price=A100_PRICE, instance="p4d"), "a100")
    result = compare_runs([t4, a100])
    assert [r.label for r in result.runs] == ["a100", "t4"]
    assert [r.rank for r in result.runs] == [1, 2]
    first, second = result.runs
    assert first.cost_per_million_requests == pytest.approx(3.67 / (400 * 3600) * 1e6, rel=1e-12)
    assert second.cost_per_million_requests == pytest.approx(0.526 / (40 * 3600) * 1e6, rel=1e-12)
    # (0.526 / 40) / (3.67 / 400) = 210.4 / 146.8
    assert first.relative_cost == pytest.approx(1.0, rel=1e-12)
    assert second.relative_cost == pytest.approx(210.4 / 146.8, rel=1e-12)
    table = format_table(result)
    assert "1.00x" in table
    assert "1.43x" in table  # 1.4332...


def test_price_override_recomputes_cost_from_capacity() -> None:
    run = summarize_run(report(slo_rps=50.0), "x", price_per_hour=1.8)
    # 1.8 $/h / (50 req/s x 3600 s/h) x 1e6 = 10 $ per 1M requests
    assert run.cost_per_million_requests == pytest.approx(10.0, rel=1e-12)
    assert run.price_per_hour == 1.8
    assert run.note is None


def test_output_token_cost_comes_from_the_report() -> None:
    run = summarize_run(report(slo_rps=10.0, price=3.6, tokens_out_per_s=1000.0), "llm")
    assert run.cost_per_million_output_tokens == pytest.approx(1.0, rel=1e-12)
    assert "1.00" in format_table(compare_runs([run]))


def test_unpriced_runs_rank_after_priced_ones_by_capacity_then_no_capacity_last() -> None:
    runs = [
        summarize_run(old_report(), "old"),
        summarize_run(report(slo_rps=90.0), "unpriced-90"),
        summarize_run(report(slo_rps=None, price=1.0), "failed-everything"),
        summarize_run(report(slo_rps=20.0, price=1.0), "cheap-20"),
        summarize_run(report(slo_rps=120.0), "unpriced-120"),
        summarize_run(report(slo_rps=10.0, price=1.0), "dear-10"),
    ]
    result = compare_runs(runs)
    labels = [r.label for r in result.runs]
    assert labels == [
        "cheap-20",
        "dear-10",
        "unpriced-120",
        "unpriced-90",
        "old",
        "failed-everything",
    ]
    assert [r.rank for r in result.runs] == [1, 2, 3, 4, None, None]
    by = {r.label: r for r in result.runs}
    assert by["dear-10"].relative_cost == pytest.approx(2.0, rel=1e-12)
    assert by["unpriced-120"].relative_cost is None
    assert "no price" in (by["unpriced-90"].note or "")
    assert "no step was measured" in (by["old"].note or "")
    assert "no SLO capacity" in (by["failed-everything"].note or "")
    table = format_table(result)
    assert "no step was measured" in table  # the reason is shown
    assert table.index("cheap-20") < table.index("old")


def test_sort_by_capacity_keeps_relative_cost_against_the_cheapest() -> None:
    runs = [
        summarize_run(report(slo_rps=T4_RPS, price=T4_PRICE), "t4"),
        summarize_run(report(slo_rps=A100_RPS, price=A100_PRICE), "a100"),
        summarize_run(report(slo_rps=100.0), "l4-unpriced"),
    ]
    result = compare_runs(runs, sort="capacity")
    assert [r.label for r in result.runs] == ["a100", "l4-unpriced", "t4"]
    assert result.runs[0].relative_cost == pytest.approx(1.0)
    assert result.runs[2].relative_cost == pytest.approx(210.4 / 146.8, rel=1e-12)


def test_ties_keep_the_given_order() -> None:
    runs = [summarize_run(report(slo_rps=10.0, price=1.0), name) for name in ("b", "a", "c")]
    assert [r.label for r in compare_runs(runs).runs] == ["b", "a", "c"]


def test_unknown_sort_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--sort"):
        compare_runs([], sort="speed")


# --------------------------------------------------------------------- columns


def test_verdict_column_reads_passed_and_valid() -> None:
    def verdict(passed: bool, valid: bool) -> str:
        v = RunVerdict(passed=passed, valid=valid)
        return summarize_run(report(slo_rps=1.0, verdict=v), "x").verdict

    assert verdict(True, True) == "PASS"
    assert verdict(False, True) == "FAIL"
    assert verdict(True, False) == "INVALID"


def test_invalid_runs_get_a_footnote() -> None:
    v = RunVerdict(passed=True, valid=False, reasons=("generator CPU 98%",))
    run = summarize_run(report(slo_rps=10.0, price=1.0, verdict=v), "hot")
    assert "hot: INVALID run" in format_table(compare_runs([run]))


def test_ci_knee_gpu_and_lower_bound_are_shown() -> None:
    run = summarize_run(
        report(slo_rps=40.0, price=T4_PRICE, knee_rps=35.25, gpu=0.815, bound="lower-bound"),
        "t4",
    )
    assert run.slo_rps_ci is not None
    assert run.slo_rps_ci == pytest.approx((36.0, 44.0))
    table = format_table(compare_runs([run]))
    assert ">=40.0 (36.0-44.0)" in table
    assert "35.2" in table  # knee, 1 decimal (35.25 rounds half to even)
    assert "82%" in table
    assert "at least 40.0 req/s" in table


def test_p99_at_capacity_is_the_capacity_steps() -> None:
    # step 2 passes at 30 good req/s with p99 400; step 3 fails at 50 with p99 600.
    curve = _curve([(1, 10.0, 10.0, 200.0, True), (2, 30.0, 30.0, 400.0, True)])
    curve += _curve([(3, 50.0, 50.0, 600.0, False)])
    cap = capacity(30.0, curve=curve, last_passing=2, first_failing=3)
    # The capacity is step 2's good throughput; its p99 is step 2's (never interpolated).
    assert p99_at_capacity(cap) == pytest.approx(400.0)
    # Without the step on the curve, or without a curve: not guessed.
    assert p99_at_capacity(replace(cap, curve=())) is None
    assert p99_at_capacity(replace(cap, last_passing_step=None)) is None
    assert p99_at_capacity(None) is None


def test_p99_column_uses_the_curve() -> None:
    curve = _curve([(1, 30.0, 30.0, 400.0, True), (2, 50.0, 50.0, 600.0, False)])
    r = report(slo_rps=30.0, price=1.0, curve=curve, last_passing=1, first_failing=2)
    assert summarize_run(r, "x").p99_ms == pytest.approx(400.0)


def test_a_run_without_capacity_or_slos_says_why() -> None:
    run = summarize_run(replace(report(slo_rps=None), capacity=None), "x")
    assert run.slo_rps is None
    assert "no capacity analysis" in (run.note or "")
    no_slos = replace(report(slo_rps=None), slos=())
    assert "no SLOs" in (summarize_run(no_slos, "y").note or "")


def test_markdown_and_json_forms() -> None:
    runs = [
        summarize_run(report(slo_rps=T4_RPS, price=T4_PRICE), "t4 | small"),
        summarize_run(old_report(), "old"),
    ]
    result = compare_runs(runs)
    md = format_markdown(result)
    assert "| # | run | verdict |" in md
    assert "t4 \\| small" in md  # pipes escaped
    assert md.count("\n|") == 4  # header, alignment, two rows
    data = comparison_to_dict(result)
    assert data["sort"] == "cost"
    assert [r["label"] for r in data["runs"]] == ["t4 | small", "old"]
    assert data["runs"][0]["slo_rps_ci"] == [pytest.approx(36.0), pytest.approx(44.0)]
    json.dumps(data, allow_nan=False)


# --------------------------------------------------------------------- labels and files


def test_default_label_is_the_run_directory_plus_instance(tmp_path: Path) -> None:
    r = report(slo_rps=1.0, price=1.0, instance="g4dn.xlarge")
    assert default_label(r, tmp_path / "t4-run" / "report.json") == "t4-run [g4dn.xlarge]"
    assert default_label(old_report(), tmp_path / "runs" / "a100.json") == "a100"
    assert default_label(old_report()) == "summarizer@http://127.0.0.1:44565"


_write = write_report


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such report file"),
        ("{not json", "not JSON"),
        ('{"schema_version": "2.0", "run": NaN}', "NaN is not a number"),
        ("[1, 2]", "not a locust-ml report (a JSON list)"),
        ('{"schema_version": "1.1", "run": {}}', "schema_version '1.1'"),
        ('{"schema_version": "2.0"}', "not a locust-ml report (KeyError: 'run')"),
    ],
)
def test_a_bad_file_is_named_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert main(["compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert str(path) in err


# --------------------------------------------------------------------- the subcommand


def compare(*argv: str | Path) -> int:
    return main(["compare", *(str(a) for a in argv)])


def test_run_compare_prints_and_writes_markdown_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t4 = _write(tmp_path / "t4" / "report.json", report(slo_rps=T4_RPS, price=T4_PRICE))
    a100 = _write(tmp_path / "a100" / "report.json", report(slo_rps=A100_RPS, price=A100_PRICE))
    md, js = tmp_path / "out" / "cmp.md", tmp_path / "out" / "cmp.json"
    assert compare(t4, a100, "--markdown", md, "--json", js) == 0
    out = capsys.readouterr().out
    assert out.index("a100") < out.index("t4")
    assert "| a100 |" in md.read_text()
    data = json.loads(js.read_text())
    assert [r["label"] for r in data["runs"]] == ["a100", "t4"]
    # report.json keeps a cost per 1M requests to 6 decimals ($0.000001).
    assert data["runs"][1]["relative_cost"] == pytest.approx(210.4 / 146.8, rel=1e-6)


def test_labels_and_prices_are_given_per_report_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.json", report(slo_rps=10.0))
    b = _write(tmp_path / "b.json", report(slo_rps=10.0, price=2.0))
    js = tmp_path / "c.json"
    argv: list[str | Path] = [a, b, "--label", "first", "--label", "second"]
    argv += ["--price", "1", "--price", "-"]
    assert compare(*argv, "--json", js) == 0
    runs = json.loads(js.read_text())["runs"]
    assert [(r["label"], r["price_per_hour"]) for r in runs] == [("first", 1.0), ("second", 2.0)]
    assert compare(a, b, "--label", "only-one") == 2
    assert "--label was given 1 times for 2 reports" in capsys.readouterr().err


def test_same_directory_names_are_told_apart(tmp_path: Path) -> None:
    a = _write(tmp_path / "x" / "run" / "report.json", report(slo_rps=10.0))
    b = _write(tmp_path / "y" / "run" / "report.json", report(slo_rps=20.0))
    js = tmp_path / "c.json"
    assert compare(a, b, "--json", js) == 0
    labels = [r["label"] for r in json.loads(js.read_text())["runs"]]
    assert sorted(labels) == ["run", "run #2"]


def test_a_bad_file_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "good.json", report(slo_rps=1.0))
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    js = tmp_path / "out.json"
    assert compare(good, bad, "--json", js) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(bad) in err
    assert not js.exists()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("capacity", "slo_rps"), -5.0),
        (("capacity", "knee_rps"), -1),
        (("cost", "price_per_hour"), -0.5),
        (("capacity", "slo_rps_ci"), [-1.0, 2.0]),
        (("capacity", "slo_rps"), "fast"),
    ],
)
def test_negative_capacities_and_prices_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple[str, str], value: object
) -> None:
    # Issue 13: compare ranked a hand-edited negative capacity instead of refusing it.
    data = report_to_dict(report(slo_rps=40.0, price=1.0))
    data[path[0]][path[1]] = value
    bad = write_report(tmp_path / "bad.json", data)
    assert compare(bad) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert f"{path[0]}.{path[1]}" in err
    assert "must be" in err
