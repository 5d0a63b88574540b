"""Colab readiness of every notebook, as CONTRIBUTING.md describes it.

For each ``notebooks/NN_name.ipynb``: a title cell ``# NN · Title`` with the "Open in Colab"
badge pointing at the notebook's own path in the repository that pyproject.toml names; the
install cell exactly as CONTRIBUTING.md gives it (installs fcnlib only when missing, never
torch or ipywidgets, and says what to do when that fails); a ``# Settings`` cell tagged
``parameters`` (papermill's convention) whose first assignment is ``FULL_RUN = False``, then
``SEED`` and ``SMOKE``, followed by the settings derived from them, where ``FULL_RUN = True``
switches to a real data set; Colab metadata asking for a GPU; and no committed outputs.
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
GITHUB = re.search(
    r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+)"$',
    (REPO / "pyproject.toml").read_text(),
    re.M,
).group(1)
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
    assert f'REPOSITORY = "https://github.com/{GITHUB}"' in cell.source
    pip = [line for line in cell.source.splitlines() if '"install"' in line]
    assert len(pip) == 1
    for word in ("torch", "ipywidgets", "--upgrade", "-U", "--force-reinstall"):
        assert word not in pip[0]


def run_install_cell(monkeypatch, returncode):
    """Execute the install cell where ``import fcnlib`` fails and pip exits with
    ``returncode``: ``(the commands run, the exception the cell raised)``."""
    import subprocess

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, returncode)

    monkeypatch.setitem(sys.modules, "fcnlib", None)  # the import fails
    monkeypatch.setattr(subprocess, "run", fake_run)
    try:
        exec(compile(install_cell_text(), "<install cell>", "exec"), {})
        raised = None
    except BaseException as e:  # SystemExit included
        raised = e
    finally:
        monkeypatch.undo()
    return calls, raised


def test_install_cell_installs_only_fcnlib_and_says_what_to_do_when_it_fails(monkeypatch):
    calls, raised = run_install_cell(monkeypatch, 0)
    ((*pip, spec),) = calls
    assert pip[1:] == ["-m", "pip", "install", "-q"]
    assert spec == f"fcnlib @ git+https://github.com/{GITHUB}"
    assert isinstance(raised, ImportError)  # pip "succeeded" but this fake installed nothing
    calls, raised = run_install_cell(monkeypatch, 1)
    assert len(calls) == 1 and isinstance(raised, SystemExit)
    message = str(raised)
    assert f"https://github.com/{GITHUB}" in message and "pip install 'fcnlib @ git+" in message
    assert len(message.splitlines()) == 1


def test_every_place_names_the_repository_of_pyproject():
    import subprocess

    done = subprocess.run(
        [sys.executable, str(REPO / ".ci" / "repository.py")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_fork_command_rewrites_every_place(tmp_path):
    import shutil
    import subprocess

    for name in ("pyproject.toml", "README.md", "CONTRIBUTING.md", ".ci/repository.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(
        REPO / "notebooks",
        tmp_path / "notebooks",
        ignore=shutil.ignore_patterns("checkpoints", "results", "outputs", "data"),
    )
    script = tmp_path / ".ci" / "repository.py"
    done = subprocess.run(
        [sys.executable, str(script), "someone/my-fork"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for nb_path in sorted((tmp_path / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = nb_path.read_text()
        assert "github.com/someone/my-fork" in text and f"github.com/{GITHUB}" not in text
        assert (
            f"colab.research.google.com/github/someone/my-fork/blob/main/notebooks/{nb_path.name}"
            in text
        )
    assert (
        'Repository = "https://github.com/someone/my-fork"'
        in (tmp_path / "pyproject.toml").read_text()
    )


def settings_cell(nb):
    cells = [c for c in code_cells(nb) if c.source.startswith("# Settings")]
    return cells[0] if cells else None


def run_settings(nb, full_run: bool, smoke: bool = False) -> dict:
    """Execute the parameters cell, papermill's injected values, then the derived settings."""
    cells = code_cells(nb)
    i = cells.index(settings_cell(nb))
    namespace: dict = {}
    exec(compile(python_of(cells[i].source), "<parameters>", "exec"), namespace)
    namespace.update(FULL_RUN=full_run, SMOKE=smoke)
    exec(compile(python_of(cells[i + 1].source), "<settings>", "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.isupper()}


def test_settings_cell_has_the_full_run_switch(notebook):
    path, nb = notebook
    cell = settings_cell(nb)
    assert cell is not None, f"{path.name}: no code cell starting with '# Settings'"
    assert code_cells(nb).index(cell) == 1, (
        f"{path.name}: the Settings cell follows the install cell"
    )
    assert cell.metadata.get("tags") == ["parameters"], f"{path.name}: tag it 'parameters'"
    tree = ast.parse(python_of(cell.source))
    names = [ast.unparse(n) for n in tree.body if isinstance(n, ast.Assign)]
    assert names == ["FULL_RUN = False", "SEED = 0", "SMOKE = False"], (
        f"{path.name}: the parameters cell holds FULL_RUN = False, SEED = 0, SMOKE = False"
    )
    quick, full = run_settings(nb, False), run_settings(nb, True)
    changed = sorted(k for k in quick if k != "FULL_RUN" and quick[k] != full.get(k))
    assert changed, f"{path.name}: FULL_RUN = True changes none of the settings"
    datasets = [k for k in quick if k in ("DATASET", "DATASET_NAME")]
    for key in datasets:
        assert quick[key] == "shapes", f"{path.name}: the CPU default must be the built-in data set"
        assert full[key] in DATASETS and full[key] != "shapes", (
            f"{path.name}: FULL_RUN must pick a real data set"
        )


def test_smoke_caps_the_full_run_settings(notebook):
    path, nb = notebook
    full, smoke = run_settings(nb, True), run_settings(nb, True, smoke=True)
    from fcnlib.course import SMOKE_LIMITS

    capped = {k for k in full if k.lower() in SMOKE_LIMITS}
    assert "IMAGE_SIZE" in capped or "MODEL_SIZE" in capped, path.name
    for k in capped:
        assert smoke[k] is not None, (path.name, k)
    assert smoke["DATASET"] == full["DATASET"], f"{path.name}: SMOKE keeps the full run's data set"


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
