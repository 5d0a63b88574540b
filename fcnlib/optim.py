"""DeepLab's optimisation recipe as small functions: the optimizer (with a larger learning rate
for the new head), the poly learning-rate schedule with warmup, frozen BatchNorm, and the
loss (class weights, ignore label, auxiliary head, several scales).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import logits_of
from ._checks import unwrap_parallel as _unwrap

__all__ = ["build_optimizer", "poly_lr_lambda", "segmentation_loss", "set_bn_frozen"]


def build_optimizer(
    model: nn.Module,
    optimizer: str = "adamw",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    head_lr_mult: float = 1.0,
) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` (``"adamw"``), ``Adam`` (``"adam"``) or ``SGD`` with momentum
    (``"sgd"``) over two parameter groups: backbone at ``lr`` and the rest (the new head) at
    ``lr * head_lr_mult``. ``weight_decay`` is decoupled from the gradient for AdamW and
    added to it (L2) for Adam and SGD; with ``weight_decay=0`` Adam and AdamW take the same
    steps. The backbone is ``model.backbone_parameters()``,
    else ``model.backbone`` or ``model.encoder``. Frozen parameters are left out. The update is
    torch's fused kernel wherever torch supports it (CUDA; the CPU since torch 2.4)."""
    m = _unwrap(model)
    if hasattr(m, "backbone_parameters"):
        backbone = m.backbone_parameters()
    else:  # torchvision's models call it backbone, segmentation_models_pytorch's encoder
        part = getattr(m, "backbone", None) or getattr(m, "encoder", None)
        backbone = list(part.parameters()) if isinstance(part, nn.Module) else []
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
    elif optimizer == "adamw":
        cls, kw = torch.optim.AdamW, {}
    elif optimizer == "adam":
        cls, kw = torch.optim.Adam, {}
    else:
        raise ValueError(f"optimizer must be 'adamw', 'adam' or 'sgd', got {optimizer!r}")
    # One fused kernel updates every parameter: on CUDA, and on the CPU since torch 2.4.
    # Older versions and other devices refuse fused=True, and get torch's default
    # implementation (which also reports bad groups).
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
    num_classes: int | None = None,
) -> torch.Tensor:
    """The training loss for one batch.

    With one scale: cross-entropy of the logits (plus ``aux_weight`` times that of the
    auxiliary head). With several scales (DeepLab-v2's multi-scale input): the image is
    resized by each factor, every output is upsampled to full size and gets its own loss,
    and a further loss is taken on their element-wise maximum; all are summed.

    ``model`` returns logits ``B x K x H x W`` or a dict holding them under ``"out"`` (and
    the auxiliary logits under ``"aux"``, as torchvision's models do); ``num_classes``, when
    given, must equal ``K``.
    """
    net = _unwrap(model)
    want_aux = aux_weight > 0 and getattr(net, "aux_classifier", None) is not None
    # fcnlib's models return the auxiliary logits on request, torchvision's always
    ask_aux = want_aux and "return_aux" in inspect.signature(net.forward).parameters
    size = images.shape[-2:]
    outs, loss = [], 0.0
    for s in scales:
        x = (
            images
            if s == 1.0
            else F.interpolate(images, scale_factor=s, mode="bilinear", align_corners=False)
        )
        out = model(x, return_aux=True) if ask_aux else model(x)
        logits = logits_of(out, num_classes)
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        outs.append(logits)
        loss = loss + criterion(logits, targets)
        if want_aux:
            if not isinstance(out, Mapping) or out.get("aux") is None:
                raise ValueError(
                    f"aux_weight={aux_weight} but the model returned no auxiliary logits "
                    "('aux'); build it with its auxiliary head, or leave aux_weight at 0"
                )
            aux = out["aux"]
            if aux.shape[-2:] != size:
                aux = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
            loss = loss + aux_weight * criterion(aux, targets)
    if len(outs) > 1:
        loss = loss + criterion(torch.stack(outs).amax(0), targets)
    return loss
