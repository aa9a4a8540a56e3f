"""sweep.html and the console summary: the same rows, the page self-contained and escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from locust_ml.options import Decisions
from locust_ml.sweep.configs import Config
from locust_ml.sweep.console import format_summary
from locust_ml.sweep.html import capacity_points, render_sweep_html, write_sweep_html
from locust_ml.sweep.ranking import BY_CAPACITY, BY_COST, pareto_front, rank
from locust_ml.sweep.result import ConfigResult, Measurement, decide, failed, measured

HOSTILE = "<img src=x onerror=alert(1)>"


def _results(price: float | None = None) -> list[ConfigResult]:
    def m(cap: float, p99: float, verdict: str = "PASS") -> Measurement:
        return Measurement(
            verdict=verdict,
            slo_rps=cap,
            slo_rps_ci=(cap * 0.95, cap * 1.05),
            latency_ms={"p99": p99},
            report=f"batch-{int(cap)}/report/report.json",
        )

    rows = [
        measured(Config((("batch", "1"),)), m(20.0, 40.0)),
        measured(Config((("batch", "8"),)), m(70.0, 120.0)),
        measured(Config((("batch", "32"),)), m(60.0, 300.0)),  # beaten on both axes by 8
        failed(
            Config((("batch", HOSTILE),)),
            "the server exited with status 1 before it was ready",
            ("Authorization: Bearer sk-abcdefabcdefabcdefabcdef", HOSTILE),
        ),
    ]
    return [decide(r, Decisions(price_per_hour=price, target_rps=500.0)) for r in rows]


@pytest.fixture(scope="module")
def page() -> str:
    results = _results(price=1.2)
    return render_sweep_html(
        results,
        [r.config.slug for r in results],
        rank(results, BY_COST),
        {"server": "serve --port {port} --token sk-abcdefabcdefabcdefabcdef"},
        complete=False,
        elapsed_s=600.0,
    )


def test_the_page_has_the_recommendation_plots_and_ranking(page: str) -> None:
    assert "Recommended: batch=8." in page
    assert page.count("<svg") == 2  # throughput vs latency, cost vs latency
    assert 'id="ranking-table"' in page
    assert 'id="incomplete-banner"' in page
    table = page[page.index('id="ranking-table"') :]
    assert table.index("batch=8") < table.index("batch=32") < table.index("batch=1<")


def test_the_page_loads_nothing_and_links_only_to_the_configurations_reports(page: str) -> None:
    # References within the page (an SVG's markers and clip paths) are fine.
    own = page.replace("&lt;img src=x", "").replace('href="#', "").replace("url(#", "")
    for forbidden in ("http://", "https://", "//cdn", "src=", "url(", "@import", "<link"):
        assert forbidden not in own, forbidden
    assert "<script" not in page
    links = re.findall(r'<a href="([^"]*)"', page)
    assert links == [
        "batch-70/report/report.html",
        "batch-60/report/report.html",
        "batch-20/report/report.html",
    ]


def test_strings_are_escaped_and_secrets_redacted(page: str) -> None:
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "sk-abcdef" not in page
    assert "CUDA" not in page  # (only the tail given is shown)
    assert "the server exited with status 1 before it was ready" in page


def test_without_prices_there_is_one_plot(tmp_path: Path) -> None:
    results = _results()
    path = write_sweep_html(
        tmp_path / "sweep.html",
        results,
        [r.config.slug for r in results],
        rank(results, BY_CAPACITY),
        {},
        complete=True,
        elapsed_s=1.0,
    )
    text = path.read_text()
    assert text.count("<svg") == 1
    assert "incomplete-banner" not in text


def test_the_console_summary_ranks_then_lists_the_rest_with_why() -> None:
    results = _results(price=1.2)
    text = format_summary(rank(results, BY_COST), results, 3700.0)
    lines = text.splitlines()
    assert lines[0].startswith("locust-ml sweep: 4 configurations ranked by cost per 1M requests")
    rows = [ln for ln in lines if ln[:2] in ("1 ", "2 ", "3 ", "- ")]
    assert [r.split()[1] for r in rows] == ["batch=8", "batch=32", "batch=1", "batch=<img"]
    assert rows[0].split()[-2:] == ["1.20", "4.76"]  # $/h, $/1M at 70 req/s
    assert "not ranked:" in text
    assert lines[-1].startswith("Recommended: batch=8.")


def test_an_invalid_run_is_drawn_but_never_on_the_front() -> None:
    results = _results()
    invalid = measured(
        Config((("batch", "64"),)),
        Measurement(verdict="INVALID", slo_rps=500.0, latency_ms={"p99": 10.0}),
    )
    results.append(decide(invalid, Decisions()))
    points = capacity_points(results)
    assert points[-1] is None  # not a candidate
    assert pareto_front(points) == {0, 1}  # batch=1 (least latency), batch=8 (most capacity)
