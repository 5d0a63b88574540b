"""A DeepLab-v3+ whose decoder steps down twice, for ``compare.py`` (not part of fcnlib yet).

ASPP's stride-16 output is upsampled to stride 8 and fused with ``layer2`` (projected to 64
channels) by one separable 3x3 convolution, then upsampled to stride 4 and fused with
``layer1`` (projected to 48) by another: in place of the paper's two convolutions at stride 4,
one at stride 8 and one at stride 4, the skip idea of FCN-8s on a ResNet. Built from fcnlib's
own pieces (its ResNet backbone, ASPP and blocks); ``benchmarks/README.md`` gives what it
measured ("Goal 2: what was tried").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from fcnlib.models.blocks import ConvBNReLU
from fcnlib.models.deeplab import ASPP, DeepLabV3Plus
from fcnlib.models.resnet import resnet_backbone, stage_channels


class TwoStepHead(nn.Module):
    """``forward(features)`` with ``"out"`` (stride 16), ``"mid"`` (stride 8) and ``"low"``
    (stride 4) feature maps; returns ``B x num_classes`` logits at ``"low"``'s size."""

    def __init__(self, low, mid, high, num_classes, rates=(6, 12, 18), channels=256):
        super().__init__()
        self.aspp = ASPP(high, rates, channels, separable=True)
        self.mid_project = ConvBNReLU(mid, 64, kernel_size=1)
        self.mid_decoder = ConvBNReLU(channels + 64, channels, separable=True)
        self.low_project = ConvBNReLU(low, 48, kernel_size=1)
        self.low_decoder = ConvBNReLU(channels + 48, channels, separable=True)
        self.score = nn.Conv2d(channels, num_classes, 1)

    @staticmethod
    def _fuse(x, skip, project, decoder):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return decoder(torch.cat([x, project(skip)], dim=1))

    def forward(self, f: dict) -> torch.Tensor:
        x = self._fuse(self.aspp(f["out"]), f["mid"], self.mid_project, self.mid_decoder)
        return self.score(self._fuse(x, f["low"], self.low_project, self.low_decoder))


class TwoStepDeepLabV3Plus(DeepLabV3Plus):
    def _classify(self, features: dict):
        return self.classifier(features)


def two_step_deeplabv3plus_resnet18(num_classes: int) -> TwoStepDeepLabV3Plus:
    """ResNet-18 at output stride 16 with :class:`TwoStepHead`; random weights."""
    _, c4 = stage_channels("resnet18", 64)
    resnet = resnet_backbone("resnet18", 16, False, False, 64)
    features = IntermediateLayerGetter(
        resnet, return_layers={"layer4": "out", "layer2": "mid", "layer1": "low"}
    )
    head = TwoStepHead(c4 // 8, c4 // 4, c4, num_classes)
    return TwoStepDeepLabV3Plus(features, head, None, num_classes, 16, (6, 12, 18), 1.0)
