"""The project's own files install everything the course needs, in step with each other."""

import importlib
import re
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in ("course", "test"):
        wanted |= set(project["optional-dependencies"][extra])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    got = {p for p in pip if not p.startswith("-e")}
    assert got == wanted
    assert "-e ." in pip


def test_requirements_are_lower_bounds_that_colab_satisfies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"]
    for r in reqs:
        assert "==" not in r and "<" not in r, f"{r}: use a lower bound, not a pin"
    colab = {"torch": (2, 11), "torchvision": (0, 26), "ipywidgets": (7, 7)}
    for r in reqs:
        name = _name(r)
        if name in colab:
            lower = tuple(int(v) for v in r.split(">=")[1].split(".")[:2])
            assert lower <= colab[name], f"{r} would make Colab reinstall {name}"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make course" in readme
    assert "MPLBACKEND=" not in ci.replace("unset MPLBACKEND", "")


# names the course's design card gives a second path (engine.save_checkpoint, ...)
_DESIGN_CARD_PATHS = {("engine", "save_checkpoint"), ("engine", "load_checkpoint")}


@pytest.mark.parametrize(
    "name",
    ["analysis", "checkpoints", "engine", "history", "inference", "metrics", "optim",
     "transforms", "video", "video_io", "viz", "widgets", "models", "data"],
)  # fmt: skip
def test_every_public_name_has_one_home(name):
    """A module's ``__all__`` lists only what it (or, for a package, its submodules) defines."""
    if name in ("video", "widgets"):
        pytest.importorskip("cv2" if name == "video" else "ipywidgets")
    module = importlib.import_module(f"fcnlib.{name}")
    for attr in module.__all__:
        obj = getattr(module, attr)
        home = getattr(obj, "__module__", None)
        if home is None or (name, attr) in _DESIGN_CARD_PATHS:
            continue  # constants carry no home
        if home.rpartition(".")[2].startswith("_"):
            continue  # made public here from a private module (fcnlib._checks)
        assert home == module.__name__ or home.startswith(module.__name__ + "."), (
            f"fcnlib.{name}.{attr} is defined in {home}: import it from there"
        )
