"""Data sets: the built-in :class:`ShapesScenes` and loaders for real data sets.

``course_datasets(name, image_size, ...)`` is the one call notebooks use, so switching from
the built-in data to PASCAL VOC, CamVid or a folder of your own images and masks changes one
name. ``DATASETS[name]`` describes each data set (classes, palette, ignore label, how to
obtain it, licence); a folder data set's classes come with the folder (``dataset.classes``).
``fetch(name, root)`` downloads a data set into ``root`` (what ``download=True`` runs).
:mod:`fcnlib.data.clip` makes video of the built-in shapes (:func:`make_clip`) and training
scenes for one fixed camera.
"""

from .clip import CameraScenes, Clip, make_clip
from .datasets import (
    DATASETS,
    DatasetDownloadError,
    DatasetInfo,
    DatasetNotFoundError,
    FolderDataset,
    SegmentationDataset,
    SegmentationSubset,
    course_datasets,
    get_dataset,
)
from .download import fetch
from .shapes import CLASSES, IGNORE_INDEX, PALETTE, Scene, ShapesScenes
from .voc import export_voc

__all__ = [
    "CLASSES",
    "CameraScenes",
    "Clip",
    "DATASETS",
    "IGNORE_INDEX",
    "PALETTE",
    "DatasetDownloadError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FolderDataset",
    "Scene",
    "SegmentationDataset",
    "SegmentationSubset",
    "ShapesScenes",
    "course_datasets",
    "export_voc",
    "fetch",
    "get_dataset",
    "make_clip",
]
