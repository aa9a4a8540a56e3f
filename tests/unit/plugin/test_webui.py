"""The web UI tabs: step rows, the live capacity verdict, its cache, the report routes.

Recorders run on a fake clock and get samples directly, so every step's
numbers are known; the Flask side runs on a bare app shaped like Locust's
(a ``locust`` blueprint with ``index`` and ``request_stats``) plus one check
against Locust's real ``WebUI``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Blueprint, Flask, jsonify
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.event import Events

from locust_ml.analysis.samples import RequestSample
from locust_ml.analysis.slo import parse_slos
from locust_ml.options import LoadOptions, MLOptions
from locust_ml.plugin import webui
from locust_ml.plugin.control import LocalRun
from locust_ml.plugin.webui import (
    CAPACITY_KEY,
    TAB_KEY,
    LiveCapacity,
    LiveTables,
    capacity_rows,
    install,
    live_capacity,
    step_columns,
    step_rows,
)

SLOS = parse_slos(["p99<50ms"])
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _recorder(tmp_path: Path, slos: tuple[Any, ...] = SLOS) -> tuple[LocalRun, FakeClock]:
    clock = FakeClock()
    args = ["-f", "x.py", "--ml-report-dir", str(tmp_path / "report")]
    args += [a for slo in slos for a in ("--ml-slo", str(slo))]
    # One-second windows: a 10 s step has ten, enough for its stability to be judged.
    args += ["--ml-shape", ":window=1s"]
    env = Environment(events=Events(), parsed_options=get_parser().parse_args(args))
    rec = LocalRun(env, clock=clock)
    rec.start()
    return rec, clock


def _step(rec: LocalRun, clock: FakeClock, users: int, n: int, base_ms: float) -> None:
    """A step of ``users`` with ``n`` requests spread over 10 s; latencies base..base+9 ms."""
    start = clock.t
    rec.tracker.observe(users)
    for i in range(n):
        # Mid-interval end times: no sample on a window's edge.
        clock.t = start + (i + 0.5) * 10.0 / n
        rec.recorder.record(RequestSample(("POST", "/x"), base_ms + i % 10), end_time=clock.t)
    clock.t = start + 10.0


def _ramp(rec: LocalRun, clock: FakeClock) -> None:
    """Steps 1 and 2 meet p99<50ms (40 and 80 req/s); step 3 (running) does not."""
    _step(rec, clock, 1, 400, 10.0)
    _step(rec, clock, 2, 800, 30.0)
    _step(rec, clock, 4, 900, 200.0)


@pytest.fixture(autouse=True)
def quick_report_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """``LocalRun.finish`` writes a small JSON and HTML, not the plotted report (~3 s)."""
    from locust_ml.report.json import report_to_dict

    def write(report: Any, directory: Path) -> dict[str, Path]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report_to_dict(report)))
        (out / "report.html").write_text("<!doctype html><title>locust-ml report</title>")
        (out / "report.md").write_text("# report")
        return {"json": out / "report.json", "html": out / "report.html"}

    monkeypatch.setattr("locust_ml.plugin.control.write_report_files", write)


def _finish(rec: LocalRun, kind: str) -> Any:
    rec.kind = kind  # judged as that shape's run
    return rec.finish()


def _items(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["item"]: r["value"] for r in rows}


# ----------------------------------------------------------------- step table


def test_the_judged_column_is_last_with_or_without_slos() -> None:
    # Without SLOs the error ceiling still judges every step.
    assert step_columns(())[-1] == step_columns(SLOS)[-1] == {"key": "slo", "title": "Judged"}
    # Keys reach the UI through a camelCase conversion: no dots in them.
    assert all("." not in c["key"] for c in step_columns(SLOS))


def test_step_rows_judge_each_step_the_running_one_provisionally(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _ramp(rec, clock)
    rows = step_rows(rec)
    assert [(r["step"], r["users"], r["requests"], r["slo"]) for r in rows] == [
        (1, 1, 400, "pass"),
        (2, 2, 800, "pass"),
        (3, 4, 900, "running"),  # judged when it has ended, as in the report
    ]
    assert rows[0]["achieved_rps"] == "40.00"
    assert float(rows[2]["p99"]) == pytest.approx(209.0, rel=0.01)


def test_step_rows_are_judged_on_the_error_ceiling_without_slos(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path, slos=())
    _step(rec, clock, 1, 100, 10.0)
    rec.tracker.close()
    (row,) = step_rows(rec)
    assert row["slo"] == "pass"
    assert row["requests"] == 100


# ------------------------------------------------------------- live capacity


def test_live_capacity_judges_only_the_steps_that_ended(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _ramp(rec, clock)
    steps = webui._summaries(rec)
    live = live_capacity(steps, SLOS, running_step=3, shape="ramp")
    assert live.judged == (1, 2)
    assert live.analysis is not None
    assert live.analysis.bound == "lower-bound"
    assert live.analysis.slo_rps == pytest.approx(80.0, rel=1e-4)
    assert live.analysis.slo_rps_ci is not None
    assert live.analysis.slo_rps_ci[1] is None  # no failing step yet: the top is open
    items = _items(capacity_rows(live))
    assert items["figures"] == "live, from steps 1-2; step 3 is running"
    assert items["SLO capacity (req/s)"].startswith("80.00 (95% interval 74.46-open) or more")
    assert items["verdict"] == "PASS so far"
    assert items["report"] == "written when the test ends"


def test_live_verdict_matches_the_final_report(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _ramp(rec, clock)
    rec.tracker.close()
    live = live_capacity(
        webui._summaries(rec), SLOS, shape="ramp", total_requests=rec.samples.requests
    )
    report = _finish(rec, "ramp")
    assert report is not None
    assert report.capacity is not None
    assert live.analysis is not None
    assert live.judged == (1, 2, 3)
    for name in (
        "slo_rps",
        "slo_rps_ci",
        "knee_rps",
        "saturation_rps",
        "limiting_slo",
        "first_failing_step",
    ):
        assert getattr(live.analysis, name) == getattr(report.capacity, name), name
    assert live.verdict == report.verdict
    items = _items(capacity_rows(live))
    assert items["SLO capacity (req/s)"] == (
        "80.00 (95% interval 74.46-95.88), step 2; step 3 failed: p99<50ms: measured 209ms (fail)"
    )
    assert items["verdict"].endswith("so far")


def test_capacity_rows_before_any_step_ended() -> None:
    live = live_capacity([], SLOS, running_step=None)
    items = _items(capacity_rows(live))
    assert items["figures"] == "live: waiting for the first step to end"
    assert items["SLO capacity (req/s)"] == "-"
    assert items["verdict"] == "- (no step has ended yet)"
    assert items["SLOs"] == "p99<50ms"


def test_capacity_rows_without_slos_say_so(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path, slos=())
    _step(rec, clock, 1, 100, 10.0)
    rec.tracker.close()
    items = _items(capacity_rows(live_capacity(webui._summaries(rec), ())))
    assert items["SLOs"] == "none given (--ml-slo)"
    # The error ceiling judged the step: what it sustained is the capacity so far.
    assert items["SLO capacity (req/s)"].startswith("10.00 (95% interval")
    assert items["knee"].startswith("no knee found (1 steps with latency data")


def test_final_rows_carry_the_interval_exit_code_and_report_link(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _ramp(rec, clock)
    report = _finish(rec, "ramp")
    assert report is not None
    live = LiveCapacity(report.slos, report.capacity, report.verdict, (1, 2, 3), final=True)
    rows = capacity_rows(live, "/locust-ml/report")
    items = _items(rows)
    assert items["figures"] == "final report (the test has ended)"
    assert "95% interval" in items["SLO capacity (req/s)"]
    assert items["verdict"] == f"PASS (exit code {report.verdict.exit_code})"
    assert items["report"] == "/locust-ml/report"
    assert items["report (JSON)"] == "/locust-ml/report.json"
    assert [r["item"] for r in rows][-2:] == ["report", "report (JSON)"]


def test_reasons_are_listed_and_capped() -> None:
    from locust_ml.analysis.verdict import RunVerdict

    verdict = RunVerdict(passed=False, valid=False, reasons=tuple(f"r{i}" for i in range(9)))
    rows = capacity_rows(LiveCapacity(SLOS, None, verdict, (1,)))
    reasons = [r["value"] for r in rows if r["item"] == "reason"]
    assert reasons == [*(f"r{i}" for i in range(6)), "... and 3 more"]
    assert _items(rows)["verdict"] == "INVALID so far"


# --------------------------------------------------------------------- cache


class Ticker:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_tables_are_recomputed_only_when_something_changed(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _step(rec, clock, 1, 400, 10.0)
    ticker = Ticker()
    live = LiveTables(rec, shape_kind=lambda: "ramp", monotonic=ticker)
    first = live.tables()
    assert live.tables() is first
    assert live.computed == 1
    # More requests within MIN_REFRESH_S: the cached tables stand.
    rec.recorder.record(RequestSample(("POST", "/x"), 10.0))
    ticker.t += 1.0
    assert live.tables() is first
    ticker.t += 1.5
    assert live.tables()[TAB_KEY][0]["requests"] == 401
    assert live.computed == 2
    # A new step shows at once.
    ticker.t += 0.1
    _step(rec, clock, 2, 10, 10.0)
    assert len(live.tables()[TAB_KEY]) == 2
    assert live.computed == 3
    # So does the written report.
    _finish(rec, "ramp")
    ticker.t += 0.1
    items = _items(live.tables()[CAPACITY_KEY])
    assert items["figures"] == "final report (the test has ended)"
    assert items["report"] == "/locust-ml/report"
    assert live.computed == 4
    # A finished test that no longer changes is not recomputed, however late.
    ticker.t += 60.0
    live.tables()
    assert live.computed == 4


def test_a_slow_recomputation_spaces_out_the_next(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _step(rec, clock, 1, 100, 10.0)
    ticks = iter([0.0, 0.5, 5.0])  # the first recomputation takes 0.5 s
    live = LiveTables(rec, monotonic=lambda: next(ticks))
    live.tables()
    rec.recorder.record(RequestSample(("POST", "/x"), 10.0))
    live.tables()  # 5 s later: within 0.5 s / MAX_TIME_SHARE = 10 s
    assert live.computed == 1


def test_a_running_step_is_refreshed_even_without_new_requests(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _step(rec, clock, 1, 100, 10.0)
    ticker = Ticker()
    live = LiveTables(rec, monotonic=ticker)
    assert live.tables()[TAB_KEY][0]["achieved_rps"] == "10.00"
    clock.t += 10.0  # a stalled target: the step goes on, no request completes
    ticker.t += 2.0
    assert live.tables()[TAB_KEY][0]["achieved_rps"] == "5.00"


def test_a_new_run_starts_a_fresh_table(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _step(rec, clock, 1, 50, 10.0)
    live = LiveTables(rec, monotonic=Ticker())
    assert len(live.tables()[TAB_KEY]) == 1
    clock.t += 1
    rec.start()
    assert live.tables()[TAB_KEY] == []


# -------------------------------------------------------------- Flask routes


def _fake_web_ui(rec: LocalRun | None = None) -> tuple[SimpleNamespace, SimpleNamespace]:
    """An app shaped like Locust's: blueprint ``locust`` with ``index`` and ``request_stats``.

    With ``rec``, its environment gets it as its web UI.
    """
    app = Flask(__name__)
    bp = Blueprint("locust", __name__)
    web_ui = SimpleNamespace(app=app, template_args={}, auth_required_if_enabled=lambda f: f)

    @bp.route("/")
    def index() -> str:
        return json.dumps(web_ui.template_args)

    @bp.route("/stats/requests")
    def request_stats() -> Any:
        return jsonify({"stats": [], "state": "running"})

    app.register_blueprint(bp)
    env = SimpleNamespace(web_ui=web_ui, parsed_options=None, shape_class=None)
    if rec is not None:
        rec.environment.web_ui = web_ui
    return env, web_ui


def test_routes_serve_the_report_once_written_and_404_before(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _env, web_ui = _fake_web_ui(rec)
    install(rec)
    install(rec)  # idempotent
    client = web_ui.app.test_client()
    for route in ("/locust-ml/report", "/locust-ml/report.json"):
        missing = client.get(route)
        assert missing.status_code == 404
        assert b"written when the test ends" in missing.data
    _step(rec, clock, 1, 400, 10.0)
    rec.finish()
    html = client.get("/locust-ml/report")
    assert html.status_code == 200
    assert html.mimetype == "text/html"
    assert html.headers["Cache-Control"] == "no-store"
    assert html.data == (tmp_path / "report" / "report.html").read_bytes()
    data = client.get("/locust-ml/report.json").get_json()
    assert data["steps"][0]["requests"] == 400
    # Only the two fixed files: no path parameter to walk elsewhere.
    assert client.get("/locust-ml/report/steps.csv").status_code == 404
    assert client.get("/locust-ml/report.md").status_code == 404
    # A new run forgets the old report.
    rec.start()
    assert client.get("/locust-ml/report").status_code == 404


def test_stats_poll_carries_both_tables_and_tabs_are_declared(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path, slos=())
    _env, web_ui = _fake_web_ui(rec)
    install(rec)
    keys = [t["key"] for t in web_ui.template_args["extended_tabs"]]
    assert keys == [TAB_KEY, CAPACITY_KEY]
    hrefs = [f["href"] for f in web_ui.template_args["extended_csv_files"]]
    assert hrefs == ["/locust-ml/live", "/locust-ml/report", "/locust-ml/report.json"]
    _step(rec, clock, 1, 100, 10.0)
    client = web_ui.app.test_client()
    body = client.get("/stats/requests").get_json()
    assert body["state"] == "running"  # Locust's own fields untouched
    tables = {e["key"]: e["data"] for e in body["extended_stats"]}
    assert tables[TAB_KEY][0]["requests"] == 100
    assert _items(tables[CAPACITY_KEY])["figures"].startswith("live: waiting")
    # The start form set SLOs: the next page load declares the SLO column.
    rec.options = MLOptions(load=LoadOptions(slos=SLOS))
    page = json.loads(client.get("/").data)
    (table,) = [t for t in page["extended_tables"] if t["key"] == TAB_KEY]
    assert table["structure"][-1]["key"] == "slo"
    assert [t["key"] for t in page["extended_tabs"]] == [TAB_KEY, CAPACITY_KEY]


def test_a_failing_table_does_not_break_locusts_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec, _ = _recorder(tmp_path)
    _env, web_ui = _fake_web_ui(rec)
    install(rec)

    def boom(self: LiveTables) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(LiveTables, "tables", boom)
    body = web_ui.app.test_client().get("/stats/requests").get_json()
    assert body["state"] == "running"
    tables = {e["key"]: e["data"] for e in body["extended_stats"]}
    assert tables[CAPACITY_KEY] == [{"item": "error", "value": "RuntimeError: boom"}]


def test_locusts_web_ui_renders_both_tabs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The web UI parses sys.argv to list extra options; give it Locust's, not pytest's.
    monkeypatch.setattr("sys.argv", ["locust", "-f", "locustfiles/summarizer.py"])
    options = get_parser().parse_args(["-f", "locustfiles/summarizer.py", "--ml-slo", "p99<1s"])
    env = Environment(events=Events(), parsed_options=options)
    env.create_local_runner()
    web_ui = env.create_web_ui("127.0.0.1", 0)
    rec = LocalRun(env)
    try:
        install(rec)
        client = web_ui.app.test_client()
        page = client.get("/").data.decode()
        stats = client.get("/stats/requests").get_json()
        missing = client.get("/locust-ml/report")
    finally:
        if web_ui.server is not None:
            web_ui.stop()
    assert '"title": "ML capacity"' in page or '"title":"ML capacity"' in page
    assert {e["key"] for e in stats["extended_stats"]} == {TAB_KEY, CAPACITY_KEY}
    assert missing.status_code == 404


# ------------------------------------------------------ state and the live plot


def test_the_state_row_follows_locusts_runner_not_the_open_step(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _ramp(rec, clock)  # step 3 is still open in the recorder
    state = ["running"]
    live = LiveTables(rec, state=lambda: state[0], monotonic=Ticker())
    items = _items(live.tables()[CAPACITY_KEY])
    assert items["state"] == "running: step 3"
    assert "step 3 is running" in items["figures"]
    for locust_state in ("stopping", "cleanup"):
        state[0] = locust_state
        items = _items(live.tables()[CAPACITY_KEY])
        assert items["state"] == "stopping: the users finish the requests in flight"
        assert "is running" not in items["figures"]
    rec.tracker.close()
    state[0] = "stopped"
    assert _items(live.tables()[CAPACITY_KEY])["state"] == (
        "stopped after 3 steps; writing the report"
    )
    _finish(rec, "ramp")
    live.tables()
    assert live.state_text() == "stopped after 3 steps; the report is written"


def test_the_curve_changes_version_only_when_a_step_ends(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    ticker = Ticker()
    live = LiveTables(rec, monotonic=ticker)
    live.tables()
    assert live.curve() == (1, None)
    _step(rec, clock, 1, 400, 10.0)
    _step(rec, clock, 2, 800, 30.0)  # step 1 ended; step 2 open
    live.tables()
    version, data = live.curve()
    assert data is not None
    assert [s["id"] for s in data["steps"]] == [1]
    assert data["slos"] == ["p99<50ms"]
    rec.recorder.record(RequestSample(("POST", "/x"), 10.0))
    ticker.t += 5.0
    live.tables()
    assert live.curve()[0] == version  # more requests in the open step: same picture
    _step(rec, clock, 4, 900, 200.0)
    live.tables()
    version2, data = live.curve()
    assert version2 == version + 1
    assert data is not None
    assert [s["id"] for s in data["steps"]] == [1, 2]
    assert data["steps"][1]["slo"]["passed"] is True
    _finish(rec, "ramp")
    live.tables()
    version3, data = live.curve()
    assert version3 == version2 + 1
    assert data is not None
    assert data["schema_version"]


def test_the_plot_is_drawn_once_per_version(tmp_path: Path) -> None:
    from locust_ml.plugin.liveplot import LivePlot

    rec, clock = _recorder(tmp_path)
    live = LiveTables(rec, monotonic=Ticker())
    plot = LivePlot(live)
    assert plot.svg() is None
    assert "first step ends" in plot.document()
    _step(rec, clock, 1, 400, 10.0)
    _step(rec, clock, 2, 100, 10.0)
    svg = plot.svg()
    assert svg is not None
    assert svg.startswith("<svg")
    assert "Latency vs throughput" in svg
    assert plot.document().startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    plot.svg()
    plot.info()
    assert plot.drawn == 2  # None once, then steps 1's plot once
    assert plot.info() == {"version": live.curve()[0], "state": "running: step 2"}


def test_live_routes_and_the_script_on_locusts_page(tmp_path: Path) -> None:
    rec, clock = _recorder(tmp_path)
    _env, web_ui = _fake_web_ui(rec)
    install(rec)
    client = web_ui.app.test_client()
    page = client.get("/")
    assert b'<script defer src="/locust-ml/tab.js"></script>' not in page.data  # not HTML
    js = client.get("/locust-ml/tab.js")
    assert js.mimetype == "text/javascript"
    assert b"locust-ml-live-plot" in js.data
    svg = client.get("/locust-ml/live.svg")
    assert svg.mimetype == "image/svg+xml"
    assert b"first step ends" in svg.data
    _step(rec, clock, 1, 400, 10.0)
    _step(rec, clock, 2, 100, 10.0)
    info = client.get("/locust-ml/live.json").get_json()
    assert info["state"] == "running: step 2"
    svg = client.get("/locust-ml/live.svg")
    assert b"Latency vs throughput" in svg.data
    assert svg.headers["Cache-Control"] == "no-store"
    live_page = client.get("/locust-ml/live").data.decode()
    assert '<meta http-equiv="refresh"' in live_page
    assert "running: step 2" in live_page
    assert "<svg" in live_page
    assert "<td>400</td>" in live_page


def test_the_script_is_added_to_locusts_html_page() -> None:
    from locust_ml.plugin.liveplot import inject_script

    page = "<html><body><div id=root></div></body></html>"
    once = inject_script(page, "/base/locust-ml/tab.js")
    assert once.count("<script") == 1
    assert once.endswith("</body></html>")
    assert inject_script(once, "/base/locust-ml/tab.js") == once
    assert inject_script("not html", "/x.js") == "not html"


def test_start_with_a_bad_value_is_answered_in_the_form(tmp_path: Path) -> None:
    rec, _ = _recorder(tmp_path)
    _env, web_ui = _fake_web_ui(rec)
    started: list[str] = []

    @web_ui.app.route("/swarm", methods=["POST"], endpoint="locust.swarm")
    def swarm() -> Any:
        started.append("yes")
        return jsonify({"success": True})

    rec.environment.parsed_options = SimpleNamespace(ml_slo=None)
    rec.environment.user_classes = []
    rec.environment.host = None
    install(rec)
    client = web_ui.app.test_client()
    bad = client.post("/swarm", data={"ml_slo": "p99 fast"}).get_json()
    assert bad["success"] is False
    assert bad["message"].startswith("locust-ml: --ml-slo: 'p99 fast' is not an SLO")
    assert started == []
    good = client.post("/swarm", data={"ml_slo": "p99<1s, errors<1%"}).get_json()
    assert good == {"success": True}
    assert started == ["yes"]
