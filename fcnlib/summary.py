"""A notebook's headline numbers: shown as a small table and saved as JSON.

Every notebook ends with one call::

    summary.save("03_skip_connections", {"fcn8s_miou": 0.71, ...}, seed=SEED, seconds=...)

which prints the table and writes ``results/03_skip_connections.json`` under the working
directory, so that a course run (or CI) can collect the numbers of every notebook.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path

from ._files import write_json


def _plain(value):
    """A JSON-ready copy of ``value`` (tensors and NumPy scalars become Python numbers)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"summary values must be finite numbers, got {value}")
        return value
    raise TypeError(
        f"summary values must be numbers or strings, got {type(value).__name__}: {value!r}"
    )


def table(numbers_: dict) -> str:
    """``numbers_`` as a two-column text table (floats with three decimals)."""
    rows = [(k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in numbers_.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v:>8}" for k, v in rows)


def save(
    stem: str,
    numbers_: dict,
    *,
    seed: int,
    seconds: float,
    directory: str | os.PathLike = "results",
    show: bool = True,
) -> Path:
    """Save a notebook's headline numbers to ``directory/<stem>.json`` and print them.

    ``numbers_`` maps names to numbers (floats, ints, 0-d tensors) or strings; ``seed`` and
    ``seconds`` (the notebook's run time) are added. Returns the path written.
    """
    if not stem or Path(stem).name != stem:
        raise ValueError(
            f"stem must be a plain file name such as '03_skip_connections', got {stem!r}"
        )
    if not numbers_:
        raise ValueError("numbers_ is empty: give the notebook's headline numbers")
    record = {str(k): _plain(v) for k, v in numbers_.items()}
    for key in ("seed", "seconds"):
        if key in record:
            raise ValueError(f"{key!r} is added by save(); do not pass it in numbers_")
    record["seed"] = int(seed)
    record["seconds"] = round(float(seconds), 1)
    path = write_json(Path(directory) / f"{stem}.json", record)
    if show:
        print(table(record))
        print(f"saved to {path}")
    return path


def load(stem: str, directory: str | os.PathLike = "results") -> dict:
    """The numbers a notebook saved with :func:`save`."""
    path = Path(directory) / f"{stem}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run notebook {stem} first")
    return json.loads(path.read_text())
