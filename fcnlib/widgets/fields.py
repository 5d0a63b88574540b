"""Receptive fields and dilation: ReceptiveFieldExplorer and DilationPlayground."""

from __future__ import annotations

import cv2
import ipywidgets as widgets
import numpy as np
import torch

from .._checks import as_cpu_tensor as _as_tensor
from ..analysis import dilated_footprint, input_gradient
from ._base import MARK_COLOUR, _blend, _colormap, _Explorer, _images, _swatch, _to_uint8


def _theoretical_rf(model) -> tuple[int | None, str]:
    """``(size in px, note)`` from :func:`fcnlib.analysis.receptive_field`, or ``(None, why)``
    for a model with a layer it has no rule for."""
    from .. import analysis

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
