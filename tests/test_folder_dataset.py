"""A user's own folder of images and masks (``get_dataset("folder", ...)``), on folders the
tests write: index masks, colour masks, both split layouts, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from fcnlib import data
from fcnlib.data.datasets import DatasetNotFoundError, course_datasets, get_dataset

RNG = np.random.default_rng(1)
CLASSES = ["background", "cat", "dog"]
COLOURS = np.array([(0, 0, 0), (200, 40, 40), (40, 40, 200)], np.uint8)


def write_image(path: Path, h: int = 10, w: int = 12) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(img).save(path)  # PNG: lossless, so pixels can be compared exactly
    return img


def write_mask(path: Path, labels: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGB":  # colour mask: each label drawn in its class colour
        Image.fromarray(COLOURS[labels], "RGB").save(path)
        return
    m = Image.fromarray(np.asarray(labels, np.uint8), mode)
    if mode == "P":  # a palette PNG: the pixel values are the labels, the palette colours them
        palette = np.zeros((256, 3), np.uint8)
        palette[: len(COLOURS)], palette[255] = COLOURS, (224, 224, 192)
        m.putpalette(palette.flatten().tolist())
    m.save(path)


def make_folder(root: Path, splits: dict, mode="L", lists=True, h=10, w=12) -> dict:
    """``splits = {"train": ["a", ...], ...}``; returns ``{stem: (image, labels)}``."""
    written = {}
    for split, stems in splits.items():
        base = root if lists else root / split
        for stem in stems:
            labels = RNG.choice([0, 1, 2, 255], size=(h, w)).astype(np.uint8)
            if mode == "RGB":
                labels[labels == 255] = 0
            img = write_image(base / "images" / f"{stem}.png", h, w)
            write_mask(base / "masks" / f"{stem}.png", labels, mode)
            written[stem] = (img, labels)
        if lists:
            (root / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return written


@pytest.fixture
def index_folder(tmp_path):
    written = make_folder(tmp_path, {"train": ["b", "a", "c"], "val": ["d"]}, mode="P")
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return tmp_path, written


# ----------------------------------------------------------------------------- reading
def test_index_masks_with_split_lists(index_folder):
    root, written = index_folder
    ds = get_dataset("folder", root, "train")
    assert isinstance(ds, data.FolderDataset)
    assert len(ds) == 3 and ds.names == ["b", "a", "c"]  # the list's order
    assert ds.classes == CLASSES and ds.num_classes == 3 and ds.ignore_index == 255
    assert ds.palette.shape == (3, 3) and ds.palette.dtype == np.uint8
    for i, stem in enumerate(ds.names):
        image, mask = ds[i]
        img, labels = written[stem]
        assert image.shape == (3, 10, 12) and image.dtype == torch.float32
        assert torch.allclose(image, torch.from_numpy(img).permute(2, 0, 1) / 255, atol=1e-6)
        assert mask.dtype == torch.long and torch.equal(mask, torch.from_numpy(labels).long())
    assert (ds[0][1] == 255).any()  # the ignore label is kept
    assert get_dataset("folder", root, "val").names == ["d"]


def test_split_folders_in_natural_order(tmp_path):
    written = make_folder(tmp_path, {"train": ["f10", "f2", "f1"], "val": ["v"]}, lists=False)
    ds = get_dataset("folder", tmp_path, "train", classes=CLASSES)
    assert ds.names == ["f1", "f2", "f10"]
    for i, stem in enumerate(ds.names):
        assert torch.equal(ds[i][1], torch.from_numpy(written[stem][1]).long())
    assert ds.info.splits == ("train", "val")


def test_colour_masks_through_the_palette(tmp_path):
    written = make_folder(tmp_path, {"train": ["a", "b"], "val": ["c"]}, mode="RGB")
    ds = get_dataset("folder", tmp_path, classes=CLASSES, palette=COLOURS.tolist())
    assert np.array_equal(ds.palette, COLOURS)
    for i, stem in enumerate(ds.names):
        assert torch.equal(ds[i][1], torch.from_numpy(written[stem][1]).long())


def test_ignore_colour_becomes_255(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, mode="RGB")
    rgb = np.array(Image.open(tmp_path / "masks/a.png"))
    rgb[:2] = (224, 224, 192)
    Image.fromarray(rgb).save(tmp_path / "masks/a.png")
    ds = get_dataset(
        "folder", tmp_path, classes=CLASSES, palette=COLOURS, ignore_color=(224, 224, 192)
    )
    mask = ds[0][1]
    assert (mask[:2] == 255).all() and (mask[2:] != 255).all()


def test_classes_and_colours_from_classes_txt(tmp_path):
    written = make_folder(tmp_path, {"train": ["a"]}, mode="RGB")
    lines = [f"{n} {r} {g} {b}" for n, (r, g, b) in zip(["back ground", "cat", "dog"], COLOURS)]
    (tmp_path / "classes.txt").write_text("# name R G B\n" + "\n".join(lines) + "\n")
    ds = get_dataset("folder", tmp_path)
    assert ds.classes == ["back ground", "cat", "dog"] and np.array_equal(ds.palette, COLOURS)
    assert torch.equal(ds[0][1], torch.from_numpy(written["a"][1]).long())


@pytest.mark.parametrize("with_palette", [False, True])
def test_classes_json(tmp_path, with_palette):
    make_folder(tmp_path, {"train": ["a"]})
    content = {"classes": CLASSES, "palette": COLOURS.tolist()} if with_palette else CLASSES
    (tmp_path / "classes.json").write_text(json.dumps(content))
    ds = get_dataset("folder", tmp_path)
    assert ds.classes == CLASSES
    assert np.array_equal(ds.palette, COLOURS) == with_palette


def test_given_classes_win_over_the_file(index_folder):
    root, _ = index_folder
    ds = get_dataset("folder", root, classes=["bg", "a", "b", "c"])
    assert ds.classes == ["bg", "a", "b", "c"]


def test_course_datasets_of_a_folder(index_folder):
    root, _ = index_folder
    train, val = course_datasets("folder", 8, train_size=2, root=root)
    assert (len(train), len(val)) == (2, 1) and train.classes == CLASSES
    images, masks = next(iter(DataLoader(train, batch_size=2)))
    assert images.shape == (2, 3, 8, 8) and masks.shape == (2, 8, 8)


# ----------------------------------------------------------------------------- bad input
def test_size_mismatch_names_both_files(index_folder):
    root, _ = index_folder
    write_mask(root / "masks/a.png", np.zeros((10, 11)))
    ds = get_dataset("folder", root)
    with pytest.raises(ValueError, match=r"masks[/\\]a\.png.*11x10.*images[/\\]a\.png.*12x10"):
        ds[ds.names.index("a")]


def test_label_outside_the_classes_names_file_and_value(index_folder):
    root, _ = index_folder
    labels = np.zeros((10, 12), np.uint8)
    labels[3, 3], labels[4, 4] = 3, 255  # 3 is no class of three; 255 is fine
    write_mask(root / "masks/c.png", labels)
    ds = get_dataset("folder", root)
    with pytest.raises(ValueError, match=r"c\.png.*\[3\].*ignore label 255"):
        ds[ds.names.index("c")]


def test_unknown_colour_names_file_and_colour(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, mode="RGB")
    rgb = np.array(Image.open(tmp_path / "masks/a.png"))
    rgb[5, 5] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "masks/a.png")
    ds = get_dataset("folder", tmp_path, classes=CLASSES, palette=COLOURS)
    with pytest.raises(ValueError, match=r"a\.png.*colour\(s\) \[\(1, 2, 3\)\].*palette"):
        ds[0]


def test_colour_mask_without_palette(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, mode="RGB")
    ds = get_dataset("folder", tmp_path, classes=CLASSES)
    with pytest.raises(ValueError, match=r"a\.png.*colour mask.*palette="):
        ds[0]
    grey = np.repeat(np.array(Image.open(tmp_path / "masks/a.png"))[..., :1] % 3, 3, -1)
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "masks/a.png")
    with pytest.raises(ValueError, match="channels are equal.*single-channel"):
        ds[0]


@pytest.mark.parametrize("lists", [True, False])
def test_image_without_mask(tmp_path, lists):
    make_folder(tmp_path, {"train": ["a", "b"]}, lists=lists)
    base = tmp_path if lists else tmp_path / "train"
    (base / "masks/b.png").unlink()
    expected = r"images[/\\]b\.png has no mask" if lists else r"no partner, e\.g\. \S*b\.png"
    with pytest.raises(ValueError, match=expected):
        get_dataset("folder", tmp_path, classes=CLASSES)


def test_mask_without_image(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, lists=False)
    write_mask(tmp_path / "train/masks/z.png", np.zeros((10, 12)))
    with pytest.raises(ValueError, match=r"no partner.*masks[/\\]z\.png"):
        get_dataset("folder", tmp_path, classes=CLASSES)


def test_listed_image_that_does_not_exist(index_folder):
    root, _ = index_folder
    (root / "val.txt").write_text("d\nmissing\n")
    with pytest.raises(ValueError, match=r"val\.txt lists 'missing'.*images"):
        get_dataset("folder", root, "val")


def test_empty_folders(tmp_path):
    (tmp_path / "train/images").mkdir(parents=True)
    (tmp_path / "train/masks").mkdir()
    with pytest.raises(ValueError, match=r"train[/\\]images is empty"):
        get_dataset("folder", tmp_path, classes=CLASSES)
    make_folder(tmp_path, {"val": ["a"]})
    (tmp_path / "val.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"val\.txt is empty"):
        get_dataset("folder", tmp_path, "val", classes=CLASSES)


def test_missing_folders(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nowhere does not exist"):
        get_dataset("folder", tmp_path / "nowhere", classes=CLASSES)
    with pytest.raises(ValueError, match="needs root="):
        get_dataset("folder", None, classes=CLASSES)
    make_folder(tmp_path, {"train": ["a"]})
    with pytest.raises(DatasetNotFoundError, match=r"no split 'val'.*val\.txt.*val[/\\]images"):
        get_dataset("folder", tmp_path, "val", classes=CLASSES)
    with pytest.raises(DatasetNotFoundError, match=r"labels does not exist"):
        get_dataset("folder", tmp_path, classes=CLASSES, masks="labels")


def test_images_without_split_lists_say_what_to_write(tmp_path):
    make_folder(tmp_path, {"train": ["a"]})
    (tmp_path / "train.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"images exists: list the stems.*train\.txt"):
        get_dataset("folder", tmp_path, classes=CLASSES)


def test_jpeg_mask_is_refused(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, lists=False)
    mask = tmp_path / "train/masks/a.png"
    Image.open(mask).convert("RGB").save(mask.with_suffix(".jpg"))
    mask.unlink()
    with pytest.raises(ValueError, match=r"a\.jpg.*losslessly"):
        get_dataset("folder", tmp_path, classes=CLASSES)


def test_two_images_with_one_stem(tmp_path):
    make_folder(tmp_path, {"train": ["a"]}, lists=False)
    write_image(tmp_path / "train/images/a.jpg")
    with pytest.raises(ValueError, match=r"a\.jpg and .*a\.png have the same name"):
        get_dataset("folder", tmp_path, classes=CLASSES)


def test_bad_classes_and_palettes(index_folder):
    root, _ = index_folder
    with pytest.raises(ValueError, match=r"class name\(s\) \['cat'\] appear more than once"):
        get_dataset("folder", root, classes=["bg", "cat", "cat"])
    with pytest.raises(ValueError, match="non-empty list of class names"):
        get_dataset("folder", root, classes="bg")
    with pytest.raises(ValueError, match=r"palette must hold one .* 3 x 3 integers.*\(2, 3\)"):
        get_dataset("folder", root, palette=[(0, 0, 0), (1, 1, 1)])
    with pytest.raises(ValueError, match="same colour"):
        get_dataset("folder", root, palette=[(0, 0, 0), (1, 1, 1), (1, 1, 1)])
    (root / "classes.txt").unlink()
    with pytest.raises(ValueError, match=r"classes of .* are not known.*classes\.txt"):
        get_dataset("folder", root)
    (root / "classes.txt").write_text("bg 0 0 0\ncat\n")
    with pytest.raises(ValueError, match=r"classes\.txt, line 2: no colour"):
        get_dataset("folder", root)
    (root / "classes.json").write_text(json.dumps(CLASSES))
    with pytest.raises(ValueError, match="both classes.txt and classes.json"):
        get_dataset("folder", root)


def test_download_is_refused(index_folder):
    root, _ = index_folder
    with pytest.raises(data.DatasetDownloadError, match="cannot be downloaded"):
        get_dataset("folder", root, download=True)
