"""Wrong answers to notebook 04's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

import torch
from torch import nn


def _fresh_conv(fc):  # the right shape, but not fc's weights
    return nn.Conv2d(fc.in_features, fc.out_features, 1)


def _no_bias(fc):
    conv = nn.Conv2d(fc.in_features, fc.out_features, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(fc.weight[:, :, None, None])
    return conv


def _three_by_three(fc):  # a 3x3 kernel: the map shrinks
    conv = nn.Conv2d(fc.in_features, fc.out_features, 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :, 1, 1] = fc.weight
        conv.bias.copy_(fc.bias)
    return conv


def _pooled(fc):  # the classifier's head itself: pool, then fc (no map left)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc)


# Each entry: a factory of a wrong answer, and the message the check must give.
WRONG = {
    "04.1": [
        (lambda: _fresh_conv, "reuse fc's weight and bias"),
        (lambda: _no_bias, "bias does not"),
        (lambda: _three_by_three, "keeps the height and width"),
        (lambda: _pooled, "keeps the height and width"),
        (lambda: nn.Linear, "not a module|fails on"),
        (lambda: 3, "should be a function"),
    ],
    "04.2": [
        (lambda: {32: 2, 8: 8}, "at IMAGE_SIZE"),  # the sizes at the notebook's own image size
        (lambda: {32: 16, 8: 4}, "not the side"),  # swapped
        (lambda: {32: 4}, "keys 32 and 8"),
        (lambda: {32: 4.0, 8: 16.0}, "should be an int"),
    ],
    "04.3": [
        (lambda: "layer4", "cannot read layer4"),
        (lambda: "layer2", "cannot read layer2"),
        (lambda: "aux", "one of the stage names"),
    ],
}
CONTEXT = {}
