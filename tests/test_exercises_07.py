"""Wrong answers to notebook 07's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

from fcnlib.exercises import nb07


def _still():
    import numpy as np

    from fcnlib import data, video

    clip = data.make_clip(travel=0, seed=0)
    plate, known = video.estimate_background(clip.frames, clip.masks > 0)
    error = np.abs(plate.astype(float) - clip.background.astype(float)).mean(-1)
    return float((~known).mean()), float(error[~known].mean() / error[known].mean())


# Each entry: a factory of a wrong answer, and the message the check must give.
WRONG = {
    "07.1": [
        (lambda: {1: 1.0, 3: 1.0}, "with themselves"),  # no smoothing
        (lambda: {1: nb07.smoothing_iou(3, 0), 3: nb07.smoothing_iou(1, 0)}, "travel 3|travel 1"),
        (lambda: {1: nb07.smoothing_iou(1, 0), 3: 0.5}, r"answer\[3\] is not"),
        (lambda: [0.9, 0.8], "dict"),
    ],
    "07.2": [
        (
            lambda: {"unknown_share": 1 - _still()[0], "error_ratio": _still()[1]},
            "some frame shows",
        ),
        (lambda: {"unknown_share": _still()[0], "error_ratio": 1 / _still()[1]}, "upside down"),
        (lambda: {"unknown_share": _still()[0], "error_ratio": 1.0}, "error_ratio is not"),
        (lambda: {"unknown_share": 0.0, "error_ratio": _still()[1]}, "unknown_share is not"),
    ],
}
CONTEXT = {"07.1": {"seed": 0}, "07.2": {"seed": 0}}
