"""Checks of notebook 06's exercises (evaluation and error analysis)."""

from __future__ import annotations

import math

import torch

from ._core import Incorrect, exercise


def _dice_reference(c: torch.Tensor) -> torch.Tensor:
    c = c.double()
    tp, n_true, n_pred = c.diag(), c.sum(1), c.sum(0)
    total = n_true + n_pred
    return torch.where(total > 0, 2 * tp / total.clamp(min=1), torch.full_like(tp, math.nan))


def _iou_reference(c: torch.Tensor) -> torch.Tensor:
    c = c.double()
    tp = c.diag()
    union = c.sum(1) + c.sum(0) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, math.nan))


def _matrices() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(6)
    out = [torch.randint(0, 50, (k, k), generator=g) for k in (2, 4, 6)]
    absent = torch.randint(0, 50, (5, 5), generator=g)
    absent[3, :] = 0  # class 3 neither occurs ...
    absent[:, 3] = 0  # ... nor is predicted
    out.append(absent)
    out.append(torch.diag(torch.tensor([10, 20, 30])))  # a perfect prediction
    return out


@exercise("06.1", "Dice from the confusion matrix")
def check_dice(answer, **context) -> str:
    """``answer(C)`` = per-class Dice (F1) of a K x K confusion matrix, ``nan`` for a class that
    neither occurs nor is predicted."""
    if not callable(answer):
        raise Incorrect("the answer should be a function of a K x K confusion matrix")
    for c in _matrices():
        try:
            got = torch.as_tensor(answer(c.clone()), dtype=torch.float64).flatten()
        except Exception as err:  # noqa: BLE001 - any failure of the learner's code is reported
            raise Incorrect(f"the function fails on a {len(c)} x {len(c)} matrix: "
                            f"{type(err).__name__}: {err}") from None  # fmt: skip
        want = _dice_reference(c)
        if got.shape != want.shape:
            raise Incorrect(f"for a {len(c)} x {len(c)} matrix the function returns "
                            f"{tuple(got.shape)} values, not one per class")  # fmt: skip
        if torch.isnan(want).any() and not torch.equal(torch.isnan(got), torch.isnan(want)):
            raise Incorrect("a class that neither occurs nor is predicted should give nan "
                            "(its Dice is undefined), and only such a class")  # fmt: skip
        ok = ~torch.isnan(want)
        if not torch.allclose(got[ok], want[ok], atol=1e-6):
            if torch.allclose(got[ok], _iou_reference(c)[ok], atol=1e-6):
                raise Incorrect("these are the classes' IoUs, not their Dice scores")
            raise Incorrect(f"the values differ from the per-class Dice scores on a "
                            f"{len(c)} x {len(c)} matrix (2 x overlap / (true + predicted))")  # fmt: skip
    return "The function gives every class's Dice score, nan where it is undefined."


@exercise("06.2", "Forgiving outlines")
def check_forgiving(answer, *, pred=None, seed=0, **context) -> str:
    """``answer`` = {"miou", "pixel_accuracy"} of ``pred`` (N x H x W predictions on the built-in
    validation scenes of seed ``seed``) against the masks whose 1-px outline band is ignored."""
    from .. import data, metrics

    if not (isinstance(answer, dict) and set(answer) == {"miou", "pixel_accuracy"}):
        raise Incorrect('the answer should be a dict {"miou": float, "pixel_accuracy": float}')
    if pred is None:
        raise Incorrect(
            "pass the predictions: exercises.check('06.2', answer, pred=..., seed=SEED)"
        )
    pred = torch.as_tensor(pred).long()
    n, size = len(pred), pred.shape[-1]
    scores = {}
    for band in (0, 1):
        scenes = data.ShapesScenes("val", n, image_size=size, seed=seed, ignore_boundary=band)
        cm = metrics.ConfusionMatrix(len(scenes.classes), scenes.ignore_index)
        cm.update(pred, torch.stack([scenes[i][1] for i in range(n)]))
        scores[band] = cm.compute()
    plain, forgiving = scores[0], scores[1]
    for key in ("miou", "pixel_accuracy"):
        value = float(answer[key])
        if abs(value - forgiving[key]) > 1e-3:
            if abs(value - plain[key]) <= 1e-3:
                raise Incorrect(f"{key} is the score on the plain masks; the exercise asks for "
                                "the masks with the 1-px band ignored")  # fmt: skip
            raise Incorrect(f"{key} is not the score of these predictions on the masks with a "
                            "1-px band ignored around every outline")  # fmt: skip
    return (f"Ignoring a 1-px band around the outlines changes mIoU from {plain['miou']:.3f} to "
            f"{forgiving['miou']:.3f} and pixel accuracy from {plain['pixel_accuracy']:.3f} to "
            f"{forgiving['pixel_accuracy']:.3f}.")  # fmt: skip
