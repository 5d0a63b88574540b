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


def _plain(value) -> bool:
    """Is ``value`` made of types ``torch.load(weights_only=True)`` reads back?"""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build a registered model, recording how it was built.

    ``model.arch`` is the name and ``model.build_config`` the call,
    ``{"name": name, "num_classes": num_classes, "kwargs": kwargs}``;
    :func:`fcnlib.checkpoints.save_checkpoint` stores both, so that :func:`fcnlib.checkpoints.load_model`
    rebuilds the model from the checkpoint alone. ``build_config`` is ``None`` when an
    argument is not a plain value (numbers, strings, lists, tuples, dicts of them), since a
    weights-only checkpoint could not hold it.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(available())}")
    model = _REGISTRY[name](num_classes, **kwargs)
    model.arch = name
    model.build_config = (
        {"name": name, "num_classes": num_classes, "kwargs": dict(kwargs)}
        if _plain(kwargs)
        else None
    )
    return model
