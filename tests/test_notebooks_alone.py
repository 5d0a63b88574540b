"""Every notebook also runs alone: opened by itself in an empty folder (a fresh Colab runtime,
or a learner who skips ahead), it obtains what earlier notebooks trained (``course.obtain``),
its self-checks all run, and its headline mIoUs match the in-order run of this session.

These tests run after the notebooks' in-order nbval run (conftest orders them last), and
compare with the ``notebooks/results/*.json`` that run (or the last ``make course``) wrote.
"""

from __future__ import annotations

import json

import pytest
from notebook_runs import NOTEBOOKS, REPO, execute, results, saves_summary, skipped_checks

pytestmark = pytest.mark.alone
TOLERANCE = 0.02  # mIoU: alone against in order


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem[:2] for p in NOTEBOOKS])
def test_notebook_runs_alone(notebook, tmp_path):
    nb, seconds = execute(notebook, tmp_path)
    assert not skipped_checks(nb), skipped_checks(nb)
    alone = results(tmp_path, notebook.stem) or {}
    assert alone or not saves_summary(notebook), f"{notebook.name} saved no results"
    log = REPO / "build" / "alone_runs.json"
    log.parent.mkdir(exist_ok=True)
    runs = json.loads(log.read_text()) if log.is_file() else {}
    runs[notebook.stem] = {"seconds_alone": round(seconds, 1), **alone}
    log.write_text(json.dumps(runs, indent=1))

    in_order_path = REPO / "notebooks" / "results" / f"{notebook.stem}.json"
    if not saves_summary(notebook):
        return  # no headline numbers to compare: it ran, and none of its checks was skipped
    if not in_order_path.is_file():
        pytest.skip("no in-order results to compare with: run the notebooks in order first")
    in_order = json.loads(in_order_path.read_text())
    assert in_order["seed"] == alone["seed"]
    far = {k: (v, alone[k]) for k, v in in_order.items()
           if "miou" in k and abs(v - alone[k]) > TOLERANCE}  # fmt: skip
    assert not far, f"headline mIoUs alone differ from in order by more than {TOLERANCE}: {far}"
