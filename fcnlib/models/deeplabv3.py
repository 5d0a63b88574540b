"""DeepLabV3: an atrous ResNet and Atrous Spatial Pyramid Pooling (ASPP).

The backbone runs at output stride 16 or 8 (its last stages dilated instead of strided,
see :mod:`fcnlib.models.resnet`). ASPP looks at the feature map through parallel branches
with different fields of view: a 1x1 conv, three 3x3 convs dilated by ``aspp_rates`` and
an image-level branch (global average pool, 1x1 conv, broadcast back). The branches are
concatenated and projected to 256 channels, then a 3x3 conv and a 1x1 conv give the class
scores. Module names follow torchvision's ``deeplabv3.py``, so its ``deeplabv3_resnet50/101``
state dicts load with ``strict=True``.

DeepLabV3+ (``deeplab(..., decoder=True)``, registered as ``deeplabv3plus_resnet*``) adds a
light decoder: the ASPP output, upsampled 4x, is concatenated with ``layer1``'s stride-4
features (projected to 48 channels) and refined by two 3x3 convolutions before the class
scores, the skip-connection idea of FCN-8s applied to DeepLab (Chen et al., ECCV 2018). As in
the paper, its ASPP and decoder use depthwise-separable 3x3 convolutions
(:class:`SeparableConv2d`): about a ninth of the weights and multiply-adds of a full 3x3
convolution at 256 channels.

``input_scale`` (any DeepLab) resizes the image before the backbone and brings the scores back
to the input's size: for images so small that the stem's stride of 4 leaves the decoder too
coarse a map (notebook 05's 64-px scenes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPPPooling
from torchvision.models.segmentation.fcn import FCNHead

from .._checks import check_bool, check_positive_int
from .base import ResNetSegmentation
from .blocks import ConvBNReLU
from .registry import register
from .resnet import resnet_features, stage_channels

__all__ = [
    "ASPP",
    "ASPPConv",
    "DeepLabHead",
    "DeepLabV3",
    "DeepLabV3Plus",
    "DeepLabV3PlusHead",
    "deeplab",
]


class ASPPConv(ConvBNReLU):
    """3x3 conv (full or separable) with ``dilation`` (padding keeps the size), BN, ReLU.

    With ``separable=False`` this is torchvision's ``ASPPConv`` layer for layer.
    """

    def __init__(
        self, in_channels: int, out_channels: int, dilation: int, separable: bool = False
    ) -> None:
        super().__init__(in_channels, out_channels, 3, dilation, separable)


class ASPP(nn.Module):
    """Atrous Spatial Pyramid Pooling: ``B x in_channels x h x w -> B x out_channels x h x w``.

    Branches (``self.convs``): a 1x1 conv, one :class:`ASPPConv` per rate in
    ``atrous_rates`` (depthwise-separable with ``separable=True``), and torchvision's
    ``ASPPPooling`` (global average pool, 1x1 conv, BN, ReLU, broadcast back to ``h x w``);
    concatenated, then ``self.project`` (1x1 conv, BN, ReLU, dropout 0.5 as in torchvision).
    """

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int],
        out_channels: int = 256,
        separable: bool = False,
    ) -> None:
        super().__init__()
        modules = [ConvBNReLU(in_channels, out_channels, kernel_size=1)]
        modules += [ASPPConv(in_channels, out_channels, rate, separable) for rate in atrous_rates]
        modules.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(modules)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    """ASPP, 3x3 conv, BN, ReLU, 1x1 conv to classes (torchvision's ``DeepLabHead``).

    ``B x in_channels x h x w -> B x num_classes x h x w``. ``separable`` makes the 3x3
    convolutions depthwise-separable (the state dict is then no longer torchvision's).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        atrous_rates: Sequence[int] = (12, 24, 36),
        channels: int = 256,
        separable: bool = False,
    ) -> None:
        super().__init__(
            ASPP(in_channels, atrous_rates, channels, separable),
            *ConvBNReLU(channels, channels, separable=separable),
            nn.Conv2d(channels, num_classes, 1),
        )


class DeepLabV3PlusHead(nn.Module):
    """ASPP on the deep features, then a decoder with the stride-4 features of ``layer1``.

    ``forward(high, low)``: ``high`` is ``B x in_channels x h x w`` (``layer4``), ``low`` is
    ``B x low_channels x 4h' x 4w'`` (``layer1``); returns ``B x num_classes`` logits at
    ``low``'s size. The low-level features are projected to ``low_projection`` (48) channels
    so that the ``channels`` ASPP channels dominate the concatenation, and two 3x3
    convolutions of ``channels`` channels refine it, as in the paper. ``separable`` makes the
    3x3 convolutions of ASPP and of the decoder depthwise-separable (the paper's choice).
    """

    def __init__(
        self,
        low_channels: int,
        in_channels: int,
        num_classes: int,
        atrous_rates: Sequence[int] = (6, 12, 18),
        channels: int = 256,
        low_projection: int = 48,
        separable: bool = True,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(in_channels, atrous_rates, channels, separable)
        self.low_project = ConvBNReLU(low_channels, low_projection, kernel_size=1)
        self.decoder = nn.Sequential(
            *ConvBNReLU(channels + low_projection, channels, separable=separable),
            *ConvBNReLU(channels, channels, separable=separable),
        )
        self.score = nn.Conv2d(channels, num_classes, 1)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        context = F.interpolate(
            self.aspp(high), size=low.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.score(self.decoder(torch.cat([context, self.low_project(low)], dim=1)))


class DeepLabV3(ResNetSegmentation):
    """DeepLabV3 with a ResNet backbone; build it with :func:`deeplab`."""

    def __init__(
        self,
        backbone: nn.Module,
        classifier: nn.Module,
        aux_classifier: nn.Module | None,
        num_classes: int,
        output_stride: int,
        atrous_rates: Sequence[int],
        input_scale: float = 1.0,
    ):
        super().__init__(
            backbone, classifier, aux_classifier, num_classes, output_stride, input_scale
        )
        self.atrous_rates = tuple(atrous_rates)  # the rates ASPP uses at this output stride

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, atrous_rates={self.atrous_rates}"


class DeepLabV3Plus(DeepLabV3):
    """DeepLabV3+; build it with :func:`deeplab` and ``decoder=True``.

    ``backbone`` also returns ``layer1`` as ``"low"``; ``classifier`` is a
    :class:`DeepLabV3PlusHead` whose scores come out at stride 4.
    """

    def _classify(self, features: dict):
        return self.classifier(features["out"], features["low"])


def deeplab(
    num_classes: int,
    backbone: str = "resnet18",
    *,
    output_stride: int = 16,
    aspp_rates: Sequence[int] = (6, 12, 18),
    aux_loss: bool = False,
    pretrained_backbone: bool = False,
    aspp_channels: int = 256,
    decoder: bool = False,
    separable: bool | None = None,
    zero_init_residual: bool = False,
    width: int = 64,
    input_scale: float = 1.0,
) -> DeepLabV3:
    """DeepLabV3 (or V3+): ``B x 3 x H x W -> B x num_classes x H x W`` logits.

    Args:
        num_classes: number of classes K (background included).
        backbone: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        output_stride: 16 (``layer4`` dilated) or 8 (``layer3`` and ``layer4`` dilated).
        aspp_rates: ASPP dilation rates *at output stride 16*; they double at output stride 8
            so that each branch keeps its field of view in input pixels (torchvision's
            ``deeplabv3_resnet50`` is output stride 8 with rates 12, 24, 36).
        aux_loss: add an auxiliary ``FCNHead`` on ``layer3``.
        pretrained_backbone: start from torchvision's ImageNet weights (from the torch cache;
            a clear error when they are absent and cannot be downloaded).
        aspp_channels: width of the ASPP branches and of the head (256 in the paper).
        decoder: DeepLabV3+: refine the ASPP output with ``layer1``'s stride-4 features
            (:class:`DeepLabV3PlusHead`). The state dict is then no longer torchvision's
            ``deeplabv3`` (the head differs; the backbone keys are still torchvision's).
        separable: depthwise-separable 3x3 convolutions in the head (:class:`SeparableConv2d`).
            ``None`` follows the papers: ``True`` for V3+, ``False`` for V3 (torchvision's
            layout, so that its weights load).
        zero_init_residual: from scratch, start every residual block as the identity (its
            last BatchNorm scale at zero; see :func:`~fcnlib.models.resnet.resnet_backbone`).
        width: channels of ResNet-18/34's first stage (64 as published; a narrower network
            for CPU runs, see :func:`~fcnlib.models.resnet.resnet_backbone`).
        input_scale: resize the image by this factor (bilinearly) before the backbone; the
            logits still come out at the input's size. For images small next to the stem's
            stride of 4, where ``layer1``, V3+'s fine features, would be a coarse map.
    """
    if output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 16 or 8 for DeepLab, got {output_stride!r}")
    rates = tuple(aspp_rates)
    if not rates:
        raise ValueError("aspp_rates is empty: give at least one rate, e.g. (6, 12, 18)")
    for r in rates:
        check_positive_int(r, "each of aspp_rates")
    check_positive_int(aspp_channels, "aspp_channels")
    check_bool(decoder, "decoder")
    separable = decoder if separable is None else check_bool(separable, "separable")
    atrous_rates = tuple(r * 16 // output_stride for r in rates)  # the rates at output_stride
    c3, c4 = stage_channels(backbone, width)
    aux = FCNHead(c3, num_classes) if aux_loss else None
    features = resnet_features(
        backbone,
        output_stride=output_stride,
        aux=aux_loss,
        low_level=decoder,  # V3+'s decoder also reads layer1 ("low")
        pretrained=pretrained_backbone,
        zero_init_residual=zero_init_residual,
        width=width,
    )
    if decoder:
        head = DeepLabV3PlusHead(
            c4 // 8, c4, num_classes, atrous_rates, aspp_channels, separable=separable
        )
        return DeepLabV3Plus(
            features, head, aux, num_classes, output_stride, atrous_rates, input_scale
        )
    head = DeepLabHead(c4, num_classes, atrous_rates, aspp_channels, separable)
    return DeepLabV3(features, head, aux, num_classes, output_stride, atrous_rates, input_scale)


@register("deeplab_resnet18")
def deeplab_resnet18(num_classes: int, **kw) -> DeepLabV3:
    return deeplab(num_classes, "resnet18", **kw)


@register("deeplab_resnet50")
def deeplab_resnet50(num_classes: int, **kw) -> DeepLabV3:
    return deeplab(num_classes, "resnet50", **kw)


@register("deeplab_resnet101")
def deeplab_resnet101(num_classes: int, **kw) -> DeepLabV3:
    return deeplab(num_classes, "resnet101", **kw)


@register("deeplabv3plus_resnet18")
def deeplabv3plus_resnet18(num_classes: int, **kw) -> DeepLabV3Plus:
    return deeplab(num_classes, "resnet18", decoder=True, **kw)


@register("deeplabv3plus_resnet50")
def deeplabv3plus_resnet50(num_classes: int, **kw) -> DeepLabV3Plus:
    return deeplab(num_classes, "resnet50", decoder=True, **kw)


@register("deeplabv3plus_resnet101")
def deeplabv3plus_resnet101(num_classes: int, **kw) -> DeepLabV3Plus:
    return deeplab(num_classes, "resnet101", decoder=True, **kw)
