"""The exercises as a whole: every check has a master cell, a worked solution and wrong answers
it rejects; untouched answers print "not attempted yet"; the course notebooks hold exactly the
learner cells generated from the masters; ``--list`` and the solution markers are well-formed.
The solutions themselves run in ``make solutions`` (``make test`` runs it after pytest)."""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

from fcnlib import exercises
from fcnlib.exercises import _tools

REPO = Path(__file__).resolve().parents[1]
MASTERS = _tools.masters(REPO)
exercises._load_all()
IDS = sorted(exercises.EXERCISES)


def _wrong_answer_modules() -> list:
    """``tests/test_exercises_NN.py``, each defining ``WRONG`` (and ``CONTEXT``)."""
    modules = []
    for path in sorted((REPO / "tests").glob("test_exercises_[0-9][0-9].py")):
        spec = importlib.util.spec_from_file_location(f"_wrong_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


WRONG_MODULES = _wrong_answer_modules()


def _wrong_answers() -> dict[str, list]:
    return {k: v for m in WRONG_MODULES for k, v in m.WRONG.items()}


# the files that do not run their own wrong answers: this file runs them
CASES = [
    (ex_id, factory, message, getattr(m, "CONTEXT", {}).get(ex_id, {}))
    for m in WRONG_MODULES
    if not hasattr(m, "test_wrong_answers_are_rejected")
    for ex_id, cases in m.WRONG.items()
    for factory, message in cases
]


@pytest.mark.parametrize(
    "exercise_id, factory, message, context", CASES, ids=[f"{c[0]}: {c[2]}" for c in CASES]
)
def test_wrong_answers_are_rejected_with_their_message(exercise_id, factory, message, context):
    with pytest.raises(exercises.Incorrect, match=message):
        exercises.check(exercise_id, factory(), **context)


def _master_ids() -> dict[str, Path]:
    ids = {}
    for master in MASTERS:
        cells = _tools.exercise_cells(nbformat.read(master, as_version=4))
        for ex_id in _tools._sections(cells):
            assert ex_id not in ids, f"{ex_id} appears in two masters"
            ids[ex_id] = master
    return ids


def test_every_check_has_a_master_and_every_master_exercise_a_check():
    in_masters = _master_ids()
    assert sorted(in_masters) == IDS
    for ex_id, master in in_masters.items():
        assert master.name.startswith(ex_id[:2]), f"{ex_id} is in {master.name}"


def test_every_exercise_has_a_solution():
    solved = set().union(*(_tools.solution_ids(m) for m in MASTERS))
    assert sorted(solved) == IDS


def test_every_check_has_wrong_answers_and_every_wrong_answer_a_check():
    wrong = _wrong_answers()
    assert sorted(wrong) == IDS
    assert all(wrong[i] for i in IDS), [i for i in IDS if not wrong[i]]


def test_notebooks_keep_two_to_four_exercises():
    per_notebook = {}
    for ex_id in IDS:
        per_notebook.setdefault(ex_id[:2], []).append(ex_id)
    for nn, ids in per_notebook.items():
        assert 2 <= len(ids) <= 4, (nn, ids)
        assert [int(i.split(".")[1]) for i in ids] == list(range(1, len(ids) + 1)), ids


@pytest.mark.parametrize("exercise_id", IDS)
@pytest.mark.parametrize("stub", [None, ...])
def test_an_untouched_answer_is_not_attempted(exercise_id, stub, capsys):
    assert exercises.check(exercise_id, stub) is None
    assert exercises.NOT_ATTEMPTED in capsys.readouterr().out


def test_the_course_notebooks_hold_the_generated_cells():
    drifted = [m.name for m in MASTERS if _tools.generate(m, write=False)]
    assert not drifted, f"run `python -m fcnlib.exercises generate`: {drifted} differ"


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.name[:2])
def test_master_cells_are_well_formed(master):
    nb = nbformat.read(master, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert "parameters" in tags[0] and "setup" in tags[1], "parameters, then setup, first"
    cells = _tools.exercise_cells(nb)
    sections = _tools._sections(cells)
    assert sections, "no '### Exercise NN.k · Title' cell"
    for ex_id, section in sections.items():
        assert ex_id.startswith(master.name[:2])
        code = [c for c in section if c.cell_type == "code"]
        answers = [c for c in code if _tools.BEGIN_CODE in c.source]
        checks = [c for c in code if _tools.CHECK_CALL.search(c.source)]
        assert len(answers) == 1 and len(checks) == 1, ex_id
        assert _tools.CHECK_CALL.search(checks[0].source).group(1) == ex_id
        learner = _tools.strip_solution(answers[0].source)
        assert re.match(r"answer = None\s+# your answer: ", learner), (ex_id, learner)
        for c in section:  # the markers balance (strip_solution raises otherwise)
            if c.cell_type == "code":
                _tools.strip_solution(c.source)
            else:
                _tools.is_solution_markdown(c)


def test_learner_cells_carry_no_solution():
    for master in MASTERS:
        for cell in _tools.learner_cells(master):
            assert "SOLUTION" not in cell.source, (master.name, cell.source)
            assert cell.metadata["tags"] == ["exercise"]


def test_strip_solution_removes_the_block_and_keeps_the_rest():
    source = "answer = None  # a number\n# BEGIN SOLUTION\nanswer = 3\n# END SOLUTION\nprint(1)"
    assert _tools.strip_solution(source) == "answer = None  # a number\nprint(1)"
    with pytest.raises(ValueError, match="without"):
        _tools.strip_solution("# BEGIN SOLUTION\nanswer = 3")


def test_list_shows_every_exercise():
    lines = _tools.listing(REPO)
    times = json.loads((REPO / "exercises" / "times.json").read_text())
    assert [line.split()[0] for line in lines] == sorted(
        IDS, key=lambda i: tuple(int(p) for p in i.split("."))
    )
    for line, ex_id in zip(lines, [line.split()[0] for line in lines]):
        assert exercises.EXERCISES[ex_id].title in line
        assert re.search(r"check yes\s+solution yes\s+(\d+\.\d s|-)$", line), line
        assert line.endswith(f"{times[ex_id]:.1f} s" if ex_id in times else "-"), line


def test_generate_is_idempotent_on_a_copy(tmp_path):
    (tmp_path / "exercises").mkdir()
    (tmp_path / "notebooks").mkdir()
    master = MASTERS[0]
    copy = tmp_path / "exercises" / master.name
    copy.write_bytes(master.read_bytes())
    target = tmp_path / "notebooks" / master.name
    nb = nbformat.read(REPO / "notebooks" / master.name, as_version=4)
    start, stop = _tools._exercise_block(nb)
    before, after = nb.cells[:start], nb.cells[stop:]
    nb.cells[start:stop] = [nbformat.v4.new_markdown_cell("## Exercises\n\n1. An old one.")]
    nbformat.write(nb, target)
    assert _tools.generate(copy) is True  # the first time: replaces the "## Exercises" cell
    assert _tools.generate(copy) is False
    regenerated = nbformat.read(target, as_version=4)
    kept = [c.source for c in regenerated.cells if "exercise" not in c.metadata.get("tags", [])]
    assert kept == [c.source for c in before + after]
