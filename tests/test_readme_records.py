"""The README's generated tables against the committed records (``records/seedN/``), and the
functions of fcnlib.summary that render them and fill the records from a course run."""

import json
import shutil
from pathlib import Path

import pytest

from fcnlib import summary

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "records"
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_readme_equals_what_its_records_render():
    text = (REPO / "README.md").read_text()
    assert summary.render_readme(text, RECORDS) == text, (
        "README.md's generated tables differ from records/: run `make readme`"
    )


def test_every_recorded_seed_is_a_complete_course_run():
    seeds = summary._seed_dirs(RECORDS)
    assert 0 in seeds, "records/seed0 is missing: run `make records SEED=0`"
    saving = {nb.stem for nb in NOTEBOOKS if "summary.save(" in nb.read_text()}
    for seed, folder in seeds.items():
        recorded = {p.stem for p in folder.glob("*.json")} - {"run"}
        assert recorded == saving, f"{folder}: records {sorted(recorded)}, expected {saving}"
        for stem in recorded:
            assert summary.load(stem, folder)["seed"] == seed, f"{folder}/{stem}.json"
        run = json.loads((folder / summary.RUN_FILE).read_text())
        assert run["seed"] == seed
        assert set(run["seconds"]) == {nb.stem for nb in NOTEBOOKS}, f"{folder}/run.json"
        assert {"date", "cpu", "torch"} <= set(run)


def _fake_records(root: Path, seeds=(0,)) -> Path:
    """A copy of records/seed0 under ``root`` for each of ``seeds``."""
    for seed in seeds:
        folder = root / f"seed{seed}"
        shutil.copytree(RECORDS / "seed0", folder)
        for path in folder.glob("*.json"):
            record = json.loads(path.read_text())
            record["seed"] = seed
            path.write_text(json.dumps(record))
    return root


def test_a_seed_without_records_shows_a_dash(tmp_path):
    records = _fake_records(tmp_path / "records", seeds=(0, 2))
    header, _, *rows = summary.results_table(records).splitlines()
    assert header.split("|")[3:-1] == [" seed 0 ", " seed 1 ", " seed 2 "]
    assert len(rows) == len(summary.HEADLINES)
    for row in rows:
        cells = [c.strip() for c in row.split("|")[3:-1]]
        assert cells[1] == summary.MISSING and cells[0] == cells[2] != summary.MISSING
    times = summary.times_table(records).splitlines()
    assert (
        times[3].startswith("| seed 1 |") and times[3].count(summary.MISSING) == len(NOTEBOOKS) + 1
    )


def test_a_record_lacking_a_number_of_the_table_fails(tmp_path):
    records = _fake_records(tmp_path / "records")
    row = summary.HEADLINES[-1]
    path = records / "seed0" / f"{row.stem}.json"
    record = json.loads(path.read_text())
    del record[row.keys[-1]]
    path.write_text(json.dumps(record))
    with pytest.raises(KeyError, match=row.keys[-1]):
        summary.results_table(records)


def test_a_missing_notebook_record_names_the_command(tmp_path):
    records = _fake_records(tmp_path / "records")
    (records / "seed0" / f"{summary.HEADLINES[0].stem}.json").unlink()
    with pytest.raises(FileNotFoundError, match="make records SEED=0"):
        summary.results_table(records)


def test_render_replaces_only_the_generated_blocks(tmp_path):
    records = _fake_records(tmp_path / "records")
    text = (
        f"intro\n{summary.RESULTS_MARKER}\nstale\n{summary.END_MARKER}\nmiddle\n"
        f"{summary.TIMES_MARKER}\n{summary.END_MARKER}\nend\n"
    )
    rendered = summary.render_readme(text, records)
    assert rendered.startswith("intro\n") and rendered.endswith("end\n")
    assert "stale" not in rendered and "\nmiddle\n" in rendered
    assert summary.results_table(records) in rendered and summary.times_table(records) in rendered
    assert summary.render_readme(rendered, records) == rendered
    with pytest.raises(ValueError, match="results table"):
        summary.render_readme("no markers", records)


def test_times_table_sums_each_run_and_names_the_budget(tmp_path):
    records = _fake_records(tmp_path / "records")
    run_path = records / "seed0" / summary.RUN_FILE
    run = json.loads(run_path.read_text())
    run["seconds"] = {nb.stem: 10 for nb in NOTEBOOKS}
    run["seconds"][NOTEBOOKS[1].stem] = summary.NOTEBOOK_BUDGET_S + 1
    run_path.write_text(json.dumps(run))
    text = summary.times_table(records)
    total = 10 * (len(NOTEBOOKS) - 1) + summary.NOTEBOOK_BUDGET_S + 1
    assert f"| {total} |" in text.splitlines()[2]
    assert f"over budget: notebook {NOTEBOOKS[1].stem[:2]} at seed 0" in text


def test_record_copies_a_runs_results_verbatim_and_its_times(tmp_path):
    run = tmp_path / "build" / "seed0"
    (run / "results").mkdir(parents=True)
    for path in (RECORDS / "seed0").glob("[0-9]*.json"):
        shutil.copy(path, run / "results" / path.name)
    (run / "seconds.txt").write_text("".join(f"{nb.stem} 12\n" for nb in NOTEBOOKS))
    records = tmp_path / "records" / "seed0"
    records.mkdir(parents=True)
    (records / "stale.json").write_text("{}")
    assert summary.main(["record", str(run), str(records)]) == 0
    assert not (records / "stale.json").exists()
    for path in (run / "results").glob("*.json"):
        assert (records / path.name).read_bytes() == path.read_bytes()
    recorded = json.loads((records / summary.RUN_FILE).read_text())
    assert recorded["seed"] == 0 and recorded["seconds"] == {nb.stem: 12 for nb in NOTEBOOKS}


def test_readme_command_rewrites_and_checks(tmp_path, capsys):
    records = _fake_records(tmp_path / "records")
    readme = tmp_path / "README.md"
    readme.write_text(
        f"{summary.RESULTS_MARKER}\n{summary.END_MARKER}\n"
        f"{summary.TIMES_MARKER}\n{summary.END_MARKER}\n"
    )
    args = ["readme", "--readme", str(readme), "--records", str(records)]
    assert summary.main([*args, "--check"]) == 1
    assert "make readme" in capsys.readouterr().err
    assert summary.main(args) == 0
    assert summary.main([*args, "--check"]) == 0
