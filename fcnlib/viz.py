"""Pictures of masks: colour them, lay them over images, and put predictions beside the truth.

Conventions: images are ``3 x H x W`` float tensors in ``[0, 1]`` (or ``H x W x 3`` arrays),
masks are ``H x W`` integer labels, palettes are ``K x 3`` uint8 arrays. The ignore label
(255) is drawn in light grey, as in PASCAL VOC's own pictures.

Videos (``T x H x W x 3`` uint8 RGB stacks, as :mod:`fcnlib.video` uses) are shown frame by
frame with :func:`show_frames` and played with :func:`animate` / :func:`animation_html`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Patch

from ._checks import IGNORE_COLOUR, IGNORE_INDEX, to_numpy_image, to_uint8_frame

__all__ = [
    "ERROR_COLOUR",
    "IGNORE_COLOUR",
    "animate",
    "animation_html",
    "colorize",
    "error_map",
    "legend",
    "overlay",
    "plot_confusion",
    "plot_history",
    "show_frames",
    "show_samples",
    "to_numpy_image",
]


ERROR_COLOUR = np.array([255, 0, 255], np.uint8)


def _mask_np(mask) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask has shape {mask.shape}: expected H x W labels")
    return mask.astype(np.int64)


def colorize(mask, palette, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Label mask ``H x W`` -> colour picture ``H x W x 3`` uint8 (ignore label in light grey)."""
    m = _mask_np(mask)
    pal = np.asarray(palette, np.uint8)
    out = np.zeros((*m.shape, 3), np.uint8)
    ign = m == ignore_index
    bad = (~ign) & ((m < 0) | (m >= len(pal)))
    if bad.any():
        raise ValueError(
            f"mask has label {int(m[bad][0])}, outside the palette's {len(pal)} classes"
        )
    out[~ign] = pal[m[~ign]]
    out[ign] = IGNORE_COLOUR
    return out


def overlay(
    image,
    mask,
    palette,
    alpha: float = 0.5,
    ignore_index: int = IGNORE_INDEX,
    background: int | None = 0,
):
    """Blend the coloured mask over the image; ``background`` pixels (class 0) stay unblended.

    Returns ``H x W x 3`` float in [0, 1].
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = to_numpy_image(image)
    m = _mask_np(mask)
    if m.shape != img.shape[:2]:
        raise ValueError(f"image is {img.shape[:2]} but mask is {m.shape}")
    col = colorize(m, palette, ignore_index).astype(np.float32) / 255
    a = np.full(m.shape, alpha, np.float32)
    if background is not None:
        a[m == background] = 0
    return img * (1 - a[..., None]) + col * a[..., None]


def error_map(pred, target, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``H x W x 3`` uint8: correct pixels black, wrong pixels magenta, ignored pixels grey."""
    p, t = _mask_np(pred), _mask_np(target)
    out = np.zeros((*t.shape, 3), np.uint8)
    out[(p != t) & (t != ignore_index)] = ERROR_COLOUR
    out[t == ignore_index] = IGNORE_COLOUR
    return out


def legend(classes: Sequence[str], palette, ax=None, loc="upper left", **kw):
    """A colour legend of the classes, on ``ax`` (or the current figure)."""
    pal = np.asarray(palette, np.float32) / 255
    handles = [Patch(facecolor=pal[i], edgecolor="k", label=name) for i, name in enumerate(classes)]
    target = ax if ax is not None else plt.gcf()
    kw.setdefault("fontsize", "small")
    kw.setdefault("frameon", False)
    if ax is None:
        return target.legend(handles=handles, loc=loc, **kw)
    return ax.legend(handles=handles, loc=loc, **kw)


def show_samples(
    images,
    targets,
    predictions=None,
    palette=None,
    classes: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    max_rows: int = 4,
    ignore_index: int = IGNORE_INDEX,
    size: float = 2.2,
):
    """A grid: one row per image with columns image / truth / prediction / errors.

    ``images`` ``B x 3 x H x W``, ``targets`` ``B x H x W``, ``predictions`` ``B x H x W`` or a
    dict ``{name: B x H x W}`` to compare several models side by side.
    """
    if palette is None:
        raise ValueError("show_samples needs the data set's palette")
    preds = {} if predictions is None else predictions
    if not isinstance(preds, dict):
        preds = {"prediction": preds}
    n = min(len(images), max_rows)
    cols = ["image", "truth", *preds]
    if len(preds) == 1:
        cols.append("errors")
    fig, axes = plt.subplots(n, len(cols), figsize=(size * len(cols), size * n), squeeze=False)
    for r in range(n):
        for c, name in enumerate(cols):
            ax = axes[r, c]
            if name == "image":
                ax.imshow(to_numpy_image(images[r]))
            elif name == "truth":
                ax.imshow(colorize(targets[r], palette, ignore_index))
            elif name == "errors":
                ax.imshow(error_map(next(iter(preds.values()))[r], targets[r], ignore_index))
            else:
                ax.imshow(colorize(preds[name][r], palette, ignore_index))
            if r == 0:
                ax.set_title(titles[c] if titles else name, fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
    if classes is not None:
        legend(
            classes,
            palette,
            ax=None,
            loc="lower center",
            ncol=min(len(classes), 8),
            bbox_to_anchor=(0.5, -0.02),
        )
    fig.tight_layout(rect=(0, 0.05 if classes is not None else 0, 1, 1))
    return fig


def plot_confusion(
    confusion,
    classes: Sequence[str],
    normalize: bool = True,
    ax=None,
    cmap="Blues",
    fontsize: float | None = None,
):
    """Confusion matrix (rows = true class, columns = prediction), row-normalised by default.

    Every cell is written out (two decimals when normalised, counts otherwise) in ``fontsize``
    points; the default is sized to the cells (large for a handful of classes, smaller for
    many), so that the digits stay readable."""
    cm = (
        confusion.detach().cpu().numpy()
        if isinstance(confusion, torch.Tensor)
        else np.asarray(confusion)
    )
    cm = cm.astype(np.float64)
    k = len(classes)
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.8 * k + 2.5, 0.8 * k + 1.5))
    if fontsize is None:
        fontsize = 11 if k <= 6 else 9 if k <= 10 else 7 if k <= 16 else 5
    im = ax.imshow(cm, cmap=cmap, vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(k), classes, rotation=45, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}", ha="center", va="center",
                    fontsize=fontsize, color="white" if cm[i, j] > 0.5 * cm.max() else "black")  # fmt: skip
    plt.colorbar(im, ax=ax, fraction=0.046, label="share of the row" if normalize else "pixels")
    return ax


def plot_history(
    *histories, labels: Sequence[str] | None = None, metrics=("train_loss", "val_miou")
):
    """Training curves of several runs on shared axes."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3), squeeze=False)
    for i, h in enumerate(histories):
        for ax, m in zip(axes[0], metrics):
            ax.plot(h["epoch"], h[m], marker="o", label=labels[i] if labels else None)
            ax.set_title(m.replace("_", " "))
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    if labels:
        axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- videos
def _as_videos(videos) -> list[np.ndarray]:
    vids = [np.stack([to_uint8_frame(f, i) for i, f in enumerate(v)]) for v in videos]
    if not vids:
        raise ValueError("videos is empty")
    if len({len(v) for v in vids}) > 1:
        raise ValueError(f"videos have different frame counts: {[len(v) for v in vids]}")
    return vids


def show_frames(videos, titles=None, indices=None, height: float = 2.0):
    """Figure: one row per video, one column per frame index (default: 4 evenly spaced)."""
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
