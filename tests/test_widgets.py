"""The explorers, driven without a browser: set a control's value, check what was drawn.

Oracles: the palette and plain NumPy for the pictures and per-image metrics, the analytic
footprint of stacked dilated kernels, and hand-written test-time augmentation.
"""

import io
import sys
import types

import ipywidgets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fcnlib import analysis, widgets
from fcnlib.models.base import SegmentationModel
from fcnlib.viz import ERROR_COLOUR, IGNORE_COLOUR

K = 4
CLASSES = ["background", "disc", "box", "bar"]
PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
H, W = 12, 16


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 3, H, W, generator=g)
    targets = torch.randint(0, K, (3, H, W), generator=g)
    targets[0, 0, :4] = 255  # a few ignored pixels
    preds = targets.clone()
    preds[targets == 255] = 0
    preds[:, 5:8] = (preds[:, 5:8] + 1) % K  # three wrong rows per image
    return images, targets, preds


def pixels(img):
    """The image as the H x W x 3 uint8 that a perfect picture of it would hold."""
    return (img.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def explorer(batch, **kw):
    images, targets, preds = batch
    kw.setdefault("predictions", preds)
    return widgets.MaskExplorer(images, targets, classes=CLASSES, palette=PALETTE, **kw)


# ----------------------------------------------------------------------------- MaskExplorer
def test_mask_explorer_is_a_displayable_widget(batch):
    me = explorer(batch)
    assert isinstance(me, ipywidgets.VBox)

    def descendants(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from descendants(c)

    found = list(descendants(me))
    for control in (me.image_slider, me.alpha_slider, me.view_buttons, me.picture, me.info):
        assert any(control is w for w in found)
    assert all(any(cb is w for w in found) for cb in me.class_checkboxes)


def test_picture_is_the_current_image_enlarged(batch):
    me = explorer(batch, zoom=3)
    frame = me.current_image()
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    png = decode(me.picture.value)
    assert png.shape == (3 * H, 3 * W, 3)
    np.testing.assert_array_equal(png[::3, ::3], frame)
    np.testing.assert_array_equal(png[2::3, 1::3], frame)


def test_image_view_and_image_slider(batch):
    images = batch[0]
    me = explorer(batch)
    me.view_buttons.value = "image"
    np.testing.assert_array_equal(me.current_image(), pixels(images[0]))
    before = me.picture.value
    me.image_slider.value = 2
    np.testing.assert_array_equal(me.current_image(), pixels(images[2]))
    assert me.picture.value != before
    assert "image 2" in me.info.value


def test_ground_truth_view_paints_visible_classes_with_the_palette(batch):
    images, targets, _ = batch
    me = explorer(batch)
    me.view_buttons.value = "ground truth"
    me.alpha_slider.value = 1.0
    frame, t = me.current_image(), targets[0].numpy()
    for c in (1, 2, 3):  # drawn classes get their colour
        assert (frame[t == c] == PALETTE[c]).all()
    # background is unticked by default: the image shows through
    np.testing.assert_array_equal(frame[t == 0], pixels(images[0])[t == 0])
    assert (frame[t == 255] == IGNORE_COLOUR).all()
    # untick "box": its pixels show the image; tick background: it turns black
    me.class_checkboxes[2].value = False
    me.class_checkboxes[0].value = True
    frame = me.current_image()
    np.testing.assert_array_equal(frame[t == 2], pixels(images[0])[t == 2])
    assert (frame[t == 0] == 0).all()
    assert me.visible_classes() == [0, 1, 3]


def test_alpha_slider_blends_linearly(batch):
    images, targets, _ = batch
    me = explorer(batch)
    me.alpha_slider.value = 0.25
    t = targets[0].numpy()
    img = images[0].permute(1, 2, 0).numpy()
    expected = 0.75 * img[t == 1] + 0.25 * PALETTE[1] / 255
    np.testing.assert_allclose(me.current_image()[t == 1] / 255, expected, atol=1 / 255)
    me.alpha_slider.value = 0.0
    np.testing.assert_array_equal(me.current_image(), pixels(images[0]))


def test_prediction_and_error_views(batch):
    images, targets, preds = batch
    me = explorer(batch)
    me.alpha_slider.value = 1.0
    me.image_slider.value = 1
    me.view_buttons.value = "prediction"
    frame, p = me.current_image(), preds[1].numpy()
    for c in (1, 2, 3):
        assert (frame[p == c] == PALETTE[c]).all()
    me.view_buttons.value = "errors"
    frame, t = me.current_image(), targets[1].numpy()
    wrong = (p != t) & (t != 255)
    assert wrong.sum() > 0
    assert (frame[wrong] == ERROR_COLOUR).all()
    right = (p == t) & ((t != 0) | (p != 0))  # correct pixels of drawn classes: black
    assert (frame[right] == 0).all()
    # pixels whose true and predicted class are both hidden show the image
    both_bg = (t == 0) & (p == 0)
    np.testing.assert_array_equal(frame[both_bg], pixels(images[1])[both_bg])


def test_per_image_metrics_match_numpy(batch):
    _, targets, preds = batch
    me = explorer(batch)
    for i in range(3):
        me.image_slider.value = i
        t, p = targets[i].numpy(), preds[i].numpy()
        keep = t != 255
        m = me.current_metrics()
        assert m["pixel_accuracy"] == pytest.approx((p[keep] == t[keep]).mean())
        for c in range(K):
            inter = ((p == c) & (t == c) & keep).sum()
            union = (((p == c) | (t == c)) & keep).sum()
            assert m["iou"][c] == pytest.approx(inter / union)
        assert f"pixel accuracy: {(p[keep] == t[keep]).mean():.3f}" in me.info.value


def test_iou_is_listed_only_for_classes_present():
    images = torch.rand(1, 3, 4, 4)
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, :2] = 1
    pred = target.clone()
    me = widgets.MaskExplorer(images, target, pred, CLASSES, PALETTE)
    assert set(me.current_metrics()["iou"]) == {0, 1}
    assert "bar" not in me.info.value


def test_model_dropdown_switches_predictions(batch):
    images, targets, preds = batch
    other = torch.full_like(preds, 3)
    me = widgets.MaskExplorer(images, targets, {"good": preds, "all bars": other}, CLASSES, PALETTE)
    assert me.model_dropdown.options == ("good", "all bars")
    me.view_buttons.value = "prediction"
    me.alpha_slider.value = 1.0
    me.model_dropdown.value = "all bars"
    assert (me.current_image() == PALETTE[3]).all()
    t = targets[0]
    assert me.current_metrics()["pixel_accuracy"] == pytest.approx(
        float((t[t != 255] == 3).float().mean())
    )
    assert "model: all bars" in me.info.value


def test_views_offered_depend_on_inputs(batch):
    images, targets, preds = batch
    only_truth = widgets.MaskExplorer(images, targets, classes=CLASSES, palette=PALETTE)
    assert only_truth.view_buttons.options == ("image", "ground truth")
    assert only_truth.current_metrics() is None
    assert explorer(batch).view_buttons.options == ("image", "ground truth", "prediction", "errors")


def test_confidence_view(batch):
    images, targets, preds = batch
    probs = torch.full((3, K, H, W), 1 / K)  # a pure guess everywhere ...
    sure = torch.zeros(H, W, dtype=torch.bool)
    sure[:, : W // 2] = True  # ... except the left half of image 0, predicted with certainty
    probs[0][:, sure] = F.one_hot(preds[0][sure], K).T.float()
    me = explorer(batch, probabilities=probs)
    assert me.view_buttons.options[-1] == "confidence"
    me.view_buttons.value = "confidence"
    me.alpha_slider.value = 1.0
    for c in range(K):  # every class drawn, so every pixel shows its confidence
        me.class_checkboxes[c].value = True
    frame = me.current_image()
    from matplotlib import colormaps

    lo = (np.array(colormaps["viridis"](0.0)[:3]) * 255 + 0.5).astype(np.uint8)
    hi = (np.array(colormaps["viridis"](1.0)[:3]) * 255 + 0.5).astype(np.uint8)
    assert (frame[sure.numpy()] == hi).all()
    assert (frame[~sure.numpy()] == lo).all()
    assert "mean confidence on" in me.info.value
    # a colour bar of the same colour map, from 1/K to 1, explains the colours
    assert f"background:rgb({lo[0]},{lo[1]},{lo[2]})" in me.info.value
    assert f"background:rgb({hi[0]},{hi[1]},{hi[2]})" in me.info.value


def test_probabilities_alone_give_predictions(batch):
    images, targets, preds = batch
    probs = F.one_hot(preds, K).permute(0, 3, 1, 2).float()
    me = widgets.MaskExplorer(
        images, targets, classes=CLASSES, palette=PALETTE, probabilities=probs
    )
    assert torch.equal(me.predictions["prediction"], preds)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda b: {"images": b[0][0]}, "images has shape \\(3, 12, 16\\).*batch"),
        (lambda b: {"images": b[0][:, :2]}, "images has 2 channels"),
        (lambda b: {"images": (b[0] * 255).to(torch.uint8)}, "images has dtype torch.uint8"),
        (lambda b: {"images": b[0] * 2 - 1}, "images has values in .* expected \\[0, 1\\]"),
        (lambda b: {"targets": b[1][:2]}, "targets holds 2 masks but there are 3 images"),
        (lambda b: {"targets": b[1][:, :-1]}, "targets masks are \\(11, 16\\)"),
        (lambda b: {"targets": b[1][0]}, "targets has shape \\(12, 16\\): expected B x H x W"),
        (lambda b: {"targets": b[1].float()}, "targets has dtype torch.float32"),
        (lambda b: {"targets": b[1] * 0 + 7}, "targets contains label value\\(s\\) \\[7\\]"),
        (lambda b: {"predictions": b[2][:, :, :-2]}, "predictions masks are \\(12, 14\\)"),
        (lambda b: {"probabilities": torch.rand(3, K + 1, H, W)}, "probabilities has shape"),
        (lambda b: {"probabilities": torch.randn(3, K, H, W) * 5}, "apply softmax"),
        (lambda b: {"palette": PALETTE[:, :2]}, "palette has shape"),
        (lambda b: {"palette": PALETTE[:2]}, "palette has 2 colours but there are 4 classes"),
        (lambda b: {"zoom": 0}, "zoom must be a positive integer"),
    ],
)
def test_mask_explorer_rejects_bad_input(batch, change, match):
    images, targets, preds = batch
    kw = dict(images=images, targets=targets, predictions=preds, classes=CLASSES, palette=PALETTE)
    kw.update(change(batch))
    with pytest.raises((ValueError, TypeError), match=match):
        widgets.MaskExplorer(**kw)


def test_defaults_to_shapes_classes_and_palette():
    from fcnlib.data import CLASSES as SHAPES
    from fcnlib.data import PALETTE as SHAPES_PALETTE

    me = widgets.MaskExplorer(torch.rand(1, 3, 8, 8), torch.ones(1, 8, 8, dtype=torch.long))
    assert me.classes == SHAPES
    me.alpha_slider.value = 1.0
    assert (me.current_image() == SHAPES_PALETTE[1]).all()


# ----------------------------------------------------------------------------- receptive field
class ConvStack(SegmentationModel):
    """``layers`` linear 3x3 convolutions (stride 1, padding 1): receptive field 2 * layers + 1."""

    def __init__(self, layers=2, num_classes=K):
        super().__init__(num_classes)
        chans = [3] + [6] * (layers - 1) + [num_classes]
        self.convs = nn.Sequential(
            *[nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans, chans[1:])]
        )

    def _forward(self, x):
        return {"out": self.convs(x)}


def test_input_gradient_support_is_the_analytic_receptive_field():
    torch.manual_seed(0)
    image = torch.rand(3, 15, 15)
    for layers in (1, 2, 3):
        g = analysis.input_gradient(ConvStack(layers), image, 7, 6)
        r = layers  # a stack of L 3x3 convolutions sees (2L+1) x (2L+1)
        expected = np.zeros((15, 15), bool)
        expected[7 - r : 7 + r + 1, 6 - r : 6 + r + 1] = True
        np.testing.assert_array_equal(g > 0, expected)


def test_input_gradient_keeps_training_mode_and_checks_pixel():
    m = ConvStack(1).train()
    analysis.input_gradient(m, torch.rand(3, 8, 8), 0, 0)
    assert m.training
    with pytest.raises(ValueError, match="outside the 8 x 8 image"):
        analysis.input_gradient(m, torch.rand(3, 8, 8), 8, 0)


@pytest.fixture
def fake_analysis(monkeypatch):
    """An ``fcnlib.analysis`` whose receptive_field returns what the test sets."""
    mod = types.ModuleType("fcnlib.analysis")
    mod.result = None

    def receptive_field(model):
        if isinstance(mod.result, Exception):
            raise mod.result
        return mod.result

    mod.receptive_field = receptive_field
    monkeypatch.setitem(sys.modules, "fcnlib.analysis", mod)
    import fcnlib

    monkeypatch.setattr(fcnlib, "analysis", mod, raising=False)
    return mod


def test_receptive_field_explorer_sliders_move_both_fields(fake_analysis):
    torch.manual_seed(0)
    fake_analysis.result = types.SimpleNamespace(size=5)
    image = torch.rand(3, 20, 20)
    rf = widgets.ReceptiveFieldExplorer(ConvStack(2), image, zoom=2)
    assert rf.rf_size == 5 and rf.theoretical_checkbox.value
    rf.row_slider.value, rf.col_slider.value = 4, 13
    erf = rf.effective_rf()
    assert erf.max() == 1.0
    np.testing.assert_array_equal(np.argwhere(erf > 0).min(0), [2, 11])
    np.testing.assert_array_equal(np.argwhere(erf > 0).max(0), [6, 15])
    assert rf.theoretical_box() == (2, 11, 6, 15)
    frame = rf.current_image()
    cyan = np.all(frame == widgets.MARK_COLOUR, -1)
    box = np.zeros_like(cyan)
    box[2, 11:16] = box[6, 11:16] = box[2:7, 11] = box[2:7, 15] = True
    box[4, 13] = True  # the chosen pixel
    np.testing.assert_array_equal(cyan, box)
    assert "5 x 5 px" in rf.info.value
    assert f"within {rf.extent(erf, 4, 13)} x" in rf.info.value
    # effective field off, theoretical off: the plain image with the chosen pixel marked
    rf.effective_checkbox.value = False
    rf.theoretical_checkbox.value = False
    frame = rf.current_image()
    expected = pixels(image)
    expected[4, 13] = widgets.MARK_COLOUR
    np.testing.assert_array_equal(frame, expected)


def test_receptive_field_explorer_opacity_slider(fake_analysis):
    fake_analysis.result = types.SimpleNamespace(size=3)
    image = torch.rand(3, 10, 10)
    rf = widgets.ReceptiveFieldExplorer(ConvStack(1), image, zoom=1)
    rf.theoretical_checkbox.value = False
    rf.opacity_slider.value = 0.0  # heat map fully transparent: the image and the marked pixel
    expected = pixels(image)
    expected[5, 5] = widgets.MARK_COLOUR
    np.testing.assert_array_equal(rf.current_image(), expected)
    rf.opacity_slider.value = 1.0  # fully opaque: the colour map of the gradient alone
    from matplotlib import colormaps

    heat = colormaps["magma"](rf.effective_rf())[..., :3]
    expected = (heat * 255 + 0.5).astype(np.uint8)
    expected[5, 5] = widgets.MARK_COLOUR
    np.testing.assert_array_equal(rf.current_image(), expected)


def test_receptive_field_explorer_without_theoretical_field(fake_analysis):
    fake_analysis.result = NotImplementedError("no rule for this layer")
    rf = widgets.ReceptiveFieldExplorer(ConvStack(1), torch.rand(1, 3, 9, 9))
    assert rf.rf_size is None and rf.theoretical_box() is None
    assert rf.theoretical_checkbox.disabled and not rf.theoretical_checkbox.value
    assert "not available" in rf.info.value and "no rule for this layer" in rf.info.value
    assert rf.effective_rf().shape == (9, 9)


def test_receptive_field_explorer_log_scale_changes_picture(fake_analysis):
    fake_analysis.result = types.SimpleNamespace(size=3)
    rf = widgets.ReceptiveFieldExplorer(ConvStack(3), torch.rand(3, 16, 16))
    linear = rf.current_image()
    rf.log_checkbox.value = True
    assert not np.array_equal(linear, rf.current_image())


def test_extent_of_known_fields():
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert widgets.ReceptiveFieldExplorer.extent(delta, 4, 4) == 1
    square = np.zeros((9, 9))
    square[2:7, 2:7] = 1
    assert widgets.ReceptiveFieldExplorer.extent(square, 4, 4, mass=1.0) == 5
    assert widgets.ReceptiveFieldExplorer.extent(square, 4, 4, mass=9 / 25) == 3


def test_receptive_field_explorer_with_real_analysis():
    pytest.importorskip("fcnlib.analysis")
    torch.manual_seed(0)
    rf = widgets.ReceptiveFieldExplorer(ConvStack(3), torch.rand(3, 21, 21))
    assert rf.rf_size == 7  # three 3x3 convolutions: 1 + 3 * 2
    support = np.argwhere(rf.effective_rf() > 0)
    assert (support.max(0) - support.min(0) + 1).tolist() == [7, 7]  # the two agree
    assert "theoretical RF: 7 x 7 px" in rf.info.value


# ----------------------------------------------------------------------------- dilation
def trinomial(layers: int) -> np.ndarray:
    """Coefficients of (1 + x + x^2)^layers: paths through ``layers`` 3-tap kernels."""
    return np.polynomial.polynomial.polypow([1, 1, 1], layers).astype(np.int64)


@pytest.mark.parametrize("rate, layers", [(1, 1), (1, 3), (2, 1), (3, 2), (4, 3)])
def test_dilated_footprint_matches_the_trinomial_oracle(rate, layers):
    fp = analysis.dilated_footprint(rate, layers)
    side = 2 * rate * layers + 1
    assert fp.shape == (side, side)
    expected = np.zeros_like(fp)
    t = trinomial(layers)
    expected[::rate, ::rate] = np.outer(t, t)
    np.testing.assert_array_equal(fp, expected)


def test_dilated_footprint_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rate must be a positive integer"):
        analysis.dilated_footprint(0)
    with pytest.raises(ValueError, match="size=4 is smaller"):
        analysis.dilated_footprint(2, 1, size=4)


def test_dilation_playground_rate_and_layers_sliders():
    dp = widgets.DilationPlayground(max_rate=6, max_layers=3, zoom=2)
    c = dp.size // 2
    for rate, layers in [(1, 1), (2, 1), (3, 2), (6, 3)]:
        dp.rate_slider.value, dp.layers_slider.value = rate, layers
        fp = dp.footprint()
        assert fp.sum() == 9**layers  # every path counted once
        read = np.argwhere(fp > 0) - c
        assert (read % rate == 0).all() and np.abs(read).max() == rate * layers
        assert len(read) == (2 * layers + 1) ** 2
        frame = dp.current_image()
        f = frame.astype(int)
        blue = (f[..., 2] > f[..., 0] + 20) & (f[..., 2] > 100)
        assert blue.sum() == len(read) - 1  # the centre is drawn red
        assert tuple(frame[c, c]) == (255, 0, 0)
        side = 2 * rate * layers + 1
        assert f"receptive field: {side} x {side} px" in dp.info.value
        pct = round(100 * len(read) / side**2)
        assert f"({pct}%)" in dp.info.value
        assert ("gridding" in dp.info.value) == (rate > 1)


def test_dilation_playground_aspp_view():
    dp = widgets.DilationPlayground(zoom=1)
    dp.view_buttons.value = "ASPP"
    fp = dp.footprint()
    c = dp.size // 2
    assert fp[c, c] == 1 and (fp > 0).sum() == 1 + 3 * 8
    for r in (6, 12, 18):
        for dy, dx in [(-r, -r), (-r, 0), (0, r), (r, r)]:
            assert fp[c + dy, c + dx] == r
    frame = dp.current_image()
    for r in (6, 12, 18):
        assert tuple(frame[c - r, c + r]) == widgets.ASPP_COLOURS[r]
    assert "37 x 37" in dp.info.value and "25 positions" in dp.info.value


# ----------------------------------------------------------------------------- predictions
def manual_tta(model, x, scales, flip):
    """Test-time augmentation written out: average softmax over scales and mirror images."""
    size, total, n = x.shape[-2:], 0, 0
    with torch.no_grad():
        for s in scales:
            xs = (
                F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
                if s != 1
                else x
            )
            for f in [False, True] if flip else [False]:
                out = model(xs.flip(-1) if f else xs)
                out = out.flip(-1) if f else out
                out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
                total, n = total + out.softmax(1), n + 1
    return (total / n).argmax(1)[0]


def test_prediction_explorer_checkboxes_choose_the_augmentation():
    torch.manual_seed(0)
    model = ConvStack(3).eval()
    images = torch.rand(2, 3, H, W)
    pe = widgets.PredictionExplorer(model, images, CLASSES, PALETTE, zoom=1)
    assert pe.scales() == (1.0,)
    assert torch.equal(pe.current_prediction(), model(images[:1]).argmax(1)[0])
    pe.flip_checkbox.value = True
    assert torch.equal(pe.current_prediction(), manual_tta(model, images[:1], (1.0,), True))
    pe.scale_checkboxes[0.5].value = True
    pe.scale_checkboxes[1.5].value = True
    assert pe.scales() == (0.5, 1.0, 1.5)
    pe.image_slider.value = 1
    expected = manual_tta(model, images[1:], (0.5, 1.0, 1.5), True)
    assert torch.equal(pe.current_prediction(), expected)
    assert "scales 0.5, 1, 1.5 + flip: 6 forward pass(es)" in pe.info.value
    plain = model(images[1:]).argmax(1)[0]
    assert (
        f"pixels changed vs. plain single-scale: {int((expected != plain).sum())} " in pe.info.value
    )
    for cb in pe.scale_checkboxes.values():  # nothing ticked: plain scale 1
        cb.value = False
    assert pe.scales() == (1.0,)


def test_prediction_explorer_picture_panels():
    torch.manual_seed(0)
    model = ConvStack(1).eval()
    images = torch.rand(2, 3, H, W)
    targets = torch.randint(0, K, (2, H, W))
    pe = widgets.PredictionExplorer(model, images, CLASSES, PALETTE, targets=targets, zoom=1)
    frame = pe.current_image()
    assert frame.shape == (H, 3 * W + 4, 3)
    np.testing.assert_array_equal(frame[:, :W], pixels(images[0]))
    pe.alpha_slider.value = 1.0
    frame, pred = pe.current_image(), pe.current_prediction().numpy()
    panel = frame[:, W + 2 : 2 * W + 2]
    for c in (1, 2, 3):
        assert (panel[pred == c] == PALETTE[c]).all()
    truth = frame[:, 2 * W + 4 :]
    t = targets[0].numpy()
    assert (truth[t == 3] == PALETTE[3]).all()
    acc = (pred == t).mean()
    assert f"pixel accuracy: {acc:.3f}" in pe.info.value


def test_prediction_explorer_rejects_class_mismatch():
    with pytest.raises(ValueError, match="the model predicts 6 classes but 4 classes"):
        widgets.PredictionExplorer(
            ConvStack(1, num_classes=6), torch.rand(1, 3, 8, 8), CLASSES, PALETTE
        )
