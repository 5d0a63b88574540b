import time

import numpy as np
import pytest
import torch

from fcnlib.data import ShapesScenes
from fcnlib.data.shapes import CLASSES, add_ignore_band


def test_item_types_and_ranges():
    ds = ShapesScenes("train", size=8, image_size=(48, 64))
    image, mask = ds[3]
    assert image.dtype == torch.float32 and image.shape == (3, 48, 64)
    assert mask.dtype == torch.int64 and mask.shape == (48, 64)
    assert 0 <= image.min() and image.max() <= 1
    assert set(mask.unique().tolist()) <= set(range(len(CLASSES)))
    assert ds.palette.shape == (len(ds.classes), 3) and ds.palette.dtype == np.uint8
    assert ds.classes[0] == "background" and ds.ignore_index == 255


def test_deterministic_and_splits_disjoint():
    a = ShapesScenes("train", size=50, image_size=32, seed=3)
    b = ShapesScenes("train", size=50, image_size=32, seed=3)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(5))
    hashes = {}
    for split in ("train", "val", "test"):
        ds = ShapesScenes(split, size=50, image_size=32, seed=3)
        hashes[split] = {ds[i][0].numpy().tobytes() for i in range(50)}
    assert not hashes["train"] & hashes["val"]
    assert not hashes["train"] & hashes["test"]
    assert not hashes["val"] & hashes["test"]
    other_seed = ShapesScenes("train", size=5, image_size=32, seed=4)
    assert not torch.equal(other_seed[0][0], a[0][0])


def test_colour_does_not_tell_the_class():
    """A nearest-mean-colour classifier stays near chance among the object classes."""
    train = ShapesScenes("train", size=300, image_size=48)
    test = ShapesScenes("val", size=150, image_size=48)

    def pixels(ds):
        xs, ys = [], []
        for i in range(len(ds)):
            x, y = ds[i]
            keep = y > 0
            xs.append(x.permute(1, 2, 0)[keep])
            ys.append(y[keep])
        return torch.cat(xs), torch.cat(ys)

    xtr, ytr = pixels(train)
    means = torch.stack([xtr[ytr == c].mean(0) for c in range(1, len(CLASSES))])
    xte, yte = pixels(test)
    pred = torch.cdist(xte, means).argmin(1) + 1
    per_class = [(pred[yte == c] == c).float().mean().item() for c in range(1, len(CLASSES))]
    balanced = float(np.mean(per_class))
    chance = 1 / (len(CLASSES) - 1)
    assert abs(balanced - chance) < 0.06, (balanced, chance)


def test_sizes_span_small_to_large_and_thin_bars_exist():
    """Objects from about 15 px across to most of the image; bars thin but long."""
    ds = ShapesScenes("train", size=300, image_size=64)
    diameters, bar_widths, bar_lengths = [], [], []
    for i in range(300):
        s = ds.scene(i)
        for o in s.objects:
            diameters.append(2 * np.sqrt(o.rasterize(64, 64).sum() / np.pi))
            if o.name == "bar":
                bar_widths.append(o.width)
                bar_lengths.append(2 * o.size)
    assert min(diameters) < 18 and max(diameters) > 40
    assert min(diameters) >= 9  # nothing too small to recognise
    assert bar_widths and 4 <= min(bar_widths) and max(bar_widths) <= 6
    assert min(bar_lengths) >= 0.4 * 64


def test_objects_contrast_with_the_background_and_classes_cover_similar_areas():
    ds = ShapesScenes("val", size=300, image_size=64)
    area = np.zeros(len(CLASSES))
    for i in range(300):
        s = ds.scene(i)
        for o in s.objects:
            under = s.background[min(int(o.cy), 63), min(int(o.cx), 63)]
            assert np.linalg.norm(o.colour - under) >= 0.3 - 1e-6
        area += np.bincount(s.mask.ravel(), minlength=len(CLASSES))
    shapes_only = area[1:5]  # bars are thin by design
    assert shapes_only.max() / shapes_only.min() < 1.6, area


def test_every_class_occurs_and_objects_occlude():
    ds = ShapesScenes("train", size=100, image_size=64)
    seen, occluded = set(), 0
    for i in range(100):
        s = ds.scene(i)
        seen |= set(np.unique(s.mask).tolist())
        for k, o in enumerate(s.objects):
            full = o.rasterize(64, 64).sum()
            visible = (s.instances == k + 1).sum()
            occluded += bool(visible < full)
    assert seen == set(range(len(CLASSES)))
    assert occluded > 10


def test_mask_matches_instances():
    s = ShapesScenes("val", size=4, image_size=40).scene(1)
    for k, o in enumerate(s.objects):
        assert (s.mask[s.instances == k + 1] == o.label).all()
    assert (s.mask[s.instances == 0] == 0).all()


def test_ignore_band():
    mask = np.zeros((9, 9), np.int64)
    mask[3:6, 3:6] = 2
    band = add_ignore_band(mask, 1)
    # pixels with a 4-neighbour of another label: the square's 8 outer-ring pixels and the
    # 12 background pixels beside its sides; the centre and the diagonal corners stay
    assert (band == 255).sum() == 8 + 12
    assert band[4, 4] == 2 and band[2, 2] == 0 and band[2, 4] == 255
    ds = ShapesScenes("train", size=3, image_size=48, ignore_boundary=1)
    _, m = ds[0]
    assert (m == 255).any()


def test_transforms_are_applied():
    def t(image, mask):
        return image.flip(-1), mask.flip(-1)

    a = ShapesScenes("train", size=2, image_size=32)
    b = ShapesScenes("train", size=2, image_size=32, transforms=t)
    assert torch.equal(a[1][0].flip(-1), b[1][0]) and torch.equal(a[1][1].flip(-1), b[1][1])


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"split": "training"}, "split"),
        ({"size": 0}, "size"),
        ({"image_size": 8}, "image_size"),
        ({"object_size": (0.5, 0.1)}, "object_size"),
    ],
)
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ShapesScenes(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        ShapesScenes(size=3)[3]


def test_generation_rate_smoke():
    """Generation stays fast; the real rate is measured by benchmarks/run.py."""
    ds = ShapesScenes("train", size=40, image_size=96)
    t = time.perf_counter()
    for i in range(40):
        ds[i]
    assert time.perf_counter() - t < 10  # a hang or pathological slowdown, not a speed target


def test_cache_returns_the_same_items_and_transforms_still_run():
    calls = []

    def t(image, mask):
        calls.append(1)
        return image, mask

    plain = ShapesScenes("train", size=3, image_size=24)
    cached = ShapesScenes("train", size=3, image_size=24, cache=True, transforms=t)
    for _ in range(2):
        for i in range(3):
            (x, y), (xc, yc) = plain[i], cached[i]
            assert torch.equal(x, xc) and torch.equal(y, yc)
    assert len(cached._cache) == 3 and len(calls) == 6
