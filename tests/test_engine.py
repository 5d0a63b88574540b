import os
import pickle
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fcnlib import checkpoints, engine, history, models, optim
from fcnlib.data import ShapesScenes
from fcnlib.models import PerPixelNet, SegmentationModel


class TinyConvNet(SegmentationModel):
    """3x3 conv + BN + 1x1 classifier: small, but with BatchNorm and spatial context."""

    def __init__(self, num_classes=6):
        super().__init__(num_classes)
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.classifier = nn.Conv2d(8, num_classes, 1)

    def _forward(self, x):
        return {"out": self.classifier(self.backbone(x))}


@pytest.fixture(scope="module")
def shapes():
    return ShapesScenes("train", size=24, image_size=32), ShapesScenes("val", size=8, image_size=32)


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_fit_learns_and_records_history(shapes):
    train, val = shapes
    torch.manual_seed(0)
    model = TinyConvNet()
    h = engine.fit(model, train, val, epochs=3, batch_size=8, lr=1e-2, progress=False)
    assert len(h) == 3 and h["epoch"] == [1, 2, 3]
    assert h.train_loss[-1] < h.train_loss[0]
    assert {"train_loss", "lr", "seconds", "val_miou", "val_pixel_accuracy"} <= set(h.columns)
    assert h["lr"][0] > h["lr"][-1]  # poly schedule decays


def test_same_seed_same_weights(shapes):
    train, _ = shapes
    a, b = TinyConvNet(), TinyConvNet()
    b.load_state_dict(a.state_dict())
    engine.fit(a, train, epochs=1, batch_size=8, progress=False, seed=5)
    engine.fit(b, train, epochs=1, batch_size=8, progress=False, seed=5)
    assert same_weights(weights(a), weights(b))


def test_resume_gives_exactly_the_uninterrupted_weights(shapes, tmp_path, monkeypatch):
    train, val = shapes
    init = TinyConvNet().state_dict()
    full = TinyConvNet()
    full.load_state_dict(init)
    kw = dict(batch_size=8, optimizer="sgd", lr=0.05, progress=False, seed=1)
    engine.fit(full, train, val, epochs=3, **kw)

    part = TinyConvNet()
    part.load_state_dict(init)
    real, calls = engine.train_one_epoch, []

    def stop_in_third_epoch(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(engine, "train_one_epoch", stop_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        engine.fit(part, train, val, epochs=3, checkpoint_dir=tmp_path, **kw)
    monkeypatch.setattr(engine, "train_one_epoch", real)
    assert engine.load_checkpoint(tmp_path / "last.pt", TinyConvNet())["epoch"] == 1  # 0-based
    resumed = TinyConvNet()  # a fresh process would start from a fresh model
    h = engine.fit(resumed, train, val, epochs=3, checkpoint_dir=tmp_path, resume=True, **kw)
    assert h["epoch"] == [1, 2, 3]
    assert same_weights(weights(full), weights(resumed))


class AugmentedScenes(torch.utils.data.Dataset):
    """Scenes with an augmentation drawn from Python's, NumPy's and PyTorch's global
    generators (as a user's own transform might); records every draw."""

    def __init__(self, scenes):
        self.scenes, self.draws = scenes, []

    def __len__(self):
        return len(self.scenes)

    def __getitem__(self, i):
        image, mask = self.scenes[i]
        a, b, c = random.random(), float(np.random.rand()), float(torch.rand(()))
        self.draws.append((i, a, b, c))
        return image * (0.5 + a / 3 + b / 3 + c / 3), mask


def test_resume_restores_the_random_state_so_augmentation_draws_the_same_batches(shapes, tmp_path):
    train, _ = shapes
    init = TinyConvNet().state_dict()
    kw = dict(
        batch_size=8, optimizer="sgd", lr=0.05, lr_schedule="constant", progress=False, seed=3
    )
    full, full_data = TinyConvNet(), AugmentedScenes(train)
    full.load_state_dict(init)
    engine.fit(full, full_data, epochs=2, **kw)

    part, part_data = TinyConvNet(), AugmentedScenes(train)
    part.load_state_dict(init)
    engine.fit(part, part_data, epochs=1, checkpoint_dir=tmp_path, **kw)
    resumed = TinyConvNet()  # a fresh model, as in a new process
    engine.fit(resumed, part_data, epochs=2, checkpoint_dir=tmp_path, resume=True, **kw)
    assert part_data.draws == full_data.draws  # the second epoch's items and augmentations
    assert same_weights(weights(full), weights(resumed))


def test_adam_is_adam_and_adamw_is_adamw_and_they_agree_without_weight_decay(shapes):
    model = TinyConvNet()
    assert type(optim.build_optimizer(model, "adam")) is torch.optim.Adam
    assert type(optim.build_optimizer(model, "adamw")) is torch.optim.AdamW
    with pytest.raises(ValueError, match="'adamw', 'adam' or 'sgd'"):
        optim.build_optimizer(model, "lamb")
    train, _ = shapes
    init = TinyConvNet().state_dict()
    losses = {}
    for kind in ("adam", "adamw"):
        m = TinyConvNet()
        m.load_state_dict(init)
        h = engine.fit(m, train, epochs=2, batch_size=8, optimizer=kind, weight_decay=0.0,
                       progress=False, seed=2)  # fmt: skip
        losses[kind] = h.train_loss
    assert losses["adam"] == pytest.approx(losses["adamw"], rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("benchmark", [True, False])
def test_fit_leaves_no_mark_on_the_model_and_no_global_flag_changed(shapes, benchmark):
    train, _ = shapes
    model = TinyConvNet()
    before = set(vars(model))
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = benchmark
    try:
        engine.fit(model, train, epochs=1, batch_size=8, progress=False, max_steps=1)
        assert torch.backends.cudnn.benchmark is benchmark
    finally:
        torch.backends.cudnn.benchmark = previous
    assert set(vars(model)) == before
    assert not [k for k in vars(model) if "fcnlib" in k]


def test_refuses_to_silently_continue_a_trained_model(shapes):
    train, _ = shapes
    m = PerPixelNet(6)
    engine.fit(m, train, epochs=1, batch_size=8, progress=False, max_steps=1)
    with pytest.raises(RuntimeError, match="continue_training=True"):
        engine.fit(m, train, epochs=1, batch_size=8, progress=False)
    engine.fit(
        m, train, epochs=1, batch_size=8, progress=False, max_steps=1, continue_training=True
    )


def test_class_count_mismatch_batch_too_large_and_empty(shapes):
    train, _ = shapes
    with pytest.raises(ValueError, match="7 classes.*6 classes"):
        engine.fit(PerPixelNet(7), train, epochs=1, progress=False)
    with pytest.raises(ValueError, match="batch_size=100 is larger than the data set"):
        engine.fit(PerPixelNet(6), train, epochs=1, batch_size=100, progress=False)
    empty = TensorDataset(torch.zeros(0, 3, 8, 8), torch.zeros(0, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        engine.fit(PerPixelNet(6), empty, epochs=1, progress=False)


def test_non_finite_loss_stops_with_a_clear_message():
    x = torch.rand(8, 3, 8, 8)
    x[3] = float("nan")
    data = TensorDataset(x, torch.zeros(8, 8, 8, dtype=torch.long))
    with pytest.raises(FloatingPointError, match=r"epoch 1, step \d+.*smaller learning rate"):
        engine.fit(PerPixelNet(2), data, epochs=1, batch_size=2, progress=False)


def test_cuda_oom_becomes_advice(shapes, monkeypatch):
    train, _ = shapes

    def boom(*a, **k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(engine, "train_one_epoch", boom)
    with pytest.raises(RuntimeError, match="smaller batch_size or image size"):
        engine.fit(PerPixelNet(6), train, epochs=1, batch_size=8, progress=False)


def test_keyboard_interrupt_saves_a_checkpoint(shapes, tmp_path, monkeypatch):
    train, _ = shapes

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.fit(
            PerPixelNet(6), train, epochs=2, batch_size=8, progress=False, checkpoint_dir=tmp_path
        )
    assert (tmp_path / "interrupted.pt").is_file()
    engine.load_checkpoint(tmp_path / "interrupted.pt", PerPixelNet(6))


def test_checkpoint_round_trip_is_atomic_and_records_the_model(tmp_path):
    m = PerPixelNet(6)
    m.arch = "perpixel"
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.rand(1, 3, 4, 4)).sum().backward()
    opt.step()
    path = engine.save_checkpoint(tmp_path / "ck.pt", m, opt, epoch=4, note="hello")
    assert sorted(os.listdir(tmp_path)) == ["ck.pt"]  # no temporary file left behind
    m2 = PerPixelNet(6)
    m2.arch = "perpixel"
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    state = engine.load_checkpoint(path, m2, opt2)
    assert same_weights(weights(m), weights(m2))
    assert state["epoch"] == 4 and state["note"] == "hello"
    assert state["model_info"] == {
        "arch": "perpixel",
        "class": "PerPixelNet",
        "num_classes": 6,
        "build": None,  # not made by models.build: load_model cannot rebuild it
    }
    assert opt2.state_dict()["state"][0]["momentum_buffer"] is not None


def test_checkpoint_for_another_model_names_both(tmp_path):
    engine.save_checkpoint(tmp_path / "ck.pt", PerPixelNet(6))
    with pytest.raises(ValueError, match="PerPixelNet with 6 classes.*PerPixelNet with 4 classes"):
        engine.load_checkpoint(tmp_path / "ck.pt", PerPixelNet(4))
    with pytest.raises(ValueError, match="PerPixelNet with 6 classes.*TinyConvNet with 6 classes"):
        engine.load_checkpoint(tmp_path / "ck.pt", TinyConvNet(6))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        engine.load_checkpoint(tmp_path / "missing.pt", PerPixelNet(6))


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_crafted_checkpoint_does_not_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save(
        {"format": checkpoints.CHECKPOINT_FORMAT, "model": _RunsCode()}, evil, pickle_module=pickle
    )
    with pytest.raises(ValueError, match="weights_only"):
        engine.load_checkpoint(evil, PerPixelNet(6))
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_evaluate_matches_a_manual_confusion_matrix(shapes):
    _, val = shapes
    m = TinyConvNet().eval()
    r = engine.evaluate(m, val, batch_size=3)
    from fcnlib.metrics import ConfusionMatrix

    cm = ConfusionMatrix(6)
    with torch.no_grad():
        for i in range(len(val)):
            x, y = val[i]
            cm.update(m(x[None]).argmax(1), y[None])
    assert r["miou"] == pytest.approx(cm.compute()["miou"])
    assert torch.equal(r["confusion"], cm.compute()["confusion"])


def test_resolve_device():
    assert engine.resolve_device("cpu").type == "cpu"
    assert engine.resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            engine.resolve_device("cuda")


def test_channels_last_auto_follows_the_device(shapes, monkeypatch):
    cpu = torch.device("cpu")
    for machine, expected in [
        ("x86_64", True),
        ("AMD64", True),
        ("arm64", False),
        ("aarch64", False),
    ]:
        monkeypatch.setattr(engine.platform, "machine", lambda m=machine: m)
        assert engine.channels_last_default(cpu) is expected, machine
    assert engine.channels_last_default(torch.device("cuda")) is True
    assert engine.channels_last_default(torch.device("mps")) is False

    # fit's "auto" stores the weights in the order the default names, and the model it trains
    # computes what the N C H W one does, up to floating-point rounding (which Adam amplifies
    # where a gradient is pure rounding, as for a convolution's bias before a BatchNorm)
    train, val = shapes
    x = torch.stack([val[i][0] for i in range(len(val))])
    logits = {}
    for machine in ("x86_64", "arm64"):
        monkeypatch.setattr(engine.platform, "machine", lambda m=machine: m)
        torch.manual_seed(0)
        model = TinyConvNet()
        engine.fit(model, train, epochs=1, batch_size=8, progress=False, device="cpu")
        w = model.backbone[0].weight
        assert w.is_contiguous(memory_format=torch.channels_last) is (machine == "x86_64")
        with torch.no_grad():
            logits[machine] = model.eval()(x.contiguous())
    assert torch.allclose(logits["x86_64"], logits["arm64"], atol=2e-3)
    same = logits["x86_64"].argmax(1) == logits["arm64"].argmax(1)
    assert same.float().mean() > 0.99


def test_history_plot_and_repr(shapes):
    train, val = shapes
    h = engine.fit(PerPixelNet(6), train, val, epochs=2, batch_size=8, progress=False, max_steps=1)
    axes = h.plot()
    assert len(axes) == 2 and len(axes[0].lines[0].get_xdata()) == 2
    assert "train_loss" in repr(h)
    assert history.History.from_dict(h.to_dict()).records == h.records


# ----------------------------------------------------------------------------- load_model
def test_build_records_its_call_and_load_model_rebuilds_from_the_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = models.build("encoder_decoder", 3, width=4, stages=2, upsample="transposed")
    assert model.build_config == {
        "name": "encoder_decoder",
        "num_classes": 3,
        "kwargs": {"width": 4, "stages": 2, "upsample": "transposed"},
    }
    path = engine.save_checkpoint(tmp_path / "m.pt", model, image_size=32)
    loaded, state = checkpoints.load_model(path, return_checkpoint=True)
    assert type(loaded) is type(model) and not loaded.training
    assert (loaded.width, loaded.stages, loaded.upsample) == (4, 2, "transposed")
    assert state["image_size"] == 32
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    x = torch.rand(2, 3, 20, 20)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_load_model_does_not_fetch_pretrained_weights(tmp_path, monkeypatch):
    model = models.build("fcn_resnet18", 3, pretrained_backbone=False)
    model.build_config["kwargs"]["pretrained_backbone"] = True  # as if built with them
    path = engine.save_checkpoint(tmp_path / "m.pt", model)
    from fcnlib.models import resnet

    def refuse(name):
        raise AssertionError("load_model must not load ImageNet weights")

    monkeypatch.setattr(resnet, "load_imagenet_weights", refuse)
    loaded = checkpoints.load_model(path)
    assert loaded.build_config["kwargs"]["pretrained_backbone"] is True
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_load_model_needs_a_model_made_by_build(tmp_path):
    path = engine.save_checkpoint(tmp_path / "m.pt", models.AllConvNet(3, width=4, depth=1))
    with pytest.raises(ValueError, match="load_checkpoint"):
        checkpoints.load_model(path)
    with pytest.raises(FileNotFoundError):
        checkpoints.load_model(tmp_path / "missing.pt")


def test_build_config_is_none_for_arguments_a_checkpoint_cannot_hold(monkeypatch):
    from fcnlib.models import registry

    monkeypatch.setitem(registry._REGISTRY, "probe", lambda k, **kw: PerPixelNet(k))
    assert models.build("probe", 3, rates=(6, 12), note=None).build_config["kwargs"] == {
        "rates": (6, 12),
        "note": None,
    }
    assert models.build("probe", 3, preprocess=lambda x: x).build_config is None
