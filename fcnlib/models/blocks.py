"""The building blocks the course's models share.

* :class:`ConvBNReLU`: convolution (size kept), BatchNorm, ReLU -- the unit of every model
  here; ``separable=True`` makes its 3x3 convolution a :class:`SeparableConv2d`;
* :class:`DownBlock`: ``conv-conv-maxpool``, one encoder stage (notebooks 02 and 03);
* :func:`transposed_upsample` (initialised by :func:`bilinear_kernel`) and
  :func:`upsample_layer`: the three ways of upsampling by 2 of notebook 02;
* :func:`zero_conv1x1`: a 1x1 convolution that starts at zero (FCN's skip scores).
"""

from __future__ import annotations

import torch
from torch import nn

UPSAMPLE_MODES = ("nearest", "bilinear", "transposed")


class SeparableConv2d(nn.Sequential):
    """Depthwise-separable 3x3 convolution: ``in_channels -> out_channels``, size kept.

    A depthwise 3x3 convolution (one filter per channel, ``groups=in_channels``, dilated by
    ``dilation``) looks at space; a 1x1 convolution then mixes the channels. Weights:
    ``9 * in + in * out`` instead of ``9 * in * out``. No bias: a BatchNorm follows.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                in_channels,
                3,
                padding=dilation,
                dilation=dilation,
                groups=in_channels,
                bias=False,
            ),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class ConvBNReLU(nn.Sequential):
    """``conv (padding keeps H x W) -> BatchNorm -> ReLU``: ``B x C_in x H x W -> B x C_out x H x W``.

    The convolution is ``kernel_size`` square, dilated by ``dilation``, without bias (the
    BatchNorm's shift replaces it); ``separable=True`` (3x3 only) uses a
    :class:`SeparableConv2d`. Children ``0``, ``1``, ``2`` are the conv, the norm and the ReLU,
    as in torchvision's ``ASPPConv``, so their state-dict keys match.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        dilation: int = 1,
        separable: bool = False,
    ):
        if separable:
            if kernel_size != 3:
                raise ValueError(f"separable convolutions here are 3x3, got {kernel_size}")
            conv = SeparableConv2d(in_channels, out_channels, dilation)
        else:
            padding = dilation * (kernel_size - 1) // 2
            conv = nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                padding=padding,
                dilation=dilation,
                bias=False,
            )
        super().__init__(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DownBlock(nn.Sequential):
    """``conv-conv-maxpool``: ``B x C_in x H x W -> B x C_out x ceil(H/2) x ceil(W/2)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            ConvBNReLU(in_channels, out_channels),
            ConvBNReLU(out_channels, out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
        )


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """Weights ``in_channels x out_channels x k x k`` that make a transposed convolution
    with ``kernel_size = 2 * f``, ``stride = f`` and ``padding = f // 2`` upsample each
    channel bilinearly by ``f`` (channel ``i`` to channel ``i``; zero between channels).

    As in the original FCN code (``surgery.upsample_filt``). Away from the borders this equals
    ``F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)`` for even ``f``.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt1d = 1 - (og - center).abs() / factor
    filt = filt1d[:, None] * filt1d[None, :]
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    for i in range(min(in_channels, out_channels)):
        weight[i, i] = filt
    return weight


def transposed_upsample(
    channels: int, factor: int = 2, init: str = "bilinear"
) -> nn.ConvTranspose2d:
    """A learnable ``x factor`` upsampling: ``B x C x h x w -> B x C x (factor*h) x (factor*w)``.

    ``init="bilinear"`` starts it as exact bilinear interpolation (away from the borders);
    ``init="random"`` keeps PyTorch's default (uneven kernel taps: checkerboard artefacts).
    """
    if init not in ("bilinear", "random"):
        raise ValueError(f"init must be 'bilinear' or 'random', got {init!r}")
    if not isinstance(factor, int) or factor < 2 or factor % 2:
        raise ValueError(f"factor must be an even integer >= 2, got {factor!r}")
    k = 2 * factor
    up = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2, bias=False)
    if init == "bilinear":
        with torch.no_grad():
            up.weight.copy_(bilinear_kernel(channels, channels, k))
    return up


def upsample_layer(mode: str, channels: int, transposed_init: str = "bilinear") -> nn.Module:
    """An ``x2`` upsampling module of the given ``mode`` (one of ``UPSAMPLE_MODES``)."""
    if mode == "transposed":
        return transposed_upsample(channels, 2, transposed_init)
    if mode == "nearest":
        return nn.Upsample(scale_factor=2, mode="nearest")
    if mode == "bilinear":
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {mode!r}")


def zero_conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 convolution whose weights and bias start at zero: it adds nothing until trained."""
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
