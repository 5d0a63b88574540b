"""Sliding-window inference for images larger than a model was trained on (or than memory allows).

The image is cut into overlapping ``window``-sized crops placed every ``stride`` pixels (the
last row and column of crops are shifted back so they end at the border: every crop lies
inside the image and every pixel is covered). Each crop is segmented on its own, and the
class probabilities of the crops covering a pixel are averaged.
"""

from __future__ import annotations

import torch

from ._checks import check_images, check_positive_int, check_size, logits_of, model_device


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of the crops along one axis: ``0, stride, 2 stride, ...``, the last one
    moved back to ``size - window`` so that the crops cover ``[0, size)`` exactly.
    A window larger than the image is cut to the image (one crop)."""
    window = min(window, size)
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


@torch.inference_mode()
def sliding_window_predict(
    model: torch.nn.Module,
    image: torch.Tensor,
    window: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    *,
    batch_size: int = 8,
    return_probs: bool = False,
):
    """Segment ``image`` crop by crop.

    Args:
        model: a segmentation model, ``B x 3 x h x w -> B x K x h x w`` logits (set to eval mode).
        image: ``3 x H x W`` or ``B x 3 x H x W`` float tensor.
        window: crop size ``S`` or ``(h, w)``; cut to the image where it is larger.
        stride: step between crops (default: two thirds of the window, i.e. one third overlap);
            at most ``window``, so that no pixel is skipped.
        batch_size: crops per forward pass (bounds memory).
        return_probs: also return the averaged probabilities ``B x K x H x W``.

    Returns masks ``B x H x W`` (long), on the model's device (and the probabilities).
    """
    x = image.unsqueeze(0) if isinstance(image, torch.Tensor) and image.dim() == 3 else image
    check_images(x, "image", channels=getattr(model, "in_channels", None))
    win = check_size(window, "window")
    step = (
        check_size(stride, "stride")
        if stride is not None
        else tuple(max(1, 2 * w // 3) for w in win)
    )
    if step[0] > win[0] or step[1] > win[1]:
        raise ValueError(
            f"stride {stride!r} is larger than window {window!r}: pixels would be skipped"
        )
    check_positive_int(batch_size, "batch_size")
    model.eval()
    x = x.to(model_device(model))
    b, _, h, w = x.shape
    wh, ww = min(win[0], h), min(win[1], w)
    boxes = [
        (top, left)
        for top in window_starts(h, win[0], step[0])
        for left in window_starts(w, win[1], step[1])
    ]
    probs, counts = None, torch.zeros(1, 1, h, w, device=x.device)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        crops = torch.cat([x[:, :, t : t + wh, l : l + ww] for t, l in chunk])
        p = logits_of(model(crops)).float().softmax(1)  # (len(chunk) * B) x K x wh x ww
        if probs is None:
            probs = torch.zeros(b, p.shape[1], h, w, device=x.device)
        for j, (t, l) in enumerate(chunk):
            probs[:, :, t : t + wh, l : l + ww] += p[j * b : (j + 1) * b]
            counts[:, :, t : t + wh, l : l + ww] += 1
    probs /= counts
    masks = probs.argmax(1)
    return (masks, probs) if return_probs else masks
