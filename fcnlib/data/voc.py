"""Write any segmentation data set in PASCAL VOC's folder layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._checks import IGNORE_COLOUR, IGNORE_INDEX


def _palette_bytes(palette) -> list[int]:
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(palette)] = np.asarray(palette, np.uint8)
    pal[IGNORE_INDEX] = IGNORE_COLOUR
    return pal.flatten().tolist()


def export_voc(dataset, root, split: str | None = None, quality: int = 95) -> Path:
    """Write ``dataset`` to ``root/VOCdevkit/VOC2012`` in PASCAL VOC's layout.

    * ``JPEGImages/<id>.jpg`` — the images,
    * ``SegmentationClass/<id>.png`` — palette ("P" mode) PNGs whose pixel values are the labels,
    * ``ImageSets/Segmentation/<split>.txt`` — one id per line.

    ``dataset`` yields ``(image 3 x H x W float in [0, 1], mask H x W long)`` and has a
    ``palette``; ``split`` defaults to ``dataset.split``. Other splits already in the folder
    are kept. Returns the ``VOC2012`` folder; ``torchvision.datasets.VOCSegmentation(root,
    image_set=split)`` reads it back.
    """
    split = split or getattr(dataset, "split", "train")
    base = Path(root) / "VOCdevkit" / "VOC2012"
    jpeg, seg, sets = (
        base / "JPEGImages",
        base / "SegmentationClass",
        base / "ImageSets" / "Segmentation",
    )
    for d in (jpeg, seg, sets):
        d.mkdir(parents=True, exist_ok=True)
    palette = _palette_bytes(dataset.palette)
    ids = []
    for i in range(len(dataset)):
        image, mask = dataset[i]
        if isinstance(image, torch.Tensor):
            image = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        name = f"{split}_{i:06d}"
        Image.fromarray(image).save(jpeg / f"{name}.jpg", quality=quality)
        m = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
        m.putpalette(palette)
        m.save(seg / f"{name}.png")
        ids.append(name)
    (sets / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return base
