"""The MaskExplorer in a real browser: JupyterLab from this environment, headless Chromium.

Starts ``jupyter lab`` on a free port with a random token in a temporary folder holding a
small notebook, opens it in Debian's Chromium through Playwright, runs all cells, checks
that the widget renders, moves the image slider with the keyboard and checks that the
picture changes. A screenshot is saved under the test's temporary folder and copied to
``build/browser/``.

Without ``/usr/bin/chromium`` the test is skipped, unless ``FCNLIB_REQUIRE_BROWSER=1`` (CI),
where it fails. ``make browser-deps`` installs Chromium.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from _browser import chromium_page, require_chromium, unavailable

ROOT = Path(__file__).resolve().parents[1]
TOTAL_S = 85  # the whole test, server start to shutdown excluded
SERVER_START_S = 40  # JupyterLab up and answering
WIDGET_RENDER_S = 50  # page load, kernel start, imports, first cell outputs
STEP_S = 15  # each later browser step

NOTEBOOK_CELLS = [
    "import torch\n"
    "from fcnlib import data, widgets\n"
    "\n"
    'ds = data.ShapesScenes("val", 4, image_size=48)\n'
    "images = torch.stack([ds[i][0] for i in range(4)])\n"
    "targets = torch.stack([ds[i][1] for i in range(4)])",
    "explorer = widgets.MaskExplorer(images, targets, classes=ds.classes, palette=ds.palette)\n"
    "explorer",
]


def _jupyter() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter")
    if not exe.exists():
        exe = ROOT / ".venv" / "bin" / "jupyter"
    if not exe.exists():
        unavailable("jupyter is not installed in this environment")
    return [str(exe)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and its kernels (one process group), politely and then firmly."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # kernels left behind in the group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def browser_deps():
    require_chromium()


@pytest.fixture
def budget():
    """``budget(cap)``: seconds left of the test's ``TOTAL_S`` (at most ``cap``); raises when
    none are left, so no wait can outlast the whole test's budget."""
    end = time.monotonic() + TOTAL_S

    def left(cap: float | None = None) -> float:
        s = end - time.monotonic()
        if s <= 0:
            raise TimeoutError(f"the browser test ran past its budget of {TOTAL_S} s")
        return s if cap is None else min(s, cap)

    return left


@pytest.fixture
def lab(tmp_path, browser_deps, budget):
    """A JupyterLab server in ``tmp_path/root``; yields ``(base_url, token, root)``."""
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "explorer.ipynb")

    # Start the notebook's kernel without asking, and never fetch news (no network).
    settings = tmp_path / "settings" / "@jupyterlab"
    for ext, name, value in [
        ("notebook-extension", "tracker", {"autoStartDefaultKernel": True}),
        ("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
    ]:
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))

    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        *_jupyter(), "lab", "--no-browser", "--allow-root", f"--port={port}",
        "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
    ]  # fmt: skip
    log = open(tmp_path / "jupyter.log", "wb")
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + budget(SERVER_START_S)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {proc.returncode}:\n"
                    + (tmp_path / "jupyter.log").read_text()[-3000:]
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"jupyter lab did not answer within {SERVER_START_S} s:\n"
                    + (tmp_path / "jupyter.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield url, token, root
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def page(browser_deps):
    """A headless Chromium page; browser and driver are closed afterwards whatever happens."""
    with chromium_page(STEP_S * 1000) as pg:
        yield pg


def _save_screenshot(pg, path: Path) -> None:
    pg.screenshot(path=str(path), full_page=True)
    try:
        out = ROOT / "build" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / path.name)
    except OSError:
        pass  # a read-only checkout: the copy under the pytest tmp dir is enough


def test_mask_explorer_renders_and_reacts_in_jupyterlab(lab, page, tmp_path, budget):
    try:
        _drive_mask_explorer(lab, page, tmp_path, budget)
    except Exception:
        _save_screenshot(page, tmp_path / "mask_explorer_failed.png")
        raise


def _drive_mask_explorer(lab, page, tmp_path, budget):
    url, token, _ = lab
    render_end = time.monotonic() + budget(WIDGET_RENDER_S)

    def ms(cap_s: float = STEP_S) -> float:  # a step's timeout, within the whole budget
        return 1000 * budget(cap_s)

    def render_ms() -> float:
        return 1000 * budget(max(render_end - time.monotonic(), 0.5))

    page.goto(
        f"{url}/lab/tree/explorer.ipynb?token={token}",
        wait_until="domcontentloaded",
        timeout=render_ms(),
    )
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=render_ms())
    # Run only once the kernel is up: a "Run All" sent while the session starts is lost.
    page.locator(".jp-StatusBar-Widget", has_text="Idle").first.wait_for(timeout=render_ms())
    page.set_default_timeout(ms())

    # Run > Run All Cells, from the menu bar as a learner would.
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()

    picture = page.locator(".jp-OutputArea-output .widget-image").first
    dialog = page.locator(".jp-Dialog button.jp-mod-accept")  # "Select Kernel", if asked
    while not picture.is_visible():
        if dialog.count() and dialog.first.is_visible():
            dialog.first.click()
        if time.monotonic() > render_end:
            raise TimeoutError(f"the MaskExplorer did not render within {WIDGET_RENDER_S} s")
        page.wait_for_timeout(250)
    page.set_default_timeout(ms())
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
    )
    box = picture.bounding_box()
    natural = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert natural == [144, 144]  # 48 x 48 px drawn 3x larger
    assert abs(box["width"] - 144) <= 1 and abs(box["height"] - 144) <= 1  # not distorted
    info = page.locator(".jp-OutputArea-output .widget-html", has_text="image 0 of 4").first
    info.wait_for()
    assert page.locator(".jp-OutputArea-output .widget-toggle-buttons").count() >= 1
    assert page.locator(".jp-OutputArea-output .widget-checkbox").count() == 6

    before_src = picture.get_attribute("src")
    before_png = picture.screenshot()
    _save_screenshot(page, tmp_path / "mask_explorer_before.png")

    # Move the image slider one step with the keyboard.
    page.set_default_timeout(ms())
    slider = page.locator(".jp-OutputArea-output .widget-slider").first
    handle = slider.locator(".noUi-handle, .ui-slider-handle").first
    handle.focus()
    handle.press("ArrowRight")
    readout = slider.locator(".widget-readout").first
    try:
        page.wait_for_function(
            "el => (el.value !== undefined ? el.value : el.textContent).trim() === '1'",
            arg=readout.element_handle(),
            timeout=ms(5),
        )
    except Exception:  # no keyboard support in this slider: drag the handle instead
        hb, track = handle.bounding_box(), slider.locator(".noUi-target, .ui-slider").first
        tb = track.bounding_box()
        page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
        page.mouse.down()
        page.mouse.move(tb["x"] + tb["width"] * 0.34, hb["y"] + hb["height"] / 2, steps=5)
        page.mouse.up()

    page.set_default_timeout(ms())
    page.locator(".jp-OutputArea-output .widget-html", has_text="image 1 of 4").first.wait_for()
    page.wait_for_function(
        "([img, old]) => img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0",
        arg=[picture.element_handle(), before_src],
    )
    after_png = picture.screenshot()
    assert after_png != before_png, "the picture did not change when the slider moved"
    shot = tmp_path / "mask_explorer.png"
    _save_screenshot(page, shot)
    assert shot.stat().st_size > 10_000
    budget()  # still within the budget
