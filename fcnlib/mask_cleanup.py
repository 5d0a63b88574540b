"""Cleaning binary masks: the usual faults of a model's masks, and a cheap remedy for each.

* specks and holes: connected components and holes smaller than ``min_area`` are removed;
* ragged outlines and cracks: morphological opening then closing;
* flicker over time: a per-pixel majority over neighbouring frames (:func:`temporal_majority`);
* boundaries a pixel or two off: a guided filter (:func:`guided_filter`) that snaps the mask
  onto the image's own edges.

:func:`clean_mask` cleans one ``H x W`` mask, :func:`clean_masks` a ``T x H x W`` stack (the
removal masks of :func:`fcnlib.video.remove_objects`).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["clean_mask", "clean_masks", "guided_filter", "temporal_majority"]


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(image: np.ndarray, src: np.ndarray, radius: int, eps: float = 1e-3) -> np.ndarray:
    """He et al.'s guided filter with a colour guide: smooth ``src`` (``H x W`` float) while
    following the edges of ``image`` (``H x W x 3``, uint8 or float in [0, 1]).

    Inside each ``(2r+1)``-square window the output is a linear function of the guide's colour,
    ``q = a . I + b``, fitted to ``src`` by ridge regression (``eps``); so the output's edges
    are where the image's edges are. Returns ``H x W`` float32.
    """
    I = image.astype(np.float32) / (255 if image.dtype == np.uint8 else 1)
    p = src.astype(np.float32)
    mean_i, mean_p = _box(I, radius), _box(p, radius)
    cov_ip = _box(I * p[..., None], radius) - mean_i * mean_p[..., None]
    sigma = np.empty(I.shape[:2] + (3, 3), np.float32)
    for a in range(3):
        for b in range(a, 3):
            sigma[..., a, b] = sigma[..., b, a] = (
                _box(I[..., a] * I[..., b], radius) - mean_i[..., a] * mean_i[..., b]
            )
    sigma += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0]  # H x W x 3
    b = mean_p - (a * mean_i).sum(-1)
    return (_box(a, radius) * I).sum(-1) + _box(b, radius)


def _remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop connected components (8-connected) smaller than ``min_area`` pixels."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
    small = small[small > 0]  # label 0 is the complement
    return mask & ~np.isin(lab, small) if len(small) else mask


def clean_mask(
    mask: np.ndarray,
    image: np.ndarray | None = None,
    kernel: int = 0,
    min_area: int | None = None,
    refine: bool = False,
    refine_radius: int | None = None,
    refine_eps: float = 1e-3,
) -> np.ndarray:
    """Clean one binary mask ``H x W``; returns ``H x W`` bool.

    In order: ``refine`` (needs ``image``: a guided filter snaps the boundary to the image's
    edges); morphological opening then closing with a ``kernel`` x ``kernel`` ellipse (off by
    default: it also erodes thin structures and sharp corners); then connected components and
    holes smaller than ``min_area`` pixels are removed (default ``0.1%`` of the frame, at
    least 4; 0 turns it off).
    """
    m = np.asarray(mask, bool)
    if m.ndim != 2:
        raise ValueError(f"mask has shape {m.shape}: expected H x W")
    h, w = m.shape
    if refine:
        if image is None:
            raise ValueError("refine=True needs the frame: pass image=")
        if image.shape[:2] != (h, w):
            raise ValueError(f"image is {image.shape[:2]} but mask is {m.shape}")
        r = refine_radius or max(2, round(0.03 * min(h, w)))
        m = guided_filter(image, m.astype(np.float32), r, refine_eps) > 0.5
    if kernel and kernel > 1:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
        u8 = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, k)
        m = cv2.morphologyEx(u8, cv2.MORPH_CLOSE, k).astype(bool)
    min_area = max(4, round(1e-3 * h * w)) if min_area is None else min_area
    if min_area > 1:
        m = _remove_small(m, min_area)  # specks
        m = ~_remove_small(~m, min_area)  # holes
    return m


def temporal_majority(masks: np.ndarray, radius: int = 1) -> np.ndarray:
    """Majority vote of each pixel over frames ``t - radius .. t + radius``: ``T x H x W`` bool.

    Removes flicker: a pixel missed (or wrongly flagged) in a single frame takes the value its
    neighbours agree on. At the ends of the clip the window is cut short.
    """
    m = np.asarray(masks, bool)
    if radius <= 0 or len(m) < 2:
        return m.copy()
    c = np.concatenate([np.zeros((1, *m.shape[1:]), np.int32), m.cumsum(0, dtype=np.int32)])
    t = np.arange(len(m))
    lo, hi = np.clip(t - radius, 0, len(m)), np.clip(t + radius + 1, 0, len(m))
    votes = c[hi] - c[lo]
    return 2 * votes > (hi - lo)[:, None, None]


def clean_masks(
    masks,
    frames=None,
    kernel: int = 0,
    min_area: int | None = None,
    temporal: int = 0,
    refine: bool = False,
    **kw,
) -> np.ndarray:
    """Clean a stack of binary masks ``T x H x W``: :func:`clean_mask` on each frame (with
    ``frames``, ``T x H x W x 3`` or an iterable of frames, when ``refine``), then :func:`temporal_majority` with radius
    ``temporal`` (0: off). Returns ``T x H x W`` bool.
    """
    m = np.asarray(masks, bool)
    if m.ndim != 3:
        raise ValueError(f"masks has shape {m.shape}: expected T x H x W")
    if refine and frames is None:
        raise ValueError("refine=True needs the frames: pass frames=")
    images = iter(frames) if refine else None
    out = np.empty_like(m)
    for i, mi in enumerate(m):
        image = next(images, None) if refine else None
        if refine and image is None:
            raise ValueError(f"frames holds fewer frames than masks ({len(m)})")
        out[i] = clean_mask(mi, image, kernel, min_area, refine, **kw)
    return temporal_majority(out, temporal)
