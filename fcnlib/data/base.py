"""What every loader of a real data set shares: the checked ``(image, mask)`` item, the
subset, and the helpers that find files and say clearly what is missing.

A loader is a subclass of :class:`SegmentationDataset` that names its catalogue entry and
finds its files; reading, label mapping, the checks and the transforms happen here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset
from torchvision.transforms.v2 import functional as TF

from .._checks import check_positive_int
from .catalogue import DATASETS, IGNORE_INDEX, README, DatasetInfo

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class DatasetNotFoundError(FileNotFoundError):
    """A data set's folder or one of its files is missing; the message says what to do."""


class DatasetDownloadError(ConnectionError):
    """``download=True`` could not fetch the data (offline, or not downloadable)."""


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


def not_downloadable(info: DatasetInfo, root: Path) -> DatasetDownloadError:
    """The error for ``download=True`` on a data set that must be obtained by hand."""
    return DatasetDownloadError(
        f"{info.title} cannot be downloaded automatically. With ROOT = {str(root)!r}: "
        f"{info.obtain} See {README}."
    )


def catalogue_entry(name: str) -> DatasetInfo:
    """``DATASETS[name]``, or a ``ValueError`` listing the names there are."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def check_split(info: DatasetInfo, split: str) -> None:
    if split not in info.splits:
        raise ValueError(
            f"split for {info.name!r} must be one of {list(info.splits)}, got {split!r}"
        )


def identity_lut(num_classes: int) -> np.ndarray:
    """Stored value -> label: ``0..K-1`` and 255 stay, everything else is invalid (-1)."""
    lut = np.full(256, -1, np.int64)
    lut[:num_classes] = np.arange(num_classes)
    lut[IGNORE_INDEX] = IGNORE_INDEX
    return lut


# ----------------------------------------------------------------------------- the data set
class SegmentationDataset(Dataset):
    """Validated ``(image, mask)`` items read from a list of files.

    A subclass sets ``name`` (its key in :data:`DATASETS`) and implements :meth:`_find`,
    which fills ``self.files`` with one ``(image_path, mask_path)`` per item and returns the
    data set's folder. This class does the rest: it checks the split and refuses
    ``download=True`` where the data set cannot be downloaded; it reads each item
    (:meth:`_read`; PIL by default), maps the stored mask values through ``lut`` (by default
    ``0..K-1`` and 255 are kept, anything else is an error naming the file and the value),
    checks that image and mask have the same size, and applies ``transforms``.

    Items are ``(image 3 x H x W float in [0, 1], mask H x W long)`` without transforms.
    Attributes: ``info`` (:class:`DatasetInfo`), ``classes``, ``palette``, ``ignore_index``,
    ``num_classes``, ``split``, ``root``, ``files`` and ``names`` (the image file stems, in
    item order).
    """

    name: str = ""
    lut: np.ndarray | None = None  # stored mask value -> label, -1 = invalid

    def __init__(
        self, root=None, split: str = "train", transforms=None, download: bool = False, *,
        info: DatasetInfo | None = None,
    ):  # fmt: skip
        self.info = info if info is not None else DATASETS[self.name]
        check_split(self.info, split)
        root = resolve_root(root)
        if download and not self.info.downloadable:
            raise not_downloadable(self.info, root)
        self.split, self.transforms = split, transforms
        self.files: list[tuple[Path, Path]] = []
        self.root = Path(self._find(root, download))
        if self.lut is None:
            self.lut = identity_lut(self.info.num_classes)

    def _find(self, root: Path, download: bool) -> Path:
        raise NotImplementedError

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

    @property
    def names(self) -> list[str]:
        return [Path(image).stem for image, _ in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, i: int) -> tuple[Image.Image, np.ndarray]:
        """The RGB image and the stored mask values (an array) of item ``i``."""
        image_path, mask_path = self.files[i]
        with Image.open(image_path) as im:
            image = im.convert("RGB")
        return image, open_mask(mask_path)

    def _to_labels(self, raw: np.ndarray, path) -> np.ndarray:
        if raw.ndim != 2:
            raise ValueError(
                f"{path}: mask has shape {raw.shape}; expected a single-channel label PNG "
                "(palette or greyscale) whose pixel values are the labels"
            )
        return checked_labels(lookup(self.lut, raw), raw, path)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} images")
        i = index % len(self)
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

    def subset(self, size: int | None, seed: int = 0) -> SegmentationDataset | SegmentationSubset:
        """``size`` items drawn at random (without replacement, seeded), as a
        :class:`SegmentationSubset`; ``size=None`` returns the data set itself."""
        if size is None:
            return self
        check_positive_int(size, "size")
        if size > len(self):
            raise ValueError(f"size={size} is larger than the data set ({len(self)} images)")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return SegmentationSubset(self, order[:size].tolist())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.info.name!r}, split={self.split!r}, {len(self)} images, "
            f"{self.num_classes} classes, root={str(self.root)!r})"
        )


class SegmentationSubset(Subset):
    """``torch.utils.data.Subset`` of a :class:`SegmentationDataset` that keeps its
    description: ``info``, ``classes``, ``palette``, ``ignore_index``, ``num_classes``,
    ``split``, ``root``, and the ``names`` of the items it holds."""

    dataset: SegmentationDataset

    info = property(lambda self: self.dataset.info)
    classes = property(lambda self: self.dataset.classes)
    palette = property(lambda self: self.dataset.palette)
    ignore_index = property(lambda self: self.dataset.ignore_index)
    num_classes = property(lambda self: self.dataset.num_classes)
    split = property(lambda self: self.dataset.split)
    root = property(lambda self: self.dataset.root)

    @property
    def names(self) -> list[str]:
        names = self.dataset.names
        return [names[i] for i in self.indices]

    def __repr__(self) -> str:
        return f"SegmentationSubset({len(self)} of {self.dataset!r})"


# ----------------------------------------------------------------------------- label maps
def lookup(lut: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``lut[raw]``, with -1 (invalid) for values outside the table."""
    if raw.dtype == np.uint8 and len(lut) == 256:
        return lut[raw]
    raw = raw.astype(np.int64)
    out = np.full(raw.shape, -1, np.int64)
    ok = (raw >= 0) & (raw < len(lut))
    out[ok] = lut[raw[ok]]
    return out


def checked_labels(labels: np.ndarray, raw: np.ndarray, path) -> np.ndarray:
    """``labels``, or a ``ValueError`` naming ``path`` and the stored values that map to -1."""
    bad = labels < 0
    if bad.any():
        values = sorted({int(v) for v in np.unique(raw[bad])[:5]})
        raise ValueError(
            f"{path}: mask holds value(s) {values} that are neither a class of this data set "
            f"nor the ignore label {IGNORE_INDEX}"
        )
    return labels


def colours_to_labels(rgb: np.ndarray, colours: Mapping[tuple, int], path, what: str) -> np.ndarray:
    """``H x W x 3`` (or ``x 4``, alpha ignored) colour mask -> ``H x W`` labels through the
    table ``colours`` (``(r, g, b) -> label``); a colour not in the table is an error naming
    ``path``, the colour(s) and ``what`` the table is."""
    rgb = rgb[..., :3].astype(np.int64)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    table = sorted(((r << 16) | (g << 8) | b, label) for (r, g, b), label in colours.items())
    keys = np.array([k for k, _ in table], np.int64)
    values = np.array([v for _, v in table], np.int64)
    at = np.minimum(np.searchsorted(keys, code), len(keys) - 1)
    bad = keys[at] != code
    if bad.any():
        found = [
            (int(c) >> 16, (int(c) >> 8) & 255, int(c) & 255) for c in np.unique(code[bad])[:5]
        ]
        raise ValueError(f"{path}: mask holds colour(s) {found} that are not {what}")
    return values[at]


def open_mask(path) -> np.ndarray:
    """The stored values of a mask file: ``H x W`` for label PNGs (a palette PNG's indices,
    not its colours), ``H x W x C`` for colour images."""
    with Image.open(path) as m:
        raw = np.array(m)
    return raw.astype(np.uint8) if raw.dtype == bool else raw


# ----------------------------------------------------------------------------- finding files
def missing(root: Path, info: DatasetInfo, what: Path) -> DatasetNotFoundError:
    """The error for a missing path: which one, and how to get the data set."""
    auto = (
        f" Or let fcnlib fetch it (mirrors, checksums verified): get_dataset({info.name!r}, root, download=True)."
        if info.downloadable
        else ""
    )
    return DatasetNotFoundError(
        f"{info.title} not found: {what} does not exist (root={str(root)!r}). "
        f"To get it, with ROOT = root: {info.obtain}{auto} See {README}."
    )


def locate(root, info: DatasetInfo, subfolders: Sequence[str], required: Sequence[str]) -> Path:
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
    raise missing(root, info, next(best / r for r in required if not (best / r).exists()))


def read_list(path: Path) -> list[str]:
    """The non-empty lines of a split list, stripped."""
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def natural_key(s: str):
    """Sort key that orders numbers by value: ``f2`` before ``f10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def files_by_key(folder: Path, suffixes: Sequence[str], key=lambda s: s) -> dict[str, Path]:
    """``{key(stem): path}`` of the files in ``folder`` with one of ``suffixes`` (hidden files
    skipped); two files with one key (``a.jpg`` and ``a.png``) are an error naming both."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in suffixes or not p.is_file():
            continue
        k = key(p.stem)
        if k in out:
            raise ValueError(f"{out[k]} and {p} have the same name: which one is meant?")
        out[k] = p
    return out


def pairs_by_stem(
    info: DatasetInfo, image_dir: Path, mask_dir: Path, key=lambda s: s, mask_suffixes=(".png",)
) -> list[tuple[Path, Path]]:
    """Pair the images in ``image_dir`` with the masks in ``mask_dir`` by ``key(stem)``, in
    natural order of the keys; an unpaired file is an error."""
    images = files_by_key(image_dir, IMAGE_SUFFIXES, key)
    masks = files_by_key(mask_dir, mask_suffixes, key)
    lonely = sorted(set(images) ^ set(masks))
    if lonely:
        example = images.get(lonely[0]) or masks.get(lonely[0])
        raise ValueError(
            f"{info.title}: {len(lonely)} file(s) in {image_dir} and {mask_dir} have no partner, "
            f"e.g. {example}; every image needs a mask with the same name (see {README})"
        )
    return [(images[k], masks[k]) for k in sorted(images, key=natural_key)]
