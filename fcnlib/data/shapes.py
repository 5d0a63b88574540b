"""``ShapesScenes``: a synthetic segmentation data set, generated on the fly.

Every scene is drawn from ``(seed, split, index)``, so nothing is downloaded and every run
is reproducible. It is built so that each architectural idea of the course makes a large,
measurable difference, and so that nothing in it is hard without teaching something:

* the **class is the shape** (circle, square, triangle, star, bar); objects and background
  draw their colours from one distribution shared by all classes, so a pixel cannot be
  classified from its own colour. The one rule, the same for every class, is that an object
  contrasts with the background under it;
* objects range from about 15 px across (at 64 px) to most of the image, with sizes drawn as
  the radius of a disc of equal area, so every class covers about as many pixels; the
  interior of a large object is far from any edge, so a small receptive field cannot see
  what it belongs to;
* bars are thin and stars have spiky outlines, so coarse upsampling visibly loses them;
* one or two objects per scene (they may occlude each other), on a smoothly shaded,
  sometimes faintly striped background, with mild sensor noise; no unlabelled look-alikes;
* optionally, a VOC-style ignore band (label 255) around object outlines.

Items are ``(image, mask)``: ``image`` a float tensor ``3 x H x W`` in ``[0, 1]``, ``mask`` a
long tensor ``H x W`` with values in ``[0, 5]`` (or 255 in the ignore band).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import IGNORE_INDEX, check_positive_int, check_size

CLASSES = ["background", "circle", "square", "triangle", "star", "bar"]
PALETTE = np.array(
    [
        [0, 0, 0],  # background
        [230, 25, 75],  # circle: red
        [60, 180, 75],  # square: green
        [255, 225, 25],  # triangle: yellow
        [0, 130, 200],  # star: blue
        [245, 130, 48],  # bar: orange
    ],
    dtype=np.uint8,
)
SPLITS = {"train": 0, "val": 1, "test": 2}


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """One RGB colour in [0, 1], from the distribution shared by every class and the background."""
    h = rng.random()
    s = rng.uniform(0.15, 1.0)
    v = rng.uniform(0.2, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


@lru_cache(maxsize=32)
def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Bilinear interpolation as a matrix ``n_out x n_in`` (for smooth random fields)."""
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.floor(pos).astype(int).clip(0, n_in - 2)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), lo] = 1 - frac
    m[np.arange(n_out), lo + 1] = frac
    return m


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy + 0.5, xx + 0.5


def _smooth_field(rng, h, w, cells, channels):
    """A smooth random field ``h x w x channels`` in [0, 1] from a ``cells x cells`` grid."""
    coarse = rng.random((cells, cells, channels), dtype=np.float32)
    my, mx = _interp_matrix(h, cells), _interp_matrix(w, cells)
    return np.einsum("hi,ijc,wj->hwc", my, coarse, mx, optimize=True)


def random_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured background ``h x w x 3`` float32 in [0, 1] (label 0 everywhere).

    A smooth blend of two colours from :func:`random_colour`, and in half the scenes faint
    stripes. Nothing on it looks like an object: every hard-edged shape in a scene is labelled.
    """
    c1, c2 = random_colour(rng), random_colour(rng)
    t = _smooth_field(rng, h, w, int(rng.integers(2, 5)), 1)
    img = c1 * (1 - t) + c2 * t
    if rng.random() < 0.5:
        yy, xx = _grid(h, w)
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(6, 16) * max(h, w) / 96.0
        stripes = np.sin((xx * math.cos(theta) + yy * math.sin(theta)) * 2 * math.pi / period)
        img = img + 0.04 * stripes[..., None]
    return img.astype(np.float32)


def contrasting_colour(
    rng: np.random.Generator, against: np.ndarray, min_distance: float = 0.3, tries: int = 50
) -> np.ndarray:
    """A colour from :func:`random_colour` at least ``min_distance`` (RGB, Euclidean) from
    ``against``, so an object stands out from what lies under it.

    The rule is the same for every class, so colour still says nothing about the class. After
    ``tries`` draws without success, the most distinct colour drawn is returned.
    """
    best, best_distance = None, -1.0
    for _ in range(tries):
        c = random_colour(rng)
        distance = float(np.linalg.norm(c - against))
        if distance >= min_distance:
            return c
        if distance > best_distance:
            best, best_distance = c, distance
    return best  # the most distinct of the colours drawn


# circumradius of a shape whose area is that of the unit disc (stars: 5 points, inner 0.46)
AREA_TO_CIRCUMRADIUS = {
    "circle": 1.0,
    "square": math.sqrt(math.pi / 2),
    "triangle": math.sqrt(math.pi / (3 * math.sqrt(3) / 4)),
    "star": math.sqrt(math.pi / (5 * 0.46 * math.sin(math.pi / 5))),
}


@dataclass
class ShapeObject:
    """One object: its class (``label``), centre, size (circumradius in px), angle and look."""

    label: int
    cy: float
    cx: float
    size: float
    angle: float
    colour: np.ndarray
    colour2: np.ndarray
    texture: str
    texture_period: float
    points: int = 5  # star points
    inner: float = 0.45  # star inner radius ratio
    width: float = 2.0  # bar width in px
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return CLASSES[self.label]

    def rasterize(self, h: int, w: int) -> np.ndarray:
        """Boolean mask ``h x w`` of the pixels this object covers (centres inside the shape)."""
        yy, xx = _grid(h, w)
        dy, dx = yy - self.cy, xx - self.cx
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        u = dx * ca + dy * sa  # rotated coordinates
        v = -dx * sa + dy * ca
        r = self.size
        name = self.name
        if name == "circle":
            return u * u + v * v <= r * r
        if name == "square":
            half = r / math.sqrt(2)
            return (np.abs(u) <= half) & (np.abs(v) <= half)
        if name == "triangle":
            inside = np.ones((h, w), bool)
            for k in range(3):  # three half-planes of an equilateral triangle
                a = 2 * math.pi * k / 3
                inside &= u * math.cos(a) + v * math.sin(a) <= r / 2
            return inside
        if name == "star":
            rho = np.sqrt(u * u + v * v)
            phi = np.arctan2(v, u)
            sector = 2 * math.pi / self.points
            t = np.abs(((phi % sector) / sector) * 2 - 1)  # 1 at a tip, 0 between tips
            # straight edges between tip (radius r) and notch (radius inner*r)
            r_in = self.inner * r
            half = sector / 2
            ang = (1 - t) * half
            # distance along the ray to the segment tip->notch, in polar form
            tip = np.array([r, 0.0])
            notch = np.array([r_in * math.cos(half), r_in * math.sin(half)])
            nx, ny = notch[1] - tip[1], -(notch[0] - tip[0])  # normal of the edge
            c = nx * tip[0] + ny * tip[1]
            denom = nx * np.cos(ang) + ny * np.sin(ang)
            return rho * denom <= c
        if name == "bar":
            return (np.abs(u) <= r) & (np.abs(v) <= self.width / 2)
        raise ValueError(f"unknown shape {name!r}")

    def texture_image(self, h: int, w: int) -> np.ndarray:
        """The object's appearance ``h x w x 3`` (only read where :meth:`rasterize` is True)."""
        yy, xx = _grid(h, w)
        c1, c2 = self.colour, self.colour2
        if self.texture == "solid":
            return np.broadcast_to(c1, (h, w, 3))
        ca, sa = math.cos(self.angle + 0.7), math.sin(self.angle + 0.7)
        p = self.texture_period
        if self.texture == "stripes":
            t = (np.floor((xx * ca + yy * sa) / p) % 2)[..., None]
        elif self.texture == "checker":
            t = ((np.floor(xx / p) + np.floor(yy / p)) % 2)[..., None]
        else:  # gradient
            t = np.clip(((xx - self.cx) * ca + (yy - self.cy) * sa) / (2 * self.size) + 0.5, 0, 1)[
                ..., None
            ]
        return c1 * (1 - t) + c2 * t


def random_object(
    rng: np.random.Generator,
    h: int,
    w: int,
    label: int | None = None,
    min_size: float = 0.14,
    max_size: float = 0.35,
    background: np.ndarray | None = None,
) -> ShapeObject:
    """A random object; its size is log-uniform in ``[min_size, max_size] * min(h, w)``.

    ``size`` is the radius of a disc with the object's area (at least 5 px at 64 px, scaled
    with the image), turned into the shape's circumradius (at most 45% of the shorter side).
    Bars are 4 to 6 px wide (at 64 px) and 40% to 80% of the shorter side long. With
    ``background`` (``h x w x 3``), both colours of the object contrast with the background
    under its centre.
    """
    if label is None:
        label = int(rng.integers(1, len(CLASSES)))
    name = CLASSES[label]
    side = min(h, w)
    scale = side / 64.0
    # ``size`` is drawn as the radius of a disc of the object's area, then turned into the
    # shape's circumradius, so that every class covers about as many pixels at a given size
    radius = float(np.exp(rng.uniform(math.log(min_size * side), math.log(max_size * side))))
    radius = max(radius, 5.0 * scale)
    cy = float(rng.uniform(0.15 * h, 0.85 * h))
    cx = float(rng.uniform(0.15 * w, 0.85 * w))
    if background is None:
        colour, colour2 = random_colour(rng), random_colour(rng)
    else:
        under = background[min(int(cy), h - 1), min(int(cx), w - 1)]
        colour = contrasting_colour(rng, under)
        colour2 = contrasting_colour(rng, under)
    obj = ShapeObject(
        label=label,
        cy=cy,
        cx=cx,
        size=min(radius * AREA_TO_CIRCUMRADIUS.get(name, 1.0), 0.45 * side),
        angle=float(rng.uniform(0, 2 * math.pi)),
        colour=colour,
        colour2=colour2,
        texture="gradient" if rng.random() < 0.25 else "solid",
        texture_period=float(rng.uniform(3.0, 6.0) * scale),
        points=int(rng.integers(5, 7)),
        inner=float(rng.uniform(0.42, 0.5)),
        width=float(rng.uniform(4.0, 6.0) * scale),
    )
    if name == "bar":  # ``size`` is the half-length: thin, and at least 40% of the side long
        obj.size = float(rng.uniform(0.2, 0.4) * side)
    return obj


def render(
    background: np.ndarray,
    objects: list[ShapeObject],
    rng: np.random.Generator | None = None,
    noise: float = 0.02,
    ignore_boundary: int = 0,
):
    """Paint ``objects`` (in order, later ones on top) over ``background``.

    Returns ``image`` (``h x w x 3`` float32 in [0, 1]), ``mask`` (``h x w`` int64 labels) and
    ``instances`` (``h x w`` int64, ``i + 1`` where object ``i`` is visible, 0 elsewhere).
    """
    h, w, _ = background.shape
    img = background.copy()
    mask = np.zeros((h, w), np.int64)
    inst = np.zeros((h, w), np.int64)
    for i, obj in enumerate(objects):
        m = obj.rasterize(h, w)
        img[m] = obj.texture_image(h, w)[m]
        mask[m] = obj.label
        inst[m] = i + 1
    if noise and rng is not None:
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    np.clip(img, 0, 1, out=img)
    if ignore_boundary:
        mask = add_ignore_band(mask, ignore_boundary)
    return img, mask, inst


def add_ignore_band(
    mask: np.ndarray, width: int = 1, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Set pixels within ``width`` px of a label change to ``ignore_index`` (as VOC does)."""
    edge = np.zeros(mask.shape, bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[:, :-1] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    edge[:-1, :] |= mask[1:, :] != mask[:-1, :]
    band = edge.copy()
    for _ in range(width - 1):
        grown = band.copy()
        grown[1:] |= band[:-1]
        grown[:-1] |= band[1:]
        grown[:, 1:] |= band[:, :-1]
        grown[:, :-1] |= band[:, 1:]
        band = grown
    out = mask.copy()
    out[band] = ignore_index
    return out


@dataclass
class Scene:
    """Everything known about one generated scene (numpy arrays, ``H x W`` first)."""

    image: np.ndarray  # H x W x 3 float32 in [0, 1]
    mask: np.ndarray  # H x W int64
    instances: np.ndarray  # H x W int64, i + 1 for objects[i]
    objects: list[ShapeObject]
    background: np.ndarray  # H x W x 3, the scene without its objects (and without noise)


class ShapesScenes(Dataset):
    """Synthetic scenes of shapes; the class of an object is its shape.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; the three draw from disjoint random streams.
        size: number of scenes.
        image_size: ``S`` or ``(H, W)``.
        seed: base seed; the scene ``index`` of a split is the same on every machine and run.
        transforms: optional joint transform ``t(image, mask) -> (image, mask)``.
        max_objects: each scene holds 1..``max_objects`` objects.
        object_size: ``(min, max)`` size (radius of the disc of equal area) as a fraction of
            the shorter side.
        noise: standard deviation of the per-pixel Gaussian noise.
        ignore_boundary: width in px of a 255 band around outlines (0: none).
        cache: keep every generated scene in memory (about ``H * W * 20`` bytes each), so
            later epochs skip the drawing. Transforms still run on every access.

    Items are ``(image 3 x H x W float in [0, 1], mask H x W long)``.
    """

    classes = CLASSES
    palette = PALETTE
    ignore_index = IGNORE_INDEX
    num_classes = len(CLASSES)

    def __init__(
        self,
        split: str = "train",
        size: int = 1000,
        image_size: int | tuple[int, int] = 96,
        seed: int = 0,
        transforms=None,
        max_objects: int = 2,
        object_size: tuple[float, float] = (0.14, 0.35),
        noise: float = 0.02,
        ignore_boundary: int = 0,
        cache: bool = False,
    ):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        check_positive_int(size, "size", " (number of scenes)")
        h, w = check_size(image_size, "image_size")
        if min(h, w) < 16:
            raise ValueError(f"image_size must be at least 16 px, got {image_size}")
        lo, hi = object_size
        if not 0 < lo <= hi:
            raise ValueError(
                f"object_size must be (min, max) with 0 < min <= max, got {object_size}"
            )
        check_positive_int(max_objects, "max_objects")
        self.split, self.size, self.image_size, self.seed = split, size, (h, w), seed
        self.transforms = transforms
        self.max_objects, self.object_size = max_objects, (lo, hi)
        self.noise, self.ignore_boundary = noise, ignore_boundary
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.size

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, SPLITS[self.split], index])

    def scene(self, index: int) -> Scene:
        """The full scene ``index``: image, mask, instance map and the objects drawn."""
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for a data set of {self.size} scenes")
        index %= self.size
        rng = self.rng(index)
        h, w = self.image_size
        background = random_background(rng, h, w)
        n = int(rng.integers(1, self.max_objects + 1))
        objects = [
            random_object(rng, h, w, None, *self.object_size, background=background)
            for _ in range(n)
        ]
        objects.sort(key=lambda o: -o.size)  # mostly large behind small; occlusion still happens
        img, mask, inst = render(background, objects, rng, self.noise, self.ignore_boundary)
        return Scene(img, mask, inst, objects, background)

    def __getitem__(self, index: int):
        key = index % self.size if -self.size <= index < self.size else index
        if self.cache and key in self._cache:
            image, mask = self._cache[key]
        else:
            s = self.scene(index)
            image = torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1)))
            mask = torch.from_numpy(s.mask)
            if self.cache:
                self._cache[key] = (image, mask)
        if self.transforms is not None:
            image, mask = self.transforms(image, mask)
        return image, mask

    def __repr__(self) -> str:
        h, w = self.image_size
        return (
            f"ShapesScenes(split={self.split!r}, size={self.size}, image_size=({h}, {w}), "
            f"seed={self.seed}, classes={self.classes})"
        )
