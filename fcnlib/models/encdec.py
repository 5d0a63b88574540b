"""The encoder-decoder of notebook 02: downsample to gain context cheaply, upsample back.

Encoder: ``stages`` times ``conv-conv-pool`` (channels double, resolution halves). Decoder:
``stages`` times ``upsample x2 -> conv`` back to full resolution, then a 1x1 classifier.
Three ways to upsample: ``"nearest"``, ``"bilinear"``, or a learned ``"transposed"``
convolution, initialised to bilinear interpolation by default (``transposed_init="random"``
keeps PyTorch's default initialisation, which shows checkerboard artefacts). The blocks
(:class:`~fcnlib.models.blocks.DownBlock`, :func:`~fcnlib.models.blocks.transposed_upsample`)
are in :mod:`fcnlib.models.blocks` and importable from here too.

Pooling uses ``ceil_mode=True``, so odd sizes keep their last row and column; the decoder's
output (a multiple of ``2 ** stages``, at least ``H x W``) is cropped back to ``H x W``.
"""

from __future__ import annotations

from torch import nn

from .._checks import check_positive_int
from .base import SegmentationModel
from .blocks import (
    UPSAMPLE_MODES,
    ConvBNReLU,
    DownBlock,
    bilinear_kernel,
    transposed_upsample,
    upsample_layer,
)
from .registry import register

__all__ = [
    "UPSAMPLE_MODES",
    "EncoderDecoder",
    "UpBlock",
    "bilinear_kernel",
    "transposed_upsample",
    "upsample_layer",
]


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
        check_positive_int(stages, "stages")
        check_positive_int(width, "width")
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
