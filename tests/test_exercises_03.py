"""Wrong answers to notebook 03's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

import pytest
import torch
import torch.nn.functional as F

from fcnlib import exercises, models


def _fcn16s_inline(x, net):  # the notebook's FCN-16s: the pool3 skip is missing
    f = net.backbone(x)
    p4 = f["pool4"]
    score = net.upscore2(net.classifier(f["pool5"]))[..., : p4.shape[-2], : p4.shape[-1]]
    score = score + net.score_pool4(p4)
    out = F.interpolate(score, scale_factor=16, mode="bilinear", align_corners=False)
    return out[..., : x.shape[-2], : x.shape[-1]]


def _fcn8s_inline(x, net, crop=True, factor=8):
    f = net.backbone(x)
    p4, p3 = f["pool4"], f["pool3"]
    score = net.upscore2(net.classifier(f["pool5"]))[..., : p4.shape[-2], : p4.shape[-1]]
    score = score + net.score_pool4(p4)
    up = net.upscore_pool4(score)
    score = (up[..., : p3.shape[-2], : p3.shape[-1]] if crop else up) + net.score_pool3(p3)
    out = F.interpolate(score, scale_factor=factor, mode="bilinear", align_corners=False)
    return out[..., : x.shape[-2], : x.shape[-1]]


def _untrained():
    torch.manual_seed(0)
    return models.FCN(6, "8s", width=16)


WRONG = {
    "03.1": [
        (lambda: _fcn16s_inline, "differ from FCN-8s's"),
        (lambda: lambda x, net: _fcn8s_inline(x, net, crop=False), "fails on"),
        (lambda: lambda x, net: _fcn8s_inline(x, net, factor=4), "returns"),
        (lambda: lambda x, net: net(x)[:, :, :-1], "returns"),
        (lambda: lambda x, net: net(x).argmax(1), "returns"),
        (lambda: models.FCN(6, "8s"), "fails on|should return"),
        (lambda: 8, "should be a function"),
    ],
    "03.2": [
        (_untrained, "is it trained"),
        (lambda: models.FCN(6, "16s", width=16), "should be an FCN-8s"),
        (lambda: models.EncoderDecoder(6), "should be an FCN-8s"),
        (lambda: models.FCN(21, "8s", width=16), "predicts 21 classes"),
        (lambda: "fcn8s", "should be a trained models.FCN"),
    ],
}
CONTEXT = {}


def test_the_staged_model_itself_is_rejected():
    staged = _untrained()
    with pytest.raises(exercises.Incorrect, match="the staged FCN-8s itself"):
        exercises.check("03.2", staged, staged=staged)


def test_fcn8s_by_hand_passes():
    exercises.check("03.1", _fcn8s_inline)
