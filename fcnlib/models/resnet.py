"""ResNet backbones for segmentation, with an output stride of 32, 16 or 8.

A ResNet classifier downsamples by 32. To get denser features, DeepLab removes the stride of
the last one or two stages and *dilates* every 3x3 convolution after each removed stride by
the factor removed, so each layer keeps the receptive field it had: at output stride 8 the
last stage sees exactly the pixels it saw before, but computes an output at 4x4 as many
positions (:func:`dilate_resnet_`).

torchvision does this for ResNet-50/101 (``replace_stride_with_dilation``) but its
``BasicBlock`` (ResNet-18/34) refuses dilation, so for those we build the plain network and
convert the strided stages in place: the first block's ``conv1`` and ``downsample`` lose
their stride, and every 3x3 convolution after them gets the new dilation (and the padding
that keeps the size).

The modules are torchvision's own, so state-dict keys (``conv1.weight``,
``layer4.1.conv2.weight``, ...) are torchvision's and its ImageNet weights load unchanged.

``width`` narrows ResNet-18/34 for small experiments: the same blocks, strides and depth with
stages of ``w, 2w, 4w, 8w`` channels instead of ``64, 128, 256, 512`` (about ``(w/64)^2`` of the
parameters and FLOPs). Only the published width (64) has ImageNet weights.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.resnet import BasicBlock, ResNet

from .. import _net
from .._checks import check_bool, check_positive_int

BACKBONES = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1),
    "resnet101": (tvm.resnet101, tvm.ResNet101_Weights.IMAGENET1K_V1),
}
# stages whose stride is replaced by dilation, per output stride (layer2, layer3, layer4)
_DILATE = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
_PROBE_TIMEOUT = 5.0  # seconds to decide that the weights server cannot be reached


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


# BasicBlock ResNets: blocks per stage (the only ones whose width can change)
_BLOCKS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


def _check_width(name: str, width) -> None:
    check_positive_int(width, "width")
    if width != 64 and name not in _BLOCKS:
        raise ValueError(
            f"width applies to resnet18 and resnet34 only, got width={width} for {name}"
        )


def stage_channels(backbone: str, width: int = 64) -> tuple[int, int]:
    """Channels of ``layer3`` and ``layer4``: ``(4 * width, 8 * width)`` for ResNet-18/34
    ((256, 512) at the published width), (1024, 2048) for ResNet-50/101."""
    _check_choice(backbone, BACKBONES, "backbone")
    _check_width(backbone, width)
    return (4 * width, 8 * width) if backbone in _BLOCKS else (1024, 2048)


class _ResNetOfWidth(ResNet):
    """torchvision's ResNet with ``BasicBlock`` stages of ``w, 2w, 4w, 8w`` channels.

    torchvision fixes the widths at 64..512; this builds the same modules, under the same
    names and with torchvision's initialisation, at another width.
    """

    def __init__(self, layers: list[int], width: int, zero_init_residual: bool = False):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.dilation, self.groups, self.base_width = 1, 1, 64
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, layers[0])
        self.layer2 = self._make_layer(BasicBlock, 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width, 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)


def resnet_backbone(
    name: str = "resnet18",
    output_stride: int = 32,
    pretrained: bool = False,
    zero_init_residual: bool = False,
    width: int = 64,
) -> ResNet:
    """A torchvision ResNet whose features ``layer4`` come out at ``1/output_stride``.

    Args:
        name: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        output_stride: 32 (the classifier as is), 16 (``layer4`` dilated by 2) or 8
            (``layer3`` dilated by 2 and ``layer4`` by 4).
        pretrained: load torchvision's ImageNet weights (:func:`load_imagenet_weights`).
        zero_init_residual: start the last BatchNorm of every residual block at a scale of
            zero (torchvision's option), so that each block begins as the identity and a
            network trained from scratch starts as a shallow one (Goyal et al., 2017).
            Pretrained weights replace it.
        width: channels of ``layer1`` for ResNet-18/34 (64, the published network; the
            stages have ``w, 2w, 4w, 8w``). Pretrained weights exist for 64 only.

    Returns the full ``ResNet`` (``fc`` included; segmentation models keep the layers up to
    ``layer4`` with ``IntermediateLayerGetter``). The number of parameters does not depend on
    ``output_stride``: dilation changes where a kernel samples, not its size.
    """
    _check_choice(name, BACKBONES, "backbone")
    _check_choice(output_stride, _DILATE, "output_stride")
    check_bool(zero_init_residual, "zero_init_residual")
    _check_width(name, width)
    if pretrained and width != 64:
        raise ValueError(f"ImageNet weights exist for width 64 only, got width={width}")
    build, _ = BACKBONES[name]
    dilate = _DILATE[output_stride]
    if width != 64:
        model = dilate_resnet_(_ResNetOfWidth(_BLOCKS[name], width, zero_init_residual), dilate)
    elif name in _BLOCKS:  # BasicBlock: torchvision refuses dilation
        model = dilate_resnet_(build(zero_init_residual=zero_init_residual), dilate)
    else:  # Bottleneck
        model = build(replace_stride_with_dilation=dilate, zero_init_residual=zero_init_residual)
    if pretrained:
        model.load_state_dict(load_imagenet_weights(name))
    return model


def dilate_resnet_(model: ResNet, replace_stride_with_dilation: list[bool]) -> ResNet:
    """Replace the stride of ``layer2..layer4`` by dilation, in place (BasicBlock ResNets).

    Follows torchvision's rule for ``Bottleneck``: in a converted stage the first block's
    strided ``conv1`` keeps the dilation in force before the stage (stride set to 1), and
    every later 3x3 convolution is dilated by the product of all strides removed so far.
    Every convolution then samples the same input pixels as in the strided network, so the
    receptive field is unchanged and, for sizes divisible by 32, the converted network's
    output subsampled by the removed strides equals the original output (tested).
    """
    if len(replace_stride_with_dilation) != 3:
        raise ValueError(
            "replace_stride_with_dilation must have 3 entries (layer2, layer3, layer4), "
            f"got {replace_stride_with_dilation!r}"
        )
    dilation = 1
    for layer, dilate in zip(
        (model.layer2, model.layer3, model.layer4), replace_stride_with_dilation, strict=True
    ):
        if not dilate:
            if dilation > 1:  # a strided stage after a dilated one: torchvision also refuses
                raise ValueError(
                    "a stage cannot keep its stride after an earlier stage was dilated"
                )
            continue
        first = layer[0]
        if not isinstance(first, BasicBlock):
            raise TypeError(
                "dilate_resnet_ converts BasicBlock stages; use torchvision's "
                "replace_stride_with_dilation for Bottleneck ResNets"
            )
        previous, dilation = dilation, dilation * first.stride
        _set_conv(first.conv1, stride=1, dilation=previous)
        if first.downsample is not None:
            first.downsample[0].stride = (1, 1)
        first.stride = 1
        _set_conv(first.conv2, stride=1, dilation=dilation)
        for block in layer[1:]:
            _set_conv(block.conv1, stride=1, dilation=dilation)
            _set_conv(block.conv2, stride=1, dilation=dilation)
    return model


def _set_conv(conv: nn.Conv2d, stride: int, dilation: int) -> None:
    """Give a 3x3 convolution a stride and a dilation, with the padding that keeps its size."""
    conv.stride = (stride, stride)
    conv.dilation = (dilation, dilation)
    conv.padding = (dilation * (conv.kernel_size[0] // 2), dilation * (conv.kernel_size[1] // 2))


def resnet_features(
    name: str,
    *,
    output_stride: int,
    aux: bool = False,
    low_level: bool = False,
    pretrained: bool = False,
    zero_init_residual: bool = False,
    width: int = 64,
) -> IntermediateLayerGetter:
    """:func:`resnet_backbone` as an ``IntermediateLayerGetter`` returning ``layer4`` as
    ``"out"`` (``layer3`` as ``"aux"`` with ``aux``, ``layer1`` as ``"low"`` with
    ``low_level``): the ``backbone`` of FCN-ResNet and DeepLab."""
    resnet = resnet_backbone(name, output_stride, pretrained, zero_init_residual, width)
    return_layers = {"layer4": "out"}
    if aux:
        return_layers["layer3"] = "aux"
    if low_level:
        return_layers["layer1"] = "low"
    return IntermediateLayerGetter(resnet, return_layers=return_layers)


def weights_path(name: str) -> Path:
    """Where torch keeps the ImageNet weights of backbone ``name`` (``$TORCH_HOME/hub/checkpoints``)."""
    _check_choice(name, BACKBONES, "backbone")
    url = BACKBONES[name][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def load_imagenet_weights(name: str) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict for backbone ``name``, via ``Weights.get_state_dict``.

    Read from the torch cache (:func:`weights_path`) when the file is there, otherwise
    downloaded there by torchvision (its hash checked). Without a network a ``RuntimeError``
    says so within seconds (a bounded probe of the server runs first, so nothing waits on a
    stalled connection), and says where the file is expected and how to put it there.
    """
    weights = BACKBONES[name][1]
    path = weights_path(name)
    help_text = (
        f"Could not download the pretrained weights {weights.url} (no network?). Either "
        f"connect and retry, copy the file to {path} (torch's cache; set TORCH_HOME to move "
        "it), or use pretrained_backbone=False to start from random weights."
    )
    if not path.exists():
        host = urlparse(weights.url).hostname
        if not reachable(host):
            raise RuntimeError(f"{host} cannot be reached. {help_text}")
    try:
        return weights.get_state_dict(
            map_location="cpu", progress=True, check_hash=True, weights_only=True
        )
    except (urllib.error.URLError, OSError) as err:
        raise RuntimeError(f"{err}. {help_text}") from None


def reachable(host: str, port: int = 443, timeout: float = _PROBE_TIMEOUT) -> bool:
    """Can a TCP connection to ``host`` be opened within ``timeout`` s (name lookup included)?"""
    return _net.reachable(host, port, timeout)
