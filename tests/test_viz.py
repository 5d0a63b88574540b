import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from fcnlib import viz
from fcnlib.data import ShapesScenes

PAL = np.array([[0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8)


def test_colorize_uses_palette_and_grey_for_ignore():
    m = torch.tensor([[0, 1], [2, 255]])
    c = viz.colorize(m, PAL)
    assert c.dtype == np.uint8 and c.shape == (2, 2, 3)
    assert c[0, 1].tolist() == [255, 0, 0] and c[1, 0].tolist() == [0, 0, 255]
    assert c[1, 1].tolist() == viz.IGNORE_COLOUR.tolist()
    with pytest.raises(ValueError, match="label 5"):
        viz.colorize(torch.tensor([[5]]), PAL)


def test_overlay_blends_only_objects():
    img = torch.full((3, 2, 2), 0.5)
    m = torch.tensor([[0, 1], [1, 0]])
    out = viz.overlay(img, m, PAL, alpha=0.5)
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(out[0, 1], [0.75, 0.25, 0.25])
    with pytest.raises(ValueError, match="mask"):
        viz.overlay(img, torch.zeros(3, 3, dtype=torch.long), PAL)


def test_error_map():
    e = viz.error_map(torch.tensor([[0, 1, 1]]), torch.tensor([[0, 2, 255]]))
    assert e[0, 0].tolist() == [0, 0, 0]
    assert e[0, 1].tolist() == viz.ERROR_COLOUR.tolist()
    assert e[0, 2].tolist() == viz.IGNORE_COLOUR.tolist()


def test_show_samples_grid_and_confusion_plot():
    ds = ShapesScenes("val", size=3, image_size=24)
    x = torch.stack([ds[i][0] for i in range(3)])
    y = torch.stack([ds[i][1] for i in range(3)])
    fig = viz.show_samples(x, y, y, palette=ds.palette, classes=ds.classes)
    assert len(fig.axes) == 3 * 4  # image, truth, prediction, errors
    fig2 = viz.show_samples(x, y, {"a": y, "b": y}, palette=ds.palette, max_rows=2)
    assert len(fig2.axes) == 2 * 4  # image, truth, a, b
    ax = viz.plot_confusion(torch.eye(6, dtype=torch.long) * 5, ds.classes)
    assert ax.images[0].get_array()[2, 2] == pytest.approx(1.0)
    plt.close("all")


def test_confusion_digits_are_readable_and_sized_to_the_cells():
    classes = [f"c{i}" for i in range(6)]
    ax = viz.plot_confusion(torch.eye(6, dtype=torch.long) * 5 + 1, classes)
    sizes = {t.get_fontsize() for t in ax.texts}
    assert len(ax.texts) == 36 and min(sizes) >= 10  # six classes: large digits
    assert ax.texts[0].get_text() == "0.55"  # row-normalised, two decimals
    many = viz.plot_confusion(torch.eye(20, dtype=torch.long), [f"c{i}" for i in range(20)])
    assert max(t.get_fontsize() for t in many.texts) < min(sizes)  # smaller cells, smaller digits
    counts = viz.plot_confusion(torch.eye(3, dtype=torch.long) * 7, classes[:3], normalize=False,
                                fontsize=8)  # fmt: skip
    assert counts.texts[0].get_text() == "7" and counts.texts[0].get_fontsize() == 8
    assert len(counts.figure.axes) == 2  # the matrix and its colour bar
    plt.close("all")
