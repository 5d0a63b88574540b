"""The course website (``make site``) in a real browser: Debian's Chromium through Playwright.

Serves ``build/site/`` from 127.0.0.1, opens the landing page and follows the "next" links
through the nine notebooks. On each notebook page: the notebook's title, a figure that
loaded, animations that play, no error output, no demo that says it was skipped (except, in one line, a demo that
needs the network: the site is built offline), an "Open in Colab" link and a download link
to the notebook's own path (the download is the learner's notebook); finally the search box
finds "atrous". A screenshot of each page goes to ``build/browser/site/``.

Skipped when ``build/site`` has not been built, or without Chromium, unless
``FCNLIB_REQUIRE_BROWSER=1`` (CI, which builds the site first), where it fails.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from _browser import chromium_page, unavailable

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "build" / "site"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "build" / "browser" / "site"
STEP_MS = 15_000
SKIPPED = re.compile(r"\bskipp(ed|ing)\b", re.I)
NETWORK = re.compile(r"network|offline|internet", re.I)


def _title(notebook: Path) -> str:
    first = next(
        c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "markdown"
    )
    return re.search(r"^# (.+)$", "".join(first["source"]), flags=re.M).group(1).strip()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        unavailable(f"{SITE}/index.html not found: build the site first (make site)")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page(site_url):
    with chromium_page(STEP_MS) as pg:
        # Offline, as in CI: anything outside the local server (Colab's badge) is refused.
        pg.context.route(re.compile(r"^(?!http://127\.0\.0\.1:)"), lambda route: route.abort())
        yield pg


def _check_notebook_page(page, notebook: Path) -> None:
    stem = notebook.stem
    title = _title(notebook)
    assert urlparse(page.url).path.endswith(f"/notebooks/{stem}.html"), page.url
    heading = page.locator("article h1").first.inner_text()
    assert heading.replace("#", "").strip() == title
    assert page.title().startswith(title)

    # A figure that loaded.
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.cell_output img'))"
        ".some(img => img.complete && img.naturalWidth > 0)"
    )

    # No error output: no traceback, no error on stderr.
    assert page.locator(".cell_output .output.traceback").count() == 0, f"{stem}: a traceback"
    for text in page.locator(".cell_output .output.stderr").all_inner_texts():
        assert not re.search(r"Traceback|Error\b|Exception", text), f"{stem}: stderr {text!r}"

    # No skipped demo, except a network demo saying so in one line.
    for text in page.locator(".cell_output").all_inner_texts():
        for line in text.splitlines():
            if SKIPPED.search(line):
                assert NETWORK.search(line), f"{stem}: a demo was skipped: {line!r}"
                assert len(text.strip().splitlines()) == 1, f"{stem}: skip note over lines"

    # Colab and download links to the notebook's own path.
    colab = page.locator("a.fcn-colab").get_attribute("href")
    assert colab.startswith("https://colab.research.google.com/github/")
    assert colab.endswith(f"/blob/main/notebooks/{stem}.ipynb")
    download = urljoin(page.url, page.locator("a.fcn-download").get_attribute("href"))
    assert urlparse(download).path.endswith(f"/notebooks/{stem}.ipynb")
    response = page.request.get(download)
    assert response.ok, f"{download}: HTTP {response.status}"
    assert response.json() == json.loads(notebook.read_text())  # the learner's notebook

    # Animations play: a video has frames, matplotlib's player steps to the next frame.
    for video in page.locator(".cell_output video").all():
        video.evaluate("v => v.play()")
        page.wait_for_function(
            "v => v.readyState >= 2 && v.currentTime > 0", arg=video.element_handle()
        )
    for player in page.locator(".cell_output .animation").all():
        frame = player.locator("img").first
        before = frame.get_attribute("src")
        player.locator("button[title='Next frame']").click()
        page.wait_for_function(
            "([img, old]) => img.getAttribute('src') !== old && img.naturalWidth > 0",
            arg=[frame.element_handle(), before],
        )

    # Where the outputs come from.
    assert re.search(r"seed \d+", page.locator(".fcn-provenance").inner_text())


def test_site_navigation_figures_links_and_search(site_url, page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(site_url)
    assert page.locator("article h1").first.inner_text().startswith("Fully Convolutional")
    assert "seed" in page.locator("#about-this-website").inner_text()

    for notebook in NOTEBOOKS:
        page.locator("a.right-next").first.click()
        page.wait_for_load_state("load")
        try:
            _check_notebook_page(page, notebook)
        finally:
            page.screenshot(path=str(SCREENSHOTS / f"{notebook.stem}.png"))

    # The search box finds "atrous" in notebook 05.
    page.locator(".bd-sidebar-primary .search-button-field").first.click()
    box = page.locator("form.bd-search input[name=q]").first
    box.fill("atrous")
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q=atrous"))
    hits = page.locator("#search-results a[href*='05_atrous_deeplab']")
    hits.first.wait_for()
    assert hits.count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "search.png"))
