"""Wrong answers to notebook 05's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

from fcnlib import course, models


def _side():
    import torch

    r = course.recipe("05")
    net = models.build(f"deeplab_{r.backbone}", 6, **course.deeplab_kwargs(r)).eval()
    with torch.no_grad():
        size = round(r.image_size * r.input_scale)  # the model resizes the image first
        return net.backbone(torch.zeros(1, 3, size, size))["out"].shape[-1]


# Each entry: a factory of a wrong answer, and the message the check must give.
WRONG = {
    "05.1": [
        (lambda: [(2, 4, 6)], r"\(2, 4, 6\) leaves pixels"),
        (lambda: [(1, 2, 5)], "1 more of the triples"),
        (lambda: [], "1 more|2 more"),
        (lambda: [(1, 2, 3)], "not one of the triples"),
        (lambda: "125", "list of rate triples"),
    ],
    "05.2": [
        (lambda: {"feature_size": _side() + 1, "rate": _side()}, "not the side"),
        (lambda: {"feature_size": _side(), "rate": _side() - 1}, "still read pixels"),  # off by one
        (lambda: {"feature_size": _side(), "rate": _side() + 1}, "smaller rate already"),
        (lambda: {"feature_size": _side()}, "should be a dict"),
    ],
}
CONTEXT = {}
