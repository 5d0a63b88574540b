"""Self-checking exercises: ``exercises.check("03.2", answer)`` at the end of every notebook.

See :mod:`fcnlib.exercises._core` for the contract of a check. ``python -m fcnlib.exercises
--list`` lists every exercise with whether it has a check and a worked solution.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import EXERCISES, NOT_ATTEMPTED, Exercise, Incorrect, attempted, check, exercise, get

__all__ = [
    "EXERCISES",
    "NOT_ATTEMPTED",
    "Exercise",
    "Incorrect",
    "attempted",
    "check",
    "exercise",
    "get",
]


def _load_all() -> None:
    """Import every ``nbNN`` module so that its checks register themselves."""
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("nb") and info.name[2:].isdigit():
            importlib.import_module(f"{__name__}.{info.name}")
