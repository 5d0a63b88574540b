"""Generated video of the built-in shapes: a fixed camera, objects moving over its view.

:func:`make_clip` renders a :class:`Clip` with :mod:`fcnlib.data.shapes`: every frame's true
mask and the clean background are known, so each step of the video pipeline
(:mod:`fcnlib.video`) can be measured, not only looked at. :class:`CameraScenes` is the
matching training set: still scenes of random objects pasted on one camera's empty view
(the "copy-paste" augmentation on a background plate that fixed cameras allow).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import check_positive_int, check_size, class_ids, to_uint8_frame
from .shapes import CLASSES, PALETTE, random_background, random_object, render

__all__ = ["CameraScenes", "Clip", "make_clip"]


@dataclass
class Clip:
    """A generated clip: moving shapes over a static background, with everything known."""

    frames: np.ndarray  # T x H x W x 3 uint8 RGB
    masks: np.ndarray  # T x H x W int64 labels (ShapesScenes classes)
    background: np.ndarray  # H x W x 3 uint8: the clean background (no objects, no noise)
    fps: float
    objects: list  # the ShapeObjects at frame 0
    classes: list = dataclasses.field(default_factory=lambda: list(CLASSES))
    palette: np.ndarray = dataclasses.field(default_factory=lambda: PALETTE.copy())

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        t, h, w, _ = self.frames.shape
        names = [self.classes[o.label] for o in self.objects]
        return f"Clip({t} frames {w}x{h} at {self.fps:g} fps, objects={names})"


def _bounce(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Positions ``x`` folded into ``[lo, hi]`` as if bouncing off its ends."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def make_clip(
    num_frames: int = 32,
    image_size: int | tuple[int, int] = 96,
    labels: Sequence | None = None,
    num_objects: int = 3,
    object_size: tuple[float, float] = (0.1, 0.25),
    travel: float = 1.0,
    noise: float = 0.02,
    fps: float = 12.0,
    seed: int = 0,
    background: np.ndarray | None = None,
) -> Clip:
    """Shapes from :mod:`fcnlib.data.shapes` moving (and slowly turning) over a static background.

    ``labels`` fixes the objects' classes (names or indices, e.g. ``["circle", "square"]``),
    otherwise ``num_objects`` random ones. Each object travels about ``travel`` times the
    image side over the clip, bouncing off the borders. ``background`` (``H x W x 3``, uint8
    or float in [0, 1]) reuses a given view, e.g. another clip's, instead of drawing one.
    Returns a :class:`Clip` with frames ``T x H x W x 3`` uint8, true masks ``T x H x W`` and
    the clean background ``H x W x 3``.
    """
    check_positive_int(num_frames, "num_frames")
    if background is not None:
        background = to_uint8_frame(background, 0).astype(np.float32) / 255
        image_size = background.shape[:2]
    h, w = check_size(image_size, "image_size")
    if min(h, w) < 16:
        raise ValueError(f"image_size must be at least 16 px, got {image_size}")
    rng = np.random.default_rng([seed, 7])
    if labels is None:
        labels = rng.integers(1, len(CLASSES), num_objects).tolist()
    class_ids(labels, CLASSES, len(CLASSES), "labels")  # checks names and indices
    ids = [CLASSES.index(c) if isinstance(c, str) else int(c) for c in labels]
    if 0 in ids:
        raise ValueError("labels: 'background' (0) is not an object class")
    if background is None:
        background = random_background(rng, h, w)
    objects = [random_object(rng, h, w, c, *object_size, background=background) for c in ids]
    objects.sort(key=lambda o: -o.size)  # large behind small
    side = min(h, w)
    t = np.arange(num_frames, dtype=np.float64)
    paths = []
    for o in objects:
        theta = rng.uniform(0, 2 * math.pi)
        speed = travel * side / max(num_frames, 1) * rng.uniform(0.7, 1.3)
        spin = rng.uniform(-0.05, 0.05)
        cy = _bounce(o.cy + speed * math.sin(theta) * t, 0.1 * h, 0.9 * h)
        cx = _bounce(o.cx + speed * math.cos(theta) * t, 0.1 * w, 0.9 * w)
        paths.append((cy, cx, o.angle + spin * t))
    frames, masks = [], []
    for i in range(num_frames):
        moved = [
            dataclasses.replace(o, cy=float(cy[i]), cx=float(cx[i]), angle=float(a[i]))
            for o, (cy, cx, a) in zip(objects, paths)
        ]
        img, mask, _ = render(background, moved, rng, noise)
        frames.append((img * 255).round().astype(np.uint8))
        masks.append(mask)
    bg = (np.clip(background, 0, 1) * 255).round().astype(np.uint8)
    return Clip(np.stack(frames), np.stack(masks), bg, float(fps), objects)


class CameraScenes(Dataset):
    """Training scenes for one fixed camera: 1-3 objects of ``labels`` pasted on its empty view.

    ``empty_view`` is ``H x W x 3`` (uint8, or float in [0, 1]), e.g. ``clip.background``
    resized to the training size; ``labels`` are class names or indices of
    :data:`~fcnlib.data.shapes.CLASSES`. Item ``i`` (drawn from ``(seed, i)``) is an image
    ``3 x H x W`` float in [0, 1] and its mask ``H x W`` long, as :class:`ShapesScenes` gives.
    """

    classes, palette, num_classes = list(CLASSES), PALETTE, len(CLASSES)

    def __init__(
        self,
        empty_view,
        size: int,
        labels: Sequence,
        seed: int = 0,
        object_size: tuple[float, float] = (0.1, 0.25),
        noise: float = 0.02,
    ):
        check_positive_int(size, "size", " (number of scenes)")
        self.view = to_uint8_frame(empty_view, 0).astype(np.float32) / 255
        self.labels = class_ids(list(labels), CLASSES, len(CLASSES), "labels")
        if not self.labels or 0 in self.labels:
            raise ValueError("labels: give one or more object classes ('background' is not one)")
        self.size, self.seed, self.object_size, self.noise = size, seed, object_size, noise

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} is outside the {self.size} scenes")
        rng = np.random.default_rng([self.seed, index])
        h, w = self.view.shape[:2]
        n = int(rng.integers(1, 4))
        objects = [
            random_object(
                rng, h, w, int(rng.choice(self.labels)), *self.object_size, background=self.view
            )
            for _ in range(n)
        ]
        objects.sort(key=lambda o: -o.size)  # large behind small
        image, mask, _ = render(self.view, objects, rng, self.noise)
        return torch.from_numpy(image.transpose(2, 0, 1).copy()), torch.from_numpy(mask)

    def __repr__(self) -> str:
        h, w = self.view.shape[:2]
        names = [CLASSES[c] for c in self.labels]
        return f"CameraScenes({self.size} scenes {w}x{h}, objects={names}, seed={self.seed})"
