"""The all-convolutional network of notebook 01: 3x3 convolutions at full resolution.

Every layer keeps ``H x W`` (padding 1, stride 1), so the output lines up with the input
pixel for pixel. Its receptive field grows by only 2 px per layer: ``1 + 2 * depth``.
"""

from __future__ import annotations

from torch import nn

from .._checks import check_positive_int
from .base import SegmentationModel
from .blocks import ConvBNReLU
from .registry import register


class AllConvNet(SegmentationModel):
    """``depth`` padding-preserving 3x3 conv layers (conv-BN-ReLU), then a 1x1 classifier.

    ``B x 3 x H x W -> B x K x H x W``: no downsampling anywhere, so every layer works at
    full resolution and the receptive field is ``1 + 2 * depth`` pixels square.

    Args:
        num_classes: ``K``.
        width: channels of every hidden layer.
        depth: number of 3x3 convolution layers (at least 1).
    """

    def __init__(self, num_classes: int, width: int = 32, depth: int = 4):
        super().__init__(num_classes)
        check_positive_int(depth, "depth", " (number of 3x3 convs)")
        check_positive_int(width, "width")
        self.width, self.depth = width, depth
        layers = [ConvBNReLU(3 if i == 0 else width, width) for i in range(depth)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def _forward(self, x):
        return {"out": self.classifier(self.features(x))}

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, width={self.width}, depth={self.depth}"


@register("allconv")
def allconv(num_classes: int, **kw) -> AllConvNet:
    """``AllConvNet(num_classes, width=32, depth=4)``."""
    return AllConvNet(num_classes, **kw)
