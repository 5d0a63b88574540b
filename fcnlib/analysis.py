"""How far a network sees, and what seeing that far costs.

* :func:`receptive_field`: the theoretical receptive field, from the layers' kernel sizes,
  strides and dilations (the analytic recurrence, exact for a chain of layers);
* :func:`effective_receptive_field`: which input pixels actually move one output pixel (input
  gradients, Luo et al. 2016; :func:`input_gradient` for one image, unscaled), and
  :func:`draw_receptive_field` to show it on an image;
* :func:`dilated_footprint`: which input positions stacked dilated 3x3 kernels read (gridding);
* :func:`count_flops` and :func:`activation_memory`: the cost of one forward pass, measured
  with forward hooks.

**FLOPs**, everywhere in the course (notebooks and ``benchmarks/`` alike), are those of
:func:`count_flops`: a multiply-accumulate of a convolution, transposed convolution or linear
layer counts as 2 (biases not counted; for these layers this is exactly what PyTorch's
``FlopCounterMode`` reports), plus 2 per output element of a normalisation layer (its scale
and shift, as run in eval mode). Activations, pooling and interpolation are not counted.

The recurrence for a chain of layers, each with kernel ``k``, stride ``s`` and dilation ``d``,
starting from ``r = 1`` and ``j = 1`` (``j``: distance in input pixels between neighbouring
positions of the current feature map)::

    r <- r + (k - 1) * d * j
    j <- j * s
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from ._checks import as_cpu_tensor, check_images, check_positive_int, logits_of, model_device

__all__ = [
    "LayerRF",
    "ReceptiveField",
    "receptive_field",
    "effective_receptive_field",
    "input_gradient",
    "draw_receptive_field",
    "dilated_footprint",
    "count_flops",
    "activation_memory",
    "cost_table",
]


# ----------------------------------------------------------------------------- receptive field
@dataclass
class LayerRF:
    """One step of the recurrence: the layer, and ``rf``/``jump`` after it (in input pixels)."""

    name: str
    kind: str
    kernel: int
    stride: int
    dilation: int
    rf: Fraction
    jump: Fraction


@dataclass
class ReceptiveField:
    """The theoretical receptive field: ``size x size`` input pixels; ``stride``: input pixels
    between neighbouring outputs of the last layer (below 1 after upsampling)."""

    size: int
    stride: Fraction
    layers: list[LayerRF] = field(default_factory=list)

    def table(self) -> str:
        """The recurrence layer by layer, as text."""
        rows = [f"{'layer':<28} {'kind':<16} {'k':>3} {'s':>3} {'d':>3} {'rf':>7} {'jump':>7}"]
        for lr in self.layers:
            rows.append(
                f"{lr.name:<28} {lr.kind:<16} {lr.kernel:>3} {lr.stride:>3} {lr.dilation:>3} "
                f"{str(lr.rf):>7} {str(lr.jump):>7}"
            )
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"ReceptiveField(size={self.size}, stride={self.stride}, layers={len(self.layers)})"


def _square(value, what: str, name: str) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(
                f"receptive_field handles square layers only; {name} has {what}={value}"
            )
        value = value[0]
    return int(value)


def _layer_params(name: str, m: nn.Module):
    """``(kind, kernel, stride, dilation)`` of a layer that changes the receptive field, else None."""
    if isinstance(m, nn.ConvTranspose2d):
        return ("transposed conv", _square(m.kernel_size, "kernel_size", name),
                _square(m.stride, "stride", name), _square(m.dilation, "dilation", name))  # fmt: skip
    if isinstance(m, nn.Conv2d):
        return ("conv", _square(m.kernel_size, "kernel_size", name),
                _square(m.stride, "stride", name), _square(m.dilation, "dilation", name))  # fmt: skip
    if isinstance(m, nn.MaxPool2d):
        k = _square(m.kernel_size, "kernel_size", name)
        s = _square(m.stride if m.stride is not None else m.kernel_size, "stride", name)
        return ("max pool", k, s, _square(m.dilation, "dilation", name))
    if isinstance(m, nn.AvgPool2d):
        k = _square(m.kernel_size, "kernel_size", name)
        s = _square(m.stride if m.stride is not None else m.kernel_size, "stride", name)
        return ("avg pool", k, s, 1)
    if isinstance(m, nn.Upsample):
        if m.scale_factor is None:
            raise ValueError(f"receptive_field needs a scale_factor on {name} (nn.Upsample)")
        f = _square(tuple(m.scale_factor) if isinstance(m.scale_factor, tuple) else m.scale_factor,
                    "scale_factor", name)  # fmt: skip
        return (f"upsample {m.mode}", 2 if m.mode in ("bilinear", "bicubic") else 1, f, 1)
    return None


_SIDE_BRANCHES = {"downsample", "aux_classifier"}  # ResNet shortcuts, auxiliary heads
_PARALLEL = re.compile(r"^(.*\bconvs)\.(\d+)(\.|$)")  # ASPP's parallel branches


def _main_path(model: nn.Module) -> list[tuple[str, tuple]]:
    """The layers that shape the receptive field of the main output, in order.

    Side branches that run beside the main path (ResNet's 1x1 ``downsample`` shortcuts, an
    ``aux_classifier``) are left out; of parallel branches (ASPP's ``convs``) only the widest
    is kept, since their outputs are concatenated.
    """
    mods = dict(model.named_modules())

    def parallel(name):  # the branch group and index, for the branches of an ASPP module
        match = _PARALLEL.match(name)
        if (
            not match
            or "ASPP" not in type(mods.get(match.group(1).rpartition(".")[0], None)).__name__
        ):
            return None
        return match.group(1), match.group(2)

    items = []
    for name, m in model.named_modules():
        if _SIDE_BRANCHES & set(name.split(".")):
            continue
        p = _layer_params(name, m)
        if p is not None:
            items.append((name, p))
    out, i = [], 0
    while i < len(items):
        first = parallel(items[i][0])
        if first is None:
            out.append(items[i])
            i += 1
            continue
        branches = {}
        while i < len(items) and (here := parallel(items[i][0])) and here[0] == first[0]:
            branches.setdefault(here[1], []).append(items[i])
            i += 1
        widest = max(branches.values(), key=lambda b: sum((p[1] - 1) * p[3] for _, p in b))
        out.extend(widest)
    return out


def receptive_field(model: nn.Module) -> ReceptiveField:
    """The theoretical receptive field of ``model``'s output, from the analytic recurrence.

    The layers that change it are found by walking ``model.modules()`` in the order they are
    registered: ``Conv2d`` (kernel, stride, dilation), ``MaxPool2d``/``AvgPool2d``, and the
    upsampling layers ``ConvTranspose2d`` and ``nn.Upsample`` (a stride-``f`` upsampling divides
    the jump by ``f``; each output of a transposed convolution sees ``ceil(k / f)`` inputs, of
    bilinear interpolation 2, of nearest 1). Everything else (BatchNorm, ReLU, 1x1 convs'
    biases, ...) leaves it unchanged.

    Exact for a chain of layers (``nn.Sequential`` stacks, :class:`~fcnlib.models.AllConvNet`,
    VGG's feature extractor). For a **branched** model the registered layers are still walked
    as one chain; with the course's models that is the longest path: the encoder-decoder's
    encoder and decoder in order, and for an FCN the backbone, the head and then the 2x
    upsampling layers (the ``1x1`` skip scores add nothing). Resizing done with functional
    calls in ``forward`` (such as the final ``F.interpolate``) is not seen, and neither are
    ``padding`` (which shifts, but does not widen, the field) nor any branch that would be
    wider than the main chain. Side branches (ResNet's ``downsample`` shortcuts, an
    ``aux_classifier``) are skipped and of ASPP's parallel branches the widest is counted; ASPP's
    image-pooling branch sees the whole image, which no finite size expresses, and is not
    counted. When in doubt, compare with :func:`effective_receptive_field`,
    whose non-zero support is the receptive field of any model.

    Returns a :class:`ReceptiveField` with ``size`` (pixels, rounded up), ``stride`` and the
    per-layer steps (``.table()`` prints them).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    r, j = Fraction(1), Fraction(1)
    layers = []
    for name, (kind, k, s, d) in _main_path(model):
        if kind == "transposed conv":
            extent = (k - 1) * d + 1
            taps = -(-extent // s)  # each output position sees up to ceil(extent / s) inputs
            r += (taps - 1) * j
            j /= s
        elif kind.startswith("upsample"):
            r += (k - 1) * j
            j /= s
        else:
            r += (k - 1) * d * j
            j *= s
        layers.append(LayerRF(name or type(model).__name__, kind, k, s, d, r, j))
    return ReceptiveField(size=int(-(-r // 1)), stride=j, layers=layers)


# ----------------------------------------------------------------------------- effective RF
def _input_gradients(model: nn.Module, images: torch.Tensor, row: int, col: int, target):
    """Gradient ``B x C x H x W`` (CPU) of the logits at output pixel ``(row, col)`` with respect
    to ``images``: of every class summed (``target=None``), of class ``target`` (an int), or of
    each image's predicted class (``target="predicted"``). Runs the model in eval mode and
    puts it back in its previous mode."""
    h, w = images.shape[-2:]
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"position (row={row}, col={col}) is outside the {h} x {w} image")
    x = images.detach().to(model_device(model)).float().clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = logits_of(model(x))
            if out.shape[-2:] != (h, w):
                raise ValueError(
                    f"the model's output is {tuple(out.shape)}: expected H x W = {h} x {w}"
                )
            scores = out[:, :, row, col]  # B x K
            if target == "predicted":
                scores = scores.gather(1, scores.argmax(1, keepdim=True))
            elif target is not None:
                scores = scores[:, int(target)]
            (grad,) = torch.autograd.grad(scores.sum(), x)
    finally:
        model.train(was_training)
    return grad.detach().cpu()


def effective_receptive_field(
    model: nn.Module,
    images: torch.Tensor,
    position: tuple[int, int] | None = None,
    target_class: int | None = None,
) -> torch.Tensor:
    """How strongly each input pixel influences the output at ``position``.

    ``images``: ``B x 3 x H x W``. The gradient of the output logits at ``position``
    (default: the centre; summed over classes, or ``target_class`` alone) with respect to the
    input, its absolute value summed over channels and averaged over the batch, scaled to a
    maximum of 1. Returns ``H x W`` (float, CPU). Pixels outside the theoretical receptive
    field get exactly 0; inside it the influence is usually concentrated near the centre.
    The model is run in eval mode (and put back in its previous mode).
    """
    check_images(images, "images", channels=None)
    h, w = images.shape[-2:]
    cy, cx = position if position is not None else (h // 2, w // 2)
    grad = _input_gradients(model, images, cy, cx, target_class)
    erf = grad.abs().sum(1).mean(0)
    peak = erf.max()
    return erf / peak if peak > 0 else erf


def input_gradient(
    model: nn.Module, image: torch.Tensor, row: int, col: int, target_class=None
) -> np.ndarray:
    """The effective receptive field of output pixel ``(row, col)`` of one image, unscaled.

    ``image`` is ``3 x H x W``. Returns ``|d score / d input|`` summed over the colour
    channels, ``H x W`` float (NumPy), where ``score`` is the logit of ``target_class``
    (default: the predicted class) at ``(row, col)``. The model runs in eval mode.
    """
    x = check_images(as_cpu_tensor(image, "image")[None], "image", channels=None)
    target = "predicted" if target_class is None else target_class
    return _input_gradients(model, x, row, col, target)[0].abs().sum(0).numpy()


def dilated_footprint(rate: int, layers: int = 1, size: int | None = None) -> np.ndarray:
    """How many paths lead from each input position to one output pixel through ``layers``
    stacked 3x3 convolutions of dilation ``rate``: ``size x size`` int array, centred.

    Positions with 0 are never read (the "holes" of gridding when ``rate > 1`` and layers
    share the rate). ``size`` defaults to the receptive field ``2 * rate * layers + 1``.
    """
    check_positive_int(rate, "rate")
    check_positive_int(layers, "layers")
    radius = rate * layers
    size = 2 * radius + 1 if size is None else size
    if size < 2 * radius + 1:
        raise ValueError(f"size={size} is smaller than the receptive field {2 * radius + 1}")
    c = size // 2
    counts = np.zeros((size, size), np.int64)
    counts[c, c] = 1
    for _ in range(layers):
        nxt = np.zeros_like(counts)
        for dy in (-rate, 0, rate):
            for dx in (-rate, 0, rate):
                nxt += np.roll(np.roll(counts, dy, 0), dx, 1)
        counts = nxt
    return counts


def draw_receptive_field(
    image: torch.Tensor,
    erf: torch.Tensor | None = None,
    rf: int | ReceptiveField | None = None,
    position: tuple[int, int] | None = None,
    ax=None,
    alpha: float = 0.6,
    cmap: str = "magma",
    title: str | None = None,
    colorbar: bool = False,
):
    """Draw ``image`` (``3 x H x W`` in [0, 1]) with the effective receptive field ``erf``
    (``H x W``, from :func:`effective_receptive_field`) as a heat map on top, and the
    theoretical receptive field ``rf`` (a size in pixels or a :class:`ReceptiveField`) as a
    square around ``position`` (default: the centre). ``colorbar=True`` adds a colour bar for
    the heat map (gradient magnitude, 1 at its peak). Returns the matplotlib axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    h, w = image.shape[-2:]
    cy, cx = position if position is not None else (h // 2, w // 2)
    ax.imshow(image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy())
    if erf is not None:
        if erf.shape != (h, w):
            raise ValueError(f"erf has shape {tuple(erf.shape)}, expected {(h, w)} like the image")
        ax.imshow(erf.numpy(), cmap=cmap, alpha=alpha * (erf.numpy() > 0), vmin=0, vmax=1)
        if colorbar:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            scale = ScalarMappable(Normalize(0, 1), cmap=cmap)
            ax.figure.colorbar(scale, ax=ax, fraction=0.046, pad=0.04, label="gradient (peak = 1)")
    if rf is not None:
        size = rf.size if isinstance(rf, ReceptiveField) else int(rf)
        half = size / 2
        ax.add_patch(Rectangle((cx - half, cy - half), size, size, fill=False, ec="cyan", lw=1.5))
    ax.plot([cx], [cy], "+", color="cyan", ms=8)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------- cost
_NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d, nn.BatchNorm1d)


def _input_shape(model: nn.Module, input_size) -> tuple[int, int, int, int]:
    c = getattr(model, "in_channels", 3)
    if isinstance(input_size, int):
        return (1, c, input_size, input_size)
    size = tuple(int(v) for v in input_size)
    if len(size) == 2:
        return (1, c, *size)
    if len(size) == 3:
        return (1, *size)
    if len(size) == 4:
        return size  # type: ignore[return-value]
    raise ValueError(f"input_size must be S, (H, W), (C, H, W) or (B, C, H, W), got {input_size!r}")


def _layer_flops(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """FLOPs of one call of a leaf layer (a multiply-accumulate counts as 2)."""
    if isinstance(m, nn.ConvTranspose2d):
        # every input position scatters a k x k x C_out/groups kernel per input channel
        kh, kw = m.kernel_size
        return 2 * inp.numel() * (m.out_channels // m.groups) * kh * kw
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return 2 * out.numel() * (m.in_channels // m.groups) * kh * kw
    if isinstance(m, nn.Linear):
        return 2 * out.numel() * m.in_features
    if isinstance(m, _NORMS):
        return 2 * out.numel()  # in eval mode: one scale and one shift per element
    return 0


def _run_with_hooks(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, int, int]]:
    rows: list[tuple[str, nn.Module, int, int]] = []

    def hook(name):
        def fn(m, args, out):
            inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if isinstance(out, torch.Tensor) and inp is not None:
                rows.append((name, m, _layer_flops(m, inp, out), out.numel()))

        return fn

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in model.named_modules()
        if len(list(m.children())) == 0
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return rows


def _profile(model: nn.Module, input_size) -> list[tuple[str, nn.Module, int, int]]:
    """One forward pass with hooks: ``(name, layer, flops, output elements)`` per leaf call.

    The pass runs on PyTorch's ``meta`` device (shapes only, no arithmetic, no memory), on a
    copy of the model; if some layer cannot run there, it runs on zeros on the model's device.
    """
    shape = _input_shape(model, input_size)
    try:
        p = next(model.parameters())
        dtype = p.dtype
    except StopIteration:
        dtype = torch.float32
    device = model_device(model)
    try:
        meta_model = copy.deepcopy(model).to("meta")
        return _run_with_hooks(meta_model, torch.zeros(shape, device="meta", dtype=dtype))
    except (NotImplementedError, RuntimeError):
        return _run_with_hooks(model, torch.zeros(shape, device=device, dtype=dtype))


def count_flops(model: nn.Module, input_size, by_layer: bool = False):
    """Floating-point operations of one forward pass at ``input_size``.

    ``input_size``: ``S`` (a ``1 x 3 x S x S`` image), ``(H, W)``, ``(C, H, W)`` or
    ``(B, C, H, W)``. Counted with forward hooks on every leaf layer: convolutions,
    transposed convolutions and linear layers (a multiply-accumulate counts as 2 FLOPs, biases
    are not counted) and normalisation layers (2 per element: scale and shift). Activations,
    pooling and interpolation are cheap and not counted. Returns an ``int``, or with
    ``by_layer=True`` a list of ``(layer name, FLOPs)``.
    """
    rows = _profile(model, input_size)
    if by_layer:
        return [(n, f) for n, _, f, _ in rows if f]
    return int(sum(f for _, _, f, _ in rows))


def activation_memory(model: nn.Module, input_size, bytes_per_element: int | None = None) -> int:
    """Bytes of the feature maps one forward pass at ``input_size`` produces.

    The sum of the output sizes of every leaf layer (convolutions, norms, activations,
    pooling, ...), which is roughly what training must keep for the backward pass (inference
    can free each map once the next one is computed). ``bytes_per_element`` defaults to that of
    the model's parameters (4 for float32). ``input_size`` as in :func:`count_flops`.
    """
    rows = _profile(model, input_size)
    if bytes_per_element is None:
        try:
            bytes_per_element = next(model.parameters()).element_size()
        except StopIteration:
            bytes_per_element = 4
    return int(sum(n for _, _, _, n in rows) * bytes_per_element)


def cost_table(models: dict[str, nn.Module], sizes=(64, 128, 256)) -> list[dict]:
    """For each named model and input size: parameters, GFLOPs, activation MiB, receptive field.

    Returns a list of dicts (one row per model and size), ready for printing or plotting.
    """
    rows = []
    for name, m in models.items():
        params = sum(p.numel() for p in m.parameters())
        rf = receptive_field(m).size
        for s in sizes:
            rows.append(
                {
                    "model": name,
                    "size": s,
                    "params": params,
                    "gflops": count_flops(m, s) / 1e9,
                    "activation_mib": activation_memory(m, s) / 2**20,
                    "receptive_field": rf,
                }
            )
    return rows
