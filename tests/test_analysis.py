"""Receptive field (analytic recurrence vs gradient support), FLOPs and activation memory."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.vgg import cfgs, make_layers

from fcnlib import analysis, metrics, models
from fcnlib.models.encdec import transposed_upsample

K = 6


def _positive(m: nn.Module) -> nn.Module:
    """Positive weights and no non-linearity: every path through the net carries gradient."""
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.abs() + 0.1)
    return m


def gradient_support(m: nn.Module, size: int = 96) -> tuple[int, int]:
    """Height and width of the input region that moves the centre output (the oracle)."""
    x = torch.rand(1, 3, size, size, requires_grad=True)
    out = m(x)
    cy, cx = out.shape[-2] // 2, out.shape[-1] // 2
    (g,) = torch.autograd.grad(out[:, :, cy, cx].sum(), x)
    nz = (g.abs().sum((0, 1)) > 0).nonzero()
    return int(nz[:, 0].max() - nz[:, 0].min() + 1), int(nz[:, 1].max() - nz[:, 1].min() + 1)


# ----------------------------------------------------------------------------- receptive field
def test_hand_computed_chain():
    # r: 1 -> 3 (3x3) -> 5 (3x3 stride 2, jump 2) -> 5 + 2*2*2 = 13 (3x3 dilation 2)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3, stride=2), nn.Conv2d(4, 4, 3, dilation=2)
    )
    rf = analysis.receptive_field(net)
    assert rf.size == 13 and rf.stride == 2
    assert [int(lr.rf) for lr in rf.layers] == [3, 5, 13]
    assert "dilation" not in rf.table() and "conv" in rf.table()


@pytest.mark.parametrize("depth", [1, 2, 5, 10])
def test_allconv_grows_linearly(depth):
    rf = analysis.receptive_field(models.AllConvNet(K, width=4, depth=depth))
    assert rf.size == 1 + 2 * depth and rf.stride == 1


def test_vgg16_features_match_the_published_value():
    # pool5 of VGG-16 sees 212 x 212 pixels with a stride of 32 (e.g. Araujo et al., Distill 2019)
    features = make_layers(cfgs["D"])  # VGG-16's convolutional part, without the big fc layers
    rf = analysis.receptive_field(features)
    assert rf.size == 212 and rf.stride == 32


CHAINS = {
    "convs": lambda: nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 5, padding=2)),
    "dilated": lambda: nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=4, dilation=4)
    ),
    "pooled": lambda: nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3, padding=1),
        nn.AvgPool2d(3, stride=2),
        nn.Conv2d(2, 2, 3, padding=2, dilation=2),
    ),
    "strided": lambda: nn.Sequential(
        nn.Conv2d(3, 2, 3, stride=2, padding=1), nn.Conv2d(2, 2, 3, stride=2, padding=1)
    ),
    "bilinear up": lambda: nn.Sequential(
        nn.AvgPool2d(2),
        nn.Conv2d(3, 2, 3, padding=1),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(2, 2, 3, padding=1),
    ),
    "nearest up": lambda: nn.Sequential(
        nn.AvgPool2d(4), nn.Conv2d(3, 2, 3, padding=1), nn.Upsample(scale_factor=4)
    ),
    "transposed up": lambda: nn.Sequential(
        nn.AvgPool2d(2), nn.Conv2d(3, 2, 3, padding=1), transposed_upsample(2, 2)
    ),
}


@pytest.mark.parametrize("name", list(CHAINS))
def test_analytic_rf_equals_gradient_support(name):
    torch.manual_seed(0)
    net = _positive(CHAINS[name]())
    rf = analysis.receptive_field(net)
    assert gradient_support(net) == (rf.size, rf.size)


def test_branched_models_give_an_upper_bound_on_what_moves_the_output():
    torch.manual_seed(0)
    for m in (models.EncoderDecoder(K, width=4), models.FCN(K, "8s", width=4)):
        rf = analysis.receptive_field(m)
        h, w = gradient_support(m.eval(), size=384)
        assert max(h, w) <= rf.size


def test_non_square_layers_are_refused_with_their_name():
    net = nn.Sequential(nn.Conv2d(3, 3, 3), nn.Conv2d(3, 3, (1, 5)))
    with pytest.raises(ValueError, match=r"1 has kernel_size=\(1, 5\)"):
        analysis.receptive_field(net)


# ----------------------------------------------------------------------------- effective RF
def test_effective_rf_is_zero_outside_the_theoretical_rf_and_peaks_inside():
    torch.manual_seed(0)
    m = models.AllConvNet(K, width=8, depth=4)
    erf = analysis.effective_receptive_field(m, torch.rand(4, 3, 33, 33))
    assert erf.shape == (33, 33) and erf.max() == 1.0
    half = analysis.receptive_field(m).size // 2  # 4
    inside = torch.zeros(33, 33, dtype=torch.bool)
    inside[16 - half : 16 + half + 1, 16 - half : 16 + half + 1] = True
    assert (erf[~inside] == 0).all()
    assert (erf[inside] > 0).float().mean() > 0.9
    assert m.training  # the mode is restored


def test_effective_rf_checks_position():
    m = models.AllConvNet(K, width=4, depth=1)
    with pytest.raises(ValueError, match="position"):
        analysis.effective_receptive_field(m, torch.rand(1, 3, 8, 8), position=(8, 0))


def test_draw_receptive_field_draws_image_heat_map_and_square():
    import matplotlib.pyplot as plt

    m = models.AllConvNet(K, width=4, depth=3)
    img = torch.rand(1, 3, 20, 20)
    erf = analysis.effective_receptive_field(m, img)
    ax = analysis.draw_receptive_field(img[0], erf, analysis.receptive_field(m), title="t")
    assert len(ax.images) == 2 and len(ax.patches) == 1
    assert ax.patches[0].get_width() == 7
    assert len(ax.figure.axes) == 1  # no colour bar unless asked for
    fig, ax = plt.subplots()
    analysis.draw_receptive_field(img[0], erf, 7, ax=ax, colorbar=True)
    assert len(fig.axes) == 2  # the heat map's colour bar, from 0 to 1
    assert fig.axes[1].get_ylim() == (0.0, 1.0)
    plt.close("all")


# ----------------------------------------------------------------------------- cost
def test_allconv_flops_and_memory_by_hand():
    d, w, h, wd = 3, 8, 20, 12
    m = models.AllConvNet(K, width=w, depth=d)
    hw = h * wd
    convs = 2 * hw * (3 * 9 * w) + (d - 1) * 2 * hw * (w * 9 * w) + 2 * hw * w * K
    norms = d * 2 * w * hw
    assert analysis.count_flops(m, (h, wd)) == convs + norms
    # every conv, BatchNorm and ReLU keeps a w x H x W map; the classifier K x H x W
    assert analysis.activation_memory(m, (h, wd)) == 4 * (3 * d * w * hw + K * hw)
    assert analysis.activation_memory(m, (h, wd), bytes_per_element=2) == 2 * (
        3 * d * w * hw + K * hw
    )


def test_flops_match_pytorchs_flop_counter():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2),
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 16 * 16, 10),
    )
    x = torch.rand(2, 3, 16, 16)
    with FlopCounterMode(display=False) as counter:
        net(x)
    assert analysis.count_flops(net, (2, 3, 16, 16)) == counter.get_total_flops()
    layers = analysis.count_flops(net, (2, 3, 16, 16), by_layer=True)
    assert [name for name, _ in layers] == ["0", "1", "2", "4"]


def test_cost_grows_with_resolution_squared():
    m = models.EncoderDecoder(K, width=4)
    f32, f64 = analysis.count_flops(m, 32), analysis.count_flops(m, 64)
    assert f64 == 4 * f32
    assert analysis.activation_memory(m, 64) == 4 * analysis.activation_memory(m, 32)


def test_cost_table_rows():
    rows = analysis.cost_table({"a": models.AllConvNet(K, width=4, depth=2)}, sizes=(16, 32))
    assert [r["size"] for r in rows] == [16, 32]
    assert rows[0]["receptive_field"] == 5
    assert rows[1]["gflops"] == pytest.approx(4 * rows[0]["gflops"])


def test_bad_input_size():
    with pytest.raises(ValueError, match="input_size"):
        analysis.count_flops(models.AllConvNet(K, width=4, depth=1), (1, 2, 3, 4, 5))


# ----------------------------------------------------------------------------- errors by object
def test_object_scores_by_hand():
    t = torch.zeros(12, 12, dtype=torch.long)
    t[2:9, 2:9] = 1  # a 7 x 7 square, 49 px
    t[10:, 10:] = 2  # a 2 x 2 square
    p = t.clone()
    p[4:7, 4:7] = 0  # a 3 x 3 hole: 40 of 49 px found
    p[0:2, 0:5] = 1  # a 10 px leak that touches the square
    p[0, 11] = 1  # a far-away false positive, not connected: does not count against the square
    rows = metrics.object_scores(p, t)
    assert [(r["label"], r["area"]) for r in rows] == [(1, 49), (2, 4)]
    assert rows[0]["recall"] == pytest.approx(40 / 49)
    assert rows[0]["iou"] == pytest.approx(40 / (49 + 10))
    assert rows[0]["size"] == pytest.approx(7.0)
    assert rows[1]["recall"] == rows[1]["iou"] == 1.0


def test_object_scores_missed_object_and_batch_and_ignore():
    t = torch.zeros(2, 6, 6, dtype=torch.long)
    t[1, 1:4, 1:4] = 3
    t[1, 0, :] = 255
    p = torch.zeros_like(t)
    p[1, 0, :] = 3  # predicted where the label is "ignore": not part of the object's region
    rows = metrics.object_scores(p, t)
    assert len(rows) == 1 and rows[0]["image"] == 1 and rows[0]["label"] == 3
    assert rows[0]["recall"] == rows[0]["iou"] == 0.0
    with pytest.raises(TypeError, match="argmax"):
        metrics.object_scores(torch.rand(1, 6, 6, 6), t)


def test_distance_to_boundary_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(2, 14, 11, dtype=torch.long)
    mask[0, 3:10, 2:9] = 1
    mask[0, 5:7, 0:4] = 2
    mask[1] = torch.randint(0, 2, (14, 11), generator=g)
    d = metrics.distance_to_boundary(mask)
    assert d.shape == mask.shape
    for b in range(2):
        m = mask[b]
        for y in range(14):
            for x in range(11):
                other = (m != m[y, x]).nonzero()
                if len(other) == 0:
                    continue
                cheb = (other - torch.tensor([y, x])).abs().max(1).values.min()
                assert d[b, y, x] == cheb, (b, y, x)
    square = torch.zeros(11, 11, dtype=torch.long)
    square[2:9, 2:9] = 1
    d = metrics.distance_to_boundary(square)
    assert d[5, 5] == 4 and d[2, 5] == 1 and d[1, 5] == 1 and d[0, 0] == 2


def test_aspp_counts_only_its_widest_parallel_branch():
    from fcnlib import models

    wide = analysis.receptive_field(models.build("deeplab_resnet18", 6, aspp_rates=(6, 12, 18)))
    narrow = analysis.receptive_field(models.build("deeplab_resnet18", 6, aspp_rates=(1, 2, 3)))
    # the widest branch is a 3x3 conv at rate r on the stride-16 map: it adds 2 * r * 16 px
    assert wide.size - narrow.size == 2 * (18 - 3) * 16
    assert wide.stride == narrow.stride == 16
