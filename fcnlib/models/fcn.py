"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer & Darrell, 2015) on a small VGG-style backbone.

The backbone has five ``conv-conv-pool`` stages (output stride 32). The classifier scores
``pool5``; FCN-32s upsamples those scores 32x. FCN-16s first upsamples them 2x with a
transposed convolution (initialised to bilinear) and adds scores of ``pool4`` (stride 16);
FCN-8s repeats the step with ``pool3`` (stride 8). The skip scoring layers start at zero,
so a freshly built FCN-16s/8s predicts its ``pool5`` scores, upsampled, as FCN-32s does (the
skips add nothing yet), and learns from there how much detail to take from the finer
features. The last step is a fixed bilinear upsampling to the input size.

Module names follow the original Caffe model (``score_pool4``, ``upscore2``, ...), so the
weights of a trained FCN-32s load into an FCN-16s with ``load_state_dict(strict=False)``.
"""

from __future__ import annotations

from torch import nn

from .._checks import check_positive_int
from .base import SegmentationModel
from .blocks import ConvBNReLU, DownBlock, transposed_upsample, zero_conv1x1
from .registry import register

VARIANTS = {"32s": 32, "16s": 16, "8s": 8}


class VGGBackbone(nn.Module):
    """Five ``conv-conv-maxpool`` stages with channels ``w, 2w, 4w, 8w, 8w``.

    ``forward(x: B x 3 x H x W)`` returns ``{"pool3": B x 4w x H/8 x W/8,
    "pool4": B x 8w x H/16 x W/16, "pool5": B x 8w x H/32 x W/32}`` (sizes rounded up).
    """

    def __init__(self, width: int = 16):
        super().__init__()
        chans = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.stage1 = DownBlock(3, chans[0])
        self.stage2 = DownBlock(chans[0], chans[1])
        self.stage3 = DownBlock(chans[1], chans[2])
        self.stage4 = DownBlock(chans[2], chans[3])
        self.stage5 = DownBlock(chans[3], chans[4])
        self.channels = {"pool3": chans[2], "pool4": chans[3], "pool5": chans[4]}

    def forward(self, x):
        pool3 = self.stage3(self.stage2(self.stage1(x)))
        pool4 = self.stage4(pool3)
        pool5 = self.stage5(pool4)
        return {"pool3": pool3, "pool4": pool4, "pool5": pool5}


class VGGFCNHead(nn.Sequential):
    """The convolutionalised "fc6/fc7" and the class scores: ``B x C x h x w -> B x K x h x w``."""

    def __init__(
        self, in_channels: int, num_classes: int, hidden: int | None = None, dropout: float = 0.1
    ):
        hidden = hidden or 2 * in_channels
        super().__init__(
            ConvBNReLU(in_channels, hidden, kernel_size=3),  # fc6 (7x7 in the original)
            ConvBNReLU(hidden, hidden, kernel_size=1),  # fc7
            nn.Dropout(dropout),
            nn.Conv2d(hidden, num_classes, 1),  # score_fr
        )


class FCN(SegmentationModel):
    """FCN-32s / 16s / 8s: ``B x 3 x H x W -> B x K x H x W`` for any ``H, W``.

    Args:
        num_classes: ``K``.
        variant: ``"32s"``, ``"16s"`` or ``"8s"``: the stride of the finest scores that are
            fused before the final upsampling.
        width: channels of the first backbone stage (``w``; stages have ``w..8w``).
        dropout: dropout before the class scores.
    """

    def __init__(
        self, num_classes: int, variant: str = "8s", width: int = 16, dropout: float = 0.1
    ):
        super().__init__(num_classes)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        check_positive_int(width, "width")
        self.variant, self.width = variant, width
        self.backbone = VGGBackbone(width)
        ch = self.backbone.channels
        self.classifier = VGGFCNHead(ch["pool5"], num_classes, dropout=dropout)
        if variant in ("16s", "8s"):
            self.upscore2 = transposed_upsample(num_classes, 2, "bilinear")
            self.score_pool4 = zero_conv1x1(ch["pool4"], num_classes)
        if variant == "8s":
            self.upscore_pool4 = transposed_upsample(num_classes, 2, "bilinear")
            self.score_pool3 = zero_conv1x1(ch["pool3"], num_classes)
        # the last step: fixed bilinear upsampling by the output stride (then crop to H x W)
        self.upscore = nn.Upsample(
            scale_factor=self.output_stride, mode="bilinear", align_corners=False
        )

    @property
    def output_stride(self) -> int:
        """Stride of the finest fused scores: 32, 16 or 8."""
        return VARIANTS[self.variant]

    def _forward(self, x):
        h, w = x.shape[-2:]
        f = self.backbone(x)
        score = self.classifier(f["pool5"])  # stride 32
        if self.variant in ("16s", "8s"):
            p4 = f["pool4"]
            up = self.upscore2(score)[..., : p4.shape[-2], : p4.shape[-1]]
            score = up + self.score_pool4(p4)
        if self.variant == "8s":
            p3 = f["pool3"]
            up = self.upscore_pool4(score)[..., : p3.shape[-2], : p3.shape[-1]]
            score = up + self.score_pool3(p3)
        return {"out": self.upscore(score)[..., :h, :w]}

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, variant={self.variant!r}, width={self.width}"


def _fcn(variant: str, num_classes: int, **kw) -> FCN:
    return FCN(num_classes, variant=variant, **kw)


@register("fcn32s")
def fcn32s(num_classes: int, **kw) -> FCN:
    """FCN-32s: scores of ``pool5`` upsampled 32x."""
    return _fcn("32s", num_classes, **kw)


@register("fcn16s")
def fcn16s(num_classes: int, **kw) -> FCN:
    """FCN-16s: ``pool5`` scores upsampled 2x plus ``pool4`` scores, then upsampled 16x."""
    return _fcn("16s", num_classes, **kw)


@register("fcn8s")
def fcn8s(num_classes: int, **kw) -> FCN:
    """FCN-8s: FCN-16s's fused scores upsampled 2x plus ``pool3`` scores, then upsampled 8x."""
    return _fcn("8s", num_classes, **kw)
