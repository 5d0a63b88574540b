"""A stand-in for ImageNet pre-training: a ResNet classifier of single-shape images.

Segmentation models in practice start from a backbone trained to classify images
(torchvision's ImageNet weights). Nothing can be downloaded for the course's built-in data,
so the course does the same on a small scale: :func:`pretrain_classifier` trains a ResNet to
name the one shape in a scene of :class:`~fcnlib.data.ShapesScenes`, and
:func:`load_backbone` copies everything but its ``fc`` layer into the backbone of an
FCN-ResNet or DeepLab model. The crops come from a seed that no notebook uses, so the
classifier never sees a training or validation scene of the notebooks.

fcnlib ships one such classifier, ResNet-18 at width 16 on 64-pixel crops
(:data:`SHAPES_BACKBONE`, about 3 MB). It was made by ``python -m fcnlib.pretrain`` (the
defaults of :func:`pretrain_classifier`), which rewrites it in a few CPU minutes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import engine, optim
from ._checks import check_positive_int
from .checkpoints import read_checkpoint, save_checkpoint
from .data.shapes import CLASSES, ShapesScenes
from .models.resnet import resnet_backbone

__all__ = [
    "PRETRAIN_SEED",
    "SHAPES_BACKBONE",
    "copy_backbone",
    "load_backbone",
    "pretrain_classifier",
    "shape_crops",
]

#: seed of the crops: different from every seed a notebook or test uses for its scenes
PRETRAIN_SEED = 1_000_003
#: the classifier fcnlib ships: ResNet-18, width 16, 64-pixel crops
SHAPES_BACKBONE = Path(__file__).parent / "weights" / "resnet18_w16_shapes.pt"


def shape_crops(split: str, n: int, image_size: int = 64, seed: int = PRETRAIN_SEED):
    """``n`` scenes with exactly one object each, labelled with its shape.

    Returns ``(images n x 3 x S x S, labels n)``; labels are the scene classes 1..5 (circle,
    square, triangle, star, bar). The objects have the sizes of the course's scenes.
    """
    check_positive_int(n, "n", " (number of crops)")
    scenes = ShapesScenes(split, n, image_size=image_size, max_objects=1, seed=seed)
    images, labels = [], []
    for i in range(n):
        scene = scenes.scene(i)
        images.append(scene.image)
        labels.append(scene.objects[0].label)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)


def pretrain_classifier(
    backbone: str = "resnet18",
    width: int = 16,
    image_size: int = 64,
    crops: int = 12000,
    epochs: int = 12,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    device="auto",
    progress: bool = True,
) -> tuple[nn.Module, dict]:
    """Train a ResNet (torchvision's, at ``width``) to name the shape of single-shape crops.

    Adam with a poly learning-rate decay and cross-entropy over the 6 classes of the scenes
    (background never occurs as a label, so it stays a class the segmentation head learns).
    Returns ``(classifier, info)``: the trained ``ResNet`` in eval mode and a dict with the
    validation accuracy (on 1000 more crops), the seconds and the settings.
    """
    dev = engine.resolve_device(device)
    engine.seed_everything(seed)
    x_train, y_train = shape_crops("train", crops, image_size)
    x_val, y_val = shape_crops("val", 1000, image_size)
    model = resnet_backbone(backbone, width=width)
    model.fc = nn.Linear(model.fc.in_features, len(CLASSES))
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=1e-4)
    steps = epochs * (crops // batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, optim.poly_lr_lambda(steps))
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(crops, generator=g)
        for i in range(0, crops - batch_size + 1, batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model(x_train[idx].to(dev)), y_train[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        accuracy = _accuracy(model, x_val, y_val, dev)
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: validation accuracy {accuracy:.3f}", flush=True)
    info = dict(
        backbone=backbone,
        width=width,
        image_size=image_size,
        crops=crops,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        accuracy=accuracy,
        seconds=round(time.perf_counter() - t0, 1),
    )
    return model.eval(), info


def _accuracy(model, images, labels, device) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x.to(device)).argmax(1).cpu() for x in images.split(256)])
    return (pred == labels).float().mean().item()


def load_backbone(model: nn.Module, path=SHAPES_BACKBONE) -> dict:
    """Copy a classifier saved by ``python -m fcnlib.pretrain`` into ``model.backbone``.

    ``model`` is an FCN-ResNet or DeepLab model of the same ResNet and width; every backbone
    weight is replaced (the classifier's ``fc`` is left out), the heads keep theirs. Returns
    the classifier's settings and validation accuracy. A missing file, or one of another
    ResNet or width, raises an error naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no pretrained classifier at {path}; make it with `python -m fcnlib.pretrain "
            f"--out {path}` (a few CPU minutes)"
        )
    state = read_checkpoint(path, "cpu")
    info = state.get("pretrain", {})
    source = f"{path} holds a {info.get('backbone')} classifier at width {info.get('width')}"
    copy_backbone(model, state["model"], source)
    return info


def copy_backbone(model: nn.Module, classifier_state: dict, source: str = "the classifier") -> None:
    """Copy a classifier's state dict, all but ``fc``, into ``model.backbone`` (strictly).

    ``source`` names the classifier in the error raised when it does not fit the backbone.
    """
    weights = {k: v for k, v in classifier_state.items() if not k.startswith("fc.")}
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise TypeError(f"{type(model).__name__} has no .backbone to load {source} into")
    mine = backbone.state_dict()
    wrong = [k for k in mine if k not in weights or weights[k].shape != mine[k].shape]
    if wrong or len(weights) != len(mine):
        raise ValueError(
            f"{source}, which does not fit this model's backbone "
            f"(first mismatch: {(wrong or ['?'])[0]})"
        )
    backbone.load_state_dict(weights)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fcnlib.pretrain",
        description="Train the shape classifier whose backbone the ResNet notebooks start from.",
    )
    p.add_argument("--out", type=Path, default=SHAPES_BACKBONE, help="file to write")
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--crops", type=int, default=12000)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    a = p.parse_args(argv)
    model, info = pretrain_classifier(
        a.backbone, a.width, a.image_size, a.crops, a.epochs, seed=a.seed, device=a.device
    )
    save_checkpoint(a.out, model.cpu(), pretrain=info)
    print(f"wrote {a.out}: validation accuracy {info['accuracy']:.3f} in {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
