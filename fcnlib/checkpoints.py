"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

:func:`save_checkpoint` stores the weights with what is needed to check and rebuild them
(architecture name, class count, the :func:`fcnlib.models.build` call), the optimizer,
scheduler and scaler states and the random-number states for an exact resume;
:func:`load_checkpoint` loads one into a given model (refusing another architecture or class
count), :func:`load_model` rebuilds the model from the checkpoint alone.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__
from ._checks import unwrap_parallel as _unwrap
from ._files import AtomicPath

__all__ = [
    "CHECKPOINT_FORMAT",
    "load_checkpoint",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINT_FORMAT = "fcnlib-checkpoint-1"


def _model_info(model: nn.Module) -> dict:
    m = _unwrap(model)
    return {
        "arch": getattr(m, "arch", None),
        "class": type(m).__name__,
        "num_classes": getattr(m, "num_classes", None),
        "build": getattr(m, "build_config", None),  # models.build's call, to rebuild it
    }


def save_checkpoint(
    path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    epoch: int | None = None,
    scaler=None,
    **extra,
) -> Path:
    """Write a checkpoint atomically (a temporary file in the same folder, then a rename).

    It records the model's architecture name and class count (and, for a model made by
    :func:`fcnlib.models.build`, the call that built it, so :func:`load_model` can rebuild
    it), the fcnlib version, the random-number states and any ``extra`` values (plain Python
    types and tensors only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np_state = np.random.get_state()
    state = {
        "format": CHECKPOINT_FORMAT,
        "fcnlib_version": __version__,
        "model_info": _model_info(model),
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": epoch,
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": [
                np_state[0],
                torch.from_numpy(np_state[1].astype(np.int64)),
                *map(float, np_state[2:]),
            ],
            "python": random.getstate(),
        },
        **extra,
    }
    with AtomicPath(path) as tmp:
        torch.save(state, tmp)
    return path


def set_rng_state(rng: dict) -> None:
    """Put the generators of Python, NumPy and PyTorch (CPU) back where a checkpoint's ``"rng"``
    entry (written by :func:`save_checkpoint`) says they stood."""
    torch.set_rng_state(rng["torch"])
    name, keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), gauss))
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint's dict, loaded with ``torch.load(weights_only=True)``; clear errors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # UnpicklingError and friends
        raise ValueError(
            f"{path} is not a loadable fcnlib checkpoint (refused by torch.load(weights_only=True)): "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path} is not an fcnlib checkpoint (no '{CHECKPOINT_FORMAT}' format tag)"
        )
    return state


def load_checkpoint(
    path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    scaler=None,
    map_location="cpu",
    strict: bool = True,
    state: dict | None = None,
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and optimizer...).

    Uses ``torch.load(weights_only=True)``: a file that would run code when unpickled is
    refused. A checkpoint of another architecture or class count raises ``ValueError``
    naming both. Returns the checkpoint's dict (epoch, history, extras). ``state`` is that
    dict when the caller has already read it (the file is then not read again).
    """
    path = Path(path)
    if state is None:
        state = read_checkpoint(path, map_location)
    saved, here = state.get("model_info", {}), _model_info(model)
    desc = lambda i: f"{i.get('arch') or i.get('class')} with {i.get('num_classes')} classes"  # noqa: E731
    if (
        saved.get("num_classes") != here["num_classes"]
        or (saved.get("arch") and here["arch"] and saved["arch"] != here["arch"])
        or saved.get("class") != here["class"]
    ):
        raise ValueError(f"{path} holds a {desc(saved)}, but the model given is a {desc(here)}")
    try:
        _unwrap(model).load_state_dict(state["model"], strict=strict)
    except RuntimeError as e:
        raise ValueError(
            f"{path} does not fit the model ({desc(saved)} vs {desc(here)}): {str(e).splitlines()[0]}"
        ) from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    return state


def load_model(path, map_location="cpu", return_checkpoint: bool = False):
    """Rebuild the model saved in ``path`` from the checkpoint alone, with its trained weights.

    The checkpoint is read once, with ``torch.load(weights_only=True)``. It must come from a
    model made by :func:`fcnlib.models.build` (which records its name and arguments); the
    model is built again with them (``pretrained_backbone`` switched off: the weights come
    from the checkpoint) and loaded strictly. Returns the model in eval mode, on
    ``map_location``'s device, or ``(model, checkpoint dict)`` with ``return_checkpoint``
    (for the extras saved with it, such as ``image_size``)::

        model = checkpoints.load_model("checkpoints/03_fcn8s.pt")
    """
    from . import models

    path = Path(path)
    state = read_checkpoint(path, map_location)
    config = state.get("model_info", {}).get("build")
    if not config:
        raise ValueError(
            f"{path} does not record how its model was built (it was not made by "
            "models.build, or with arguments a checkpoint cannot hold): build the model "
            "yourself and use engine.load_checkpoint(path, model)"
        )
    kwargs = dict(config.get("kwargs") or {})
    if "pretrained_backbone" in kwargs:
        kwargs["pretrained_backbone"] = False
    model = models.build(config["name"], config["num_classes"], **kwargs)
    model.build_config = config  # as saved, pretrained_backbone included
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    load_checkpoint(path, model, map_location=map_location, state=state)
    model.eval()
    return (model, state) if return_checkpoint else model
