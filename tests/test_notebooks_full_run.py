"""Every notebook's FULL_RUN branch, executed: ``FULL_RUN = True`` on a small data set in PASCAL
VOC's real layout that the test writes, at toy sizes (``SMOKE = True``, the papermill
parameter that caps every size and epoch count), with ImageNet weights replaced by random ones
(the network is off), and a short video in ``data/my_video.mp4`` for notebook 07.

The same code path as a real full run, only smaller: the numbers mean nothing, but every cell
must run.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from notebook_runs import NOTEBOOKS, execute, results, saves_summary

from fcnlib import data, video_io
from fcnlib.models import resnet

pytestmark = pytest.mark.full_run


@pytest.fixture(scope="module")
def full_run_world(tmp_path_factory):
    """A VOC-layout tree of 60 scenes, a 12-frame video, and random 'ImageNet' weights."""
    root = tmp_path_factory.mktemp("full_run_data")
    for split, n in (("train", 40), ("val", 20)):
        data.export_voc(data.ShapesScenes(split, n, image_size=96, seed=5), root / "data")
    clip = data.make_clip(12, 64, labels=["circle", "bar"], seed=5)
    video_io.write_video(root / "data" / "my_video.mp4", clip.frames, fps=clip.fps)
    torch_home = root / "torch"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(torch_home))
        for name in ("resnet18", "resnet50"):
            path = resnet.weights_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(getattr(torchvision.models, name)().state_dict(), path)
    return root


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem[:2] for p in NOTEBOOKS])
def test_full_run_branch_executes(notebook, tmp_path, full_run_world, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(full_run_world / "torch"))
    (tmp_path / "data").symlink_to(full_run_world / "data", target_is_directory=True)
    nb, _ = execute(notebook, tmp_path, {"FULL_RUN": True, "SMOKE": True})
    settings = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "FULL_RUN = True" in settings.source and "SMOKE = True" in settings.source
    assert "SMOKE run at toy sizes" in "".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
    )
    if saves_summary(notebook):
        assert results(tmp_path, notebook.stem) is not None, "no summary saved"
