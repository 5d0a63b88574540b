"""Input checks and conversions shared by every fcnlib module.

Each check raises a ``ValueError``/``TypeError`` that names the argument and says what was
expected, so a learner sees the mistake in their own call rather than a stack trace from
deep inside PyTorch.

The image conversions live here too, one per target layout:

* :func:`image_to_tensor`: PIL image or ``H x W x 3`` array -> ``3 x H x W`` float in [0, 1];
* :func:`to_numpy_image`: ``3 x H x W`` tensor or ``H x W x 3`` array -> ``H x W x 3`` float;
* :func:`to_uint8_frame`: a video frame -> ``H x W x 3`` uint8 RGB;
* :func:`as_cpu_tensor`: a tensor, an array or a list of them -> one CPU tensor.

So do the ignore label (:data:`IGNORE_INDEX`, 255 as in PASCAL VOC) and the colour it is
drawn in (:data:`IGNORE_COLOUR`), :func:`model_device`, and :func:`logits_of`, the one place
that unwraps a model's output (a tensor, or torchvision's ``{"out": ...}`` dict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

IGNORE_INDEX = 255  # the label of pixels that are not scored (VOC's object outlines, padding)
IGNORE_COLOUR = np.array([224, 224, 192], np.uint8)  # PASCAL VOC's colour for it


def check_positive_int(value, name: str, detail: str = "") -> int:
    """Return ``value`` if it is an ``int`` >= 1, else raise a ``ValueError`` naming ``name``.

    ``bool`` is refused (``True`` is not a count). ``detail`` is added to the message after
    "a positive integer" (``" (number of scenes)"``, ``" or None"``).
    """
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer{detail}, got {value!r}")
    return value


def check_positive_number(value, name: str, detail: str = "") -> float:
    """Return ``value`` if it is a real number > 0 (``bool`` refused), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number{detail}, got {value!r}")
    return value


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise a ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def check_size(value, name: str) -> tuple[int, int]:
    """An ``int`` or a pair ``(h, w)`` of positive ints -> ``(h, w)``; else a ``ValueError``."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair
    ):
        raise ValueError(
            f"{name} must be a positive integer or a pair (h, w) of them, got {value!r}"
        )
    return pair


def check_images(x, name: str = "images", channels: int | None = 3) -> torch.Tensor:
    """Check a batch of images: a floating-point tensor ``B x C x H x W``.

    Returns the tensor unchanged. ``channels=None`` accepts any channel count.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape B x 3 x H x W, got {type(x).__name__}"
        )
    if x.dim() == 3:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)}: expected a batch B x 3 x H x W. "
            f"For a single image use {name}.unsqueeze(0)."
        )
    if x.dim() != 4:
        raise ValueError(f"{name} has shape {tuple(x.shape)}: expected 4 dimensions B x 3 x H x W")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} has dtype {x.dtype}: expected a floating-point tensor "
            f"(for uint8 images use {name}.float() / 255)"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} has {x.shape[1]} channels (shape {tuple(x.shape)}): expected {channels}. "
            "Images are B x C x H x W, channels first."
        )
    return x


def check_masks(
    mask, num_classes: int, ignore_index: int | None = IGNORE_INDEX, name: str = "target"
):
    """Check integer label masks: values in ``[0, num_classes)`` or ``ignore_index``.

    Raises a ``ValueError`` naming the first offending value.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of integer labels, got {type(mask).__name__}"
        )
    if mask.is_floating_point() or mask.is_complex() or mask.dtype == torch.bool:
        raise TypeError(f"{name} has dtype {mask.dtype}: expected integer class labels")
    valid = (mask >= 0) & (mask < num_classes)
    if ignore_index is not None:
        valid |= mask == ignore_index
    if not bool(valid.all()):
        bad = sorted({int(v) for v in mask[~valid].unique()[:5].tolist()})
        extra = f" or the ignore label {ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{name} contains label value(s) {bad}, outside the {num_classes} classes "
            f"[0, {num_classes - 1}]{extra}"
        )
    return mask


def class_ids(names, classes, num_classes, arg: str) -> list[int]:
    """Class names or indices -> sorted unique indices; unknown names list the valid ones.

    ``classes`` (the names, or None) resolves names; ``num_classes`` (or None) bounds indices.
    """
    if isinstance(names, (str, int, np.integer)):
        names = [names]
    ids = []
    for c in names:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if num_classes is not None and not 0 <= c < num_classes:
                raise ValueError(f"{arg}: class index {c} is outside [0, {num_classes - 1}]")
            ids.append(int(c))
        elif isinstance(c, str):
            if classes is None:
                raise ValueError(
                    f"{arg}: class name {c!r} given but no class list is known: pass classes=[...]"
                )
            if c not in classes:
                raise ValueError(
                    f"{arg}: unknown class {c!r}; valid names are {', '.join(map(str, classes))}"
                )
            ids.append(list(classes).index(c))
        else:
            raise TypeError(f"{arg} must hold class names or indices, got {c!r}")
    return sorted(set(ids))


# ----------------------------------------------------------------------------- models
def unwrap_parallel(model: nn.Module) -> nn.Module:
    """The model inside a ``DataParallel``/``DistributedDataParallel`` wrapper (or itself)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def logits_of(output, num_classes: int | None = None) -> torch.Tensor:
    """The logits ``B x K x H x W`` in a segmentation model's output.

    fcnlib's and segmentation_models_pytorch's models return the tensor itself,
    torchvision's a dict whose ``"out"`` entry it is. With ``num_classes``, ``K`` must equal
    it: a model built for another class count is named here, not in the loss.
    """
    if isinstance(output, Mapping):
        if "out" not in output:
            raise TypeError(
                f"the model returned a dict with keys {sorted(output)}: expected the logits "
                "under 'out' (as torchvision's segmentation models return them)"
            )
        output = output["out"]
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"the model returned {type(output).__name__}: expected logits B x K x H x W "
            "(a tensor, or a dict holding it under 'out')"
        )
    if output.dim() != 4:
        raise ValueError(
            f"the model returned shape {tuple(output.shape)}: expected logits B x K x H x W"
        )
    if num_classes is not None and output.shape[1] != num_classes:
        raise ValueError(
            f"the model predicts {output.shape[1]} classes (its logits are "
            f"{tuple(output.shape)}) but the data has {num_classes} classes; build the model "
            f"with {num_classes} outputs"
        )
    return output


# ----------------------------------------------------------------------------- images
def _pil_to_array(image):
    """A PIL image as an ``H x W x 3`` uint8 array (its mode converted to RGB), else ``image``."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return image
    return np.array(image.convert("RGB")) if isinstance(image, Image.Image) else image


def image_to_tensor(image) -> torch.Tensor:
    """A PIL image or ``H x W x 3`` uint8 array -> float tensor ``3 x H x W`` in [0, 1].

    Conversions are deliberate: greyscale ("L") is repeated into three channels, a palette
    image ("P") is looked up in its palette, and an alpha channel ("RGBA", "LA") is dropped.
    Tensors pass through unchanged.
    """
    if isinstance(image, torch.Tensor):
        return image
    image = _pil_to_array(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, -1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"image array has shape {image.shape}: expected H x W x 3 (RGB)")
        image = image[..., :3]
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
        return t.float() / 255 if t.dtype == torch.uint8 else t.float()
    raise TypeError(
        f"cannot read an image from {type(image).__name__}: pass a tensor, a PIL image or an array"
    )


def _channels_last(image, channels: Sequence[int], hwc_wins: bool) -> np.ndarray:
    """A tensor ``C x H x W`` (C in ``channels``) or anything ``H x W x C`` as NumPy ``H x W x C``.

    A tensor whose first and last sizes both look like channels is read as ``H x W x C`` when
    ``hwc_wins``, else as ``C x H x W``.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        chw = image.dim() == 3 and image.shape[0] in channels
        if chw and not (hwc_wins and image.shape[-1] in channels):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    return np.asarray(image)


def to_numpy_image(image) -> np.ndarray:
    """``3 x H x W`` tensor or ``H x W x 3`` array (float in [0, 1] or uint8) -> ``H x W x 3`` float."""
    image = _channels_last(image, (1, 3), hwc_wins=False)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"image has shape {image.shape}: expected 3 x H x W or H x W x 3")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, -1)
    return np.clip(image, 0, 1)


def to_uint8_frame(frame, index: int = 0) -> np.ndarray:
    """One video frame as ``H x W x 3`` uint8 RGB (from uint8/float arrays or a ``3 x H x W``
    tensor); float values must lie in [0, 1]. ``index`` names the frame in errors."""
    f = _channels_last(frame, (3,), hwc_wins=True)
    if f.ndim != 3 or f.shape[-1] != 3:
        raise ValueError(
            f"frame {index} has shape {f.shape}: expected H x W x 3 (RGB, uint8 or float in [0, 1])"
        )
    if f.dtype == np.uint8:
        return f
    if np.issubdtype(f.dtype, np.floating):
        if f.size and (np.nanmin(f) < 0 or np.nanmax(f) > 1):
            raise ValueError(f"frame {index} is float with values outside [0, 1]")
        return (f * 255).round().astype(np.uint8)
    raise TypeError(f"frame {index} has dtype {f.dtype}: expected uint8 or float in [0, 1]")


def to_tv_image(image):
    """A PIL image, ``H x W x 3`` array or ``3 x H x W`` tensor (uint8 in [0, 255] or float in
    [0, 1]) -> ``torchvision.tv_tensors.Image`` float32 ``3 x H x W`` in [0, 1], for the
    joint transforms."""
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    image = _pil_to_array(image)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image array has shape {image.shape}: expected H x W x 3")
        image = torch.from_numpy(np.ascontiguousarray(image).transpose(2, 0, 1))
    elif not isinstance(image, torch.Tensor):
        raise TypeError(
            f"image must be a PIL image, numpy array or tensor, got {type(image).__name__}"
        )
    image = v2.ToImage()(image)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"image has shape {tuple(image.shape)}: expected 3 x H x W (RGB, channels first)"
        )
    return F.to_dtype(image, torch.float32, scale=True)


def as_cpu_tensor(x, name: str) -> torch.Tensor:
    """A tensor, a NumPy array or a non-empty list of them (stacked) as a CPU tensor."""
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError(f"{name} is empty")
        x = torch.stack([torch.as_tensor(v) for v in x])
    elif isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a tensor, an array or a list of them, got {type(x).__name__}"
        )
    return x.detach().cpu()


def declared_classes(model: nn.Module) -> int | None:
    """The class count a model declares (fcnlib's models do); ``None`` for one that does not
    (torchvision's, segmentation_models_pytorch's, a wrapped one): its logits tell then."""
    return getattr(unwrap_parallel(model), "num_classes", None)


def dataset_of(data):
    """The data set behind ``data`` (a DataLoader's, or ``data`` itself)."""
    return data.dataset if isinstance(data, torch.utils.data.DataLoader) else data


def check_data(data, name: str, model: nn.Module) -> int | None:
    """Refuse an empty data set, and a model that declares another class count than the
    data; returns the data's class count (``None`` when it does not say)."""
    ds = dataset_of(data)
    k_data = getattr(ds, "num_classes", None) or (
        len(ds.classes) if hasattr(ds, "classes") else None
    )
    try:
        n = len(ds)
    except TypeError:
        return k_data
    if n == 0:
        raise ValueError(f"{name} is empty: it holds no images")
    k_model = declared_classes(model)
    if k_data is not None and k_model is not None and k_data != k_model:
        raise ValueError(
            f"the model predicts {k_model} classes but {name} has {k_data} classes; "
            f"build the model with num_classes={k_data}"
        )
    return k_data
