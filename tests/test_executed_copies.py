"""``pytest --executed-copies DIR`` (the root conftest): the copy that nbval's run writes holds
what ``jupyter nbconvert --execute`` (nbclient) writes for the same notebook.

A small notebook with every kind of output the course makes (printed text, stderr, a
matplotlib figure, a ``tqdm.auto`` bar, ``clear_output(wait=True)``, a display updated in
place, HTML, an fcnlib widget) is run both ways; the two are compared cell by cell.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

CELLS = [
    "%matplotlib inline\nimport sys\nprint('hello')\nprint('to stderr', file=sys.stderr)",
    "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()",
    "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='steps'):\n    pass",
    "from IPython.display import clear_output\n"
    "for i in range(3):\n    clear_output(wait=True)\n    print('frame', i)",
    "from IPython.display import display, HTML\n"
    "handle = display('first', display_id=True)\nhandle.update('second')\nHTML('<b>bold</b>')",
    "import torch\nfrom fcnlib import data, widgets\n"
    "ds = data.ShapesScenes('val', 2, image_size=32)\n"
    "images = torch.stack([ds[i][0] for i in range(2)])\n"
    "targets = torch.stack([ds[i][1] for i in range(2)])\n"
    "widgets.MaskExplorer(images, targets, classes=ds.classes, palette=ds.palette)",
]


def _normalised(nb) -> list:
    """Per code cell: each output's type, stream name and text, mime types and plain text;
    widget references and PNG bytes reduced to placeholders."""
    cells = []
    for cell in nb.cells:
        outs = []
        for out in cell.outputs:
            if out.output_type == "stream":
                outs.append(("stream", out.name, out.text))
                continue
            data = out.get("data", {})
            plain = data.get("text/plain", "")
            if WIDGET_VIEW in data:
                plain = re.sub(r"\d+/\d+ \[.*", "", plain)  # a bar's timing text
            outs.append((out.output_type, sorted(data), plain, "image/png" in data))
        cells.append((cell.execution_count, outs))
    return cells


def _widgets(nb) -> list:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return sorted(
        (m["model_name"], [b["path"] for b in m.get("buffers", [])]) for m in state.values()
    )


def _write(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def _nbval(path: Path, copies: Path) -> subprocess.CompletedProcess:
    """``pytest --nbval-lax --executed-copies copies`` on ``path``, with the root conftest."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", str(path), "--nbval-lax",
         "--nbval-current-env", "--executed-copies", str(copies), "-p", "no:cacheprovider",
         "-q", "--rootdir", str(path.parent)],
        cwd=path.parent, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


def test_nbval_copy_matches_nbclient(tmp_path):
    from nbclient import NotebookClient

    path = _write(tmp_path / "probe.ipynb", CELLS)
    run = _nbval(path, tmp_path / "copies")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    copy = nbformat.read(tmp_path / "copies" / "probe.ipynb", as_version=4)

    reference = nbformat.read(path, as_version=4)
    NotebookClient(
        reference, timeout=240, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    assert _normalised(copy) == _normalised(reference)
    assert _widgets(copy) == _widgets(reference)
    assert [["value"]] in [paths for _, paths in _widgets(copy)]  # the explorer's PNG
    assert all(c.metadata["execution"]["iopub.execute_input"] for c in copy.cells)


def test_failing_notebook_leaves_no_copy(tmp_path):
    path = _write(tmp_path / "fails.ipynb", ["print(1)", "1 / 0"])
    assert _nbval(path, tmp_path / "copies").returncode == 1
    assert not (tmp_path / "copies" / "fails.ipynb").exists()
