"""ResNet backbones at output stride 32/16/8 and FCN-ResNet (fcnlib.models.resnet, fcn_resnet)."""

import math
import time
import urllib.error

import pytest
import torch
from torchvision.models._utils import IntermediateLayerGetter

from fcnlib import models
from fcnlib.models import resnet

BACKBONES = ["resnet18", "resnet34", "resnet50", "resnet101"]


def feature_size(n: int, output_stride: int) -> int:
    """Every stride-2 layer (conv1, maxpool, strided 3x3 or 1x1) maps n -> ceil(n / 2)."""
    for _ in range(int(math.log2(output_stride))):
        n = math.ceil(n / 2)
    return n


def layer4(model):
    return IntermediateLayerGetter(model, {"layer4": "out"})


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_fcn_resnet_logits_at_input_size_for_odd_sizes(backbone, output_stride):
    # ResNet-50/101 run on the meta device (shapes only) to keep the test fast; their real
    # forward pass is checked against torchvision in test_deeplab.py.
    device = "cpu" if backbone in ("resnet18", "resnet34") else "meta"
    torch.manual_seed(0)
    with torch.device(device):
        model = models.fcn_resnet(4, backbone, output_stride=output_stride).eval()
        x = torch.randn(1, 3, 37, 29)
    with torch.no_grad():
        features = model.backbone(x)["out"]
        logits = model(x)
    assert features.shape[-2:] == (feature_size(37, output_stride), feature_size(29, output_stride))
    assert logits.shape == (1, 4, 37, 29)
    if device == "cpu":
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_parameter_count_does_not_depend_on_output_stride(backbone):
    with torch.device("meta"):  # shapes only: no time spent initialising weights
        counts = {
            os: sum(
                p.numel() for p in models.fcn_resnet(6, backbone, output_stride=os).parameters()
            )
            for os in (32, 16, 8)
        }
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize(
    "name, output_stride", [("resnet18", 16), ("resnet18", 8), ("resnet50", 8)]
)
def test_dilated_backbone_equals_strided_backbone_at_its_sample_positions(name, output_stride):
    # Dilating every conv after a removed stride keeps what each unit sees: the dense output,
    # subsampled by the removed factor, is the strided network's output (sizes divisible by 32).
    # resnet18 exercises fcnlib's BasicBlock conversion, resnet50 torchvision's own.
    torch.manual_seed(0)
    strided = resnet.resnet_backbone(name, 32)
    for m in strided.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    dense = resnet.resnet_backbone(name, output_stride)
    dense.load_state_dict(strided.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a = layer4(strided.eval())(x)["out"]
        b = layer4(dense.eval())(x)["out"]
    step = 32 // output_stride
    assert b.shape[-2:] == (64 // output_stride, 64 // output_stride)
    # float32 sums in a different order: tolerance relative to the activations' scale
    torch.testing.assert_close(b[..., ::step, ::step], a, atol=1e-5 * a.abs().max(), rtol=1e-4)


def conv3x3_dilations(layer):
    """Dilation of every 3x3 conv of a stage, block by block."""
    return [
        [
            m.dilation[0]
            for m in block.modules()
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
        ]
        for block in layer
    ]


def test_basicblock_dilations_follow_torchvision_bottleneck_rule():
    # torchvision (Bottleneck, one 3x3 conv per block): the first block of a dilated stage
    # keeps the previous dilation, later blocks get the new one. The BasicBlock conversion
    # does the same for its first 3x3 conv, and dilates the conv after the removed stride.
    r18 = resnet.resnet_backbone("resnet18", 8)
    with torch.device("meta"):
        r50 = resnet.resnet_backbone("resnet50", 8)
    assert conv3x3_dilations(r50.layer3)[:2] == [[1], [2]]
    assert conv3x3_dilations(r50.layer4)[:2] == [[2], [4]]
    assert conv3x3_dilations(r18.layer2) == [[1, 1], [1, 1]]
    assert conv3x3_dilations(r18.layer3) == [[1, 2], [2, 2]]
    assert conv3x3_dilations(r18.layer4) == [[2, 4], [4, 4]]
    for layer in (r18.layer3, r18.layer4):
        assert layer[0].conv1.stride == (1, 1) and layer[0].downsample[0].stride == (1, 1)
        for m in layer.modules():
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
                assert m.padding == m.dilation  # size-preserving


def gradient_extent(stage, channels, size=33):
    """Width in input pixels of the region that the centre output unit depends on."""
    x = torch.randn(1, channels, size, size, requires_grad=True)
    y = stage(x)
    y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum().backward()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    return int(cols.max() - cols.min() + 1)


def test_receptive_field_of_dilated_stage_equals_strided_stage():
    # layer4 of ResNet-18: 3x3 stride 2, then three 3x3 at half resolution:
    # rf = 3 + 2 * (3 - 1) * 3 = 15 input pixels, with or without the stride.
    torch.manual_seed(0)
    strided = resnet.resnet_backbone("resnet18", 32).layer4.eval()
    dilated = resnet.resnet_backbone("resnet18", 16).layer4.eval()
    expected = 3 + 2 * (3 - 1) * 3
    assert gradient_extent(strided, 256) == expected
    assert gradient_extent(dilated, 256) == expected


def test_receptive_field_from_analysis_module():
    # ResNet-18: conv1 7/2, maxpool 3/2, then 3x3 convs at strides 4, 8, 16, 32 (4 each):
    # 7 + 2*2 + 2*4*4 + 2*8*4 + 2*16*4 + 2*32*4 = 435 px, whatever the output stride.
    analysis = pytest.importorskip("fcnlib.analysis")
    for os in (32, 16, 8):
        rf = analysis.receptive_field(layer4(resnet.resnet_backbone("resnet18", os)))
        assert (rf.size, rf.stride) == (435, os)


def test_default_output_stride_and_registry():
    assert models.build("fcn_resnet18", 6).output_stride == 32  # jetson-inference segNet
    with torch.device("meta"):
        assert models.build("fcn_resnet50", 21).output_stride == 8  # torchvision fcn_resnet50
    for name in ("fcn_resnet18", "fcn_resnet34", "fcn_resnet50", "fcn_resnet101"):
        assert name in models.available()


def test_aux_head_and_head_parameters():
    model = models.fcn_resnet(5, "resnet18", aux_loss=True).eval()
    x = torch.randn(2, 3, 45, 51)
    with torch.no_grad():
        out = model(x, return_aux=True)
    assert out["out"].shape == out["aux"].shape == (2, 5, 45, 51)
    head = {id(p) for p in model.head_parameters()}
    expected = {id(p) for p in [*model.classifier.parameters(), *model.aux_classifier.parameters()]}
    assert head == expected
    assert not head & {id(p) for p in model.backbone.parameters()}


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"backbone": "resnet20"}, "backbone"),
        ({"backbone": "resnet18", "output_stride": 4}, "output_stride"),
    ],
)
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        models.fcn_resnet(3, **kwargs)


def test_pretrained_backbone_reads_the_torch_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = resnet.weights_path("resnet18")
    assert path.parent == tmp_path / "hub" / "checkpoints"
    path.parent.mkdir(parents=True)
    torch.manual_seed(1)
    reference = resnet.resnet_backbone("resnet18").state_dict()
    torch.save(reference, path)
    model = models.fcn_resnet(3, "resnet18", pretrained_backbone=True)
    got = model.backbone.state_dict()
    for key, value in got.items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=0)


def test_pretrained_backbone_offline_fails_fast_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    if resnet.reachable("download.pytorch.org"):
        pytest.skip("the network is reachable here; see the simulated-failure test below")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="Could not download the pretrained weights") as err:
        models.fcn_resnet(3, "resnet18", pretrained_backbone=True)
    assert time.monotonic() - start < 15
    assert str(resnet.weights_path("resnet18")) in str(err.value)


def test_failed_download_is_reported_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(resnet, "reachable", lambda host: True)

    def fail(*args, **kwargs):
        raise urllib.error.URLError("timed out")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    with pytest.raises(RuntimeError, match="pretrained_backbone=False"):
        models.fcn_resnet(3, "resnet50", pretrained_backbone=True)
    assert not resnet.weights_path("resnet50").exists()


def _last_bn_scales(model):
    """The scale of the last BatchNorm of every residual block (bn2, or bn3 in a Bottleneck)."""
    blocks = [m for m in model.modules() if hasattr(m, "conv2") and hasattr(m, "bn2")]
    return [getattr(b, "bn3", b.bn2).weight for b in blocks]


@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: models.fcn_resnet(3, "resnet18", **kw),
        lambda **kw: models.deeplab(3, "resnet18", **kw),
        lambda **kw: models.deeplab(3, "resnet50", decoder=True, **kw),
    ],
)
def test_zero_init_residual_zeroes_the_last_bn_of_every_residual_block(build):
    on, off = build(zero_init_residual=True), build(zero_init_residual=False)
    assert len(_last_bn_scales(on)) >= 8
    assert all((w == 0).all() for w in _last_bn_scales(on))
    assert all((w == 1).all() for w in _last_bn_scales(off))
    # the plain backbone keeps torchvision's default (gradient-based analyses see every path)
    assert all((w == 1).all() for w in _last_bn_scales(resnet.resnet_backbone("resnet18")))


def test_zero_init_residual_defaults_off_for_every_resnet_model():
    for name in ("deeplabv3plus_resnet18", "deeplab_resnet18", "fcn_resnet18"):
        assert all((w == 1).all() for w in _last_bn_scales(models.build(name, 3))), name


def test_zero_initialised_block_is_the_identity_and_still_learns():
    torch.manual_seed(0)
    model = models.deeplab(3, "resnet18", output_stride=8, decoder=True, zero_init_residual=True)
    block = model.backbone.layer1[1]  # no downsample: out = relu(bn2(conv2(...)) + x)
    x = torch.rand(4, 64, 9, 9)  # non-negative, as after the ReLU that feeds it
    torch.testing.assert_close(block(x), x)
    # the residual branch still gets a gradient through the zero scale, so training moves it
    block(x).pow(2).sum().backward()
    assert block.bn2.weight.grad.abs().sum() > 0


def test_zero_init_residual_must_be_a_bool():
    with pytest.raises(ValueError, match="zero_init_residual"):
        resnet.resnet_backbone("resnet18", zero_init_residual="yes")


def test_offline_download_fails_fast_without_touching_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    monkeypatch.setattr(resnet, "reachable", lambda host: False)  # the network is down

    def no_download(*args, **kwargs):
        raise AssertionError("no download may start when the server cannot be reached")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="cannot be reached") as err:
        models.deeplab(3, "resnet18", pretrained_backbone=True)
    assert time.monotonic() - start < 5
    assert str(resnet.weights_path("resnet18")) in str(err.value)
    assert "pretrained_backbone=False" in str(err.value)


def test_imagenet_weights_come_through_torchvisions_get_state_dict(monkeypatch):
    calls = []

    def fake(self, *args, **kwargs):
        calls.append((self, kwargs))
        return resnet.resnet_backbone("resnet18").state_dict()

    monkeypatch.setattr(type(resnet.BACKBONES["resnet18"][1]), "get_state_dict", fake)
    monkeypatch.setattr(resnet, "reachable", lambda host: True)
    models.fcn_resnet(3, "resnet18", pretrained_backbone=True)
    assert calls and calls[0][0] is resnet.BACKBONES["resnet18"][1]
    assert calls[0][1]["weights_only"] is True and calls[0][1]["check_hash"] is True


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_a_narrower_resnet_keeps_torchvisions_names_blocks_and_strides(name):
    full = resnet.resnet_backbone(name).state_dict()
    narrow = resnet.resnet_backbone(name, width=16).state_dict()
    assert list(narrow) == list(full)  # the same modules under the same names
    for key, value in full.items():
        if value.ndim == 4:  # every convolution: a quarter of the channels in and out
            assert narrow[key].shape[2:] == value.shape[2:], key
            assert narrow[key].shape[0] * 4 == value.shape[0], key
    n_full = sum(v.numel() for k, v in full.items() if k.startswith("layer"))
    n_narrow = sum(v.numel() for k, v in narrow.items() if k.startswith("layer"))
    assert n_narrow * 16 == pytest.approx(n_full, rel=0.01)
    x = torch.rand(1, 3, 64, 64)
    for output_stride in (32, 16, 8):
        out = layer4(resnet.resnet_backbone(name, output_stride, width=16).eval())(x)["out"]
        assert out.shape == (
            1,
            128,
            feature_size(64, output_stride),
            feature_size(64, output_stride),
        )


def test_narrow_segmentation_models_size_their_heads_from_the_width():
    x = torch.rand(2, 3, 40, 56)
    for model in (
        models.build("fcn_resnet18", 6, width=16, aux_loss=True),
        models.build("deeplab_resnet18", 6, width=16, aux_loss=True),
        models.build("deeplabv3plus_resnet18", 6, width=16),
    ):
        assert model.backbone.layer4[1].conv2.out_channels == 128
        assert model(x).shape == (2, 6, 40, 56)
    assert resnet.stage_channels("resnet18", 16) == (64, 128)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "resnet50", "width": 32}, "resnet18 and resnet34 only"),
        ({"name": "resnet18", "width": 0}, "positive integer"),
        ({"name": "resnet18", "width": 16.0}, "positive integer"),
        ({"name": "resnet18", "width": 16, "pretrained": True}, "width 64 only"),
    ],
)
def test_width_is_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet.resnet_backbone(**kwargs)
