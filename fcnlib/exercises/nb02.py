"""Notebook 02's exercises: the encoder-decoder's receptive field, downsampling and cost."""

from __future__ import annotations

import torch
from torch import nn

from ._core import Incorrect, exercise
from ._helpers import number, require, require_module, scores


@exercise("02.1", "A fourth stage")
def check_fourth_stage(answer, **_) -> str:
    from fcnlib import analysis, models

    got = number(answer, "the receptive field")
    three = analysis.receptive_field(models.EncoderDecoder(2, stages=3).encoder).size
    want = analysis.receptive_field(models.EncoderDecoder(2, stages=4).encoder).size
    if got == three:
        raise Incorrect("that is the receptive field of the three-stage encoder of the notebook")
    if got != want:
        raise Incorrect(
            f"the four-stage encoder's receptive field is {'larger' if got < want else 'smaller'}: "
            "follow the recurrence through every conv and pool (each pool doubles the jump)"
        )
    return f"The four-stage encoder sees {want} px, against {three} px with three stages."


@exercise("02.2", "Strided convolutions instead of pooling")
def check_strided(answer, *, reference, **_) -> str:
    from fcnlib import analysis

    net = require_module(answer)
    pools = [m for m in net.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    require(not pools, f"the model still has {len(pools)} pooling layer(s)")
    strided = [m for m in net.modules() if isinstance(m, nn.Conv2d) and max(m.stride) > 1]
    n_down = sum(isinstance(m, nn.MaxPool2d) for m in reference.modules())
    require(
        len(strided) == n_down,
        f"the model has {len(strided)} strided convolution(s); one per pooling layer it "
        f"replaces makes {n_down}",
    )
    k = reference.num_classes
    x = torch.rand(2, 3, 45, 37)
    out = scores(net, x)
    require(
        tuple(out.shape) == (2, k, 45, 37),
        f"for a 2 x 3 x 45 x 37 input the output is {tuple(out.shape)}, not 2 x {k} x 45 x 37",
    )
    rf, rf_ref = analysis.receptive_field(net).size, analysis.receptive_field(reference).size
    require(rf >= rf_ref, f"its receptive field ({rf} px) is below the pooling model's ({rf_ref})")
    flops, flops_ref = analysis.count_flops(net, 48), analysis.count_flops(reference, 48)
    return (
        f"No pooling left, {len(strided)} strided convolutions, K x H x W out; receptive "
        f"field {rf} px (pooling: {rf_ref} px), {flops / flops_ref:.2f} times its FLOPs."
    )


def _stride_shares(model: nn.Module, size: int) -> dict[int, float]:
    """Share of ``model``'s FLOPs spent at each stride (input side / output side of a layer)."""
    from fcnlib import analysis

    flops = dict(analysis.count_flops(model, size, by_layer=True))
    sides = {}
    modules = dict(model.named_modules())
    hooks = [
        modules[name].register_forward_hook(
            lambda m, i, o, name=name: sides.__setitem__(name, o.shape[-1])
        )
        for name in flops
    ]
    try:
        scores(model, torch.rand(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    total = sum(flops.values())
    shares: dict[int, float] = {}
    for name, f in flops.items():
        stride = round(size / sides[name])
        shares[stride] = shares.get(stride, 0.0) + f / total
    return shares


@exercise("02.3", "Where the FLOPs go")
def check_flops(answer, *, model, size, **_) -> str:
    require(
        isinstance(answer, dict),
        "the answer should be a dict {stride: share of the FLOPs}, e.g. {1: ..., 2: ..., 4: ...}",
    )
    want = _stride_shares(model, size)
    got = {int(s): number(v, f"the share at stride {s}") for s, v in answer.items()}
    require(
        abs(sum(got.values()) - 1) < 0.02,
        f"the shares add up to {sum(got.values()):.2f}, not 1",
    )
    for stride in sorted(set(want) | set(got)):
        require(
            abs(got.get(stride, 0.0) - want.get(stride, 0.0)) < 0.01,
            f"the share of the layers working at stride {stride} is off "
            "(a layer's stride: image side / the side of its output)",
        )
    top = max(want, key=want.get)
    return f"Shares match count_flops; the layers at stride {top} cost {want[top]:.0%} of it."
