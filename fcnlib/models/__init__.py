"""Segmentation models. Every model maps ``B x 3 x H x W`` images to ``B x K x H x W`` logits
at the input's resolution (see :mod:`fcnlib.models.base`).

Layout: :mod:`~fcnlib.models.base` holds the contract (and the backbone -> classifier base
of the ResNet models), :mod:`~fcnlib.models.blocks` the layers the models share,
:mod:`~fcnlib.models.resnet` the (atrous) ResNet backbones and their ImageNet weights; each
architecture lives in its own module (``pixel``, ``allconv``, ``encdec``, ``fcn``,
``resnet_fcn``, ``deeplabv3``) and registers itself by name for :func:`build`; the public
builders :func:`fcn_resnet` and :func:`deeplab` are named after the models, not the modules.
"""

from .allconv import AllConvNet
from .base import ResNetSegmentation, SegmentationModel
from .blocks import ConvBNReLU, DownBlock, SeparableConv2d
from .deeplabv3 import ASPP, DeepLabHead, DeepLabV3PlusHead, deeplab
from .encdec import EncoderDecoder
from .fcn import FCN, VGGFCNHead
from .pixel import PerPixelNet
from .registry import available, build, register
from .resnet_fcn import fcn_resnet
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
    "DeepLabHead",
    "DeepLabV3PlusHead",
    "ASPP",
]
