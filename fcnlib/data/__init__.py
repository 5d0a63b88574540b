"""Data sets: the built-in :class:`ShapesScenes` and loaders for real data sets."""

from .shapes import CLASSES, IGNORE_INDEX, PALETTE, Scene, ShapesScenes
from .voc import export_voc

__all__ = ["CLASSES", "IGNORE_INDEX", "PALETTE", "Scene", "ShapesScenes", "export_voc"]
