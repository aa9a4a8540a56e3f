"""Two tabs in Locust's web UI - "ML steps" and "ML capacity" - and the final report.

Locust's React UI lets a plugin add tabs, each holding one table whose rows
arrive with the ``/stats/requests`` poll (every 2 s while a test runs): the
tabs and their columns are declared in ``web_ui.template_args``
(``extended_tabs``, ``extended_tables``) and the rows are appended to that
JSON under ``extended_stats`` in an ``after_request`` hook - the mechanism of
Locust's ``examples/extend_web_ui.py``. A tab shows one table, so the step
table and the capacity verdict (a key/value table) are two tabs.

The capacity tab is a *live* verdict: while the test runs it applies the
final report's rules (:func:`locust_ml.report.model.decide`) to the steps
that have ended, without the bootstrap confidence interval, so a poll costs
milliseconds. A step still running is shown in the step table but judged
only when it ends, as in the report: a half-measured step would make the
verdict flicker at every step start. The tables are cached: recomputed at
once when a step begins or the report is written, otherwise at most every
:data:`MIN_REFRESH_S` (less often if a recomputation is slow; never, once a
finished test stops changing), so several browser tabs polling do not
multiply the work, and a long run does not stall the users it drives.

Once the report is written its own figures replace the live ones, and it is
served at ``/locust-ml/report`` (``/locust-ml/report.json``): fixed file
names in the report directory, no path parameter.

The capacity tab's first row is the test's state as Locust has it (running
step N, stopping, stopped), not the recorder's: a step is still open while
Locust stops its users. The latency-vs-throughput plot of the steps so far
is served beside the tables (:mod:`locust_ml.plugin.liveplot`), and the
start form's fields are made to work and checked before START
(:mod:`locust_ml.plugin.webform`).

The pure helpers (:func:`step_rows_from`, :func:`live_capacity`,
:func:`capacity_rows`) take plain data; :class:`LiveTables` and
:func:`install` are the glue.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locust_ml.analysis.capacity import CapacityAnalysis
from locust_ml.analysis.histogram import percentile_key
from locust_ml.analysis.judge import StepJudgement
from locust_ml.analysis.slo import SLO, required_percentiles
from locust_ml.analysis.steps import StepStats, Totals, summarize_steps
from locust_ml.analysis.verdict import RunVerdict
from locust_ml.plugin import liveplot, webform
from locust_ml.report.json import curve_dict, report_to_dict
from locust_ml.report.model import (
    ReportSettings,
    RunInfo,
    RunReport,
    decide,
    judge_rule,
    judge_steps,
)
from locust_ml.report.sections import knee_of

if TYPE_CHECKING:
    from locust_ml.plugin.control import ControlSide

__all__ = [
    "CAPACITY_KEY",
    "MAX_TIME_SHARE",
    "MIN_REFRESH_S",
    "REPORT_JSON_ROUTE",
    "REPORT_ROUTE",
    "TAB_KEY",
    "LiveCapacity",
    "LiveTables",
    "capacity_rows",
    "install",
    "live_capacity",
    "state_text",
    "step_columns",
    "step_rows",
    "step_rows_from",
]

logger = logging.getLogger("locust_ml")

TAB_KEY = "locust-ml-steps"
CAPACITY_KEY = "locust-ml-capacity"
REPORT_ROUTE = "/locust-ml/report"
REPORT_JSON_ROUTE = "/locust-ml/report.json"
#: While only the request count changes, recompute the tables at most this often (s).
MIN_REFRESH_S = 2.0
#: ... and rarer when a recomputation is slow (a long run, many windows): it runs in
#: the greenlet that also drives the users, so it may take at most this share of time.
MAX_TIME_SHARE = 0.05
#: Percentiles the step table shows.
_PERCENTILES = (50.0, 95.0, 99.0, 99.9)
#: Reasons and warnings listed in the capacity table before "... and N more".
_MAX_REASONS = 6
_CAPACITY_COLUMNS = [{"key": "item", "title": "locust-ml"}, {"key": "value", "title": "Value"}]
_NOT_WRITTEN = "written when the test ends"


def _ms(x: float | None) -> str:
    return "" if x is None or math.isnan(x) else f"{x:.1f}"


def _rate(x: float | None) -> str:
    return "" if x is None else f"{x:.2f}"


def _col(q: float) -> str:
    # Column keys go through the UI's camelCase conversion: no dots.
    return percentile_key(q).replace(".", "_")


# ----------------------------------------------------------------- step table


def step_columns(slos: Sequence[SLO]) -> list[dict[str, str]]:
    """The step table's columns, the judgement last (the error ceiling judges without SLOs)."""
    columns = [
        {"key": "step", "title": "Step"},
        {"key": "users", "title": "Users"},
        {"key": "offered_rps", "title": "Offered req/s"},
        {"key": "achieved_rps", "title": "Achieved req/s"},
        {"key": "requests", "title": "Requests"},
        {"key": "failures", "title": "Failures"},
    ]
    columns += [{"key": _col(q), "title": f"{percentile_key(q)} (ms)"} for q in _PERCENTILES]
    columns.append({"key": "slo", "title": "Judged"})
    return columns


def step_rows_from(
    steps: Sequence[StepStats],
    verdicts: Mapping[int, StepJudgement],
    *,
    running_step: int | None = None,
) -> list[dict[str, Any]]:
    """One row per step; ``slo`` is pass/FAIL where a verdict exists.

    The running step's verdict is marked provisional ("pass (so far)").
    """
    rows = []
    for s in steps:
        lat = s.judged_latency_ms
        row: dict[str, Any] = {
            "step": s.id,
            "users": "" if s.users is None else s.users,
            "offered_rps": _rate(s.offered_rps),
            "achieved_rps": _rate(s.achieved_rps),
            "requests": s.requests,
            "failures": s.failures,
        }
        for q in _PERCENTILES:
            row[_col(q)] = _ms(lat.get(percentile_key(q)))
        verdict = verdicts.get(s.id)
        if s.id == running_step:
            row["slo"] = "running"
        elif verdict is not None:
            row["slo"] = "pass" if verdict.passed else f"FAIL ({'; '.join(verdict.reasons)})"
        rows.append(row)
    return rows


def _summaries(run: ControlSide) -> tuple[StepStats, ...]:
    """The steps so far, summarized with the percentiles the report would use."""
    slos = run.options.load.slos
    pct = sorted({*_PERCENTILES, *run.options.report.percentiles, *required_percentiles(slos)})
    spans = run.steps.spans(run.clock())
    return summarize_steps(spans, run.samples, pct, window_s=run.window_s, with_goodput=bool(slos))


def _judgements(
    run: ControlSide, steps: Sequence[StepStats], running: int | None
) -> dict[int, StepJudgement]:
    """The ended steps' judgements, as the report will make them (decide)."""
    report = _live_report(run, [s for s in steps if s.id != running], run.options.load.slos)
    return judge_steps(report, judge_rule(run.options.load.slos, run.settings))


def _live_report(
    run: ControlSide | None,
    steps: Sequence[StepStats],
    slos: Sequence[SLO],
    shape: str | None = None,
    total_requests: int | None = None,
) -> RunReport:
    requests = sum(s.all_requests for s in steps) if total_requests is None else total_requests
    # The window length the steps were measured with (the recorder's, else their own).
    window_s = run.window_s if run is not None else None
    if window_s is None:
        window_s = max((w.seconds for s in steps for w in s.windows), default=None)
    return RunReport(
        run=RunInfo(
            locustfile="", target=None, started_at=0.0, ended_at=0.0, mode="local", shape=shape
        ),
        percentiles=(),
        window_s=window_s,
        steps=tuple(steps),
        totals=Totals(
            requests=requests,
            failures=sum(s.all_failures for s in steps),
            latency_ms={},
            endpoints=(),
        ),
        slos=tuple(slos),
        search=run.search if run is not None else None,
    )


def step_rows(run: ControlSide) -> list[dict[str, Any]]:
    """One row per step so far, the running one provisional (pure given ``run``)."""
    steps = _summaries(run)
    cur = run.steps.current
    running = cur.id if cur else None
    return step_rows_from(steps, _judgements(run, steps, running), running_step=running)


# ------------------------------------------------------------------ the state

#: Locust's runner states in which load is being sent.
_RUNNING = ("spawning", "running")


def state_text(state: str | None, *, running_step: int | None, ended: int, written: bool) -> str:
    """The test's state in words, as Locust's runner has it (``None``: from the steps).

    >>> state_text("running", running_step=3, ended=2, written=False)
    'running: step 3'
    >>> state_text("cleanup", running_step=3, ended=2, written=False)
    'stopping: the users finish the requests in flight'
    >>> state_text("stopped", running_step=None, ended=3, written=True)
    'stopped after 3 steps; the report is written'
    """
    if state is None:
        state = "running" if running_step is not None else ("stopped" if ended else "ready")
    if state in _RUNNING:
        return "running" if running_step is None else f"running: step {running_step}"
    if state in ("stopping", "cleanup"):
        return "stopping: the users finish the requests in flight"
    if state == "stopped":
        steps = f"{ended} step{'s' if ended != 1 else ''}"
        report = "the report is written" if written else "writing the report"
        return f"stopped after {steps}; {report}"
    if state == "ready":
        return "ready: press START" if not ended else "ready for a new test"
    return str(state)


# ------------------------------------------------------------- capacity table


@dataclass(frozen=True)
class LiveCapacity:
    """What the capacity tab shows: figures, verdict, and where they came from.

    ``final`` is True when they are the written report's (with the confidence
    interval); otherwise they are live, from ``judged`` (the ids of the steps
    that have ended), with ``running`` the step still in progress, if any.
    """

    slos: tuple[SLO, ...]
    analysis: CapacityAnalysis | None
    verdict: RunVerdict | None
    judged: tuple[int, ...] = ()
    running: int | None = None
    final: bool = False


def live_capacity(
    steps: Sequence[StepStats],
    slos: Sequence[SLO],
    *,
    running_step: int | None = None,
    shape: str | None = None,
    total_requests: int | None = None,
    settings: ReportSettings | None = None,
    run: ControlSide | None = None,
) -> LiveCapacity:
    """The report's decisions (:func:`locust_ml.report.model.decide`) on the steps that ended.

    ``running_step`` is left out: it has not been measured whole. ``run``
    gives the window length and a capacity search's own judgements.
    """
    slos = tuple(slos)
    settings = settings or ReportSettings()
    ended = tuple(s for s in steps if s.id != running_step)
    judged = tuple(s.id for s in ended)
    if not ended:
        return LiveCapacity(slos, None, None, judged, running_step)
    report = decide(_live_report(run, ended, slos, shape, total_requests), slos, settings)
    return LiveCapacity(slos, report.capacity, report.verdict, judged, running_step)


def _note(analysis: CapacityAnalysis, prefix: str) -> str:
    """The analysis's note about one figure (why it is missing), without its prefix."""
    for n in analysis.notes:
        if n.startswith(prefix):
            return f" ({n[len(prefix) :].strip()})"
    return ""


def _steps_text(ids: Sequence[int]) -> str:
    if not ids:
        return "no step"
    if list(ids) == list(range(ids[0], ids[0] + len(ids))) and len(ids) > 1:
        return f"steps {ids[0]}-{ids[-1]}"
    return ("step " if len(ids) == 1 else "steps ") + ", ".join(map(str, ids))


def _capacity_text(a: CapacityAnalysis, slos: Sequence[SLO], final: bool) -> str:
    """The capacity in words, as the console says it (report/console.py)."""
    if a.slo_rps is None:
        if a.first_failing_step is not None:
            return f"- (step {a.first_failing_step} failed: {a.limiting_slo})"
        return "- (no step judged yet)" if not final else "-"
    ci = ""
    if a.slo_rps_ci is not None:
        low, high = a.slo_rps_ci
        ci = f" (95% interval {low:.2f}-{'open' if high is None else f'{high:.2f}'})"
    at = f"step {a.last_passing_step}"
    if a.bound == "bracketed":
        return f"{a.slo_rps:.2f}{ci}, {at}; step {a.first_failing_step} failed: {a.limiting_slo}"
    if a.bound == "saturated":
        return f"{a.slo_rps:.2f}{ci}, {at}; the target saturated (step {a.saturation_step})"
    so_far = "" if final else " so far"
    return f"{a.slo_rps:.2f}{ci} or more (a lower bound: every step{so_far} passed)"


def _verdict_word(v: RunVerdict) -> str:
    if not v.valid:
        return "INVALID"
    return "PASS" if v.passed else "FAIL"


def _source(live: LiveCapacity) -> str:
    if live.final:
        return "final report (the test has ended)"
    if not live.judged:
        return "live: waiting for the first step to end"
    running = f"; step {live.running} is running" if live.running is not None else ""
    return f"live, from {_steps_text(live.judged)}{running}"


def _figures(live: LiveCapacity) -> list[tuple[str, str]]:
    a = live.analysis
    if a is None:
        return [("SLO capacity (req/s)", "-"), ("knee", "-"), ("saturation", "-")]
    knee = knee_of(a)
    if a.saturation_rps is not None:
        saturation = f"{a.saturation_rps:.2f} req/s (from step {a.saturation_step})"
    else:
        saturation = "-" + (_note(a, "saturation:") if live.final else " (not reached so far)")
    return [
        ("SLO capacity (req/s)", _capacity_text(a, live.slos, live.final)),
        ("knee", knee),
        ("saturation", saturation),
    ]


def _verdict(live: LiveCapacity) -> list[tuple[str, str]]:
    v = live.verdict
    if v is None:
        return [("verdict", "- (no step has ended yet)")]
    word = _verdict_word(v)
    out = [("verdict", f"{word} (exit code {v.exit_code})" if live.final else f"{word} so far")]
    reasons = list(v.reasons)
    out += [("reason", r) for r in reasons[:_MAX_REASONS]]
    if len(reasons) > _MAX_REASONS:
        out.append(("reason", f"... and {len(reasons) - _MAX_REASONS} more"))
    out += [("warning", w) for w in v.warnings[:_MAX_REASONS]]
    return out


def capacity_rows(
    live: LiveCapacity, report_url: str | None = None, state: str | None = None
) -> list[dict[str, str]]:
    """The capacity tab's key/value rows (``item``, ``value``), in reading order.

    ``report_url`` is where the written report is served, or None before it
    exists; ``state`` (:func:`state_text`), when given, is the first row.
    """
    slos = ", ".join(map(str, live.slos)) if live.slos else "none given (--ml-slo)"
    report = (
        [("report", _NOT_WRITTEN)]
        if report_url is None
        else [("report", report_url), ("report (JSON)", report_url + ".json")]
    )
    pairs = [
        *([("state", state)] if state is not None else []),
        ("figures", _source(live)),
        ("SLOs", slos),
        *_figures(live),
        *_verdict(live),
        *report,
    ]
    return [{"item": item, "value": value} for item, value in pairs]


# ------------------------------------------------------------------ the glue


def _report_file(run: ControlSide, name: str) -> Path | None:
    """A file of the written report (fixed ``name``), or None before it exists."""
    if run.report_path is None:
        return None
    path = Path(run.report_path).parent / name
    return path.resolve() if path.is_file() else None


class LiveTables:
    """The two tabs' rows for a recorder, computed at most as often as they change.

    ``shape_kind`` says which test this is (``ramp``, ``soak``...), for the
    verdict's rules; ``state`` is Locust's runner state (None: unknown, read
    from the steps); ``monotonic`` is injectable for tests; ``computed``
    counts recomputations. :meth:`curve` is what the live plot draws.
    """

    def __init__(
        self,
        run: ControlSide,
        *,
        shape_kind: Callable[[], str | None] = lambda: None,
        state: Callable[[], str | None] = lambda: None,
        report_url: str = REPORT_ROUTE,
        monotonic: Callable[[], float] = time.monotonic,
        min_refresh_s: float = MIN_REFRESH_S,
    ) -> None:
        self.run = run
        self.shape_kind = shape_kind
        self.state = state
        self.report_url = report_url
        self.monotonic = monotonic
        self.min_refresh_s = min_refresh_s
        self.computed = 0
        self._key: tuple[Any, ...] | None = None
        self._at = -math.inf
        self._interval = min_refresh_s
        self._tables: dict[str, list[dict[str, Any]]] = {}
        self._state_text = state_text(None, running_step=None, ended=0, written=False)
        self._curve_key: tuple[Any, ...] | None = None
        self._curve: tuple[int, dict[str, Any] | None] = (0, None)

    def state_text(self) -> str:
        """The state row as last computed (see :func:`state_text`)."""
        return self._state_text

    def curve(self) -> tuple[int, dict[str, Any] | None]:
        """``(version, plot input)``: the steps that ended, or the written report.

        The version changes only when what the plot shows does (a step ended,
        the report was written, a new test started), so the plot is redrawn
        that often and no more. The input is None before any step ended.
        """
        return self._curve

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """``{TAB_KEY: step rows, CAPACITY_KEY: capacity rows}``.

        Reused while the run, its steps and its report are unchanged and
        either the tables are younger than ``min_refresh_s`` (or 20 times
        the last recomputation's time, see :data:`MAX_TIME_SHARE`) or
        nothing at all changed with no step running (a finished test).
        """
        run = self.run
        written = _report_file(run, "report.html") is not None
        running = run.steps.current is not None
        structure = (
            run.started_at,
            id(run.steps),
            len(run.steps.spans(0.0)),
            running,
            written,
            self.state(),
        )
        key = (*structure, run.report is None, run.samples.requests)
        now = self.monotonic()
        old = self._key
        if old is not None and old[:-1] == key[:-1]:
            fresh = now - self._at < self._interval
            if fresh or (old == key and not running):
                return self._tables
        self._tables = self._compute(written)
        took = self.monotonic() - now
        self._interval = max(self.min_refresh_s, took / MAX_TIME_SHARE)
        self._key, self._at = key, now
        self.computed += 1
        return self._tables

    def _compute(self, written: bool) -> dict[str, list[dict[str, Any]]]:
        run = self.run
        slos = run.options.load.slos
        steps = _summaries(run)
        cur = run.steps.current
        running = cur.id if cur is not None else None
        verdicts = _judgements(run, steps, running)
        report = run.report
        state = self.state()
        if report is not None and written:
            live = LiveCapacity(
                tuple(report.slos),
                report.capacity,
                report.verdict,
                tuple(s.id for s in report.steps),
                None,
                final=True,
            )
        else:
            live = live_capacity(
                steps,
                slos,
                running_step=running,
                shape=self.shape_kind(),
                total_requests=run.samples.requests,
                settings=run.settings,
                run=run,
            )
            if state is not None and state not in _RUNNING:
                live = replace(live, running=None)  # stopping: no step runs any more
        shown_running = running if state is None or state in _RUNNING else None
        self._state_text = state_text(
            state, running_step=shown_running, ended=len(live.judged), written=written
        )
        self._update_curve(steps, verdicts, live, report if written else None)
        return {
            TAB_KEY: step_rows_from(steps, verdicts, running_step=running),
            CAPACITY_KEY: capacity_rows(
                live, self.report_url if written else None, self._state_text
            ),
        }

    def _update_curve(
        self,
        steps: Sequence[StepStats],
        verdicts: Mapping[int, StepJudgement],
        live: LiveCapacity,
        report: Any,
    ) -> None:
        """The plot's input, with a new version when the steps it shows change."""
        key = (self.run.started_at, live.judged, live.final)
        if key == self._curve_key:
            return
        if report is not None:
            data: dict[str, Any] | None = report_to_dict(report)
        elif live.judged:
            ended = [s for s in steps if s.id in set(live.judged)]
            data = curve_dict(ended, verdicts, live.analysis, live.slos)
        else:
            data = None
        self._curve_key = key
        self._curve = (self._curve[0] + 1, data)


def _shape_kind(run: ControlSide) -> Callable[[], str | None]:
    """The running shape's kind, read the way the report's verdict reads it."""

    def kind() -> str | None:
        if run.shape is None:
            return None
        try:
            return run.shape.spec(run.options).kind
        except Exception:  # a bad --ml-shape: the start form says so
            return None

    return kind


def _shape_spec(run: ControlSide) -> Callable[[], str | None]:
    """The locustfile's shape as ``--ml-shape`` writes it (the start form's default)."""

    def spec() -> str | None:
        return run.shape.spec_text() if run.shape is not None else None

    return spec


def _declare_tables(web_ui: Any, slos: Sequence[SLO]) -> None:
    """(Re)declare our tabs and tables in ``template_args``, replacing earlier ones."""
    ours = {TAB_KEY, CAPACITY_KEY}
    args = web_ui.template_args
    args["extended_tabs"] = [
        *(t for t in args.get("extended_tabs", []) if t.get("key") not in ours),
        {"title": "ML steps", "key": TAB_KEY},
        {"title": "ML capacity", "key": CAPACITY_KEY},
    ]
    args["extended_tables"] = [
        *(t for t in args.get("extended_tables", []) if t.get("key") not in ours),
        {"key": TAB_KEY, "structure": step_columns(slos)},
        {"key": CAPACITY_KEY, "structure": _CAPACITY_COLUMNS},
    ]


def _runner_state(environment: Any) -> Callable[[], str | None]:
    def state() -> str | None:
        runner = getattr(environment, "runner", None)
        return None if runner is None else str(runner.state)

    return state


def _start_problem(run: ControlSide, form: Any) -> str | None:
    """Why the start form's values can't start a test (one line), or None."""
    from locust_ml.plugin.preflight import run_preflight

    environment, shape = run.environment, run.shape
    host = str(form.get("host") or "") or environment.host

    def preflight(options: Any) -> None:
        run_preflight(environment.user_classes, options, host)

    return webform.check_start(environment.parsed_options, form, shape=shape, preflight=preflight)


def install(run: ControlSide) -> None:
    """Add the tabs, the live plot and the report routes to ``environment.web_ui``.

    A no-op without a web UI. Also makes the start form's fields usable and
    checks them when START is pressed (:mod:`.webform`).
    """
    environment = run.environment
    web_ui = environment.web_ui
    if web_ui is None or web_ui.app is None:
        return
    from flask import Response, jsonify, request

    app = web_ui.app
    if "locust_ml_report" in app.view_functions:
        return  # installed already (one run per environment)
    from locust_ml.report import plots  # noqa: F401 - matplotlib: imported now, not mid-run

    base = str(getattr(environment.parsed_options, "web_base_path", None) or "").rstrip("/")
    live = LiveTables(
        run,
        shape_kind=_shape_kind(run),
        state=_runner_state(environment),
        report_url=base + REPORT_ROUTE,
    )
    plot = liveplot.LivePlot(live)
    _declare_tables(web_ui, run.options.load.slos)
    extra = [
        {"href": base + liveplot.LIVE_ROUTE, "title": "locust-ml live plot (latency/throughput)"},
        {"href": base + REPORT_ROUTE, "title": "locust-ml report (HTML, once the test has ended)"},
        {"href": base + REPORT_JSON_ROUTE, "title": "locust-ml report (JSON)"},
    ]
    files = [f for f in web_ui.template_args.get("extended_csv_files", []) if f not in extra]
    web_ui.template_args["extended_csv_files"] = [*files, *extra]
    webform.install_form_labels(web_ui, _shape_spec(run))
    failures: set[str] = set()

    @app.before_request
    def before() -> Any:
        if request.endpoint == "locust.index":
            # The start form can change --ml-slo; the page reads the columns on load.
            _declare_tables(web_ui, run.options.load.slos)
        elif request.endpoint == "locust.swarm" and request.method == "POST":
            problem = _start_problem(run, request.form)
            if problem is not None:
                logger.error("%s", problem)
                return jsonify({"success": False, "message": problem, "host": environment.host})
        return None

    @app.after_request
    def after(response: Any) -> Any:
        if request.endpoint == "locust.index" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(liveplot.inject_script(page, base + liveplot.TAB_SCRIPT_ROUTE))
            return response
        if request.endpoint != "locust.request_stats" or not response.is_json:
            return response
        try:
            tables = live.tables()
        except Exception as exc:  # a bug here must not take Locust's own stats down
            message = f"{type(exc).__name__}: {exc}"
            if message not in failures:
                failures.add(message)
                logger.exception("locust-ml: the web UI tables failed")
            tables = {CAPACITY_KEY: [{"item": "error", "value": message}], TAB_KEY: []}
        body = response.get_json()
        extended = [
            e for e in body.get("extended_stats", []) if e.get("key") not in (TAB_KEY, CAPACITY_KEY)
        ]
        extended += [{"key": k, "data": rows} for k, rows in tables.items()]
        body["extended_stats"] = extended
        response.set_data(json.dumps(body))
        return response

    def serve(name: str, mimetype: str) -> Response:
        path = _report_file(run, name)
        if path is None:
            return Response(
                f"locust-ml: no {name} yet; the report is written when the test ends\n",
                status=404,
                mimetype="text/plain",
            )
        return Response(path.read_bytes(), mimetype=mimetype, headers={"Cache-Control": "no-store"})

    @app.route(base + REPORT_ROUTE, endpoint="locust_ml_report")
    @web_ui.auth_required_if_enabled
    def report_html() -> Response:
        return serve("report.html", "text/html")

    @app.route(base + REPORT_JSON_ROUTE, endpoint="locust_ml_report_json")
    @web_ui.auth_required_if_enabled
    def report_json() -> Response:
        return serve("report.json", "application/json")

    _add_live_routes(web_ui, base, run, live, plot)


def _add_live_routes(
    web_ui: Any, base: str, run: ControlSide, live: LiveTables, plot: liveplot.LivePlot
) -> None:
    """The live plot's routes (see :mod:`locust_ml.plugin.liveplot`)."""
    from flask import Response

    app = web_ui.app
    no_store = {"Cache-Control": "no-store"}

    @app.route(base + liveplot.LIVE_SVG_ROUTE, endpoint="locust_ml_live_svg")
    @web_ui.auth_required_if_enabled
    def live_svg() -> Response:
        return Response(plot.document(), mimetype="image/svg+xml", headers=no_store)

    @app.route(base + liveplot.LIVE_JSON_ROUTE, endpoint="locust_ml_live_json")
    @web_ui.auth_required_if_enabled
    def live_json() -> Response:
        return Response(json.dumps(plot.info()), mimetype="application/json", headers=no_store)

    @app.route(base + liveplot.TAB_SCRIPT_ROUTE, endpoint="locust_ml_tab_js")
    @web_ui.auth_required_if_enabled
    def tab_js() -> Response:
        return Response(liveplot.tab_script(), mimetype="text/javascript")

    @app.route(base + liveplot.LIVE_ROUTE, endpoint="locust_ml_live")
    @web_ui.auth_required_if_enabled
    def live_page() -> Response:
        svg = plot.svg()
        written = _report_file(run, "report.html") is not None
        page = liveplot.live_page(
            svg,
            live.state_text(),
            live.tables()[TAB_KEY],
            step_columns(run.options.load.slos),
            refresh=not written,
            report_url=base + REPORT_ROUTE if written else None,
        )
        return Response(page, mimetype="text/html", headers=no_store)
