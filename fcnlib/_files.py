"""Atomic file writes: a file appears under its name only once it is complete.

Checkpoints and videos are written to a temporary file in the destination's folder and then
renamed into place (``os.replace`` is atomic on one file system), so an interrupted run never
leaves a truncated file where a complete one is expected.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class AtomicPath:
    """A temporary path beside ``path``: :meth:`commit` renames it to ``path``, :meth:`discard`
    removes it. As a context manager it commits on success and discards on an exception::

        with AtomicPath("run/model.pt") as tmp:
            torch.save(state, tmp)

    ``suffix`` is the temporary file's extension (a video writer picks its container by it).
    """

    def __init__(self, path, suffix: str = ".tmp"):
        self.path = Path(path)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=suffix
        )
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically; the folder is created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicPath(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")
    return path
