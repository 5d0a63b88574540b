"""DeepLab's training recipe in fcnlib.engine: poly learning rate (with warmup), a higher
learning rate for the head, frozen BatchNorm, multi-scale training and the aux loss."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from fcnlib import data, engine, models, optim
from fcnlib.models.base import SegmentationModel


class TinyNet(SegmentationModel):
    """``backbone`` (3x3 conv) and ``classifier`` (1x1 conv); no BatchNorm, no dropout.

    Records the spatial size of every input it sees.
    """

    def __init__(self, num_classes=6):
        super().__init__(num_classes)
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(8, num_classes, 1)
        self.seen = []

    def _forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        return {"out": self.classifier(self.backbone(x))}


@pytest.fixture
def scenes():
    return data.ShapesScenes("train", 8, image_size=16, ignore_boundary=1)


@pytest.fixture
def lr_log():
    """Learning rates of every parameter group at every optimizer step."""
    log = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: log.append([g["lr"] for g in opt.param_groups])
    )
    yield log
    handle.remove()


def fit(model, train, **kw):
    options = dict(epochs=2, batch_size=2, optimizer="sgd", lr=0.1, progress=False, device="cpu")
    return engine.fit(model, train, **{**options, **kw})


def test_poly_learning_rate(scenes, lr_log):
    # DeepLab's poly schedule: lr_i = lr * (1 - i / total) ** 0.9, one value per step.
    history = fit(TinyNet(), scenes)
    total = 8 // 2 * 2
    expected = [0.1 * (1 - i / total) ** 0.9 for i in range(total)]
    assert [lrs[0] for lrs in lr_log] == pytest.approx(expected)
    assert history.lr == pytest.approx([expected[0], expected[4]])  # at the start of each epoch


def test_warmup_then_poly(scenes, lr_log):
    fit(TinyNet(), scenes, epochs=3, warmup_epochs=1)  # 4 steps per epoch, 12 in all
    lrs = [lrs[0] for lrs in lr_log]
    assert len(lrs) == 12
    assert lrs[:4] == pytest.approx([0.1 * (i + 1) / 4 for i in range(4)])  # linear, up to lr
    assert lrs[4:] == pytest.approx([0.1 * (1 - i / 12) ** 0.9 for i in range(4, 12)])
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))  # never rises again after warmup


def test_constant_learning_rate(scenes, lr_log):
    fit(TinyNet(), scenes, lr_schedule="constant")
    assert [lrs[0] for lrs in lr_log] == pytest.approx([0.1] * 8)


def test_head_lr_mult_builds_backbone_and_head_groups():
    model = models.deeplab(6, "resnet18", aux_loss=True)
    opt = optim.build_optimizer(
        model, "sgd", lr=0.01, momentum=0.9, weight_decay=1e-4, head_lr_mult=10
    )
    assert isinstance(opt, torch.optim.SGD)
    groups = {g["name"]: g for g in opt.param_groups}
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(groups["backbone"]["params"]) == ids(model.backbone.parameters())
    assert ids(groups["head"]["params"]) == ids(model.head_parameters())
    assert groups["backbone"]["lr"] == pytest.approx(0.01)
    assert groups["head"]["lr"] == pytest.approx(0.1)
    for g in opt.param_groups:
        assert g["momentum"] == 0.9 and g["weight_decay"] == 1e-4


def test_head_learns_ten_times_faster(scenes, lr_log):
    # One plain SGD step on the whole data set: every parameter moves by -lr * mult * grad,
    # mult = 10 for the head and 1 for the backbone; the poly schedule keeps the 1:10 ratio.
    torch.manual_seed(0)
    model = TinyNet()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    images, masks = zip(*[scenes[i] for i in range(len(scenes))])
    loss = F.cross_entropy(model(torch.stack(images)), torch.stack(masks), ignore_index=255)
    grads = dict(zip(before, torch.autograd.grad(loss, list(model.parameters()))))
    fit(
        model,
        scenes,
        epochs=1,
        batch_size=len(scenes),
        lr=0.01,
        momentum=0.0,
        weight_decay=0.0,
        lr_schedule="constant",
        head_lr_mult=10,
    )
    for name, p in model.named_parameters():
        mult = 10 if name.startswith("classifier") else 1
        torch.testing.assert_close(
            p.detach() - before[name], -0.01 * mult * grads[name], atol=1e-6, rtol=1e-4
        )
    fit(TinyNet(), scenes, head_lr_mult=10)
    for backbone_lr, head_lr in lr_log[1:]:
        assert head_lr == pytest.approx(10 * backbone_lr)


def bn_state(model):
    return {
        n: t.detach().clone()
        for m_name, m in model.named_modules()
        if isinstance(m, nn.BatchNorm2d)
        for n, t in [(f"{m_name}.{k}", v) for k, v in [*m.named_buffers(), *m.named_parameters()]]
    }


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_bn_keeps_statistics_and_affine_parameters(freeze):
    scenes = data.ShapesScenes("train", 4, image_size=32)
    torch.manual_seed(0)
    model = models.deeplab(6, "resnet18", aspp_channels=32)
    before, conv = bn_state(model), model.backbone.conv1.weight.detach().clone()
    fit(model, scenes, epochs=1, weight_decay=1e-2, freeze_bn=freeze, lr=0.01)
    after = bn_state(model)
    assert not torch.equal(conv, model.backbone.conv1.weight)  # the rest did train
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    if freeze:
        assert changed == []  # running mean/var, batch counter, weight and bias
    else:  # the control: without freezing, statistics and affine parameters move
        assert any(n.endswith("running_var") for n in changed)
        assert any(n.endswith(".weight") for n in changed)


def test_multi_scale_loss_is_the_sum_of_scale_losses_and_the_max_fused_loss():
    torch.manual_seed(0)
    scenes = data.ShapesScenes("train", 2, image_size=33, ignore_boundary=1)
    images = torch.stack([scenes[i][0] for i in range(2)])
    targets = torch.stack([scenes[i][1] for i in range(2)])
    model = models.fcn_resnet(6, "resnet18").eval()
    ce = nn.CrossEntropyLoss(ignore_index=255)
    scales = (1.0, 0.75, 0.5)
    with torch.no_grad():
        outs = []
        for s in scales:
            x = F.interpolate(images, scale_factor=s, mode="bilinear") if s != 1 else images
            assert x.shape[-1] == int(33 * s)
            outs.append(F.interpolate(model(x), size=(33, 33), mode="bilinear"))
        fused = torch.maximum(torch.maximum(outs[0], outs[1]), outs[2])
        expected = sum(F.cross_entropy(o, targets, ignore_index=255) for o in [*outs, fused])
        got = optim.segmentation_loss(model, images, targets, ce, scales=scales)
    torch.testing.assert_close(got, expected)
    one = optim.segmentation_loss(model, images, targets, ce, scales=(1.0,))
    torch.testing.assert_close(one, F.cross_entropy(outs[0], targets, ignore_index=255))


def test_aux_loss_is_added_with_its_weight():
    torch.manual_seed(0)
    scenes = data.ShapesScenes("train", 2, image_size=32)
    images = torch.stack([scenes[i][0] for i in range(2)])
    targets = torch.stack([scenes[i][1] for i in range(2)])
    model = models.fcn_resnet(6, "resnet18", aux_loss=True).eval()
    ce = nn.CrossEntropyLoss(ignore_index=255)
    with torch.no_grad():
        out = model(images, return_aux=True)
        expected = ce(out["out"], targets) + 0.4 * ce(out["aux"], targets)
        got = optim.segmentation_loss(model, images, targets, ce, aux_weight=0.4)
        plain = optim.segmentation_loss(model, images, targets, ce)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(plain, ce(out["out"], targets))


def test_fit_trains_on_every_scale(scenes):
    model = TinyNet()
    fit(model, scenes, epochs=1, scales=(1.0, 0.75, 0.5))
    assert set(model.seen) == {(16, 16), (12, 12), (8, 8)}
    assert len(model.seen) == 3 * 4  # three scales for each of the 4 steps


@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
def test_optimizer_is_fused_where_torch_supports_it_with_the_same_update(kind):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 4, 3)
    cls = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}[kind]
    try:
        cls([torch.zeros(1, requires_grad=True)], lr=0.1, fused=True)
        supported = True
    except (RuntimeError, TypeError, ValueError):
        supported = False
    opt = optim.build_optimizer(model, kind, lr=0.1)
    assert bool(opt.defaults.get("fused")) == supported
    # one step gives what torch's default implementation gives
    reference = copy.deepcopy(model)
    kw = {"momentum": 0.9} if kind == "sgd" else {}
    ref_opt = cls(reference.parameters(), lr=0.1, weight_decay=1e-4, **kw)
    for m, o in ((model, opt), (reference, ref_opt)):
        m(torch.ones(1, 3, 5, 5)).square().sum().backward()
        o.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
