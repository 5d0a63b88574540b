"""Notebook 05's models one change at a time, on several seeds: what does each DeepLab idea buy?

Every rung starts from the same weights, notebook 04's trained FCN-ResNet18
(``--checkpoint``, one per seed), sees the same input (notebook 05's recipe: 64-px scenes
resized by its ``input_scale``, scored on the 64-px masks) and trains with notebook 05's recipe
(``course.recipe("05")``: SGD, poly schedule, head at 10x, its epochs). Consecutive rungs
differ in one thing:

* ``fcn_os8``: notebook 04's model itself (output stride 8, its ``FCNHead``), trained on;
* ``plain_os16``: the same backbone at output stride 16 with a new ``FCNHead``;
* ``deeplab_v3``: output stride 16 with ASPP (DeepLab-v3), a new head;
* ``deeplab_v3plus``: DeepLab-v3 with the decoder on ``layer1`` (DeepLab-v3+).

Each run is scored plainly and with test-time augmentation (scales 0.75, 1, 1.25 and flips),
and DeepLab-v3 also at output stride 8 with the same weights. It needs notebook 04's checkpoint
for each seed (run notebook 04 with that ``SEED`` first):

    python benchmarks/deeplab_ladder.py --seeds 0 1 2 \\
        --checkpoint "build/seed{seed}/checkpoints/04_fcn_resnet18.pt"

and writes ``benchmarks/results/deeplab_ladder.json`` (the machine, the settings, every run,
and per rung the mean and spread over the seeds), which notebook 05 prints from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine_info, miou_and_boundary  # noqa: E402

from fcnlib import analysis, checkpoints, course, engine, models  # noqa: E402
from fcnlib._files import write_json  # noqa: E402

RUNGS = ("fcn_os8", "plain_os16", "deeplab_v3", "deeplab_v3plus")
TTA_SCALES = (0.75, 1.0, 1.25)


def fcn04(path: Path, num_classes: int):
    """Notebook 04's FCN-ResNet18 from its checkpoint (a clear error when it is missing)."""
    if not path.is_file():
        raise SystemExit(f"{path}: no checkpoint; run notebook 04 with this SEED first")
    model = checkpoints.load_model(path)
    if model.num_classes != num_classes:
        raise SystemExit(f"{path}: {model.num_classes} classes, the scenes have {num_classes}")
    return model


def build(rung: str, r, k: int, start) -> torch.nn.Module:
    """The model of ``rung``, with notebook 04's weights where it shares them."""
    engine.seed_everything(r.seed)
    if rung in ("fcn_os8", "plain_os16"):
        model = models.build("fcn_resnet18", k, width=r.width, input_scale=r.input_scale,
                             output_stride=8 if rung == "fcn_os8" else 16)  # fmt: skip
        if rung == "fcn_os8" and start is not None:
            model.load_state_dict(start.state_dict())  # backbone and head
            return model
    else:
        model = models.build(f"deeplab_{r.backbone}", k, **course.deeplab_kwargs(r),
                             decoder=rung == "deeplab_v3plus")  # fmt: skip
    if start is not None:
        model.backbone.load_state_dict(start.backbone.state_dict())
    return model


def gflops(rung: str, r, k: int) -> float:
    """GFLOPs of one forward pass of ``rung``'s model on one of the recipe's images (the
    model resizes it by ``input_scale`` itself)."""
    model = build(rung, r, k, None)
    return round(analysis.count_flops(model.eval(), r.image_size) / 1e9, 3)


def run(rung: str, r, train_set, val_set, start, epochs: int) -> dict:
    k = len(train_set.classes)
    model = build(rung, r, k, start)
    options = {**course.deeplab_fit_options(r, k), "device": "cpu", "seed": r.seed}
    t0 = time.perf_counter()
    engine.fit(model, train_set, None, epochs=epochs, progress=False, **options)
    seconds = time.perf_counter() - t0
    miou, bf = miou_and_boundary(model, val_set)
    out = {
        "seed": r.seed, "rung": rung, "miou": miou, "boundary_f1": bf,
        "tta_miou": engine.evaluate(model, val_set, batch_size=32, device="cpu",
                                    scales=TTA_SCALES, flip=True)["miou"],
        "gflops": gflops(rung, r, k),
        "seconds": round(seconds, 1),
    }  # fmt: skip
    if rung == "deeplab_v3":
        at8 = models.build(f"deeplab_{r.backbone}", k, **{**course.deeplab_kwargs(r),
                                                          "output_stride": 8})  # fmt: skip
        at8.load_state_dict(model.state_dict())
        out["os8_eval_miou"] = engine.evaluate(at8, val_set, batch_size=32, device="cpu")["miou"]
    return out


def spread(runs: list[dict]) -> dict:
    """Per rung and measure: the mean, lowest and highest over the seeds."""
    out = {}
    for rung in RUNGS:
        rows = [x for x in runs if x["rung"] == rung]
        if rows:
            keys = [k for k in rows[0] if k not in ("seed", "rung")]
            out[rung] = {
                k: {"mean": sum(x[k] for x in rows) / len(rows),
                    "min": min(x[k] for x in rows), "max": max(x[k] for x in rows)}
                for k in keys
            }  # fmt: skip
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rungs", nargs="+", default=list(RUNGS), choices=RUNGS)
    p.add_argument("--epochs", type=int, default=None, help="default: notebook 05's")
    p.add_argument("--checkpoint", default="build/seed{seed}/checkpoints/04_fcn_resnet18.pt")
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "deeplab_ladder.json"
    )
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit(f"--epochs must be a positive number, got {args.epochs}")
    runs = []
    for seed in args.seeds:
        r = course.recipe("05", seed=seed)
        train_set, val_set = r.datasets()
        start = fcn04(Path(args.checkpoint.format(seed=seed)), len(train_set.classes))
        for rung in args.rungs:
            runs.append(run(rung, r, train_set, val_set, start, args.epochs or r.epochs))
            print(runs[-1], flush=True)
    recipe = course.recipe("05")
    settings = {**recipe.record()["settings"], "seeds": args.seeds,
                "epochs": args.epochs or recipe.epochs, "tta_scales": list(TTA_SCALES)}  # fmt: skip
    write_json(
        args.out,
        {"machine": machine_info(), "settings": settings, "runs": runs, "spread": spread(runs)},
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
