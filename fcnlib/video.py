"""Segment every frame of a video and remove (or keep) chosen classes.

The pipeline of :func:`remove_objects`:

1. **read** frames (a file, frames in memory, or a webcam :class:`~fcnlib.capture.Capture`;
   :mod:`fcnlib.video_io`);
2. **segment** them in batches (:func:`segment`, with :func:`fcnlib.inference.predict`, on
   the GPU when there is one);
3. **clean** the removal masks (:func:`~fcnlib.mask_cleanup.clean_masks`): optional edge-aware refinement with a
   guided filter, morphological opening and closing, removal of small components and holes,
   temporal majority over neighbouring frames;
4. **fill** the removed pixels (:func:`erase`): a flat colour (``"blank"``), a strong blur
   (``"blur"``) or a background plate estimated over the frames where those pixels are not
   covered (``"background"``, a masked temporal median, :func:`estimate_background`);
5. **write** a video with the same frame count, size and frame rate.

Conventions: frames are ``H x W x 3`` uint8 **RGB** arrays, label masks are ``H x W``
integer arrays, removal masks ``H x W`` bool. Stacks of them put the frame axis first
(``T x H x W x 3``, ``T x H x W``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ._checks import check_positive_int, class_ids, logits_of, to_uint8_frame, unwrap_parallel
from .engine import resolve_device
from .inference import predict
from .mask_cleanup import clean_masks
from .video_io import (
    FrameSource,
    VideoWriter,
    check_destination,
)

__all__ = [
    "MODES",
    "RemovalResult",
    "erase",
    "estimate_background",
    "masked_median",
    "remove_objects",
    "segment",
]

MODES = ("blank", "blur", "background")


# ----------------------------------------------------------------------------- segmentation
class _AtFrameSize(nn.Module):
    """``model`` seen from the frames: resizes them to ``model_size`` (and ``preprocess``-es
    them) on the way in, and its logits back to the frames' size on the way out.

    ``num_scores`` records the class-score count of the last call, for checks against the
    class list."""

    def __init__(self, model: nn.Module, model_size, preprocess):
        super().__init__()
        self.model, self.model_size, self.preprocess = model, model_size, preprocess
        self.num_scores = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if self.model_size is not None and tuple(size) != tuple(self.model_size):
            x = F.interpolate(x, size=self.model_size, mode="bilinear", align_corners=False)
        if self.preprocess is not None:
            x = self.preprocess(x)
        logits = logits_of(self.model(x))
        if logits.dim() != 4 or logits.shape[0] != len(x):
            raise ValueError(
                f"the model returned shape {tuple(logits.shape)} for {len(x)} frames: "
                "expected logits B x K x H x W"
            )
        self.num_scores = logits.shape[1]
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        return logits


def _segment_batches(model, src: FrameSource, batch_size, device, model_size, preprocess, progress):
    """Yield ``(labels B x H x W as uint8 or int64 NumPy, number of class scores)`` per batch."""
    check_positive_int(batch_size, "batch_size")
    if isinstance(model_size, int):
        model_size = (model_size, model_size)
    net = _AtFrameSize(model.to(resolve_device(device)), model_size, preprocess)
    batch: list[np.ndarray] = []

    def run(batch):
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float().div_(255)
        labels = predict(net, x)
        k = net.num_scores
        return labels.to(torch.uint8 if k <= 256 else torch.int64).cpu().numpy(), k

    with tqdm(total=src.length, disable=not progress, unit="frame", desc="segmenting") as bar:
        for f in src:
            batch.append(f)
            if len(batch) == batch_size:
                yield run(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            yield run(batch)
            bar.update(len(batch))


def segment(
    model: nn.Module,
    frames,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    model_size: int | tuple[int, int] | None = None,
    preprocess=None,
    progress: bool = True,
) -> np.ndarray:
    """Label masks ``T x H x W`` (uint8) for every frame of ``frames`` (any :class:`FrameSource`).

    Frames are fed to ``model`` in batches of ``batch_size`` as ``B x 3 x H x W`` floats in
    ``[0, 1]`` (then ``preprocess(x)`` if given, e.g. a normalisation), through
    :func:`fcnlib.inference.predict`. ``model_size`` resizes frames to that size for the model
    and its logits back to the frame size.
    """
    src = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    batches = _segment_batches(model, src, batch_size, device, model_size, preprocess, progress)
    return np.concatenate([labels for labels, _ in batches])


# ----------------------------------------------------------------------------- filling
def masked_median(frames: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median of ``frames`` (``T x H x W x 3`` uint8) over the frames where
    ``covered`` (``T x H x W`` bool) is False. Returns ``H x W x 3`` uint8 (0 where no frame
    sees the pixel) and the count of frames that see it, ``H x W``.
    """
    n = (~covered).sum(0)
    plate = np.zeros(frames.shape[1:], np.uint8)
    rows = max(1, int(2**27 // max(1, frames[:, :1].nbytes * 2)))  # ~128 MB per chunk
    for r0 in range(0, frames.shape[1], rows):
        s = frames[:, r0 : r0 + rows].astype(np.uint16)
        s[covered[:, r0 : r0 + rows]] = 256  # covered samples sort after every real value
        s.sort(axis=0)
        k = n[r0 : r0 + rows, :, None]
        lo = np.take_along_axis(s, np.clip((k - 1) // 2, 0, None)[None].repeat(3, -1), 0)[0]
        hi = np.take_along_axis(s, np.clip(k // 2, 0, None)[None].repeat(3, -1), 0)[0]
        med = (lo.astype(np.float32) + hi) / 2
        plate[r0 : r0 + rows] = np.where(k > 0, np.round(med), 0).astype(np.uint8)
    return plate, n


def estimate_background(
    frames, covered, avoid=None, max_frames: int | None = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Background plate: per pixel, the median over the frames where it is **not** covered.

    ``frames`` is ``T x H x W x 3`` uint8 (or a list of frames), ``covered`` ``T x H x W``
    bool (the removed objects). ``avoid`` (``T x H x W`` bool, optional) marks pixels to leave
    out too where possible, such as moving objects that are kept: where a pixel is neither
    covered nor avoided in some frame, only those frames count; otherwise every uncovered
    frame does. With ``max_frames`` only that many evenly spaced frames are used.

    Returns the plate ``H x W x 3`` uint8 and ``known`` ``H x W`` bool. Pixels covered in
    every frame are not known; they are inpainted from their surroundings (``cv2.inpaint``).
    """
    covered = np.asarray(covered, bool)
    t = len(covered)
    if covered.ndim != 3:
        raise ValueError(f"covered has shape {covered.shape}: expected T x H x W")
    if len(frames) != t:
        raise ValueError(f"{len(frames)} frames but {t} masks")
    idx = np.arange(t)
    if max_frames and t > max_frames:
        idx = np.unique(np.linspace(0, t - 1, max_frames).round().astype(int))
    stack = np.stack([to_uint8_frame(frames[i], int(i)) for i in idx])
    if stack.shape[:3] != covered[idx].shape:
        raise ValueError(f"frames are {stack.shape[1:3]} but masks are {covered.shape[1:]}")
    plate, n = masked_median(stack, covered[idx])
    if avoid is not None:
        avoid = np.asarray(avoid, bool)
        if avoid.shape != covered.shape:
            raise ValueError(f"avoid has shape {avoid.shape}, covered has {covered.shape}")
        better, n2 = masked_median(stack, covered[idx] | avoid[idx])
        plate = np.where((n2 > 0)[..., None], better, plate)
    known = n > 0
    if not known.all():
        plate = cv2.inpaint(plate, (~known).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return plate, known


def _feather(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Alpha ``H x W`` float: 1 inside ``mask``, falling off smoothly outside it."""
    m = mask.astype(np.float32)
    if sigma <= 0:
        return m
    return np.maximum(m, cv2.GaussianBlur(m, (0, 0), sigma))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def erase(
    frame: np.ndarray,
    mask: np.ndarray,
    mode: str = "blank",
    plate: np.ndarray | None = None,
    fill=(0, 0, 0),
    blur_sigma: float | None = None,
    feather: float | None = None,
) -> np.ndarray:
    """Remove the pixels of ``mask`` (``H x W`` bool) from ``frame`` (``H x W x 3`` uint8 RGB).

    ``mode="blank"`` paints ``fill``; ``"blur"`` replaces them with a strong Gaussian blur of
    the frame (``blur_sigma``, default 6% of the larger side); ``"background"`` copies them
    from ``plate``. The edge is feathered outwards by ``feather`` px (default 1% of the larger
    side): every masked pixel is fully replaced, the ones just outside are blended.
    """
    _check_mode(mode)
    h, w = frame.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"mask is {mask.shape} but frame is {(h, w)}")
    if mode == "background" and (plate is None or plate.shape != frame.shape):
        raise ValueError("mode='background' needs a plate of the frame's shape")
    return _erase(frame, mask, mode, plate, fill, blur_sigma, feather)


def _erase(frame, mask, mode, plate, fill, blur_sigma, feather) -> np.ndarray:
    """:func:`erase` without its checks (:func:`remove_objects` checks once, up front)."""
    h, w = frame.shape[:2]
    if mode == "blank":
        new = np.broadcast_to(np.asarray(fill, np.float32), frame.shape)
    elif mode == "blur":
        sigma = blur_sigma or max(2.0, 0.06 * max(h, w))
        new = cv2.GaussianBlur(frame, (0, 0), sigma).astype(np.float32)
    else:
        new = plate.astype(np.float32)
    alpha = _feather(mask, 0.01 * max(h, w) if feather is None else feather)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + new * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the whole pipeline
@dataclass
class RemovalResult:
    """What :func:`remove_objects` did. Arrays put the frame axis first."""

    destination: Path | None
    num_frames: int
    fps: float
    size: tuple[int, int]  # (H, W)
    removed: list  # the removed classes (names where known, else indices)
    labels: np.ndarray  # T x H x W: the model's labels per frame
    masks: np.ndarray  # T x H x W bool: the pixels that were replaced (after clean-up)
    frames: np.ndarray | None = None  # T x H x W x 3 uint8 RGB output (when kept)
    plate: np.ndarray | None = None  # H x W x 3: the background plate ("background" mode)
    plate_known: np.ndarray | None = None  # H x W bool: plate pixels seen in some frame
    seconds: float = 0.0

    def __repr__(self) -> str:
        h, w = self.size
        return (
            f"RemovalResult({self.num_frames} frames {w}x{h} at {self.fps:g} fps, removed="
            f"{self.removed}, {self.masks.mean():.1%} of pixels replaced, "
            f"destination={str(self.destination) if self.destination else None})"
        )


def remove_objects(
    model: nn.Module,
    source,
    destination=None,
    remove=None,
    keep=None,
    mode: str = "blank",
    classes: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    fill=(0, 0, 0),
    clean: bool | dict = True,
    progress: bool = True,
    *,
    dilate: int = 1,
    fps: float | None = None,
    codec: str | None = None,
    model_size: int | tuple[int, int] | None = None,
    preprocess=None,
    blur_sigma: float | None = None,
    feather: float | None = None,
    plate_frames: int | None = 64,
    plate_avoid=None,
    return_frames: bool | None = None,
) -> RemovalResult:
    """Segment every frame of ``source`` and remove the chosen classes; write the result.

    Args:
        model: a segmentation model, ``B x 3 x H x W`` in ``[0, 1]`` -> ``B x K x H x W`` logits
            (a dict with ``"out"`` is accepted). It runs on ``device`` in inference mode.
        source: a video file, a sequence / ``T x H x W x 3`` array / iterable of RGB frames
            (uint8, or float in [0, 1]), a :class:`Clip` or a webcam :class:`Capture`.
        destination: output video file (``.mp4``, ``.avi``, ``.mkv``), or None to keep the
            output in memory only (``result.frames``). Checked before any work is done.
        remove / keep: the classes to remove, or the classes to keep (everything else is
            removed, the background class too unless it is listed); names or indices.
        mode: ``"blank"`` (paint ``fill``, an RGB colour), ``"blur"`` or ``"background"``
            (fill from a plate estimated over the frames, see :func:`estimate_background`).
        classes: the model's class names (default: ``model.classes`` when it has them).
        clean: True for :func:`clean_masks` with its defaults, False for raw masks, or a dict
            of its options (``kernel``, ``min_area``, ``temporal``, ``refine``...).
        dilate: grow the removal mask by this many pixels (hides edges the model missed).
        fps: frame rate for in-memory sources (a file keeps its own).
        plate_avoid: classes left out of the background plate where possible (moving objects
            that are kept); the removed classes are always left out.
        model_size: run the model at this size (frames are resized for it, masks are not).
        return_frames: keep the output frames in ``result.frames`` (default: only when
            ``destination`` is None).

    Returns:
        a :class:`RemovalResult` (labels, final masks, plate, output frames if kept). The
        output has the source's frame count, size and frame rate.
    """
    t0 = time.perf_counter()
    _check_mode(mode)
    if (remove is None) == (keep is None):
        raise ValueError("give exactly one of remove=[...] (classes to remove) or keep=[...]")
    if len(fill) != 3 or not all(0 <= v <= 255 for v in fill):
        raise ValueError(f"fill must be an RGB colour with values in [0, 255], got {fill!r}")
    classes = list(classes) if classes is not None else getattr(model, "classes", None)
    k_model = getattr(unwrap_parallel(model), "num_classes", None)
    if classes is not None and k_model is not None and k_model != len(classes):
        raise ValueError(
            f"the model predicts {k_model} classes but classes= lists {len(classes)} "
            f"({', '.join(map(str, classes))}); pass the class list the model was trained on"
        )
    k = len(classes) if classes is not None else k_model
    arg = "remove" if remove is not None else "keep"
    chosen = class_ids(remove if remove is not None else keep, classes, k, arg)
    avoid_ids = None if plate_avoid is None else class_ids(plate_avoid, classes, k, "plate_avoid")
    clean_kw = {} if clean is True else dict(clean) if isinstance(clean, dict) else None
    out_path = out_codec = None
    if destination is not None:
        out_path, out_codec = check_destination(destination, codec)
    src = FrameSource(source, fps)
    if out_path is not None and src.path is not None and out_path.resolve() == src.path.resolve():
        raise ValueError(f"destination {str(out_path)!r} is the source video: choose another file")
    # opened before any work, so that a size the writer refuses is reported at once
    writer = VideoWriter(out_path, out_codec, src.fps, src.size) if out_path is not None else None
    keep_output = return_frames if return_frames is not None else destination is None
    try:
        # pass 1: segment every frame (an iterator source is buffered as it is read)
        labels = []
        for batch_labels, k_out in _segment_batches(
            model, src, batch_size, device, model_size, preprocess, progress
        ):
            if k is not None and k_out != k:
                raise ValueError(
                    f"the model returned {k_out} class scores but {k} classes are expected"
                    + (f" ({', '.join(map(str, classes))})" if classes is not None else "")
                )
            if k is None:
                k = k_out
                class_ids(chosen, None, k, arg)
            labels.append(batch_labels)
        labels = np.concatenate(labels)
        removed_ids = chosen if remove is not None else [c for c in range(k) if c not in chosen]
        masks = np.isin(labels, removed_ids)

        # clean-up; the frames are needed only for edge-aware refinement
        if clean_kw is not None:
            masks = clean_masks(masks, src if clean_kw.get("refine") else None, **clean_kw)
        if dilate > 0:
            kd = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
            masks = np.stack([cv2.dilate(m.astype(np.uint8), kd).astype(bool) for m in masks])

        plate = known = None
        if mode == "background":
            idx = np.arange(len(masks))
            if plate_frames and len(idx) > plate_frames:
                idx = np.unique(np.linspace(0, len(idx) - 1, plate_frames).round().astype(int))
            wanted, sample = set(idx.tolist()), {}
            for i, f in enumerate(src):
                if i in wanted:
                    sample[i] = f
            avoid = None if avoid_ids is None else np.isin(labels[idx], avoid_ids)
            plate, known = estimate_background(
                [sample[i] for i in idx], masks[idx], avoid, max_frames=None
            )

        # pass 2: fill and write
        outputs = []
        n = 0
        frames = tqdm(
            src, total=len(masks), disable=not progress, unit="frame", desc=f"removing ({mode})"
        )
        for i, f in enumerate(frames):
            if i >= len(masks):
                raise RuntimeError(f"{src.name} yielded more frames on the second pass")
            g = _erase(f, masks[i], mode, plate, fill, blur_sigma, feather)
            if writer is not None:
                writer.write(g)
            if keep_output:
                outputs.append(g)
            n += 1
        if n != len(masks):
            raise RuntimeError(
                f"{src.name} yielded {n} frames on the second pass, {len(masks)} on the first"
            )
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    written = writer.close() if writer is not None else None
    if written is not None:
        check = cv2.VideoCapture(str(written), cv2.CAP_FFMPEG)
        ok = check.isOpened() and check.read()[0]
        check.release()
        if not ok:
            raise RuntimeError(f"the written video {str(written)!r} cannot be read back")
    names = [classes[c] if classes is not None else c for c in removed_ids]
    return RemovalResult(
        destination=written,
        num_frames=n,
        fps=src.fps,
        size=src.size,
        removed=names,
        labels=labels,
        masks=masks,
        frames=np.stack(outputs) if keep_output else None,
        plate=plate,
        plate_known=known,
        seconds=time.perf_counter() - t0,
    )
