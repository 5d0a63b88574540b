"""Training and evaluation as plain functions.

``fit`` is a readable loop: for each epoch, :func:`train_one_epoch` then :func:`evaluate`.
Its options are DeepLab's recipe (SGD with momentum and weight decay, poly learning rate
with warmup, a 10x learning rate for the new head, frozen BatchNorm, multi-scale training,
an auxiliary loss) and the practical parts (mixed precision on CUDA, channels_last on CUDA
and x86 CPUs, seeding, checkpoints and exact resume).

Reproducibility: everything random in epoch ``e`` (data order, augmentation, dropout) is
drawn from ``(seed, e)``, so a run resumed from the checkpoint of epoch ``e - 1`` ends with
exactly the weights of an uninterrupted run (on the CPU).

The pieces live beside it: the optimizer, schedule, BatchNorm freezing and loss in
:mod:`fcnlib.optim`, :class:`~fcnlib.history.History` in :mod:`fcnlib.history`, and
checkpoints in :mod:`fcnlib.checkpoints` (:func:`save_checkpoint` and
:func:`load_checkpoint` are also reachable here, as the course's design names them).
"""

from __future__ import annotations

import math
import os
import platform
import random
import time
import weakref
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ._checks import (
    IGNORE_INDEX,
    check_data,
    check_positive_int,
    dataset_of,
    declared_classes,
    logits_of,
)
from ._checks import unwrap_parallel as _unwrap
from .checkpoints import load_checkpoint, save_checkpoint, set_rng_state
from .history import History
from .inference import predict_proba
from .metrics import ConfusionMatrix
from .optim import build_optimizer, poly_lr_lambda, segmentation_loss, set_bn_frozen

__all__ = [
    "channels_last_default",
    "epoch_seed",
    "evaluate",
    "fit",
    "load_checkpoint",
    "make_loader",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
    "train_one_epoch",
]

# the models fit has trained in this process (held weakly: no mark on the model itself)
_TRAINED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


# ----------------------------------------------------------------------------- set-up helpers
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device={device!r} was asked for, but CUDA is not available here; use 'auto' or 'cpu'"
        )
    return dev


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of everything random in ``epoch`` of a run seeded with ``seed`` (data order,
    augmentation, dropout): a function of ``(seed, epoch)`` only, so a resumed run draws
    exactly what an uninterrupted one would."""
    return seed * 100_003 + epoch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rank() -> int:
    d = torch.distributed
    return d.get_rank() if d.is_available() and d.is_initialized() else 0


def make_loader(
    data,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    num_workers: int = 0,
    device: torch.device | None = None,
) -> DataLoader:
    """A DataLoader whose order in ``epoch`` depends only on ``(seed, epoch)``.

    A ``DataLoader`` passed in is returned as it is (its sampler gets ``set_epoch``).
    """
    if isinstance(data, DataLoader):
        if hasattr(data.sampler, "set_epoch"):
            data.sampler.set_epoch(epoch)
        return data
    check_positive_int(batch_size, "batch_size")
    n = len(data)
    if batch_size > n:
        raise ValueError(
            f"batch_size={batch_size} is larger than the data set ({n} images); use batch_size <= {n}"
        )
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=g if shuffle else None,
        num_workers=num_workers,
        pin_memory=device is not None and device.type == "cuda",
        persistent_workers=False,
        worker_init_fn=_seed_worker if num_workers else None,
    )


def _seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


# ----------------------------------------------------------------------------- evaluation
@torch.inference_mode()
def evaluate(
    model: nn.Module,
    data,
    batch_size: int = 32,
    device: str | torch.device = "auto",
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    num_workers: int = 0,
    ignore_index: int | None = None,
    progress: bool = False,
    num_classes: int | None = None,
) -> dict:
    """Metrics of ``model`` over the whole data set, from one confusion matrix.

    ``model`` may be any segmentation model: one returning logits ``B x K x H x W`` or a
    dict holding them under ``"out"`` (torchvision's). The class count is
    ``num_classes``, else the model's ``num_classes``, else the data set's, else ``K`` of
    the first batch; logits of another class count are an error.

    Returns :meth:`ConfusionMatrix.compute`'s dict. Under ``torchrun`` the matrices of all
    ranks are summed first, so every rank sees the metrics of the whole data set.
    """
    dev = resolve_device(device)
    model.to(dev)
    k_data = check_data(data, "data", model)
    k = num_classes or declared_classes(model) or k_data
    ds = dataset_of(data)
    if ignore_index is None:
        ignore_index = getattr(ds, "ignore_index", IGNORE_INDEX)
    loader = (
        data
        if isinstance(data, DataLoader)
        else make_loader(
            data, min(batch_size, len(data)), False, num_workers=num_workers, device=dev
        )
    )
    cm = None
    was_training = model.training
    model.eval()
    for images, targets in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        images = images.to(dev, non_blocking=True)
        if tuple(scales) == (1.0,) and not flip:
            scores = logits_of(model(images), k)
        else:
            scores = logits_of(predict_proba(model, images, tuple(scales), flip), k)
        if cm is None:  # the class count, if nothing else said it, is that of the logits
            k = scores.shape[1]
            cm = ConfusionMatrix(k, ignore_index)
        cm.add_predictions(scores.argmax(1), targets)  # targets checked on the host
    if cm is None:  # no batch here (an empty share of a torchrun job)
        if k is None:
            raise ValueError("evaluate got no images, so the class count is unknown")
        cm = ConfusionMatrix(k, ignore_index)
    d = torch.distributed
    if d.is_available() and d.is_initialized():
        mat = cm.mat.to(dev)
        d.all_reduce(mat)
        cm.mat = mat
    model.train(was_training)
    return cm.compute()


# ----------------------------------------------------------------------------- training
def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler,
    criterion: nn.Module,
    device: torch.device,
    *,
    scales: Sequence[float] = (1.0,),
    aux_weight: float = 0.0,
    freeze_bn: bool = False,
    amp_dtype: torch.dtype | None = None,
    scaler=None,
    channels_last: bool = False,
    epoch: int = 0,
    bar=None,
    max_steps: int | None = None,
    log_every: int = 10,
    num_classes: int | None = None,
) -> tuple[float, int]:
    """One pass over ``loader``; returns (mean loss, steps taken). ``num_classes``: the
    class count the model's logits must have (checked on every batch)."""
    model.train()
    if freeze_bn:
        set_bn_frozen(model, True)
    running = torch.zeros((), device=device)
    steps = 0
    for images, targets in loader:
        if max_steps is not None and steps >= max_steps:
            break
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
        )
        with autocast:
            loss = segmentation_loss(
                model, images, targets, criterion, scales, aux_weight, num_classes=num_classes
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        running += loss.detach().float()
        steps += 1
        if steps % log_every == 0 or device.type == "cpu":
            value = float(loss.detach())  # one host sync per log interval
            if not math.isfinite(value):
                lr = optimizer.param_groups[0]["lr"]
                raise FloatingPointError(
                    f"the training loss became {value} at epoch {epoch}, step {steps} (learning rate {lr:.3g}). "
                    "Try a smaller learning rate (e.g. lr / 10), a warmup, or amp=False; "
                    "check the inputs for NaNs."
                )
            if bar is not None:
                bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        if bar is not None:
            bar.update(1)
    d = torch.distributed
    if d.is_available() and d.is_initialized():  # the mean loss over every process's batches
        totals = torch.stack([running, torch.tensor(float(steps), device=device)])
        d.all_reduce(totals)
        running, n = totals[0], int(totals[1])
    else:
        n = steps
    mean = float(running) / max(n, 1)
    if not math.isfinite(mean):
        raise FloatingPointError(
            f"the training loss became {mean} during epoch {epoch}. Try a smaller learning rate, "
            "a warmup, or amp=False; check the inputs for NaNs."
        )
    return mean, steps


def _amp_setup(amp, device: torch.device):
    """``amp``: False, True, "auto" (CUDA only), or a dtype. Returns (dtype or None, scaler)."""
    if amp == "auto":
        amp = device.type == "cuda"
    if amp is False or amp is None:
        return None, None
    if device.type != "cuda":
        if isinstance(amp, torch.dtype):
            return amp, None
        return (torch.bfloat16, None) if device.type == "cpu" else (torch.float16, None)
    dtype = (
        amp
        if isinstance(amp, torch.dtype)
        else (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    )
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return dtype, scaler


def channels_last_default(device: torch.device) -> bool:
    """What ``channels_last="auto"`` means on ``device``: on for CUDA and for x86 CPUs.

    On x86, oneDNN's convolutions run faster on ``N H W C`` tensors (notebook 08 times it);
    other CPUs and Apple's MPS keep ``N C H W``.
    """
    if device.type == "cpu":
        return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")
    return device.type == "cuda"


def fit(
    model: nn.Module,
    train_data,
    val_data=None,
    epochs: int = 1,
    *,
    batch_size: int = 16,
    optimizer: str = "adamw",
    lr: float = 1e-3,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    lr_schedule: str = "poly",
    poly_power: float = 0.9,
    warmup_epochs: float = 0.0,
    head_lr_mult: float = 1.0,
    freeze_bn: bool = False,
    scales: Sequence[float] = (1.0,),
    aux_weight: float = 0.0,
    class_weights=None,
    amp="auto",
    channels_last="auto",
    device: str | torch.device = "auto",
    num_workers: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    continue_training: bool = False,
    seed: int = 0,
    progress: bool = True,
    max_steps: int | None = None,
    val_batch_size: int = 32,
) -> History:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs; evaluate on ``val_data`` each epoch.

    ``train_data``/``val_data`` are data sets of ``(image 3 x H x W, mask H x W)`` or DataLoaders.
    Returns a :class:`History`. The main options:

    * ``optimizer="adamw"|"adam"|"sgd"``, ``lr``, ``momentum``, ``weight_decay``
      (:func:`~fcnlib.optim.build_optimizer`: ``torch.optim.AdamW``, ``Adam`` or ``SGD``);
      ``lr_schedule="poly"|"constant"`` (per step) with ``warmup_epochs`` of linear warmup;
    * ``head_lr_mult``: learning-rate multiplier for parameters outside ``model.backbone``;
    * ``freeze_bn``: BatchNorm statistics and affine parameters stay as they are;
    * ``scales``: multi-scale training, e.g. ``(1.0, 0.75, 0.5)``;
    * ``aux_weight``: weight of the auxiliary head's loss (models built with ``aux_loss=True``);
    * ``class_weights``: per-class weights of the cross-entropy;
    * ``amp``: ``"auto"`` turns it on for CUDA only; ``channels_last``: ``"auto"`` turns it
      on for CUDA and x86 CPUs (:func:`channels_last_default`; oneDNN's convolutions run
      faster on ``N H W C`` tensors: notebook 08 times one model both ways);
    * ``checkpoint_dir``: writes ``last.pt`` after every epoch; ``resume=True`` continues from it;
    * ``continue_training``: ``fit`` refuses to train a model it has already trained unless
      this is True, so re-running a notebook cell never silently continues a half-trained model;
    * ``max_steps``: stop each epoch after this many steps (quick checks).

    ``fit`` leaves no attribute on ``model`` and restores ``torch.backends.cudnn.benchmark``
    (which it turns on for CUDA) when it returns.
    """
    check_positive_int(epochs, "epochs")
    if lr_schedule not in ("poly", "constant"):
        raise ValueError(f"lr_schedule must be 'poly' or 'constant', got {lr_schedule!r}")
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"scales must be positive factors, got {scales}")
    net = _unwrap(model)
    if net in _TRAINED and not (continue_training or resume):
        raise RuntimeError(
            "this model has already been trained by fit(); build a fresh model to start over, "
            "or pass continue_training=True to train it further"
        )
    k = check_data(train_data, "train_data", model) or declared_classes(model)
    if val_data is not None:
        k_val = check_data(val_data, "val_data", model)
        if k is not None and k_val is not None and k_val != k:
            raise ValueError(f"train_data has {k} classes but val_data has {k_val}")
    dev = resolve_device(device)
    seed_everything(seed)
    if channels_last == "auto":
        channels_last = channels_last_default(dev)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    amp_dtype, scaler = _amp_setup(amp, dev)

    ds = dataset_of(train_data)
    ignore_index = getattr(ds, "ignore_index", IGNORE_INDEX)
    weight = (
        None
        if class_weights is None
        else torch.as_tensor(class_weights, dtype=torch.float32, device=dev)
    )
    criterion = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index)

    loader0 = make_loader(train_data, batch_size, True, seed, 0, num_workers, dev)
    steps_per_epoch = len(loader0) if max_steps is None else min(len(loader0), max_steps)
    total = steps_per_epoch * epochs
    opt = build_optimizer(model, optimizer, lr, momentum, weight_decay, head_lr_mult)
    if lr_schedule == "poly":
        fn = poly_lr_lambda(total, poly_power, int(warmup_epochs * steps_per_epoch))
    else:
        warm = int(warmup_epochs * steps_per_epoch)
        fn = poly_lr_lambda(total, 0.0, warm)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)

    history, start = History(), 0
    ckdir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume:
        if ckdir is None:
            raise ValueError("resume=True needs checkpoint_dir")
        last = ckdir / "last.pt"
        if last.exists():
            state = load_checkpoint(last, model, optimizer=opt, scheduler=sched, scaler=scaler)
            set_rng_state(state["rng"])  # where the interrupted run's generators stood
            start = int(state["epoch"]) + 1
            history = History.from_dict(state.get("history", {}))
    main = _rank() == 0
    bar = tqdm(
        total=steps_per_epoch * (epochs - start), disable=not (progress and main), unit="step"
    )
    epoch = start
    cudnn_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = cudnn_benchmark or dev.type == "cuda"
    try:
        for epoch in range(start, epochs):
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            # augmentation and dropout of this epoch (each process of a torchrun job its own)
            torch.manual_seed(epoch_seed(seed, epoch) + 7_919 * _rank())
            loader = make_loader(train_data, batch_size, True, seed, epoch, num_workers, dev)
            t0 = time.perf_counter()
            lr_now = opt.param_groups[0]["lr"]
            loss, _ = train_one_epoch(
                model, loader, opt, sched, criterion, dev,
                scales=scales, aux_weight=aux_weight, freeze_bn=freeze_bn, amp_dtype=amp_dtype,
                scaler=scaler, channels_last=channels_last, epoch=epoch + 1, bar=bar, max_steps=max_steps,
                num_classes=k,
            )  # fmt: skip
            rec = {"epoch": epoch + 1, "train_loss": loss, "lr": lr_now}
            if val_data is not None:
                m = evaluate(
                    model, val_data, val_batch_size, dev, num_workers=num_workers, num_classes=k
                )
                rec.update(val_miou=m["miou"], val_pixel_accuracy=m["pixel_accuracy"])
                bar.set_postfix(loss=f"{loss:.4f}", val_miou=f"{m['miou']:.3f}")
            rec["seconds"] = time.perf_counter() - t0
            history.append(**rec)
            if ckdir is not None and main:
                save_checkpoint(
                    ckdir / "last.pt",
                    model,
                    opt,
                    sched,
                    epoch=epoch,
                    history=history.to_dict(),
                    scaler=scaler,
                )
    except KeyboardInterrupt:
        bar.close()
        if ckdir is not None and main:
            save_checkpoint(
                ckdir / "interrupted.pt", model, opt, sched, epoch=epoch, history=history.to_dict()
            )
            print(f"Interrupted in epoch {epoch + 1}: weights saved to {ckdir / 'interrupted.pt'}.")
        raise
    except torch.cuda.OutOfMemoryError as e:
        raise RuntimeError(
            f"the GPU ran out of memory with batch_size={batch_size}: try a smaller batch_size or image "
            "size, amp=True, or fewer scales"
        ) from e
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark
    bar.close()
    _TRAINED.add(net)
    return history
