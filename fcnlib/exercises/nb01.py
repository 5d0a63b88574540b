"""Notebook 01's exercises: receptive fields, by hand and bought with dilation."""

from __future__ import annotations

import torch
from torch import nn

from ._core import Incorrect, exercise
from ._helpers import number, require, require_module, scores


def _rf(*layers) -> int:
    from fcnlib import analysis

    return analysis.receptive_field(nn.Sequential(*layers)).size


@exercise("01.1", "Receptive field by hand")
def check_rf_by_hand(answer, **_) -> str:
    require(
        isinstance(answer, (tuple, list)) and len(answer) == 2,
        "the answer should be a pair (three 5x5 convolutions, the dilated stack) of sizes in px",
    )
    five = _rf(*[nn.Conv2d(1, 1, 5, padding=2) for _ in range(3)])
    dilated = _rf(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in (1, 2, 4)])
    for got, want, what in (
        (answer[0], five, "three 5 x 5 convolutions"),
        (answer[1], dilated, "the 3 x 3 convolutions with dilations 1, 2, 4"),
    ):
        got = number(got, f"the receptive field of {what}")
        if got != want:
            hint = "too small" if got < want else "too large"
            raise Incorrect(
                f"the receptive field of {what} is {hint}: each layer widens it by "
                "(kernel - 1) x dilation pixels (stride 1 everywhere)"
            )
    return "Both receptive fields match analysis.receptive_field."


@exercise("01.2", "Cheaper context")
def check_cheaper_context(answer, *, reference, size: int = 64, **_) -> str:
    from fcnlib import analysis

    net = require_module(answer)
    k = reference.num_classes
    x = torch.rand(2, 3, 37, 45)
    shrunk = []
    hooks = [
        m.register_forward_hook(
            lambda m, i, o: shrunk.append(m) if o.shape[-2:] != i[0].shape[-2:] else None
        )
        for m in net.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        out = scores(net, x)
    finally:
        for h in hooks:
            h.remove()
    require(
        not shrunk,
        f"{len(shrunk)} convolution(s) change H x W; in an all-conv net each keeps it "
        "(a 3 x 3 convolution with dilation d needs padding d)",
    )
    require(
        tuple(out.shape) == (2, k, 37, 45),
        f"for a 2 x 3 x 37 x 45 input the output is {tuple(out.shape)}, not 2 x {k} x 37 x 45: "
        "an all-conv net keeps H x W (dilation d needs padding d)",
    )
    ours, theirs = analysis.count_flops(net, size), analysis.count_flops(reference, size)
    require(
        abs(ours - theirs) <= 0.01 * theirs,
        f"it costs {ours / theirs:.2f} times the FLOPs of the shallow net; the task asks for "
        "the same cost (same layers and widths, only dilated)",
    )
    rf, rf_ref = analysis.receptive_field(net).size, analysis.receptive_field(reference).size
    require(
        rf > rf_ref,
        f"its receptive field ({rf} px) is no larger than the shallow net's ({rf_ref} px)",
    )
    return (
        f"Same FLOPs as the shallow net, receptive field {rf} px instead of {rf_ref} px, "
        "and the output keeps H x W."
    )
