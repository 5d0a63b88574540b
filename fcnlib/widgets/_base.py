"""What every explorer shares: a picture redrawn from its controls, checked inputs, colours."""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .._checks import as_cpu_tensor as _as_tensor
from .._checks import check_images, check_masks, check_positive_int

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
        from ..data.shapes import CLASSES, PALETTE

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


def _colour_bar(low: str, high: str, name: str = "viridis", steps: int = 24) -> str:
    """An HTML colour bar of the colour map ``name`` from 0 to 1, labelled ``low`` and ``high``."""
    cells = "".join(
        f'<span style="display:inline-block;width:6px;height:12px;background:rgb({r},{g},{b})">'
        "</span>"
        for r, g, b in (_colormap(np.linspace(0, 1, steps)) * 255 + 0.5).astype(int)
    )
    return f'{low} <span style="vertical-align:middle">{cells}</span> {high}'


class _Explorer(widgets.VBox):
    """Common parts: a picture redrawn from :meth:`_draw`, and the last frame kept for tests."""

    def __init__(self, zoom: int, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(zoom, "zoom")
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
