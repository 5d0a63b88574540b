"""Build the course website into ``build/site/`` from the notebooks that ran into ``build/``.

    python docs/build_site.py                 # what `make site` runs
    python docs/build_site.py --record-run build/run-info.json   # before a run: the machine

Nothing is executed here. The sources are staged in ``build/site-src/``: the README as the
landing page, every executed notebook ``build/NN_*.ipynb`` (a Colab button, a download link
and the run's seed, machine and date under its title; its widgets as still pictures, see
``widget_stills.py``), ``data/README.md``, ``benchmarks/README.md`` and ``api.md``. Links
to files that are not pages of the site point at the repository on GitHub. Sphinx with
myst-nb and the book theme (the ``site`` extra) then writes the HTML.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
from widget_stills import replace_widgets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path(__file__).resolve().parent
DEFAULT_REPOSITORY = "https://github.com/fcn-course/fcn-course"
BRANCH = "main"
PAGES = {"README.md": "index.md", "data/README.md": "data/README.md",
         "benchmarks/README.md": "benchmarks/README.md"}  # fmt: skip
COLAB_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\s*")
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}


def repository() -> str:
    """The GitHub address from pyproject's ``[project.urls]``, else the course's own."""
    import tomllib  # Python 3.11; `make site` needs it, `--record-run` does not

    project = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("project", {})
    urls = project.get("urls", {})
    for key in ("Repository", "repository", "Source", "source", "Homepage", "homepage"):
        if "github.com/" in urls.get(key, ""):
            return urls[key].rstrip("/").removesuffix(".git")
    return DEFAULT_REPOSITORY


def pages_address(repo: str) -> str:
    """Where GitHub Pages publishes ``repo``'s site: ``https://OWNER.github.io/NAME/``."""
    owner, name = repo.split("github.com/", 1)[1].split("/")[:2]
    return f"https://{owner.lower()}.github.io/{name}/"


def machine() -> dict:
    """The machine that runs the notebooks, and when."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_version = torch.__version__
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        torch_version, gpu = None, None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": gpu,
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "torch": torch_version,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit or None,
    }


def describe(info: dict) -> str:
    """One line naming the machine of ``info`` (as :func:`machine` records it)."""
    parts = [f"{info['cores']}-core {info['cpu']}" if info.get("cores") else info.get("cpu")]
    parts += [info.get("gpu"), info.get("platform")]
    parts += [f"Python {info['python']}" if info.get("python") else None]
    parts += [f"PyTorch {info['torch']}" if info.get("torch") else None]
    return ", ".join(p for p in parts if p)


def run_date(nb, fallback: str | None) -> str | None:
    """The day the notebook ran: its first cell's execution time (nbclient records it)."""
    for cell in nb.cells:
        started = cell.get("metadata", {}).get("execution", {}).get("iopub.execute_input")
        if started:
            return started[:10]
    return fallback[:10] if fallback else None


def run_seed(executed: Path, result: Path):
    """The seed the notebook ran with: what its summary recorded, else the last ``SEED = n``
    of its code (papermill's injected parameters come after the Settings cell)."""
    if result.is_file():
        return json.loads(result.read_text()).get("seed")
    seeds = [
        int(m.group(1))
        for cell in nbformat.read(executed, as_version=4).cells
        if cell.cell_type == "code"
        for m in re.finditer(r"^SEED\s*=\s*(\d+)\s*$", cell.source, flags=re.M)
    ]
    return seeds[-1] if seeds else None


def code_of(path: Path) -> list[str]:
    """The code cells' sources (papermill's injected parameters left out)."""
    cells = nbformat.read(path, as_version=4).cells
    return [
        c.source
        for c in cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]


def rewrite_links(text: str, source: Path, staged: Path, src: Path, repo: str) -> str:
    """Links of ``text`` (the file ``source``, staged as ``staged``) made right for the site:
    pages of the site stay relative, local images are copied along, the rest go to GitHub."""
    site_pages = {ROOT / p for p in PAGES} | set((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target):
            return m.group(0)
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        if resolved.is_dir() and (resolved / "README.md").is_file():
            resolved = resolved / "README.md"
        if resolved in site_pages:
            page = src / (PAGES.get(str(resolved.relative_to(ROOT)), "") or
                          resolved.relative_to(ROOT))  # fmt: skip
            new = os.path.relpath(page, staged.parent) + (f"#{anchor}" if anchor else "")
        elif resolved.suffix.lower() in IMAGE_SUFFIXES and resolved.is_file():
            copy = src / resolved.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(resolved, copy)
            new = os.path.relpath(copy, staged.parent)
        else:
            try:
                rel = resolved.relative_to(ROOT).as_posix()
            except ValueError:
                return m.group(0)
            kind = "tree" if resolved.is_dir() else "blob"
            new = f"{repo}/{kind}/{BRANCH}/{rel}" + (f"#{anchor}" if anchor else "")
        return m.group(1) + new + m.group(3)

    return LINK.sub(fix, text)


def launch_bar(stem: str, repo: str, provenance: str) -> str:
    colab = "https://colab.research.google.com/github/" + repo.split("github.com/", 1)[1]
    colab += f"/blob/{BRANCH}/notebooks/{stem}.ipynb"
    return (
        '<div class="fcn-launch">'
        f'<a class="fcn-button fcn-colab" href="{colab}">Open in Colab</a>'
        f'<a class="fcn-button fcn-download" href="{stem}.ipynb" download>Download notebook</a>'
        f'<span class="fcn-provenance">{provenance}</span></div>\n\n'
    )


def stage_notebook(source: Path, executed: Path, staged: Path, src: Path, repo: str,
                   seed, info: dict) -> str:  # fmt: skip
    """Write the site's copy of one executed notebook; returns its title."""
    nb = nbformat.read(executed, as_version=4)
    replace_widgets(nb)
    title = None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = rewrite_links(cell.source, source, staged, src, repo)
        if title is None:
            heading = re.search(r"^# (.+)$", text, flags=re.M)
            if heading is None:
                raise ValueError(f"{source}: the first markdown cell has no '# title' line")
            title = heading.group(1).strip()
            date = run_date(nb, info.get("date"))
            provenance = (
                f"Outputs below: seed {seed if seed is not None else 'unknown'}, "
                f"run on {date or 'an unrecorded date'}, "
                f"on {describe(info) or 'a machine that was not recorded'}."
            )
            text = COLAB_BADGE.sub("", text)
            end = heading.end()
            text = text[:end] + "\n\n" + launch_bar(source.stem, repo, provenance) + text[end:]
        cell.source = text
    nb.cells = [nbformat.from_dict(c) for c in nb.cells]
    staged.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, staged)
    return title


def about_section(rows: list[tuple[str, str, object, str | None]], info: dict) -> str:
    lines = [
        "## About this website",
        "",
        "Each notebook page shows the notebook as it ran, top to bottom and in course order, "
        "with its figures and printed outputs; the interactive widgets are shown as still "
        "pictures (open the notebook in Jupyter or Colab to use them).",
        "",
        f"The outputs were produced on {describe(info) or 'a machine that was not recorded'}"
        + (f", at commit `{info['commit']}`" if info.get("commit") else "")
        + ", with these seeds (the Settings cell's `SEED`):",
        "",
        "| notebook | seed | run on |",
        "|---|---|---|",
    ]
    for stem, title, seed, date in rows:
        lines.append(f"| [{title}](notebooks/{stem}.ipynb) | {seed} | {date or 'unknown'} |")
    return "\n".join(lines) + "\n"


def toctree(caption: str, entries: list[str]) -> str:
    body = "\n".join(entries)
    return f"\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n{body}\n```\n"


def stage(executed_dir: Path, results_dir: Path, run_info: Path, src: Path, repo: str) -> None:
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
    shutil.copy(DOCS / "conf.py", src / "conf.py")
    api = (DOCS / "api.md").read_text()
    (src / "api.md").write_text(rewrite_links(api, DOCS / "api.md", src / "api.md", src, repo))
    (src / "site.json").write_text(json.dumps({"repository": repo, "branch": BRANCH}))
    info = json.loads(run_info.read_text()) if run_info.is_file() else {}

    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [nb.name for nb in notebooks if not (executed_dir / nb.name).is_file()]
    if missing:
        raise SystemExit(
            f"executed notebooks missing from {executed_dir}/: {', '.join(missing)}. "
            "Run `make course` or `make test` first (both write them there)."
        )
    for nb in notebooks:
        if code_of(nb) != code_of(executed_dir / nb.name):
            print(f"warning: {executed_dir / nb.name} ran other code than {nb}: run it again")
    rows = []
    for nb in notebooks:
        staged = src / "notebooks" / nb.name
        seed = run_seed(executed_dir / nb.name, results_dir / f"{nb.stem}.json")
        title = stage_notebook(nb, executed_dir / nb.name, staged, src, repo, seed, info)
        date = run_date(nbformat.read(executed_dir / nb.name, as_version=4), info.get("date"))
        rows.append((nb.stem, title, "unknown" if seed is None else seed, date))
        download = src / "_extra" / "notebooks" / nb.name
        download.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, download)  # the learner's notebook, without outputs

    for source, target in PAGES.items():
        staged = src / target
        staged.parent.mkdir(parents=True, exist_ok=True)
        text = rewrite_links((ROOT / source).read_text(), ROOT / source, staged, src, repo)
        if target == "index.md":
            text += "\n" + about_section(rows, info)
            text += toctree("Notebooks", [f"notebooks/{nb.stem}" for nb in notebooks])
            text += toctree("Reference", ["data/README", "api", "benchmarks/README"])
        staged.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--executed",
        type=Path,
        default=ROOT / "build",
        help="folder of the executed notebooks NN_*.ipynb (default: build/)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=ROOT / "notebooks" / "results",
        help="the notebooks' summary records, for their seeds",
    )
    p.add_argument(
        "--run-info",
        type=Path,
        default=ROOT / "build" / "run-info.json",
        help="the machine and date recorded before the run (make course, make test)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    p.add_argument(
        "--record-run",
        type=Path,
        metavar="JSON",
        help="only record this machine and the date into JSON, and stop",
    )
    args = p.parse_args(argv)  # fmt: skip

    if args.record_run:
        args.record_run.parent.mkdir(parents=True, exist_ok=True)
        args.record_run.write_text(json.dumps(machine(), indent=1) + "\n")
        return 0

    if sys.version_info < (3, 11):
        raise SystemExit("the website needs Python 3.11 or later (Sphinx 9 and its themes)")
    from sphinx.cmd.build import build_main

    src = args.out.parent / "site-src"
    stage(args.executed, args.results, args.run_info, src, repository())
    if args.out.exists():
        shutil.rmtree(args.out)
    status = build_main(["-b", "html", "-q", "-E", str(src), str(args.out)])
    if status == 0:
        pages = [p for p in args.out.rglob("*.html") if "_static" not in p.parts]
        print(f"site written to {args.out}/index.html ({len(pages)} pages)")
    return status


if __name__ == "__main__":
    sys.exit(main())
