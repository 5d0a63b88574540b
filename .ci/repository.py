"""The course's repository address, kept in one place: ``[project.urls] Repository`` in
pyproject.toml. Every notebook's "Open in Colab" badge and install cell, the README and
CONTRIBUTING.md name it.

    python .ci/repository.py                 # check that every place names pyproject's address
    python .ci/repository.py OWNER/NAME      # a fork: rewrite the address everywhere
    make fork REPO=OWNER/NAME                # the same, from the Makefile
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["pyproject.toml", "README.md", "CONTRIBUTING.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
)]  # fmt: skip
URL = re.compile(r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+)"$', re.M)


def repository() -> str:
    """``owner/name`` of pyproject.toml's ``[project.urls] Repository``."""
    found = URL.findall((ROOT / "pyproject.toml").read_text())
    if len(found) != 1:
        raise SystemExit(
            'pyproject.toml needs one line Repository = "https://github.com/OWNER/NAME"'
        )
    return found[0]


def mentions(text: str) -> set[str]:
    """Every ``owner/name`` that ``text`` links to on GitHub or Colab's GitHub viewer."""
    return set(
        re.findall(
            r"(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+?)(?=[/\"'\s)]|\.git|$)",
            text,
        )
    )


def check() -> list[str]:
    """Problems: files that name another repository than pyproject.toml's."""
    repo, problems = repository(), []
    for name in FILES:
        text = (ROOT / name).read_text()
        other = sorted(
            m
            for m in mentions(text)
            if m != repo and not m.startswith(("pytorch/", "googlecolab/"))
        )
        if other:
            problems.append(f"{name} names {other}, not {repo}")
    return problems


def rewrite(new: str) -> None:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", new):
        raise SystemExit(f"give the fork as OWNER/NAME (as in github.com/OWNER/NAME), got {new!r}")
    old = repository()
    for name in FILES:
        path = ROOT / name
        text = path.read_text()
        path.write_text(text.replace(f"github.com/{old}", f"github.com/{new}").replace(
            f"colab.research.google.com/github/{old}/", f"colab.research.google.com/github/{new}/"))  # fmt: skip
        print(f"{name}: {old} -> {new}" if text != path.read_text() else f"{name}: unchanged")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        rewrite(sys.argv[1])
    problems = check()
    print("\n".join(problems) or f"every badge and install cell names {repository()}")
    sys.exit(1 if problems else 0)
