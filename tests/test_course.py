"""fcnlib.course: recipes, the SMOKE switch, obtaining earlier notebooks' models, estimates."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from fcnlib import course, engine, models, pretrain


def test_recipe_settings_and_changes():
    cpu, full = course.recipe("03"), course.recipe("03", full_run=True, full_dataset="camvid")
    assert cpu.dataset == "shapes" and full.dataset == "camvid"
    assert cpu.image_size < full.image_size
    assert course.recipe("03", width=32).width == 32
    with pytest.raises(ValueError, match="no setting"):
        course.recipe("03", widht=32)
    with pytest.raises(ValueError, match="notebook must be one of"):
        course.recipe("09")
    with pytest.raises(AttributeError, match="no setting 'nothing'"):
        cpu.nothing  # noqa: B018


def test_record_tells_settings_seed_and_mode_apart():
    base = course.recipe("04").record()
    assert base == course.recipe("04").record()
    assert base != course.recipe("04", seed=1).record()
    assert base != course.recipe("04", full_run=True).record()
    assert base != course.recipe("04", epochs=3).record()


def test_normalisation_follows_the_backbone_weights():
    assert not course.recipe("05").normalize and course.recipe("05", full_run=True).normalize
    assert course.normalize_inputs(True) and not course.normalize_inputs(False)
    net = torch.nn.Conv2d(3, 2, 1)
    assert course.for_unit_images(net, False) is net
    wrapped = course.for_unit_images(net, True)
    x = torch.rand(1, 3, 4, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(wrapped(x), net((x - mean) / std))
    assert list(wrapped.state_dict()) == ["model.weight", "model.bias"]


def test_shrink_caps_sizes_counts_and_epochs_only():
    settings = {"IMAGE_SIZE": 320, "TRAIN_SIZE": None, "EPOCHS": {"32s": 30, "8s": 10},
                "CROPS": (2400, 400), "LR": 0.01, "DATASET": "voc", "N_EVAL": 3}  # fmt: skip
    changed = course.shrink(settings)
    limits = course.SMOKE_LIMITS
    assert settings["IMAGE_SIZE"] == limits["image_size"]
    assert settings["TRAIN_SIZE"] == limits["train_size"]  # None ("all") is capped too
    assert settings["EPOCHS"] == {"32s": limits["epochs"], "8s": limits["epochs"]}
    assert settings["CROPS"] == (limits["crops"], limits["crops"])
    assert settings["LR"] == 0.01 and settings["DATASET"] == "voc" and settings["N_EVAL"] == 3
    assert set(changed) == {"IMAGE_SIZE", "TRAIN_SIZE", "EPOCHS", "CROPS"}
    assert course.recipe("05", smoke=True).epochs == limits["epochs"]


def test_obtain_trains_saves_then_loads(tmp_path, capsys):
    model = course.obtain("03_fcn8s", smoke=True, checkpoint_dir=tmp_path)
    out = capsys.readouterr().out
    assert "not found" in out and "estimate:" in out and "saved" in out
    assert (tmp_path / "03_fcn8s.pt").is_file() and not model.training
    again = course.obtain("03_fcn8s", smoke=True, checkpoint_dir=tmp_path)
    assert "loaded" in capsys.readouterr().out
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_obtain_repeats_the_recipe_exactly(tmp_path):
    # the notebook's own steps (seed, build, fit) give the weights obtain trains
    r = course.recipe("02", smoke=True)
    train_set, _ = r.datasets()
    k = len(train_set.classes)
    engine.seed_everything(r.seed)
    mine = models.build("encoder_decoder", k, width=r.width, upsample=r.upsample)
    engine.fit(mine, train_set, None, epochs=r.epochs, batch_size=r.batch_size, lr=r.lr,
               class_weights=[r.background_weight] + [1.0] * (k - 1), seed=r.seed,
               progress=False)  # fmt: skip
    theirs = course.obtain("02_encoder_decoder", smoke=True, checkpoint_dir=tmp_path, verbose=False)
    for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_obtain_keeps_a_file_of_other_settings(tmp_path, capsys):
    course.obtain("03_fcn8s", smoke=True, seed=1, checkpoint_dir=tmp_path, verbose=False)
    path = tmp_path / "03_fcn8s.pt"
    before = path.read_bytes()
    course.obtain("03_fcn8s", smoke=True, seed=0, checkpoint_dir=tmp_path)
    out = capsys.readouterr().out
    assert "other settings or another seed" in out and "kept as it is" in out
    assert path.read_bytes() == before


def test_obtain_chains_to_the_backbone_it_starts_from(tmp_path, capsys):
    model = course.obtain("05_deeplabv3plus_resnet18", smoke=True, checkpoint_dir=tmp_path)
    out = capsys.readouterr().out
    assert "04_fcn_resnet18" in out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["04_fcn_resnet18.pt", "05_deeplab_resnet18.pt", "05_deeplabv3plus_resnet18.pt"]
    assert model.num_classes == 6
    # the 05 models started from the 04 model's backbone, then trained
    fcn = course.obtain("04_fcn_resnet18", smoke=True, checkpoint_dir=tmp_path, verbose=False)
    assert fcn.backbone.conv1.weight.shape == model.backbone.conv1.weight.shape


def test_backbone_start_from_the_shape_classifier(tmp_path):
    # backbone_from="classifier": fcnlib's shape classifier, nothing obtained or trained
    r = course.recipe("05", smoke=True, backbone_from="classifier")
    start = course.backbone_start(r, 6, checkpoint_dir=tmp_path)
    assert not list(tmp_path.iterdir())
    holder = models.build("fcn_resnet18", 6, width=r.width)
    pretrain.load_backbone(holder)
    assert all(torch.equal(v, holder.backbone.state_dict()[k]) for k, v in start.items())


def test_obtain_names_what_it_can_obtain():
    with pytest.raises(ValueError, match="stem of a course checkpoint"):
        course.obtain("01_allconv_deep")


def test_estimate_leaves_model_and_random_state_alone(capsys):
    r = course.recipe("03", smoke=True)
    train_set, _ = r.datasets()
    net = models.build("fcn8s", len(train_set.classes), width=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    seconds = course.estimate(net, train_set, 2, batch_size=4)
    assert seconds > 0 and "estimate:" in capsys.readouterr().out
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    engine.fit(net, train_set, None, epochs=1, batch_size=4, progress=False)  # still untrained


def test_resumable_only_in_a_full_run(tmp_path):
    assert course.resumable("03_fcn8s", False) == {}
    options = course.resumable("03_fcn8s", True, directory=tmp_path)
    assert options == {"checkpoint_dir": str(tmp_path / "03_fcn8s"), "resume": True}
