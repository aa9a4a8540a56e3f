"""Headless Chromium for tests: the system's ``chromium``, driven by Playwright.

Shared by the tests that look at pages the way a person would (the HTML
report, Locust's web UI tab). Why this combination:

* Debian's ``chromium`` package is the browser (``dev.py`` installs it in CI
  through ``SYSTEM_PACKAGES``); nothing is downloaded at test time. Playwright
  is only the driver: launched with ``executable_path`` it never needs
  ``playwright install``.
* Playwright's sync API gives a real DOM to query (bounding boxes, computed
  styles) and screenshots, with its own timeouts, so a wedged browser fails a
  test instead of hanging it.

Use it as a context manager or through the ``page`` fixture in a test module::

    from tests.integration.browser import launch_browser

    with launch_browser() as page:
        page.goto(url)
        page.screenshot(path=ARTIFACTS / "web-ui.png")

Tests skip (with the reason) only when no Chromium is installed; a missing
``playwright`` package fails them, because CI is meant to have it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["ARTIFACTS", "chromium_path", "launch_browser", "require_chromium"]

ROOT = Path(__file__).resolve().parents[2]
#: Where browser tests leave screenshots and pages (``reports/`` is gitignored).
ARTIFACTS = ROOT / "reports" / "test-artifacts"
#: Environment variable naming a Chromium binary to use instead of the one on PATH.
CHROMIUM_ENV = "LOCUST_ML_CHROMIUM"
_NAMES = ("chromium", "chromium-browser")
#: Playwright's default timeout for each action (ms): generous on a shared, busy CI machine.
TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``$LOCUST_ML_CHROMIUM``, else ``chromium`` on PATH."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if Path(env).is_file() else None
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium path, or skip the calling test saying how to get one."""
    path = chromium_path()
    if path is None:
        pytest.skip(
            "chromium is not installed (apt-get install chromium, as dev.py's "
            f"SYSTEM_PACKAGES does; or set {CHROMIUM_ENV}=/path/to/chromium)"
        )
    return path


@contextmanager
def launch_browser(
    *, width: int = 1280, height: int = 900, timeout_ms: int = TIMEOUT_MS
) -> Iterator[Page]:
    """A fresh headless Chromium page; the browser is closed (and its processes ended) after."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - CI has it
        pytest.fail(
            "the browser tests need the playwright package (pip install 'playwright>=1.45'); "
            "it drives the system chromium, so no 'playwright install' is needed"
        )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(timeout_ms)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def page() -> Iterator[Page]:
    """A headless Chromium page (see :func:`launch_browser`)."""
    with launch_browser() as p:
        yield p
