"""The course's lessons through fcnlib's public API, outside the notebooks.

Each lesson model is trained with ``engine.fit`` on the built-in scenes (64 px, 1000 training
and 200 validation scenes, 8 epochs of AdamW at lr 2e-3 and batch 32 unless told otherwise),
for seeds the notebooks never use, and the claims of notebooks 01-03 are checked. The models
are built as the notebooks build them (width 16) and the loss weighs the background class by
``--background-weight`` (0.3, notebooks 01 and 02's weight; 1 is a plain cross-entropy).
The all-conv nets train on ``--allconv-size`` scenes (32 px, as in notebook 01, where depth 12
sees the whole image; at 64 px its 25-px receptive field sits inside the larger objects and
neither net gets beyond labelling background):

* encoder-decoder >= 0.55 mIoU;
* FCN-8s >= 0.65 mIoU;
* deep all-conv (12 layers) >= shallow (4 layers) + 0.05 mIoU;
* FCN-8s boundary F-score >= FCN-32s's + 0.10.

It writes ``benchmarks/results/lessons.json`` (the machine, the settings and every model's numbers);
the exit status is 1 when a claim does not hold. A benchmark, not a unit test: it trains for
minutes. ``--batch-size 8`` runs the notebooks' batch size; ``--epochs`` and ``--batch-size``
together set the number of optimiser steps, which the record gives.

    python benchmarks/lessons.py --seeds 11 12 13
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine_info  # noqa: E402

from fcnlib import data, engine, inference, metrics, models  # noqa: E402
from fcnlib._files import write_json  # noqa: E402

WIDTH = 16  # every model's width, as the notebooks build them
MODELS = {
    "shallow_allconv": ("allconv", {"depth": 4}),
    "deep_allconv": ("allconv", {"depth": 12}),
    "encoder_decoder": ("encoder_decoder", {}),
    "fcn32s": ("fcn32s", {}),
    "fcn8s": ("fcn8s", {}),
}


def claims(r: dict) -> dict[str, bool]:
    """The lessons' claims for one seed's results ``r[model] = {"miou", "boundary_f1"}``."""
    return {
        "encoder_decoder >= 0.55": r["encoder_decoder"]["miou"] >= 0.55,
        "fcn8s >= 0.65": r["fcn8s"]["miou"] >= 0.65,
        "deep_allconv >= shallow_allconv + 0.05": (
            r["deep_allconv"]["miou"] >= r["shallow_allconv"]["miou"] + 0.05
        ),
        "fcn8s boundary F >= fcn32s + 0.10": (
            r["fcn8s"]["boundary_f1"] >= r["fcn32s"]["boundary_f1"] + 0.10
        ),
    }


def scenes(seed: int, size: int, args):
    """The training set and the validation images and masks at ``size`` px."""
    train = data.ShapesScenes("train", args.train_size, image_size=size, seed=seed, cache=True)
    val = data.ShapesScenes("val", args.val_size, image_size=size, seed=seed, cache=True)
    images = torch.stack([val[i][0] for i in range(len(val))])
    masks = torch.stack([val[i][1] for i in range(len(val))])
    return train, images, masks


def run_seed(seed: int, args) -> dict:
    sizes = {
        label: args.allconv_size if MODELS[label][0] == "allconv" else args.size
        for label in args.models
    }
    sets = {size: scenes(seed, size, args) for size in sorted(set(sizes.values()))}
    num_classes = len(data.ShapesScenes.classes)
    weights = [args.background_weight] + [1.0] * (num_classes - 1)
    out = {}
    for label in args.models:
        name, kwargs = MODELS[label]
        train, images, masks = sets[sizes[label]]
        engine.seed_everything(seed)
        model = models.build(name, num_classes, width=WIDTH, **kwargs)
        t0 = time.perf_counter()
        engine.fit(model, train, None, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   class_weights=weights, device="cpu", seed=seed, progress=False)  # fmt: skip
        seconds = time.perf_counter() - t0
        pred = inference.predict(model, images, batch_size=64).cpu()
        cm = metrics.ConfusionMatrix(num_classes).update(pred, masks).compute()
        out[label] = {
            "miou": cm["miou"],
            "boundary_f1": metrics.boundary_f1(pred, masks),
            "image_size": sizes[label],
            "train_seconds": round(seconds, 1),
        }
        print(f"seed {seed} {label:16} mIoU {cm['miou']:.3f}  boundary F "
              f"{out[label]['boundary_f1']:.3f}  {seconds:.0f} s", flush=True)  # fmt: skip
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--allconv-size", type=int, default=32, help="the all-conv nets' scenes")
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--val-size", type=int, default=200)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--background-weight", type=float, default=0.3)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lessons.json")
    args = p.parse_args(argv)
    results = {seed: run_seed(seed, args) for seed in args.seeds}
    checked = {
        seed: claims(r) for seed, r in results.items() if set(MODELS) <= set(r)
    }  # every model is needed for the claims
    record = {
        "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "steps": args.epochs * -(-args.train_size // args.batch_size),
        "results": {str(s): r for s, r in results.items()},
        "claims": {str(s): c for s, c in checked.items()},
    }
    write_json(args.out, record)
    print(json.dumps(record["claims"], indent=2))
    print("wrote", args.out)
    return 0 if all(all(c.values()) for c in checked.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
