"""fcnlib.pretrain: the shape classifier that stands in for ImageNet pre-training."""

import pytest
import torch

from fcnlib import models, pretrain
from fcnlib.data import ShapesScenes


def test_shape_crops_hold_one_labelled_object():
    x, y = pretrain.shape_crops("train", 12, image_size=32)
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (12,) and set(y.tolist()) <= {1, 2, 3, 4, 5}
    scenes = ShapesScenes("train", 12, image_size=32, max_objects=1, seed=pretrain.PRETRAIN_SEED)
    for i in range(12):
        scene = scenes.scene(i)
        assert len(scene.objects) == 1 and scene.objects[0].label == y[i]
        assert torch.equal(x[i], torch.from_numpy(scene.image).permute(2, 0, 1))


def test_shape_crops_rejects_a_bad_count():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        pretrain.shape_crops("train", 0)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrain") / "tiny.pt"
    argv = ["--out", str(path), "--width", "4", "--image-size", "32"]
    assert pretrain.main([*argv, "--crops", "64", "--epochs", "1", "--device", "cpu"]) == 0
    return path


def test_the_command_writes_a_classifier_with_its_settings(tiny_file):
    state = torch.load(tiny_file, weights_only=True)
    info = state["pretrain"]
    assert info["width"] == 4 and info["crops"] == 64 and info["epochs"] == 1
    assert 0.0 <= info["accuracy"] <= 1.0
    assert state["model"]["fc.weight"].shape == (6, 32)  # 6 classes from 8 x width features


def test_load_backbone_copies_all_but_fc_and_leaves_the_head(tiny_file):
    torch.manual_seed(0)
    model = models.build("fcn_resnet18", 6, width=4, output_stride=8)
    head = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    info = pretrain.load_backbone(model, tiny_file)
    assert info["width"] == 4
    saved = torch.load(tiny_file, weights_only=True)["model"]
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, saved[k]), k
    for k, v in model.classifier.state_dict().items():
        assert torch.equal(v, head[k]), k


def test_load_backbone_errors_name_the_file(tiny_file, tmp_path):
    with pytest.raises(ValueError, match=r"tiny\.pt holds a resnet18 classifier at width 4"):
        pretrain.load_backbone(models.build("fcn_resnet18", 6, width=8), tiny_file)
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match=r"absent\.pt.*python -m fcnlib\.pretrain"):
        pretrain.load_backbone(models.build("fcn_resnet18", 6, width=4), missing)
    with pytest.raises(TypeError, match="has no .backbone"):
        pretrain.load_backbone(torch.nn.Conv2d(3, 6, 1), tiny_file)


def test_the_shipped_classifier_names_shapes_it_never_saw():
    assert pretrain.SHAPES_BACKBONE.is_file()
    state = torch.load(pretrain.SHAPES_BACKBONE, weights_only=True)
    info = state["pretrain"]
    assert (info["backbone"], info["width"], info["image_size"]) == ("resnet18", 16, 64)
    classifier = models.resnet.resnet_backbone("resnet18", width=16)
    classifier.fc = torch.nn.Linear(128, 6)
    classifier.load_state_dict(state["model"])
    x, y = pretrain.shape_crops("test", 300, image_size=64)  # a split it was not trained on
    with torch.no_grad():
        accuracy = (classifier.eval()(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9
    for name in ("fcn_resnet18", "deeplabv3plus_resnet18"):
        pretrain.load_backbone(models.build(name, 6, width=16))


def test_copy_backbone_names_the_source_that_does_not_fit():
    classifier = models.resnet.resnet_backbone("resnet18", width=8)
    with pytest.raises(ValueError, match="the classifier trained here, which does not fit"):
        pretrain.copy_backbone(
            models.build("fcn_resnet18", 6, width=4),
            classifier.state_dict(),
            "the classifier trained here",
        )
    model = models.build("fcn_resnet18", 6, width=8)
    pretrain.copy_backbone(model, classifier.state_dict())
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, classifier.state_dict()[k]), k
