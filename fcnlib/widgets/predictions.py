"""PredictionExplorer: a model's prediction with test-time augmentation picked by checkboxes."""

from __future__ import annotations

import time
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from .._checks import IGNORE_INDEX
from ..inference import predict
from ..metrics import image_metrics
from ..viz import colorize
from ._base import _blend, _classes_palette, _Explorer, _images, _masks, _to_uint8


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
