"""Interactive explorers for notebooks, built from core ipywidgets only.

They work with ipywidgets 7.7 (Colab) and 8.x (JupyterLab 4): each explorer is a
``widgets.VBox`` of sliders, toggle buttons and checkboxes around one ``widgets.Image``,
whose PNG is redrawn (with NumPy and PIL, no pyplot state) whenever a control changes.
Nothing needs a browser: a test sets ``explorer.image_slider.value = 3`` and reads
``explorer.current_image()``, the ``H x W x 3`` uint8 picture that was drawn.

* :class:`MaskExplorer` -- images, true masks, predictions, errors and confidence, per-class
  visibility and per-image metrics.
* :class:`ReceptiveFieldExplorer` -- pick a pixel, see the theoretical receptive field (from
  :func:`fcnlib.analysis.receptive_field`, where it applies) and the effective one (the
  gradient of that pixel's score with respect to the input).
* :class:`DilationPlayground` -- which input positions a stack of dilated 3x3 kernels reads
  (gridding), and the ASPP branches together.
* :class:`PredictionExplorer` -- a model's prediction with multi-scale and flip test-time
  augmentation chosen by checkboxes.

What they compute lives elsewhere: per-image scores in :mod:`fcnlib.metrics`
(``image_metrics``), input gradients and dilated footprints in :mod:`fcnlib.analysis`
(``input_gradient``, ``dilated_footprint``); those names are importable from here too.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence

import cv2
import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from ._checks import IGNORE_COLOUR, IGNORE_INDEX, check_images, check_masks
from ._checks import as_cpu_tensor as _as_tensor
from .analysis import dilated_footprint, input_gradient
from .metrics import image_metrics
from .viz import ERROR_COLOUR, colorize

__all__ = [
    "MaskExplorer",
    "ReceptiveFieldExplorer",
    "DilationPlayground",
    "PredictionExplorer",
    "image_metrics",
    "input_gradient",
    "dilated_footprint",
    "to_png",
]

VIEWS = ("image", "ground truth", "prediction", "errors", "confidence")
MARK_COLOUR = np.array([0, 255, 255], np.uint8)  # receptive-field box and chosen pixel


# ----------------------------------------------------------------------------- helpers
def to_png(rgb: np.ndarray, zoom: int = 1) -> bytes:
    """``H x W x 3`` uint8 -> PNG bytes, enlarged ``zoom`` times with nearest neighbours."""
    if zoom > 1:
        rgb = np.repeat(np.repeat(rgb, zoom, 0), zoom, 1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Float in [0, 1] -> uint8, C-contiguous (OpenCV draws into it in place)."""
    return np.ascontiguousarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8))


def _blend(image: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image`` and ``colour`` ``H x W x 3`` float, ``alpha`` ``H x W`` -> uint8 picture."""
    a = alpha[..., None]
    return _to_uint8(image * (1 - a) + colour * a)


def _colormap(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Values in [0, 1] ``H x W`` -> colours ``H x W x 3`` float, via a matplotlib colour map."""
    from matplotlib import colormaps

    return colormaps[name](np.clip(values, 0, 1))[..., :3].astype(np.float32)


def _check_unit_range(images: torch.Tensor, name: str) -> None:
    lo, hi = float(images.min()), float(images.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"{name} has values in [{lo:.3g}, {hi:.3g}]: expected [0, 1]. "
            "Pass the images before normalisation (or undo it: x * std + mean)."
        )


def _images(images, name: str = "images") -> torch.Tensor:
    """Images ``B x 3 x H x W`` float in [0, 1] (a list of ``3 x H x W`` is stacked)."""
    x = check_images(_as_tensor(images, name), name, channels=3)
    if len(x) == 0:
        raise ValueError(f"{name} is empty")
    _check_unit_range(x, name)
    return x.float()


def _masks(masks, like: torch.Tensor, num_classes: int, ignore_index, name: str):
    """Label masks ``B x H x W`` matching the images ``like`` (``B x 3 x H x W``)."""
    m = _as_tensor(masks, name)
    if m.dim() != 3:
        raise ValueError(f"{name} has shape {tuple(m.shape)}: expected B x H x W label masks")
    b, _, h, w = like.shape
    if len(m) != b:
        raise ValueError(f"{name} holds {len(m)} masks but there are {b} images")
    if tuple(m.shape[-2:]) != (h, w):
        raise ValueError(
            f"{name} masks are {tuple(m.shape[-2:])} but the images are {(h, w)} (H x W)"
        )
    check_masks(m, num_classes, ignore_index, name)
    return m.long()


def _classes_palette(classes, palette, default_k: int | None = None):
    if classes is None and palette is None:
        from .data.shapes import CLASSES, PALETTE

        classes, palette = CLASSES, PALETTE
    if classes is None:
        classes = [f"class {i}" for i in range(len(palette))]
    classes = [str(c) for c in classes]
    if palette is None:
        raise ValueError("palette is required when classes are given (K x 3 uint8 colours)")
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"palette has shape {pal.shape}: expected K x 3 RGB colours")
    if len(pal) < len(classes):
        raise ValueError(f"palette has {len(pal)} colours but there are {len(classes)} classes")
    if pal.min() < 0 or pal.max() > 255:
        raise ValueError("palette colours must be integers in [0, 255]")
    return classes, pal[: len(classes)].astype(np.uint8)


def _swatch(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return (
        f'<span style="display:inline-block;width:14px;height:14px;background:rgb({r},{g},{b});'
        'border:1px solid #444;vertical-align:middle"></span>'
    )


class _Explorer(widgets.VBox):
    """Common parts: a picture redrawn from :meth:`_draw`, and the last frame kept for tests."""

    def __init__(self, zoom: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(zoom, int) or zoom < 1:
            raise ValueError(f"zoom must be a positive integer, got {zoom!r}")
        self.zoom = zoom
        self.picture = widgets.Image(format="png")
        self.info = widgets.HTML()
        self._frame = None

    def _observe(self, *controls) -> None:
        for c in controls:
            c.observe(lambda _change: self.redraw(), names="value")

    def _draw(self) -> np.ndarray:
        raise NotImplementedError

    def redraw(self) -> None:
        """Draw the current state into the picture (controls call this on every change)."""
        self._frame = self._draw()
        self.picture.value = to_png(self._frame, self.zoom)
        h, w = self._frame.shape[:2]
        lay = self.picture.layout  # exact size: never stretched or squeezed by its box
        lay.width, lay.height = f"{w * self.zoom}px", f"{h * self.zoom}px"
        lay.min_width, lay.flex = lay.width, "0 0 auto"

    def current_image(self) -> np.ndarray:
        """The picture drawn for the current control values: ``H x W x 3`` uint8 (before zoom)."""
        return self._frame.copy()


# ----------------------------------------------------------------------------- MaskExplorer
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
            name = self.model_name
            conf = self.probabilities[name][i].max(0).values
            ok = self.predictions[name][i] == self.targets[i]
            scored = self.targets[i] != self.ignore_index
            for label, sel in (("correct", ok & scored), ("wrong", ~ok & scored)):
                if sel.any():
                    rows.append(f"mean confidence on {label} pixels: {float(conf[sel].mean()):.3f}")
        return "<br>".join(rows)


# ----------------------------------------------------------------------------- receptive fields
def _theoretical_rf(model) -> tuple[int | None, str]:
    """``(size in px, note)`` from :func:`fcnlib.analysis.receptive_field`, or ``(None, why)``
    for a model with a layer it has no rule for."""
    from . import analysis

    try:
        return analysis.receptive_field(model).size, "theoretical receptive field from analysis"
    except Exception as e:  # e.g. a non-square layer, an nn.Upsample without scale_factor
        return None, f"theoretical receptive field not available ({type(e).__name__}: {e})"


def _draw_box(frame: np.ndarray, top: int, left: int, bottom: int, right: int, colour) -> None:
    """Outline the inclusive box (may reach outside the frame) in place, 1 px wide."""
    cv2.rectangle(frame, (left, top), (right, bottom), tuple(int(c) for c in colour), 1)


class ReceptiveFieldExplorer(_Explorer):
    """Pick an output pixel; see which input pixels can influence it (theoretical receptive
    field, a cyan square) and which actually do (effective receptive field: the gradient of
    that pixel's winning class score with respect to the input, as a heat map).

    Args:
        model: any fcnlib model (``B x 3 x H x W -> B x K x H x W``).
        image: ``3 x H x W`` float in [0, 1] (normalise inside the model, or pass it as is).
        zoom: picture enlargement.

    Controls: ``row_slider``, ``col_slider``, ``opacity_slider``, ``theoretical_checkbox``,
    ``effective_checkbox``, ``log_checkbox`` (log scale of the gradient).
    """

    def __init__(self, model: torch.nn.Module, image, zoom: int = 3):
        super().__init__(zoom)
        x = _as_tensor(image, "image")
        if x.dim() == 4 and len(x) == 1:
            x = x[0]
        if x.dim() != 3:
            raise ValueError(f"image has shape {tuple(x.shape)}: expected one image 3 x H x W")
        self.image = _images(x[None], "image")[0]
        self.model = model
        h, w = self.image.shape[-2:]
        self.rf_size, rf_note = _theoretical_rf(model)
        self.row_slider = widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="row")
        self.col_slider = widgets.IntSlider(value=w // 2, min=0, max=w - 1, description="column")
        self.opacity_slider = widgets.FloatSlider(
            value=0.7, min=0, max=1, step=0.05, description="opacity"
        )
        self.theoretical_checkbox = widgets.Checkbox(
            value=self.rf_size is not None, description="theoretical RF", indent=False,
            disabled=self.rf_size is None,
        )  # fmt: skip
        self.effective_checkbox = widgets.Checkbox(
            value=True, description="effective RF", indent=False
        )
        self.log_checkbox = widgets.Checkbox(value=False, description="log scale", indent=False)
        self._rf_note = rf_note
        self._cache: dict = {}
        self._observe(
            self.row_slider, self.col_slider, self.opacity_slider,
            self.theoretical_checkbox, self.effective_checkbox, self.log_checkbox,
        )  # fmt: skip
        self.children = [
            widgets.HBox([self.row_slider, self.col_slider]),
            widgets.HBox([self.theoretical_checkbox, self.effective_checkbox, self.log_checkbox]),
            self.opacity_slider,
            widgets.HBox([self.picture, self.info]),
        ]
        self.redraw()

    def effective_rf(self) -> np.ndarray:
        """``H x W`` input-gradient magnitude for the chosen pixel, scaled to max 1."""
        key = (self.row_slider.value, self.col_slider.value)
        if key not in self._cache:
            g = input_gradient(self.model, self.image, *key)
            self._cache[key] = g / g.max() if g.max() > 0 else g
        return self._cache[key]

    def theoretical_box(self) -> tuple[int, int, int, int] | None:
        """``(top, left, bottom, right)`` (inclusive, may exceed the image) or ``None``."""
        if self.rf_size is None:
            return None
        r, c, half = self.row_slider.value, self.col_slider.value, self.rf_size // 2
        return r - half, c - half, r - half + self.rf_size - 1, c - half + self.rf_size - 1

    @staticmethod
    def extent(erf: np.ndarray, row: int, col: int, mass: float = 0.9) -> int:
        """Side of the smallest square centred on ``(row, col)`` that holds ``mass`` of ``erf``."""
        h, w = erf.shape
        total = erf.sum()
        if total <= 0:
            return 0
        for half in range(max(h, w)):
            win = erf[max(row - half, 0) : row + half + 1, max(col - half, 0) : col + half + 1]
            if win.sum() >= mass * total:
                return 2 * half + 1
        return 2 * max(h, w) - 1

    def _draw(self) -> np.ndarray:
        image = self.image.permute(1, 2, 0).numpy()
        row, col = self.row_slider.value, self.col_slider.value
        lines = [f"pixel (row {row}, column {col})"]
        if self.effective_checkbox.value:
            erf = self.effective_rf()
            shown = np.log10(erf + 1e-4) / 4 + 1 if self.log_checkbox.value else erf
            frame = _blend(
                image, _colormap(shown, "magma"), self.opacity_slider.value * np.ones(erf.shape)
            )
            lines.append(
                f"effective RF: 90% of the gradient within {self.extent(erf, row, col)} x {self.extent(erf, row, col)} px"
            )
        else:
            frame = _to_uint8(image)
        box = self.theoretical_box()
        if box is not None:
            wider = " (wider than the image)" if self.rf_size > max(image.shape[:2]) else ""
            lines.append(f"theoretical RF: {self.rf_size} x {self.rf_size} px{wider}")
        else:
            lines.append(self._rf_note)
        if box is not None and self.theoretical_checkbox.value:
            _draw_box(frame, *box, MARK_COLOUR)
        frame[row, col] = MARK_COLOUR
        self.info.value = "<br>".join(lines)
        return frame


# ----------------------------------------------------------------------------- dilation
ASPP_COLOURS = {1: (40, 40, 40), 6: (230, 25, 75), 12: (60, 180, 75), 18: (0, 130, 200)}


class DilationPlayground(_Explorer):
    """Which input positions do dilated 3x3 convolutions read?

    View "stacked": ``layers`` 3x3 convolutions of the same ``rate``; shading counts the
    paths to each input position, white cells are never read (gridding for ``rate > 1``).
    View "ASPP": DeepLab's parallel branches (1x1 and 3x3 at rates 6, 12, 18) in one picture.

    Controls: ``view_buttons``, ``rate_slider``, ``layers_slider``.
    """

    def __init__(
        self, max_rate: int = 8, max_layers: int = 3, aspp_rates=(6, 12, 18), zoom: int = 7
    ):
        super().__init__(zoom)
        self.aspp_rates = tuple(int(r) for r in aspp_rates)
        self.size = 2 * max(max_rate * max_layers, *self.aspp_rates) + 5
        self.view_buttons = widgets.ToggleButtons(
            options=["stacked", "ASPP"], value="stacked", description="view"
        )
        self.rate_slider = widgets.IntSlider(value=2, min=1, max=max_rate, description="rate")
        self.layers_slider = widgets.IntSlider(value=1, min=1, max=max_layers, description="layers")
        self._observe(self.view_buttons, self.rate_slider, self.layers_slider)
        self.children = [
            self.view_buttons,
            widgets.HBox([self.rate_slider, self.layers_slider]),
            widgets.HBox([self.picture, self.info]),
        ]
        self.redraw()

    def footprint(self) -> np.ndarray:
        """``size x size`` ints: path counts ("stacked") or the branch rate reading each
        position ("ASPP": 1 marks the centre, which the 1x1 branch and every 3x3 branch read)."""
        if self.view_buttons.value == "stacked":
            return dilated_footprint(self.rate_slider.value, self.layers_slider.value, self.size)
        out = np.zeros((self.size, self.size), np.int64)
        for r in self.aspp_rates:
            fp = dilated_footprint(r, 1, self.size)
            out[fp > 0] = np.maximum(out[fp > 0], r)
        c = self.size // 2
        out[c, c] = 1  # the 1x1 branch, and the centre tap every branch shares
        return out

    def _draw(self) -> np.ndarray:
        fp = self.footprint()
        c = self.size // 2
        frame = np.full((self.size, self.size, 3), 255, np.uint8)
        frame[::2, ::2] = frame[1::2, 1::2] = 244  # faint checkerboard: one cell = one input pixel
        if self.view_buttons.value == "stacked":
            rate, layers = self.rate_slider.value, self.layers_slider.value
            read = fp > 0
            shade = fp / fp.max()
            frame[read] = _to_uint8(_colormap(0.35 + 0.65 * shade[read], "Blues"))
            side = 2 * rate * layers + 1
            lo, hi = c - rate * layers - 1, c + rate * layers + 1  # just outside the field
            _draw_box(frame, lo, lo, hi, hi, (255, 140, 0))
            frac = read.sum() / side**2
            self.info.value = (
                f"{layers} layer(s) of 3x3, rate {rate}<br>receptive field: {side} x {side} px<br>"
                f"positions read: {int(read.sum())} of {side * side} ({100 * frac:.0f}%)<br>"
                + (
                    "every position inside is read"
                    if frac == 1
                    else "white holes: never read (gridding)"
                )
            )
        else:
            for r in sorted(set(fp[fp > 0].tolist())):
                frame[fp == r] = ASPP_COLOURS.get(r, (120, 120, 120))
            rates = ", ".join(str(r) for r in self.aspp_rates)
            legend = " ".join(
                f"{_swatch(ASPP_COLOURS.get(r, (120, 120, 120)))} {'1x1' if r == 1 else f'rate {r}'}"
                for r in (1, *self.aspp_rates)
            )
            side = 2 * max(self.aspp_rates) + 1
            self.info.value = (
                f"ASPP branches: 1x1 and 3x3 at rates {rates}, side by side<br>{legend}<br>"
                f"together they span {side} x {side} feature-map cells<br>"
                f"from {int((fp > 0).sum())} positions; the image-pooling branch sees everything"
            )
        frame[c, c] = (255, 0, 0)
        return frame


# ----------------------------------------------------------------------------- predictions
class PredictionExplorer(_Explorer):
    """Run a model on one image at a time with test-time augmentation picked by checkboxes.

    Shows image | prediction (| truth when ``targets`` are given) side by side, and how many
    pixels the chosen augmentation changed compared with a plain single-scale prediction.

    Args:
        model: an fcnlib model; images: ``B x 3 x H x W`` float in [0, 1];
        classes, palette: as in :class:`MaskExplorer`; targets: optional ``B x H x W``.
        scale_options: the scales offered as checkboxes (1.0 starts ticked).

    Controls: ``image_slider``, ``scale_checkboxes`` (dict scale -> Checkbox),
    ``flip_checkbox``, ``alpha_slider``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        images,
        classes: Sequence[str] | None = None,
        palette=None,
        targets=None,
        scale_options: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5),
        ignore_index: int | None = IGNORE_INDEX,
        zoom: int = 2,
    ):
        super().__init__(zoom)
        self.classes, self.palette = _classes_palette(classes, palette)
        self.model = model
        self.ignore_index = ignore_index
        self.images = _images(images)
        k = len(self.classes)
        mk = getattr(model, "num_classes", None)
        if mk is not None and mk != k:
            raise ValueError(f"the model predicts {mk} classes but {k} classes were given")
        self.targets = (
            None if targets is None else _masks(targets, self.images, k, ignore_index, "targets")
        )
        if not scale_options or any(float(s) <= 0 for s in scale_options):
            raise ValueError(f"scale_options must be positive numbers, got {scale_options!r}")
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=len(self.images) - 1, description="image"
        )
        self.scale_checkboxes = {
            float(s): widgets.Checkbox(
                value=float(s) == 1.0, description=f"x{float(s):g}", indent=False
            )
            for s in scale_options
        }
        if not any(cb.value for cb in self.scale_checkboxes.values()):
            next(iter(self.scale_checkboxes.values())).value = True
        self.flip_checkbox = widgets.Checkbox(value=False, description="flip", indent=False)
        self.alpha_slider = widgets.FloatSlider(
            value=0.6, min=0, max=1, step=0.05, description="opacity"
        )
        self._cache: dict = {}
        self._observe(
            self.image_slider,
            self.flip_checkbox,
            self.alpha_slider,
            *self.scale_checkboxes.values(),
        )
        self.children = [
            self.image_slider,
            widgets.HBox(
                [widgets.HTML("scales:"), *self.scale_checkboxes.values(), self.flip_checkbox]
            ),
            self.alpha_slider,
            widgets.HTML(
                "image &nbsp;|&nbsp; prediction"
                + (" &nbsp;|&nbsp; truth" if self.targets is not None else "")
            ),
            self.picture,
            self.info,
        ]
        self.redraw()

    def scales(self) -> tuple[float, ...]:
        """The ticked scales (``(1.0,)`` when none is ticked)."""
        return tuple(s for s, cb in self.scale_checkboxes.items() if cb.value) or (1.0,)

    def _predict(self, i: int, scales, flip: bool) -> tuple[torch.Tensor, float]:
        from .inference import predict

        key = (i, scales, flip)
        if key not in self._cache:
            t0 = time.perf_counter()
            pred = predict(self.model, self.images[i : i + 1], scales=scales, flip=flip)[0].cpu()
            self._cache[key] = (pred, time.perf_counter() - t0)
        return self._cache[key]

    def current_prediction(self) -> torch.Tensor:
        """``H x W`` labels predicted with the ticked scales and flip option."""
        return self._predict(self.image_slider.value, self.scales(), self.flip_checkbox.value)[0]

    def _draw(self) -> np.ndarray:
        i, alpha = self.image_slider.value, self.alpha_slider.value
        scales, flip = self.scales(), self.flip_checkbox.value
        image = self.images[i].permute(1, 2, 0).numpy()
        pred, seconds = self._predict(i, scales, flip)
        plain = self._predict(i, (1.0,), False)[0]

        def over(m):
            m = m.numpy()
            colour = colorize(
                m, self.palette, self.ignore_index if self.ignore_index is not None else -1
            )
            return _blend(image, colour.astype(np.float32) / 255, alpha * (m != 0))

        panels = [_to_uint8(image), over(pred)]
        if self.targets is not None:
            panels.append(over(self.targets[i]))
        gap = np.full((image.shape[0], 2, 3), 255, np.uint8)
        frame = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
        changed = int((pred != plain).sum())
        lines = [
            f"scales {', '.join(f'{s:g}' for s in scales)}{' + flip' if flip else ''}: "
            f"{len(scales) * (2 if flip else 1)} forward pass(es), {1000 * seconds:.0f} ms",
            f"pixels changed vs. plain single-scale: {changed} ({100 * changed / pred.numel():.1f}%)",
        ]
        if self.targets is not None:
            m = image_metrics(pred, self.targets[i], len(self.classes), self.ignore_index)
            p0 = image_metrics(plain, self.targets[i], len(self.classes), self.ignore_index)
            lines.append(
                f"pixel accuracy: {m['pixel_accuracy']:.3f} (plain: {p0['pixel_accuracy']:.3f})"
            )
        self.info.value = "<br>".join(lines)
        return frame
