"""Train fcnlib's models and popular alternatives from scratch, same loop, same budget.

    python benchmarks/compare.py                        # the built-in scenes, the default models
    python benchmarks/compare.py --dataset voc --root ~/data --image-size 128 --epochs 30
    python benchmarks/compare.py --models fcn_resnet18 smp_unet_resnet18 --quick

Every model gets the identical plain PyTorch loop (no fcnlib engine): AdamW, a cosine
learning rate, cross-entropy with the data set's ignore index, the same batches in the same
order (one seeded shuffle per epoch), no augmentation beyond the data set's own, and no
pretrained weights anywhere. Validation mIoU uses ``fcnlib.metrics.ConfusionMatrix`` on the
full validation split. fcnlib's models are its ResNet-18 ones (FCN-ResNet18, DeepLab-v3 and
v3+) and notebook 03's FCN-8s (the VGG-style net at the course's width 16, about a twelfth of
their weights). The alternatives are segmentation_models_pytorch's U-Net, FPN and
DeepLabV3+ with a ResNet-18 encoder (``pip install segmentation-models-pytorch``; skipped when
it is missing) and torchvision's light models (LR-ASPP and DeepLabV3 on MobileNetV3-Large).
``deeplab_resnet18_os8`` (DeepLab-v3 at output stride 8) runs when named in ``--models``;
the screens of finished design choices are in ``HISTORY.md``.

The report (``--out``, default ``benchmarks/results/compare.md``) gives per model: parameters,
training time, training and inference images/s, validation mIoU (mean and per seed) and
boundary F-score (2-pixel tolerance), and the peak memory of training: on a GPU the most
memory PyTorch allocated during the run (``torch.cuda.max_memory_allocated``: weights, optimizer
state, activations), on the CPU the growth of the process's peak resident set over one
training step of a copy of the trained model (activations, gradients and workspace, as
``run.py`` measures it).
``--image-size`` takes one side or ``H W`` (``--image-size 96 128``: a street-scene aspect).
The report ends with the comparison's goals, checked on its own numbers (fcnlib's best model
ahead of every other by more than the seeds' spread; fcnlib's DeepLab-v3+ at least as fast as
segmentation_models_pytorch's at equal or better mIoU); ``--goals-from compare.json`` rewrites
that section of ``--out`` from a run's JSON without measuring anything. ``--keep-from
earlier.json`` adds the rows of an earlier run with the same settings (recorded in its JSON)
for the models this run does not train, so one table can grow a model at a time.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # fcnlib from this checkout, installed or not
sys.path.insert(0, str(HERE))  # common.py beside it

from common import MEMORY, bare_train, machine_info, train_step  # noqa: E402

from fcnlib import data, metrics, models  # noqa: E402


class _Logits(nn.Module):
    """Wrap a model whose forward returns ``{"out": logits}`` (torchvision's)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def _smp(arch: str):
    def build(num_classes: int) -> nn.Module:
        import segmentation_models_pytorch as smp

        return getattr(smp, arch)(
            encoder_name="resnet18", encoder_weights=None, in_channels=3, classes=num_classes
        )

    return build


def _tv(name: str):
    def build(num_classes: int) -> nn.Module:
        from torchvision.models import segmentation as tvs

        return _Logits(
            getattr(tvs, name)(weights=None, weights_backbone=None, num_classes=num_classes)
        )

    return build


def _fcnlib(name: str, **kw):
    def build(num_classes: int) -> nn.Module:
        return models.build(name, num_classes, **kw)

    return build


# name -> (builder, family); "fcnlib" models are the course's own.
MODELS = {
    "fcn8s": (_fcnlib("fcn8s"), "fcnlib"),
    "fcn_resnet18": (_fcnlib("fcn_resnet18"), "fcnlib"),
    "deeplab_resnet18": (_fcnlib("deeplab_resnet18"), "fcnlib"),
    "deeplab_resnet18_os8": (_fcnlib("deeplab_resnet18", output_stride=8), "fcnlib"),
    "deeplabv3plus_resnet18": (_fcnlib("deeplabv3plus_resnet18"), "fcnlib"),
    "smp_unet_resnet18": (_smp("Unet"), "segmentation_models_pytorch"),
    "smp_fpn_resnet18": (_smp("FPN"), "segmentation_models_pytorch"),
    "smp_deeplabv3plus_resnet18": (_smp("DeepLabV3Plus"), "segmentation_models_pytorch"),
    "tv_lraspp_mobilenet_v3_large": (_tv("lraspp_mobilenet_v3_large"), "torchvision"),
    "tv_deeplabv3_mobilenet_v3_large": (_tv("deeplabv3_mobilenet_v3_large"), "torchvision"),
}

# the default run: the course's models and the alternatives (the others are run by name)
DEFAULT_MODELS = [
    "fcn8s",
    "fcn_resnet18",
    "deeplab_resnet18",
    "deeplabv3plus_resnet18",
    "smp_unet_resnet18",
    "smp_fpn_resnet18",
    "smp_deeplabv3plus_resnet18",
    "tv_lraspp_mobilenet_v3_large",
    "tv_deeplabv3_mobilenet_v3_large",
]


def available(names):
    """The names whose package imports (segmentation_models_pytorch is optional)."""
    try:
        import segmentation_models_pytorch  # noqa: F401

        have_smp = True
    except ImportError:
        have_smp = False
    return [n for n in names if have_smp or MODELS[n][1] != "segmentation_models_pytorch"]


def train_and_evaluate(build, train_set, val_set, num_classes, ignore_index, args, seed):
    """The plain loop. Returns a dict: ``miou``, ``boundary_f1``, ``seconds`` (training),
    ``images_per_s`` (training), ``inference_per_s``, ``peak_mb`` (see :func:`cpu_step_peak_mb`
    for the CPU; None where it cannot be measured) and ``params``."""
    torch.manual_seed(seed)
    cuda = torch.device(args.device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model = build(num_classes).to(args.device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / args.batch_size)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, total) / total))
    )
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        train_set, args.batch_size, shuffle=True, drop_last=True, generator=g
    )
    criterion = nn.CrossEntropyLoss(ignore_index=ignore_index)
    seen, t0 = 0, time.perf_counter()
    for _ in range(args.epochs):
        seen += bare_train(model, loader, opt, criterion, sched, device=args.device)
    seconds = time.perf_counter() - t0
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    model.eval()
    cm = metrics.ConfusionMatrix(num_classes, ignore_index)
    predictions, masks, infer_s = [], [], 0.0
    with torch.inference_mode():
        for x, y in torch.utils.data.DataLoader(val_set, 32):
            t1 = time.perf_counter()
            pred = model(x.to(args.device)).argmax(1).cpu()  # .cpu() waits for the device
            infer_s += time.perf_counter() - t1
            cm.update(pred, y)
            predictions.append(pred)
            masks.append(y)
    bf = metrics.boundary_f1(torch.cat(predictions), torch.cat(masks), ignore_index=ignore_index)
    if not cuda:
        peak_mb = cpu_step_peak_mb(model, train_set, criterion, args)
    return {
        "miou": float(cm.compute()["miou"]),
        "boundary_f1": float(bf),
        "seconds": seconds,
        "images_per_s": seen / seconds,
        "inference_per_s": len(val_set) / infer_s,
        "peak_mb": peak_mb,
        "params": params,
    }


def cpu_step_peak_mb(model, train_set, criterion, args) -> float | None:
    """Peak resident memory (MB) of one CPU training step, above the resident size before it.

    The step runs on a copy of ``model`` with its own AdamW (after one untimed step that
    creates the optimizer state) and inside ``torch.random.fork_rng``, so the measured model,
    and the random numbers of whatever runs next, are untouched. None off Linux."""
    if not MEMORY.available:
        return None
    x, y = (torch.stack(t) for t in zip(*(train_set[i] for i in range(args.batch_size))))
    with torch.random.fork_rng(devices=[]):
        twin = copy.deepcopy(model).train()
        opt = torch.optim.AdamW(twin.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        train_step(twin, opt, criterion, x, y)  # warm-up; creates the optimizer state
        opt.zero_grad(set_to_none=True)  # the gradients count in the peak, not the baseline
        MEMORY.reset()
        train_step(twin, opt, criterion, x, y)
        peak = MEMORY.peak()
    del twin, opt
    return peak


def _size(values):
    """``--image-size``: one side (square) or ``H W``."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return tuple(values)
    raise SystemExit(f"--image-size takes one side or H W, got {values}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="shapes", choices=sorted(data.DATASETS))
    p.add_argument("--root", default=None, help="data root of a real data set")
    p.add_argument("--image-size", type=int, nargs="+", default=[96], help="S, or H W")
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--val-size", type=int, default=200)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--quick", action="store_true", help="tiny run: checks the harness works")
    p.add_argument("--out", type=Path, default=HERE / "results" / "compare.md")
    p.add_argument(
        "--keep-from",
        type=Path,
        nargs="+",
        default=None,
        help="results JSONs of earlier runs with the same data and loop: their models that "
        "this run does not train are kept in the report (marked with that run's date; on the "
        "CPU their peak memory is measured now, on a freshly built model)",
    )
    p.add_argument(
        "--goals-from",
        type=Path,
        default=None,
        help="measure nothing: (re)write the goals section of --out from this results JSON",
    )
    args = p.parse_args(argv)
    if args.goals_from is not None:
        for path in (args.goals_from, args.out):
            if not path.is_file():
                raise SystemExit(f"--goals-from: no such file: {path}")
        add_goals(args.out, read_results(args.goals_from)[1])
        print(f"wrote the goals of {args.out}")
        return
    for path in args.keep_from or ():
        if not path.is_file():
            raise SystemExit(f"--keep-from: no such file: {path}")
    args.image_size = _size(args.image_size)
    if args.quick:
        args.image_size, args.train_size, args.val_size, args.epochs = 64, 32, 16, 1
    if isinstance(args.image_size, tuple) and args.dataset != "shapes":
        raise SystemExit("--image-size H W: only the built-in shapes render non-square images")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = available(args.models)
    skipped = sorted(set(args.models) - set(names))
    train_set, val_set = data.course_datasets(
        args.dataset, args.image_size, args.train_size, args.val_size, seed=0, root=args.root
    )
    info = data.DATASETS[args.dataset]
    k, ignore = len(info.classes), info.ignore_index
    results = {}
    for path in args.keep_from or ():
        results.update(kept_results(path, set(names) | set(results), args, train_set, k, ignore))
    machine = machine_info()
    run_date = machine["date (UTC)"][:10]
    for name in names:
        runs = [
            train_and_evaluate(MODELS[name][0], train_set, val_set, k, ignore, args, s)
            for s in args.seeds
        ]
        mious = [r["miou"] for r in runs]
        peaks = [r["peak_mb"] for r in runs if r["peak_mb"] is not None]
        results[name] = {
            "family": MODELS[name][1],
            "miou": mious,
            "miou_mean": statistics.fmean(mious),
            "miou_spread": max(mious) - min(mious),
            "boundary_f1": [r["boundary_f1"] for r in runs],
            "boundary_f1_mean": statistics.fmean(r["boundary_f1"] for r in runs),
            "seconds": statistics.fmean(r["seconds"] for r in runs),
            "images_per_s": statistics.fmean(r["images_per_s"] for r in runs),
            "inference_per_s": statistics.fmean(r["inference_per_s"] for r in runs),
            "peak_mb": max(peaks) if peaks else None,
            "params_m": runs[0]["params"] / 1e6,
            "date": run_date,
        }
        r = results[name]
        print(
            f"{name:34} mIoU {r['miou_mean']:.3f} {[round(m, 3) for m in mious]} "
            f"BF {r['boundary_f1_mean']:.3f} {r['seconds']:6.0f} s  {r['images_per_s']:6.1f} "
            f"img/s (inference {r['inference_per_s']:6.1f})  {r['params_m']:5.1f} M",
            flush=True,
        )
    write_report(args, machine, results, skipped, len(train_set), len(val_set))


def kept_results(path: Path, names, args, train_set, num_classes, ignore_index) -> dict:
    """The models of an earlier run's results JSON (``path``) that are not in ``names``.

    The earlier run must have used this run's data and loop (same data set, image size,
    sizes of the splits, epochs, batch, learning rate, weight decay and seeds), which its
    ``"settings"`` record; its rows keep their date. On the CPU, a kept row without a peak
    memory gets one, measured now on a freshly built model (the memory of a training step
    does not depend on the weights)."""
    settings, earlier = read_results(path)
    expected = run_settings(args)
    if settings is None or {k: v for k, v in settings.items() if k != "date"} != expected:
        raise SystemExit(
            f"--keep-from: {path} was measured with other settings ({settings}), "
            f"this run uses {expected}"
        )
    kept = {n: r for n, r in earlier.items() if n not in names}
    criterion = nn.CrossEntropyLoss(ignore_index=ignore_index)
    for name, r in kept.items():
        r.setdefault("date", settings.get("date", "earlier"))
        if r["peak_mb"] is None and torch.device(args.device).type == "cpu":
            torch.manual_seed(0)
            r["peak_mb"] = cpu_step_peak_mb(
                MODELS[name][0](num_classes), train_set, criterion, args
            )
    return kept


def read_results(path: Path) -> tuple[dict | None, dict]:
    """A results JSON as ``(settings, results)``: the run's settings (None in files written
    before they were recorded) and model name -> its summary."""
    results = json.loads(path.read_text())
    return results.pop("settings", None), results


def run_settings(args) -> dict:
    """What must match for two runs' rows to share a table."""
    size = list(args.image_size) if isinstance(args.image_size, tuple) else args.image_size
    return {
        "dataset": args.dataset,
        "image_size": size,
        "train_size": args.train_size,
        "val_size": args.val_size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "seeds": list(args.seeds),
    }


GOALS_HEADING = "## Goals"


def goals(results: dict) -> list[str]:
    """The comparison's two goals, checked on ``results`` (model name -> its summary), as
    Markdown lines; a goal whose models are not in ``results`` is said to be unmeasured.

    Goal 1 asks of fcnlib's models that one has the highest mean mIoU by more than the seeds'
    spread (the larger of its own and the best other model's, max - min over seeds). When
    fcnlib's highest mean is level with another of its models, the goal is met by whichever of
    them clears the spread, and the line names both."""
    fcnlib_models = {n: r for n, r in results.items() if r["family"] == "fcnlib"}
    others = {n: r for n, r in results.items() if r["family"] != "fcnlib"}
    lines = [GOALS_HEADING, ""]
    if fcnlib_models and others:
        rival = max(others, key=lambda n: others[n]["miou_mean"])
        r_mean = others[rival]["miou_mean"]

        def margin(name):  # (lead over the rival, the spread it must exceed)
            r = results[name]
            return r["miou_mean"] - r_mean, max(r["miou_spread"], others[rival]["miou_spread"])

        def clears(name):
            lead, spread = margin(name)
            return lead > spread and len(results[name]["miou"]) > 1

        ranked = sorted(fcnlib_models, key=lambda n: -fcnlib_models[n]["miou_mean"])
        top, winners = ranked[0], [n for n in ranked if clears(n)]
        best = winners[0] if winners else top
        lead, spread = margin(best)
        line = (
            f"1. fcnlib's best model has the highest mean mIoU, by more than the seeds' spread: "
            f"**{'met' if winners else 'not met'}**. `{best}` {results[best]['miou_mean']:.3f} "
            f"against the best other model, `{rival}`, {r_mean:.3f}: a lead of {lead:+.3f}, "
            f"against a spread of {spread:.3f} (the larger of the two)"
            + ("; one seed has no spread" if len(results[best]["miou"]) < 2 else "")
            + "."
        )
        if best != top:
            top_lead, top_spread = margin(top)
            line += (
                f" fcnlib's highest mean, `{top}` {results[top]['miou_mean']:.3f}, is "
                f"{results[top]['miou_mean'] - results[best]['miou_mean']:.3f} above it and "
                f"leads by {top_lead:+.3f}, which its spread ({top_spread:.3f}) covers."
            )
        lines.append(line)
    else:
        lines.append("1. fcnlib's best model against the others: not measured in this run.")
    ours, theirs = "deeplabv3plus_resnet18", "smp_deeplabv3plus_resnet18"
    if ours in results and theirs in results:
        a, b = results[ours], results[theirs]
        speed = a["images_per_s"] / b["images_per_s"]
        met = speed >= 1 and a["miou_mean"] >= b["miou_mean"]
        dates = sorted({a.get("date", "an earlier run"), b.get("date", "an earlier run")})
        lines.append(
            f"2. fcnlib's DeepLab-v3+ trains at least as fast as segmentation_models_pytorch's "
            f"DeepLabV3+, at equal or better mIoU: **{'met' if met else 'not met'}** by the "
            f"wall times of the training runs ({' and '.join(dates)}). "
            f"{a['images_per_s']:.1f} against {b['images_per_s']:.1f} "
            f"training images/s ({speed:.2f}x), mIoU {a['miou_mean']:.3f} against "
            f"{b['miou_mean']:.3f}. These rates come from runs that follow one another, while "
            "the machine's speed may drift; `train_speed.py` times the two side by side."
        )
    else:
        lines.append(f"2. `{ours}` against `{theirs}`: not measured in this run.")
    return lines


def add_goals(report: Path, results: dict) -> None:
    """Write (or rewrite) the goals section at the end of an existing ``report``."""
    text = report.read_text()
    head = text.split("\n" + GOALS_HEADING + "\n")[0].rstrip("\n")
    report.write_text(head + "\n\n" + "\n".join(goals(results)) + "\n")


def write_report(args, machine, results, skipped, n_train, n_val):
    size = args.image_size
    size = f"{size[0]} x {size[1]}" if isinstance(size, tuple) else f"{size}"
    lines = [
        "# From scratch, same loop, same budget",
        "",
        f"`python benchmarks/compare.py {' '.join(sys.argv[1:])}`".replace("` ", "`").rstrip(),
        "",
        f"Run on {machine['date (UTC)'][:10]}. Machine: {machine['CPU']}, "
        f"{torch.get_num_threads()} threads, "
        f"device {args.device}; torch {torch.__version__}. Data: `{args.dataset}`, {n_train} "
        f"training and {n_val} validation images at {size} px. Loop: AdamW "
        f"(lr {args.lr}, weight decay {args.weight_decay}), cosine schedule, batch "
        f"{args.batch_size}, {args.epochs} epochs, cross-entropy, no pretrained weights; "
        f"seeds {args.seeds}.",
        "",
        "| model | from | parameters (M) | train time (s) | training images/s | "
        "inference images/s | peak memory (MB) | val mIoU (mean) | spread | per seed | "
        "boundary F (mean) | run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["miou_mean"]):
        peak = "n/a" if r["peak_mb"] is None else f"{r['peak_mb']:.0f}"
        lines.append(
            f"| `{name}` | {r['family']} | {r['params_m']:.1f} | {r['seconds']:.0f} | "
            f"{r['images_per_s']:.1f} | {r['inference_per_s']:.1f} | {peak} | "
            f"{r['miou_mean']:.3f} | {r['miou_spread']:.3f} | "
            f"{', '.join(f'{m:.3f}' for m in r['miou'])} | {r['boundary_f1_mean']:.3f} | "
            f"{r.get('date', 'n/a')} |"
        )
    lines += [
        "",
        "Peak memory: on CUDA the most memory allocated during training (weights, optimizer "
        "state and activations); on the CPU the growth of the process's peak resident set over "
        "one training step of a batch (activations, gradients and workspace; the largest of "
        "the seeds).",
    ]
    if args.keep_from is not None:
        lines += [
            "",
            "Rows of an earlier date were trained by the runs of "
            + ", ".join(f"`{p.name}`" for p in args.keep_from)
            + " (same data, loop and seeds; their mIoU and speeds are those runs'), and their "
            "CPU peak memory was measured in this run.",
        ]
    if skipped:
        lines += ["", f"Skipped (package not installed): {', '.join(skipped)}."]
    lines += ["", *goals(results)]
    args.out.write_text("\n".join(lines) + "\n")
    settings = {**run_settings(args), "date": machine["date (UTC)"][:10]}
    args.out.with_suffix(".json").write_text(
        json.dumps({**results, "settings": settings}, indent=1)
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
