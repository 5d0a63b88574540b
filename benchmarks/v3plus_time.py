"""Where DeepLab-v3+'s training time goes: backbone against head (ResNet-18, random weights).

Two models: fcnlib's, with the paper's decoder, and segmentation_models_pytorch's.

    python benchmarks/v3plus_time.py --size 128 128

For each model: the median forward-and-backward pass of a batch (``common.median_step_seconds``,
blocks of passes for at least ``--min-time`` seconds) through the whole model and through its
backbone alone; the head's share is the difference. Needs segmentation_models_pytorch (``pip install segmentation-models-pytorch``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_step_seconds  # noqa: E402

from fcnlib import models  # noqa: E402


def step_seconds(module, x, min_time: float) -> float:
    """Median seconds of ``module(x)``'s forward and backward pass."""

    def step():
        out = module(x)
        outs = (
            [out] if torch.is_tensor(out) else list(out.values() if isinstance(out, dict) else out)
        )
        sum(o.float().mean() for o in outs).backward()

    step()  # warm-up
    return median_step_seconds(step, min_time)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, nargs=2, default=[128, 128], metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--min-time", type=float, default=3.0, help="seconds per measurement")
    args = p.parse_args(argv)
    try:
        import segmentation_models_pytorch as smp
    except ImportError as err:
        raise SystemExit(
            "needs segmentation_models_pytorch: pip install segmentation-models-pytorch"
        ) from err
    torch.manual_seed(0)
    x = torch.rand(args.batch_size, 3, *args.size)
    fcnlib_v3p = models.build("deeplabv3plus_resnet18", 6).train()
    smp_v3p = smp.DeepLabV3Plus(encoder_name="resnet18", encoder_weights=None, classes=6).train()
    print(f"batch of {args.batch_size} at {args.size[0]} x {args.size[1]}, forward + backward:")
    for name, model, backbone in [
        ("fcnlib", fcnlib_v3p, fcnlib_v3p.backbone),
        ("segmentation_models_pytorch", smp_v3p, smp_v3p.encoder),
    ]:
        full = step_seconds(model, x, args.min_time)
        back = step_seconds(backbone, x, args.min_time)
        print(
            f"{name:30} whole {1000 * full:6.0f} ms, backbone {1000 * back:6.0f} ms, "
            f"head {1000 * (full - back):6.0f} ms ({args.batch_size / full:.1f} images/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
