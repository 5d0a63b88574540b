"""Segmentation models. Every model maps ``B x 3 x H x W`` images to ``B x K x H x W`` logits
at the input's resolution (see :mod:`fcnlib.models.base`).

Layout: :mod:`~fcnlib.models.base` holds the contract (and the backbone -> classifier base
of the ResNet models), :mod:`~fcnlib.models.blocks` the layers the models share,
:mod:`~fcnlib.models.resnet` the (atrous) ResNet backbones and their ImageNet weights; each
architecture lives in its own module (``pixel``, ``allconv``, ``encdec``, ``fcn``,
``fcn_resnet``, ``deeplab``) and registers itself by name for :func:`build`.
"""

from .allconv import AllConvNet
from .base import ResNetSegmentation, SegmentationModel
from .blocks import ConvBNReLU, DownBlock, SeparableConv2d
from .deeplab import ASPP, DeepLabHead, DeepLabV3PlusHead, deeplab
from .encdec import EncoderDecoder
from .fcn import FCN, VGGFCNHead
from .fcn_resnet import FCNHead, fcn_resnet
from .pixel import PerPixelNet
from .registry import available, build, register
from .torchvision_compat import from_torchvision

__all__ = [
    "AllConvNet",
    "EncoderDecoder",
    "FCN",
    "SegmentationModel",
    "ResNetSegmentation",
    "ConvBNReLU",
    "DownBlock",
    "SeparableConv2d",
    "VGGFCNHead",
    "PerPixelNet",
    "available",
    "build",
    "register",
    "fcn_resnet",
    "deeplab",
    "from_torchvision",
    "FCNHead",
    "DeepLabHead",
    "DeepLabV3PlusHead",
    "ASPP",
]
