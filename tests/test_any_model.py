"""Any segmentation model in the engine, inference and widgets: torchvision's (dict output, no
``num_classes``), an fcnlib model wrapped in a normalisation module, and
segmentation_models_pytorch's where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from fcnlib import analysis, engine, inference, models, optim
from fcnlib._checks import logits_of
from fcnlib.data import ShapesScenes
from fcnlib.metrics import ConfusionMatrix

K = 6  # ShapesScenes' classes


@pytest.fixture(scope="module")
def shapes():
    return ShapesScenes("train", 8, image_size=32, seed=2), ShapesScenes("val", 4, image_size=32)


class Normalised(nn.Module):
    """A model behind an input normalisation, as one wraps a model for deployment: it has no
    ``num_classes`` of its own."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3])[:, None, None])

    def forward(self, x):
        return self.net(x - self.mean)


def torchvision_model(num_classes=K, aux_loss=None):
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    torch.manual_seed(0)
    return deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux_loss
    )


def oracle_metrics(model, dataset) -> dict:
    """The confusion matrix of plain ``argmax`` predictions, image by image."""
    model.eval()
    cm = ConfusionMatrix(K)
    with torch.no_grad():
        for image, mask in dataset:
            out = model(image[None])
            out = out["out"] if isinstance(out, dict) else out
            cm.update(out.argmax(1), mask[None])
    return cm.compute()


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def trains_and_evaluates(model, shapes, **fit_kw):
    train, val = shapes
    before = weights(model)
    h = engine.fit(model, train, val, 1, batch_size=4, progress=False, lr=1e-3, **fit_kw)
    assert len(h) == 1 and {"train_loss", "val_miou"} <= set(h.columns)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    m = engine.evaluate(model, val)
    ref = oracle_metrics(model, val)
    assert m["miou"] == pytest.approx(float(ref["miou"]))
    assert m["pixel_accuracy"] == pytest.approx(float(ref["pixel_accuracy"]))
    assert h.val_miou[-1] == pytest.approx(float(ref["miou"]))


# ----------------------------------------------------------------------------- the unwrapping
def test_logits_of():
    x = torch.zeros(2, 3, 4, 5)
    assert logits_of(x) is x and logits_of({"out": x, "aux": None}) is x
    with pytest.raises(TypeError, match=r"keys \['logits'\].*'out'"):
        logits_of({"logits": x})
    with pytest.raises(TypeError, match="returned tuple"):
        logits_of((x, x))
    with pytest.raises(ValueError, match=r"shape \(3, 4, 5\)"):
        logits_of(x[0])
    with pytest.raises(ValueError, match="predicts 3 classes .* data has 6 classes"):
        logits_of(x, 6)


# ----------------------------------------------------------------------------- torchvision
def test_torchvision_model_trains_and_evaluates(shapes):
    model = torchvision_model()
    assert not hasattr(model, "num_classes") and isinstance(model(torch.rand(2, 3, 32, 32)), dict)
    trains_and_evaluates(model, shapes)


def test_torchvision_auxiliary_head_is_trained(shapes):
    train, _ = shapes
    with_aux = torchvision_model(aux_loss=True)
    aux_before = weights(with_aux.aux_classifier)
    engine.fit(with_aux, train, epochs=1, batch_size=4, max_steps=1, progress=False, aux_weight=0.5)
    assert all(
        not torch.equal(a, b) for a, b in zip(aux_before, with_aux.aux_classifier.parameters())
    )
    without = torchvision_model(aux_loss=True)
    aux_before = weights(without.aux_classifier)
    engine.fit(without, train, epochs=1, batch_size=4, max_steps=1, progress=False)  # aux_weight=0
    assert all(torch.equal(a, b) for a, b in zip(aux_before, without.aux_classifier.parameters()))


def test_torchvision_model_predicts(shapes):
    model = torchvision_model().eval()
    images = torch.stack([shapes[1][i][0] for i in range(2)])
    with torch.no_grad():
        expected = model(images)["out"].argmax(1)
        probs = model(images)["out"].softmax(1)
    assert torch.equal(inference.predict(model, images), expected)
    masks, p = inference.predict(model, images, return_probs=True)
    assert torch.equal(masks, expected) and torch.allclose(p, probs, atol=1e-6)
    assert inference.predict(model, images, flip=True, scales=(1.0, 0.75)).shape == (2, 32, 32)
    assert inference.predict(model, images, window=24, stride=8).shape == (2, 32, 32)


def test_backbone_gets_the_base_learning_rate():
    model = torchvision_model()
    opt = optim.build_optimizer(model, "sgd", lr=0.01, head_lr_mult=10)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["backbone"]["lr"] == 0.01 and groups["head"]["lr"] == pytest.approx(0.1)
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert sum(p.numel() for p in groups["backbone"]["params"]) == n_backbone


# ----------------------------------------------------------------------------- wrapped models
def test_wrapped_fcnlib_model_trains_and_evaluates(shapes):
    torch.manual_seed(0)
    model = Normalised(models.build("fcn8s", K, width=4))
    assert not hasattr(model, "num_classes")
    trains_and_evaluates(model, shapes)


def test_class_count_from_the_logits_when_nothing_else_says():
    torch.manual_seed(0)
    model = Normalised(models.build("perpixel", 3))
    images = torch.rand(4, 3, 8, 8)
    masks = torch.randint(0, 3, (4, 8, 8))
    m = engine.evaluate(model, TensorDataset(images, masks), batch_size=2)
    assert len(m["iou"]) == 3
    with torch.no_grad():
        pred = model(images).argmax(1)
    assert float(m["pixel_accuracy"]) == pytest.approx(float((pred == masks).float().mean()))


def test_class_count_disagreement_is_a_clear_error(shapes):
    train, val = shapes
    four = Normalised(models.build("perpixel", 4))  # the data has 6 classes
    with pytest.raises(ValueError, match=r"predicts 4 classes .* data has 6 classes"):
        engine.fit(four, train, epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match=r"predicts 4 classes .* data has 6 classes"):
        engine.evaluate(four, val)
    with pytest.raises(ValueError, match=r"predicts 4 classes .* data has 5 classes"):
        engine.evaluate(
            four, TensorDataset(torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 8).long()), num_classes=5
        )


def test_input_gradient_of_a_torchvision_model():
    model = torchvision_model()
    grad = analysis.input_gradient(model, torch.rand(3, 32, 32), 16, 16)
    assert grad.shape == (32, 32) and np.isfinite(grad).all() and grad.max() > 0


# ----------------------------------------------------------------------------- smp
def test_segmentation_models_pytorch_model(shapes):
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    model = smp.Unet("resnet18", encoder_weights=None, classes=K)
    trains_and_evaluates(model, shapes)
