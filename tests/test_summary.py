"""fcnlib.summary: a notebook's headline numbers as a table and a JSON file."""

import json

import numpy as np
import pytest
import torch

from fcnlib import summary


def test_save_writes_numbers_seed_and_seconds(tmp_path, capsys):
    path = summary.save(
        "03_skip_connections",
        {"fcn8s_miou": torch.tensor(0.71234), "best_model": "fcn8s", "count": np.int64(3)},
        seed=2,
        seconds=12.345,
        directory=tmp_path / "results",
    )
    assert path == tmp_path / "results" / "03_skip_connections.json"
    saved = json.loads(path.read_text())
    assert saved == {
        "fcn8s_miou": pytest.approx(0.71234),
        "best_model": "fcn8s",
        "count": 3,
        "seed": 2,
        "seconds": 12.3,
    }
    assert type(saved["count"]) is int
    out = capsys.readouterr().out
    assert "fcn8s_miou" in out and "0.712" in out and str(path) in out
    assert summary.load("03_skip_connections", tmp_path / "results") == saved
    assert not list((tmp_path / "results").glob("*.tmp"))  # nothing left behind


def test_save_overwrites_the_previous_run(tmp_path):
    summary.save("00_x", {"a": 1.0}, seed=0, seconds=1, directory=tmp_path, show=False)
    summary.save("00_x", {"a": 2.0}, seed=1, seconds=1, directory=tmp_path, show=False)
    assert summary.load("00_x", tmp_path) == {"a": 2.0, "seed": 1, "seconds": 1.0}


@pytest.mark.parametrize(
    "stem, numbers, word",
    [
        ("../escape", {"a": 1.0}, "stem"),
        ("", {"a": 1.0}, "stem"),
        ("00_x", {}, "empty"),
        ("00_x", {"a": float("nan")}, "finite"),
        ("00_x", {"a": [1, 2]}, "numbers or strings"),
        ("00_x", {"seed": 1}, "seed"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(tmp_path, stem, numbers, word):
    with pytest.raises((ValueError, TypeError), match=word):
        summary.save(stem, numbers, seed=0, seconds=1.0, directory=tmp_path)
    assert not any(tmp_path.iterdir())


def test_load_names_the_missing_notebook(tmp_path):
    with pytest.raises(FileNotFoundError, match="run notebook 05_atrous_deeplab"):
        summary.load("05_atrous_deeplab", tmp_path)
