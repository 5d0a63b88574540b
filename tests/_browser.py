"""Debian's Chromium through Playwright, for the tests that look at pages in a real browser
(``test_browser.py``: the widgets in JupyterLab; ``test_site.py``: the course website).

Without ``/usr/bin/chromium`` or Playwright these tests are skipped, unless
``FCNLIB_REQUIRE_BROWSER=1`` (CI), where they fail. ``make browser-deps`` installs Chromium.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable(reason: str):
    """Skip the test, or fail it where CI requires the browser tests to run."""
    if os.environ.get("FCNLIB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (FCNLIB_REQUIRE_BROWSER=1: the browser test must run)")
    pytest.skip(reason)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found: install Debian's chromium (make browser-deps)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright Python package is not installed")


@contextlib.contextmanager
def chromium_page(timeout_ms: float):
    """A headless Chromium page (1280 x 900); browser and driver are closed afterwards
    whatever happens."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    pw = sync_playwright().start()
    browser = None
    try:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(timeout_ms)
        yield pg
    finally:
        if browser is not None:
            browser.close()
        pw.stop()
