"""Joint transforms: image and mask stay aligned, padding is ignored, inputs of every kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fcnlib import transforms as T

K = 12  # labels 0..K-1 in the test pictures


def coded_pair(h=60, w=84, block=12, seed=0):
    """A mask of constant blocks and an image whose pixel values encode the block's label.

    Channel c of a pixel with label k holds (k + 1) * (c + 1) / 48, so every label has its
    own colour (and none is black, the image's padding colour).
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, K, (h // block + 1, w // block + 1), generator=g)
    mask = coarse.repeat_interleave(block, 0).repeat_interleave(block, 1)[:h, :w]
    code = torch.stack([(mask + 1) * (c + 1) / 48.0 for c in range(3)])
    return code.float(), mask


def decode(image: torch.Tensor) -> torch.Tensor:
    """The label each pixel's colour encodes (from channel 0), -1 for black."""
    return (image[0] * 48).round().long() - 1


def interior(mask: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """Pixels whose (2r+1)^2 neighbourhood has one label: away from every edge."""
    m = mask.float()[None, None]
    hi = F.max_pool2d(m, 2 * radius + 1, 1, radius)
    lo = -F.max_pool2d(-m, 2 * radius + 1, 1, radius)
    inner = (hi == lo)[0, 0]
    inner[:radius], inner[-radius:], inner[:, :radius], inner[:, -radius:] = (
        False,
        False,
        False,
        False,
    )
    return inner


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rotate", [0, 25])
def test_train_transforms_keep_image_and_mask_aligned(seed, rotate):
    image, mask = coded_pair(seed=seed)
    t = T.train_transforms(48, scale=(0.6, 1.8), rotate=rotate, mean=None, std=None)
    torch.manual_seed(seed)
    out_image, out_mask = t(image, mask)
    assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48)
    assert out_mask.dtype == torch.long and out_image.dtype == torch.float32
    labels = out_mask != 255
    assert set(out_mask[labels].unique().tolist()) <= set(range(K))  # NEAREST: no blended labels
    inner = interior(out_mask) & labels
    assert inner.sum() > 100  # enough pixels are checked
    assert torch.equal(decode(out_image)[inner], out_mask[inner])
    # where the image was padded (black) the mask is ignored
    black = out_image.abs().sum(0) == 0
    assert (out_mask[black] == 255).all()


def test_flip_moves_image_and_mask_together():
    image, mask = coded_pair()
    t = T.train_transforms((60, 84), scale=None, hflip=True, mean=None, std=None)
    flips = 0
    for s in range(10):
        torch.manual_seed(s)
        out_image, out_mask = t(image, mask)
        flipped = torch.equal(out_mask, mask.flip(-1))
        assert flipped or torch.equal(out_mask, mask)
        assert torch.allclose(out_image, image.flip(-1) if flipped else image)
        flips += flipped
    assert 0 < flips < 10


def test_crop_pads_mask_with_ignore_and_image_with_zero():
    image, mask = coded_pair(20, 30)
    out_image, out_mask = T.train_transforms(40, scale=None, hflip=False, mean=None, std=None)(
        image, mask
    )
    assert out_image.shape == (3, 40, 40)
    assert (out_mask == 255).sum() == 40 * 40 - 20 * 30
    assert (out_image[:, out_mask == 255] == 0).all()
    assert torch.equal(decode(out_image)[out_mask != 255], out_mask[out_mask != 255])


def test_scale_range_is_respected():
    image, mask = coded_pair(40, 40)
    torch.manual_seed(0)
    for _ in range(20):
        img, m = T.RandomScale((0.5, 0.75))(image, mask)
        assert 20 <= m.shape[0] <= 30 and img.shape[-2:] == m.shape
    img, m = T.RandomScale((1.0, 1.0), base_size=80)(image[:, :, :20], mask[:, :20])
    assert m.shape == (160, 80)  # shorter side -> base_size


def test_colour_jitter_touches_only_the_image():
    image, mask = coded_pair()
    t = T.train_transforms((60, 84), scale=None, hflip=False, jitter=0.4, mean=None, std=None)
    torch.manual_seed(1)
    out_image, out_mask = t(image, mask)
    assert torch.equal(out_mask, mask) and not torch.allclose(out_image, image)


def test_normalisation_is_imagenets_by_default():
    image, mask = coded_pair()
    out, _ = T.eval_transforms()(image, mask)
    mean = torch.tensor(T.IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(T.IMAGENET_STD)[:, None, None]
    assert torch.allclose(out, (image - mean) / std, atol=1e-6)
    assert T.IMAGENET_MEAN == (0.485, 0.456, 0.406) and T.IMAGENET_STD == (0.229, 0.224, 0.225)


def test_eval_crop_and_pad_modes():
    image, mask = coded_pair(60, 84)
    crop_image, crop_mask = T.eval_transforms(30, mode="crop", mean=None, std=None)(image, mask)
    assert crop_mask.shape == (30, 30) and (crop_mask != 255).all()  # shorter side 60 -> 30
    inner = interior(crop_mask, 1)
    assert torch.equal(decode(crop_image)[inner], crop_mask[inner])
    pad_image, pad_mask = T.eval_transforms(42, mode="pad", mean=None, std=None)(image, mask)
    assert pad_mask.shape == (42, 42)
    assert (pad_mask[30:] == 255).all() and (pad_mask[:30] != 255).all()  # 60x84 -> 30x42 + pad
    assert (pad_image[:, 30:] == 0).all()


def test_accepts_pil_numpy_and_uint8_tensors():
    image, mask = coded_pair(24, 32)
    u8 = (image * 255).round().to(torch.uint8)
    pil_image = Image.fromarray(u8.permute(1, 2, 0).numpy())
    pil_mask = Image.fromarray(mask.numpy().astype(np.uint8))
    t = T.eval_transforms(mean=None, std=None)
    results = [
        t(pil_image, pil_mask),
        t(u8.permute(1, 2, 0).numpy(), mask.numpy()),
        t(u8, mask),
        t(u8.float() / 255, mask.to(torch.uint8)),
    ]
    for out_image, out_mask in results:
        assert out_image.dtype == torch.float32 and out_mask.dtype == torch.long
        assert torch.allclose(out_image, u8.float() / 255, atol=1e-6)
        assert torch.equal(out_mask, mask)


def test_bad_inputs_are_named():
    image, mask = coded_pair(24, 32)
    t = T.eval_transforms()
    with pytest.raises(ValueError, match="image is .*24, 32.* but mask is .*24, 31"):
        t(image, mask[:, :31])
    with pytest.raises(ValueError, match="image has shape .*expected 3 x H x W"):
        t(image[:1], mask)
    with pytest.raises(TypeError, match="mask has dtype torch.float32"):
        t(image, mask.float())
    with pytest.raises(ValueError, match="crop_size"):
        T.train_transforms(0)
    with pytest.raises(ValueError, match="both mean and std"):
        T.eval_transforms(mean=(0.5, 0.5, 0.5), std=None)
    with pytest.raises(ValueError, match="mode must be"):
        T.eval_transforms(10, mode="stretch")
