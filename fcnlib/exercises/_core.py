"""The exercises' registry and the one call a notebook makes: ``exercises.check("03.2", answer)``.

Each exercise has an id ``"NN.k"`` (notebook ``NN``, exercise ``k``) and a check: a function that
takes the learner's answer (a number, a function, a model, whatever the exercise asks for) and
either returns a sentence saying what it verified or raises :class:`Incorrect` with a message
that says what is wrong without giving the answer away. The checks live in one module per
notebook (``fcnlib/exercises/nb03.py``) and register themselves with :func:`exercise`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

NOT_ATTEMPTED = "not attempted yet"


class Incorrect(AssertionError):
    """An answer that fails its exercise's check; the message says what is wrong."""


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id, title and check function."""

    id: str
    title: str
    check: Callable[..., str]

    @property
    def notebook(self) -> str:
        return self.id.split(".")[0]


EXERCISES: dict[str, Exercise] = {}


def _valid_id(exercise_id: str) -> bool:
    nb, _, k = exercise_id.partition(".")
    return len(nb) == 2 and nb.isdigit() and k.isdigit() and not k.startswith("0")


def exercise(exercise_id: str, title: str):
    """Decorator that registers ``check(answer, **context) -> str`` as exercise ``exercise_id``."""
    if not _valid_id(exercise_id):
        raise ValueError(f"exercise ids look like '03.2' (notebook.number), got {exercise_id!r}")

    def register(check: Callable[..., str]) -> Callable[..., str]:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise {exercise_id} is registered twice")
        EXERCISES[exercise_id] = Exercise(exercise_id, title, check)
        return check

    return register


def get(exercise_id: str) -> Exercise:
    """The registered exercise ``exercise_id`` (a clear error naming the known ids otherwise)."""
    from . import _load_all

    _load_all()
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        known = ", ".join(sorted(EXERCISES)) or "none"
        raise KeyError(f"no exercise {exercise_id!r}; known exercises: {known}") from None


def attempted(answer) -> bool:
    """Whether ``answer`` is more than the untouched stub (``None`` or ``...``)."""
    return answer is not None and answer is not Ellipsis


def check(exercise_id: str, answer, **context) -> None:
    """Check ``answer`` to exercise ``exercise_id`` and print the verdict.

    An untouched answer (``None`` or ``...``) prints "not attempted yet", so a notebook whose
    exercises are not done still runs top to bottom. A correct answer prints what was verified
    (nothing is returned, so a check cell shows only the verdict). A wrong one raises :class:`Incorrect`,
    whose message says what is wrong. ``context`` passes anything else the check needs
    (for example a baseline measured in the same cell).
    """
    ex = get(exercise_id)
    if not attempted(answer):
        print(f"Exercise {ex.id} ({ex.title}): {NOT_ATTEMPTED}")
        return
    start = time.perf_counter()
    try:
        verdict = ex.check(answer, **context)
    except Incorrect as e:
        raise Incorrect(f"Exercise {ex.id} ({ex.title}): {e}") from None
    seconds = time.perf_counter() - start
    print(f"Exercise {ex.id} ({ex.title}): correct. {verdict} (checked in {seconds:.1f} s)")
