"""Checks of notebook 05's exercises (atrous convolution and DeepLab)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._core import Incorrect, exercise

# The rate triples of exercise 05.1
TRIPLES = [(1, 2, 5), (2, 4, 6), (1, 3, 9)]


def _covers(rates) -> bool:
    """Whether a stack of 3x3 convolutions with these dilations reads every pixel of its field
    (in 1-D per axis: every offset between -sum and +sum is a sum of one of -r, 0, +r per layer)."""
    reach = {0}
    for r in rates:
        reach = {o + s for o in reach for s in (-r, 0, r)}
    return reach == set(range(-sum(rates), sum(rates) + 1))


def _as_triples(answer) -> list[tuple]:
    message = "the answer should be a list of rate triples such as [(1, 2, 3)]"
    if isinstance(answer, (str, bytes)):
        raise Incorrect(message)
    try:
        triples = [tuple(int(v) for v in t) for t in answer]
    except (TypeError, ValueError):
        raise Incorrect(message) from None
    if any(len(t) != 3 for t in triples):
        raise Incorrect(message)
    return triples


@exercise("05.1", "Gridding in numbers")
def check_gridding(answer, **context) -> str:
    """``answer`` = the triples of :data:`TRIPLES` whose stacks cover every pixel of their field."""
    chosen = _as_triples(answer)
    for t in chosen:
        if t not in TRIPLES:
            raise Incorrect(f"{t} is not one of the triples of the exercise, {TRIPLES}")
        if not _covers(t):
            raise Incorrect(f"{t} leaves pixels of its field unread (holes): it does not cover")
    missing = [t for t in TRIPLES if _covers(t) and t not in chosen]
    if missing:
        raise Incorrect(f"{len(missing)} more of the triples covers every pixel of its field")
    return f"Of {TRIPLES}, exactly {sorted(set(chosen))} read every pixel of their field."


def _degenerate(rate: int, side: int) -> bool:
    """Whether a 3x3 convolution of dilation ``rate`` (padding ``rate``) on a ``side``-pixel map
    equals its centre tap alone (a 1x1 convolution) at every position."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 1, side, side, generator=g)
    w = torch.randn(1, 1, 3, 3, generator=g)
    full = F.conv2d(x, w, padding=rate, dilation=rate)
    return torch.allclose(full, x * w[0, 0, 1, 1], atol=1e-5)


@exercise("05.2", "When an atrous 3 x 3 becomes a 1 x 1")
def check_degenerate_rate(answer, **context) -> str:
    """``answer`` = {"feature_size": side of the backbone's output for the recipe's images (resized
    by its ``input_scale``) at its output stride, "rate": the smallest rate at which an ASPP 3x3
    branch is a 1x1 there}."""
    from .. import course, models

    r = course.recipe("05")
    _require_keys(answer)
    net = models.build(f"deeplab_{r.backbone}", 6, **course.deeplab_kwargs(r)).eval()
    with torch.no_grad():
        size = round(r.image_size * r.input_scale)  # the model resizes the image first
        side = net.backbone(torch.zeros(1, 3, size, size))["out"].shape[-1]
    if answer["feature_size"] != side:
        raise Incorrect(f"feature_size is not the side of the backbone's output for "
                        f"{r.image_size}-pixel images resized {r.input_scale:g} times, at output "
                        f"stride {r.output_stride}")  # fmt: skip
    rate = answer["rate"]
    if not _degenerate(rate, side):
        raise Incorrect(f"at rate {rate} some off-centre taps still read pixels of the "
                        f"{side} x {side} map: the branch is not a 1 x 1 convolution yet")  # fmt: skip
    if rate > 1 and _degenerate(rate - 1, side):
        raise Incorrect(f"rate {rate} works, but a smaller rate already makes the branch a 1 x 1")
    used = [a for a in r.aspp_rates if a >= rate]
    note = (f"the recipe's ASPP rates {tuple(r.aspp_rates)} include {used}, branches that see "
            "only their centre tap" if used else
            f"all of the recipe's ASPP rates {tuple(r.aspp_rates)} stay below it")  # fmt: skip
    return (f"On the {side} x {side} feature map a 3 x 3 branch reads only its centre from rate "
            f"{rate} on; {note}.")  # fmt: skip


def _require_keys(answer) -> None:
    if not (isinstance(answer, dict) and set(answer) == {"feature_size", "rate"}):
        raise Incorrect('the answer should be a dict {"feature_size": int, "rate": int}')
    for k, v in answer.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise Incorrect(f"answer[{k!r}] should be a positive int")
