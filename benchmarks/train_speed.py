"""Training speed of models side by side: steps of every model timed in turn, in one process.

    python benchmarks/train_speed.py                      # DeepLab-v3+ of fcnlib and of smp
    python benchmarks/train_speed.py --sizes 64 96x128 128 --formats nchw channels_last
    python benchmarks/train_speed.py --quick              # seconds: checks the script works

``compare.py`` reports each model's training images/s from the wall time of its own training
run. Its runs follow one another over an hour or more, and on a shared CPU the machine's speed
drifts by 20 % or more in that time, so two models' rates there differ by the machine as much
as by the models. Here every model (built as ``compare.py`` builds it, ``compare.MODELS``)
gets its own AdamW optimizer and one fixed batch of built-in scenes, and the models take turns:
each repeat times ``--steps`` training steps of ``compare.py``'s loop (forward, cross-entropy,
backward, AdamW step) of every model, in ABBA order (``common.interleaved``), after
``--warmup`` untimed steps each. A model's rate is its batch over the median seconds per step;
its speed against the reference model (``--reference``) is the median of the per-repeat
ratios, with their range, so drifts that span a repeat cancel.

``--formats`` times each model in ``N C H W`` (``nchw``, as ``compare.py`` trains), in
``channels_last`` (model and batch; what ``engine.fit`` uses on CUDA and x86 CPUs), or both.
Writes ``--out`` (default ``benchmarks/results/train_speed.md``) and the numbers as JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # fcnlib from this checkout, installed or not
sys.path.insert(0, str(HERE))  # common.py and compare.py beside it

from common import interleaved, loadavg, machine_info, paired_ratio, train_step  # noqa: E402
from compare import MODELS, available  # noqa: E402

from fcnlib import data  # noqa: E402

DEFAULT_MODELS = [
    "deeplabv3plus_resnet18",
    "smp_deeplabv3plus_resnet18",
]
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def parse_size(text: str) -> tuple[int, int]:
    """``"128"`` -> ``(128, 128)``; ``"96x128"`` -> ``(96, 128)``."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 16:
        raise argparse.ArgumentTypeError(f"a size is S or HxW with sides >= 16, got {text!r}")
    return (values[0], values[-1])


def arm(name: str, memory_format, batch, num_classes: int, lr: float, steps: int):
    """A fresh model, its optimizer and loss; returns ``prepare() -> go`` for ``interleaved``,
    where ``go()`` runs ``steps`` training steps on ``batch``."""
    torch.manual_seed(0)
    model = MODELS[name][0](num_classes).to(memory_format=memory_format).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss(ignore_index=data.ShapesScenes.ignore_index)
    x, y = batch[0].contiguous(memory_format=memory_format), batch[1]

    def go():
        for _ in range(steps):
            train_step(model, opt, criterion, x, y)

    return lambda: go


def measure(size, args, names) -> list[dict]:
    """Every (model, format) at ``size``, interleaved; one row each."""
    scenes = data.ShapesScenes("train", args.batch_size, image_size=size, seed=0)
    batch = tuple(map(torch.stack, zip(*(scenes[i] for i in range(len(scenes))))))  # drawn once
    k = data.ShapesScenes.num_classes
    arms = {
        (name, fmt): arm(name, FORMATS[fmt], batch, k, args.lr, args.steps)
        for name in names
        for fmt in args.formats
    }
    for prepare in arms.values():  # warm-up beyond interleaved's one untimed call
        go = prepare()
        for _ in range(max(args.warmup - 1, 0)):
            go()
    times = interleaved(arms, args.repeats)
    rows = []
    for (name, fmt), t in times.items():
        ref = times[(args.reference, fmt)] if (args.reference, fmt) in times else None
        ratio = paired_ratio(ref, t) if ref is not None else None  # > 1: faster than reference
        per_step = statistics.median(t) / args.steps
        rows.append(
            {
                "size": list(size),
                "model": name,
                "family": MODELS[name][1],
                "format": fmt,
                "images_per_s": args.batch_size / per_step,
                "ms_per_step": 1000 * per_step,
                "speed_vs_reference": None if ratio is None else ratio[0],
                "speed_vs_reference_range": None if ratio is None else [ratio[1], ratio[2]],
                "repeat_seconds": t,
            }
        )
        print(
            f"{size[0]}x{size[1]} {name:32} {fmt:13} {rows[-1]['images_per_s']:6.1f} img/s"
            + ("" if ratio is None else f"  x{ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}]"),
            flush=True,
        )
    return rows


def write_report(args, rows, machine) -> None:
    lines = [
        "# Training speed, side by side",
        "",
        f"`python benchmarks/train_speed.py {' '.join(sys.argv[1:])}`".replace("` ", "`"),
        "",
        f"Run on {machine['date (UTC)'][:10]}. Machine: {machine['CPU']}, "
        f"{machine['torch threads (intra-op)']} threads; torch {machine['torch']}. Batch "
        f"{args.batch_size} of built-in scenes, AdamW, cross-entropy, random weights; "
        f"{args.repeats} interleaved repeats of {args.steps} steps per model after "
        f"{args.warmup} untimed steps. Load average (1/5/15 min) at the start "
        f"{machine['load average at start (1/5/15 min)']}, at the end {machine['load at end']}.",
        "",
        f"Speed against `{args.reference}` (same size and format) is the median of the "
        "per-repeat ratios of its step time to the model's: above 1, faster; the range is the "
        "smallest and largest ratio.",
        "",
        "| size | model | from | format | training images/s | ms per step | "
        "speed against the reference | range |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in rows:
        vs = r["speed_vs_reference"]
        rng = r["speed_vs_reference_range"]
        lines.append(
            f"| {r['size'][0]} x {r['size'][1]} | `{r['model']}` | {r['family']} | {r['format']} "
            f"| {r['images_per_s']:.1f} | {r['ms_per_step']:.0f} | "
            + ("n/a | n/a |" if vs is None else f"{vs:.3f} | {rng[0]:.3f}–{rng[1]:.3f} |")
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    record = {
        "machine": machine,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "rows": rows,
    }
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=list(MODELS))
    p.add_argument("--reference", default="smp_deeplabv3plus_resnet18", choices=list(MODELS))
    p.add_argument("--sizes", nargs="+", type=parse_size, default=[(64, 64), (96, 128), (128, 128)])
    p.add_argument("--formats", nargs="+", default=["nchw"], choices=list(FORMATS))
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--steps", type=int, default=3, help="training steps per timed repeat")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps of each model first")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--quick", action="store_true", help="tiny run: checks the script works")
    p.add_argument("--out", type=Path, default=HERE / "results" / "train_speed.md")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.batch_size, args.steps, args.repeats, args.warmup = [(32, 32)], 2, 1, 2, 1
    for flag in ("batch_size", "steps", "repeats", "warmup"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = available(args.models)
    missing = sorted(set(args.models) - set(names))
    if missing:
        print(f"skipped (package not installed): {', '.join(missing)}")
    if not names:
        raise SystemExit("no model to time: every one named needs a package that is missing")
    machine = machine_info()
    rows = [row for size in args.sizes for row in measure(size, args, names)]
    machine["load at end"] = loadavg()
    write_report(args, rows, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
