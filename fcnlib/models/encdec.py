"""The encoder-decoder of notebook 02: downsample to gain context cheaply, upsample back.

Encoder: ``stages`` times ``conv-conv-pool`` (channels double, resolution halves). Decoder:
``stages`` times ``upsample x2 -> conv`` back to full resolution, then a 1x1 classifier.
Three ways to upsample: ``"nearest"``, ``"bilinear"``, or a learned ``"transposed"``
convolution, initialised to bilinear interpolation by default (``transposed_init="random"``
keeps PyTorch's default initialisation, which shows checkerboard artefacts).

Pooling uses ``ceil_mode=True``, so odd sizes keep their last row and column; the decoder's
output (a multiple of ``2 ** stages``, at least ``H x W``) is cropped back to ``H x W``.
"""

from __future__ import annotations

import torch
from torch import nn

from .allconv import ConvBNReLU
from .base import SegmentationModel
from .registry import register

UPSAMPLE_MODES = ("nearest", "bilinear", "transposed")


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


class DownBlock(nn.Sequential):
    """``conv-conv-maxpool``: ``B x C_in x H x W -> B x C_out x ceil(H/2) x ceil(W/2)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            ConvBNReLU(in_channels, out_channels),
            ConvBNReLU(out_channels, out_channels),
            nn.MaxPool2d(2, ceil_mode=True),
        )


class UpBlock(nn.Sequential):
    """``upsample x2 -> conv``: ``B x C_in x h x w -> B x C_out x 2h x 2w``."""

    def __init__(
        self, in_channels: int, out_channels: int, mode: str, transposed_init: str = "bilinear"
    ):
        super().__init__(
            upsample_layer(mode, in_channels, transposed_init),
            ConvBNReLU(in_channels, out_channels),
        )


class EncoderDecoder(SegmentationModel):
    """Conv-conv-pool ``stages`` times down, upsample-conv ``stages`` times up, 1x1 classifier.

    ``B x 3 x H x W -> B x K x H x W`` for any ``H, W`` (odd sizes included).

    Args:
        num_classes: ``K``.
        width: channels of the first stage; stage ``i`` has ``width * 2**i``.
        stages: number of downsampling (and upsampling) steps; output stride ``2**stages``
            in the middle of the network.
        upsample: ``"nearest"``, ``"bilinear"`` or ``"transposed"``.
        transposed_init: ``"bilinear"`` (default) or ``"random"``; only for ``"transposed"``.
    """

    def __init__(
        self,
        num_classes: int,
        width: int = 16,
        stages: int = 3,
        upsample: str = "bilinear",
        transposed_init: str = "bilinear",
    ):
        super().__init__(num_classes)
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        if transposed_init not in ("bilinear", "random"):
            raise ValueError(
                f"transposed_init must be 'bilinear' or 'random', got {transposed_init!r}"
            )
        if not isinstance(stages, int) or stages < 1:
            raise ValueError(f"stages must be a positive integer, got {stages!r}")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        self.width, self.stages, self.upsample = width, stages, upsample
        chans = [width * 2**i for i in range(stages)]  # e.g. 16, 32, 64
        self.encoder = nn.Sequential(
            *[DownBlock(c_in, c) for c_in, c in zip([3, *chans[:-1]], chans)]
        )
        up_out = [*chans[-2::-1], width]  # e.g. 32, 16, 16
        self.decoder = nn.Sequential(
            *[UpBlock(c_in, c, upsample, transposed_init) for c_in, c in zip(chans[::-1], up_out)]
        )
        self.classifier = nn.Conv2d(width, num_classes, 1)

    @property
    def output_stride(self) -> int:
        """How much the encoder shrinks the image (``2 ** stages``)."""
        return 2**self.stages

    def _forward(self, x):
        h, w = x.shape[-2:]
        y = self.classifier(self.decoder(self.encoder(x)))
        return {"out": y[..., :h, :w]}

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, width={self.width}, stages={self.stages}, "
            f"upsample={self.upsample!r}"
        )


@register("encoder_decoder")
def encoder_decoder(num_classes: int, **kw) -> EncoderDecoder:
    """``EncoderDecoder(num_classes, width=16, stages=3, upsample="bilinear")``."""
    return EncoderDecoder(num_classes, **kw)
