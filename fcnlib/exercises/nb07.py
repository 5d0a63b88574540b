"""Checks of notebook 07's exercises (removing objects from video)."""

from __future__ import annotations

import numpy as np

from ._core import Incorrect, exercise
from ._helpers import number


def _number(answer: dict, key) -> float:
    return number(answer[key], f"answer[{key!r}]")


def smoothing_iou(travel: float, seed: int) -> float:
    """IoU between the true object masks of ``make_clip(travel=travel, seed=seed)`` and their
    temporal majority of radius 1."""
    from .. import data, mask_cleanup, metrics

    truth = data.make_clip(travel=travel, seed=seed).masks > 0
    return metrics.mask_iou(mask_cleanup.clean_masks(truth, temporal=1), truth)


@exercise("07.1", "Motion against smoothing")
def check_motion(answer, *, seed=0, **context) -> str:
    """``answer`` = {1: IoU, 3: IoU} of the temporal majority (radius 1) of the true masks against
    the true masks, for clips of ``travel`` 1 and 3."""
    if not (isinstance(answer, dict) and set(answer) == {1, 3}):
        raise Incorrect("the answer should be a dict {1: IoU, 3: IoU} keyed by travel")
    got = {t: smoothing_iou(t, seed) for t in (1, 3)}
    for t in (1, 3):
        value = _number(answer, t)
        if abs(value - 1.0) < 1e-9 and got[t] < 1 - 1e-3:
            raise Incorrect(f"answer[{t}] is the IoU of the masks with themselves: smooth them "
                            "first (temporal=1)")  # fmt: skip
        if abs(value - got[t]) > 1e-3:
            other = 4 - t
            if abs(value - got[other]) <= 1e-3:
                raise Incorrect(f"answer[{t}] belongs to the clip of travel {other}")
            raise Incorrect(f"answer[{t}] is not the IoU between the true masks of the clip of "
                            f"travel {t} (seed {seed}) and their temporal majority")  # fmt: skip
    return (
        f"A temporal majority costs the true masks {1 - got[1]:.1%} of IoU at travel 1 and "
        f"{1 - got[3]:.1%} at travel 3: the faster the objects, the more it erodes them."
    )


@exercise("07.2", "An object that never moves")
def check_still_object(answer, *, seed=0, **context) -> str:
    """``answer`` = {"unknown_share": share of the pixels no frame shows, "error_ratio": mean
    absolute plate error there / elsewhere} when every object of ``make_clip(travel=0)`` is
    removed with its true masks."""
    from .. import data, video

    if not (isinstance(answer, dict) and set(answer) == {"unknown_share", "error_ratio"}):
        raise Incorrect(
            'the answer should be a dict {"unknown_share": float, "error_ratio": float}'
        )
    clip = data.make_clip(travel=0, seed=seed)
    plate, known = video.estimate_background(clip.frames, clip.masks > 0)
    error = np.abs(plate.astype(np.float64) - clip.background.astype(np.float64)).mean(-1)
    share, ratio = float((~known).mean()), float(error[~known].mean() / error[known].mean())
    value = _number(answer, "unknown_share")
    if abs(value - (1 - share)) < 1e-3 and abs(share - 0.5) > 1e-3:
        raise Incorrect("unknown_share is the share of the pixels some frame shows; the "
                        "exercise asks for those that no frame shows")  # fmt: skip
    if abs(value - share) > 1e-3:
        raise Incorrect("unknown_share is not the share of the pixels where `known` is False")
    value = _number(answer, "error_ratio")
    if abs(value * ratio - 1) < 0.02 and ratio > 1.1:
        raise Incorrect("error_ratio is upside down: the error where nothing is known, divided "
                        "by the error elsewhere")  # fmt: skip
    if abs(value / ratio - 1) > 0.02:
        raise Incorrect("error_ratio is not the mean absolute error of the plate where no frame "
                        "shows the background divided by that elsewhere")  # fmt: skip
    return (f"No frame shows {share:.1%} of the pixels; the inpainted plate is {ratio:.1f} times "
            "as far from the true background there as elsewhere.")  # fmt: skip
