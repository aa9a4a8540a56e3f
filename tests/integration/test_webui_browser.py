"""Locust's web UI in headless Chromium, driven through the real start form.

One ``locust -f locustfiles/summarizer.py`` with its web UI on a free
loopback port (the embedded reference server's simulated backend as the
target, 2 s ramp steps) is used the way a person would:

1. the start form, left at its defaults, starts a test (START used to fail
   with HTTP 500 on ``--ml-slo``'s list default);
2. the "ML steps" tab fills in step by step and shows the live
   latency-vs-throughput plot, redrawn as steps end;
3. STOP in the middle of a step: the tab says "stopping", then "stopped",
   never that a step is still running; the report is written and linked;
4. NEW, a bad SLO: the form says why and starts nothing; an SLO filled in:
   the test starts and the SLO is judged.

Screenshots go to ``reports/test-artifacts/webui-*.png``. Every wait is
bounded; the locust process (and, through its own shutdown, the reference
server it started) is stopped by PID in ``finally``.
"""

from __future__ import annotations

import json
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
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

T = TypeVar("T")

STEP_S = 2
#: Steps of 1, 2, 4, ... 64 users, 2 s each, against the simulated backend: STOP comes
#: long before the last.
ARGS = [
    "--ml-server-backend",
    "simulated",
    "--ml-shape",
    f"ramp:start=1,factor=2,max=64,step={STEP_S}s",
]
STEPS_TAB = "locust-ml-steps"
CAPACITY_TAB = "locust-ml-capacity"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
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


def _live(base: str) -> dict[str, object]:
    status, _, body = _get(base + "/locust-ml/live.json")
    return json.loads(body) if status == 200 else {}


@contextmanager
def _locust_web(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """A ``locust`` web UI (no autostart) on a free loopback port: (URL, report dir, process)."""
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


def _open_custom_parameters(page: Page) -> None:
    # The page camel-cases option names (ml_slo -> mlSlo) and snake-cases them back on START.
    page.get_by_role("button", name="Custom parameters").click()
    page.locator("input[name=mlSlo]").wait_for()
    page.wait_for_timeout(600)  # the accordion's opening animation, for the screenshot


def _loaded(img: Locator) -> bool:
    return bool(img.evaluate("img => img.complete && img.naturalWidth > 0"))


def _capacity_items(page: Page) -> dict[str, str]:
    return {r[0]: r[1] for r in _table_rows(page) if len(r) >= 2}


def test_start_form_live_plot_stop_and_an_slo_through_the_web_ui(tmp_path: Path) -> None:
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "locust.log"
    with launch_browser(height=1000) as page, _locust_web(tmp_path) as (base, report_dir, proc):

        def ui_up() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"locust exited early ({proc.returncode}):\n{log.read_text()[-3000:]}")
            return _get(base + "/")[0] == 200

        _poll(ui_up, 60, "the web UI to answer", interval=0.1)

        # 1. The form at its defaults: readable labels, START works.
        page.goto(base + "/", wait_until="networkidle")
        _open_custom_parameters(page)
        labels = page.locator("label").all_inner_texts()
        assert not [t for t in labels if "%(" in t or "%%" in t], labels
        assert any("SLOs, comma-separated" in t for t in labels), labels
        # The shape field shows the locustfile's shape with every parameter the run will use.
        shape = page.locator("input[name=mlShape]").input_value()
        assert shape.startswith("ramp:"), shape
        assert "max=" in shape, shape
        page.screenshot(path=str(ARTIFACTS / "webui-form-defaults.png"), full_page=True)
        page.get_by_role("button", name="START").click()

        # 2. The ML steps tab fills in; the plot is redrawn as steps end.
        page.get_by_role("tab", name="ML steps").click()
        seen: list[int] = []

        def three_ended() -> bool:
            n = len(_table_rows(page))
            if n and (not seen or seen[-1] != n):
                seen.append(n)
            return n >= 4

        _poll(three_ended, 4 * STEP_S + 30, "three ended steps")
        assert seen == sorted(seen), seen
        assert seen[0] < 4, f"the table did not fill in step by step: {seen}"
        plot = page.locator("#locust-ml-live-plot img")

        def plot_of_three_steps() -> bool:
            state = str(_live(base).get("state", ""))
            step = int(state.rsplit(maxsplit=1)[-1]) if state.startswith("running: step") else 0
            return step >= 4 and _loaded(plot)

        _poll(plot_of_three_steps, 15, "the live plot of steps 1-3")
        svg = _get(base + "/locust-ml/live.svg")
        assert svg[:2] == (200, "image/svg+xml")
        assert b"Latency vs throughput" in svg[2]
        page.screenshot(path=str(ARTIFACTS / "webui-live-plot.png"), full_page=True)

        # 3. STOP mid-step: stopping, then stopped; never "step N is running".
        page.get_by_role("button", name="STOP").click()

        def stopped() -> str | None:
            state = str(_live(base).get("state", ""))
            assert "running" not in state or state.startswith("running: step"), state
            return state if state.startswith("stopped") else None

        state = _poll(stopped, 20, "the stopped state")
        assert state.startswith("stopped after ")
        page.get_by_role("tab", name="ML capacity").click()

        def final_items() -> dict[str, str] | None:
            page.goto(f"{base}/?tab={CAPACITY_TAB}", wait_until="domcontentloaded")
            page.locator("table tbody tr").first.wait_for()
            items = _capacity_items(page)
            return items if items.get("report") == "/locust-ml/report" else None

        items = _poll(final_items, 30, "the report row in the capacity tab", interval=1.0)
        assert items["state"].startswith("stopped after ")
        assert "is running" not in items["figures"]
        page.screenshot(path=str(ARTIFACTS / "webui-stopped-capacity.png"), full_page=True)

        def stopped_page() -> bool:
            # Locust caches its stats answer for 2 s: its header can say RUNNING that long
            # after STOP (and keeps it until reloaded once it no longer polls).
            page.goto(f"{base}/?tab={STEPS_TAB}", wait_until="domcontentloaded")
            page.locator("#locust-ml-live-plot").get_by_text("stopped after").wait_for()
            _poll(lambda: _loaded(plot), 10, "the final plot")
            time.sleep(0.5)
            header = page.locator("header").inner_text().upper()
            return "STOPPED" in header and "RUNNING" not in header

        _poll(stopped_page, 20, "Locust's header to say STOPPED", interval=1.0)
        page.screenshot(path=str(ARTIFACTS / "webui-stopped.png"), full_page=True)
        status, ctype, html = _get(base + "/locust-ml/report")
        assert (status, ctype) == (200, "text/html")
        assert html == (report_dir / "report.html").read_bytes()

        # 4. NEW: a bad SLO is refused with a message; a good one starts the test.
        page.goto(base + "/", wait_until="domcontentloaded")
        page.get_by_role("button", name="NEW").click()
        _open_custom_parameters(page)
        page.locator("input[name=mlSlo]").fill("p99 fast")
        page.get_by_role("button", name="START").click()
        page.get_by_text("locust-ml: --ml-slo").wait_for()
        assert _live(base).get("state", "").startswith("stopped")  # type: ignore[union-attr]
        page.locator("input[name=mlSlo]").fill("p99<500ms, errors<1%")
        page.get_by_role("button", name="START").click()

        def judged() -> dict[str, str] | None:
            page.goto(f"{base}/?tab={CAPACITY_TAB}", wait_until="domcontentloaded")
            page.locator("table tbody tr").first.wait_for()
            items = _capacity_items(page)
            return items if items.get("state", "").startswith("running: step") else None

        items = _poll(judged, 2 * STEP_S + 30, "the SLO run", interval=0.5)
        assert items["SLOs"] == "p99<500ms, errors<1%"
        page.goto(f"{base}/?tab={STEPS_TAB}", wait_until="domcontentloaded")
        page.get_by_role("columnheader", name="Judged").wait_for()
        first = _poll(lambda: _table_rows(page), 10, "the step rows")[0]
        assert first[-1] in ("running", "pass", "FAIL"), first  # judged once it has ended
        page.get_by_role("button", name="STOP").click()
        _poll(lambda: str(_live(base).get("state", "")).startswith("stopped"), 20, "stop")
