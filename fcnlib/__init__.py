"""fcnlib: small, tested helpers for the course "Fully Convolutional Networks for semantic
segmentation, in PyTorch".

Submodules are imported on first use, so ``import fcnlib`` stays fast and the optional
pieces (OpenCV for ``video``, ipywidgets for ``widgets``) load only when a notebook asks::

    from fcnlib import data, metrics, models, engine, viz
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "capture",
    "checkpoints",
    "course",
    "data",
    "engine",
    "exercises",
    "history",
    "inference",
    "mask_cleanup",
    "metrics",
    "models",
    "optim",
    "pretrain",
    "summary",
    "transforms",
    "video",
    "video_io",
    "viz",
    "widgets",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fcnlib' has no attribute {name!r}")
