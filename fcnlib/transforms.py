"""Joint image/mask transforms for segmentation, on ``torchvision.transforms.v2``.

A segmentation transform must move the image and its mask together: the same crop, the
same flip, the same rotation. ``transforms.v2`` does that when the mask is wrapped as a
``tv_tensors.Mask``; masks are then resized and rotated with NEAREST (a label is never
blended with its neighbour), and photometric transforms and normalisation touch only the
image. Padding fills images with 0 and masks with the ignore label 255, so the padded
border is left out of the loss and the metrics.

Each builder returns a callable ``t(image, mask) -> (image, mask)``:

* ``image``: a PIL image, a ``H x W x 3`` uint8 numpy array, or a tensor ``3 x H x W``
  (uint8 in ``[0, 255]`` or float in ``[0, 1]``);
* ``mask``: a PIL image, a ``H x W`` numpy array or an integer tensor ``H x W``;
* returns ``image`` a float tensor ``3 x h x w`` (normalised if ``mean``/``std`` are given)
  and ``mask`` a long tensor ``h x w``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ._checks import IGNORE_INDEX, check_size
from ._checks import to_tv_image as _as_image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "JointTransform",
    "RandomScale",
    "eval_transforms",
    "train_transforms",
]


def _as_mask(mask) -> tv_tensors.Mask:
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask)
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask.astype(np.int64))
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"mask must be a PIL image, numpy array or tensor, got {type(mask).__name__}"
        )
    if mask.ndim != 2:
        raise ValueError(f"mask has shape {tuple(mask.shape)}: expected H x W class labels")
    if mask.is_floating_point() or mask.dtype == torch.bool:
        raise TypeError(f"mask has dtype {mask.dtype}: expected integer class labels")
    return tv_tensors.Mask(mask.long())


class RandomScale:
    """Resize image and mask by one random factor drawn uniformly from ``scale``.

    With ``base_size`` the factor applies to a reference size instead of the image's own:
    the shorter side becomes ``round(base_size * factor)`` (so images of any size end up at
    comparable scales). Images use bilinear interpolation, masks NEAREST.
    """

    def __init__(self, scale: tuple[float, float] = (0.5, 2.0), base_size: int | None = None):
        lo, hi = scale
        if not 0 < lo <= hi:
            raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale!r}")
        self.scale, self.base_size = (float(lo), float(hi)), base_size

    def __call__(self, image, mask):
        mask = mask if isinstance(mask, tv_tensors.Mask) else tv_tensors.Mask(mask)
        h, w = image.shape[-2:]
        factor = float(torch.empty(1).uniform_(*self.scale))
        if self.base_size is not None:
            factor *= self.base_size / min(h, w)
        size = [max(1, round(h * factor)), max(1, round(w * factor))]
        return F.resize(image, size, antialias=True), F.resize(mask, size)

    def __repr__(self) -> str:
        return f"RandomScale(scale={self.scale}, base_size={self.base_size})"


class JointTransform:
    """Apply a list of ``transforms.v2`` transforms to an (image, mask) pair.

    ``t(image, mask) -> (image 3 x h x w float, mask h x w long)``; see the module docstring
    for the accepted input types. Raises ``ValueError`` when image and mask sizes differ.
    """

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)

    def __call__(self, image, mask):
        image, mask = _as_image(image), _as_mask(mask)
        if image.shape[-2:] != mask.shape[-2:]:
            raise ValueError(
                f"image is {tuple(image.shape[-2:])} (H, W) but mask is {tuple(mask.shape[-2:])}: "
                "an image and its mask must have the same size"
            )
        for t in self.transforms:
            image, mask = t(image, mask)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)

    def __repr__(self) -> str:
        lines = [f"    {t!r}" for t in self.transforms]
        return "JointTransform(\n" + "\n".join(lines) + "\n)"


def _fill(ignore_index: int) -> dict:
    return {tv_tensors.Image: 0.0, tv_tensors.Mask: ignore_index}


def _normalize(mean, std) -> list:
    if mean is None and std is None:
        return []
    if mean is None or std is None:
        raise ValueError("give both mean and std (or neither, to skip normalisation)")
    return [v2.Normalize(mean=list(mean), std=list(std))]


def train_transforms(
    crop_size: int | tuple[int, int],
    scale: tuple[float, float] | None = (0.5, 2.0),
    hflip: bool = True,
    rotate: float = 0,
    jitter: float | tuple[float, float, float, float] = 0.0,
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    base_size: int | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> JointTransform:
    """Training augmentation: random scale, rotation, crop, flip, colour jitter, normalisation.

    Args:
        crop_size: output size ``S`` or ``(H, W)``; smaller inputs are padded (image with 0,
            mask with ``ignore_index``) so every output has this size and batches stack.
        scale: ``(min, max)`` random scale factor (``None``: no rescaling); relative to the
            image's own size, or to ``base_size`` for its shorter side when given.
        hflip: random horizontal flip with probability 0.5.
        rotate: maximum rotation in degrees (0: none); corners are filled like padding.
        jitter: ColorJitter strength: one number for brightness, contrast and saturation, or
            ``(brightness, contrast, saturation, hue)``; 0 disables it. Image only.
        mean, std: normalisation per channel (ImageNet's by default); ``None`` skips it.

    Returns ``t(image, mask) -> (3 x H x W float, H x W long)``.
    """
    crop = check_size(crop_size, "crop_size")
    steps: list = []
    if scale is not None:
        steps.append(RandomScale(scale, base_size))
    if rotate:
        steps.append(
            v2.RandomRotation(
                rotate, interpolation=v2.InterpolationMode.BILINEAR, fill=_fill(ignore_index)
            )
        )
    steps.append(v2.RandomCrop(crop, pad_if_needed=True, fill=_fill(ignore_index)))
    if hflip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    if jitter:
        b, c, s, h = (jitter, jitter, jitter, 0.0) if isinstance(jitter, (int, float)) else jitter
        steps.append(v2.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    steps += _normalize(mean, std)
    return JointTransform(steps)


def eval_transforms(
    size: int | tuple[int, int] | None = None,
    mode: str = "crop",
    mean: Sequence[float] | None = IMAGENET_MEAN,
    std: Sequence[float] | None = IMAGENET_STD,
    ignore_index: int = IGNORE_INDEX,
) -> JointTransform:
    """Evaluation transform: deterministic resizing (optional) and normalisation.

    Args:
        size: ``None`` keeps every image at its own size (evaluate one image at a time);
            ``S`` or ``(H, W)`` gives every output that size so batches stack:
        mode: ``"crop"``: resize the shorter side to fit, then take the centre;
            ``"pad"``: resize the longer side to fit, then pad the bottom and right
            (image with 0, mask with ``ignore_index``), so nothing is cut off.
        mean, std: as in :func:`train_transforms`.

    Returns ``t(image, mask) -> (3 x H x W float, H x W long)``.
    """
    if mode not in ("crop", "pad"):
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    steps: list = []
    if size is not None:
        h, w = check_size(size, "size")
        steps.append(_FitResize((h, w), cover=mode == "crop"))
        if mode == "crop":
            steps.append(v2.CenterCrop((h, w)))
        else:
            steps.append(_PadTo((h, w), ignore_index))
    steps += _normalize(mean, std)
    return JointTransform(steps)


class _FitResize:
    """Resize keeping the aspect ratio so the result covers (or fits inside) ``size``."""

    def __init__(self, size: tuple[int, int], cover: bool):
        self.size, self.cover = size, cover

    def __call__(self, image, mask):
        h, w = image.shape[-2:]
        ratio = (max if self.cover else min)(self.size[0] / h, self.size[1] / w)
        new = [round(h * ratio), round(w * ratio)]
        if self.cover:  # rounding must not leave a side short of the crop
            new = [max(new[0], self.size[0]), max(new[1], self.size[1])]
        else:
            new = [min(new[0], self.size[0]), min(new[1], self.size[1])]
        return F.resize(image, new, antialias=True), F.resize(mask, new)

    def __repr__(self) -> str:
        return f"FitResize(size={self.size}, cover={self.cover})"


class _PadTo:
    """Pad bottom and right up to ``size``: image with 0, mask with ``ignore_index``."""

    def __init__(self, size: tuple[int, int], ignore_index: int):
        self.size, self.ignore_index = size, ignore_index

    def __call__(self, image, mask):
        h, w = image.shape[-2:]
        pad = [0, 0, self.size[1] - w, self.size[0] - h]  # left, top, right, bottom
        return F.pad(image, pad, fill=0.0), F.pad(mask, pad, fill=self.ignore_index)

    def __repr__(self) -> str:
        return f"PadTo(size={self.size}, fill=(0, {self.ignore_index}))"
