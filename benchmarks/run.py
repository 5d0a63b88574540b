"""Speed and memory of the course on the CPU, measured side by side in one run.

    python benchmarks/run.py                  # full run: benchmarks/results.md (+ .json, scaling.png)
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
import ctypes
import dataclasses
import datetime
import gc
import inspect
import io
import json
import math
import os
import platform
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

import fcnlib
from fcnlib import engine, inference, models
from fcnlib.data import ShapesScenes

ROOT = Path(__file__).resolve().parent.parent
NUM_CLASSES = ShapesScenes.num_classes
SECTIONS = ("overhead", "data", "models", "course", "defaults")
OVERHEAD_GOAL = 1.05
DATA_GOAL = 5.0
NOTEBOOK_GOAL_S, COURSE_GOAL_S = 180.0, 900.0


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
    min_time: float = 1.5  # seconds of timed steps per measurement (at least min_steps)
    min_steps: int = 3
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
            min_steps=1,
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


# ----------------------------------------------------------------------------- machine
def machine_info() -> dict:
    """CPU, cores, torch and thread settings, date, commit and load average."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "CPU": cpu,
        "logical cores": os.cpu_count(),
        "cores usable by this process": usable,
        "torch": torch.__version__,
        "torch threads (intra-op)": torch.get_num_threads(),
        "oneDNN (mkldnn)": torch.backends.mkldnn.is_available(),
        "fcnlib": fcnlib.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git commit": commit or "unknown",
        "load average at start (1/5/15 min)": _loadavg(),
    }


def _loadavg() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


# ----------------------------------------------------------------------------- memory
class PeakMemory:
    """Peak resident memory of this process above a baseline (Linux only).

    ``reset()`` returns freed heap pages to the OS (``malloc_trim``), resets the kernel's
    high-water mark (``/proc/self/clear_refs``) and records the resident size; ``peak()`` is
    the high-water mark (``VmHWM``) minus that baseline, in MiB. It sees every allocation
    PyTorch and oneDNN make, which ``tracemalloc`` does not.
    """

    def __init__(self):
        self._libc = None
        with contextlib.suppress(OSError):
            self._libc = ctypes.CDLL("libc.so.6")
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._status("VmHWM")
            self.available = True
        except (OSError, KeyError):
            self.available = False
        self.base = 0.0

    @staticmethod
    def _status(key: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        raise KeyError(key)

    def reset(self) -> None:
        if not self.available:
            return
        gc.collect()
        if self._libc is not None:
            self._libc.malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
        self.base = self._status("VmRSS")

    def peak(self) -> float:
        return self._status("VmHWM") - self.base if self.available else float("nan")


MEMORY = PeakMemory()


def calibrate_memory(mib: int = 64) -> float:
    """What :class:`PeakMemory` reads for one freshly written tensor of ``mib`` MiB."""
    MEMORY.reset()
    x = torch.ones(mib * 2**20 // 4)
    del x
    return MEMORY.peak()


# ----------------------------------------------------------------------------- timing helpers
def interleaved(arms: dict, repeats: int) -> dict[str, list[float]]:
    """Time each arm ``repeats`` times in ABBA order after one untimed warm-up of each.

    ``arms`` maps a name to ``prepare() -> go``: ``prepare`` runs untimed (e.g. a fresh copy
    of the model) and returns the zero-argument callable that is timed.
    """
    for prepare in arms.values():
        prepare()()
    times = {name: [] for name in arms}
    names = list(arms)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            go = arms[name]()
            gc.collect()
            t0 = time.perf_counter()
            go()
            times[name].append(time.perf_counter() - t0)
    return times


def paired_ratio(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median, min and max of the per-repeat ratios ``num[i] / den[i]``."""
    r = [a / b for a, b in zip(num, den)]
    return statistics.median(r), min(r), max(r)


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


def step_times(step, min_time: float, min_steps: int) -> list[float]:
    """Run ``step()`` until at least ``min_steps`` steps and ``min_time`` seconds; per-step times."""
    times, start = [], time.perf_counter()
    while len(times) < min_steps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


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


_HAS_CACHE = "cache" in inspect.signature(ShapesScenes).parameters


def shapes(n: int, size: int, cache: bool = False) -> ShapesScenes:
    """A ShapesScenes training set; ``cache`` where this version of fcnlib has it."""
    return ShapesScenes("train", n, size, **({"cache": cache} if _HAS_CACHE else {}))


# ----------------------------------------------------------------------------- 1. fit overhead
def bare_fit(model, data, *, epochs, batch_size, lr=1e-3, weight_decay=1e-4, seed=0):
    """The loop one writes by hand: AdamW (fused, as ``engine.fit`` builds it), poly learning
    rate per step, cross-entropy.

    It draws the data order and seeds exactly as ``engine.fit`` does, so both end with the
    same weights: a check that the two arms do the same work.
    """
    torch.manual_seed(seed)
    total = epochs * math.ceil(len(data) / batch_size)
    opt = engine.build_optimizer(model, "adam", lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.0, 1 - i / total) ** 0.9)
    criterion = nn.CrossEntropyLoss(ignore_index=255)
    model.train()
    for epoch in range(epochs):
        torch.manual_seed(seed * 100_003 + epoch)
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        for images, targets in DataLoader(data, batch_size, shuffle=True, generator=g):
            loss = criterion(model(images), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()


def fit_overhead_one(name, size, n, batch, epochs, repeats) -> dict:
    """``engine.fit`` against :func:`bare_fit` on one workload (see section 1)."""
    data = materialise(size, n)
    model0 = build(name)
    kw = dict(epochs=epochs, batch_size=batch, device="cpu")

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
    """Forward GFLOPs of one ``size`` x ``size`` image (convolutions and matmuls), counted
    by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.rand(1, 3, size, size))
    model.train(was_training)
    return counter.get_total_flops() / 1e9


def activation_mib(model: nn.Module, size: int) -> float:
    """Feature-map MiB of one image's forward pass from ``fcnlib.analysis`` (NaN without it)."""
    try:
        from fcnlib import analysis
    except ImportError:
        return float("nan")
    return analysis.activation_memory(model, size) / 2**20


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
        "act_mib": activation_mib(model, size) * s.batch,
    }
    model.eval()
    with torch.inference_mode():
        model(x)  # warm-up
        MEMORY.reset()
        t = step_times(lambda: model(x).argmax(1), s.min_time, s.min_steps)
        row["infer_mem_mib"] = MEMORY.peak()
    row["infer_ips"] = s.batch / statistics.median(t)

    model.train()
    opt = engine.build_optimizer(model, "adam", lr=1e-4)  # fused AdamW, as engine.fit uses
    criterion = nn.CrossEntropyLoss()

    def train_step():
        loss = criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    train_step()  # warm-up; also creates the optimizer state
    opt.zero_grad(set_to_none=True)  # so the gradients count in the peak, not the baseline
    MEMORY.reset()
    t = step_times(train_step, s.min_time, s.min_steps)
    row["train_mem_mib"] = MEMORY.peak()
    row["train_ips"] = s.batch / statistics.median(t)
    # the optimizer update alone (the gradients of the last step are still there): a cost
    # per step that does not grow with the image size
    row["opt_ms"] = 1000 * statistics.median(step_times(opt.step, s.min_time / 3, s.min_steps))
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
        for i in range(n):  # the second pass reads the cache (when ShapesScenes has one)
            ds[i]
        row["cached"] = n / (time.perf_counter() - t0) if _HAS_CACHE else float("nan")
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
    for cache in (False, True) if _HAS_CACHE else (False,):
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
    if hasattr(engine, "make_loader"):
        cuda = torch.device("cuda")
        ld = engine.make_loader(data, 1, True, device=cuda)
        out.append(("training loader pins memory when the device is CUDA", _yn(ld.pin_memory)))
        ld = engine.make_loader(data, 1, True, num_workers=2, device=cuda)
        out.append(("training loader keeps its workers between epochs", _yn(ld.persistent_workers)))
    return out


def _yn(b) -> str:
    return "yes" if b else "no"


# ----------------------------------------------------------------------------- report
def _f(v, spec=".2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _goal(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_report(path: Path, s: Settings, res: dict) -> str:
    L = []
    add = L.append
    mode = "quick smoke run (`--quick`): sizes and repeats are cut down" if s.quick else "full run"
    add("# fcnlib benchmarks (CPU)\n")
    add(
        f"Written by `python benchmarks/run.py{' --quick' if s.quick else ''}` — {mode}; "
        + (
            f"the first run took {res['wall_s_before']:.0f} s and the latest, which re-measured "
            f"only some sections, {res['wall_s']:.0f} s. Goals:"
            if res.get("wall_s_before") is not None
            else f"the whole run took {res['wall_s']:.0f} s. Goals:"
        )
        + f" overhead ratios ≤ {OVERHEAD_GOAL}, "
        f"data ≥ {DATA_GOAL:g}x the fastest training rate, every notebook ≤ {NOTEBOOK_GOAL_S:.0f} s "
        f"and the course ≤ {COURSE_GOAL_S / 60:.0f} min.\n"
    )
    if res.get("measured"):
        add(
            "Sections measured at (local time): "
            + ", ".join(f"{k} {v}" for k, v in res["measured"].items())
            + (
                "; the machine table is that of the latest run, which re-measured only "
                "some sections and kept the others from the run before."
                if "machine_before" in res
                else "."
            )
            + "\n"
        )
    m = res["machine"]
    cores = m["cores usable by this process"]
    try:
        loads = [float(str(m["load average at start (1/5/15 min)"]).split(" / ")[0])]
    except ValueError:  # no load average on this platform
        loads = []
    if loads and loads[0] > cores:
        add(
            f"**Taken on a busy machine**: the load average was {loads[0]:.1f} on {cores} cores "
            f"when the run started, so other processes shared the CPU; absolute times are "
            f"inflated and noisy, and this is not a reference run"
            + (
                f" (PyTorch limited to {m['torch threads (intra-op)']} thread(s) to keep it usable)."
                if m["torch threads (intra-op)"] < cores
                else "."
            )
            + "\n"
        )
    add("## Machine\n")
    add("| | |\n|---|---|")
    for k, v in res["machine"].items():
        add(f"| {k} | {v} |")
    add(f"| load average at end (1/5/15 min) | {res['load_end']} |")
    add(
        "\nA load average above the number of cores means other processes shared the CPU "
        "while this ran: absolute times are then inflated, ratios less so (interleaved arms).\n"
    )

    add("## 1. Training loop overhead: `engine.fit` vs a bare PyTorch loop\n")
    if "overhead" in res:
        add(
            f"Same model, same data already in memory (a `TensorDataset`), AdamW with the poly "
            f"schedule, same batch size, `progress=False`, device CPU. Median of {s.repeats} "
            "interleaved repeats; ratio = median of the per-repeat ratios (min–max in brackets). "
            "*Best*: ratio of the best times of each arm. *Per step*: median per-repeat "
            "difference divided by the number of steps. *Weights Δ*: largest difference between "
            "the weights the two arms end with (0: they did exactly the same work). The last "
            "column is `fit` with its progress bar on (median per-repeat ratio).\n"
        )
        add(
            "| workload | bare loop (s) | engine.fit (s) | ratio | best | goal | per step (ms) | weights Δ | with progress bar |"
        )
        add("|---|---|---|---|---|---|---|---|---|")
        for r in res["overhead"]["fit"]:
            add(
                f"| {r['workload']} | {r['bare_s']:.3f} | {r['fit_s']:.3f} | "
                f"{r['ratio']:.3f} ({r['ratio_min']:.3f}–{r['ratio_max']:.3f}) | "
                f"{r['best_ratio']:.3f} | {_goal(r['ratio'] <= OVERHEAD_GOAL)} | "
                f"{r['per_step_overhead_ms']:+.3f} | {r['max_weight_diff']:.1e} | "
                f"{r['ratio_bar']:.3f} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 2. Inference overhead: `inference.predict` vs bare forward + argmax\n")
    if "overhead" in res:
        add(
            "Bare arm: `model.eval()`, then `torch.cat([model(c).argmax(1) for c in x.split(B)])` "
            "under `torch.inference_mode()`. *Same masks*: the two arms return identical masks.\n"
        )
        add("| workload | bare (s) | predict (s) | ratio | best | goal | same masks |")
        add("|---|---|---|---|---|---|---|")
        for r in res["overhead"]["predict"]:
            add(
                f"| {r['workload']} | {r['bare_s']:.3f} | {r['predict_s']:.3f} | "
                f"{r['ratio']:.3f} ({r['ratio_min']:.3f}–{r['ratio_max']:.3f}) | "
                f"{r['best_ratio']:.3f} | {_goal(r['ratio'] <= OVERHEAD_GOAL)} | "
                f"{_yn(r['same_masks'])} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 3. Data: ShapesScenes generation vs training\n")
    if "data" in res:
        d = res["data"]
        wcols = [f"{w} worker{'s' if w > 1 else ''} (img/s; first batch s)" for w in s.workers]
        add(
            "Images/s of `ShapesScenes`: drawn in the main process (`ds[i]` in a loop), read "
            "back from its cache on a second pass (`cache=True`, what `data.course_datasets` "
            "uses), and drawn through a `DataLoader` (batch 16) with workers, timed over one "
            "pass including worker start-up. Against the training rate of the fastest model at "
            f"that size (section 4, batch {s.batch}). Goal: ≥ {DATA_GOAL:g}x that rate.\n"
        )
        add(
            "| size (px) | images | drawn, one process | cached read | "
            + " | ".join(wcols)
            + " | fastest model | its training (img/s) | drawn / training | goal | cached / training | goal |"
        )
        add("|---" * (10 + len(wcols)) + "|")
        for r in d["rows"]:
            ws = " | ".join(
                f"{r[f'workers{w}']:.0f}; {r[f'first_batch{w}']:.2f}" for w in s.workers
            )
            add(
                f"| {r['size']} | {r['images']} | {r['single']:.0f} | {_f(r['cached'], '.0f')} | "
                f"{ws} | {r['fastest_model'] or 'n/a'} | {_f(r['fastest_train_ips'], '.1f')} | "
                f"{_f(r['ratio'], '.1f')}x | {_goal(r['ratio'] >= DATA_GOAL)} | "
                f"{_f(r['ratio_cached'], '.0f')}x | {_goal(r['ratio_cached'] >= DATA_GOAL)} |"
            )
        add(
            f"\n`engine.fit`, two epochs ({d['e2e_workload']}), images/s of each epoch from "
            "`History.seconds`. With workers, each epoch starts new worker processes, so a "
            "cache filled inside them is lost at the end of the epoch:\n"
        )
        add("| data | epoch 1 (img/s) | epoch 2 (img/s) |")
        add("|---|---|---|")
        for r in d["e2e"]:
            add(f"| {r['data']} | {r['ips'][0]:.1f} | {r['ips'][1]:.1f} |")
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 4. Models: throughput and peak memory\n")
    if "models" in res:
        add(
            f"Every registered model (and DeepLab at output stride 8), batch {s.batch}, random "
            "input, CPU. Throughput from the median step time (training: forward, "
            "cross-entropy, backward, AdamW step). GFLOPs: forward convolutions and matmuls "
            "of one image, counted by `torch.utils.flop_counter`. Peak memory: "
            + (
                f"growth of the process's peak resident set (Linux `VmHWM`, reset through "
                f"`/proc/self/clear_refs` after `malloc_trim`) over the resident size before "
                f"the timed steps, i.e. activations, gradients and workspace; weights, input "
                f"and (for training) the optimizer state are excluded. `tracemalloc` does not "
                f"see PyTorch's allocations, so it is not used. Calibration: a freshly written "
                f"64 MiB tensor reads as {res['calibration']:.1f} MiB. "
                if MEMORY.available
                else "not available on this platform (needs Linux /proc). "
            )
            + "*Feature maps*: the analytic size of every layer's output for the batch, from "
            "`fcnlib.analysis.activation_memory` (roughly what training keeps for the backward "
            "pass), as a cross-check of the measured training peak.\n"
        )
        add(
            "| model | size (px) | params (M) | GFLOPs/img | train (img/s) | of a step: AdamW update (ms) | infer (img/s) | train peak (MiB) | infer peak (MiB) | feature maps (MiB) |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")
        for r in res["models"]:
            if "error" in r:
                add(f"| {r['model']} | {r['size']} | error: {r['error'][:80]} | | | | | | | |")
                continue
            add(
                f"| {r['model']} | {r['size']} | {r['params_m']:.2f} | {r['gflops']:.3f} | "
                f"{r['train_ips']:.1f} | {r['opt_ms']:.1f} | {r['infer_ips']:.1f} | "
                f"{_f(r['train_mem_mib'], '.0f')} | "
                f"{_f(r['infer_mem_mib'], '.0f')} | {_f(r['act_mib'], '.0f')} |"
            )
    else:
        add("Skipped (not in `--sections`).")

    add("\n## 5. Cost vs resolution\n")
    if res.get("scaling"):
        sz = s.sizes
        add(
            "From section 4. *Exponent*: least-squares slope of log(cost) against log(pixels), "
            "so 1.0 means cost proportional to the number of pixels (x4 per doubling of the "
            "side). FLOPs are exact counts; times carry the machine's noise and fixed per-step "
            "costs (the optimizer update, section 4, costs the same at every size), which "
            "flatten them at small sizes."
            + (f" Plot: `{res['plot']}`." if res.get("plot") else "")
            + "\n"
        )
        hs = " / ".join(f"{v}" for v in sz)
        add(f"Each cell lists the values at {hs} px; the exponent follows in brackets.\n")
        add("| model | forward GFLOPs/img | train ms/img | inference ms/img | train peak MiB |")
        add("|---|---|---|---|---|")

        def cell(f, k, spec=".3g"):
            vals = " / ".join(_f(v, spec) for v in f[k])
            return f"{vals} ({_f(f['exp_' + k])})"

        for f in res["scaling"]:
            add(
                f"| {f['family']} | {cell(f, 'gflops')} | {cell(f, 'train_ms')} | "
                f"{cell(f, 'infer_ms')} | {cell(f, 'train_mem', '.0f')} |"
            )
        by = {f["spec"]: f for f in res["scaling"]}
        pairs = [(b, f"{b}@os8") for b in ("deeplab_resnet18", "deeplab_resnet50")]
        pairs = [(a, b) for a, b in pairs if a in by and b in by]
        if pairs:
            add("\nOutput stride 8 against 16 (DeepLab), ratio OS8 / OS16 at each size:\n")
            add("| backbone | FLOPs | train time | train peak memory |")
            add("|---|---|---|---|")
            for a, b in pairs:
                fa, fb = by[a], by[b]

                def ratio(k, fa=fa, fb=fb):
                    return " / ".join(
                        _f(y / x if x else float("nan")) for x, y in zip(fa[k], fb[k])
                    )

                add(
                    f"| {a.split('_')[1]} | {ratio('gflops')} | {ratio('train_ms')} | "
                    f"{ratio('train_mem')} |"
                )
    else:
        add("Skipped (needs section 4).")

    add("\n## 6. Course wall time\n")
    if s.quick:
        add("Skipped in `--quick`.")
    elif "course" not in res:
        add("Skipped (not in `--sections`).")
    elif not res["course"]:
        add("No notebooks found in `notebooks/`.")
    else:
        add(
            "Each notebook executed in order with `jupyter nbconvert --to notebook --execute` "
            "(as `make course` does), `MPLBACKEND` unset, in a fresh copy of `notebooks/` (no "
            "checkpoints from earlier runs)"
            + (
                f", with `OMP_NUM_THREADS={res['course_threads']}` (from `--threads`)"
                if res.get("course_threads")
                else ""
            )
            + f". Goal: ≤ {NOTEBOOK_GOAL_S:.0f} s each.\n"
        )
        add("| notebook | seconds | ran | goal |")
        add("|---|---|---|---|")
        for r in res["course"]:
            ran = "ok" if r["ok"] else f"**failed**: {r['error'][:200]}"
            goal = _goal(r["seconds"] <= NOTEBOOK_GOAL_S) if r["ok"] else "—"
            add(f"| {r['notebook']} | {r['seconds']:.0f} | {ran} | {goal} |")
        total = sum(r["seconds"] for r in res["course"])
        ok = sum(r["ok"] for r in res["course"])
        verdict = _goal(total <= COURSE_GOAL_S) if ok == len(res["course"]) else "incomplete"
        add(
            f"| **whole course** | {total:.0f} ({total / 60:.1f} min) | "
            f"{ok}/{len(res['course'])} ok | {verdict} |"
        )
        add(f"\nThe total covers the {len(res['course'])} notebooks present in `notebooks/`.")

    add("\n## 7. Fast defaults (probes)\n")
    if "defaults" in res:
        add("| default | applied |")
        add("|---|---|")
        for k, v in res["defaults"]:
            add(f"| {k} | {v} |")
    else:
        add("Skipped (not in `--sections`).")

    text = "\n".join(L) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, few repeats")
    ap.add_argument("--out", type=Path, help="report path (default: benchmarks/results.md, "
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
        s = Settings(**res["settings"]) if "settings" in res else Settings()
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
    out = args.out or ROOT / "benchmarks" / ("out/results_quick.md" if s.quick else "results.md")

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
    res["load_end"] = _loadavg()
    res["wall_s"] = time.perf_counter() - start
    write_report(out, s, res)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
