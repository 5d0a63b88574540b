"""Wrong answers to notebook 00's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

import torch

from fcnlib import data, exercises

VAL = data.ShapesScenes("val", size=40, image_size=32, seed=0)
MASKS = torch.stack([VAL[i][1] for i in range(len(VAL))])
STAR = list(VAL.classes).index("star")


def _nan_as_zero(confusion):  # counts a class that never occurs as IoU 0
    c = confusion.double()
    tp = c.diag()
    return (tp / (c.sum(0) + c.sum(1) - tp)).nan_to_num(0).mean().item()


def _transposed_union(confusion):  # forgets to subtract the true positives once
    c = confusion.double()
    union = c.sum(0) + c.sum(1)
    return (c.diag() / union)[union > 0].mean().item()


def _perfect():
    return MASKS.clone()


def _lazy():
    return torch.zeros_like(MASKS)


def _no_star():
    return torch.where(MASKS == STAR, 0, MASKS)


def _honest():
    return torch.where(MASKS == 0, 1, MASKS)


WRONG = {
    "00.1": [
        (lambda: {"pixel_accuracy": 4 / 6, "iou": [3 / 5, 1 / 3]}, "IoU of class 0 is off"),
        (lambda: {"pixel_accuracy": 66.7, "iou": [1 / 3, 3 / 5]}, "not a percentage"),
        (lambda: {"pixel_accuracy": 4 / 6, "iou": [1 / 3, 3 / 4]}, "IoU of class 1 is off"),
        (lambda: 0.6, "should be a dict"),
    ],
    "00.2": [
        (lambda: (_perfect(), _honest()), "finds some star pixels"),
        (lambda: (_no_star(), _lazy()), "mIoU is not above"),
        (lambda: (_no_star(), _perfect()), "pixel accuracy is not below"),
        (lambda: (_no_star(), _honest()[:5]), "shaped like val_masks"),
        (lambda: (_no_star().float(), _honest()), "class indices"),
        (lambda: _no_star(), "a pair"),
    ],
    "00.3": [
        (lambda: _nan_as_zero, "neither in the target nor predicted"),
        (lambda: _transposed_union, "whose classes all occur"),
        (lambda: lambda c: c.diag().sum().item() / c.sum().item(), "whose classes all occur"),
        (lambda: lambda c: c[5, 5], "fails on a 3 x 3 matrix"),
        (lambda: 0.5, "should be a function"),
    ],
}
CONTEXT = {"00.2": {"target": MASKS, "classes": list(VAL.classes)}}


def test_the_solutions_ideas_pass():
    exercises.check("00.2", (_no_star(), _honest()), **CONTEXT["00.2"])
