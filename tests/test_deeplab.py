"""DeepLabV3 with ASPP (fcnlib.models.deeplabv3) and torchvision compatibility (torchvision_compat)."""

import pytest
import torch
from torchvision.models import segmentation as tvseg
from torchvision.models.segmentation.deeplabv3 import ASPPPooling

from fcnlib import checkpoints, models
from fcnlib.models.blocks import SeparableConv2d


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "resnet101"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_logits_at_input_size_for_odd_sizes(backbone, output_stride):
    device = "cpu" if backbone == "resnet18" else "meta"  # shapes only for the big ones
    torch.manual_seed(0)
    with torch.device(device):
        model = models.deeplab(3, backbone, output_stride=output_stride, aux_loss=True).eval()
        x = torch.randn(1, 3, 35, 27)
    with torch.no_grad():
        out = model(x, return_aux=True)
    assert out["out"].shape == out["aux"].shape == (1, 3, 35, 27)
    if device == "cpu":
        assert torch.isfinite(out["out"]).all()


def aspp_dilations(model):
    aspp = model.classifier[0]
    return [branch[0].dilation[0] for branch in aspp.convs[1:-1]]


def test_aspp_rates_double_at_output_stride_8():
    with torch.device("meta"):
        os16, os8 = models.deeplab(3, output_stride=16), models.deeplab(3, output_stride=8)
        model = models.deeplab(3, output_stride=16, aspp_rates=(1, 2))
    assert aspp_dilations(os16) == [6, 12, 18]
    assert aspp_dilations(os8) == [12, 24, 36]
    assert aspp_dilations(model) == [1, 2]
    assert len(model.classifier[0].convs) == 4  # 1x1, two atrous branches, image pooling


def test_parameter_count_does_not_depend_on_output_stride():
    with torch.device("meta"):
        counts = [
            sum(p.numel() for p in models.deeplab(6, output_stride=os).parameters())
            for os in (16, 8)
        ]
    assert counts[0] == counts[1]


def test_image_pooling_branch_is_constant_over_space():
    torch.manual_seed(0)
    pool = ASPPPooling(8, 4).eval()
    x = torch.randn(2, 8, 5, 7)
    y = pool(x)
    assert y.shape == (2, 4, 5, 7)
    torch.testing.assert_close(y, y[..., :1, :1].expand_as(y))


def test_registry_names():
    for name in ("deeplab_resnet18", "deeplab_resnet50", "deeplab_resnet101"):
        assert name in models.available()
    model = models.build("deeplab_resnet18", 6, output_stride=8)
    assert model.output_stride == 8 and model.atrous_rates == (12, 24, 36)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"output_stride": 32}, "output_stride"),
        ({"aspp_rates": (0, 6)}, "aspp_rates"),
        ({"backbone": "vgg16"}, "backbone"),
    ],
)
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        models.deeplab(3, **kwargs)


@pytest.mark.parametrize("builder", [tvseg.fcn_resnet50, tvseg.deeplabv3_resnet50])
@pytest.mark.parametrize("aux", [False, True])
def test_from_torchvision_gives_the_same_outputs(builder, aux):
    torch.manual_seed(0)
    tv = builder(weights=None, weights_backbone=None, num_classes=4, aux_loss=aux)
    for m in tv.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    tv.eval()
    model = models.from_torchvision(tv)
    assert not model.training
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(model.parameters(), tv.parameters()))
    assert model.output_stride == 8
    x = torch.randn(1, 3, 41, 35)
    with torch.no_grad():
        expected = tv(x)
        got = model(x, return_aux=True)
    torch.testing.assert_close(got["out"], expected["out"], atol=1e-4, rtol=1e-4)
    assert ("aux" in got) == aux
    if aux:
        torch.testing.assert_close(got["aux"], expected["aux"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: models.fcn_resnet(21, "resnet50", aux_loss=True), tvseg.fcn_resnet50),
        (lambda: models.fcn_resnet(21, "resnet101", aux_loss=True), tvseg.fcn_resnet101),
        (
            lambda: models.deeplab(21, "resnet50", output_stride=8, aux_loss=True),
            tvseg.deeplabv3_resnet50,
        ),
        (
            lambda: models.deeplab(21, "resnet101", output_stride=8, aux_loss=True),
            tvseg.deeplabv3_resnet101,
        ),
    ],
)
def test_published_torchvision_weights_load_strictly(ours, theirs):
    # The published COCO-VOC weights are state dicts of these torchvision models (21 classes,
    # aux head): same keys and shapes means they load with strict=True.
    with torch.device("meta"):
        mine = ours().state_dict()
        tv = theirs(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).state_dict()
    assert list(mine) == list(tv)
    assert all(mine[k].shape == tv[k].shape for k in mine)


def conv_geometry(model):
    return [
        (n, m.stride, m.dilation, m.padding)
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d)
    ]


def test_from_torchvision_reads_backbone_depth_output_stride_and_rates():
    from torchvision.models import resnet101
    from torchvision.models.segmentation.deeplabv3 import _deeplabv3_resnet

    with torch.device("meta"):  # an output-stride-16 DeepLab with other rates, built by hand
        tv = _deeplabv3_resnet(
            resnet101(replace_stride_with_dilation=[False, False, True]), 5, False
        )
        for i, rate in enumerate((3, 5, 7), start=1):
            tv.classifier[0].convs[i] = tvseg.deeplabv3.ASPPConv(2048, 256, rate)
        model = models.from_torchvision(tv)
    assert model.output_stride == 16 and model.atrous_rates == (3, 5, 7)
    assert model.num_classes == 5 and len(model.backbone.layer3) == 23
    assert conv_geometry(model) == conv_geometry(tv)


def test_from_torchvision_rejects_other_models():
    with pytest.raises(TypeError, match="tv_model"):
        models.from_torchvision(torch.nn.Conv2d(3, 3, 1))
    with torch.device("meta"):
        mobile = tvseg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None)
    with pytest.raises(TypeError, match="MobileNet"):
        models.from_torchvision(mobile)


# ----------------------------------------------------------------------------- DeepLabV3+
@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_v3plus_logits_at_input_size_for_odd_sizes(backbone, output_stride):
    device = "cpu" if backbone == "resnet18" else "meta"
    torch.manual_seed(0)
    with torch.device(device):
        model = models.deeplab(
            3, backbone, output_stride=output_stride, aux_loss=True, decoder=True
        ).eval()
        x = torch.randn(1, 3, 37, 29)
    with torch.no_grad():
        out = model(x, return_aux=True)
    assert out["out"].shape == out["aux"].shape == (1, 3, 37, 29)


def test_v3plus_scores_come_out_at_stride_4_and_use_layer1():
    torch.manual_seed(0)
    model = models.build("deeplabv3plus_resnet18", 3).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.backbone(x)
        assert set(features) == {"out", "low"}
        assert features["low"].shape == (2, 64, 16, 16)  # layer1: stride 4
        scores = model.classifier(features["out"], features["low"])
    assert scores.shape == (2, 3, 16, 16)
    # the low-level path matters: zeroing layer1's features changes the scores
    with torch.no_grad():
        other = model.classifier(features["out"], torch.zeros_like(features["low"]))
    assert not torch.allclose(scores, other)


def test_v3plus_keeps_the_backbone_keys_and_parameter_count_across_strides():
    with torch.device("meta"):
        plus = {os: models.deeplab(6, decoder=True, output_stride=os) for os in (16, 8)}
        v3 = models.deeplab(6)
    counts = {os: sum(p.numel() for p in m.parameters()) for os, m in plus.items()}
    assert counts[16] == counts[8]
    backbone = lambda m: [k for k in m.state_dict() if k.startswith("backbone.")]  # noqa: E731
    assert backbone(plus[16]) == backbone(v3)
    assert plus[8].atrous_rates == (12, 24, 36)


def test_v3plus_registry_names_and_bad_decoder():
    for name in ("deeplabv3plus_resnet18", "deeplabv3plus_resnet50", "deeplabv3plus_resnet101"):
        assert name in models.available()
    with pytest.raises(ValueError, match="decoder"):
        models.deeplab(3, decoder="yes")


def test_separable_conv_equals_the_full_conv_with_the_factored_kernel():
    torch.manual_seed(0)
    sep = SeparableConv2d(5, 7, dilation=2)
    depthwise, pointwise = sep[0].weight, sep[1].weight  # 5x1x3x3, 7x5x1x1
    assert sep[0].groups == 5
    full = torch.nn.Conv2d(5, 7, 3, padding=2, dilation=2, bias=False)
    with torch.no_grad():
        full.weight.copy_(pointwise * depthwise.transpose(0, 1))  # W[o, i] = P[o, i] * D[i]
        x = torch.randn(2, 5, 11, 9)
        torch.testing.assert_close(sep(x), full(x), atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in sep.parameters()) == 9 * 5 + 5 * 7


def test_v3plus_head_is_separable_by_default_and_v3_is_not():
    with torch.device("meta"):
        plus = models.deeplab(6, decoder=True)
        plus_full = models.deeplab(6, decoder=True, separable=False)
        v3 = models.deeplab(6)
    depthwise = lambda m: [  # noqa: E731
        c for c in m.classifier.modules() if isinstance(c, torch.nn.Conv2d) and c.groups > 1
    ]
    # three ASPP rates and two decoder convolutions
    assert len(depthwise(plus)) == 5 and not depthwise(plus_full) and not depthwise(v3)
    count = lambda m: sum(p.numel() for p in m.classifier.parameters())  # noqa: E731
    assert count(plus) < count(plus_full) / 2
    # v3 keeps torchvision's head layout (its weights load; see the from_torchvision tests)
    assert "classifier.1.weight" in v3.state_dict()
    assert v3.state_dict()["classifier.1.weight"].shape == (256, 256, 3, 3)


def test_separable_must_be_a_bool_or_none():
    with pytest.raises(ValueError, match="separable"):
        models.deeplab(3, separable="yes")


# ----------------------------------------------------------------------------- input_scale
SCALED = {  # notebook 05 gives every model it compares the same input_scale
    "deeplabv3plus_resnet18": dict(width=8, aspp_channels=8),
    "fcn_resnet18": dict(width=8, output_stride=8),
}


@pytest.mark.parametrize("name", sorted(SCALED))
def test_input_scale_runs_the_network_on_the_resized_image_and_scores_at_the_input_size(
    tmp_path, name
):
    from fcnlib import engine

    torch.manual_seed(0)
    big = models.build(name, 3, **SCALED[name], input_scale=2)
    plain = models.build(name, 3, **SCALED[name])
    assert big.state_dict().keys() == plain.state_dict().keys()  # the same weights
    plain.load_state_dict(big.state_dict())
    big.eval()
    plain.eval()
    x = torch.rand(2, 3, 24, 20)
    seen = []
    hook = big.backbone.conv1.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    with torch.no_grad():
        out = big(x)
        up = torch.nn.functional.interpolate(
            x, scale_factor=2, mode="bilinear", align_corners=False
        )
        by_hand = torch.nn.functional.interpolate(
            plain._forward(up)["out"], size=(24, 20), mode="bilinear", align_corners=False
        )
    hook.remove()
    assert seen == [(2, 3, 48, 40)] and out.shape == (2, 3, 24, 20)
    torch.testing.assert_close(out, by_hand)
    assert not torch.allclose(out, plain(x))  # the input size changes the scores
    assert "input_scale=2" in repr(big) and "input_scale" not in repr(plain)
    # a checkpoint rebuilds the model with its input_scale
    engine.save_checkpoint(tmp_path / "m.pt", big)
    assert checkpoints.load_model(tmp_path / "m.pt").input_scale == 2.0


@pytest.mark.parametrize("bad", [0, -1.5, 9, True, "2", None])
@pytest.mark.parametrize("build", [models.deeplab, models.fcn_resnet])
def test_bad_input_scale_is_named(bad, build):
    with pytest.raises(ValueError, match="input_scale"):
        build(3, width=8, input_scale=bad)
