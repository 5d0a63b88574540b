"""Wrong answers to notebook 08's exercises, each with the message its check must give
(tests/test_exercises.py asserts that every one is rejected with it)."""

import pytest
import torch

from fcnlib import data, engine, exercises, models


class _Disconnect(torch.utils.data.Dataset):
    def __init__(self, dataset, after):
        self.dataset, self.after, self.reads = dataset, after, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        self.reads += 1
        if self.reads > self.after:
            raise KeyboardInterrupt("simulated disconnect")
        return self.dataset[i]


def _interrupted_run(folder, after):
    train = data.ShapesScenes("train", 16, image_size=32, seed=0)
    net = models.build("fcn8s", 6, width=4)
    with pytest.raises(KeyboardInterrupt):
        engine.fit(net, _Disconnect(train, after), None, 2, batch_size=8, checkpoint_dir=folder,
                   progress=False, device="cpu")  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "first": _interrupted_run(root / "first", 4),
        "second": _interrupted_run(root / "second", 20),
    }


def test_files_of_a_first_epoch_interrupt(runs):
    exercises.check("08.1", ["interrupted.pt"], folder=runs["first"])
    with pytest.raises(exercises.Incorrect, match="2 file|1 file"):
        exercises.check("08.1", ["interrupted.pt", "last.pt"], folder=runs["first"])
    with pytest.raises(exercises.Incorrect, match="file name"):
        exercises.check("08.1", "interrupted.pt", folder=runs["first"])
    # the notebook's own run, stopped in its second epoch, is not the experiment asked for
    with pytest.raises(exercises.Incorrect, match="interrupted in epoch 2"):
        exercises.check("08.1", ["interrupted.pt", "last.pt"], folder=runs["second"])
    with pytest.raises(exercises.Incorrect, match="pass the run's folder"):
        exercises.check("08.1", ["interrupted.pt"])


# Each entry: a factory of a wrong answer, and the message the check must give. (08.1 needs a
# folder made by an interrupted run: see test_files_of_a_first_epoch_interrupt.)
WRONG = {
    "08.1": [(lambda: ["last.pt"], "pass the run's folder")],
    "08.2": [
        (lambda: Exception, "too general"),
        (lambda: KeyError, "does not raise KeyError"),
        (lambda: "AssertionError", "exception class"),
    ],
}
CONTEXT = {}
