"""Wrong answers to notebook 02's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

from torch import nn

from fcnlib import analysis, exercises, models

POOLING = models.EncoderDecoder(6, width=8)
THREE = analysis.receptive_field(models.EncoderDecoder(6, stages=3).encoder).size
FOUR = analysis.receptive_field(models.EncoderDecoder(6, stages=4).encoder).size


def _strided(kernel=3, padding=1, replace=3):
    net = models.EncoderDecoder(6, width=8)
    for block in list(net.encoder)[:replace]:
        c = block[1][0].out_channels
        block[2] = nn.Conv2d(c, c, kernel, stride=2, padding=padding)
    return net


def _avg_pooled():
    net = models.EncoderDecoder(6, width=8)
    for block in net.encoder:
        block[2] = nn.AvgPool2d(2, ceil_mode=True)
    return net


def _shares(model=POOLING, size=48):
    return exercises.nb02._stride_shares(model, size)


WRONG = {
    "02.1": [
        (lambda: THREE, "three-stage encoder"),
        (lambda: FOUR - 1, "receptive field is larger"),
        (lambda: 2 * THREE, "receptive field is larger"),  # doubling is not exact
        (lambda: FOUR + 4, "receptive field is smaller"),
        (lambda: "big", "should be a number"),
    ],
    "02.2": [
        (lambda: POOLING, "still has 3 pooling"),
        (_avg_pooled, "still has 3 pooling"),
        (lambda: _strided(replace=2), "still has 1 pooling"),
        (lambda: _strided(kernel=1, padding=0), "below the pooling model"),
        (lambda: nn.Conv2d(3, 6, 1), "has 0 strided"),
    ],
    "02.3": [
        (lambda: {1: 1 / 3, 2: 1 / 3, 4: 1 / 3}, "stride 1 is off"),
        (lambda: {1: 0.8, 2: 0.15, 4: 0.05}, "stride 1 is off"),
        (lambda: {s: 2 * v for s, v in _shares().items()}, "add up to"),
        (lambda: _shares(models.EncoderDecoder(6, width=8, stages=4)), "stride"),
        (lambda: [0.36, 0.32, 0.32], "should be a dict"),
    ],
}
CONTEXT = {
    "02.2": {"reference": POOLING},
    "02.3": {"model": POOLING, "size": 48},
}


def test_right_answers_pass():
    exercises.check("02.1", FOUR)
    exercises.check("02.2", _strided(), **CONTEXT["02.2"])
    exercises.check("02.3", _shares(), **CONTEXT["02.3"])
