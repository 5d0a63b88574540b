"""Prediction with optional test-time augmentation (multi-scale and horizontal flip).

DeepLab's evaluation recipe: run the model on the image rescaled by each factor in
``scales`` (and on its mirror image when ``flip``), resize every output back to the input
size, average the class probabilities, and take the most probable class per pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._checks import check_images, image_to_tensor, logits_of
from ._checks import model_device as _model_device

__all__ = ["image_to_tensor", "predict", "predict_proba"]


def _as_batch(images) -> torch.Tensor:
    if not isinstance(images, (torch.Tensor, list, tuple)):
        images = image_to_tensor(images)
    if isinstance(images, (list, tuple)):
        images = [image_to_tensor(im) for im in images]
        if not images:
            raise ValueError("images is an empty list")
        shapes = {tuple(im.shape) for im in images}
        if len(shapes) > 1:
            raise ValueError(
                f"images in a list must share one shape to form a batch, got {sorted(shapes)}"
            )
        images = torch.stack(list(images))
    if isinstance(images, torch.Tensor) and images.dim() == 3:
        images = images.unsqueeze(0)
    return check_images(images, "images", channels=None)


__all__ = [
    "predict",
    "predict_proba",
]


@torch.inference_mode()
def predict_proba(
    model: torch.nn.Module,
    images,
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
) -> torch.Tensor:
    """Class probabilities ``B x K x H x W`` averaged over ``scales`` (and flips).

    ``images`` is ``B x 3 x H x W`` (or one ``3 x H x W`` image, or a list of them) on any
    device; the model runs where its parameters are. Switches the model to eval mode.
    """
    x = _as_batch(images)
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive factors, got {scales}")
    model.eval()
    x = x.to(_model_device(model))
    size = x.shape[-2:]
    total = None
    for s in scales:
        xs = (
            x
            if s == 1.0
            else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
        )
        views = [(xs, False), (xs.flip(-1), True)] if flip else [(xs, False)]
        for inp, flipped in views:
            logits = logits_of(model(inp))
            if flipped:
                logits = logits.flip(-1)
            if logits.shape[-2:] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            p = logits.float().softmax(1)
            total = p if total is None else total + p
    return total / (len(scales) * (2 if flip else 1))


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    images,
    scales: tuple[float, ...] = (1.0,),
    flip: bool = False,
    return_probs: bool = False,
    batch_size: int | None = None,
    window: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
):
    """Predicted masks ``B x H x W`` (long) for images ``B x 3 x H x W``.

    ``images`` may also be one ``3 x H x W`` image, a PIL image, or a list of them (see
    :func:`image_to_tensor` for how PIL modes are converted); apply the normalisation the model
    was trained with first. ``window`` (and ``stride``) segment large images crop by crop
    with :func:`fcnlib.inference_sliding.sliding_window_predict`; ``scales`` and ``flip`` then
    must stay at their defaults.

    With ``scales=(1.0,)`` and ``flip=False`` this is just ``model(images).argmax(1)``.
    ``model`` returns logits ``B x K x H x W``, or a dict holding them under ``"out"``
    (torchvision's segmentation models).
    ``return_probs=True`` also returns the probabilities ``B x K x H x W``. ``batch_size``
    splits a large batch into chunks to bound memory. Results are on the model's device.
    """
    x = _as_batch(images)
    if window is not None:
        if tuple(scales) != (1.0,) or flip:
            raise ValueError(
                "window (sliding-window inference) cannot be combined with scales or flip"
            )
        from .inference_sliding import sliding_window_predict

        return sliding_window_predict(
            model, x, window, stride, batch_size=batch_size or 8, return_probs=return_probs
        )
    chunks = [x] if batch_size is None else x.split(batch_size)
    if len(scales) == 1 and scales[0] == 1.0 and not flip and not return_probs:
        model.eval()
        dev = _model_device(model)
        return torch.cat([logits_of(model(c.to(dev))).argmax(1) for c in chunks])
    probs = torch.cat([predict_proba(model, c, scales, flip) for c in chunks])
    masks = probs.argmax(1)
    return (masks, probs) if return_probs else masks
