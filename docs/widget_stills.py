"""Still pictures of the ipywidgets in an executed notebook, for the static website.

An executed notebook keeps each widget as a reference (``application/vnd.jupyter.widget-view
+json``, a model id) and the last state of every model in ``metadata.widgets``: the PNG that an
explorer's ``widgets.Image`` showed, its HTML read-outs, the values of its sliders and check
boxes, the text of a progress bar. :func:`replace_widgets` turns each reference into plain
HTML drawn from that state, so the page needs no widget JavaScript: the picture as the run
left it, the controls as read-only labels, and a line saying the widget is live in Jupyter or
Colab. Progress bars become one line of text with a ``<progress>`` bar.
"""

from __future__ import annotations

import html

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
LIVE_NOTE = (
    "Interactive in Jupyter or Colab: here, a still picture of the widget as the run left it. "
    "Open the notebook to move its controls."
)

_CONTROLS = {
    "IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
    "FloatRangeSliderModel", "SelectionSliderModel", "SelectionRangeSliderModel",
    "DropdownModel", "RadioButtonsModel", "SelectModel", "ToggleButtonsModel",
    "CheckboxModel", "ToggleButtonModel", "ButtonModel", "TextModel", "IntTextModel",
    "FloatTextModel", "BoundedIntTextModel", "BoundedFloatTextModel", "PlayModel",
}  # fmt: skip
_BOXES = {"VBoxModel": "fcn-col", "HBoxModel": "fcn-row", "BoxModel": "fcn-col",
          "GridBoxModel": "fcn-row"}  # fmt: skip


def _ref(value) -> str | None:
    if isinstance(value, str) and value.startswith("IPY_MODEL_"):
        return value[len("IPY_MODEL_") :]
    return None


class _Renderer:
    def __init__(self, state: dict):
        self.state = state
        self.interactive = False

    def model(self, model_id):
        return self.state.get(model_id) if model_id else None

    def children(self, s: dict) -> list[dict]:
        found = (self.model(_ref(c)) for c in s.get("children", []))
        return [m for m in found if m is not None]

    def layout(self, s: dict) -> dict:
        m = self.model(_ref(s.get("layout")))
        return m["state"] if m else {}

    def render(self, m: dict) -> str:
        name, s = m["model_name"], m["state"]
        if name in _CONTROLS:
            self.interactive = True
            return f'<span class="fcn-control">{self.control(name, s)}</span>'
        if name == "HBoxModel" and self.is_progress_bar(s):
            return self.progress_bar(s)
        if name in _BOXES:
            inner = "".join(self.render(c) for c in self.children(s))
            return f'<div class="{_BOXES[name]}">{inner}</div>'
        if name == "ImageModel":
            return self.image(m)
        if name in ("HTMLModel", "HTMLMathModel"):
            return f"<div>{s.get('value', '')}</div>"
        if name == "LabelModel":
            return f"<div>{html.escape(str(s.get('value', '')))}</div>"
        if name in ("FloatProgressModel", "IntProgressModel"):
            return f'<progress value="{s.get("value", 0)}" max="{s.get("max", 100)}"></progress>'
        if name == "OutputModel":
            return "".join(_output_html(o) for o in s.get("outputs", []))
        return ""

    def control(self, name: str, s: dict) -> str:
        label = html.escape(str(s.get("description", "")))
        if name in ("CheckboxModel", "ToggleButtonModel"):
            return ("&#9745; " if s.get("value") else "&#9744; ") + label
        if name == "ButtonModel":
            return f"[{label}]"
        if "_options_labels" in s:
            labels = s["_options_labels"]
            index = s.get("index")
            picked = (
                [labels[i] for i in index if i is not None and i < len(labels)]
                if isinstance(index, list)
                else [labels[index]]
                if isinstance(index, int) and index < len(labels)
                else []
            )
            value = " to ".join(html.escape(str(p)) for p in picked)
        else:
            value = s.get("value", "")
            value = " to ".join(map(str, value)) if isinstance(value, list) else str(value)
            value = html.escape(value)
        return f"{label}: {value}" if label else value

    def is_progress_bar(self, s: dict) -> bool:
        kinds = [c["model_name"] for c in self.children(s)]
        return kinds == ["HTMLModel", "FloatProgressModel", "HTMLModel"]

    def progress_bar(self, s: dict) -> str:
        left, bar, right = (c["state"] for c in self.children(s))
        value, top = float(bar.get("value", 0)), float(bar.get("max", 100) or 100)
        return (
            f'<div class="fcn-progress">{left.get("value", "")} '
            f'<progress value="{value:g}" max="{top:g}"></progress> {right.get("value", "")}</div>'
        )

    def image(self, m: dict) -> str:
        s = m["state"]
        data = next(
            (b["data"] for b in m.get("buffers", []) if b.get("path") == ["value"]),
            s.get("value") if isinstance(s.get("value"), str) else None,
        )
        if not data:
            return ""
        lay = self.layout(s)
        size = "".join(f"{k}:{lay[k]};" for k in ("width", "height") if isinstance(lay.get(k), str))
        style = f' style="{size}"' if size else ""
        fmt = html.escape(str(s.get("format", "png")))
        return (
            f'<img alt="still picture of the widget" src="data:image/{fmt};base64,{data}"{style}>'
        )


def _output_html(output: dict) -> str:
    """An ``Output`` widget's captured outputs: pictures and text."""
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(output.get('text', ''))}</pre>"
    data = output.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img alt="" src="data:{mime};base64,{data[mime].strip()}">'
    if "text/html" in data:
        return data["text/html"]
    if "text/plain" in data:
        return f"<pre>{html.escape(data['text/plain'])}</pre>"
    return ""


def still(model_id: str, state: dict) -> dict | None:
    """The ``display_data`` output that stands for widget ``model_id``; None when the model is
    gone from ``state`` (the widget was closed, as a finished ``leave=False`` bar is)."""
    root = state.get(model_id)
    if root is None:
        return None
    renderer = _Renderer(state)
    body = renderer.render(root)
    if not body:
        return None
    if renderer.interactive:
        body = (
            f'<div class="fcn-widget">{body}'
            f'<div class="fcn-widget-note">{html.escape(LIVE_NOTE)}</div></div>'
        )
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": body}}


def replace_widgets(nb) -> int:
    """Replace every widget output of notebook ``nb`` (nbformat v4, changed in place) by its
    still (see :func:`still`), drop the saved widget state; returns how many were replaced."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            replaced += 1
            new = still(view.get("model_id"), state)
            if new is not None:
                outputs.append(new)
        cell.outputs = outputs
    nb.metadata.pop("widgets", None)
    return replaced
