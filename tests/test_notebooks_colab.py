"""Colab readiness of every notebook, as CONTRIBUTING.md describes it.

For each ``notebooks/NN_name.ipynb``: a title cell ``# NN · Title`` with the "Open in Colab"
badge pointing at the notebook's own path; the install cell exactly as CONTRIBUTING.md
gives it (installs fcnlib only when missing, never torch or ipywidgets); a ``# Settings``
cell whose first assignment is ``FULL_RUN = False`` and whose ``True`` switches to a real
data set; Colab metadata asking for a GPU; and no committed outputs.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

from fcnlib.data import DATASETS

REPO = Path(__file__).resolve().parents[1]
CONTRIBUTING = (REPO / "CONTRIBUTING.md").read_text()
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
GITHUB = "fcn-course/fcn-course"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def listed_notebooks() -> list[str]:
    """The notebook names of CONTRIBUTING.md's "Notebooks, in order:" sentence."""
    sentence = re.search(r"Notebooks, in order:(.*?)\.\n", CONTRIBUTING, re.S).group(1)
    return re.findall(r"`(\d\d_\w+)`", sentence)


def install_cell_text() -> str:
    """The install cell, exactly as CONTRIBUTING.md's code block gives it."""
    block = re.search(
        r"\*\*Install cell\*\* \(code\), exactly:\s*```python\n(.*?)```", CONTRIBUTING, re.S
    )
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines).strip()


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def python_of(source: str) -> str:
    """Cell source as Python: IPython magics (``%pip``, ``!cmd``) become ``pass``."""
    return "\n".join(re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in source.splitlines())


@pytest.fixture(params=NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def notebook(request):
    path = request.param
    return path, nbformat.read(path, as_version=4)


def test_contributing_lists_the_course():
    names = listed_notebooks()
    assert names[0] == "00_semantic_segmentation" and names[-1] == "08_scaling_up"
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(len(names))]
    assert "import fcnlib" in install_cell_text()


def test_every_listed_notebook_exists():
    missing = [n for n in listed_notebooks() if not (REPO / "notebooks" / f"{n}.ipynb").exists()]
    assert not missing, f"notebooks listed in CONTRIBUTING.md but missing: {missing}"


def test_no_unlisted_notebooks():
    assert {p.stem for p in NOTEBOOKS} <= set(listed_notebooks())


def test_title_cell_and_badge(notebook):
    path, nb = notebook
    first = nb.cells[0]
    assert first.cell_type == "markdown", (
        f"{path.name}: the first cell must be the title (markdown)"
    )
    assert re.match(rf"# {path.stem[:2]} · \S", first.source), (
        f"{path.name}: title must start '# {path.stem[:2]} · '"
    )
    url = f"https://colab.research.google.com/github/{GITHUB}/blob/main/notebooks/{path.name}"
    assert f"[![Open In Colab]({BADGE_IMAGE})]({url})" in first.source, (
        f"{path.name}: badge must open {url}"
    )
    badges = re.findall(r"colab\.research\.google\.com/github/[^)\s]+", first.source)
    assert badges == [url.removeprefix("https://")], f"{path.name}: one badge, to its own path"
    assert "Learning goals" in first.source


def test_install_cell_is_the_documented_one(notebook):
    path, nb = notebook
    cell = code_cells(nb)[0]
    assert cell.source.strip() == install_cell_text(), (
        f"{path.name}: first code cell must be the install cell"
    )
    # what the text promises: install only when the import fails, and never torch/ipywidgets
    tree = ast.parse(python_of(cell.source))
    (node,) = tree.body
    assert isinstance(node, ast.Try) and [type(s) for s in node.body] == [ast.Import]
    assert node.handlers[0].type.id == "ImportError"
    pip = [line for line in cell.source.splitlines() if "pip install" in line]
    assert len(pip) == 1 and f"git+https://github.com/{GITHUB}" in pip[0]
    for word in ("torch", "ipywidgets", "--upgrade", " -U", "--force-reinstall"):
        assert word not in pip[0]


def settings_cell(nb):
    cells = [c for c in code_cells(nb) if c.source.splitlines()[:1] == ["# Settings"]]
    return cells[0] if cells else None


def run_settings(source: str, full_run: bool) -> dict:
    """Execute the settings cell with ``FULL_RUN`` forced to ``full_run``; its variables."""
    tree = ast.parse(python_of(source))
    first = next(n for n in tree.body if isinstance(n, ast.Assign))
    first.value = ast.copy_location(ast.Constant(full_run), first.value)
    namespace: dict = {}
    exec(compile(tree, "<settings>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.isupper()}


def test_settings_cell_has_the_full_run_switch(notebook):
    path, nb = notebook
    cell = settings_cell(nb)
    assert cell is not None, f"{path.name}: no code cell starting with '# Settings'"
    assert code_cells(nb).index(cell) == 1, (
        f"{path.name}: the Settings cell follows the install cell"
    )
    tree = ast.parse(python_of(cell.source))
    first = next(n for n in tree.body if isinstance(n, ast.Assign))
    assert ast.unparse(first) == "FULL_RUN = False", (
        f"{path.name}: first assignment must be FULL_RUN = False"
    )
    quick, full = run_settings(cell.source, False), run_settings(cell.source, True)
    changed = sorted(k for k in quick if k != "FULL_RUN" and quick[k] != full.get(k))
    assert changed, f"{path.name}: FULL_RUN = True changes none of the settings"
    datasets = [k for k in quick if k in ("DATASET", "DATASET_NAME")]
    for key in datasets:
        assert quick[key] == "shapes", f"{path.name}: the CPU default must be the built-in data set"
        assert full[key] in DATASETS and full[key] != "shapes", (
            f"{path.name}: FULL_RUN must pick a real data set"
        )


def test_colab_metadata_asks_for_a_gpu(notebook):
    path, nb = notebook
    assert nb.metadata.get("accelerator") == "GPU", path.name
    assert nb.metadata.get("colab", {}).get("gpuType") == "T4", path.name
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name


def test_committed_without_outputs(notebook):
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        assert cell.get("outputs") == [], (
            f"{path.name}: code cell {i} has outputs; run `make strip`"
        )
        assert cell.get("execution_count") is None, (
            f"{path.name}: code cell {i} has an execution count"
        )
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state in the metadata"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_requirements_are_lower_bounds_so_colab_keeps_its_torch():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
        if name in ("torch", "torchvision", "ipywidgets"):
            assert re.fullmatch(rf"{name}\s*>=\s*[\d.]+", dep), (
                f"{dep!r} must be a lower bound only"
            )
