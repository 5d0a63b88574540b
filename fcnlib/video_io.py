"""Reading and writing video files with OpenCV, as stacks of RGB frames.

Conventions: frames are ``H x W x 3`` uint8 **RGB** arrays (OpenCV's BGR is converted on
reading and writing); stacks put the frame axis first (``T x H x W x 3``).
:class:`FrameSource` reads a file, an array, a list or an iterator (a webcam) alike, and more
than once; :func:`write_video` writes a file that appears only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ._checks import to_uint8_frame
from ._files import AtomicPath

__all__ = [
    "CODECS",
    "DEFAULT_FPS",
    "FrameSource",
    "VideoWriter",
    "check_destination",
    "read_video",
    "video_info",
    "write_video",
]

# Codecs OpenCV's bundled FFmpeg can write, by file extension. mp4v and MJPG play in common
# players (VLC, QuickTime, Windows); FFV1 in Matroska is lossless.
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
DEFAULT_FPS = 25.0


# ----------------------------------------------------------------------------- reading
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
    """Frames from a file, a sequence, an iterable or a :class:`~fcnlib.data.clip.Clip`, readable
    more than once.

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
            self.first = to_uint8_frame(source[0], 0)
        elif isinstance(source, Iterable):
            self._iter, self.length = iter(source), getattr(source, "__len__", lambda: None)()
            try:
                self._buffer.append(to_uint8_frame(next(self._iter), 0))
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
                yield to_uint8_frame(f, i)
        else:  # an iterator: replay what was read, then read (and keep) the rest
            yield from self._buffer
            for f in self._iter:
                self._buffer.append(to_uint8_frame(f, len(self._buffer)))
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


# ----------------------------------------------------------------------------- writing
def check_destination(destination, codec: str | None) -> tuple[Path, str]:
    """Check an output path before any work (the folder exists and is writable, the codec is
    known) and return ``(path, codec)``, the codec following the extension when ``None``."""
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


class VideoWriter:
    """A video file written frame by frame (``write(H x W x 3 uint8 RGB)``), into a temporary
    file beside ``path`` that ``close()`` renames into place (``abort()`` discards it).
    ``path`` and ``codec`` as :func:`check_destination` returns them; ``size`` is ``(h, w)``."""

    def __init__(self, path: Path, codec: str, fps: float, size: tuple[int, int]):
        h, w = size
        if h % 2 or w % 2:
            raise ValueError(
                f"frames are {w}x{h}: OpenCV's video writer needs an even width and height "
                "(it would silently crop a pixel); crop or pad the frames first"
            )
        self.path, self.size = path, size
        self.file = AtomicPath(path, suffix=path.suffix)  # OpenCV picks the container by it
        self.writer = cv2.VideoWriter(
            str(self.file.tmp), cv2.VideoWriter_fourcc(*codec), fps, (w, h)
        )
        if not self.writer.isOpened():
            self.file.discard()
            raise ValueError(
                f"OpenCV cannot write {codec!r} video to {str(path)!r}; try a .mp4 (mp4v), "
                ".avi (MJPG) or .mkv (FFV1) destination"
            )

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(frame[..., ::-1]))

    def close(self) -> Path:
        self.writer.release()
        return self.file.commit()

    def abort(self) -> None:
        self.writer.release()
        self.file.discard()


def write_video(path, frames, fps: float = DEFAULT_FPS, codec: str | None = None) -> Path:
    """Write ``T x H x W x 3`` uint8 RGB frames (or an iterable of them) to ``path``.

    The codec follows the extension (``.mp4``: mp4v, ``.avi``: MJPG, ``.mkv``: lossless FFV1).
    Width and height must be even. The file appears only when complete.
    """
    path, codec = check_destination(path, codec)
    src = FrameSource(frames, fps)
    out = VideoWriter(path, codec, src.fps, src.size)
    try:
        for f in src:
            out.write(f)
    except BaseException:
        out.abort()
        raise
    return out.close()
