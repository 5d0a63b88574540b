"""Notebook 03's exercises: FCN-8s's forward pass by hand, and FCN-8s trained from scratch."""

from __future__ import annotations

import torch

from ._core import Incorrect, exercise
from ._helpers import require, require_module


@exercise("03.1", "FCN-8s by hand")
def check_fcn8s_by_hand(answer, **_) -> str:
    from fcnlib import models

    require(callable(answer), "the answer should be a function fcn8s_inline(x, net) -> scores")
    torch.manual_seed(0)
    net = models.FCN(5, "8s", width=8).eval()
    with torch.no_grad():  # as if trained: both skips count
        for layer in (net.score_pool4, net.score_pool3):
            torch.nn.init.normal_(layer.weight, std=0.1)
    x = torch.rand(2, 3, 70, 75)  # sizes at which both crops matter
    with torch.no_grad():
        want = net(x)
        try:
            got = answer(x, net)
        except Exception as e:  # the learner's function fails: say how
            raise Incorrect(f"fcn8s_inline fails on a 2 x 3 x 70 x 75 input: {e}") from None
    require(isinstance(got, torch.Tensor), "fcn8s_inline should return a tensor")
    require(
        got.shape == want.shape,
        f"for a 2 x 3 x 70 x 75 input it returns {tuple(got.shape)}, not 2 x K x 70 x 75",
    )
    diff = (got - want).abs().max().item()
    require(
        diff < 1e-4,
        f"its scores differ from FCN-8s's by up to {diff:.3g}: check that both skips (pool4, "
        "then pool3) are added, each after a 2x upsampling cropped to the skip's grid, and the "
        "final upsampling factor",
    )
    return "Equal to models.FCN(..., '8s') on an input whose sides are not multiples of 32, both skips active."


def _val_subset(n: int):
    from fcnlib import course

    _, val_set = course.recipe("03", seed=0).datasets()
    n = min(n, len(val_set))
    images = torch.stack([val_set[i][0] for i in range(n)])
    masks = torch.stack([val_set[i][1] for i in range(n)])
    return images, masks, len(val_set.classes), val_set.ignore_index


def _miou(pred, masks, k, ignore):
    from fcnlib import metrics

    return metrics.ConfusionMatrix(k, ignore).update(pred, masks).compute()["miou"]


@exercise("03.2", "From scratch")
def check_from_scratch(answer, *, staged=None, margin: float = 0.35, **_) -> str:
    from fcnlib import inference, models

    net = require_module(answer, "a trained models.FCN")
    require(
        isinstance(net, models.FCN) and net.variant == "8s",
        "the answer should be an FCN-8s (models.FCN(K, '8s', ...) or models.build('fcn8s', ...))",
    )
    if staged is not None:
        same = all(
            torch.equal(a, b)
            for a, b in zip(net.state_dict().values(), staged.state_dict().values())
        )
        require(not same, "that is the staged FCN-8s itself, not one trained from scratch")
    images, masks, k, ignore = _val_subset(100)
    require(net.num_classes == k, f"the model predicts {net.num_classes} classes, not {k}")
    lazy = _miou(torch.zeros_like(masks), masks, k, ignore)
    ours = _miou(inference.predict(net, images, batch_size=50).cpu(), masks, k, ignore)
    require(
        ours >= lazy + margin,
        f"its mIoU on 100 validation images ({ours:.3f}) is not {margin} above 'all "
        f"background' ({lazy:.3f}): is it trained (and in eval mode)?",
    )
    verdict = f"mIoU {ours:.3f} on 100 validation images ('all background': {lazy:.3f})"
    if staged is not None:
        theirs = _miou(inference.predict(staged, images, batch_size=50).cpu(), masks, k, ignore)
        verdict += f"; the staged FCN-8s scores {theirs:.3f} on the same images"
    return verdict + "."
