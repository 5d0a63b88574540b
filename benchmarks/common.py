"""What the benchmark scripts share: the machine they ran on, one bare training step and loop,
and the step timer.

* :func:`machine_info`: CPU, cores, torch and its threads, fcnlib, date, commit and load
  (and the GPU, when one is used), recorded with every result;
* :func:`train_step` and :func:`bare_train`: the training loop one writes by hand (forward,
  cross-entropy, backward, optimizer step), the reference ``engine.fit`` is measured against
  and the loop every model is trained and timed with;
* :func:`median_step_seconds`: ``torch.utils.benchmark.Timer`` over a zero-argument step
  (it synchronises CUDA around each measurement and runs blocks of steps until enough time
  has passed), at the process's own thread count;
* :func:`interleaved` and :func:`paired_ratio`: arms timed in turn (ABBA order) and compared
  repeat by repeat, so that slow drifts in the machine's speed cancel;
* :class:`PeakMemory` (``MEMORY``): the process's peak resident memory above a baseline, on
  the CPU (Linux ``VmHWM``).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn
from torch.utils import benchmark

import fcnlib

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- machine
def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, or "unknown"."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info(device: torch.device | None = None) -> dict:
    """CPU, cores, torch and thread settings, fcnlib, date, commit and load average; for a
    CUDA ``device`` also the GPU, CUDA, cuDNN and bf16 support."""
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
    info = {
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
        "load average at start (1/5/15 min)": loadavg(),
    }
    if device is not None and device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info["GPU"] = (
            f"{p.name} ({p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor})"
        )
        info["CUDA (torch build)"] = torch.version.cuda
        info["cuDNN"] = torch.backends.cudnn.version()
        info["bf16 supported"] = torch.cuda.is_bf16_supported()
    return info


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


# ----------------------------------------------------------------------------- training
def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    criterion: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    autocast_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """One plain step: forward (under autocast when ``autocast_dtype`` is given), loss,
    backward (through ``scaler`` when given), optimizer step. Returns the loss."""
    with torch.autocast(x.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        loss = criterion(model(x), y)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return loss


def bare_train(
    model: nn.Module,
    batches: Iterable,
    opt: torch.optim.Optimizer,
    criterion: Callable,
    sched=None,
    device: torch.device | str | None = None,
) -> int:
    """:func:`train_step` over ``batches`` of ``(images, targets)`` (moved to ``device``),
    stepping ``sched`` after every step. Returns the number of images seen."""
    model.train()
    seen = 0
    for x, y in batches:
        if device is not None:
            x, y = x.to(device), y.to(device)
        train_step(model, opt, criterion, x, y)
        if sched is not None:
            sched.step()
        seen += len(x)
    return seen


# ----------------------------------------------------------------------------- timing
def median_step_seconds(step: Callable[[], object], min_time: float) -> float:
    """Median seconds per call of ``step()``, by ``torch.utils.benchmark.Timer``.

    ``blocked_autorange`` runs blocks of calls until ``min_time`` seconds have passed (at
    least one block); the threads are the process's own (the Timer's default is one).
    """
    timer = benchmark.Timer(
        stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads()
    )
    return timer.blocked_autorange(min_run_time=min_time).median


def mean_step_seconds(step: Callable[[], object], steps: int) -> float:
    """Mean seconds per call over ``steps`` calls of ``step()`` (``Timer.timeit``, which runs
    a couple of untimed calls first), at the process's own thread count."""
    timer = benchmark.Timer(
        stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads()
    )
    return timer.timeit(steps).mean


# ----------------------------------------------------------------------------- side by side
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


def miou_and_boundary(model: nn.Module, val_set, batch_size: int = 32) -> tuple[float, float]:
    """(mIoU, boundary F-score) of ``model``'s predictions over ``val_set``, on the CPU, each
    rounded to 4 decimals as the result files keep them."""
    from fcnlib import metrics

    model.eval()
    predictions, masks = [], []
    with torch.inference_mode():
        for x, y in torch.utils.data.DataLoader(val_set, batch_size):
            predictions.append(model(x).argmax(1))
            masks.append(y)
    p, m = torch.cat(predictions), torch.cat(masks)
    cm = metrics.ConfusionMatrix(len(val_set.classes), val_set.ignore_index)
    cm.update(p, m)
    bf = metrics.boundary_f1(p, m, ignore_index=val_set.ignore_index)
    return round(float(cm.compute()["miou"]), 4), round(float(bf), 4)
