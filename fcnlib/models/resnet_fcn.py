"""FCN with a ResNet backbone: a convolutionalised classifier plus a small head.

The ResNet's global pooling and ``fc`` are dropped; a 3x3 conv head (torchvision's
``FCNHead``) scores every position of the last feature map, and the scores are bilinearly
upsampled to the input size. FCN-ResNet18 at output stride 32 is the model of
jetson-inference's segNet; torchvision's ``fcn_resnet50`` is FCN-ResNet50 at output stride 8
with an auxiliary head on ``layer3``. The head is torchvision's own ``FCNHead`` and module
names follow torchvision (``backbone``, ``classifier``, ``aux_classifier``), so its state
dicts load with ``strict=True``.
"""

from __future__ import annotations

from torchvision.models.segmentation.fcn import FCNHead

from .base import ResNetSegmentation
from .registry import register
from .resnet import resnet_features, stage_channels

__all__ = ["FCNResNet", "fcn_resnet"]


class FCNResNet(ResNetSegmentation):
    """FCN-ResNet; build it with :func:`fcn_resnet`."""


def fcn_resnet(
    num_classes: int,
    backbone: str = "resnet18",
    *,
    output_stride: int | None = None,
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    zero_init_residual: bool = False,
    width: int = 64,
    input_scale: float = 1.0,
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
        width: channels of ResNet-18/34's first stage (64 as published; a narrower network
            for CPU runs, see :func:`~fcnlib.models.resnet.resnet_backbone`).
        input_scale: resize the image by this factor (bilinearly) before the backbone; the
            logits still come out at the input's size (as :func:`~fcnlib.models.deeplab`'s).
    """
    if output_stride is None:
        output_stride = 32 if backbone in ("resnet18", "resnet34") else 8
    c3, c4 = stage_channels(backbone, width)
    features = resnet_features(
        backbone,
        output_stride=output_stride,
        aux=aux_loss,
        pretrained=pretrained_backbone,
        zero_init_residual=zero_init_residual,
        width=width,
    )
    aux = FCNHead(c3, num_classes) if aux_loss else None
    return FCNResNet(
        features, FCNHead(c4, num_classes), aux, num_classes, output_stride, input_scale
    )


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
