"""Wrong answers to notebook 01's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

from torch import nn

from fcnlib import exercises, models

SHALLOW = models.AllConvNet(6, width=16, depth=4)


def _dilated(dilation=2, padding=2, depth=4):
    net = models.AllConvNet(6, width=16, depth=depth)
    for block in net.features:
        block[0].dilation, block[0].padding = (dilation, dilation), (padding, padding)
    return net


def _pooled():  # a larger receptive field, but H x W is lost
    return nn.Sequential(nn.MaxPool2d(2), models.AllConvNet(6, width=16, depth=4))


WRONG = {
    "01.1": [
        (lambda: (12, 15), "three 5 x 5 convolutions is too small"),  # off by one
        (lambda: (13, 14), "dilations 1, 2, 4 is too small"),
        (lambda: (13, 29), "dilations 1, 2, 4 is too large"),  # dilation counted twice
        (lambda: (15, 15), "three 5 x 5 convolutions is too large"),
        (lambda: 13, "a pair"),
    ],
    "01.2": [
        (lambda: SHALLOW, "no larger than the shallow net"),
        (lambda: models.AllConvNet(6, width=16, depth=8), "times the FLOPs"),
        (lambda: _dilated(padding=1), r"4 convolution\(s\) change H x W"),
        (_pooled, "not 2 x 6 x 37 x 45"),
        (lambda: "dilation=2", "should be a torch.nn.Module"),
    ],
}
CONTEXT = {"01.2": {"reference": SHALLOW}}


def test_a_dilated_net_passes():
    exercises.check("01.2", _dilated(), **CONTEXT["01.2"])
