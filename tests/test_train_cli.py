"""The training command: metrics.json, checkpoints, resume, and DDP under torchrun (CPU, gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fcnlib import engine, models, train
from fcnlib.data import ShapesScenes
from fcnlib.data.datasets import course_datasets

TINY = ["--dataset", "shapes", "--image-size", "32", "--train-size", "8", "--val-size", "5"]
TINY += ["--no-progress", "--seed", "0"]


def cli(out, *extra, model="perpixel", epochs=1, batch=4) -> list[str]:
    return [
        "--model", model, "--epochs", str(epochs), "--batch-size", str(batch), "--out", str(out),
        *TINY, *extra,
    ]  # fmt: skip


def load_model(path, name="perpixel", **kw):
    model = models.build(name, num_classes=6, **kw)
    engine.load_checkpoint(path, model)
    return model


def test_writes_metrics_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert train.main(cli(out, "--optimizer", "adam", "--lr", "0.05", epochs=2)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["last.pt", "metrics.json"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["world_size"] == 1 and m["config"]["model"] == "perpixel"
    assert m["config"]["epochs"] == 2 and m["config"]["optimizer"] == "adam"
    assert [r["epoch"] for r in m["history"]] == [1, 2]
    assert {"train_loss", "lr", "val_miou", "val_pixel_accuracy", "seconds"} <= set(m["history"][0])
    assert m["classes"][0] == "background" and list(m["final"]["iou"]) == m["classes"]
    # oracle: the saved model evaluated here, on the same validation set
    _, val = course_datasets("shapes", 32, 8, 5, seed=0)
    ref = engine.evaluate(load_model(out / "last.pt"), val)
    assert m["final"]["pixel_accuracy"] == pytest.approx(float(ref["pixel_accuracy"]))
    assert m["final"]["miou"] == pytest.approx(float(ref["miou"]))
    assert m["history"][-1]["val_miou"] == pytest.approx(float(ref["miou"]))
    assert 0 < m["final"]["pixel_accuracy"] <= 1


def test_resume_continues_exactly(tmp_path):
    opts = ("--lr-schedule", "constant", "--optimizer", "sgd", "--lr", "0.05")
    assert train.main(cli(tmp_path / "a", *opts, epochs=1)) == 0
    assert train.main(cli(tmp_path / "a", *opts, "--resume", epochs=2)) == 0
    assert train.main(cli(tmp_path / "b", *opts, epochs=2)) == 0
    a, b = (load_model(tmp_path / d / "last.pt") for d in "ab")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    ha = json.loads((tmp_path / "a/metrics.json").read_text())["history"]
    hb = json.loads((tmp_path / "b/metrics.json").read_text())["history"]
    assert len(ha) == 2 and [r["train_loss"] for r in ha] == [r["train_loss"] for r in hb]


def test_refuses_to_overwrite_a_run(tmp_path):
    assert train.main(cli(tmp_path, "--max-steps", "1")) == 0
    with pytest.raises(SystemExit, match="already holds a checkpoint.*--resume"):
        train.main(cli(tmp_path, "--max-steps", "1"))


def test_missing_data_set_is_a_clear_error(tmp_path, capsys):
    code = train.main(
        ["--model", "perpixel", "--dataset", "voc", "--out", str(tmp_path / "x"),
         "--data-root", str(tmp_path / "data")]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "VOCdevkit" in err and "data/README.md" in err and "Traceback" not in err


def test_model_kw_are_parsed():
    assert train._model_kwargs(["width=8", "mode='bilinear'", "name=plain"]) == {
        "width": 8,
        "mode": "bilinear",
        "name": "plain",
    }
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        train._model_kwargs(["8"])


def test_shard_sampler_covers_every_item_once():
    shards = [list(train.ShardSampler(7, r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7)) and [len(s) for s in shards] == [3, 2, 2]


def test_torchrun_two_processes_on_cpu(tmp_path):
    """Two processes (gloo): one SGD step equals a single-process step on the union of both
    shards' batches, and the reduced metrics are those of the whole validation set."""
    out, lr, batch = tmp_path / "ddp", 0.5, 2
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "fcnlib.train",
           *cli(out, "--optimizer", "sgd", "--momentum", "0", "--weight-decay", "0", "--lr", str(lr),
                "--lr-schedule", "constant", "--max-steps", "1", "--val-batch-size", "2", batch=batch)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["last.pt", "metrics.json"]  # rank 0 only
    m = json.loads((out / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["global_batch_size"] == 4 and len(m["history"]) == 1

    # oracle for the step: the same initial model, one plain gradient step on the 4 images
    engine.seed_everything(0)
    train_set, val_set = course_datasets("shapes", 32, 8, 5, seed=0)
    model = models.build("perpixel", num_classes=6)
    initial = model.classifier[0].weight.detach().clone()
    samplers = [
        torch.utils.data.DistributedSampler(train_set, 2, r, shuffle=True, seed=0) for r in (0, 1)
    ]
    first = [i for s in samplers for i in list(s)[:batch]]
    images = torch.stack([train_set[i][0] for i in first])
    masks = torch.stack([train_set[i][1] for i in first])
    F.cross_entropy(model(images), masks).backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    trained = load_model(out / "last.pt")
    for (name, p), q in zip(model.state_dict().items(), trained.state_dict().values()):
        assert torch.allclose(p, q, atol=1e-5), name
    assert (trained.classifier[0].weight - initial).abs().max() > 1e-3  # the step did move it

    # oracle for the metrics: this model on the whole validation set, in one process
    ref = engine.evaluate(trained, val_set)
    assert m["final"]["pixel_accuracy"] == pytest.approx(float(ref["pixel_accuracy"]))
    assert m["final"]["miou"] == pytest.approx(float(ref["miou"]))


# ----------------------------------------------------------------------------- other data sets
def write_folder(root, classes_file=True):
    """Built-in scenes written the way a user's own data looks: images/, masks/, split lists."""
    from PIL import Image

    for split, n in (("train", 6), ("val", 3)):
        scenes = ShapesScenes(split, n, image_size=32, seed=4)
        stems = []
        for i in range(n):
            image, mask = scenes[i]
            stem = f"{split}_{i}"
            for sub in ("images", "masks"):
                (root / sub).mkdir(parents=True, exist_ok=True)
            pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(root / "images" / f"{stem}.png")
            Image.fromarray(mask.numpy().astype(np.uint8), "L").save(root / "masks" / f"{stem}.png")
            stems.append(stem)
        (root / f"{split}.txt").write_text("\n".join(stems) + "\n")
    if classes_file:
        (root / "classes.txt").write_text("\n".join(scenes.classes) + "\n")
    return scenes.classes


def other_cli(out, dataset, root, *extra):
    return ["--model", "perpixel", "--epochs", "1", "--batch-size", "3", "--image-size", "32",
            "--out", str(out), "--dataset", dataset, "--data-root", str(root), "--no-progress",
            *extra]  # fmt: skip


def test_trains_on_a_folder_data_set(tmp_path):
    classes = write_folder(tmp_path / "mine")
    assert train.main(other_cli(tmp_path / "run", "folder", tmp_path / "mine")) == 0
    m = json.loads((tmp_path / "run/metrics.json").read_text())
    assert m["classes"] == classes and (m["train_images"], m["val_images"]) == (6, 3)
    assert len(m["history"]) == 1
    # oracle: the saved model evaluated here on the folder's validation split
    _, val = course_datasets("folder", 32, root=tmp_path / "mine")
    ref = engine.evaluate(load_model(tmp_path / "run/last.pt"), val)
    assert m["final"]["miou"] == pytest.approx(float(ref["miou"]))


def test_folder_classes_from_the_command_line(tmp_path, capsys):
    write_folder(tmp_path / "mine", classes_file=False)
    assert train.main(other_cli(tmp_path / "a", "folder", tmp_path / "mine")) == 2
    assert "classes.txt" in capsys.readouterr().err
    names = ["bg", "disc", "ring", "square", "triangle", "star"]
    code = train.main(other_cli(tmp_path / "b", "folder", tmp_path / "mine", "--classes", *names))
    assert code == 0
    assert json.loads((tmp_path / "b/metrics.json").read_text())["classes"] == names
    code = train.main(other_cli(tmp_path / "c", "shapes", tmp_path, "--classes", "a", "b"))
    assert code == 2 and "--classes is for --dataset folder" in capsys.readouterr().err


def test_trains_on_a_camvid_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    camvid = tmp_path / "data" / "CamVid"
    for split, n in (("train", 4), ("val", 2)):
        for sub in (split, f"{split}annot"):
            (camvid / sub).mkdir(parents=True)
        for i in range(n):
            name = f"0001TP_{i:06d}.png"
            Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(
                camvid / split / name
            )
            labels = rng.integers(0, 12, (24, 32)).astype(np.uint8)  # 11 = void
            Image.fromarray(labels, "L").save(camvid / f"{split}annot" / name)
    assert train.main(other_cli(tmp_path / "run", "camvid", tmp_path / "data")) == 0
    m = json.loads((tmp_path / "run/metrics.json").read_text())
    assert m["classes"][:2] == ["Sky", "Building"] and len(m["classes"]) == 11
    assert (m["train_images"], m["val_images"]) == (4, 2)
    assert 0 <= m["final"]["pixel_accuracy"] <= 1
    state = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert state["model_info"]["num_classes"] == 11


def test_the_command_takes_every_plain_option_of_fit_with_its_name():
    import inspect

    dests = {a.dest for a in train.build_parser()._actions}
    fit = set(inspect.signature(engine.fit).parameters)
    assert fit - train._SET_BY_THE_COMMAND <= dests
    args = train.build_parser().parse_args(["--model", "fcn8s", "--out", "x", "--poly-power", "2"])
    assert args.poly_power == 2.0 and args.optimizer == "sgd" and args.progress is True
