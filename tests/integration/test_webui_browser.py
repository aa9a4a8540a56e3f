"""Locust's web UI in headless Chromium during a real run: the ML tabs fill in.

A real ``locust -f locustfiles/summarizer.py`` (web UI on a free loopback
port, ``--autostart`` with a three-step ramp, the embedded reference server
as target) is watched the way a person would watch it: the "ML steps" table
gains a row as each step starts, the "ML capacity" tab shows its verdict
rows, and once the test has ended ``/locust-ml/report`` serves the HTML
report and the capacity tab links it. Screenshots go to
``reports/test-artifacts/webui-*.png``.

Every wait is bounded; the locust process (and, through its own shutdown,
the reference server it started) is stopped by PID in ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest

from tests.integration.browser import ARTIFACTS, launch_browser, require_chromium
from tests.integration.helpers import BIN, ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

T = TypeVar("T")

STEP_S = 4
#: Steps of 1, 2 and 4 users, 4 s each; small requests so each step completes many.
ARGS = [
    "--ml-shape",
    "ramp",
    "--ml-ramp-start",
    "1",
    "--ml-ramp-factor",
    "2",
    "--ml-ramp-max",
    "4",
    "--ml-step-time",
    f"{STEP_S}s",
    "--ml-slo",
    "p99<2s",
    "--ml-prompt-tokens",
    "uniform:50,150",
    "--ml-output-tokens",
    "uniform:4,12",
]
#: Seconds Locust stays up after the ramp ends: room to check the report and the page.
AUTOQUIT_S = 30
STEPS_TAB = "locust-ml-steps"
CAPACITY_TAB = "locust-ml-capacity"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Call ``fn`` until it returns something truthy, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get_content_type(), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_content_type(), e.read()
    except OSError:
        return 0, "", b""


def _table_rows(page: Page) -> list[list[str]]:
    """The cells of the visible tab's table body, row by row."""
    rows: list[list[str]] = page.eval_on_selector_all(
        "table tbody tr",
        "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText))",
    )
    return rows


def _open_tab(page: Page, base: str, tab: str) -> None:
    page.goto(f"{base}/?tab={tab}", wait_until="domcontentloaded")


@contextmanager
def _locust_web(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """A ``locust`` web UI run on a free loopback port: (UI URL, report dir, process)."""
    port = _free_port()
    report_dir = tmp_path / "report"
    with (tmp_path / "locust.log").open("w") as log:
        proc = subprocess.Popen(
            [
                str(BIN / "locust"),
                "-f",
                "locustfiles/summarizer.py",
                "--web-host",
                "127.0.0.1",
                "--web-port",
                str(port),
                "--autostart",
                "--autoquit",
                str(AUTOQUIT_S),
                "--ml-report-dir",
                str(report_dir),
                *ARGS,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            yield f"http://127.0.0.1:{port}", report_dir, proc
        finally:
            if proc.poll() is None:
                # SIGTERM lets Locust stop its users and the reference server it started.
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def test_web_ui_tabs_fill_in_during_a_ramp_and_link_the_report(tmp_path: Path) -> None:
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "locust.log"
    # The browser first: the ramp starts as soon as Locust is up.
    with launch_browser() as page, _locust_web(tmp_path) as (base, report_dir, proc):

        def ui_up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"locust exited early ({proc.returncode}):\n{log.read_text()[-3000:]}")
            return _get(base + "/")[0] == 200

        # The embedded reference server starts (and loads its model) before the UI.
        _poll(ui_up, 90, "the web UI to answer", interval=0.1)
        _open_tab(page, base, STEPS_TAB)
        status, ctype, body = _get(base + "/locust-ml/report")
        assert (status, ctype) == (404, "text/plain"), body
        assert b"written when the test ends" in body

        page.get_by_role("tab", name="ML steps").wait_for()
        page.get_by_role("columnheader", name="SLO").wait_for()
        # Rows appear as the ramp advances: record every distinct count seen.
        seen: list[int] = []

        def three_rows() -> bool:
            n = len(_table_rows(page))
            if n and (not seen or seen[-1] != n):
                seen.append(n)
            return n >= 3

        _poll(three_rows, 3 * STEP_S + 60, "three step rows")
        assert seen == sorted(seen), seen
        assert seen[0] < 3, f"the table did not fill in step by step: {seen}"
        rows = _table_rows(page)
        assert [r[0] for r in rows] == ["1", "2", "3"]
        assert [r[1] for r in rows] == ["1", "2", "4"]
        assert all(r[-1] in ("pass", "FAIL") for r in rows[:2]), rows
        assert rows[2][-1] in ("pass (so far)", "FAIL (so far)"), rows
        page.screenshot(path=str(ARTIFACTS / "webui-steps.png"), full_page=True)

        page.get_by_role("tab", name="ML capacity").click()

        def capacity_items() -> dict[str, str] | None:
            items = {r[0]: r[1] for r in _table_rows(page) if len(r) >= 2}
            return items if "SLO capacity (req/s)" in items else None

        items = _poll(capacity_items, 20, "the capacity rows")
        assert items["SLOs"] in ("p99<2s", "p99<2000ms")
        assert items["figures"].startswith("live, from step")
        assert {"knee", "saturation", "verdict", "report"} <= set(items)
        assert items["verdict"].endswith("so far")
        page.screenshot(path=str(ARTIFACTS / "webui-capacity-live.png"), full_page=True)

        # The ramp ends; the report is written a moment later and served.
        def report_served() -> bytes | None:
            status, ctype, body = _get(base + "/locust-ml/report")
            return body if status == 200 and ctype == "text/html" else None

        html = _poll(report_served, 3 * STEP_S + 60, "/locust-ml/report")
        assert html == (report_dir / "report.html").read_bytes()
        assert b"<html" in html.lower()
        status, ctype, data = _get(base + "/locust-ml/report.json")
        assert (status, ctype) == (200, "application/json")
        assert data == (report_dir / "report.json").read_bytes()

        # The UI stops polling when the test stops: a reload shows the final rows.
        _open_tab(page, base, CAPACITY_TAB)

        def final_items() -> dict[str, str] | None:
            items = capacity_items()
            return items if items and items.get("report") == "/locust-ml/report" else None

        items = _poll(final_items, 20, "the report row in the capacity tab")
        assert items["figures"] == "final report (the test has ended)"
        assert items["report (JSON)"] == "/locust-ml/report.json"
        assert items["verdict"].split()[0] in ("PASS", "FAIL", "INVALID")
        page.screenshot(path=str(ARTIFACTS / "webui-capacity-final.png"), full_page=True)

        page.goto(base + "/locust-ml/report", wait_until="load")
        assert page.locator("h1").first.inner_text().startswith("locust-ml report")
        page.screenshot(path=str(ARTIFACTS / "webui-report.png"))
