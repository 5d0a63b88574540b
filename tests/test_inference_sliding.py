"""Sliding-window inference (fcnlib.inference_sliding)."""

import pytest
import torch
from torch import nn

from fcnlib import models
from fcnlib.inference_sliding import sliding_window_predict, window_starts


class MeanColourNet(nn.Module):
    """Logits of a whole crop from its mean colour: the output depends on where the crop is."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.proj(x.mean((2, 3), keepdim=True)).expand(-1, -1, *x.shape[-2:])


@pytest.mark.parametrize(
    "size, window, stride, expected",
    [
        (10, 4, 2, [0, 2, 4, 6]),
        (10, 4, 3, [0, 3, 6]),
        (11, 4, 3, [0, 3, 6, 7]),  # last crop moved back to end at the border
        (5, 8, 4, [0]),  # window larger than the image: one crop
    ],
)
def test_window_starts_cover_the_axis(size, window, stride, expected):
    starts = window_starts(size, window, stride)
    assert starts == expected
    covered = set().union(*(range(s, s + min(window, size)) for s in starts))
    assert covered == set(range(size))


def test_equals_full_image_prediction_for_a_pointwise_model():
    # A per-pixel model sees no context: crops change nothing, whatever window and stride.
    torch.manual_seed(0)
    model = models.PerPixelNet(5)
    x = torch.rand(2, 3, 37, 50)
    with torch.no_grad():
        full = model(x).softmax(1)
    for window, stride in [(16, 8), ((20, 13), (7, 13)), (64, 64)]:
        masks, probs = sliding_window_predict(model, x, window, stride, return_probs=True)
        torch.testing.assert_close(probs, full)
        assert torch.equal(masks, full.argmax(1))


def test_overlapping_crops_are_averaged():
    # width 6, window 4, stride 2: crops at columns 0-3 and 2-5; columns 2-3 get both.
    torch.manual_seed(0)
    model = MeanColourNet()
    x = torch.rand(1, 3, 4, 6)
    with torch.no_grad():
        left = model(x[..., 0:4]).softmax(1)[..., 0, 0]
        right = model(x[..., 2:6]).softmax(1)[..., 0, 0]
    _, probs = sliding_window_predict(model, x, 4, 2, batch_size=1, return_probs=True)
    expected = torch.stack([left, left, (left + right) / 2, (left + right) / 2, right, right], -1)
    torch.testing.assert_close(probs, expected[:, :, None, :].expand(1, 4, 4, 6))


def test_single_image_and_batch_size_do_not_change_the_result():
    torch.manual_seed(0)
    model = MeanColourNet()
    x = torch.rand(3, 21, 30)
    a = sliding_window_predict(model, x, 8, 5, batch_size=1, return_probs=True)
    b = sliding_window_predict(model, x, 8, 5, batch_size=100, return_probs=True)
    assert a[0].shape == (1, 21, 30)
    torch.testing.assert_close(a[1], b[1])


def test_segmentation_model_on_a_large_odd_image():
    model = models.fcn_resnet(3, "resnet18")
    masks = sliding_window_predict(model, torch.rand(1, 3, 75, 101), 48)
    assert masks.shape == (1, 75, 101) and masks.dtype == torch.long


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"window": 8, "stride": 9}, "stride"),
        ({"window": 0}, "window"),
        ({"window": (8, 8, 8)}, "window"),
        ({"window": 8, "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        sliding_window_predict(models.PerPixelNet(2), torch.rand(1, 3, 16, 16), **kwargs)


def test_bad_image_is_named():
    with pytest.raises(ValueError, match="image"):
        sliding_window_predict(models.PerPixelNet(2), torch.rand(1, 4, 16, 16), 8)
