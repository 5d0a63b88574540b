"""Checks of notebook 08's exercises (checkpoints and export)."""

from __future__ import annotations

from pathlib import Path

import torch

from ._core import Incorrect, exercise


@exercise("08.1", "Interrupted in the first epoch")
def check_first_epoch_files(answer, *, folder=None, **context) -> str:
    """``answer`` = the names of the files ``fit(checkpoint_dir=folder)`` left in ``folder`` when
    interrupted in its first epoch (checked against the folder itself)."""
    if folder is None:
        raise Incorrect("pass the run's folder: exercises.check('08.1', answer, folder=...)")
    folder = Path(folder)
    if not folder.is_dir():
        raise Incorrect(f"{folder} is not a folder: run the interrupted training first")
    if isinstance(answer, (str, bytes)) or not all(isinstance(n, str) for n in answer):
        raise Incorrect("the answer should be a list of file names, such as ['a.pt']")
    names = sorted(p.name for p in folder.iterdir())
    if "interrupted.pt" not in names:
        raise Incorrect(f"{folder} holds no interrupted.pt: was the run in it interrupted?")
    epoch = int(torch.load(folder / "interrupted.pt", weights_only=True)["epoch"])
    if epoch != 0:
        raise Incorrect(f"the run in {folder} was interrupted in epoch {epoch + 1}, not in the "
                        "first: move the disconnect earlier (a smaller `after`)")  # fmt: skip
    if sorted(answer) != names:
        extra = sorted(set(answer) - set(names))
        raise Incorrect(f"the folder holds {len(names)} file(s), the answer names {len(answer)}"
                        + (f"; {extra} is not there" if extra else ""))  # fmt: skip
    return (f"Interrupted in its first epoch, fit leaves {names} in {folder.name}: no epoch was "
            "finished, so there is no last.pt to resume from.")  # fmt: skip


def _raised_by_fixed_export() -> type:
    """The exception a program exported at one size raises when called at another."""
    net = torch.nn.Conv2d(3, 2, 3, padding=1).eval()
    exported = torch.export.export(net, (torch.zeros(1, 3, 16, 16),)).module()
    try:
        with torch.no_grad():
            exported(torch.zeros(1, 3, 24, 24))
    except Exception as err:  # noqa: BLE001 - what is raised is the point of the exercise
        return type(err)
    raise RuntimeError("an export without dynamic_shapes accepted another size")


@exercise("08.2", "Fixed shapes")
def check_fixed_shapes(answer, **context) -> str:
    """``answer`` = the exception class (or the caught exception) that an export made without
    ``dynamic_shapes`` raises for an input of another size."""
    raised = _raised_by_fixed_export()
    cls = answer if isinstance(answer, type) else type(answer)
    if not issubclass(cls, BaseException):
        raise Incorrect("the answer should be an exception class, such as KeyError, or the "
                        "exception you caught")  # fmt: skip
    if cls is not raised:
        if issubclass(raised, cls):
            raise Incorrect(f"{cls.__name__} is too general: name the exact class the exported "
                            "program raises")  # fmt: skip
        raise Incorrect(f"an export without dynamic_shapes does not raise {cls.__name__} for "
                        "another input size")  # fmt: skip
    return (f"Called at a size other than the example's, the fixed-size export raises "
            f"{raised.__name__}: its guards pin the shape it was traced with.")  # fmt: skip
