"""Segmentation models. Every model maps ``B x 3 x H x W`` images to ``B x K x H x W`` logits
at the input's resolution (see :mod:`fcnlib.models.base`).

Each architecture lives in its own module and registers itself by name for :func:`build`.
"""

from .allconv import AllConvNet
from .base import SegmentationModel
from .deeplab import ASPP, DeepLabHead, DeepLabV3PlusHead, deeplab
from .encdec import EncoderDecoder
from .fcn import FCN
from .fcn_resnet import FCNHead, fcn_resnet
from .pixel import PerPixelNet
from .registry import available, build, register
from .torchvision_compat import from_torchvision

__all__ = [
    "AllConvNet",
    "EncoderDecoder",
    "FCN",
    "SegmentationModel",
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
