"""Real segmentation data sets behind one call: ``get_dataset(name, root, split)``.

Every data set yields the same items as :class:`~fcnlib.data.ShapesScenes`:
``(image 3 x H x W float in [0, 1], mask H x W long)``, with mask values in
``[0, num_classes)`` or the ignore label 255 (``transforms`` may change both).

Where torchvision has a class for the data set (``VOCSegmentation``, ``SBDataset``,
``Cityscapes``, ``OxfordIIITPet``), it finds the files and reads them; fcnlib adds what a
learner needs around it: the class names and palette (:data:`DATASETS`), the mapping of the
stored labels to training labels, and checks with clear messages:

* a missing folder names the path and says what to download and where to put it;
* an image and mask of different sizes names both files;
* a mask value that is neither a class nor the ignore label names the file and the value;
* ``download=True`` without a network fails within seconds, saying what to fetch by hand.

The folder layouts are documented in ``data/README.md``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from .._net import reachable
from .shapes import CLASSES as SHAPES_CLASSES
from .shapes import PALETTE as SHAPES_PALETTE
from .shapes import ShapesScenes

IGNORE_INDEX = 255
README = "data/README.md"

__all__ = [
    "DATASETS",
    "DatasetDownloadError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "SegmentationDataset",
    "course_datasets",
    "get_dataset",
]


class DatasetNotFoundError(FileNotFoundError):
    """A data set's folder or one of its files is missing; the message says what to do."""


class DatasetDownloadError(ConnectionError):
    """``download=True`` could not fetch the data (offline, or not downloadable)."""


def voc_palette(n: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map ``n x 3`` uint8 (the bits of the label spread over R, G, B)."""
    pal = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """What a learner needs to know about a data set before and after downloading it.

    ``classes`` (index 0 first), ``palette`` (``K x 3`` uint8), ``ignore_index``,
    ``splits`` accepted by :func:`get_dataset`, ``url``, ``obtain`` (how to get the files
    and where to put them), ``licence`` (a note; read the data set's own terms), and
    ``downloadable`` (whether ``download=True`` can fetch it).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    palette: np.ndarray
    splits: tuple[str, ...]
    url: str
    obtain: str
    licence: str
    downloadable: bool = False
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"DatasetInfo({self.name!r}: {self.title}, {self.num_classes} classes, splits {self.splits})"


# ----------------------------------------------------------------------------- class lists
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

# Cityscapes: (labelId, trainId, name, colour) of the 19 evaluated classes (cityscapesScripts);
# every other labelId in 0..33 becomes the ignore label.
_CITYSCAPES = (
    (7, 0, "road", (128, 64, 128)), (8, 1, "sidewalk", (244, 35, 232)),
    (11, 2, "building", (70, 70, 70)), (12, 3, "wall", (102, 102, 156)),
    (13, 4, "fence", (190, 153, 153)), (17, 5, "pole", (153, 153, 153)),
    (19, 6, "traffic light", (250, 170, 30)), (20, 7, "traffic sign", (220, 220, 0)),
    (21, 8, "vegetation", (107, 142, 35)), (22, 9, "terrain", (152, 251, 152)),
    (23, 10, "sky", (70, 130, 180)), (24, 11, "person", (220, 20, 60)),
    (25, 12, "rider", (255, 0, 0)), (26, 13, "car", (0, 0, 142)),
    (27, 14, "truck", (0, 0, 70)), (28, 15, "bus", (0, 60, 100)),
    (31, 16, "train", (0, 80, 100)), (32, 17, "motorcycle", (0, 0, 230)),
    (33, 18, "bicycle", (119, 11, 32)),
)  # fmt: skip
CITYSCAPES_NUM_LABEL_IDS = 34  # labelIds 0..33 ("license plate", -1, is never stored)

# The 21 classes of jetson-inference's FCN-ResNet18-SUN-RGBD models (dusty-nv/pytorch-segmentation,
# datasets/sun_remap.py), with the colour of the first SUN RGB-D class merged into each.
SUNRGBD_CLASSES = (
    "other", "wall", "floor", "cabinet/shelves/bookshelf/dresser", "bed/pillow", "chair",
    "sofa", "table", "door", "window", "picture/tv/mirror", "blinds/curtain", "clothes",
    "ceiling", "books", "fridge", "person", "toilet", "sink", "lamp", "bathtub",
)  # fmt: skip
SUNRGBD_PALETTE = np.array(
    [
        (0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128), (128, 0, 128),
        (0, 128, 128), (128, 128, 128), (64, 0, 0), (192, 0, 0), (192, 128, 0), (192, 0, 128),
        (128, 64, 128), (0, 192, 128), (128, 192, 128), (64, 64, 0), (192, 192, 128),
        (128, 0, 64), (0, 128, 64), (128, 128, 64), (0, 0, 192),
    ],
    np.uint8,
)  # fmt: skip
# SUN RGB-D's 38 labels (0 = unlabelled, 1..37 the classes of sunrgbd-meta-data) -> the 21 above.
SUNRGBD_38_TO_21 = np.array(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 10, 7, 11, 7, 3, 11, 3, 4, 10, 2, 12, 13, 14, 15, 10,
     0, 12, 20, 0, 1, 16, 7, 17, 18, 19, 20, 0],
    np.int64,
)  # fmt: skip

# DeepScene (Freiburg Forest): jetson-inference's 5 classes, and the annotation colours of
# the original GT_color images ("void" looks like trees there, so it becomes vegetation).
DEEPSCENE_CLASSES = ("trail", "grass", "vegetation", "obstacle", "sky")
DEEPSCENE_PALETTE = np.array(
    [(170, 170, 170), (0, 255, 0), (102, 102, 51), (0, 0, 0), (0, 120, 255)], np.uint8
)
DEEPSCENE_COLOURS = {
    (170, 170, 170): 0, (0, 255, 0): 1, (102, 102, 51): 2, (0, 0, 0): 3, (0, 120, 255): 4,
    (0, 60, 0): 2,
}  # fmt: skip

# Multi-Human Parsing (LV-MHP v2): jetson-inference's 21 classes; 0 is the background.
MHP_CLASSES = (
    "void", "hat/helmet/headwear", "face", "hair", "arm", "hand", "shirt", "jacket/coat",
    "dress/robe", "bikini/bra", "torso_skin", "pants", "shorts", "socks/stockings",
    "shoe/boot", "leg", "foot", "backpack/purse/bag", "sunglasses/eyewear",
    "other_accessory", "other_item",
)  # fmt: skip
# LV-MHP v2's 59 part labels -> the 21 classes above (dusty-nv/pytorch-segmentation mhp_remap.py).
MHP_59_TO_21 = np.array(
    [0, 1, 1, 2, 3, 4, 4, 5, 5, 19, 9, 7, 6, 6, 6, 8, 10, 11, 12, 12, 13, 13, 14, 14, 14, 14,
     14, 14, 14, 14, 15, 15, 16, 16, 7, 8, 8, 8, 8, 1, 17, 20, 20, 19, 20, 17, 17, 18, 18, 19,
     19, 20, 17, 19, 19, 19, 19, 6, 11],
    np.int64,
)  # fmt: skip

# ----------------------------------------------------------------------------- the catalogue
DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        name="shapes",
        title="ShapesScenes (built in)",
        classes=tuple(SHAPES_CLASSES),
        palette=SHAPES_PALETTE,
        splits=("train", "val", "test"),
        url="",
        obtain="Generated on the fly by fcnlib.data.ShapesScenes; nothing to download.",
        licence="Part of this course (MIT).",
    ),
    "voc": DatasetInfo(
        name="voc",
        title="PASCAL VOC 2012 segmentation",
        classes=VOC_CLASSES,
        palette=voc_palette(21),
        splits=("train", "val", "trainval", "trainaug"),
        url="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        obtain=(
            "Download VOCtrainval_11-May-2012.tar (2 GB) from the VOC 2012 page and extract it "
            "into ROOT, so that ROOT/VOCdevkit/VOC2012 exists. For split='trainaug' also extract SBD's "
            "benchmark.tgz (http://home.bharathh.info/pubs/codes/SBD/download.html) and move "
            "benchmark_RELEASE/dataset/* to ROOT/SBD (img/, cls/, train.txt, val.txt); "
            "reading SBD needs scipy."
        ),
        licence=(
            "Images come from Flickr under Flickr's terms of use; the annotations are for "
            "research use. See the VOC 2012 page."
        ),
        downloadable=True,
    ),
    "cityscapes": DatasetInfo(
        name="cityscapes",
        title="Cityscapes (fine annotations, 19 evaluated classes)",
        classes=tuple(c[2] for c in _CITYSCAPES),
        palette=np.array([c[3] for c in _CITYSCAPES], np.uint8),
        splits=("train", "val", "test"),
        url="https://www.cityscapes-dataset.com/",
        obtain=(
            "Register at https://www.cityscapes-dataset.com/ and download "
            "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip; put the zips (they "
            "are extracted on first use) or their contents leftImg8bit/ and gtFine/ in "
            "ROOT/cityscapes. No automatic download (the site needs a login)."
        ),
        licence=(
            "Cityscapes licence: free for non-commercial research and teaching; no "
            "redistribution. Read the terms on the site."
        ),
    ),
    "pets": DatasetInfo(
        name="pets",
        title="Oxford-IIIT Pet (trimaps as background / pet)",
        classes=("background", "pet"),
        palette=np.array([(0, 0, 0), (255, 170, 0)], np.uint8),
        splits=("train", "val", "trainval", "test"),
        url="https://www.robots.ox.ac.uk/~vgg/data/pets/",
        obtain=(
            "Download images.tar.gz and annotations.tar.gz (800 MB) from the data set's page and "
            "extract both into ROOT/oxford-iiit-pet (images/, annotations/trimaps/, "
            "annotations/trainval.txt)."
        ),
        licence="Creative Commons Attribution-ShareAlike 4.0 (CC BY-SA 4.0).",
        downloadable=True,
    ),
    "sunrgbd": DatasetInfo(
        name="sunrgbd",
        title="SUN RGB-D (21 classes, as jetson-inference's FCN-ResNet18-SUN-RGBD)",
        classes=SUNRGBD_CLASSES,
        palette=SUNRGBD_PALETTE,
        splits=("train", "val"),
        url="https://rgbd.cs.princeton.edu/",
        obtain=(
            "Get the RGB images and 38-class label PNGs of https://github.com/ankurhanda/"
            "sunrgbd-meta-data, remap the labels to 21 classes (SUNRGBD_38_TO_21 here, or "
            "jetson-inference's sun_remap.py) and arrange them in ROOT/sunrgbd as "
            "SUNRGBD-train_images/img-NNNNNN.jpg + train21labels/img-NNNNNN.png and "
            "SUNRGBD-test_images/ + test21labels/ (optional SUNRGBD-trainextra_images/ + "
            "trainextra21labels/). No automatic download."
        ),
        licence="Research use; cite the SUN RGB-D paper (Song et al., CVPR 2015). Read the terms on its page.",
    ),
    "deepscene": DatasetInfo(
        name="deepscene",
        title="DeepScene Freiburg Forest (5 classes, as jetson-inference's FCN-ResNet18-DeepScene)",
        classes=DEEPSCENE_CLASSES,
        palette=DEEPSCENE_PALETTE,
        splits=("train", "val"),
        url="http://deepscene.cs.uni-freiburg.de/",
        obtain=(
            "Download the Freiburg Forest data set (freiburg_forest_annotated) from "
            "http://deepscene.cs.uni-freiburg.de/ and extract it as ROOT/deepscene with "
            "train/rgb/ + train/GT_color/ and test/rgb/ + test/GT_color/ (or GT_index/ with "
            "label PNGs). No automatic download."
        ),
        licence="Academic use; read the terms on the data set's page.",
    ),
    "mhp": DatasetInfo(
        name="mhp",
        title="Multi-Human Parsing LV-MHP v2 (21 classes, as jetson-inference's FCN-ResNet18-MHP)",
        classes=MHP_CLASSES,
        palette=voc_palette(21),
        splits=("train", "val"),
        url="https://lv-mhp.github.io/",
        obtain=(
            "Download LV-MHP v2 from https://lv-mhp.github.io/ and extract it as ROOT/LV-MHP-v2 "
            "with list/train.txt, list/val.txt, train/images/N.jpg, "
            "train/parsing_annos/N_PP_II.png (one PNG per person) and the same under val/. "
            "The 59 part labels are mapped to 21 classes on the fly. No automatic download."
        ),
        licence="Research use only; read the terms on the data set's page.",
    ),
}


def resolve_root(root=None) -> Path:
    """The data folder: ``root`` when given; else ``$FCNLIB_DATA``; else ``./data``, or the
    course repository's ``data/`` when running from ``notebooks/`` (``../data``)."""
    if root is not None:
        return Path(root)
    if os.environ.get("FCNLIB_DATA"):
        return Path(os.environ["FCNLIB_DATA"])
    here, repo = Path("data"), Path("..") / "data"
    if not here.exists() and (repo / "README.md").exists():
        return repo
    return here


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _check_split(info: DatasetInfo, split: str) -> None:
    if split not in info.splits:
        raise ValueError(
            f"split for {info.name!r} must be one of {list(info.splits)}, got {split!r}"
        )


# ----------------------------------------------------------------------------- label maps
def _identity_lut(num_classes: int) -> np.ndarray:
    """Stored value -> label: ``0..K-1`` and 255 stay, everything else is invalid (-1)."""
    lut = np.full(256, -1, np.int64)
    lut[:num_classes] = np.arange(num_classes)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


def _cityscapes_lut() -> np.ndarray:
    lut = np.full(256, -1, np.int64)
    lut[:CITYSCAPES_NUM_LABEL_IDS] = IGNORE_INDEX
    for label_id, train_id, _, _ in _CITYSCAPES:
        lut[label_id] = train_id
    return lut


def _pets_lut() -> np.ndarray:
    lut = np.full(256, -1, np.int64)
    lut[1], lut[2], lut[3] = 1, 0, IGNORE_INDEX  # trimap: 1 pet, 2 background, 3 border
    return lut


# ----------------------------------------------------------------------------- the data set
class SegmentationDataset(Dataset):
    """Validated ``(image, mask)`` items read from a list of files.

    Subclasses fill ``self.files`` (one ``(image_path, mask_path)`` per item) and implement
    :meth:`_read` (returning the PIL image and the stored mask values as an array); this
    class maps the stored values through ``self.lut`` to labels, checks sizes and values,
    and applies ``transforms``.

    Items are ``(image 3 x H x W float in [0, 1], mask H x W long)`` without transforms.
    Attributes: ``info`` (:class:`DatasetInfo`), ``classes``, ``palette``, ``ignore_index``,
    ``num_classes``, ``split``, ``root``.
    """

    lut: np.ndarray | None = None

    def __init__(self, info: DatasetInfo, root: Path, split: str, transforms=None):
        self.info, self.root, self.split, self.transforms = info, Path(root), split, transforms
        self.files: list[tuple[Path, Path]] = []
        self._index: list[int] | None = None

    # the same attributes as ShapesScenes
    @property
    def classes(self) -> list[str]:
        return list(self.info.classes)

    @property
    def palette(self) -> np.ndarray:
        return self.info.palette

    @property
    def ignore_index(self) -> int:
        return self.info.ignore_index

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def __len__(self) -> int:
        return len(self.files) if self._index is None else len(self._index)

    def _read(self, i: int) -> tuple[Image.Image, np.ndarray]:
        raise NotImplementedError

    def _to_labels(self, raw: np.ndarray, path) -> np.ndarray:
        if raw.ndim != 2:
            raise ValueError(
                f"{path}: mask has shape {raw.shape}; expected a single-channel label PNG "
                "(palette or greyscale) whose pixel values are the labels"
            )
        labels = self.lut[raw] if raw.dtype == np.uint8 else _lookup(self.lut, raw)
        return _checked(labels, raw, path)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} images")
        i = self._index[index] if self._index is not None else index % len(self.files)
        image_path, mask_path = self.files[i]
        image, raw = self._read(i)
        if (raw.shape[1], raw.shape[0]) != image.size:
            raise ValueError(
                f"{mask_path}: mask is {raw.shape[1]}x{raw.shape[0]} (WxH) but its image "
                f"{image_path} is {image.size[0]}x{image.size[1]}; an image and its mask must "
                "have the same size"
            )
        mask = torch.from_numpy(self._to_labels(raw, mask_path))
        image = TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)
        if self.transforms is not None:
            image, mask = self.transforms(image, mask)
        return image, mask

    def subset(self, size: int | None, seed: int = 0) -> SegmentationDataset:
        """A copy holding ``size`` items drawn at random (without replacement, seeded)."""
        if size is None:
            return self
        if not isinstance(size, int) or not 0 < size:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if size > len(self):
            raise ValueError(f"size={size} is larger than the data set ({len(self)} images)")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        current = self._index if self._index is not None else range(len(self.files))
        out = copy.copy(self)
        out._index = [current[int(j)] for j in order[:size]]
        return out

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.info.name!r}, split={self.split!r}, {len(self)} images, "
            f"{self.num_classes} classes, root={str(self.root)!r})"
        )


def _lookup(lut: np.ndarray, raw: np.ndarray) -> np.ndarray:
    out = np.full(raw.shape, -1, np.int64)
    ok = (raw >= 0) & (raw < len(lut))
    out[ok] = lut[raw[ok]]
    return out


def _checked(labels: np.ndarray, raw: np.ndarray, path) -> np.ndarray:
    bad = labels < 0
    if bad.any():
        values = sorted({int(v) for v in np.unique(raw[bad])[:5]})
        raise ValueError(
            f"{path}: mask holds value(s) {values} that are neither a class of this data set "
            f"nor the ignore label {IGNORE_INDEX}"
        )
    return labels


def _open_mask(path) -> np.ndarray:
    with Image.open(path) as m:
        return np.array(m)


# ----------------------------------------------------------------------------- finding files
def _missing(root: Path, info: DatasetInfo, what: Path) -> DatasetNotFoundError:
    auto = (
        f" Or let torchvision fetch it (checksums verified): get_dataset({info.name!r}, root, download=True)."
        if info.downloadable
        else ""
    )
    return DatasetNotFoundError(
        f"{info.title} not found: {what} does not exist (root={str(root)!r}). "
        f"To get it, with ROOT = root: {info.obtain}{auto} See {README}."
    )


def _locate(root, info: DatasetInfo, subfolders: Sequence[str], required: Sequence[str]) -> Path:
    """The first of ``root``, ``root/<subfolder>`` ... that holds every ``required`` path.

    Otherwise raises :class:`DatasetNotFoundError` naming a missing path in the folder that
    came closest (or in ``root/<first subfolder>``, the documented place, if none did).
    """
    root = Path(root)
    candidates = [root] + [root / s for s in subfolders]
    found = [sum((c / r).exists() for r in required) for c in candidates]
    if max(found) == len(required):
        return candidates[found.index(len(required))]
    if max(found) > 0:
        best = candidates[found.index(max(found))]
    else:
        best = candidates[1] if subfolders else root
    raise _missing(root, info, next(best / r for r in required if not (best / r).exists()))


def _download(info: DatasetInfo, root: Path, url: str, fetch: Callable[[], object]) -> None:
    """Run torchvision's download ``fetch`` after checking, within seconds, that ``url``'s
    server answers; any failure becomes a :class:`DatasetDownloadError` saying what to do."""
    host = urlparse(url).hostname
    help_text = f"Get it by hand instead, with ROOT = {str(root)!r}: {info.obtain} See {README}."
    if not reachable(host):
        raise DatasetDownloadError(
            f"cannot download {info.title}: {host} cannot be reached (offline?). {help_text}"
        )
    try:
        fetch()
    except Exception as e:  # URLError, checksum RuntimeError, tar errors ...
        raise DatasetDownloadError(
            f"downloading {info.title} from {url} failed ({type(e).__name__}: {e}). {help_text}"
        ) from None


def _no_download(info: DatasetInfo, root: Path) -> DatasetDownloadError:
    return DatasetDownloadError(
        f"{info.title} cannot be downloaded automatically. With ROOT = {str(root)!r}: {info.obtain} "
        f"See {README}."
    )


def _read_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _pairs_by_stem(
    info: DatasetInfo, image_dir: Path, mask_dir: Path, key=lambda s: s
) -> list[tuple[Path, Path]]:
    """Pair ``image_dir/*.jpg|png`` with ``mask_dir/*.png`` by ``key(stem)``; unpaired files are an error."""
    images = {
        key(p.stem): p
        for p in sorted(image_dir.iterdir())
        if p.suffix.lower() in (".jpg", ".jpeg", ".png")
    }
    masks = {key(p.stem): p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() == ".png"}
    lonely = sorted(set(images) ^ set(masks))
    if lonely:
        example = images.get(lonely[0]) or masks.get(lonely[0])
        raise ValueError(
            f"{info.title}: {len(lonely)} file(s) in {image_dir} and {mask_dir} have no partner, "
            f"e.g. {example}; every image needs a mask with the same name (see {README})"
        )
    return [(images[k], masks[k]) for k in sorted(images, key=_natural)]


def _natural(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


# ----------------------------------------------------------------------------- the loaders
class VOCDataset(SegmentationDataset):
    """PASCAL VOC 2012 through ``torchvision.datasets.VOCSegmentation`` (and ``SBDataset``).

    ``root`` holds ``VOCdevkit/VOC2012``. ``split="trainaug"`` is the usual 10,582-image
    training set: VOC train plus every SBD image that is not in VOC val (VOC's own mask is
    used where both exist); it also needs ``root/SBD``.
    """

    def __init__(self, root=None, split="train", transforms=None, download=False):
        root = resolve_root(root)
        info = DATASETS["voc"]
        _check_split(info, split)
        from torchvision.datasets import VOCSegmentation
        from torchvision.datasets.voc import DATASET_YEAR_DICT

        root = Path(root)
        super().__init__(info, root, split, transforms)
        self.lut = _identity_lut(info.num_classes)
        base = root / "VOCdevkit" / "VOC2012"
        voc_split = "train" if split == "trainaug" else split
        if download and not base.is_dir():
            url = DATASET_YEAR_DICT["2012"]["url"]
            _download(
                info, root, url, lambda: VOCSegmentation(root, "2012", "train", download=True)
            )
        for r in ("JPEGImages", "SegmentationClass", f"ImageSets/Segmentation/{voc_split}.txt"):
            if not (base / r).exists():
                raise _missing(root, info, base / r)
        self.sources = [VOCSegmentation(root, "2012", voc_split)]
        self.files = list(zip(map(Path, self.sources[0].images), map(Path, self.sources[0].masks)))
        self._where = [(0, i) for i in range(len(self.files))]
        if split == "trainaug":
            self._add_sbd(root, base, download)

    def _add_sbd(self, root: Path, base: Path, download: bool) -> None:
        from torchvision.datasets import SBDataset

        sbd = root / "SBD"
        if download and not (sbd / "cls").is_dir():
            _download(
                self.info,
                root,
                SBDataset.url,
                lambda: SBDataset(sbd, "train", "segmentation", download=True),
            )
        for r in ("img", "cls", "train.txt", "val.txt"):
            if not (sbd / r).exists():
                raise _missing(root, self.info, sbd / r)
        have = {p.stem for p, _ in self.files}
        have |= set(_read_list(base / "ImageSets" / "Segmentation" / "val.txt"))
        for part in ("train", "val"):
            try:
                source = SBDataset(sbd, part, mode="segmentation")
            except RuntimeError as e:  # scipy missing
                raise RuntimeError(f"reading SBD (split='trainaug') failed: {e}") from None
            self.sources.append(source)
            for i, (img, cls) in enumerate(zip(source.images, source.masks)):
                if Path(img).stem not in have:
                    have.add(Path(img).stem)
                    self.files.append((Path(img), Path(cls)))
                    self._where.append((len(self.sources) - 1, i))

    def _read(self, i):
        s, j = self._where[i]
        image, mask = self.sources[s][j]
        return image, np.array(mask)


class CityscapesDataset(SegmentationDataset):
    """Cityscapes through ``torchvision.datasets.Cityscapes`` (fine ``labelIds``).

    ``root`` (or ``root/cityscapes``) holds ``leftImg8bit/`` and ``gtFine/``. The 34 stored
    label ids are mapped to the 19 train ids; the other 15 become 255.
    """

    lut = _cityscapes_lut()

    def __init__(self, root=None, split="train", transforms=None, download=False):
        root = resolve_root(root)
        info = DATASETS["cityscapes"]
        _check_split(info, split)
        from torchvision.datasets import Cityscapes

        if download:
            raise _no_download(info, Path(root))
        zips = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")
        try:
            folder = _locate(
                root, info, ["cityscapes"], [f"leftImg8bit/{split}", f"gtFine/{split}"]
            )
        except DatasetNotFoundError:
            folder = _locate(root, info, ["cityscapes"], zips)  # torchvision extracts them
        super().__init__(info, folder, split, transforms)
        self.source = Cityscapes(folder, split=split, mode="fine", target_type="semantic")
        self.files = [
            (Path(i), Path(t[0])) for i, t in zip(self.source.images, self.source.targets)
        ]

    def _read(self, i):
        image, mask = self.source[i]
        return image, np.array(mask)


class PetsDataset(SegmentationDataset):
    """Oxford-IIIT Pet through ``torchvision.datasets.OxfordIIITPet`` (segmentation trimaps).

    ``root`` holds ``oxford-iiit-pet/``. Trimap values 1 (pet), 2 (background) and
    3 (border) become 1, 0 and 255. Splits: ``train``/``trainval`` and ``val``/``test``.
    """

    lut = _pets_lut()

    def __init__(self, root=None, split="train", transforms=None, download=False):
        root = resolve_root(root)
        info = DATASETS["pets"]
        _check_split(info, split)
        from torchvision.datasets import OxfordIIITPet

        root = Path(root)
        tv_split = {"train": "trainval", "val": "test"}.get(split, split)
        base = root / "oxford-iiit-pet"
        if download and not (base / "annotations").is_dir():
            url = OxfordIIITPet._RESOURCES[0][0]
            _download(
                info,
                root,
                url,
                lambda: OxfordIIITPet(root, tv_split, "segmentation", download=True),
            )
        for r in ("images", "annotations/trimaps", f"annotations/{tv_split}.txt"):
            if not (base / r).exists():
                raise _missing(root, info, base / r)
        super().__init__(info, root, split, transforms)
        self.source = OxfordIIITPet(root, tv_split, target_types="segmentation")
        self.files = list(zip(self.source._images, self.source._segs))

    def _read(self, i):
        image, mask = self.source[i]
        return image, np.array(mask)


class _FolderPairs(SegmentationDataset):
    """Images and masks in two folders (SUN RGB-D, DeepScene): read with PIL."""

    def _read(self, i):
        image_path, mask_path = self.files[i]
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        if mask_path.parent.name == "GT_color":  # colour annotations, even if stored with a palette
            with Image.open(mask_path) as m:
                return image, np.array(m.convert("RGB"))
        return image, _open_mask(mask_path)


class SUNRGBDDataset(_FolderPairs):
    """SUN RGB-D with the 21 classes of jetson-inference's FCN-ResNet18-SUN-RGBD.

    ``root`` (or ``root/sunrgbd``) holds ``SUNRGBD-{train,test}_images/img-NNNNNN.jpg`` and
    ``{train,test}21labels/img-NNNNNN.png``; ``train`` adds the optional ``trainextra``
    folders when ``train_extra`` is True and they exist.
    """

    def __init__(self, root=None, split="train", transforms=None, download=False, train_extra=True):
        root = resolve_root(root)
        info = DATASETS["sunrgbd"]
        _check_split(info, split)
        if download:
            raise _no_download(info, Path(root))
        part = "train" if split == "train" else "test"
        pair = (f"SUNRGBD-{part}_images", f"{part}21labels")
        folder = _locate(root, info, ["sunrgbd", "SUNRGBD"], pair)
        super().__init__(info, folder, split, transforms)
        self.lut = _identity_lut(info.num_classes)
        self.files = _pairs_by_stem(info, folder / pair[0], folder / pair[1])
        extra = (folder / "SUNRGBD-trainextra_images", folder / "trainextra21labels")
        if split == "train" and train_extra and extra[0].is_dir() and extra[1].is_dir():
            self.files += _pairs_by_stem(info, *extra)


class DeepSceneDataset(_FolderPairs):
    """DeepScene Freiburg Forest with jetson-inference's 5 classes.

    ``root`` (or ``root/deepscene``, ``root/freiburg_forest_annotated``) holds
    ``train/rgb`` and ``test/rgb`` with either ``GT_color/`` (the original colour
    annotations, mapped through :data:`DEEPSCENE_COLOURS`) or ``GT_index/`` (label PNGs).
    An image and its mask are paired by their names up to the first ``_``
    (``b1-09517_Clipped.jpg`` with ``b1-09517_mask.png``).
    """

    def __init__(self, root=None, split="train", transforms=None, download=False, train_extra=True):
        root = resolve_root(root)
        info = DATASETS["deepscene"]
        _check_split(info, split)
        if download:
            raise _no_download(info, Path(root))
        part = "train" if split == "train" else "test"
        subs = ["deepscene", "freiburg_forest_annotated"]
        try:
            folder = _locate(root, info, subs, [f"{part}/rgb", f"{part}/GT_index"])
        except DatasetNotFoundError:
            folder = _locate(root, info, subs, [f"{part}/rgb", f"{part}/GT_color"])
        super().__init__(info, folder, split, transforms)
        self.lut = _identity_lut(info.num_classes)
        parts = [part] + (["trainextra"] if split == "train" and train_extra else [])
        for p in parts:
            if not (folder / p / "rgb").is_dir():
                continue
            gt = "GT_index" if (folder / p / "GT_index").is_dir() else "GT_color"
            self.files += _pairs_by_stem(
                info, folder / p / "rgb", folder / p / gt, key=lambda s: s.split("_")[0]
            )

    def _to_labels(self, raw, path):
        if raw.ndim == 3:  # GT_color: look the colours up
            rgb = raw[..., :3].astype(np.int64)
            code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
            labels = np.full(code.shape, -1, np.int64)
            for colour, label in DEEPSCENE_COLOURS.items():
                labels[code == ((colour[0] << 16) | (colour[1] << 8) | colour[2])] = label
            bad = labels < 0
            if bad.any():
                colours = sorted({tuple(int(c) for c in v) for v in rgb[bad][:5]})
                raise ValueError(
                    f"{path}: mask holds colour(s) {colours} that are not DeepScene annotation "
                    f"colours {sorted(DEEPSCENE_COLOURS)}"
                )
            return labels
        return super()._to_labels(raw, path)


class MHPDataset(SegmentationDataset):
    """LV-MHP v2 (Multi-Human Parsing) with jetson-inference's 21 classes.

    ``root`` (or ``root/LV-MHP-v2``) holds ``list/{train,val}.txt`` and
    ``{train,val}/images/N.jpg`` with one annotation per person,
    ``{train,val}/parsing_annos/N_PP_II.png`` (``PP`` persons, ``II`` = 01..PP). The 59 part
    labels (first channel) are mapped by :data:`MHP_59_TO_21` and the persons merged, later
    ones over earlier ones where they are not background.
    """

    lut = np.concatenate([MHP_59_TO_21, np.full(256 - len(MHP_59_TO_21), -1, np.int64)])

    def __init__(self, root=None, split="train", transforms=None, download=False):
        root = resolve_root(root)
        info = DATASETS["mhp"]
        _check_split(info, split)
        if download:
            raise _no_download(info, Path(root))
        folder = _locate(
            root,
            info,
            ["LV-MHP-v2", "mhp"],
            [f"list/{split}.txt", f"{split}/images", f"{split}/parsing_annos"],
        )
        super().__init__(info, folder, split, transforms)
        annos = folder / split / "parsing_annos"
        self.persons: list[list[Path]] = []
        for n in _read_list(folder / "list" / f"{split}.txt"):
            files = sorted(annos.glob(f"{n}_*.png"))
            if not files:
                raise _missing(folder, info, annos / f"{n}_PP_01.png")
            self.files.append((folder / split / "images" / f"{n}.jpg", files[0]))
            self.persons.append(files)

    def _read(self, i):
        image_path = self.files[i][0]
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        merged = None
        for path in self.persons[i]:
            raw = _open_mask(path)
            raw = raw[..., 0] if raw.ndim == 3 else raw
            if (raw.shape[1], raw.shape[0]) != image.size:
                raise ValueError(
                    f"{path}: mask is {raw.shape[1]}x{raw.shape[0]} (WxH) but its image "
                    f"{image_path} is {image.size[0]}x{image.size[1]}"
                )
            labels = _checked(_lookup(self.lut, raw.astype(np.int64)), raw, path)
            merged = labels if merged is None else np.where(labels != 0, labels, merged)
        return image, merged

    def _to_labels(self, raw, path):
        return raw  # already mapped and checked in _read, person by person


# ----------------------------------------------------------------------------- entry points
_LOADERS = {
    "voc": VOCDataset,
    "cityscapes": CityscapesDataset,
    "pets": PetsDataset,
    "sunrgbd": SUNRGBDDataset,
    "deepscene": DeepSceneDataset,
    "mhp": MHPDataset,
}


def get_dataset(
    name: str, root=None, split: str = "train", transforms=None, download: bool = False, **kw
):
    """A segmentation data set by name.

    Args:
        name: one of :data:`DATASETS`: ``"shapes"``, ``"voc"``, ``"cityscapes"``, ``"pets"``,
            ``"sunrgbd"``, ``"deepscene"``, ``"mhp"``.
        root: the folder holding the data: the one torchvision's own class takes (holding
            ``VOCdevkit/`` or ``oxford-iiit-pet/``); for the others the data set's folder
            itself or its parent (e.g. ``data`` holding ``cityscapes/``). ``None``:
            :func:`resolve_root` (``$FCNLIB_DATA``, ``./data``, or the repository's ``data/``
            from ``notebooks/``).
        split: one of ``DATASETS[name].splits`` (``"train"`` and ``"val"`` always exist).
        transforms: joint transform ``t(image, mask) -> (image, mask)``
            (see :mod:`fcnlib.transforms`); it receives ``3 x H x W`` float images in [0, 1].
        download: fetch the data when torchvision can (``voc``, ``pets``), checksums verified.
        **kw: passed to the loader (``ShapesScenes``'s ``size``, ``image_size`` ...;
            ``train_extra`` for ``sunrgbd``/``deepscene``).

    Items are ``(image 3 x H x W float, mask H x W long)``; without transforms the image is
    in [0, 1] and the mask holds ``0..K-1`` or 255.
    """
    info = _info(name)
    _check_split(info, split)
    if name == "shapes":
        if download:
            raise ValueError(
                "the shapes data set is generated, not downloaded: leave download=False"
            )
        return ShapesScenes(split, transforms=transforms, **kw)
    return _LOADERS[name](root, split, transforms=transforms, download=download, **kw)


def course_datasets(
    name: str,
    image_size: int,
    train_size: int | None = None,
    val_size: int | None = None,
    seed: int = 0,
    root=None,
    normalize: bool = False,
):
    """The training and validation sets a notebook uses: ``(train_set, val_set)``.

    One call for every data set, so a notebook's ``FULL_RUN`` switch changes only ``name``:

    * ``"shapes"``: :class:`ShapesScenes` of ``train_size`` (default 1000) and ``val_size``
      (default 200) scenes at ``image_size``;
    * a real data set: training items are randomly scaled (shorter side around
      ``image_size``), cropped to ``image_size x image_size`` (padding: mask 255) and flipped;
      validation items are resized and centre-cropped to the same size, so batches stack.
      ``train_size``/``val_size`` keep a random (seeded) subset; ``None`` keeps all.

    Images stay in [0, 1] like the shapes (so ``viz`` shows them as they are);
    ``normalize=True`` applies ImageNet's mean and std instead.
    """
    from .. import transforms as T

    info = _info(name)
    if name == "shapes":
        # cache=True: scenes are drawn once, later epochs read them from memory
        train = ShapesScenes(
            "train", train_size or 1000, image_size=image_size, seed=seed, cache=True
        )
        val = ShapesScenes("val", val_size or 200, image_size=image_size, seed=seed, cache=True)
        return train, val
    stats = {} if normalize else {"mean": None, "std": None}
    train_t = T.train_transforms(image_size, scale=(0.5, 2.0), base_size=image_size, **stats)
    val_t = T.eval_transforms(image_size, mode="crop", **stats)
    train = get_dataset(info.name, root, "train", transforms=train_t).subset(train_size, seed)
    val = get_dataset(info.name, root, "val", transforms=val_t).subset(val_size, seed)
    return train, val
