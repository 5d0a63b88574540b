"""Small tools the checks share: run a learner's model, compare numbers, name a type."""

from __future__ import annotations

import torch
from torch import nn

from ._core import Incorrect


def require(condition: bool, message: str) -> None:
    """Raise :class:`Incorrect` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Incorrect(message)


def require_module(answer, what: str = "a torch.nn.Module") -> nn.Module:
    require(
        isinstance(answer, nn.Module), f"the answer should be {what}, got {type(answer).__name__}"
    )
    return answer


def scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` in eval mode without gradients; a dict output gives its ``"out"``."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # the learner's model fails on a valid input: say how
        raise Incorrect(
            f"the model fails on a {tuple(x.shape)} input: {type(e).__name__}: {e}"
        ) from None
    finally:
        model.train(was_training)
    if isinstance(out, dict):
        out = out.get("out")
    require(isinstance(out, torch.Tensor), "the model should return a tensor of class scores")
    return out


def number(answer, what: str) -> float:
    """``answer`` as a float, or :class:`Incorrect` saying it should be a number."""
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise Incorrect(f"{what} should be a number, got {type(answer).__name__}") from None
