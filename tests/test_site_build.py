"""The pieces of ``docs/build_site.py`` that need no Sphinx: widget stills, links, the address.

The built site itself is checked in a browser by ``test_site.py``.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import build_site  # noqa: E402
import widget_stills  # noqa: E402

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n-not-a-real-picture").decode()


def _model(name: str, **state) -> dict:
    return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}


def _state() -> dict:
    """An explorer (slider, check box, picture, read-out) and a finished progress bar."""
    return {
        "lay": _model("LayoutModel", width="96px", height="96px"),
        "img": {
            **_model("ImageModel", format="png", layout="IPY_MODEL_lay"),
            "buffers": [{"data": PNG, "encoding": "base64", "path": ["value"]}],
        },  # fmt: skip
        "slider": _model("IntSliderModel", description="image", value=3),
        "check": _model("CheckboxModel", description="circle", value=True),
        "info": _model("HTMLModel", value="<b>image 3</b> of 12"),
        "explorer": _model(
            "VBoxModel", children=[f"IPY_MODEL_{k}" for k in ("slider", "check", "img", "info")]
        ),
        "left": _model("HTMLModel", value="epoch 2/2: 100%"),
        "bar": _model("FloatProgressModel", value=50.0, max=50.0),
        "right": _model("HTMLModel", value=" 50/50 [00:03&lt;00:00]"),
        "progress": _model(
            "HBoxModel", children=["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]
        ),
    }


def test_explorer_still_has_its_picture_controls_and_the_live_note():
    out = widget_stills.still("explorer", _state())
    body = out["data"]["text/html"]
    assert f"data:image/png;base64,{PNG}" in body
    assert "width:96px;height:96px" in body
    assert "image: 3" in body and "&#9745; circle" in body and "<b>image 3</b> of 12" in body
    assert widget_stills.LIVE_NOTE in body


def test_progress_bar_becomes_one_line_without_the_live_note():
    body = widget_stills.still("progress", _state())["data"]["text/html"]
    assert '<progress value="50" max="50">' in body and "epoch 2/2: 100%" in body
    assert widget_stills.LIVE_NOTE not in body


def test_replace_widgets_drops_closed_widgets_and_the_saved_state():
    nb = nbformat.v4.new_notebook()
    view = widget_stills.WIDGET_VIEW
    outputs = [
        nbformat.v4.new_output("display_data", {view: {"model_id": "explorer"}, "text/plain": "x"}),
        nbformat.v4.new_output("display_data", {view: {"model_id": "closed"}, "text/plain": "y"}),
        nbformat.v4.new_output("stream", name="stdout", text="kept\n"),
    ]
    nb.cells = [nbformat.v4.new_code_cell("explorer", outputs=outputs)]
    nb.metadata["widgets"] = {widget_stills.WIDGET_STATE: {"state": _state()}}
    assert widget_stills.replace_widgets(nb) == 2
    assert [o["output_type"] for o in nb.cells[0].outputs] == ["display_data", "stream"]
    assert list(nb.cells[0].outputs[0]["data"]) == ["text/html"]
    assert "widgets" not in nb.metadata
    nbformat.validate(nb)


def test_links_to_pages_stay_relative_and_others_go_to_github(tmp_path):
    repo = "https://github.com/someone/course"
    text = (
        "[03](03_skip_connections.ipynb) [data](../data/README.md#voc) "
        "[code](../fcnlib/viz.py) [web](https://example.org) [here](#top)"
    )
    source = ROOT / "notebooks" / "04_convolutionalising_resnet.ipynb"
    staged = tmp_path / "notebooks" / source.name
    out = build_site.rewrite_links(text, source, staged, tmp_path, repo)
    assert "[03](03_skip_connections.ipynb)" in out
    assert "[data](../data/README.md#voc)" in out
    assert f"[code]({repo}/blob/main/fcnlib/viz.py)" in out
    assert "[web](https://example.org)" in out and "[here](#top)" in out


def test_readme_links_to_where_the_workflow_publishes_the_site():
    address = build_site.pages_address(build_site.repository())
    assert address in (ROOT / "README.md").read_text()
    workflow = (ROOT / ".github" / "workflows" / "site.yml").read_text()
    assert "make site" in workflow and "path: build/site" in workflow
