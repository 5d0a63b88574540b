"""Your own data set: a folder of images and masks, read by name with no code to write.

::

    ROOT/                                  ROOT/
        classes.txt                            classes.txt
        images/0001.jpg  0002.jpg ...   or     train/images/...   train/masks/...
        masks/0001.png   0002.png ...          val/images/...     val/masks/...
        train.txt  val.txt   (stems)

``get_dataset("folder", ROOT, split, classes=[...])`` pairs each image with the mask of the
same file stem. A mask is either a label PNG (greyscale or palette; each pixel's value is
its class index, 255 = ignore) or an RGB colour mask, mapped to classes through
``palette``. Everything read is checked, and a bad file is named in the error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import (
    IMAGE_SUFFIXES,
    DatasetNotFoundError,
    SegmentationDataset,
    colours_to_labels,
    files_by_key,
    pairs_by_stem,
    read_list,
)
from .catalogue import DATASETS, IGNORE_INDEX, README, DatasetInfo, voc_palette

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
LOSSY = (".jpg", ".jpeg")  # found among masks only to say why they are refused


class FolderDataset(SegmentationDataset):
    """Images and masks in a folder (the layout above; ``data/README.md``).

    Args:
        root: the folder. Splits come from ``root/<split>.txt`` (one image stem or file name
            a line, images in ``root/<images>``, masks in ``root/<masks>``) or, where there is
            no such list, from ``root/<split>/<images>`` and ``root/<split>/<masks>``.
        split: the split to read (``"train"``, ``"val"``, or any other the folder has).
        classes: the class names, index 0 first. ``None``: read from ``root/classes.txt``
            (one name a line, optionally followed by its colour ``R G B``) or
            ``root/classes.json`` (a list of names, or ``{"classes": [...], "palette":
            [[R, G, B], ...]}``).
        palette: ``K x 3`` colours, one per class (default: from the classes file). Needed
            for RGB colour masks; for display only with label masks (then PASCAL VOC's
            colours by default).
        images, masks: the names of the two subfolders.
        ignore_color: in colour masks, the colour of pixels to ignore (label 255).

    Items are in the list's order, or in natural order of the stems without a list.
    Errors name the file at fault: a missing folder or listed file, an image without a mask
    (or the reverse), an empty folder, a JPEG mask (lossy compression changes labels), an
    image and mask of different sizes, a label outside the classes (other than 255), a colour
    that is not in the palette.
    """

    name = "folder"

    def __init__(
        self, root, split: str = "train", transforms=None, download: bool = False, *,
        classes: Sequence[str] | None = None, palette=None, images: str = "images",
        masks: str = "masks", ignore_color: Sequence[int] | None = None,
    ):  # fmt: skip
        if root is None:
            raise ValueError(
                "the folder data set needs root=, the folder holding your images and masks "
                f"(see {README})"
            )
        root = Path(root)
        if not root.is_dir():
            raise DatasetNotFoundError(f"{root} does not exist: {DATASETS['folder'].obtain}")
        if classes is None:
            classes, file_palette = read_classes(root)
        else:
            classes, file_palette = _checked_classes(classes, "classes"), None
        given = palette if palette is not None else file_palette
        self.colour_palette = None if given is None else _checked_palette(given, len(classes))
        self.image_folder, self.mask_folder = images, masks
        self.colours = {}
        if self.colour_palette is not None:
            self.colours = {tuple(int(v) for v in c): i for i, c in enumerate(self.colour_palette)}
        if ignore_color is not None:
            ignore_color = tuple(int(v) for v in ignore_color)
            if len(ignore_color) != 3 or ignore_color in self.colours:
                raise ValueError(
                    f"ignore_color must be an (R, G, B) colour that no class has, got {ignore_color}"
                )
            self.colours[ignore_color] = IGNORE_INDEX
        self.ignore_color = ignore_color
        splits = _splits(root, images)
        if split not in splits:
            hint = (
                f"; {root / images} exists: list the stems of this split's images in "
                f"{root / f'{split}.txt'}"
                if (root / images).is_dir()
                else ""
            )
            raise DatasetNotFoundError(
                f"{root} has no split {split!r}: neither {root / f'{split}.txt'} nor "
                f"{root / split / images} exists (splits found: {list(splits) or 'none'}){hint}. "
                f"See {README}."
            )
        info = DatasetInfo(
            name="folder",
            title=f"folder data set {root}",
            classes=tuple(classes),
            palette=self.colour_palette if self.colour_palette is not None else voc_palette(len(classes)),
            splits=splits,
            url="",
            obtain=DATASETS["folder"].obtain,
            licence=DATASETS["folder"].licence,
        )  # fmt: skip
        super().__init__(root, split, transforms, download, info=info)

    def _find(self, root: Path, download: bool) -> Path:
        listing = root / f"{self.split}.txt"
        base = root if listing.is_file() else root / self.split
        image_dir, mask_dir = base / self.image_folder, base / self.mask_folder
        for d in (image_dir, mask_dir):
            if not d.is_dir():
                raise DatasetNotFoundError(f"{d} does not exist (see {README})")
        images = files_by_key(image_dir, IMAGE_SUFFIXES)
        masks = files_by_key(mask_dir, MASK_SUFFIXES + LOSSY)
        for d, found, kind in (
            (image_dir, images, IMAGE_SUFFIXES),
            (mask_dir, masks, MASK_SUFFIXES),
        ):
            if not found:
                raise ValueError(f"{d} is empty: it holds no {'/'.join(kind)} files")
        if listing.is_file():
            self.files = _listed_pairs(listing, images, masks, mask_dir)
        else:
            suffixes = MASK_SUFFIXES + LOSSY
            self.files = pairs_by_stem(self.info, image_dir, mask_dir, mask_suffixes=suffixes)
        for _, mask in self.files:
            if mask.suffix.lower() in LOSSY:
                raise ValueError(
                    f"{mask}: masks must be saved losslessly (PNG); JPEG compression changes "
                    "the label values along every edge"
                )
        return root

    def _to_labels(self, raw: np.ndarray, path) -> np.ndarray:
        if raw.ndim == 3 and raw.shape[-1] in (3, 4):
            if not self.colours:
                same = bool(
                    (raw[..., 0] == raw[..., 1]).all() and (raw[..., 1] == raw[..., 2]).all()
                )
                hint = (
                    " Its three channels are equal: if they are the labels, save the mask as a "
                    "single-channel PNG (PIL mode 'L' or 'P')."
                    if same
                    else ""
                )
                raise ValueError(
                    f"{path}: an RGB colour mask, but no palette says which colour is which "
                    "class: pass palette=[(R, G, B), ...] (one colour per class) or write the "
                    f"colours into classes.txt.{hint}"
                )
            what = f"colours of the palette ({self.num_classes} classes"
            what += f", ignore colour {self.ignore_color})" if self.ignore_color else ")"
            return colours_to_labels(raw, self.colours, path, what)
        if raw.ndim == 3:
            raise ValueError(
                f"{path}: mask has {raw.shape[-1]} channels; expected a single-channel label "
                "PNG or an RGB colour mask"
            )
        return super()._to_labels(raw, path)


def _listed_pairs(listing: Path, images: dict, masks: dict, mask_dir: Path) -> list:
    lines = read_list(listing)
    if not lines:
        raise ValueError(f"{listing} is empty: it lists no images")
    pairs = []
    for line in lines:
        stem = line if line in images else Path(line).stem
        if stem not in images:
            folder = next(iter(images.values())).parent
            raise ValueError(f"{listing} lists {line!r}, but {folder} holds no image of that name")
        if stem not in masks:
            raise ValueError(
                f"{images[stem]} has no mask: {mask_dir} holds no {stem}.png ({', '.join(MASK_SUFFIXES)})"
            )
        pairs.append((images[stem], masks[stem]))
    return pairs


def _splits(root: Path, images: str) -> tuple[str, ...]:
    """The split names a folder has: ``<split>.txt`` lists and ``<split>/<images>`` folders."""
    lists = {p.stem for p in root.glob("*.txt") if p.name != "classes.txt"}
    folders = {d.name for d in root.iterdir() if d.is_dir() and (d / images).is_dir()}
    return tuple(sorted(lists | folders))


def read_classes(root: Path) -> tuple[list[str], np.ndarray | None]:
    """Class names (and colours, when the file has them) from ``root/classes.txt`` or
    ``root/classes.json``."""
    txt, js = root / "classes.txt", root / "classes.json"
    if txt.is_file() and js.is_file():
        raise ValueError(f"{root} holds both classes.txt and classes.json: keep one")
    if js.is_file():
        try:
            content = json.loads(js.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{js} is not valid JSON: {e}") from None
        if isinstance(content, dict):
            names, palette = content.get("classes"), content.get("palette")
        else:
            names, palette = content, None
        return _checked_classes(names, str(js)), palette
    if not txt.is_file():
        raise ValueError(
            f"the classes of {root} are not known: pass classes=[...] (index 0 first) or "
            f"write {txt} with one class name a line (see {README})"
        )
    names, colours, plain = [], [], []
    for n, line in enumerate(txt.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = line.split()
        if len(tokens) >= 4 and all(t.isdigit() for t in tokens[-3:]):  # "name R G B"
            names.append(" ".join(tokens[:-3]))
            colours.append(tuple(int(t) for t in tokens[-3:]))
        else:
            names.append(line.strip())
            plain.append(n)
    if colours and plain:
        raise ValueError(f"{txt}, line {plain[0]}: no colour (R G B), but other lines have one")
    palette = colours or None
    return _checked_classes(names, str(txt)), palette


def _checked_classes(names, where: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise ValueError(f"{where}: expected a non-empty list of class names, got {names!r}")
    names = [str(n) for n in names]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise ValueError(f"{where}: class name(s) {doubles} appear more than once")
    if len(names) > IGNORE_INDEX:
        raise ValueError(
            f"{where}: {len(names)} classes, but labels 0..254 are all there are (255 = ignore)"
        )
    return names


def _checked_palette(palette, num_classes: int) -> np.ndarray:
    arr = np.asarray(palette)
    if arr.shape != (num_classes, 3) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"palette must hold one (R, G, B) colour per class, {num_classes} x 3 integers, "
            f"got shape {arr.shape}"
        )
    if arr.min() < 0 or arr.max() > 255:
        raise ValueError("palette colours must be in 0..255")
    if len({tuple(c) for c in arr.tolist()}) != num_classes:
        raise ValueError("palette gives two classes the same colour")
    return arr.astype(np.uint8)
