"""Segment every frame of a video and remove (or keep) chosen classes.

The pipeline of :func:`remove_objects`:

1. **read** frames with OpenCV (a file), or take them from memory or a webcam;
2. **segment** them in batches (:func:`segment`, on the GPU when there is one);
3. **clean** the removal masks (:func:`clean_masks`): optional edge-aware refinement with a
   guided filter, morphological opening and closing, removal of small components and holes,
   temporal majority over neighbouring frames;
4. **fill** the removed pixels (:func:`erase`): a flat colour (``"blank"``), a strong blur
   (``"blur"``) or a background plate estimated over the frames where those pixels are not
   covered (``"background"``, a masked temporal median, :func:`estimate_background`);
5. **write** a video with the same frame count, size and frame rate.

Conventions: frames are ``H x W x 3`` uint8 **RGB** arrays (OpenCV's BGR is converted on
reading and writing), label masks are ``H x W`` integer arrays, removal masks ``H x W`` bool.
Stacks of them put the frame axis first (``T x H x W x 3``, ``T x H x W``).

For a live source there is :func:`webcam_frames` (a local camera, Colab's browser camera, or
a generated clip when neither exists) and :func:`make_clip`, a clip of moving shapes from
:mod:`fcnlib.data.shapes` whose true masks and clean background are known.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ._checks import logits_of
from .data.shapes import CLASSES, PALETTE, random_background, random_object, render
from .engine import resolve_device

MODES = ("blank", "blur", "background")
# Codecs OpenCV's bundled FFmpeg can write, by file extension. mp4v and MJPG play in common
# players (VLC, QuickTime, Windows); FFV1 in Matroska is lossless.
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
DEFAULT_FPS = 25.0


# ----------------------------------------------------------------------------- reading frames
def _as_frame(frame, index: int) -> np.ndarray:
    """One frame as ``H x W x 3`` uint8 RGB (from uint8/float arrays or a ``3 x H x W`` tensor)."""
    if isinstance(frame, torch.Tensor):
        frame = frame.detach().cpu()
        if frame.dim() == 3 and frame.shape[0] == 3 and frame.shape[-1] != 3:
            frame = frame.permute(1, 2, 0)
        frame = frame.numpy()
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[-1] != 3:
        raise ValueError(
            f"frame {index} has shape {f.shape}: expected H x W x 3 (RGB, uint8 or float in [0, 1])"
        )
    if f.dtype == np.uint8:
        return f
    if np.issubdtype(f.dtype, np.floating):
        if f.size and (np.nanmin(f) < 0 or np.nanmax(f) > 1):
            raise ValueError(f"frame {index} is float with values outside [0, 1]")
        return (f * 255).round().astype(np.uint8)
    raise TypeError(f"frame {index} has dtype {f.dtype}: expected uint8 or float in [0, 1]")


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise FileNotFoundError(f"video file {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a video file")
    if cv2.haveImageReader(str(path)):
        raise ValueError(f"{str(path)!r} is a still image, not a video")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise ValueError(
            f"{str(path)!r} could not be opened as a video: it is not a video file, or it is "
            "damaged, or OpenCV's FFmpeg cannot decode it"
        )
    return cap


class FrameSource:
    """Frames from a file, a sequence, an iterable or a :class:`Clip`, readable more than once.

    A file is re-opened for every pass; an iterator (a webcam generator) is buffered in memory
    the first time it is read. ``fps`` is the file's frame rate, the source's ``fps``
    attribute, or the ``fps`` argument (default 25). Iterating yields ``H x W x 3`` uint8 RGB.
    """

    def __init__(self, source, fps: float | None = None):
        self.path = None
        self._frames = None
        self._iter = None
        self._buffer: list[np.ndarray] = []
        if isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            cap = _open_capture(self.path)
            ok, first = cap.read()
            file_fps = cap.get(cv2.CAP_PROP_FPS)
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            cap.release()
            if not ok:
                raise ValueError(
                    f"{str(self.path)!r} opened as a video but holds no readable frame"
                )
            self.fps = float(fps or (file_fps if file_fps and file_fps > 0 else DEFAULT_FPS))
            self.length = int(count) if count and count > 0 else None
            self.first = first[..., ::-1]
            self.name = str(self.path)
            return
        fps = fps or getattr(source, "fps", None) or DEFAULT_FPS
        self.fps = float(fps)
        if hasattr(source, "frames"):  # a Clip or a webcam Capture
            source = source.frames
        self.name = "the frame source"
        if isinstance(source, (np.ndarray, torch.Tensor)) or isinstance(source, Sequence):
            if len(source) == 0:
                raise ValueError("source holds no frames")
            self._frames, self.length = source, len(source)
            self.first = _as_frame(source[0], 0)
        elif isinstance(source, Iterable):
            self._iter, self.length = iter(source), getattr(source, "__len__", lambda: None)()
            try:
                self._buffer.append(_as_frame(next(self._iter), 0))
            except StopIteration:
                raise ValueError("source holds no frames") from None
            self.first = self._buffer[0]
        else:
            raise TypeError(
                "source must be a video file path, a sequence of H x W x 3 frames, an iterable "
                f"of frames or a Clip, got {type(source).__name__}"
            )
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of every frame."""
        return self.first.shape[:2]

    def __iter__(self):
        h, w = self.size
        for i, f in enumerate(self._raw()):
            if f.shape[:2] != (h, w):
                raise ValueError(
                    f"frame {i} of {self.name} is {f.shape[1]}x{f.shape[0]} but the first frame is "
                    f"{w}x{h}: every frame must have the same size"
                )
            yield f

    def _raw(self):
        if self.path is not None:
            cap = _open_capture(self.path)
            try:
                while True:
                    ok, f = cap.read()
                    if not ok:
                        return
                    yield np.ascontiguousarray(f[..., ::-1])
            finally:
                cap.release()
        elif self._frames is not None:
            for i, f in enumerate(self._frames):
                yield _as_frame(f, i)
        else:  # an iterator: replay what was read, then read (and keep) the rest
            yield from self._buffer
            for f in self._iter:
                self._buffer.append(_as_frame(f, len(self._buffer)))
                yield self._buffer[-1]


def read_video(path) -> tuple[np.ndarray, float]:
    """All frames of a video file as ``T x H x W x 3`` uint8 RGB, and its frame rate."""
    src = FrameSource(path)
    return np.stack(list(src)), src.fps


def video_info(path) -> dict:
    """``{"num_frames", "fps", "size": (H, W), "fourcc"}`` of a video file (frames are counted)."""
    src = FrameSource(path)
    cap = _open_capture(src.path)
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    cap.release()
    n = sum(1 for _ in src)
    fourcc = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)) if code > 0 else ""
    return {"num_frames": n, "fps": src.fps, "size": src.size, "fourcc": fourcc}


# ----------------------------------------------------------------------------- writing frames
def _check_destination(destination, codec: str | None) -> tuple[Path, str]:
    """Validate an output path before any work: folder exists and is writable, codec known."""
    path = Path(destination)
    if path.is_dir():
        raise IsADirectoryError(f"destination {str(path)!r} is a folder: give a file name")
    ext = path.suffix.lower()
    codec = codec or CODECS.get(ext)
    if codec is None:
        raise ValueError(
            f"destination {str(path)!r}: unknown video extension {ext!r}; use one of "
            f"{', '.join(CODECS)} (or pass codec=)"
        )
    if len(codec) != 4:
        raise ValueError(f"codec must be a four-character code such as 'mp4v', got {codec!r}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"destination {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise PermissionError(f"destination {str(path)!r} is not writable")
    return path, codec


class _Writer:
    """Write to a temporary file beside ``path``; ``close()`` renames it into place."""

    def __init__(self, path: Path, codec: str, fps: float, size: tuple[int, int]):
        h, w = size
        if h % 2 or w % 2:
            raise ValueError(
                f"frames are {w}x{h}: OpenCV's video writer needs an even width and height "
                "(it would silently crop a pixel); crop or pad the frames first"
            )
        self.path, self.size = path, size
        fd, tmp = tempfile.mkstemp(
            dir=path.parent or ".", prefix=f".{path.stem}.", suffix=path.suffix
        )
        os.close(fd)
        self.tmp = Path(tmp)
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
        if not self.writer.isOpened():
            self.tmp.unlink(missing_ok=True)
            raise ValueError(
                f"OpenCV cannot write {codec!r} video to {str(path)!r}; try a .mp4 (mp4v), "
                ".avi (MJPG) or .mkv (FFV1) destination"
            )

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def close(self) -> Path:
        self.writer.release()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.writer.release()
        self.tmp.unlink(missing_ok=True)


def write_video(path, frames, fps: float = DEFAULT_FPS, codec: str | None = None) -> Path:
    """Write ``T x H x W x 3`` uint8 RGB frames (or an iterable of them) to ``path``.

    The codec follows the extension (``.mp4``: mp4v, ``.avi``: MJPG, ``.mkv``: lossless FFV1).
    Width and height must be even. The file appears only when complete.
    """
    path, codec = _check_destination(path, codec)
    src = FrameSource(frames, fps)
    out = _Writer(path, codec, src.fps, src.size)
    try:
        for f in src:
            out.write(f)
    except BaseException:
        out.abort()
        raise
    return out.close()


# ----------------------------------------------------------------------------- segmentation
def _model_num_classes(model: nn.Module) -> int | None:
    m = model.module if isinstance(getattr(model, "module", None), nn.Module) else model
    return getattr(m, "num_classes", None)


@torch.inference_mode()
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
    ``[0, 1]`` (then ``preprocess(x)`` if given, e.g. a normalisation). ``model_size`` resizes
    frames to that size for the model and its logits back to the frame size.
    """
    masks = []
    for labels, _ in _segment_batches(
        model, frames, batch_size, device, model_size, preprocess, progress
    ):
        masks.extend(labels)
    return np.stack(masks)


def _segment_batches(model, frames, batch_size, device, model_size, preprocess, progress):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    src = frames if isinstance(frames, FrameSource) else FrameSource(frames)
    dev = resolve_device(device)
    model.to(dev).eval()
    if isinstance(model_size, int):
        model_size = (model_size, model_size)
    bar = tqdm(total=src.length, disable=not progress, unit="frame", desc="segmenting")
    batch: list[np.ndarray] = []

    def run(batch):
        x = torch.from_numpy(np.stack(batch)).to(dev).permute(0, 3, 1, 2).float().div_(255)
        size = x.shape[-2:]
        if model_size is not None and tuple(size) != tuple(model_size):
            x = F.interpolate(x, size=model_size, mode="bilinear", align_corners=False)
        if preprocess is not None:
            x = preprocess(x)
        logits = logits_of(model(x))
        if logits.dim() != 4 or logits.shape[0] != len(batch):
            raise ValueError(
                f"the model returned shape {tuple(logits.shape)} for {len(batch)} frames: "
                "expected logits B x K x H x W"
            )
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        bar.update(len(batch))
        k = logits.shape[1]
        return logits.argmax(1).to(torch.uint8 if k <= 256 else torch.int64).cpu().numpy(), k

    try:
        with torch.inference_mode():
            for f in src:
                batch.append(f)
                if len(batch) == batch_size:
                    yield run(batch)
                    batch = []
            if batch:
                yield run(batch)
    finally:
        bar.close()


# ----------------------------------------------------------------------------- mask clean-up
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


def mask_iou(pred, target) -> float:
    """IoU of two boolean masks (any shape); 1.0 when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


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
    stack = np.stack([_as_frame(frames[i], int(i)) for i in idx])
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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    h, w = frame.shape[:2]
    if mask.shape != (h, w):
        raise ValueError(f"mask is {mask.shape} but frame is {(h, w)}")
    if mode == "blank":
        new = np.broadcast_to(np.asarray(fill, np.float32), frame.shape)
    elif mode == "blur":
        sigma = blur_sigma or max(2.0, 0.06 * max(h, w))
        new = cv2.GaussianBlur(frame, (0, 0), sigma).astype(np.float32)
    else:
        if plate is None or plate.shape != frame.shape:
            raise ValueError("mode='background' needs a plate of the frame's shape")
        new = plate.astype(np.float32)
    alpha = _feather(mask, 0.01 * max(h, w) if feather is None else feather)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + new * alpha
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the whole pipeline
def _class_ids(names, classes, num_classes, arg: str) -> list[int]:
    """Class names or indices -> sorted indices; unknown names list the valid ones."""
    if isinstance(names, (str, int, np.integer)):
        names = [names]
    ids = []
    for c in names:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if num_classes is not None and not 0 <= c < num_classes:
                raise ValueError(f"{arg}: class index {c} is outside [0, {num_classes - 1}]")
            ids.append(int(c))
        elif isinstance(c, str):
            if classes is None:
                raise ValueError(
                    f"{arg}: class name {c!r} given but no class list is known: pass classes=[...]"
                )
            if c not in classes:
                raise ValueError(
                    f"{arg}: unknown class {c!r}; valid names are {', '.join(map(str, classes))}"
                )
            ids.append(list(classes).index(c))
        else:
            raise TypeError(f"{arg} must hold class names or indices, got {c!r}")
    return sorted(set(ids))


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
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if (remove is None) == (keep is None):
        raise ValueError("give exactly one of remove=[...] (classes to remove) or keep=[...]")
    if len(fill) != 3 or not all(0 <= v <= 255 for v in fill):
        raise ValueError(f"fill must be an RGB colour with values in [0, 255], got {fill!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    classes = list(classes) if classes is not None else getattr(model, "classes", None)
    k_model = _model_num_classes(model)
    if classes is not None and k_model is not None and k_model != len(classes):
        raise ValueError(
            f"the model predicts {k_model} classes but classes= lists {len(classes)} "
            f"({', '.join(map(str, classes))}); pass the class list the model was trained on"
        )
    k = len(classes) if classes is not None else k_model
    chosen = _class_ids(
        remove if remove is not None else keep,
        classes,
        k,
        "remove" if remove is not None else "keep",
    )
    avoid_ids = None if plate_avoid is None else _class_ids(plate_avoid, classes, k, "plate_avoid")
    clean_kw = {} if clean is True else dict(clean) if isinstance(clean, dict) else None
    out_path = out_codec = None
    if destination is not None:
        out_path, out_codec = _check_destination(destination, codec)
    src = FrameSource(source, fps)
    if out_path is not None and src.path is not None and out_path.resolve() == src.path.resolve():
        raise ValueError(f"destination {str(out_path)!r} is the source video: choose another file")
    h, w = src.size
    if out_path is not None and (h % 2 or w % 2):
        raise ValueError(
            f"frames of {src.name} are {w}x{h}: OpenCV's video writer needs an even width and "
            "height (it would silently crop a pixel); crop or pad the frames first"
        )

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
            _class_ids(chosen, None, k, "remove" if remove is not None else "keep")
        labels.extend(batch_labels)
    labels = np.stack(labels)
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
    keep_output = return_frames if return_frames is not None else destination is None
    writer = _Writer(out_path, out_codec, src.fps, src.size) if out_path is not None else None
    outputs = []
    n = 0
    try:
        for i, f in enumerate(
            tqdm(
                src, total=len(masks), disable=not progress, unit="frame", desc=f"removing ({mode})"
            )
        ):
            if i >= len(masks):
                raise RuntimeError(f"{src.name} yielded more frames on the second pass")
            g = erase(f, masks[i], mode, plate, fill, blur_sigma, feather)
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
        size=(h, w),
        removed=names,
        labels=labels,
        masks=masks,
        frames=np.stack(outputs) if keep_output else None,
        plate=plate,
        plate_known=known,
        seconds=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- a generated clip
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
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if background is not None:
        background = _as_frame(background, 0).astype(np.float32) / 255
        image_size = background.shape[:2]
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(h, w) < 16:
        raise ValueError(f"image_size must be at least 16 px, got {image_size}")
    rng = np.random.default_rng([seed, 7])
    if labels is None:
        labels = rng.integers(1, len(CLASSES), num_objects).tolist()
    _class_ids(labels, CLASSES, len(CLASSES), "labels")  # checks names and indices
    ids = [CLASSES.index(c) if isinstance(c, str) else int(c) for c in labels]
    if 0 in ids:
        raise ValueError("labels: 'background' (0) is not an object class")
    if background is None:
        background = random_background(rng, h, w)
    objects = [random_object(rng, h, w, c, *object_size) for c in ids]
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


# ----------------------------------------------------------------------------- webcam
@dataclass
class Capture:
    """Frames from :func:`webcam_frames`; ``kind`` says where they came from."""

    frames: list  # of H x W x 3 uint8 RGB
    fps: float
    kind: str  # "camera", "colab" or "generated"
    message: str = ""
    clip: Clip | None = None  # the generated clip when no camera was found

    def __len__(self) -> int:
        return len(self.frames)


# Colab's camera snippet: show the camera in the page, take n snapshots, return JPEG data URLs.
_COLAB_JS = """
async function fcnlibCapture(n, intervalMs, quality) {
  const div = document.createElement('div');
  const video = document.createElement('video');
  video.style.display = 'block';
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  document.body.appendChild(div);
  div.appendChild(video);
  video.srcObject = stream;
  await video.play();
  google.colab.output.setIframeHeight(document.documentElement.scrollHeight, true);
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const frames = [];
  for (let i = 0; i < n; i++) {
    canvas.getContext('2d').drawImage(video, 0, 0);
    frames.push(canvas.toDataURL('image/jpeg', quality));
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
  stream.getVideoTracks()[0].stop();
  div.remove();
  return frames;
}
"""


def _decode_data_url(url: str) -> np.ndarray:
    """A ``data:image/jpeg;base64,...`` URL -> ``H x W x 3`` uint8 RGB."""
    import base64

    if not isinstance(url, str) or "," not in url:
        raise ValueError("the browser returned no image (camera permission denied?)")
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("the browser returned an image that cannot be decoded")
    return np.ascontiguousarray(img[..., ::-1])


def _colab_capture(n: int, fps: float) -> list[np.ndarray]:
    from google.colab import output  # only on Colab
    from IPython.display import Javascript, display

    display(Javascript(_COLAB_JS))
    urls = output.eval_js(f"fcnlibCapture({int(n)}, {1000 / fps:.0f}, 0.8)")
    return [_decode_data_url(u) for u in urls]


def _camera_capture(n: int, device_index: int):
    cap = cv2.VideoCapture(device_index)
    try:
        if not cap.isOpened():
            return None, None
        frames = []
        for _ in range(n):
            ok, f = cap.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(f[..., ::-1]))
        fps = cap.get(cv2.CAP_PROP_FPS)
        return frames, (fps if fps and fps > 0 else None)
    finally:
        cap.release()


def webcam_frames(
    n: int = 24,
    device_index: int = 0,
    fps: float = 12.0,
    fallback: bool = True,
    seed: int = 0,
    verbose: bool = True,
    **clip_kw,
) -> Capture:
    """Capture ``n`` frames from a camera, or fall back to a generated clip.

    On Colab the browser's camera is used (JavaScript snapshots through
    ``google.colab.output.eval_js``; the browser asks for permission). Elsewhere OpenCV opens
    camera ``device_index``. With no camera, ``fallback=True`` prints why and returns the
    frames of :func:`make_clip` (``kind="generated"``, with the clip in ``.clip``);
    ``fallback=False`` raises ``RuntimeError`` instead. ``clip_kw`` go to :func:`make_clip`
    (e.g. ``background=``, ``labels=``).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer (number of frames), got {n!r}")
    reason = None
    if "google.colab" in sys.modules:
        try:
            return Capture(_colab_capture(n, fps), fps, "colab", "frames from the browser camera")
        except Exception as e:  # permission denied, no camera in the browser, ...
            reason = f"the browser camera could not be used ({type(e).__name__}: {e})"
    else:
        frames, cam_fps = _camera_capture(n, device_index)
        if frames:
            msg = f"{len(frames)} frames from camera {device_index}"
            return Capture(frames, cam_fps or fps, "camera", msg)
        reason = (
            f"no camera found: cv2.VideoCapture({device_index}) could not be opened"
            if frames is None
            else f"camera {device_index} opened but returned no frame"
        )
    if not fallback:
        raise RuntimeError(reason)
    clip = make_clip(num_frames=n, fps=fps, seed=seed, **clip_kw)
    message = f"{reason}; using a generated clip of {n} frames of moving shapes instead"
    if verbose:
        print(message)
    return Capture(list(clip.frames), clip.fps, "generated", message, clip)


# ----------------------------------------------------------------------------- showing videos
def _as_videos(videos) -> list[np.ndarray]:
    vids = [np.stack([_as_frame(f, i) for i, f in enumerate(v)]) for v in videos]
    if not vids:
        raise ValueError("videos is empty")
    if len({len(v) for v in vids}) > 1:
        raise ValueError(f"videos have different frame counts: {[len(v) for v in vids]}")
    return vids


def show_frames(videos, titles=None, indices=None, height: float = 2.0):
    """Figure: one row per video, one column per frame index (default: 4 evenly spaced)."""
    import matplotlib.pyplot as plt

    vids = _as_videos(videos)
    t = len(vids[0])
    if indices is None:
        indices = np.unique(np.linspace(0, t - 1, min(4, t)).round().astype(int)).tolist()
    h, w = vids[0].shape[1:3]
    fig, axes = plt.subplots(
        len(vids), len(indices), figsize=(height * w / h * len(indices), height * len(vids)),
        squeeze=False,
    )  # fmt: skip
    for r, v in enumerate(vids):
        for c, i in enumerate(indices):
            ax = axes[r, c]
            ax.imshow(v[i])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {i}")
            if c == 0 and titles is not None:
                ax.set_ylabel(titles[r])
    fig.tight_layout()
    return fig


def animate(videos, titles=None, fps: float = 10.0, height: float = 2.5):
    """A matplotlib ``FuncAnimation`` playing ``videos`` (each ``T x H x W x 3``) side by side."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    vids = _as_videos(videos)
    h, w = vids[0].shape[1:3]
    fig, axes = plt.subplots(
        1, len(vids), figsize=(height * w / h * len(vids), height + 0.3), squeeze=False
    )
    ims = []
    for j, (ax, v) in enumerate(zip(axes[0], vids)):
        ims.append(ax.imshow(v[0]))
        ax.axis("off")
        if titles is not None:
            ax.set_title(titles[j])
    fig.tight_layout()

    def update(i):
        for im, v in zip(ims, vids):
            im.set_data(v[i])
        return ims

    anim = animation.FuncAnimation(fig, update, frames=len(vids[0]), interval=1000 / fps, blit=True)
    plt.close(fig)  # the animation is shown as HTML, not as a static figure
    return anim


def animation_html(
    videos, titles=None, fps: float = 10.0, height: float = 2.5, embed_limit_mb: float = 40
):
    """``videos`` side by side as an HTML animation for a notebook.

    An HTML5 ``<video>`` when matplotlib finds ffmpeg, otherwise matplotlib's JavaScript
    player (``to_jshtml``, one JPEG per frame, about ten times smaller than PNG for noisy
    frames; needs nothing else). Returns IPython's ``HTML``.
    """
    import matplotlib as mpl
    from IPython.display import HTML
    from matplotlib import animation

    anim = animate(videos, titles, fps, height)
    with mpl.rc_context(
        {"animation.embed_limit": embed_limit_mb, "animation.frame_format": "jpeg"}
    ):
        if animation.writers.is_available("ffmpeg"):
            return HTML(anim.to_html5_video())
        return HTML(anim.to_jshtml(fps=fps, default_mode="loop"))
