"""DeepLab's optimisation recipe as small functions: the optimizer (with a larger learning rate
for the new head), the poly learning-rate schedule with warmup, frozen BatchNorm, and the
loss (class weights, ignore label, auxiliary head, several scales).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import unwrap_parallel as _unwrap

__all__ = ["build_optimizer", "poly_lr_lambda", "segmentation_loss", "set_bn_frozen"]


def build_optimizer(
    model: nn.Module,
    optimizer: str = "adam",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    head_lr_mult: float = 1.0,
) -> torch.optim.Optimizer:
    """Adam or SGD (with momentum) over two parameter groups: backbone at ``lr`` and the rest
    (the new head) at ``lr * head_lr_mult``. Frozen parameters are left out. The update is
    torch's fused kernel wherever torch supports it (CUDA; the CPU since torch 2.4)."""
    m = _unwrap(model)
    backbone = m.backbone_parameters() if hasattr(m, "backbone_parameters") else []
    ids = {id(p) for p in backbone}
    head = [p for p in m.parameters() if id(p) not in ids]
    groups = [
        {"params": [p for p in backbone if p.requires_grad], "lr": lr, "name": "backbone"},
        {"params": [p for p in head if p.requires_grad], "lr": lr * head_lr_mult, "name": "head"},
    ]
    groups = [g for g in groups if g["params"]]
    for g in groups:
        g["initial_lr"] = g["lr"]
    if optimizer == "sgd":
        cls, kw = torch.optim.SGD, {"momentum": momentum}
    elif optimizer == "adam":
        cls, kw = torch.optim.AdamW, {}
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    # One fused kernel updates every parameter: on CUDA, and on the CPU since torch 2.4,
    # where it makes AdamW's step about 4x faster than torch's default per-parameter loop
    # (ResNet-18: 10 ms vs 46 ms, measured). Older versions and other devices refuse
    # fused=True, and get torch's default implementation (which also reports bad groups).
    try:
        return cls(groups, lr=lr, weight_decay=weight_decay, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return cls(groups, lr=lr, weight_decay=weight_decay, **kw)


def poly_lr_lambda(total_steps: int, power: float = 0.9, warmup_steps: int = 0):
    """Multiplier of the base learning rate at step ``i``: linear warmup, then
    ``(1 - i / total_steps) ** power`` (DeepLab's "poly" schedule)."""

    def f(i: int) -> float:
        if warmup_steps and i < warmup_steps:
            return (i + 1) / warmup_steps
        return max(0.0, 1 - i / max(1, total_steps)) ** power

    return f


def set_bn_frozen(model: nn.Module, frozen: bool = True) -> None:
    """Freeze BatchNorm: running statistics stop updating (eval mode) and the affine
    parameters stop learning. Call after ``model.train()``, which would undo it."""
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            if frozen:
                mod.eval()
            for p in mod.parameters():
                p.requires_grad_(not frozen)


def segmentation_loss(
    model: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
    criterion: nn.Module,
    scales: Sequence[float] = (1.0,),
    aux_weight: float = 0.0,
) -> torch.Tensor:
    """The training loss for one batch.

    With one scale: cross-entropy of the logits (plus ``aux_weight`` times that of the
    auxiliary head). With several scales (DeepLab-v2's multi-scale input): the image is
    resized by each factor, every output is upsampled to full size and gets its own loss,
    and a further loss is taken on their element-wise maximum; all are summed.
    """
    want_aux = aux_weight > 0 and getattr(_unwrap(model), "aux_classifier", None) is not None
    size = images.shape[-2:]
    outs, loss = [], 0.0
    for s in scales:
        x = (
            images
            if s == 1.0
            else F.interpolate(images, scale_factor=s, mode="bilinear", align_corners=False)
        )
        out = model(x, return_aux=True) if want_aux else {"out": model(x)}
        logits = out["out"]
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        outs.append(logits)
        loss = loss + criterion(logits, targets)
        if want_aux:
            aux = out["aux"]
            if aux.shape[-2:] != size:
                aux = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
            loss = loss + aux_weight * criterion(aux, targets)
    if len(outs) > 1:
        loss = loss + criterion(torch.stack(outs).amax(0), targets)
    return loss
