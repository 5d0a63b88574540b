"""The exercises' commands: ``generate`` (learner cells from the masters), ``solutions`` (run
every master against its checks) and ``--list``.

One source per notebook: ``exercises/NN_<stem>.ipynb`` (the *master*) holds the exercises with
their worked solutions between otter-grader's markers (``# BEGIN SOLUTION`` / ``# END SOLUTION``
in code, ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->`` around a markdown cell). The
learner's cells at the end of ``notebooks/NN_<stem>.ipynb`` are generated from it: the master's
cells from its "## Exercises" cell on, solutions removed, each tagged ``exercise``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from .._files import write_json

EXERCISE_TAG = "exercise"
SETUP_TAGS = {"parameters", "setup"}
BEGIN_CODE = "# BEGIN SOLUTION"
END_CODE = "# END SOLUTION"
BEGIN_MD = "<!-- BEGIN SOLUTION -->"
END_MD = "<!-- END SOLUTION -->"
IMPORT_CELL = "from fcnlib import exercises"
HEADING = re.compile(r"^###\s+Exercise\s+(\d\d\.\d+)\s+·\s+(.+?)\s*$", re.M)
CHECK_CALL = re.compile(r"exercises\.check\(\s*[\"'](\d\d\.\d+)[\"']")
NOT_ATTEMPTED = "not attempted yet"


def repo_root() -> Path:
    """The course repository: the working directory when it has ``exercises/``, else fcnlib's."""
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        if (folder / "exercises").is_dir() and (folder / "notebooks").is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def masters(root: Path | None = None, which: list[str] | None = None) -> list[Path]:
    """The master notebooks ``exercises/NN_*.ipynb``, only notebooks ``which`` if given."""
    root = root or repo_root()
    found = sorted((root / "exercises").glob("[0-9][0-9]_*.ipynb"))
    if which:
        wanted = {w.zfill(2) for w in which}
        unknown = wanted - {p.name[:2] for p in found}
        if unknown:
            raise SystemExit(f"no master exercises/NN_*.ipynb for notebook(s) {sorted(unknown)}")
        found = [p for p in found if p.name[:2] in wanted]
    return found


def course_notebook(master: Path) -> Path:
    """The course notebook ``notebooks/NN_<stem>.ipynb`` whose exercises ``master`` holds."""
    return master.parents[1] / "notebooks" / master.name


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _is_exercises_heading(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Exercises")


def strip_solution(source: str) -> str:
    """``source`` without its ``# BEGIN SOLUTION`` .. ``# END SOLUTION`` blocks (markers too)."""
    out, depth = [], 0
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN_CODE:
            if depth:
                raise ValueError(f"nested {BEGIN_CODE} in:\n{source}")
            depth = 1
            continue
        if stripped == END_CODE:
            if not depth:
                raise ValueError(f"{END_CODE} without {BEGIN_CODE} in:\n{source}")
            depth = 0
            continue
        if not depth:
            out.append(line)
    if depth:
        raise ValueError(f"{BEGIN_CODE} without {END_CODE} in:\n{source}")
    return "\n".join(out).strip("\n")


def is_solution_markdown(cell) -> bool:
    """A markdown cell wrapped in ``<!-- BEGIN SOLUTION -->`` .. ``<!-- END SOLUTION -->``."""
    if cell.cell_type != "markdown":
        return False
    text = cell.source.strip()
    begins, ends = text.startswith(BEGIN_MD), text.endswith(END_MD)
    if begins != ends or text.count(BEGIN_MD) != text.count(END_MD):
        raise ValueError(f"solution markdown cell with unbalanced markers:\n{cell.source}")
    return begins


def exercise_cells(master_nb) -> list:
    """The master's cells from its "## Exercises" cell on (the ones the learner sees)."""
    for i, cell in enumerate(master_nb.cells):
        if _is_exercises_heading(cell):
            return master_nb.cells[i:]
    raise ValueError("the master has no '## Exercises' markdown cell")


def learner_cells(master: Path) -> list:
    """The cells that ``generate`` writes into the course notebook for ``master``."""
    import nbformat

    nn = master.name[:2]
    cells = []
    for cell in exercise_cells(nbformat.read(master, as_version=4)):
        if is_solution_markdown(cell):
            continue
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(strip_solution(cell.source))
        else:
            new = nbformat.v4.new_markdown_cell(cell.source)
        cells.append(new)
        if _is_exercises_heading(cell) and len(cells) == 1:
            cells.append(nbformat.v4.new_code_cell(IMPORT_CELL))
    for k, cell in enumerate(cells):
        cell.id = f"exercises-{nn}-{k:02d}"
        cell.metadata = {"tags": [EXERCISE_TAG]}
    return cells


def _exercise_block(nb) -> tuple[int, int]:
    """``(start, stop)`` of the cells to replace: the ``exercise``-tagged block, else the
    "## Exercises" markdown cell the course notebook had before its first generation."""
    tagged = [i for i, c in enumerate(nb.cells) if EXERCISE_TAG in _tags(c)]
    if tagged:
        start, stop = tagged[0], tagged[-1] + 1
        if stop - start != len(tagged):
            raise ValueError("the cells tagged 'exercise' are not one contiguous block")
        return start, stop
    headings = [i for i, c in enumerate(nb.cells) if _is_exercises_heading(c)]
    if len(headings) != 1:
        raise ValueError(f"expected one '## Exercises' markdown cell, found {len(headings)}")
    return headings[0], headings[0] + 1


def _comparable(cells) -> list[tuple]:
    return [(c.cell_type, c.source, _tags(c)) for c in cells]


def generate(master: Path, write: bool = True) -> bool:
    """Write ``master``'s learner cells into its course notebook; True when that changed it."""
    import nbformat

    target = course_notebook(master)
    nb = nbformat.read(target, as_version=4)
    start, stop = _exercise_block(nb)
    new = learner_cells(master)
    if _comparable(nb.cells[start:stop]) == _comparable(new):
        return False
    others = {c.get("id") for c in nb.cells[:start] + nb.cells[stop:]}
    clash = others & {c.id for c in new}
    if clash:
        raise ValueError(f"{target.name}: cell ids {sorted(clash)} already used outside exercises")
    if write:
        nb.cells[start:stop] = new
        nbformat.write(nb, target)
    return True


# -- solutions ------------------------------------------------------------------------------


def times_path(root: Path | None = None) -> Path:
    return (root or repo_root()) / "exercises" / "times.json"


def read_times(root: Path | None = None) -> dict[str, float]:
    path = times_path(root)
    return json.loads(path.read_text()) if path.exists() else {}


def _text_outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def _sections(cells) -> dict[str, list]:
    """The cells of each exercise, keyed by id: from its "### Exercise NN.k" heading on."""
    sections: dict[str, list] = {}
    current = None
    for cell in cells:
        if cell.cell_type == "markdown":
            m = HEADING.search(cell.source)
            if m:
                current = m.group(1)
                sections[current] = []
        if current is not None:
            sections[current].append(cell)
    return sections


def run_master(master: Path, out_dir: Path, cwd: Path, seed: int = 0) -> tuple[dict, list]:
    """Execute ``master`` (papermill, in ``cwd``) into ``out_dir``.

    Returns ``(seconds per exercise, problems)``; a problem is a check that raised, an
    exercise whose check printed "not attempted yet", or an exercise without a check call.
    """
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    output = out_dir / master.name
    problems = []
    try:
        papermill.execute_notebook(
            str(master),
            str(output),
            parameters={"SEED": seed},
            cwd=str(cwd),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            execution_timeout=900,
        )
    except papermill.PapermillExecutionError as e:
        problems.append(f"{master.name}: {e.ename}: {e.evalue}")
    nb = nbformat.read(output, as_version=4)
    seconds = {}
    for ex_id, cells in _sections(exercise_cells(nb)).items():
        duration = sum(
            (c.metadata.get("papermill", {}).get("duration") or 0.0)
            for c in cells
            if c.cell_type == "code"
        )
        text = "".join(_text_outputs(c) for c in cells if c.cell_type == "code")
        checks = [c for c in cells if c.cell_type == "code" and CHECK_CALL.search(c.source)]
        if not checks:
            problems.append(f"{ex_id}: no exercises.check(...) cell")
        elif NOT_ATTEMPTED in text:
            problems.append(f"{ex_id}: the solution leaves the exercise {NOT_ATTEMPTED}")
        elif "correct." not in text:
            problems.append(f"{ex_id}: the check did not pass: {text.strip()[-500:]}")
        else:
            seconds[ex_id] = round(duration, 1)
    return seconds, problems


def solutions(
    which: list[str] | None, cwd: Path | None, out_dir: Path | None, seed: int = 0
) -> int:
    root = repo_root()
    cwd = (cwd or root / "notebooks").resolve()
    out_dir = (out_dir or root / "build" / "solutions").resolve()
    times = read_times(root)
    failed = []
    for master in masters(root, which):
        print(f"== {master.name} (cwd {cwd})", flush=True)
        start = time.perf_counter()
        seconds, problems = run_master(master, out_dir, cwd, seed)
        times.update(seconds)
        total = time.perf_counter() - start
        for ex_id, s in sorted(seconds.items()):
            print(f"   {ex_id}: correct, {s:.1f} s")
        for p in problems:
            print(f"   FAILED {p}")
        print(f"   notebook ran in {total:.0f} s, solutions {sum(seconds.values()):.0f} s")
        failed += problems
    path = times_path(root)
    write_json(path, dict(sorted(times.items())))
    print(f"solution times in {path.relative_to(root)}; executed masters in {out_dir}")
    if failed:
        print(f"{len(failed)} problem(s):\n  " + "\n  ".join(failed))
        return 1
    return 0


# -- list -----------------------------------------------------------------------------------


def solution_ids(master: Path) -> set[str]:
    """Ids of the master's exercises whose answer cell holds a non-empty solution block."""
    import nbformat

    found = set()
    cells = exercise_cells(nbformat.read(master, as_version=4))
    for ex_id, section in _sections(cells).items():
        for c in section:
            if c.cell_type == "code" and BEGIN_CODE in c.source:
                body = c.source.split(BEGIN_CODE, 1)[1].split(END_CODE, 1)[0]
                if body.strip():
                    found.add(ex_id)
    return found


def listing(root: Path | None = None) -> list[str]:
    """One line per exercise: id, title, check yes/no, solution yes/no, solution seconds."""
    import nbformat

    from . import EXERCISES, _load_all

    _load_all()
    root = root or repo_root()
    titles = {i: e.title for i, e in EXERCISES.items()}
    solved: set[str] = set()
    for master in masters(root):
        solved |= solution_ids(master)
        for ex_id, cells in _sections(exercise_cells(nbformat.read(master, 4))).items():
            titles.setdefault(ex_id, HEADING.search(cells[0].source).group(2))
    times = read_times(root)
    lines = []
    for ex_id in sorted(titles, key=lambda i: tuple(int(p) for p in i.split("."))):
        seconds = f"{times[ex_id]:.1f} s" if ex_id in times else "-"
        lines.append(
            f"{ex_id:<6} {titles[ex_id]:<40} check {'yes' if ex_id in EXERCISES else 'no ':<3}"
            f"  solution {'yes' if ex_id in solved else 'no ':<3}  {seconds}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m fcnlib.exercises",
        description="The course's self-checking exercises and their worked solutions.",
    )
    parser.add_argument(
        "--list", action="store_true", help="one line per exercise: check, solution, seconds"
    )
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="write the learner cells into notebooks/NN_*.ipynb")
    gen.add_argument("notebooks", nargs="*", help="notebook numbers (default: every master)")
    gen.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 listing drifted notebooks"
    )
    sol = sub.add_parser("solutions", help="run every master's solutions against their checks")
    sol.add_argument("notebooks", nargs="*", help="notebook numbers (default: every master)")
    sol.add_argument(
        "--cwd",
        type=Path,
        help="working directory of the run (default notebooks/, reusing its checkpoints/)",
    )
    sol.add_argument("--out", type=Path, help="executed masters go here (default build/solutions/)")
    sol.add_argument("--seed", type=int, default=0, help="the masters' SEED (default 0)")
    args = parser.parse_args(argv)

    if args.list:
        print("\n".join(listing()))
        return 0
    if args.command == "generate":
        drifted = []
        for master in masters(None, args.notebooks):
            if generate(master, write=not args.check):
                drifted.append(course_notebook(master).name)
        if args.check:
            if drifted:
                print(
                    "exercises differ from their masters (run `python -m fcnlib.exercises "
                    "generate`): " + ", ".join(drifted)
                )
                return 1
            print("every notebook's exercises match its master")
        else:
            print("regenerated: " + (", ".join(drifted) if drifted else "nothing changed"))
        return 0
    if args.command == "solutions":
        return solutions(args.notebooks, args.cwd, args.out, args.seed)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
