"""Notebook 00's exercises: metrics from a confusion matrix."""

from __future__ import annotations

import math

import torch

from ._core import Incorrect, exercise
from ._helpers import number, require

# exercise 00.1: the tiny example the learner works out on paper
TARGET = [[0, 1, 1], [0, 1, 1]]
PRED = [[1, 1, 1], [0, 0, 1]]


@exercise("00.1", "IoU by hand")
def check_iou_by_hand(answer, **_) -> str:
    from fcnlib import metrics

    require(
        isinstance(answer, dict) and {"pixel_accuracy", "iou"} <= set(answer),
        "the answer should be a dict with keys 'pixel_accuracy' and 'iou' (a list of two IoUs)",
    )
    r = metrics.ConfusionMatrix(2).update(torch.tensor(PRED), torch.tensor(TARGET)).compute()
    acc = number(answer["pixel_accuracy"], "'pixel_accuracy'")
    require(
        abs(acc - r["pixel_accuracy"]) < 1e-3,
        "the pixel accuracy is off: count the pixels whose prediction equals the target "
        "(a fraction between 0 and 1, not a percentage)",
    )
    iou = list(answer["iou"])
    require(len(iou) == 2, f"'iou' should hold two numbers (class 0, class 1), got {len(iou)}")
    for c in (0, 1):
        require(
            abs(number(iou[c], f"the IoU of class {c}") - float(r["iou"][c])) < 1e-3,
            f"the IoU of class {c} is off: it is TP / (TP + FP + FN) for that class, "
            "read from the row and the column of the confusion matrix",
        )
    return "Pixel accuracy and both IoUs match metrics.ConfusionMatrix(2)."


@exercise("00.2", "A flattering metric")
def check_flattering(answer, *, target, classes, ignore_index=255, **_) -> str:
    from fcnlib import metrics

    require(
        "star" in classes,
        "this exercise is checked on the built-in data set (FULL_RUN = False): it has stars",
    )
    require(
        isinstance(answer, (tuple, list)) and len(answer) == 2,
        "the answer should be a pair (flattering, honest) of predictions",
    )
    k, star = len(classes), list(classes).index("star")
    results = []
    for name, pred in zip(("flattering", "honest"), answer):
        require(
            isinstance(pred, torch.Tensor) and pred.shape == target.shape,
            f"the {name} prediction should be a tensor shaped like val_masks "
            f"{tuple(target.shape)}, got "
            + (f"{tuple(pred.shape)}" if isinstance(pred, torch.Tensor) else type(pred).__name__),
        )
        require(
            not pred.is_floating_point() and int(pred.min()) >= 0 and int(pred.max()) < k,
            f"the {name} prediction should hold class indices 0 .. {k - 1} (integers)",
        )
        results.append(metrics.ConfusionMatrix(k, ignore_index).update(pred, target).compute())
    flat, honest = results
    lazy = (
        metrics.ConfusionMatrix(k, ignore_index).update(torch.zeros_like(target), target).compute()
    )
    require(
        flat["pixel_accuracy"] > 0.8,
        f"the flattering prediction's pixel accuracy is {flat['pixel_accuracy']:.1%}, "
        "not above 80%",
    )
    require(
        flat["iou"][star].nan_to_num(0) == 0,
        "the flattering prediction finds some star pixels: its star IoU should be 0",
    )
    require(
        honest["miou"] > lazy["miou"],
        "the honest prediction's mIoU is not above that of 'all background'",
    )
    require(
        honest["pixel_accuracy"] < lazy["pixel_accuracy"],
        "the honest prediction's pixel accuracy is not below that of 'all background'",
    )
    return (
        f"Flattering: pixel accuracy {flat['pixel_accuracy']:.1%} with star IoU 0; honest: "
        f"mIoU {honest['miou']:.3f} above all-background's {lazy['miou']:.3f} at a lower pixel "
        f"accuracy ({honest['pixel_accuracy']:.1%} against {lazy['pixel_accuracy']:.1%})."
    )


@exercise("00.3", "mIoU from a confusion matrix")
def check_miou(answer, **_) -> str:
    from fcnlib import metrics

    require(callable(answer), "the answer should be a function miou(confusion) -> float")
    gen = torch.Generator().manual_seed(0)
    cases = []
    for k, absent in ((3, None), (5, 3), (6, 0)):
        target = torch.randint(0, k, (4, 9, 9), generator=gen)
        pred = torch.where(
            torch.rand(target.shape, generator=gen) < 0.7,
            target,
            torch.randint(0, k, target.shape, generator=gen),
        )
        if absent is not None:  # a class in neither the target nor the prediction
            others = torch.tensor([c for c in range(k) if c != absent])
            target = others[torch.remainder(target, k - 1)]
            pred = others[torch.remainder(pred, k - 1)]
        cases.append((k, absent, metrics.ConfusionMatrix(k).update(pred, target).compute()))
    for k, absent, r in cases:
        try:
            value = answer(r["confusion"].clone())
        except Exception as e:  # the learner's function fails: say where
            raise Incorrect(
                f"miou(confusion) fails on a {k} x {k} matrix: {type(e).__name__}: {e}"
            ) from None
        got = number(value, "miou(confusion)")
        require(not math.isnan(got), f"miou(confusion) returned nan for a {k} x {k} matrix")
        if abs(got - r["miou"]) > 1e-6:
            if absent is None:
                message = (
                    f"for a {k} x {k} matrix whose classes all occur, the mIoU is off: IoU is "
                    "TP / (TP + FP + FN) per class (rows: true class, columns: predicted), "
                    "then averaged over the classes"
                )
            else:
                message = (
                    f"for a {k} x {k} matrix where class {absent} is neither in the target nor "
                    "predicted, the mIoU is off: such a class has no IoU (0 / 0) and must not "
                    "count in the mean"
                )
            raise Incorrect(message)
    return "Matches metrics.ConfusionMatrix's mIoU, also with a class that never occurs."
