from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from locust_ml.analysis.planning import UtilizationAt
from locust_ml.analysis.stress import FailureCounts, StressVerdict
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.report.html import (
    error_rows,
    fmt_bytes,
    fmt_money,
    fmt_pct,
    render_html,
    step_table,
    write_html,
)
from locust_ml.report.model import ErrorCount
from locust_ml.report.redact import redact
from locust_ml.report.sections import verdict_word
from tests.report_fixtures import fixture, fixture_json


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    """Each fixture rendered once (plots make a render take a fraction of a second)."""
    return {name: render_html(fixture(name)) for name in ("ramp_open_loop", "hostile", "empty")}


def section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.DOTALL)
    assert m is not None, f"no section {sid}"
    return m.group(1)


def test_hostile_strings_are_only_ever_escaped(pages: dict[str, str]) -> None:
    page = pages["hostile"]
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    # Inside the SVG too (step labels are drawn in the time series).
    svg = section(page, "plots")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg


def _without_report_text(page: str, report: dict[str, Any]) -> str:
    """``page`` minus every (escaped) string of the report: what the writer itself wrote."""
    strings: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            strings.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(redact(report))
    for s in sorted(strings, key=len, reverse=True):
        if len(s) > 3:
            page = page.replace(html.escape(s, quote=True), "").replace(html.escape(s, False), "")
    return page


@pytest.mark.parametrize("name", ["ramp_open_loop", "hostile", "empty"])
def test_the_page_references_no_url(pages: dict[str, str], name: str) -> None:
    own = _without_report_text(pages[name], fixture_json(name))
    # References within the page (an SVG's markers and clip paths) are fine.
    own = own.replace('href="#', "").replace("url(#", "")
    for forbidden in ("http://", "https://", "//cdn", "src=", "href=", "url(", "@import", "<link"):
        assert forbidden not in own, forbidden
    assert "<script" not in own
    assert "Content-Security-Policy" in pages[name]
    assert "default-src 'none'" in pages[name]


def test_target_urls_appear_as_escaped_text_only(pages: dict[str, str]) -> None:
    page = pages["hostile"]
    assert "https://[redacted]@inference.example.com/&lt;script&gt;" in page
    assert 'href="https' not in page


def test_full_report_sections(pages: dict[str, str]) -> None:
    page = pages["ramp_open_loop"]
    assert '<span class="badge PASS" id="verdict-word">PASS</span>' in page
    assert "partial-banner" not in page
    capacity = section(page, "capacity")
    assert "50.00 req/s per replica" in capacity
    assert "95% interval 45.41 - 65.05" in capacity
    assert "p99&lt;250ms: measured 387.6ms (fail)" in capacity
    assert "66.42 req/s at p99 454.9 ms (step 4)" in capacity
    assert "66.43 req/s (step 5)" in capacity
    assert "<strong>16 replicas</strong>" in capacity
    assert "$13.89 per million requests" in capacity
    assert "g5.xlarge" in capacity
    plots = section(page, "plots")
    assert plots.count("<svg ") == 2
    assert "no data" not in plots
    steps = section(page, "steps")
    assert steps.count('<tr class="fail">') == 4  # steps 3-6 failed their SLOs
    assert "<th>GPU%</th>" in steps
    assert "intended" in steps  # open-loop note
    status = section(page, "status")
    assert "<th>shed</th>" in status
    assert '<td class="num">234</td>' in status
    assert section(page, "slos").count("<tr") == 1 + 12
    assert "1.0%" in section(page, "slos")
    run = section(page, "run")
    assert "http://127.0.0.1:32979" in run
    assert "2026-12-07 15:10:02 UTC" in run
    assert 'id="soak"' not in page
    assert 'id="spike"' not in page
    assert 'id="breaking-point"' in page  # a ramp driven past its capacity
    assert 'id="settings"' in page


def test_utilization_shows_only_what_was_measured() -> None:
    knee = UtilizationAt(1, target_cpu_cores=0.16, target_rss_bytes=70_000_000.0)
    report = replace(fixture("hostile"), utilization={"knee": knee})
    table = section(render_html(report), "capacity").split('<table id="utilization">')[1]
    table = table.split("</table>")[0]
    headings = re.findall(r"<th>([^<]*)</th>", table)
    assert headings == ["", "step", "target CPU (cores)", "target memory", "at the knee"]
    assert "0.16" in table
    assert "66.8 MiB" in table


def test_full_utilization_row(pages: dict[str, str]) -> None:
    capacity = section(pages["ramp_open_loop"], "capacity")
    assert "16.8 GiB (75%)" in capacity
    assert "<th>load generator CPU</th>" in capacity
    assert "10%" in capacity


def test_soak_and_breaking_point_render_readably_when_present(pages: dict[str, str]) -> None:
    page = pages["hostile"]
    soak = section(page, "soak")
    assert "1 trend(s) flagged over 30 min of hold" in soak
    assert "<th>series</th>" in soak
    assert "latency_p99 &lt;b&gt;bold&lt;/b&gt;" in soak
    assert "100.0 ms" in soak
    assert "+12.5%" in soak
    assert "drifting &lt;script&gt;" in soak
    assert "drift &lt;img src=x onerror=alert(2)&gt;" in soak
    point = section(page, "breaking-point")
    assert "step 2 (4 users): p99&lt;250ms: measured 300 ms &lt;script&gt;" in point
    assert "not graceful: errors, timeouts or dropped connections" in point
    assert "7 of 20 failed (35.0%)" in point
    # No field names, and no recovery for a ramp.
    for page_text in (soak, point):
        assert "by_class" not in page_text
        assert "recovered" not in page_text
    assert 'id="spike"' not in page
    assert 'id="stress"' not in page


def _stress(**fields: Any) -> StressVerdict:
    base: dict[str, Any] = {
        "kind": "ramp",
        "breaking_point": None,
        "last_good_load": None,
        "last_good_step": None,
        "load_unit": "users",
        "failure_mode": "none",
        "failures": FailureCounts(requests=707, by_class={"ok": 707}),
        "recovery_s": None,
        "recovered": False,
        "passed": True,
        "reasons": (),
    }
    return StressVerdict(**{**base, **fields})


def test_a_ramp_without_a_breaking_point_has_no_stress_section() -> None:
    page = render_html(replace(fixture("ramp_open_loop"), stress=_stress()))
    assert "breaking-point" not in page
    assert "by_class" not in page
    assert "recovered" not in page


def test_the_spike_verdict_leads_a_spike_report() -> None:
    report = fixture("ramp_open_loop")
    labels = ("baseline", "spike", "recovery")
    steps = tuple(replace(s, label=label) for s, label in zip(report.steps, labels, strict=False))
    stress = _stress(
        kind="spike",
        passed=False,
        reasons=("did not recover within 15 s",),
        load_unit="requests/s",
        failure_mode="graceful",
        failures=FailureCounts(requests=100, by_class={"ok": 60, "shed": 40}),
        watched_s=15.0,
        recovery_windows=3,
        recovery_criteria=("p99<250ms", "errors<1%"),
        baseline_p99_ms=40.7,
    )
    page = render_html(replace(report, steps=steps, stress=stress))
    assert page.index('id="spike"') < page.index('id="capacity"')
    spike = section(page, "spike")
    assert "Did not recover within the 15 s watched after the spike" in spike
    assert "baseline 40 req/s (step 1), spike 50 req/s (step 2), recovery 60 req/s (step 3)" in (
        spike
    )
    assert "graceful: the server refused work it could not do in time (429/503)" in spike
    assert "40 of 100: shed 40" in spike
    assert "3 windows in a row meeting p99&lt;250ms, errors&lt;1%" in spike
    assert "did not recover within 15 s" in spike


def test_no_knee_or_saturation_says_so_and_why() -> None:
    report = fixture("ramp_open_loop")
    assert report.capacity is not None
    notes = ("saturation: achieved throughput kept up with the load at every step",)
    c = replace(
        report.capacity,
        knee_rps=None,
        saturation_rps=None,
        knee_note="2 steps with latency data; a knee needs at least 4",
        notes=notes,
    )
    capacity = section(render_html(replace(report, capacity=c)), "capacity")
    assert "no knee found (2 steps with latency data; a knee needs at least 4)" in capacity
    assert "not reached (achieved throughput kept up with the load at every step)" in capacity
    assert "- req/s" not in capacity
    assert capacity.count("a knee needs at least 4") == 1  # not repeated in the notes
    c = replace(c, slo_rps=None, notes=(*notes, "SLO capacity: no step met every SLO"))
    capacity = section(render_html(replace(report, capacity=c)), "capacity")
    assert "<dd>not found (no step met every SLO)</dd>" in capacity
    assert capacity.count("no step met every SLO") == 1


def test_settings_and_run_have_labels_not_field_names(pages: dict[str, str]) -> None:
    page = pages["ramp_open_loop"]
    settings = section(page, "settings")
    assert "Decided with" in settings
    assert "planned utilization (--ml-target-utilization)" in settings
    assert "target_utilization" not in settings
    run = section(page, "run")
    assert "load generation" in run
    assert "telemetry_cpu_s" not in run
    assert "api_key" not in section(pages["hostile"], "run")


def test_errors_are_listed_most_frequent_first(pages: dict[str, str]) -> None:
    report = fixture("hostile")
    rows = error_rows(report)
    assert [n for _, _, n in rows] == [6, 1, 1, 1]
    assert rows[0][1] == "500 Internal Server Error: <script>alert(1)</script>"
    assert rows[0][0].startswith("POST /v1/predict")
    errors = section(pages["hostile"], "errors")
    assert "500 Internal Server Error: &lt;script&gt;" in errors
    quiet = replace(fixture("ramp_open_loop"), errors=())
    assert "No error messages recorded" in section(render_html(quiet), "errors")
    many = [ErrorCount("GET", f"/{i}", "boom", i) for i in range(30)]
    assert [n for _, _, n in error_rows(replace(report, errors=tuple(many)))][:2] == [29, 28]
    assert len(error_rows(replace(report, errors=tuple(many)))) == 20


def test_empty_report_renders_and_says_why(pages: dict[str, str]) -> None:
    page = pages["empty"]
    assert '<span class="badge INVALID" id="verdict-word">INVALID</span>' in page
    assert 'id="partial-banner"' in page
    assert "No capacity analysis: no step completed a request." in page
    assert "Latency vs throughput: no data" in page
    assert "Time series: no data" in page
    assert "No steps: the test made no measurements." in page
    assert "<svg" not in page


def test_partial_run_shows_the_banner() -> None:
    report = fixture("hostile")
    page = render_html(replace(report, verdict=replace(report.verdict, partial=True)))
    assert 'id="partial-banner"' in page
    assert "Partial run" in page


@pytest.mark.parametrize(
    ("passed", "valid", "word"),
    [
        (True, True, "PASS"),
        (False, True, "FAIL"),
        (True, False, "INVALID"),
        (False, False, "INVALID"),
    ],
)
def test_verdict_word(passed: bool, valid: bool, word: str) -> None:
    report = replace(fixture("empty"), verdict=RunVerdict(passed=passed, valid=valid))
    assert verdict_word(report) == word


def test_step_table_cells() -> None:
    report = fixture("ramp_open_loop")
    table = step_table(report)
    assert table.header[:6] == ["step", "users", "offered/s", "achieved/s", "requests", "fail%"]
    assert table.header[-3:] == ["ok/s", "judged", "GPU%"]
    assert "label" not in table.header
    assert table.rows[5][:6] == ["6", "-", "90.00", "92.51", "830", "28.2%"]
    assert table.rows[5][table.header.index("p99")] == "1034"  # corrected, open loop
    assert table.rows[5][-3:] == ["66.43", "FAIL", "98"]
    assert table.rows[0][-1] == "18"
    assert table.passed == [True, True, False, False, False, False]
    hostile = step_table(fixture("hostile"), ["p50", "p99"])
    assert hostile.header == [
        "step",
        "label",
        "users",
        "offered/s",
        "achieved/s",
        "requests",
        "fail%",
        "p50",
        "p99",
        "ok/s",
        "judged",
    ]
    assert hostile.numeric[1] is False


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (fmt_pct, 0.161, "16.1%"),
        (fmt_pct, None, "-"),
        (fmt_pct, float("nan"), "-"),
        (fmt_money, 12.2134, "$12.21"),
        (fmt_money, 0.062734, "$0.0627"),
        (fmt_bytes, 17179869184, "16.0 GiB"),
        (fmt_bytes, 512, "512 B"),
    ],
)
def test_formatting(fn: Any, value: Any, text: str) -> None:
    assert fn(value) == text


def test_write_html_writes_the_page(tmp_path: Path) -> None:
    report = fixture("empty")
    path = write_html(report, tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    assert path.read_text() == render_html(report)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_every_string_the_page_writes_is_redacted() -> None:
    """Redaction is where the page is serialized: a new field cannot bypass it."""
    report = fixture("hostile")
    leak = "Bearer sk-live-0123456789abcdefghij"
    page = render_html(
        replace(
            report,
            notes=(f"note {leak}",),
            run=replace(report.run, locustfile=f"lf {leak}.py"),
            verdict=replace(report.verdict, warnings=(f"warning {leak}",)),
        )
    )
    assert "sk-live" not in page
    assert page.count("Bearer [redacted]") >= 3
