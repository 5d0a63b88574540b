"""Checks of notebook 04's exercises (convolutionalising a classifier, FCN-ResNet18)."""

from __future__ import annotations

import torch
from torch import nn

from ._core import Incorrect, exercise
from ._helpers import require


@exercise("04.1", "The head as a 1 x 1 convolution")
def check_convolutionalise(answer, **context) -> str:
    """``answer(fc)`` returns a module that applies ``fc`` at every position of a feature map."""
    require(callable(answer), "the answer should be a function that takes an nn.Linear")
    gen = torch.Generator().manual_seed(4)
    for c_in, c_out, size in ((12, 5, 6), (7, 3, 4)):
        fc = nn.Linear(c_in, c_out)
        with torch.no_grad():
            fc.weight.copy_(torch.randn(c_out, c_in, generator=gen))
            fc.bias.copy_(torch.randn(c_out, generator=gen))
        before = {k: v.clone() for k, v in fc.state_dict().items()}
        try:
            score = answer(fc)
        except Exception as err:  # noqa: BLE001 - any failure of the learner's code is reported
            raise Incorrect(f"convolutionalise(fc) fails on nn.Linear({c_in}, {c_out}): "
                            f"{type(err).__name__}: {err}") from None  # fmt: skip
        require(isinstance(score, nn.Module), f"convolutionalise(fc) returned a "
                 f"{type(score).__name__}, not a module (an nn.Conv2d)")  # fmt: skip
        features = torch.randn(2, c_in, size, size + 1, generator=gen)
        try:
            with torch.no_grad():
                maps = score(features)
        except RuntimeError as err:
            raise Incorrect(f"the module fails on a 2 x {c_in} x {size} x {size + 1} feature map: "
                            f"{str(err).splitlines()[0]}") from None  # fmt: skip
        require(all(torch.equal(v, fc.state_dict()[k]) for k, v in before.items()),
                 "convolutionalise changed the weights of fc itself")  # fmt: skip
        want = (2, c_out, size, size + 1)
        require(tuple(maps.shape) == want, f"on a feature map of shape {tuple(features.shape)} "
                 f"the module gives {tuple(maps.shape)}; a score map keeps the height and width: "
                 f"expected {want}")  # fmt: skip
        with torch.no_grad():
            per_position = fc(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            pooled = fc(features.mean((2, 3)))
        if not torch.allclose(maps, per_position, atol=1e-4):
            offset = (maps - per_position).mean((0, 2, 3))
            if torch.allclose(maps - offset[None, :, None, None], per_position, atol=1e-4):
                raise Incorrect("the weights match fc but the bias does not (copy fc.bias too)")
            raise Incorrect("the scores at each position differ from fc applied to that position's "
                            "feature vector: the convolution must reuse fc's weight and bias")  # fmt: skip
        require(torch.allclose(maps.mean((2, 3)), pooled, atol=1e-4),
                 "averaging the score map does not give fc's logits")  # fmt: skip
    return ("At every position the convolution computes fc on that position's feature vector, "
            "and the average of the score map is the classifier's logits.")  # fmt: skip


def _score_map_size(image_size: int, output_stride: int) -> int:
    from .. import models

    net = models.build("fcn_resnet18", 6, width=8, output_stride=output_stride).eval()
    with torch.no_grad():
        return net.backbone(torch.zeros(1, 3, image_size, image_size))["out"].shape[-1]


@exercise("04.2", "The score map at twice the size")
def check_score_map(answer, **context) -> str:
    """``answer`` = {32: side, 8: side} of the score map for 2 x the recipe's image size."""
    from .. import course

    size = 2 * course.recipe("04").image_size
    require(isinstance(answer, dict) and set(answer) == {32, 8},
             "the answer should be a dict with keys 32 and 8 (the output strides)")  # fmt: skip
    got = {s: _score_map_size(size, s) for s in (32, 8)}
    half = {s: _score_map_size(size // 2, s) for s in (32, 8)}
    for s in (32, 8):
        value = answer[s]
        require(isinstance(value, int) and not isinstance(value, bool),
                 f"answer[{s}] should be an int (the side of the square score map)")  # fmt: skip
        if value != got[s]:
            if value == half[s]:
                raise Incorrect(f"answer[{s}] is the score map at IMAGE_SIZE; the exercise asks "
                                f"for images of 2 * IMAGE_SIZE = {size} pixels")  # fmt: skip
            raise Incorrect(f"answer[{s}] is not the side of the score map that FCN-ResNet18 at "
                            f"output stride {s} gives on a {size} x {size} image")  # fmt: skip
    return (f"On {size} x {size} images the score map has {got[32]} x {got[32]} cells at output "
            f"stride 32 and {got[8]} x {got[8]} at output stride 8.")  # fmt: skip


@exercise("04.3", "Where the auxiliary head reads")
def check_aux_layer(answer, **context) -> str:
    """``answer`` = the name of the backbone stage whose features the aux head classifies."""
    from .. import models

    stages = ["layer1", "layer2", "layer3", "layer4"]
    require(isinstance(answer, str) and answer in stages,
             f"the answer should be one of the stage names {stages}")  # fmt: skip
    net = models.build("fcn_resnet18", 6, width=8, aux_loss=True).eval()
    b = net.backbone
    channels_in = net.aux_classifier[0].in_channels
    with torch.no_grad():
        x = b.maxpool(b.relu(b.bn1(b.conv1(torch.zeros(1, 3, 64, 64)))))
        channels = {}
        for name in stages:
            x = getattr(b, name)(x)
            channels[name] = x.shape[1]
        aux = b(torch.zeros(1, 3, 64, 64))["aux"]
    reads = [n for n in stages if channels[n] == aux.shape[1] == channels_in][0]
    require(answer == reads, f"the auxiliary head cannot read {answer}: its first convolution "
             f"takes {channels_in} channels at width 8, and {answer} gives {channels[answer]}")  # fmt: skip
    return f"The auxiliary head classifies {reads}'s features (fcn.backbone(x)['aux'])."
