"""FCN with a ResNet backbone: a convolutionalised classifier plus a small head.

The ResNet's global pooling and ``fc`` are dropped; a 3x3 conv head (torchvision's
``FCNHead``) scores every position of the last feature map, and the scores are bilinearly
upsampled to the input size. FCN-ResNet18 at output stride 32 is the model of
jetson-inference's segNet; torchvision's ``fcn_resnet50`` is FCN-ResNet50 at output stride 8
with an auxiliary head on ``layer3``. Module names follow torchvision (``backbone``,
``classifier``, ``aux_classifier``), so its state dicts load with ``strict=True``.
"""

from __future__ import annotations

from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from .base import SegmentationModel
from .registry import register
from .resnet import resnet_backbone, stage_channels


class FCNHead(nn.Sequential):
    """3x3 conv (``in_channels -> in_channels // 4``), BN, ReLU, dropout, 1x1 conv to classes.

    ``B x in_channels x h x w -> B x channels x h x w`` (torchvision's ``FCNHead``).
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        inter_channels = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter_channels, channels, 1),
        )


class ResNetSegmentation(SegmentationModel):
    """Backbone features -> ``classifier`` (and ``aux_classifier`` on ``layer3``) -> logits.

    ``backbone`` returns ``{"out": layer4 features, "aux": layer3 features}`` (the latter only
    with an aux head). ``forward(x)`` gives ``B x K x H x W`` logits; ``forward(x,
    return_aux=True)`` the dict ``{"out", "aux"}``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        classifier: nn.Module,
        aux_classifier,
        num_classes: int,
        output_stride: int,
    ):
        super().__init__(num_classes)
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier
        self.output_stride = output_stride

    def _classify(self, features: dict):
        """Class scores from the backbone's features (``classifier`` on ``layer4``)."""
        return self.classifier(features["out"])

    def _forward(self, x):
        features = self.backbone(x)
        out = {"out": self._classify(features)}
        if self.aux_classifier is not None:
            out["aux"] = self.aux_classifier(features["aux"])
        return out

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, output_stride={self.output_stride}"


class FCNResNet(ResNetSegmentation):
    """FCN-ResNet; build it with :func:`fcn_resnet`."""


def resnet_features(
    backbone: str,
    output_stride: int,
    aux_loss: bool,
    pretrained_backbone: bool,
    low_level: bool = False,
    zero_init_residual: bool = False,
):
    """``IntermediateLayerGetter`` returning ``layer4`` as ``"out"`` (``layer3`` as ``"aux"``
    with ``aux_loss``, ``layer1`` as ``"low"`` with ``low_level``)."""
    resnet = resnet_backbone(
        backbone, output_stride, pretrained_backbone, zero_init_residual=zero_init_residual
    )
    return_layers = {"layer4": "out"}
    if aux_loss:
        return_layers["layer3"] = "aux"
    if low_level:
        return_layers["layer1"] = "low"
    return IntermediateLayerGetter(resnet, return_layers=return_layers)


def fcn_resnet(
    num_classes: int,
    backbone: str = "resnet18",
    *,
    output_stride: int | None = None,
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    zero_init_residual: bool = False,
) -> FCNResNet:
    """FCN with a ResNet backbone: ``B x 3 x H x W -> B x num_classes x H x W`` logits.

    Args:
        num_classes: number of classes K (background included).
        backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        output_stride: 32, 16 or 8 (stride of the last feature map; 16 and 8 use dilation).
            ``None`` picks the published models: 32 for ResNet-18/34 (jetson-inference's
            segNet), 8 for ResNet-50/101 (torchvision's ``fcn_resnet50/101``).
        aux_loss: add torchvision's auxiliary ``FCNHead`` on ``layer3`` (used in training
            with ``engine.fit(aux_weight=...)``; ``forward(x, return_aux=True)`` returns it).
        pretrained_backbone: start from torchvision's ImageNet weights (from the torch cache;
            a clear error when they are absent and cannot be downloaded).
        zero_init_residual: from scratch, start every residual block as the identity (its
            last BatchNorm scale at zero; see :func:`~fcnlib.models.resnet.resnet_backbone`).
            Off by default: from scratch on the built-in scenes it lowered FCN-ResNet18's
            mIoU (``benchmarks/compare.md``).
    """
    if output_stride is None:
        output_stride = 32 if backbone in ("resnet18", "resnet34") else 8
    c3, c4 = stage_channels(backbone)
    features = resnet_features(
        backbone,
        output_stride,
        aux_loss,
        pretrained_backbone,
        zero_init_residual=zero_init_residual,
    )
    aux = FCNHead(c3, num_classes) if aux_loss else None
    return FCNResNet(features, FCNHead(c4, num_classes), aux, num_classes, output_stride)


@register("fcn_resnet18")
def fcn_resnet18(num_classes: int, **kw) -> FCNResNet:
    return fcn_resnet(num_classes, "resnet18", **kw)


@register("fcn_resnet34")
def fcn_resnet34(num_classes: int, **kw) -> FCNResNet:
    return fcn_resnet(num_classes, "resnet34", **kw)


@register("fcn_resnet50")
def fcn_resnet50(num_classes: int, **kw) -> FCNResNet:
    return fcn_resnet(num_classes, "resnet50", **kw)


@register("fcn_resnet101")
def fcn_resnet101(num_classes: int, **kw) -> FCNResNet:
    return fcn_resnet(num_classes, "resnet101", **kw)
