"""Executing a course notebook outside the in-order run: alone in an empty folder, or with
papermill parameters (``FULL_RUN``, ``SEED``, ``SMOKE``) injected into its tagged cell."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The one demo that may skip itself: it needs the network (04's torchvision photo demo).
NETWORK_SKIP = re.compile(r"^Skipped: .*network", re.M)


def execute(notebook: Path, folder: Path, parameters: dict | None = None, timeout: int = 900):
    """Run ``notebook`` with papermill, its working folder ``folder`` (which gets a copy of the
    notebook and nothing else from the repository). Returns ``(executed notebook, seconds)``;
    a failing cell raises papermill's error, which names the cell and the exception."""
    import papermill

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / notebook.name
    shutil.copy(notebook, source)
    env_backend = os.environ.pop("MPLBACKEND", None)  # Agg would drop every figure
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source), str(folder / f"executed_{notebook.name}"), parameters=parameters or {},
            cwd=str(folder), kernel_name="python3", progress_bar=False, execution_timeout=timeout,
        )  # fmt: skip
    finally:
        if env_backend is not None:
            os.environ["MPLBACKEND"] = env_backend
    seconds = time.perf_counter() - t0
    return nbformat.read(folder / f"executed_{notebook.name}", as_version=4), seconds


def printed(nb) -> str:
    """Everything the notebook printed (stream outputs and plain-text results)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def skipped_checks(nb) -> list[str]:
    """Lines saying that a check or demo was skipped (the network demo excepted)."""
    text = NETWORK_SKIP.sub("", printed(nb))
    return [line for line in text.splitlines() if re.search(r"\bskipped\b", line, re.I)]


def saves_summary(notebook: Path) -> bool:
    """Whether the notebook ends with ``summary.save`` (07 and 08 record no headline numbers)."""
    return "summary.save(" in notebook.read_text()


def results(folder: Path, stem: str) -> dict | None:
    path = folder / "results" / f"{stem}.json"
    return json.loads(path.read_text()) if path.is_file() else None
