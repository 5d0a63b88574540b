"""MaskExplorer: images, true masks, predictions, errors and confidence, one image at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np

from .._checks import IGNORE_COLOUR, IGNORE_INDEX
from .._checks import as_cpu_tensor as _as_tensor
from ..metrics import image_metrics
from ..viz import ERROR_COLOUR, colorize
from ._base import (
    _blend,
    _classes_palette,
    _colormap,
    _colour_bar,
    _Explorer,
    _images,
    _masks,
    _swatch,
    _to_uint8,
)


class MaskExplorer(_Explorer):
    """Browse images with their true masks, predictions, errors and confidence.

    Args:
        images: ``B x 3 x H x W`` float in [0, 1] (or a list of ``3 x H x W``).
        targets: ``B x H x W`` true labels (``ignore_index`` allowed).
        predictions: ``B x H x W`` predicted labels, or a dict ``{model name: B x H x W}``
            to compare models (a drop-down picks one).
        classes, palette: class names and ``K x 3`` uint8 colours (default: ShapesScenes').
        probabilities: ``B x K x H x W`` class probabilities (a dict keyed like
            ``predictions``); adds the "confidence" view (the top probability per pixel).
        ignore_index: the label of pixels that are not scored.
        zoom: the picture is drawn ``zoom`` times larger (nearest neighbour).

    Controls (attributes): ``image_slider``, ``alpha_slider``, ``view_buttons`` (image /
    ground truth / prediction / errors / confidence), ``model_dropdown`` (``None`` for one
    model), ``class_checkboxes`` (one per class: draw it or not), and outputs ``picture``
    (``widgets.Image``) and ``info`` (``widgets.HTML`` with the image's metrics).
    """

    def __init__(
        self,
        images,
        targets,
        predictions=None,
        classes: Sequence[str] | None = None,
        palette=None,
        probabilities=None,
        ignore_index: int | None = IGNORE_INDEX,
        zoom: int = 3,
    ):
        super().__init__(zoom)
        self.classes, self.palette = _classes_palette(classes, palette)
        k = len(self.classes)
        self.ignore_index = ignore_index
        self.images = _images(images)
        self.targets = _masks(targets, self.images, k, ignore_index, "targets")
        self.predictions, self.probabilities = self._check_predictions(predictions, probabilities)

        n = len(self.images)
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=n - 1, description="image", continuous_update=True
        )
        self.alpha_slider = widgets.FloatSlider(
            value=0.6, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=True
        )
        views = ["image", "ground truth"]
        if self.predictions:
            views += ["prediction", "errors"]
        if self.probabilities:
            views.append("confidence")
        self.view_buttons = widgets.ToggleButtons(
            options=views, value="ground truth", description="view"
        )
        names = list(self.predictions)
        self.model_dropdown = (
            widgets.Dropdown(options=names, value=names[0], description="model")
            if len(names) > 1
            else None
        )
        self.class_checkboxes = [
            widgets.Checkbox(value=i != 0, description=name, indent=False)
            for i, name in enumerate(self.classes)
        ]
        legend = widgets.VBox(
            [
                widgets.HBox([widgets.HTML(_swatch(self.palette[i])), cb])
                for i, cb in enumerate(self.class_checkboxes)
            ]
        )
        controls = [self.image_slider, self.alpha_slider, self.view_buttons]
        if self.model_dropdown is not None:
            controls.append(self.model_dropdown)
        self._observe(*controls, *self.class_checkboxes)
        self.children = [
            widgets.HBox(
                [self.image_slider, *([self.model_dropdown] if self.model_dropdown else [])]
            ),
            self.view_buttons,
            self.alpha_slider,
            widgets.HBox(
                [
                    self.picture,
                    widgets.VBox([widgets.HTML("<b>classes drawn</b>"), legend, self.info]),
                ]
            ),
        ]
        self.redraw()

    def _check_predictions(self, predictions, probabilities):
        k = len(self.classes)
        if predictions is None and probabilities is not None:
            probs = (
                probabilities
                if isinstance(probabilities, Mapping)
                else {"prediction": probabilities}
            )
            predictions = {
                name: _as_tensor(p, f"probabilities[{name!r}]").argmax(1)
                for name, p in probs.items()
            }
        if predictions is None:
            return {}, {}
        preds = (
            dict(predictions) if isinstance(predictions, Mapping) else {"prediction": predictions}
        )
        if not preds:
            raise ValueError("predictions is an empty dict")
        preds = {
            str(name): _masks(
                p,
                self.images,
                k,
                self.ignore_index,
                f"predictions[{name!r}]" if len(preds) > 1 else "predictions",
            )
            for name, p in preds.items()
        }
        probs = {}
        if probabilities is not None:
            given = (
                probabilities
                if isinstance(probabilities, Mapping)
                else {next(iter(preds)): probabilities}
            )
            for name, p in given.items():
                if str(name) not in preds:
                    raise ValueError(f"probabilities has a model {name!r} that predictions lacks")
                p = _as_tensor(p, "probabilities").float()
                b, _, h, w = self.images.shape
                if (
                    p.dim() != 4
                    or p.shape[0] != b
                    or p.shape[1] != k
                    or tuple(p.shape[-2:]) != (h, w)
                ):
                    raise ValueError(
                        f"probabilities has shape {tuple(p.shape)}: expected {b} x {k} x {h} x {w} (B x K x H x W)"
                    )
                if float(p.min()) < -1e-4 or float(p.max()) > 1 + 1e-4:
                    raise ValueError(
                        "probabilities must lie in [0, 1] (apply softmax to logits first)"
                    )
                probs[str(name)] = p
        return preds, probs

    # -- state
    @property
    def model_name(self) -> str | None:
        if not self.predictions:
            return None
        return (
            self.model_dropdown.value
            if self.model_dropdown is not None
            else next(iter(self.predictions))
        )

    def visible_classes(self) -> list[int]:
        """Indices of the classes whose checkbox is ticked."""
        return [i for i, cb in enumerate(self.class_checkboxes) if cb.value]

    def current_metrics(self) -> dict | None:
        """Metrics of the shown image and model (see :func:`image_metrics`), or ``None``."""
        if not self.predictions:
            return None
        i = self.image_slider.value
        pred = self.predictions[self.model_name][i]
        return image_metrics(pred, self.targets[i], len(self.classes), self.ignore_index)

    # -- drawing
    def _draw(self) -> np.ndarray:
        i, alpha, view = self.image_slider.value, self.alpha_slider.value, self.view_buttons.value
        image = self.images[i].permute(1, 2, 0).numpy()
        target = self.targets[i].numpy()
        visible = np.zeros(len(self.classes), bool)
        visible[self.visible_classes()] = True
        ign = self.ignore_index
        if view == "image":
            frame = _to_uint8(image)
        elif view in ("ground truth", "prediction"):
            m = target if view == "ground truth" else self.predictions[self.model_name][i].numpy()
            colour = (
                colorize(m, self.palette, ign if ign is not None else -1).astype(np.float32) / 255
            )
            ignored = m == ign if ign is not None else np.zeros(m.shape, bool)
            drawn = ignored.copy()  # the ignore band is always shown, in light grey
            drawn[~ignored] = visible[m[~ignored]]
            frame = _blend(image, colour, alpha * drawn)
        elif view == "errors":
            pred = self.predictions[self.model_name][i].numpy()
            scored = target != ign if ign is not None else np.ones_like(target, bool)
            t = np.where(scored, target, 0)
            drawn = scored & (visible[t] | visible[pred])
            colour = np.zeros_like(image)
            colour[(pred != target) & drawn] = ERROR_COLOUR / 255
            if ign is not None:
                colour[~scored] = IGNORE_COLOUR / 255
                drawn |= ~scored
            frame = _blend(image, colour, alpha * drawn)
        elif view == "confidence":
            prob = self.probabilities[self.model_name][i]
            conf = prob.max(0).values.numpy()
            k = len(self.classes)
            scaled = (conf - 1 / k) / (1 - 1 / k) if k > 1 else conf  # 1/K (a guess) .. 1
            pred = self.predictions[self.model_name][i].numpy()
            frame = _blend(image, _colormap(scaled), alpha * visible[pred])
        else:  # pragma: no cover - ToggleButtons only offers the views above
            raise ValueError(f"unknown view {view!r}")
        self.info.value = self._info_html(view)
        return frame

    def _info_html(self, view: str) -> str:
        i = self.image_slider.value
        rows = [f"<b>image {i}</b> of {len(self.images)}"]
        m = self.current_metrics()
        if m is not None:
            rows.append(f"model: {self.model_name}")
            rows.append(f"pixel accuracy: {m['pixel_accuracy']:.3f}")
            cells = "".join(
                f"<tr><td>{_swatch(self.palette[c])} {self.classes[c]}</td><td>{v:.3f}</td></tr>"
                for c, v in m["iou"].items()
            )
            rows.append(f"<table><tr><th>class</th><th>IoU</th></tr>{cells}</table>")
            if m["iou"]:
                rows.append(f"mean IoU (these classes): {np.mean(list(m['iou'].values())):.3f}")
        if view == "errors":
            rows.append(
                f"{_swatch(ERROR_COLOUR)} wrong pixel &nbsp; {_swatch(IGNORE_COLOUR)} ignored"
            )
        if view == "confidence":
            rows.append("top class probability: dark = 1/K (a guess), bright = 1")
            rows.append(_colour_bar("1/K", "1"))
            name = self.model_name
            conf = self.probabilities[name][i].max(0).values
            ok = self.predictions[name][i] == self.targets[i]
            scored = self.targets[i] != self.ignore_index
            for label, sel in (("correct", ok & scored), ("wrong", ~ok & scored)):
                if sel.any():
                    rows.append(f"mean confidence on {label} pixels: {float(conf[sel].mean()):.3f}")
        return "<br>".join(rows)
