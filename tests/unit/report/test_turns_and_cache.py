"""The report's conversation turns and prefix-cache hit rate, in every writer."""

from __future__ import annotations

from locust_ml.analysis.samples import RequestSample, StepSamples
from locust_ml.analysis.steps import StepSpan
from locust_ml.analysis.turns import by_turn, turn_name, turn_of
from locust_ml.analysis.utilization import Reading, UtilizationLog
from locust_ml.report.console import format_step_table
from locust_ml.report.html import render_html
from locust_ml.report.json import report_to_dict
from locust_ml.report.markdown import render_markdown
from locust_ml.report.model import RunInfo, RunReport, build_report
from locust_ml.report.sections import prefix_cache_hit_rate, turn_table


def _report(*, telemetry: bool = True) -> RunReport:
    samples = StepSamples()
    for i in range(30):
        for turn, ttft, tokens in ((1, 80.0, 600), (2, 20.0, 700), (3, 22.0, 800)):
            sample = RequestSample(
                endpoint=("POST", turn_name("/v1/chat/completions", turn)),
                latency_ms=200.0 + i,
                ttft_ms=ttft + i / 10,
                itl_ms=(5.0, 6.0),
                tokens_in=tokens,
                tokens_out=10,
            )
            samples.add(1, sample, measured=True)
    log = UtilizationLog()
    if telemetry:
        for t, queries, hits in ((1001.0, 1000.0, 0.0), (1009.0, 5000.0, 3000.0)):
            for metric, value in (
                ("server_prefix_cache_queries_total", queries),
                ("server_prefix_cache_hits_total", hits),
            ):
                log.add(Reading(1, None, t, "locust-ml", metric, (), value, "counter"))
    run = RunInfo("locustfiles/conversation.py", "http://127.0.0.1:1", 1000.0, 1010.0, "local")
    return build_report(run, [StepSpan(1, 1000.0, 1010.0, 4)], samples, utilization=log)


def test_turn_names_round_trip() -> None:
    assert turn_of(turn_name("chat", 7)) == ("chat", 7)
    assert turn_of("chat turn 0") is None
    assert turn_of("chat") is None


def test_by_turn_orders_the_turns_and_reads_their_figures() -> None:
    turns = by_turn(_report().totals.endpoints)
    assert [t.turn for t in turns] == [1, 2, 3]
    assert [t.mean_tokens_in for t in turns] == [600, 700, 800]
    assert turns[0].ttft_ms["p50"] > 3 * turns[1].ttft_ms["p50"]  # type: ignore[operator]
    assert turns[1].itl_ms["p50"] is not None


def test_the_hit_rate_is_hits_over_queries_of_the_step() -> None:
    report = _report()
    assert prefix_cache_hit_rate(report.telemetry[1]) == 3000 / 4000
    assert _report(telemetry=False).telemetry.get(1) is None


def test_every_writer_shows_turns_and_the_hit_rate() -> None:
    report = _report()
    step = report_to_dict(report)["steps"][0]
    assert step["prefix_cache_hit_rate"] == 0.75
    table = format_step_table(report)
    assert "hit%" in table
    assert "75.0" in table
    assert "by turn" in table
    md = render_markdown(report)
    assert "**By turn**" in md
    html = render_html(report)
    assert "By turn" in html
    assert "cache hit%" in html
    rows = turn_table(report)
    assert rows is not None
    assert [r[0] for r in rows.rows] == ["1", "2", "3"]


def test_no_turns_no_section() -> None:
    samples = StepSamples()
    samples.record(1, ("POST", "/v1/chat/completions"), 10.0)
    run = RunInfo("x.py", None, 0.0, 1.0, "local")
    report = build_report(run, [StepSpan(1, 0.0, 1.0, 1)], samples)
    assert turn_table(report) is None
    assert "by turn" not in format_step_table(report)
    assert "hit%" not in format_step_table(report)


def test_doctests() -> None:
    import doctest

    from locust_ml.analysis import turns

    assert doctest.testmod(turns).failed == 0
