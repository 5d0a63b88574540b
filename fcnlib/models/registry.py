"""Models by name: ``models.build("fcn8s", num_classes=6)``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Decorator: make a builder ``f(num_classes, **kw) -> nn.Module`` available by name."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    """The names :func:`build` accepts."""
    return sorted(_REGISTRY)


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build a registered model. ``model.arch`` records the name (checkpoints store it)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(available())}")
    model = _REGISTRY[name](num_classes, **kwargs)
    model.arch = name
    return model
