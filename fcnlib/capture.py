"""Frames from a camera: a local one through OpenCV, Colab's browser camera, or a stand-in.

:func:`webcam_frames` returns a :class:`Capture` that :func:`fcnlib.video.remove_objects`
takes as a source. On Colab the notebook's browser takes the pictures (a JavaScript snippet
run through ``google.colab.output.eval_js``; the browser asks for permission). Where there is
no camera at all (a server, CI) it says so and returns a generated clip
(:func:`fcnlib.data.clip.make_clip`) instead, so a notebook runs everywhere.
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from ._checks import check_positive_int
from .data.clip import Clip, make_clip

__all__ = ["Capture", "webcam_frames"]


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
    check_positive_int(n, "n", " (number of frames)")
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
