"""The HTML report as a browser shows it: plots drawn, nothing loaded, nothing run.

Opens the written ``report.html`` in headless Chromium (see ``browser.py``),
checks that both plots are laid out with real size and drawn paths, that the
page asked for no resource and ran no script (the hostile fixture carries
``<script>`` and ``onerror=`` in its strings), and leaves a screenshot in
``reports/test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from locust_ml.report.html import write_html
from tests.integration.browser import ARTIFACTS, launch_browser
from tests.report_fixtures import fixture

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

_PLOTS_JS = """
() => [...document.querySelectorAll("svg.plot")].map(svg => {
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll("path, use")].filter(p => {
    const b = p.getBoundingClientRect();
    return b.width > 0 || b.height > 0;
  });
  return {name: svg.dataset.plot, width: box.width, height: box.height,
          drawn: drawn.length, texts: [...svg.querySelectorAll("text")].map(t => t.textContent)};
})
"""


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Page]:
    """One browser for the module: starting Chromium is the slow part."""
    with launch_browser() as page:
        yield page


def _open(page: Page, name: str, tmp_path: Path) -> dict[str, Any]:
    path = write_html(fixture(name), tmp_path / f"{name}.html")
    requests: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []
    handlers: list[tuple[str, Any]] = [
        ("request", lambda r: requests.append(r.url)),
        ("dialog", lambda d: (dialogs.append(d.message), d.dismiss())),
        ("pageerror", lambda e: errors.append(str(e))),
    ]
    for event, handler in handlers:
        page.on(event, handler)
    try:
        page.goto(path.as_uri(), wait_until="load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / f"report-{name}.png"
        page.screenshot(path=str(screenshot), full_page=True)
        return {
            "plots": page.evaluate(_PLOTS_JS),
            "scripts": page.evaluate("document.scripts.length"),
            "verdict": page.inner_text("#verdict-word"),
            "banner": page.locator("#partial-banner").count(),
            "step_rows": page.locator("#step-table tr").count(),
            "requests": [u for u in requests if u != path.as_uri()],
            "dialogs": dialogs,
            "errors": errors,
            "screenshot": screenshot,
        }
    finally:
        for event, handler in handlers:
            page.remove_listener(event, handler)


def test_plots_are_drawn_and_nothing_is_loaded(browser_page: Page, tmp_path: Path) -> None:
    seen = _open(browser_page, "ramp_open_loop", tmp_path)
    plots = {p["name"]: p for p in seen["plots"]}
    assert set(plots) == {"latency-throughput", "timeseries"}
    for p in plots.values():
        assert p["width"] > 300
        assert p["height"] > 200
        assert p["drawn"] > 20, p
    assert any(t.startswith("knee") for t in plots["latency-throughput"]["texts"])
    assert "GPU util (%)" in plots["timeseries"]["texts"]
    assert seen["verdict"] == "PASS"
    assert seen["step_rows"] == 1 + 6
    assert seen["requests"] == []
    assert seen["errors"] == []
    assert seen["screenshot"].stat().st_size > 10_000


def test_hostile_strings_stay_text_in_the_browser(browser_page: Page, tmp_path: Path) -> None:
    seen = _open(browser_page, "hostile", tmp_path)
    assert seen["scripts"] == 0
    assert seen["dialogs"] == []  # no alert() ran
    assert seen["requests"] == []  # <img src=x> in an error body was not loaded
    assert seen["verdict"] == "FAIL"
    assert len(seen["plots"]) == 2


def test_empty_report_in_the_browser(browser_page: Page, tmp_path: Path) -> None:
    seen = _open(browser_page, "empty", tmp_path)
    assert seen["plots"] == []
    assert seen["verdict"] == "INVALID"
    assert seen["banner"] == 1
    assert seen["requests"] == []
