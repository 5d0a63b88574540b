"""Bring torchvision's segmentation models (and their published weights) into fcnlib.

fcnlib's ResNet models keep torchvision's module names, so the conversion is: read the
architecture off the torchvision model, build the matching fcnlib model, and load the state
dict with ``strict=True`` (every key present on both sides, every shape equal)::

    tv = torchvision.models.segmentation.deeplabv3_resnet50(weights="DEFAULT")
    model = models.from_torchvision(tv)        # forward(x) == tv(x)["out"]
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import segmentation as tvseg

from .deeplabv3 import DeepLabV3, deeplab
from .resnet_fcn import FCNResNet, fcn_resnet

_DEPTHS = {(3, 4, 6, 3): "resnet50", (3, 4, 23, 3): "resnet101"}
_SUPPORTED = "torchvision's fcn_resnet50/101 or deeplabv3_resnet50/101"


def from_torchvision(tv_model: nn.Module) -> FCNResNet | DeepLabV3:
    """The fcnlib model with the same architecture and weights as ``tv_model``.

    Takes torchvision's ``fcn_resnet50``, ``fcn_resnet101``, ``deeplabv3_resnet50`` or
    ``deeplabv3_resnet101``, with or without the aux head. The result is in the mode
    ``tv_model`` was in (train or eval), on its device, with its own copy of the weights;
    ``result(x)`` equals ``tv_model(x)["out"]``
    (``result(x, return_aux=True)["aux"]`` equals ``tv_model(x)["aux"]``).
    """
    if not isinstance(tv_model, tvseg.FCN | tvseg.DeepLabV3):
        raise TypeError(f"tv_model must be {_SUPPORTED}, got {type(tv_model).__name__}")
    backbone = tv_model.backbone
    layers = [getattr(backbone, f"layer{i}", None) for i in range(1, 5)]
    if any(layer is None for layer in layers) or not hasattr(backbone, "conv1"):
        raise TypeError(
            f"tv_model must have a ResNet backbone ({_SUPPORTED}); "
            "MobileNet backbones are not supported"
        )
    depths = tuple(len(layer) for layer in layers)
    if depths not in _DEPTHS:
        raise TypeError(f"tv_model has a ResNet with blocks {depths}; expected {_SUPPORTED}")
    name = _DEPTHS[depths]
    # Bottleneck stages stride in conv2; a stage whose stride became dilation has stride 1
    output_stride = 8 * layers[2][0].conv2.stride[0] * layers[3][0].conv2.stride[0]
    num_classes = tv_model.classifier[-1].out_channels
    aux = tv_model.aux_classifier is not None

    with torch.device("meta"):  # no time spent on random weights that are replaced anyway
        if isinstance(tv_model, tvseg.DeepLabV3):
            aspp = tv_model.classifier[0]
            rates = tuple(branch[0].dilation[0] for branch in aspp.convs[1:-1])
            if any(r * output_stride % 16 for r in rates):
                raise TypeError(
                    f"tv_model's ASPP rates {rates} at output stride {output_stride} have no "
                    f"integer rates at output stride 16; expected {_SUPPORTED}"
                )
            model = deeplab(
                num_classes,
                name,
                output_stride=output_stride,
                aspp_rates=tuple(r * output_stride // 16 for r in rates),  # deeplab's OS16 rates
                aux_loss=aux,
                aspp_channels=aspp.project[0].out_channels,
            )
        else:
            model = fcn_resnet(num_classes, name, output_stride=output_stride, aux_loss=aux)
    # a copy of every tensor, on tv_model's device; strict: every key and shape must match
    state = {k: v.detach().clone() for k, v in tv_model.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.train(tv_model.training)
