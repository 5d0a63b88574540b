"""Wrong answers to notebook 06's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

import pytest
import torch

from fcnlib import data, exercises


def _iou(c):
    c = c.double()
    tp = c.diag()
    return tp / (c.sum(1) + c.sum(0) - tp)


def _dice_no_nan(c):  # 0 instead of nan for an absent class
    c = c.double()
    return torch.nan_to_num(2 * c.diag() / (c.sum(1) + c.sum(0)))


def _dice_without_two(c):
    c = c.double()
    return c.diag() / (c.sum(1) + c.sum(0))


def _pred():  # a deterministic, imperfect prediction: the true masks shifted by one pixel
    scenes = data.ShapesScenes("val", 20, image_size=48, seed=0)
    return torch.stack([scenes[i][1] for i in range(20)]).roll(1, -1)


def _scores(band):
    from fcnlib import metrics

    scenes = data.ShapesScenes("val", 20, image_size=48, seed=0, ignore_boundary=band)
    cm = metrics.ConfusionMatrix(6, scenes.ignore_index)
    r = cm.update(_pred(), torch.stack([scenes[i][1] for i in range(20)])).compute()
    return {"miou": r["miou"], "pixel_accuracy": r["pixel_accuracy"]}


# Each entry: a factory of a wrong answer, and the message the check must give.
WRONG = {
    "06.1": [
        (lambda: _iou, "IoUs, not their Dice"),
        (lambda: _dice_no_nan, "should give nan"),
        (lambda: _dice_without_two, "differ from the per-class Dice"),
        (lambda: lambda c: c.diag().sum() / c.sum(), "one per class"),  # pixel accuracy
        (lambda: 0.5, "should be a function"),
    ],
    "06.2": [
        (lambda: _scores(0), "score on the plain masks"),  # the band not ignored
        (lambda: {**_scores(1), "miou": _scores(1)["miou"] + 0.05}, "miou is not"),
        (lambda: (0.8, 0.9), "should be a dict"),
    ],
}
CONTEXT = {"06.2": {"pred": _pred(), "seed": 0}}


def test_forgiving_needs_the_predictions():
    with pytest.raises(exercises.Incorrect, match="pass the predictions"):
        exercises.check("06.2", _scores(1))
