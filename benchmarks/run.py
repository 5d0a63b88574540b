"""Speed and memory of the course on the CPU, measured side by side in one run.

    python benchmarks/run.py                  # full run: benchmarks/results/run.md (+ .json, scaling.png)
    python benchmarks/run.py --quick          # smoke run (well under a minute): benchmarks/out/
    python benchmarks/run.py --sections overhead,data

Sections of the report:

1. ``engine.fit`` against a bare PyTorch loop (same model, data in memory, optimizer,
   schedule and batch size); goal: ratio at most 1.05.
2. ``inference.predict`` against a bare forward + argmax under ``inference_mode``; goal 1.05.
3. ``ShapesScenes`` generation rate against the training rate of the fastest model; goal:
   data at least 5x faster. Also ``fit`` on data generated on the fly, with and without
   DataLoader workers.
4. Every registered model's training and inference throughput and peak memory.
5. How cost grows with resolution (all-conv, encoder-decoder, FCN, DeepLab at OS16 and OS8).
6. The whole course's wall time, notebook by notebook (skipped with ``--quick``).
7. Which fast defaults ``engine`` and ``inference`` apply (behavioural probes).

Overheads are measured by interleaving the two arms (ABBA order, after one untimed warm-up
of each) and taking the median of the per-repeat ratios, so slow drifts in machine load
cancel. Throughputs use the median step time. Nothing here is a pass/fail test: the report
says which goals are met, and the numbers are only as good as the machine was quiet (the
load average is recorded at the start and end of the run).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime
import io
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))  # common.py and report.py beside it

from common import (  # noqa: E402
    MEMORY,
    ROOT,
    bare_train,
    calibrate_memory,
    interleaved,
    loadavg,
    machine_info,
    median_step_seconds,
    paired_ratio,
)
from report import write_report  # noqa: E402

from fcnlib import analysis, engine, inference, models, optim  # noqa: E402
from fcnlib.data import ShapesScenes  # noqa: E402

NUM_CLASSES = ShapesScenes.num_classes
SECTIONS = ("overhead", "data", "models", "course", "defaults")


# ----------------------------------------------------------------------------- settings
@dataclass
class Settings:
    """Every size of the run; ``quick()`` shrinks them to a smoke run."""

    quick: bool = False
    repeats: int = 9  # interleaved repeats of each overhead arm
    # (model, image size, data-set size, batch size, epochs) of the fit-overhead workloads;
    # the first is nearly free to compute, so it shows the loop's own cost per step
    fit_workloads: tuple = (
        ("perpixel", 16, 512, 16, 2),
        ("allconv", 32, 256, 16, 1),
        ("encoder_decoder", 64, 128, 16, 1),
    )
    # (model, image size, number of images, batch size) of the predict-overhead workloads
    predict_workloads: tuple = (
        ("perpixel", 16, 512, 16),
        ("allconv", 64, 128, 16),
        ("encoder_decoder", 64, 128, 16),
    )
    sizes: tuple = (64, 128, 256)
    batch: int = 8  # batch size of the model throughput measurements
    min_time: float = 1.5  # seconds of timed steps per throughput measurement
    model_names: tuple | None = None  # None: every registered model
    data_images: dict = field(default_factory=lambda: {32: 64, 64: 256, 128: 128, 256: 48})
    workers: tuple = (1, 2)
    e2e: tuple = ("allconv", 64, 128, 16)  # fit on generated data: model, size, images, batch

    @classmethod
    def quick_run(cls) -> Settings:
        return cls(
            quick=True,
            repeats=3,
            fit_workloads=(("perpixel", 16, 64, 16, 1), ("allconv", 32, 32, 8, 1)),
            predict_workloads=(("perpixel", 16, 64, 16), ("allconv", 32, 32, 8)),
            sizes=(32, 64),
            batch=2,
            min_time=0.0,
            model_names=(
                "perpixel",
                "allconv",
                "encoder_decoder",
                "fcn8s",
                "deeplab_resnet18",
                "deeplab_resnet18@os8",
            ),
            data_images={32: 32, 64: 32},
            workers=(2,),
            e2e=("allconv", 32, 32, 8),
        )


# ----------------------------------------------------------------------------- timing helpers
def overhead_stats(num: list[float], den: list[float]) -> dict:
    """Ratio statistics of arm ``num`` against arm ``den`` (times of interleaved repeats).

    ``ratio`` is the median of the per-repeat ratios, ``best_ratio`` the ratio of the best
    (least disturbed) times, ``diff_s`` the median per-repeat difference in seconds.
    """
    med, lo, hi = paired_ratio(num, den)
    return {
        "ratio": med,
        "ratio_min": lo,
        "ratio_max": hi,
        "best_ratio": min(num) / min(den),
        "diff_s": statistics.median(a - b for a, b in zip(num, den)),
    }


# ----------------------------------------------------------------------------- data helpers
def materialise(size: int, n: int, seed: int = 0) -> TensorDataset:
    """``n`` ShapesScenes images of ``size`` px held in memory: ``(N x 3 x S x S, N x S x S)``."""
    ds = ShapesScenes("train", n, size, seed=seed)
    images, masks = zip(*(ds[i] for i in range(n)))
    return TensorDataset(torch.stack(images), torch.stack(masks))


def build(spec: str) -> nn.Module:
    """``"name"`` or ``"name@os8"`` (a DeepLab at output stride 8), seeded."""
    torch.manual_seed(0)
    name, _, variant = spec.partition("@")
    kw = {"output_stride": int(variant[2:])} if variant.startswith("os") else {}
    return models.build(name, NUM_CLASSES, **kw)


def label(spec: str, model: nn.Module | None = None) -> str:
    """The model's name, with its output stride for ResNet-based models."""
    name = spec.partition("@")[0]
    os_ = getattr(model, "output_stride", None) if model is not None else None
    return f"{name} (OS{os_})" if os_ and "resnet" in name else name


def shapes(n: int, size: int, cache: bool = False) -> ShapesScenes:
    """A ShapesScenes training set of ``n`` images of ``size`` px."""
    return ShapesScenes("train", n, size, cache=cache)


# ----------------------------------------------------------------------------- 1. fit overhead
def bare_fit(model, data, *, epochs, batch_size, lr=1e-3, weight_decay=1e-4, seed=0):
    """The loop one writes by hand (:func:`common.bare_train`): AdamW (fused, as
    ``engine.fit`` builds it), poly learning rate per step, cross-entropy.

    It draws the data order and seeds exactly as ``engine.fit`` does (``engine.epoch_seed``),
    so both end with the same weights: a check that the two arms do the same work.
    """
    torch.manual_seed(seed)
    total = epochs * math.ceil(len(data) / batch_size)
    opt = optim.build_optimizer(model, "adamw", lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.0, 1 - i / total) ** 0.9)
    criterion = nn.CrossEntropyLoss(ignore_index=255)
    for epoch in range(epochs):
        torch.manual_seed(engine.epoch_seed(seed, epoch))
        g = torch.Generator().manual_seed(engine.epoch_seed(seed, epoch))
        bare_train(
            model, DataLoader(data, batch_size, shuffle=True, generator=g), opt, criterion, sched
        )


def fit_overhead_one(name, size, n, batch, epochs, repeats) -> dict:
    """``engine.fit`` against :func:`bare_fit` on one workload (see section 1)."""
    data = materialise(size, n)
    model0 = build(name)
    # both arms in N C H W: the loop's overhead, not the memory format's gain (notebook 08)
    kw = dict(epochs=epochs, batch_size=batch, device="cpu", channels_last=False)

    def fit_quiet(m):
        engine.fit(m, data, progress=False, **kw)

    def fit_bar(m):  # the default progress bar, written to a string instead of stderr
        with contextlib.redirect_stderr(io.StringIO()):
            engine.fit(m, data, progress=True, **kw)

    def bare(m):
        bare_fit(m, data, epochs=epochs, batch_size=batch)

    def arm(fn):
        def prepare():  # a fresh copy of the same initial weights, untimed
            m = copy.deepcopy(model0)
            return lambda: fn(m)

        return prepare

    # same work? train once each from the same weights and compare
    m_fit, m_bare = copy.deepcopy(model0), copy.deepcopy(model0)
    fit_quiet(m_fit)
    bare(m_bare)
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(m_fit.state_dict().values(), m_bare.state_dict().values())
        if a.is_floating_point()
    )
    times = interleaved(
        {"bare": arm(bare), "fit": arm(fit_quiet), "fit_bar": arm(fit_bar)}, repeats
    )
    steps = epochs * math.ceil(n / batch)
    row = {
        "workload": f"{name}, {size} px, {n} images, batch {batch}, {epochs} epoch(s) = {steps} steps",
        "steps": steps,
        "bare_s": statistics.median(times["bare"]),
        "fit_s": statistics.median(times["fit"]),
        **overhead_stats(times["fit"], times["bare"]),
        "ratio_bar": paired_ratio(times["fit_bar"], times["bare"])[0],
        "max_weight_diff": diff,
    }
    row["per_step_overhead_ms"] = 1000 * row["diff_s"] / steps
    return row


def fit_overhead(s: Settings, log) -> list[dict]:
    rows = []
    for name, size, n, batch, epochs in s.fit_workloads:
        row = fit_overhead_one(name, size, n, batch, epochs, s.repeats)
        rows.append(row)
        log(
            f"fit overhead {name}@{size}: ratio {row['ratio']:.3f} "
            f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}), weights Δ {row['max_weight_diff']:.1e}"
        )
    return rows


# ----------------------------------------------------------------------------- 2. predict overhead
def bare_predict(model, images, batch_size):
    """``model(x).argmax(1)`` over chunks of ``batch_size``, under ``inference_mode``."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(c).argmax(1) for c in images.split(batch_size)])


def predict_overhead_one(name, size, n, batch, repeats) -> dict:
    """``inference.predict`` against :func:`bare_predict` on one workload (see section 2)."""
    images = materialise(size, n).tensors[0]
    model = build(name).eval()
    same = torch.equal(
        inference.predict(model, images, batch_size=batch), bare_predict(model, images, batch)
    )
    times = interleaved(
        {
            "bare": lambda: lambda: bare_predict(model, images, batch),
            "predict": lambda: lambda: inference.predict(model, images, batch_size=batch),
        },
        repeats,
    )
    return {
        "workload": f"{name}, {n} images of {size} px, batch {batch}",
        "bare_s": statistics.median(times["bare"]),
        "predict_s": statistics.median(times["predict"]),
        **overhead_stats(times["predict"], times["bare"]),
        "same_masks": same,
    }


def predict_overhead(s: Settings, log) -> list[dict]:
    rows = []
    for name, size, n, batch in s.predict_workloads:
        row = predict_overhead_one(name, size, n, batch, s.repeats)
        rows.append(row)
        log(
            f"predict overhead {name}@{size}: ratio {row['ratio']:.3f} "
            f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}), same masks {row['same_masks']}"
        )
    return rows


# ----------------------------------------------------------------------------- 4. models
def forward_gflops(model: nn.Module, size: int) -> float:
    """Forward GFLOPs of one ``size`` x ``size`` image, as ``fcnlib.analysis.count_flops``
    counts them (the one FLOP definition of the course, stated in its docstring)."""
    return analysis.count_flops(model, size) / 1e9


def measure_model(spec: str, size: int, s: Settings) -> dict:
    """Inference and training throughput (images/s, median step) and peak memory (MiB)."""
    model = build(spec)
    x = torch.rand(s.batch, 3, size, size)
    y = torch.randint(0, NUM_CLASSES, (s.batch, size, size))
    row = {
        "model": label(spec, model),
        "spec": spec,
        "size": size,
        "batch": s.batch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops": forward_gflops(model, size),
        "act_mib": analysis.activation_memory(model, size) / 2**20 * s.batch,
    }
    model.eval()
    with torch.inference_mode():
        model(x)  # warm-up
        MEMORY.reset()
        t = median_step_seconds(lambda: model(x).argmax(1), s.min_time)
        row["infer_mem_mib"] = MEMORY.peak()
    row["infer_ips"] = s.batch / t

    model.train()
    opt = optim.build_optimizer(model, "adamw", lr=1e-4)  # fused AdamW, as engine.fit uses
    criterion = nn.CrossEntropyLoss()

    def step():
        bare_train(model, [(x, y)], opt, criterion)

    step()  # warm-up; also creates the optimizer state
    opt.zero_grad(set_to_none=True)  # so the gradients count in the peak, not the baseline
    MEMORY.reset()
    t = median_step_seconds(step, s.min_time)
    row["train_mem_mib"] = MEMORY.peak()
    row["train_ips"] = s.batch / t
    # the optimizer update alone (the gradients of the last step are still there): a cost
    # per step that does not grow with the image size
    row["opt_ms"] = 1000 * median_step_seconds(opt.step, s.min_time / 3)
    return row


COURSE_ORDER = (
    "perpixel",
    "allconv",
    "encoder_decoder",
    "fcn32s",
    "fcn16s",
    "fcn8s",
    "fcn_resnet",
    "deeplab",
)


def _course_order(name: str) -> tuple:
    """Sort key: the order in which the course introduces the models, then backbone depth."""
    fam = next((i for i, p in enumerate(COURSE_ORDER) if name.startswith(p)), len(COURSE_ORDER))
    m = re.search(r"resnet(\d+)", name)
    return fam, int(m.group(1)) if m else 0, name


def model_specs(s: Settings) -> list[str]:
    if s.model_names is not None:
        names = [m for m in s.model_names if m.partition("@")[0] in models.available()]
    else:
        names = sorted(models.available(), key=_course_order)
        for extra in ("deeplab_resnet18", "deeplab_resnet50"):  # output stride 8 as well
            if extra in names:
                names.insert(names.index(extra) + 1, extra + "@os8")
    return names


def model_table(s: Settings, log) -> list[dict]:
    rows = []
    for spec in model_specs(s):
        for size in s.sizes:
            try:
                row = measure_model(spec, size, s)
            except Exception as e:  # a model that fails must not hide the others
                row = {"model": label(spec), "spec": spec, "size": size, "error": repr(e)}
            rows.append(row)
            if "error" in row:
                log(f"model {spec}@{size}: ERROR {row['error']}")
            else:
                log(
                    f"model {spec}@{size}: train {row['train_ips']:.1f} img/s, "
                    f"infer {row['infer_ips']:.1f} img/s, {row['train_mem_mib']:.0f} MiB"
                )
    return rows


# ----------------------------------------------------------------------------- 5. scaling
SCALING_FAMILIES = (
    ("all-conv", "allconv"),
    ("encoder-decoder", "encoder_decoder"),
    ("FCN-8s", "fcn8s"),
    ("FCN-ResNet18", "fcn_resnet18"),
    ("DeepLab-ResNet18 OS16", "deeplab_resnet18"),
    ("DeepLab-ResNet18 OS8", "deeplab_resnet18@os8"),
    ("DeepLab-ResNet50 OS16", "deeplab_resnet50"),
    ("DeepLab-ResNet50 OS8", "deeplab_resnet50@os8"),
)


def _exponent(sizes, values) -> float:
    """Least-squares slope of log(value) against log(pixels): cost ~ pixels ** slope."""
    xs = [math.log(v * v) for v in sizes]
    ys = [math.log(v) for v in values]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def scaling(rows: list[dict], sizes) -> list[dict]:
    by = {(r["spec"], r["size"]): r for r in rows if "error" not in r}
    out = []
    for fam, spec in SCALING_FAMILIES:
        rs = [by.get((spec, size)) for size in sizes]
        if any(r is None for r in rs):
            continue
        f = {
            "family": fam,
            "spec": spec,
            "gflops": [r["gflops"] for r in rs],
            "train_ms": [1000 / r["train_ips"] for r in rs],
            "infer_ms": [1000 / r["infer_ips"] for r in rs],
            "train_mem": [r["train_mem_mib"] for r in rs],
        }
        for k in ("gflops", "train_ms", "infer_ms"):
            f[f"exp_{k}"] = _exponent(sizes, f[k])
        f["exp_train_mem"] = (
            _exponent(sizes, [max(v, 1e-3) for v in f["train_mem"]])
            if MEMORY.available
            else float("nan")
        )
        out.append(f)
    return out


def plot_scaling(fams: list[dict], sizes, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for f in fams:
        axes[0].plot(sizes, f["train_ms"], marker="o", label=f["family"])
        axes[1].plot(sizes, f["gflops"], marker="o", label=f["family"])
    for ax, title in zip(axes, ("training time per image (ms, CPU)", "forward GFLOPs per image")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sizes, [f"{v}" for v in sizes])
        ax.set_xlabel("image side (px)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- 3. data
def data_rates(s: Settings, model_rows: list[dict], log) -> dict:
    """ShapesScenes images/s in one process and with DataLoader workers, per size."""
    fastest = {}
    for r in model_rows:
        if "error" not in r and r["train_ips"] > fastest.get(r["size"], {}).get("train_ips", 0):
            fastest[r["size"]] = r
    rows = []
    for size in s.sizes:
        n = s.data_images.get(size, 32)
        ds = shapes(n, size, cache=True)
        t0 = time.perf_counter()
        for i in range(n):
            ds[i]
        row = {"size": size, "images": n, "single": n / (time.perf_counter() - t0)}
        t0 = time.perf_counter()
        for i in range(n):  # the second pass reads the cache
            ds[i]
        row["cached"] = n / (time.perf_counter() - t0)
        for w in s.workers:
            loader = DataLoader(shapes(n, size), batch_size=16, num_workers=w)
            t0 = time.perf_counter()
            it = iter(loader)
            next(it)
            first = time.perf_counter() - t0
            for _ in it:
                pass
            row[f"workers{w}"] = n / (time.perf_counter() - t0)
            row[f"first_batch{w}"] = first
        ref = fastest.get(size)
        row["fastest_model"] = ref["model"] if ref else None
        row["fastest_train_ips"] = ref["train_ips"] if ref else float("nan")
        row["ratio"] = row["single"] / row["fastest_train_ips"]
        row["ratio_cached"] = row["cached"] / row["fastest_train_ips"]
        rows.append(row)
        log(f"data {size}px: {row['single']:.0f} img/s single, ratio {row['ratio']:.1f}x")

    # engine.fit, two epochs, on data held in memory, generated on the fly, or cached
    name, size, n, batch = s.e2e
    runs = [("in memory (TensorDataset)", lambda: materialise(size, n), 0)]
    for cache in (False, True):
        for w in (0, *s.workers):
            what = f"ShapesScenes(cache={cache}), num_workers={w}"
            runs.append((what, lambda cache=cache: shapes(n, size, cache=cache), w))
    e2e = []
    for what, make_data, workers in runs:
        model, data = build(name), make_data()
        hist = engine.fit(
            model, data, epochs=2, batch_size=batch, num_workers=workers, progress=False
        )
        e2e.append({"data": what, "ips": [n / t for t in hist["seconds"]]})
    log("fit on generated data: " + ", ".join(f"{r['ips'][-1]:.0f}" for r in e2e) + " img/s")
    return {
        "rows": rows,
        "e2e": e2e,
        "e2e_workload": f"{name}, {size} px, {n} images, batch {batch}",
    }


# ----------------------------------------------------------------------------- 6. course
def course_times(log, threads: int | None = None) -> list[dict]:
    """Execute every notebook in order as ``make course`` does; wall seconds and outcome.

    The notebooks run in a fresh copy of ``notebooks/`` (no checkpoints from earlier runs,
    nothing written into the working tree), as on a learner's first run.
    """
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work, out = Path(tmp) / "notebooks", Path(tmp) / "executed"
        ignore = shutil.ignore_patterns("checkpoints", "outputs", ".ipynb_checkpoints")
        shutil.copytree(ROOT / "notebooks", work, ignore=ignore)
        for nb in sorted(work.glob("[0-9][0-9]_*.ipynb")):
            cmd = [
                sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                str(nb), "--output-dir", str(out), "--ExecutePreprocessor.timeout=900",
                "--ExecutePreprocessor.kernel_name=python3",
            ]  # fmt: skip
            t0 = time.perf_counter()
            p = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
            secs = time.perf_counter() - t0
            err = "" if p.returncode == 0 else _last_error(p.stderr)
            rows.append(
                {"notebook": nb.name, "seconds": secs, "ok": p.returncode == 0, "error": err}
            )
            log(f"course {nb.name}: {secs:.0f} s {'ok' if p.returncode == 0 else 'FAILED'}")
    return rows


def _last_error(stderr: str) -> str:
    """The exception line of a failed notebook (and the line after it), colour codes removed."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in stderr.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return "?"
    pattern = re.compile(r"[\w.]*(Error|Exception)\b")
    i = max((i for i, ln in enumerate(lines) if pattern.match(ln)), default=len(lines) - 1)
    return " ".join(lines[i : i + 2])[:200]


# ----------------------------------------------------------------------------- 7. fast defaults
class _Probe(nn.Module):
    """A 1x1-conv model that records whether it ran under ``inference_mode``."""

    num_classes = NUM_CLASSES

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, NUM_CLASSES, 1)
        self.seen = None

    def forward(self, x):
        self.seen = torch.is_inference_mode_enabled()
        return self.conv(x)


def fast_defaults() -> list[tuple[str, str]]:
    """Behavioural probes of the defaults that do not need a GPU to observe."""
    out = []
    p = _Probe()
    inference.predict(p, torch.rand(2, 3, 16, 16))
    out.append(("inference.predict runs under torch.inference_mode", "yes" if p.seen else "no"))
    p = _Probe()
    data = TensorDataset(torch.rand(2, 3, 16, 16), torch.zeros(2, 16, 16, dtype=torch.long))
    engine.evaluate(p, data, device="cpu")
    out.append(
        (
            "engine.evaluate runs under torch.inference_mode",
            "yes" if p.seen else "no (torch.no_grad)",
        )
    )
    cuda = torch.device("cuda")
    ld = engine.make_loader(data, 1, True, device=cuda)
    out.append(("training loader pins memory when the device is CUDA", _yn(ld.pin_memory)))
    ld = engine.make_loader(data, 1, True, num_workers=2, device=cuda)
    out.append(("training loader keeps its workers between epochs", _yn(ld.persistent_workers)))
    return out


def _yn(b) -> str:
    return "yes" if b else "no"


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, few repeats")
    ap.add_argument("--out", type=Path, help="report path (default: benchmarks/results/run.md, "
                    "or benchmarks/out/results_quick.md with --quick)")  # fmt: skip
    ap.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    ap.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (default: torch's own choice, as in the notebooks); "
        "1 keeps timings sane on a CPU that other processes share",
    )
    ap.add_argument(
        "--render-from",
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the report from the results .json of an earlier run",
    )
    ap.add_argument(
        "--keep-from",
        type=Path,
        metavar="JSON",
        help="start from an earlier run's results and re-measure only --sections (e.g. "
        "--sections course after a notebook changed); the report dates every section",
    )
    args = ap.parse_args(argv)
    if args.render_from is not None:
        res = json.loads(args.render_from.read_text())
        known = {f.name for f in dataclasses.fields(Settings)}
        s = Settings(**{k: v for k, v in res["settings"].items() if k in known})
        s.data_images = {int(k): v for k, v in s.data_images.items()}
        out = args.out or args.render_from.with_suffix(".md")
        write_report(out, s, res)
        print(f"wrote {out}")
        return 0
    if args.threads is not None:
        if args.threads < 1:
            ap.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    bad = [x for x in sections if x not in SECTIONS]
    if bad:
        ap.error(f"--sections: unknown section(s) {bad}; choose from {SECTIONS}")
    s = Settings.quick_run() if args.quick else Settings()
    out = args.out or ROOT / "benchmarks" / (
        "out/results_quick.md" if s.quick else "results/run.md"
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.1f} s] {msg}", flush=True)

    res = {"settings": dataclasses.asdict(s), "machine": machine_info()}
    measured = {}
    if args.keep_from is not None:
        previous = json.loads(args.keep_from.read_text())
        if previous.get("settings", {}).get("quick") != s.quick:
            ap.error("--keep-from: that run's --quick setting differs from this one's")
        measured = previous.get("measured", {})
        res = {**previous, **res}
        res["machine_before"] = previous["machine"]
        res["wall_s_before"] = previous.get("wall_s_before", previous.get("wall_s"))
    now = datetime.datetime.now().isoformat(timespec="minutes")
    done = [x for x in sections if not (x == "course" and s.quick)]
    res["measured"] = {**measured, **{x: now for x in done}}
    res["calibration"] = calibrate_memory()
    log(
        f"machine: {res['machine']['CPU']}, load {res['machine']['load average at start (1/5/15 min)']}"
    )
    if "overhead" in sections:
        res["overhead"] = {"fit": fit_overhead(s, log), "predict": predict_overhead(s, log)}
    if "models" in sections or "data" in sections:
        res["models"] = model_table(s, log)
        res["scaling"] = scaling(res["models"], s.sizes)
        if res["scaling"]:
            png = out.with_name("scaling_quick.png" if s.quick else "scaling.png")
            plot_scaling(res["scaling"], s.sizes, png)
            res["plot"] = png.name
    if "data" in sections:
        res["data"] = data_rates(s, res["models"], log)
    if "course" in sections and not s.quick:
        res["course"] = course_times(log, args.threads)
        res["course_threads"] = args.threads
    if "defaults" in sections:
        res["defaults"] = fast_defaults()
    res["load_end"] = loadavg()
    res["wall_s"] = time.perf_counter() - start
    write_report(out, s, res)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
