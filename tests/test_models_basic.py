"""AllConvNet, EncoderDecoder and FCN-32s/16s/8s: shapes, initialisation, registry."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fcnlib import models
from fcnlib.models.encdec import bilinear_kernel, transposed_upsample

K = 6
NAMES = ["allconv", "encoder_decoder", "fcn32s", "fcn16s", "fcn8s"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("hw", [(32, 32), (33, 47), (7, 5), (1, 1)])
def test_output_is_logits_at_input_resolution(name, hw):
    torch.manual_seed(0)
    m = models.build(name, K).eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, *hw))
    assert y.shape == (2, K, *hw)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_trains_on_odd_sizes(name):
    torch.manual_seed(0)
    m = models.build(name, K)
    x, t = torch.rand(2, 3, 37, 29), torch.randint(0, K, (2, 37, 29))
    F.cross_entropy(m(x), t).backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_registry_builds_the_right_models():
    assert set(NAMES) <= set(models.available())
    assert isinstance(models.build("allconv", K, depth=3), models.AllConvNet)
    assert isinstance(models.build("encoder_decoder", K), models.EncoderDecoder)
    for v in ("32s", "16s", "8s"):
        m = models.build(f"fcn{v}", K)
        assert isinstance(m, models.FCN) and m.variant == v and m.arch == f"fcn{v}"
        assert m.output_stride == int(v[:-1])


# ----------------------------------------------------------------------------- AllConvNet
def test_allconv_keeps_resolution_in_every_layer():
    m = models.AllConvNet(K, width=8, depth=5).eval()
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    assert len(convs) == 6  # depth 3x3 convs + the 1x1 classifier
    assert [c.kernel_size for c in convs] == [(3, 3)] * 5 + [(1, 1)]
    sizes = []
    hooks = [c.register_forward_hook(lambda mod, i, o: sizes.append(o.shape[-2:])) for c in convs]
    m(torch.rand(1, 3, 13, 9))
    for h in hooks:
        h.remove()
    assert all(s == (13, 9) for s in sizes)


@pytest.mark.parametrize("kw", [{"depth": 0}, {"depth": 2.5}, {"width": 0}])
def test_allconv_rejects_bad_arguments(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        models.AllConvNet(K, **kw)


# ----------------------------------------------------------------------------- upsampling
@pytest.mark.parametrize("factor", [2, 4])
def test_bilinear_transposed_conv_equals_interpolate_away_from_borders(factor):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 11)
    up = transposed_upsample(3, factor, "bilinear")
    y = up(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert y.shape == ref.shape == (2, 3, 9 * factor, 11 * factor)
    b = factor  # the borders differ: zero padding versus edge replication
    torch.testing.assert_close(y[..., b:-b, b:-b], ref[..., b:-b, b:-b], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(y[..., :1, :], ref[..., :1, :], atol=1e-3)


def test_bilinear_kernel_is_separable_tent_that_sums_to_factor_squared():
    w = bilinear_kernel(2, 2, 4)
    tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(w[0, 0], tent[:, None] * tent[None, :])
    assert w[0, 1].abs().sum() == 0 and w[1, 0].abs().sum() == 0
    assert w[1, 1].sum() == pytest.approx(4.0)  # each input spreads over factor**2 outputs


def test_random_transposed_conv_makes_a_checkerboard_bilinear_does_not():
    torch.manual_seed(0)
    x = torch.ones(1, 4, 8, 8)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    smooth = transposed_upsample(4, 2, "bilinear")(x)[inner]
    torch.testing.assert_close(smooth, torch.ones_like(smooth))
    rough = transposed_upsample(4, 2, "random")(x)[inner].detach()
    # a constant input comes out with a period-2 pattern: the four output phases differ
    phases = torch.stack([rough[..., i::2, j::2] for i in (0, 1) for j in (0, 1)])
    assert (phases.std(dim=(-2, -1)) < 1e-5).all()  # constant within each phase
    assert phases.mean(dim=(-2, -1)).std(0).min() > 1e-3  # but different between phases


# ----------------------------------------------------------------------------- EncoderDecoder
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "transposed"])
def test_encoder_decoder_upsampling_modes(mode):
    m = models.EncoderDecoder(K, width=8, stages=3, upsample=mode)
    ups = [u for u in m.decoder.modules() if isinstance(u, (nn.Upsample, nn.ConvTranspose2d))]
    assert len(ups) == 3
    if mode == "transposed":
        assert all(isinstance(u, nn.ConvTranspose2d) for u in ups)
        torch.testing.assert_close(ups[0].weight, bilinear_kernel(32, 32, 4))
    else:
        assert all(isinstance(u, nn.Upsample) and u.mode == mode for u in ups)
    assert m.output_stride == 8
    pools = [p for p in m.encoder.modules() if isinstance(p, nn.MaxPool2d)]
    assert len(pools) == 3


def test_encoder_decoder_rejects_unknown_mode():
    with pytest.raises(ValueError, match="upsample"):
        models.EncoderDecoder(K, upsample="bicubic")
    with pytest.raises(ValueError, match="transposed_init"):
        models.EncoderDecoder(K, upsample="transposed", transposed_init="zeros")


# ----------------------------------------------------------------------------- FCN
def test_fcn_skip_scores_start_at_zero():
    m = models.FCN(K, "8s")
    for layer in (m.score_pool4, m.score_pool3):
        assert layer.weight.abs().sum() == 0 and layer.bias.abs().sum() == 0
    for layer in (m.upscore2, m.upscore_pool4):
        torch.testing.assert_close(layer.weight, bilinear_kernel(K, K, 4))
    assert not hasattr(models.FCN(K, "32s"), "score_pool4")
    assert not hasattr(models.FCN(K, "16s"), "score_pool3")


def test_fresh_fcn16s_from_fcn32s_predicts_its_upsampled_scores():
    """With zero skip scores, FCN-16s = FCN-32s's coarse scores, upsampled 2x then 16x."""
    torch.manual_seed(0)
    fcn32 = models.FCN(K, "32s").eval()
    fcn16 = models.FCN(K, "16s").eval()
    missing, unexpected = fcn16.load_state_dict(fcn32.state_dict(), strict=False)
    assert not unexpected
    assert sorted(missing) == ["score_pool4.bias", "score_pool4.weight", "upscore2.weight"]
    with torch.no_grad():
        x = torch.rand(1, 3, 256, 256)
        coarse = fcn32.classifier(fcn32.backbone(x)["pool5"])  # 1 x K x 8 x 8
        ref = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        ref = F.interpolate(ref, scale_factor=16, mode="bilinear", align_corners=False)
        y = fcn16(x)
    inner = (..., slice(32, -32), slice(32, -32))
    torch.testing.assert_close(y[inner], ref[inner], atol=1e-4, rtol=1e-4)


def test_fcn_skip_layers_learn():
    torch.manual_seed(0)
    m = models.FCN(K, "8s")
    x, t = torch.rand(2, 3, 64, 64), torch.randint(0, K, (2, 64, 64))
    F.cross_entropy(m(x), t).backward()
    assert m.score_pool4.weight.grad.abs().sum() > 0
    assert m.score_pool3.weight.grad.abs().sum() > 0


def test_fcn_rejects_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        models.FCN(K, "4s")


@pytest.mark.parametrize(
    "build",
    [
        lambda: models.EncoderDecoder(3, width=True),
        lambda: models.AllConvNet(3, depth=True),
        lambda: models.FCN(3, width=True),
        lambda: models.fcn_resnet(3, width=True),
        lambda: models.deeplab(3, aspp_channels=True),
        lambda: models.deeplab(3, aspp_rates=(6, True)),
    ],
)
def test_a_bool_is_not_a_count_anywhere(build):
    with pytest.raises(ValueError, match="positive integer"):
        build()
