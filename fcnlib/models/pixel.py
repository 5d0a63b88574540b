"""The per-pixel baseline of notebook 00: a small MLP applied to each pixel on its own."""

from __future__ import annotations

from torch import nn

from .base import SegmentationModel
from .registry import register


class PerPixelNet(SegmentationModel):
    """Classifies every pixel from its own colour only: 1x1 convolutions, no spatial context.

    ``B x 3 x H x W -> B x K x H x W``. Its receptive field is one pixel, so on data where
    the class is given by shape (not colour) it cannot do better than guessing.
    """

    def __init__(self, num_classes: int, hidden: int = 32):
        super().__init__(num_classes)
        self.classifier = nn.Sequential(
            nn.Conv2d(3, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, num_classes, 1),
        )

    def _forward(self, x):
        return {"out": self.classifier(x)}


@register("perpixel")
def perpixel(num_classes: int, **kw) -> PerPixelNet:
    return PerPixelNet(num_classes, **kw)
