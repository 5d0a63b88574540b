"""The project's own files install everything the course needs, in step with each other."""

import re
from pathlib import Path

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
