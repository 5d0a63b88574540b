"""The training command, for a GPU and for several GPUs.

One process::

    python -m fcnlib.train --model fcn_resnet18 --dataset voc --epochs 30 --batch-size 16 \\
        --image-size 320 --out runs/voc --pretrained-backbone

Any name of ``fcnlib.data.DATASETS`` works the same way: ``--dataset camvid --data-root data``
(``data/CamVid``), or your own images and masks with ``--dataset folder --data-root
my_data [--classes background road car ...]`` (see ``data/README.md``).

Several processes, one per GPU (DistributedDataParallel; ``nccl`` on GPUs, ``gloo`` on CPUs)::

    torchrun --standalone --nproc_per_node=4 -m fcnlib.train --model ... --out runs/voc

Each process reads its own share of the training set (a ``DistributedSampler``), so
``--batch-size`` is per process and one step sees ``batch_size * world_size`` images. The
validation set is split without repeats and the confusion matrices of all processes are
summed (``engine.evaluate``), so the metrics are those of the whole validation set (the
per-epoch ``train_loss`` is rank 0's, over its own share of the training set). Only
rank 0 writes: ``DIR/last.pt`` (after every epoch, atomically; ``--resume`` continues from
it) and ``DIR/metrics.json`` (the configuration, the per-epoch history, the final metrics
with per-class IoU, and ``world_size``).

The loop itself is :func:`fcnlib.engine.fit`, the same one the notebooks call.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from . import __version__, engine, models, optim
from ._files import write_json
from .data import datasets as D


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fcnlib.train",
        description="Train a segmentation model; under torchrun, on several processes (DDP).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help=f"one of: {', '.join(models.available())}")
    p.add_argument("--dataset", default="shapes", choices=sorted(D.DATASETS))
    p.add_argument("--image-size", type=int, default=96, help="training crops are S x S")
    p.add_argument("--out", required=True, type=Path, help="folder for last.pt and metrics.json")
    p.add_argument(
        "--data-root", default=None, help="default: $FCNLIB_DATA or ./data (see data/README.md)"
    )
    p.add_argument(
        "--classes", nargs="+", default=None, metavar="NAME",
        help="--dataset folder: the class names, index 0 first "
        "(default: DATA_ROOT/classes.txt or classes.json)",
    )  # fmt: skip
    p.add_argument(
        "--train-size", type=int, default=None, help="images (default: all; shapes: 1000)"
    )
    p.add_argument("--val-size", type=int, default=None, help="images (default: all; shapes: 200)")
    p.add_argument("--normalize", action="store_true", help="ImageNet mean/std on the inputs")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--amp", action=argparse.BooleanOptionalAction, default=None, help="default: on CUDA"
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="default: on CUDA and x86 CPUs",
    )
    p.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    p.add_argument("--pretrained-backbone", action="store_true", help="ImageNet weights (ResNets)")
    p.add_argument(
        "--model-kw", action="append", default=[], metavar="KEY=VALUE",
        help="extra model argument, e.g. output_stride=8 (repeatable)",
    )  # fmt: skip
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across GPUs (CUDA only)")
    _add_fit_options(p)
    return p


# engine.fit's options that the command sets itself, or that are not plain values
_SET_BY_THE_COMMAND = {
    "model", "train_data", "val_data", "amp", "channels_last", "device", "checkpoint_dir",
    "resume", "continue_training", "class_weights",
}  # fmt: skip
# where the command's defaults differ from fit's: the SGD recipe of DeepLab for real data sets
_COMMAND_DEFAULTS = {"epochs": 10, "optimizer": "sgd", "lr": 0.01}
_HELP = {"batch_size": "per process", "max_steps": "steps per epoch (quick checks)"}
_TYPES = {"int": int, "float": float, "str": str}


def _fit_options() -> dict[str, inspect.Parameter]:
    """The options of :func:`fcnlib.engine.fit` that are also the command's."""
    params = inspect.signature(engine.fit).parameters
    return {n: p for n, p in params.items() if n not in _SET_BY_THE_COMMAND}


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    """One ``--kebab-case`` option per option of ``engine.fit`` (its name, type and default)."""
    for name, param in _fit_options().items():
        flag, default = "--" + name.replace("_", "-"), _COMMAND_DEFAULTS.get(name, param.default)
        helps = _HELP.get(name, f"engine.fit's {name}")
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=helps)
        elif isinstance(default, tuple):
            p.add_argument(
                flag, type=type(default[0]), nargs="+", default=list(default), help=helps
            )
        else:  # None: the type is the annotation's first ("int | None")
            kind = (
                type(default) if default is not None else _TYPES[str(param.annotation).split()[0]]
            )
            p.add_argument(flag, type=kind, default=default, help=helps)


def _model_kwargs(items: list[str]) -> dict:
    kw = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--model-kw expects KEY=VALUE, got {item!r}")
        try:
            kw[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kw[key] = value  # a plain string
    return kw


class ShardSampler(Sampler):
    """Indices ``rank, rank + world, ...``: every item on exactly one process, none repeated.

    (``DistributedSampler`` pads the shards to equal length by repeating items, which would
    count some validation images twice.)
    """

    def __init__(self, size: int, rank: int, world_size: int):
        self.indices = list(range(rank, size, world_size))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _distributed() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment (``(0, 1, 0)`` without)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _plain(v):
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    return v


def run(args: argparse.Namespace) -> dict | None:
    """Train as ``args`` says; returns the metrics.json content on rank 0 (None elsewhere)."""
    if args.classes is not None and args.dataset != "folder":
        raise ValueError(f"--classes is for --dataset folder; {args.dataset!r} has its own classes")
    rank, world, local_rank = _distributed()
    main = rank == 0
    out: Path = args.out
    last = out / "last.pt"
    if last.exists() and not args.resume:  # checked by every rank, so all of them stop
        raise SystemExit(
            f"{out} already holds a checkpoint (last.pt): pass --resume to continue it, "
            "or choose another --out"
        )
    if args.resume and not last.exists() and main:
        print(f"--resume: no checkpoint in {out} yet, starting from scratch", flush=True)
    dist = torch.distributed
    if world > 1:
        use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        if use_cuda:
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        else:
            device = torch.device("cpu")
        dist.init_process_group("nccl" if use_cuda else "gloo")
    else:
        device = engine.resolve_device(args.device)
    if main:
        out.mkdir(parents=True, exist_ok=True)

    engine.seed_everything(args.seed)
    folder_kw = {"classes": args.classes} if args.dataset == "folder" else {}
    train_set, val_set = D.course_datasets(
        args.dataset, args.image_size, args.train_size, args.val_size, args.seed, args.data_root,
        normalize=args.normalize, **folder_kw,
    )  # fmt: skip
    kw = _model_kwargs(args.model_kw)
    if args.pretrained_backbone:
        kw["pretrained_backbone"] = True
    model = models.build(args.model, num_classes=train_set.num_classes, **kw)
    amp = "auto" if args.amp is None else args.amp
    channels_last = (
        engine.channels_last_default(device) if args.channels_last is None else args.channels_last
    )
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    if world > 1:
        if args.sync_bn and device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if args.freeze_bn:  # before wrapping: DDP must not wait for gradients of frozen BN
            optim.set_bn_frozen(model, True)
        net = model
        unused_aux = getattr(net, "aux_classifier", None) is not None and args.aux_weight == 0
        model = torch.nn.parallel.DistributedDataParallel(
            model,
            device_ids=[local_rank] if device.type == "cuda" else None,
            find_unused_parameters=unused_aux,
        )
        sampler = torch.utils.data.DistributedSampler(
            train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed
        )
        pin = device.type == "cuda"
        train_data = DataLoader(
            train_set,
            args.batch_size,
            sampler=sampler,
            num_workers=args.num_workers,
            pin_memory=pin,
        )
        val_data = DataLoader(
            val_set, args.val_batch_size, sampler=ShardSampler(len(val_set), rank, world),
            num_workers=args.num_workers, pin_memory=pin,
        )  # fmt: skip
    else:
        net, train_data, val_data = model, train_set, val_set

    t0 = time.perf_counter()
    options = {name: getattr(args, name) for name in _fit_options()}
    options.update(scales=tuple(args.scales), progress=main and args.progress)
    history = engine.fit(
        model, train_data, val_data, amp=amp, channels_last=channels_last, device=device,
        checkpoint_dir=out, resume=args.resume, **options,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    final = engine.evaluate(net, val_data, args.val_batch_size, device)  # every rank takes part
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if not main:
        return None
    classes = list(train_set.classes)
    result = {
        "config": {k: _plain(v) for k, v in vars(args).items()},
        "world_size": world,
        "global_batch_size": args.batch_size * world,
        "device": str(device) if world == 1 else f"{world} x {device.type}",
        "train_images": len(train_set),
        "val_images": len(val_set),
        "classes": classes,
        "history": history.records,
        "final": {
            "pixel_accuracy": float(final["pixel_accuracy"]),
            "mean_accuracy": float(final["mean_accuracy"]),
            "miou": float(final["miou"]),
            "fw_iou": float(final["fw_iou"]),
            "iou": dict(zip(classes, map(float, _plain(final["iou"])))),
        },
        "seconds": seconds,
        "versions": {"fcnlib": __version__, "torch": torch.__version__},
    }
    write_json(out / "metrics.json", result)
    print(
        f"{args.model} on {args.dataset}: val mIoU {result['final']['miou']:.4f}, pixel accuracy "
        f"{result['final']['pixel_accuracy']:.4f} after {len(history)} epochs "
        f"({world} process{'es' if world > 1 else ''}); wrote {last} and {out / 'metrics.json'}",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (D.DatasetNotFoundError, D.DatasetDownloadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
