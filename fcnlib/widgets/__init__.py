"""Interactive explorers for notebooks, built from core ipywidgets only.

They work with ipywidgets 7.7 (Colab) and 8.x (JupyterLab 4): each explorer is a
``widgets.VBox`` of sliders, toggle buttons and checkboxes around one ``widgets.Image``,
whose PNG is redrawn (with NumPy and PIL, no pyplot state) whenever a control changes.
Nothing needs a browser: a test sets ``explorer.image_slider.value = 3`` and reads
``explorer.current_image()``, the ``H x W x 3`` uint8 picture that was drawn.

* :class:`MaskExplorer` -- images, true masks, predictions, errors and confidence, per-class
  visibility and per-image metrics.
* :class:`ReceptiveFieldExplorer` -- pick a pixel, see the theoretical receptive field (from
  :func:`fcnlib.analysis.receptive_field`, where it applies) and the effective one (the
  gradient of that pixel's score with respect to the input).
* :class:`DilationPlayground` -- which input positions a stack of dilated 3x3 kernels reads
  (gridding), and the ASPP branches together.
* :class:`PredictionExplorer` -- a model's prediction with multi-scale and flip test-time
  augmentation chosen by checkboxes.

What they compute lives elsewhere: per-image scores in :mod:`fcnlib.metrics`
(``image_metrics``), input gradients and dilated footprints in :mod:`fcnlib.analysis`
(``input_gradient``, ``dilated_footprint``).
"""

from ._base import MARK_COLOUR, VIEWS, to_png
from .fields import ASPP_COLOURS, DilationPlayground, ReceptiveFieldExplorer
from .masks import MaskExplorer
from .predictions import PredictionExplorer

__all__ = [
    "ASPP_COLOURS",
    "MARK_COLOUR",
    "VIEWS",
    "DilationPlayground",
    "MaskExplorer",
    "PredictionExplorer",
    "ReceptiveFieldExplorer",
    "to_png",
]
