"""DeepLab-v3+ of notebook 05 with its input upsampled: how much does the 64-px input cost?

Notebook 05 trains DeepLab-v3+ (ResNet-18, width 16) on 64-px scenes from the backbone of
notebook 04's FCN-ResNet18. The ResNet's stem divides the image by 4 before the first
residual block, so on 64-px scenes ``layer1`` (the decoder's fine features) is 16 x 16. This
benchmark trains the same model with notebook 05's recipe (SGD, poly schedule, head at 10x,
background weight 0.3) with the input bilinearly upsampled by each ``--scales`` factor
(``models.deeplab(..., input_scale=)``: the scores come back at 64 px), so every run is scored
on the same masks. A factor of 2 costs about 4 times the backbone's multiply-adds.

It needs notebook 04's checkpoint for each seed (run notebook 04 with that ``SEED`` first):

    python benchmarks/deeplab_input_scale.py --seeds 0 1 2 \\
        --checkpoint "build/seed{seed}/checkpoints/04_fcn_resnet18.pt"

and writes ``benchmarks/results/deeplab_input_scale.json`` (the machine, the settings, every run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine_info, miou_and_boundary  # noqa: E402

from fcnlib import data, engine, models  # noqa: E402
from fcnlib._files import write_json  # noqa: E402

WIDTH, ASPP_RATES, ASPP_CHANNELS = 16, (1, 2, 3), 64  # notebook 05's CPU settings


def backbone_from(path: Path, num_classes: int) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path}: no checkpoint; run notebook 04 with this SEED first")
    fcn = models.build("fcn_resnet18", num_classes, width=WIDTH)
    engine.load_checkpoint(path, fcn)
    return fcn.backbone.state_dict()


def run(seed: int, factor: float, backbone: dict, train_set, val_set, args) -> dict:
    k = len(train_set.classes)
    engine.seed_everything(seed)
    model = models.build(
        "deeplabv3plus_resnet18", k, aspp_rates=ASPP_RATES, aspp_channels=ASPP_CHANNELS,
        width=WIDTH, input_scale=factor,
    )  # fmt: skip
    model.backbone.load_state_dict(backbone)
    t0 = time.perf_counter()
    engine.fit(
        model, train_set, None, epochs=args.epochs, batch_size=16, optimizer="sgd", lr=0.01,
        momentum=0.9, weight_decay=1e-4, lr_schedule="poly", warmup_epochs=0.5,
        head_lr_mult=10, class_weights=[0.3] + [1.0] * (k - 1), device="cpu", seed=seed,
        progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    miou, boundary_f1 = miou_and_boundary(model, val_set)
    return {
        "seed": seed,
        "scale": factor,
        "miou": miou,
        "boundary_f1": boundary_f1,
        "seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--checkpoint", default="build/seed{seed}/checkpoints/04_fcn_resnet18.pt")
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "deeplab_input_scale.json"
    )
    args = p.parse_args(argv)
    if any(s <= 0 for s in args.scales):
        raise SystemExit(f"--scales must be positive, got {args.scales}")
    runs = []
    for seed in args.seeds:
        train_set, val_set = data.course_datasets("shapes", 64, 1000, 200, seed=seed)
        backbone = backbone_from(Path(args.checkpoint.format(seed=seed)), len(train_set.classes))
        for factor in args.scales:
            runs.append(run(seed, factor, backbone, train_set, val_set, args))
            print(runs[-1], flush=True)
    settings = {"epochs": args.epochs, "scales": args.scales, "seeds": args.seeds}
    write_json(args.out, {"machine": machine_info(), "settings": settings, "runs": runs})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
