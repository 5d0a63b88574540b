"""The one contract every fcnlib model keeps.

As in torchvision's ``models/segmentation/_utils.py``: a model computes class scores at
some (usually reduced) resolution and then bilinearly upsamples them to the input size.

    forward(x: B x 3 x H x W float) -> logits B x K x H x W

whatever H and W are (odd sizes included). Models with an auxiliary head return
``{"out": ..., "aux": ...}`` when called with ``return_aux=True``.

:class:`SegmentationModel` keeps the contract (check the input, upsample the logits);
:class:`ResNetSegmentation` is torchvision's backbone -> classifier (-> aux classifier)
layout on top of it, shared by FCN-ResNet and DeepLab.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_images, check_positive_int, check_positive_number


class SegmentationModel(nn.Module):
    """Base class: subclasses implement :meth:`_forward` returning a dict of logits.

    ``_forward(x)`` returns ``{"out": B x K x h x w}`` (and optionally ``"aux"``) at any
    resolution; the base class checks the input and upsamples every entry to ``H x W``.
    """

    in_channels: int = 3

    def __init__(self, num_classes: int):
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        self.num_classes = num_classes

    def _forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        check_images(x, "x", channels=self.in_channels)
        size = x.shape[-2:]
        out = self._forward(x)
        out = {
            k: v
            if v.shape[-2:] == size
            else F.interpolate(v, size=size, mode="bilinear", align_corners=False)
            for k, v in out.items()
        }
        return out if return_aux else out["out"]

    def head_parameters(self):
        """Parameters that are new to this task (everything outside ``self.backbone``).

        ``engine.fit(head_lr_mult=10)`` trains these at ten times the base learning rate,
        as DeepLab does for its freshly initialised head.
        """
        backbone = getattr(self, "backbone", None)
        skip = {id(p) for p in backbone.parameters()} if isinstance(backbone, nn.Module) else set()
        return [p for p in self.parameters() if id(p) not in skip]

    def backbone_parameters(self):
        backbone = getattr(self, "backbone", None)
        return list(backbone.parameters()) if isinstance(backbone, nn.Module) else []

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


class ResNetSegmentation(SegmentationModel):
    """Backbone features -> ``classifier`` (and ``aux_classifier`` on ``layer3``) -> logits.

    ``backbone`` returns ``{"out": layer4 features, "aux": layer3 features}`` (the latter only
    with an aux head). ``forward(x)`` gives ``B x K x H x W`` logits; ``forward(x,
    return_aux=True)`` the dict ``{"out", "aux"}``. With ``input_scale`` other than 1 the
    image is resized by that factor (bilinearly) before the backbone; the logits still come
    out at ``H x W``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        classifier: nn.Module,
        aux_classifier: nn.Module | None,
        num_classes: int,
        output_stride: int,
        input_scale: float = 1.0,
    ):
        super().__init__(num_classes)
        check_positive_number(input_scale, "input_scale")
        if not input_scale <= 8:
            raise ValueError(f"input_scale must be in (0, 8], got {input_scale!r}")
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier
        self.output_stride = output_stride
        self.input_scale = float(input_scale)

    def _classify(self, features: dict):
        """Class scores from the backbone's features (``classifier`` on ``layer4``)."""
        return self.classifier(features["out"])

    def _forward(self, x):
        if self.input_scale != 1:
            x = F.interpolate(
                x, scale_factor=self.input_scale, mode="bilinear", align_corners=False
            )
        features = self.backbone(x)
        out = {"out": self._classify(features)}
        if self.aux_classifier is not None:
            out["aux"] = self.aux_classifier(features["aux"])
        return out

    def extra_repr(self) -> str:
        scale = f", input_scale={self.input_scale:g}" if self.input_scale != 1 else ""
        return f"num_classes={self.num_classes}, output_stride={self.output_stride}{scale}"
