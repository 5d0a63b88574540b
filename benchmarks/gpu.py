"""GPU throughput: fp32 vs TF32 vs mixed precision (bf16, fp16) vs channels_last.

    python benchmarks/gpu.py --out benchmarks/results/gpu.md     # on a CUDA machine
    python benchmarks/gpu.py --dry-run                          # checks the script on the CPU

For FCN-ResNet18 and DeepLab-ResNet50 (output stride 16) at 512 x 512, every combination of
precision (fp32 with TF32 off, fp32 with TF32 convolutions as PyTorch does by default,
autocast bf16, autocast fp16 with a gradient scaler) and memory format (NCHW,
channels_last) is timed for training (forward, cross-entropy, backward, SGD step) and
inference (forward + argmax under ``inference_mode``), with ``cudnn.benchmark`` on. Then
the library's own paths on the same GPU: ``engine.fit`` with its defaults on a CPU-held
data set (pinned memory, non-blocking copies) and ``inference.predict``; and the rate at
which ``ShapesScenes`` generates 512 px images, so one sees whether data keeps up.

Without CUDA the script refuses to run unless ``--dry-run`` is given; a dry run uses tiny
sizes on the CPU and its report says, on its first line, that it holds no GPU figures.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py beside it

from common import ROOT, machine_info, mean_step_seconds, train_step  # noqa: E402

from fcnlib import engine, inference, models  # noqa: E402
from fcnlib.data import ShapesScenes  # noqa: E402

NUM_CLASSES = ShapesScenes.num_classes
MODELS = {"fcn_resnet18": "FCN-ResNet18", "deeplab_resnet50": "DeepLab-ResNet50 (OS16)"}
# name, autocast dtype, TF32 allowed for convolutions and matmuls
PRECISIONS = [
    ("fp32 (TF32 off)", None, False),
    ("fp32 (TF32 on, PyTorch's default for convs)", None, True),
    ("AMP bf16", torch.bfloat16, True),
    ("AMP fp16 + GradScaler", torch.float16, True),
]
FORMATS = [("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gib(device: torch.device) -> float:
    return (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    )


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


# PyTorch's defaults: TF32 on for cuDNN convolutions, off for matmuls
TF32_DEFAULTS = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)


def set_tf32(conv: bool, matmul: bool) -> None:
    torch.backends.cudnn.allow_tf32 = conv
    torch.backends.cuda.matmul.allow_tf32 = matmul


def timed(step, device, warmup: int, steps: int) -> float:
    """Seconds per step: ``warmup`` untimed steps, the peak-memory counter reset, then the
    mean over ``steps`` (``common.mean_step_seconds``, which synchronises CUDA)."""
    for _ in range(warmup):
        step()
    sync(device)
    reset_peak(device)
    return mean_step_seconds(step, steps)


def measure(name, dtype, tf32, fmt, a, device) -> dict:
    """Training and inference images/s and peak memory for one configuration."""
    set_tf32(tf32, tf32)
    torch.manual_seed(0)
    model = models.build(name, NUM_CLASSES).to(device, memory_format=fmt)
    x = torch.rand(a.batch, 3, a.size, a.size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, NUM_CLASSES, (a.batch, a.size, a.size), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    criterion = nn.CrossEntropyLoss()

    def train():
        train_step(model, opt, criterion, x, y, autocast_dtype=dtype, scaler=scaler)

    def infer_step():
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=dtype, enabled=dtype is not None),
        ):
            model(x).argmax(1)

    row = {}
    try:  # inference first, so its peak holds no gradients or optimizer state
        model.eval()
        row["infer_ips"] = a.batch / timed(infer_step, device, a.warmup, a.steps)
        row["infer_gib"] = peak_gib(device)
        model.train()
        row["train_ips"] = a.batch / timed(train, device, a.warmup, a.steps)
        row["train_gib"] = peak_gib(device)
    except torch.cuda.OutOfMemoryError:
        row["error"] = "out of memory"
    finally:
        set_tf32(*TF32_DEFAULTS)
    return row


def library_paths(name, a, device) -> dict:
    """``engine.fit`` with its defaults and ``inference.predict``, images/s."""
    torch.manual_seed(0)
    n = a.batch * a.steps
    data = TensorDataset(
        torch.rand(n, 3, a.size, a.size), torch.randint(0, NUM_CLASSES, (n, a.size, a.size))
    )
    model = models.build(name, NUM_CLASSES)
    with contextlib.redirect_stderr(io.StringIO()):
        hist = engine.fit(model, data, epochs=2, batch_size=a.batch, device=device, progress=False)
    out = {"fit_ips": n / hist["seconds"][-1]}  # the second epoch: warm caches, tuned kernels
    x = data.tensors[0][: a.batch * a.steps].to(device)
    inference.predict(model, x[: a.batch], batch_size=a.batch)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    inference.predict(model, x, batch_size=a.batch)
    sync(device)
    out["predict_ips"] = len(x) / (time.perf_counter() - t0)
    return out


def data_rates(a) -> dict:
    """ShapesScenes images/s at ``a.size`` px in one process and with DataLoader workers."""
    n = a.data_images
    ds = ShapesScenes("train", n, a.size)
    t0 = time.perf_counter()
    for i in range(n):
        ds[i]
    out = {"one process": n / (time.perf_counter() - t0)}
    workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if workers > 1:
        loader = DataLoader(ds, batch_size=8, num_workers=workers)
        t0 = time.perf_counter()
        for _ in loader:
            pass
        out[f"{workers} workers"] = n / (time.perf_counter() - t0)
    return out


def machine(device: torch.device, dry: bool) -> dict:
    """``common.machine_info`` (with the GPU) and the TF32 defaults."""
    info = machine_info(device)
    if device.type != "cuda":
        info["device"] = "CPU (dry run: not GPU figures)" if dry else "CPU"
    info["TF32 defaults (cuDNN convs, matmuls)"] = TF32_DEFAULTS
    return info


def _gib(v: float) -> str:
    return "n/a" if v != v else f"{v:.2f}"


def report(a, device, info, rows, lib, data) -> str:
    L = []
    add = L.append
    if a.dry_run:
        add("**DRY RUN on the CPU: these are not GPU figures; they only check the script.**\n")
    add("# GPU throughput: precision and memory format\n")
    add(
        f"Written by `python benchmarks/gpu.py`. Batch {a.batch}, {a.size} x {a.size} px, "
        f"{a.warmup} warm-up and {a.steps} timed steps per row, `cudnn.benchmark = True` "
        "on CUDA. "
        "Training step: forward, cross-entropy, backward, SGD with momentum; inference: "
        "forward + argmax under `inference_mode`. Peak memory: `torch.cuda.max_memory_allocated`.\n"
    )
    add("## Machine\n")
    add("| | |\n|---|---|")
    for k, v in info.items():
        add(f"| {k} | {v} |")
    for name, label in MODELS.items():
        if name not in rows:
            continue
        add(f"\n## {label}\n")
        add(
            "| precision | memory format | train (img/s) | vs fp32 | train peak (GiB) | "
            "inference (img/s) | vs fp32 | inference peak (GiB) |"
        )
        add("|---|---|---|---|---|---|---|---|")
        base = rows[name][0][2]
        for prec, fmt, r in rows[name]:
            if "error" in r:
                add(f"| {prec} | {fmt} | {r['error']} | | | | | |")
                continue
            add(
                f"| {prec} | {fmt} | {r['train_ips']:.1f} | "
                f"{r['train_ips'] / base.get('train_ips', float('nan')):.2f}x | "
                f"{_gib(r['train_gib'])} | {r['infer_ips']:.1f} | "
                f"{r['infer_ips'] / base.get('infer_ips', float('nan')):.2f}x | {_gib(r['infer_gib'])} |"
            )
        if name in lib:
            ok = [r for _, _, r in rows[name] if "error" not in r]
            best_t = max(r["train_ips"] for r in ok)
            best_i = max(r["infer_ips"] for r in ok)
            add(
                f"\nThe library's own paths: `engine.fit` (defaults: `amp='auto'`, "
                f"`channels_last='auto'`, AdamW, data from a CPU `TensorDataset` through pinned "
                f"memory) **{lib[name]['fit_ips']:.1f} img/s** ({lib[name]['fit_ips'] / best_t:.2f}x "
                f"the best training row); `inference.predict` **{lib[name]['predict_ips']:.1f} "
                f"img/s** ({lib[name]['predict_ips'] / best_i:.2f}x the best inference row)."
            )
    add(f"\n## Data: ShapesScenes at {a.size} px\n")
    add("| loader | images/s |")
    add("|---|---|")
    for k, v in data.items():
        add(f"| {k} | {v:.1f} |")
    best = max(
        (r["train_ips"] for rs in rows.values() for _, _, r in rs if "error" not in r),
        default=float("nan"),
    )
    add(
        f"\nThe fastest training row above runs at {best:.1f} img/s; the fastest way of "
        f"generating the data on the fly delivers {max(data.values()) / best:.2f}x that rate."
    )
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="report path (default benchmarks/results/gpu.md)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    a = ap.parse_args(argv)
    if a.dry_run:
        a.size, a.batch, a.warmup, a.steps = min(a.size, 64), 2, 1, 1
        a.data_images = 4
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            print(
                "gpu.py needs a CUDA GPU and none is available here; "
                "use --dry-run to check the script on the CPU",
                file=sys.stderr,
            )
            return 2
        a.data_images = 64
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
    out = a.out or ROOT / "benchmarks" / (
        "out/results_gpu_dryrun.md" if a.dry_run else "results/gpu.md"
    )
    info = machine(device, a.dry_run)
    rows, lib = {}, {}
    for name in a.models:
        rows[name] = []
        for prec, dtype, tf32 in PRECISIONS:
            if (
                dtype == torch.bfloat16
                and device.type == "cuda"
                and not torch.cuda.is_bf16_supported()
            ):
                rows[name].append((prec, "-", {"error": "bf16 not supported on this GPU"}))
                continue
            for fmt_name, fmt in FORMATS:
                r = measure(name, dtype, tf32, fmt, a, device)
                rows[name].append((prec, fmt_name, r))
                print(name, prec, fmt_name, {k: round(v, 2) for k, v in r.items() if k != "error"},
                      r.get("error", ""), flush=True)  # fmt: skip
        lib[name] = library_paths(name, a, device)
        print(name, "library paths", lib[name], flush=True)
    data = data_rates(a)
    print("data", data, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(a, device, info, rows, lib, data))
    results = {
        "dry_run": a.dry_run,
        "settings": {k: v for k, v in vars(a).items() if k != "out"},
        "machine": info,
        "rows": {
            name: [{"precision": p, "format": f, **r} for p, f, r in model_rows]
            for name, model_rows in rows.items()
        },
        "library": lib,
        "data": data,
    }
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out} and its .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
