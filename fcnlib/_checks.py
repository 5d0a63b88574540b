"""Input checks shared by models, metrics, inference and widgets.

Each check raises a ``ValueError``/``TypeError`` that names the argument and says what was
expected, so a learner sees the mistake in their own call rather than a stack trace from
deep inside PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def check_images(x, name: str = "images", channels: int | None = 3) -> torch.Tensor:
    """Check a batch of images: a floating-point tensor ``B x C x H x W``.

    Returns the tensor unchanged. ``channels=None`` accepts any channel count.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape B x 3 x H x W, got {type(x).__name__}"
        )
    if x.dim() == 3:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: expected a batch B x 3 x H x W. "
            f"For a single image use {name}.unsqueeze(0)."
        )
    if x.dim() != 4:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: expected 4 dimensions B x 3 x H x W")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} has dtype {x.dtype}: expected a floating-point tensor "
            f"(for uint8 images use {name}.float() / 255)"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}): expected {channels}. "
            "Images are B x C x H x W, channels first."
        )
    return x


def check_masks(mask, num_classes: int, ignore_index: int | None = 255, name: str = "target"):
    """Check integer label masks: values in ``[0, num_classes)`` or ``ignore_index``.

    Raises a ``ValueError`` naming the first offending value.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of integer labels, got {type(mask).__name__}"
        )
    if mask.is_floating_point() or mask.is_complex() or mask.dtype == torch.bool:
        raise TypeError(f"{name} has dtype {mask.dtype}: expected integer class labels")
    valid = (mask >= 0) & (mask < num_classes)
    if ignore_index is not None:
        valid |= mask == ignore_index
    if not bool(valid.all()):
        bad = sorted({int(v) for v in mask[~valid].unique()[:5].tolist()})
        extra = f" or the ignore label {ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{name} contains label value(s) {bad}, outside the {num_classes} classes "
            f"[0, {num_classes - 1}]{extra}"
        )
    return mask


def logits_of(output, num_classes: int | None = None) -> torch.Tensor:
    """The logits ``B x K x H x W`` in a segmentation model's output.

    fcnlib's and segmentation_models_pytorch's models return the tensor itself,
    torchvision's a dict whose ``"out"`` entry it is. With ``num_classes``, ``K`` must equal
    it: a model built for another class count is named here, not in the loss.
    """
    if isinstance(output, Mapping):
        if "out" not in output:
            raise TypeError(
                f"the model returned a dict with keys {sorted(output)}: expected the logits "
                "under 'out' (as torchvision's segmentation models return them)"
            )
        output = output["out"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__}: expected logits B x K x H x W "
            "(a tensor, or a dict holding it under 'out')"
        )
    if output.dim() != 4:
        raise ValueError(
            f"the model returned shape {tuple(output.shape)}: expected logits B x K x H x W"
        )
    if num_classes is not None and output.shape[1] != num_classes:
        raise ValueError(
            f"the model predicts {output.shape[1]} classes (its logits are "
            f"{tuple(output.shape)}) but the data has {num_classes} classes; build the model "
            f"with {num_classes} outputs"
        )
    return output
