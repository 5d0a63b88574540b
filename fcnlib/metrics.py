"""Segmentation metrics computed over a whole data set.

As in torchvision's ``references/segmentation/utils.py``: accumulate **one** confusion
matrix over every pixel of every image and compute IoU at the end. torchvision counts the
``target * K + pred`` pairs with ``torch.bincount``; here ``scatter_add_`` counts them, the
same numbers, because ``bincount`` on a GPU reads its input's extremes back to the host to
size its output, which would stall the GPU once per batch.
Averaging per-batch IoUs instead would weight small batches and rare classes wrongly.

Per-image and per-object scores, for error analysis rather than for reporting a model:
:func:`image_metrics` (one image's pixel accuracy and IoUs), :func:`mask_iou` (two binary
masks), :func:`object_scores` (recall and IoU of every object), :func:`distance_to_boundary`
(how far each pixel lies inside its region) and :func:`boundary_f1` (outline quality).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ._checks import IGNORE_INDEX, check_masks, check_positive_int

__all__ = [
    "ConfusionMatrix",
    "boundary_f1",
    "distance_to_boundary",
    "image_metrics",
    "mask_iou",
    "object_scores",
]


class ConfusionMatrix:
    """A ``K x K`` confusion matrix; rows are the true class, columns the prediction.

    ``update(pred, target)`` takes predictions ``B x H x W`` (class indices) or logits
    ``B x K x H x W`` and targets ``B x H x W``; pixels labelled ``ignore_index`` are skipped.
    A target label outside ``[0, K)`` that is not the ignore label raises ``ValueError``.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX):
        check_positive_int(num_classes, "num_classes")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        self.mat.zero_()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> ConfusionMatrix:
        k = self.num_classes
        if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
            raise TypeError("pred and target must be torch tensors")
        if pred.is_floating_point():
            if pred.dim() != target.dim() + 1 or pred.shape[-3] != k:
                raise ValueError(
                    f"logits have shape {tuple(pred.shape)}: expected B x {k} x H x W "
                    f"for targets of shape {tuple(target.shape)}"
                )
            pred = pred.argmax(dim=-3)
        self._check_target(pred, target)
        keep = target != self.ignore_index if self.ignore_index is not None else slice(None)
        kept = pred[keep]
        if kept.numel() and (kept.min() < 0 or kept.max() >= k):
            raise ValueError(f"pred contains class indices outside [0, {k - 1}]")
        self._count(pred, target.to(pred.device))
        return self

    @torch.no_grad()
    def add_predictions(self, pred: torch.Tensor, target: torch.Tensor) -> ConfusionMatrix:
        """Count ``pred`` (class indices from ``argmax``, so in ``[0, K)``) against ``target``.

        The fast path of :func:`fcnlib.engine.evaluate`: ``target`` is checked where it is
        (on the host, as a DataLoader gives it), then moved to ``pred``'s device, where the
        counting happens with no host synchronisation, so a GPU is not stalled per batch.
        ``pred`` itself is not checked. :meth:`compute` reads the matrix back.
        """
        self._check_target(pred, target)
        self._count(pred, target.to(pred.device, non_blocking=True))
        return self

    def _check_target(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError(
                f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}"
            )
        check_masks(target, self.num_classes, self.ignore_index, "target")

    def _count(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add the pixel counts on ``pred``'s device; ignored pixels go to a dropped bin."""
        k = self.num_classes
        pred, target = pred.flatten().to(torch.int64), target.flatten().to(torch.int64)
        index = target * k + pred
        if self.ignore_index is not None:
            index = torch.where(target == self.ignore_index, k * k, index)
        counts = torch.zeros(k * k + 1, dtype=torch.int64, device=index.device)
        counts.scatter_add_(0, index, torch.ones_like(index))
        self.mat = self.mat.to(index.device) + counts[: k * k].reshape(k, k)

    def compute(self) -> dict:
        """Metrics from the accumulated matrix.

        Returns a dict with ``pixel_accuracy``, ``mean_accuracy`` (mean per-class recall),
        ``iou`` (per-class tensor, ``nan`` for a class that never occurs nor is predicted),
        ``miou`` (mean over classes with a defined IoU), ``fw_iou`` (IoU weighted by
        class frequency) and ``confusion`` (the matrix itself).
        """
        self.mat = self.mat.cpu()
        m = self.mat.double()
        tp = m.diag()
        gt = m.sum(1)  # true pixels per class
        pr = m.sum(0)  # predicted pixels per class
        total = m.sum()
        union = gt + pr - tp
        iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
        acc_c = torch.where(gt > 0, tp / gt.clamp(min=1), torch.full_like(tp, float("nan")))
        nan = float("nan")
        freq = gt / total if total > 0 else gt
        valid = ~torch.isnan(iou)
        return {
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else nan,
            "mean_accuracy": float(acc_c[~torch.isnan(acc_c)].mean()) if (gt > 0).any() else nan,
            "iou": iou.float(),
            "miou": float(iou[valid].mean()) if valid.any() else nan,
            "fw_iou": float((freq[valid] * iou[valid]).sum()) if total > 0 else nan,
            "confusion": self.mat.clone(),
        }

    def __repr__(self) -> str:
        r = self.compute()
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, pixel_accuracy={r['pixel_accuracy']:.4f}, "
            f"miou={r['miou']:.4f})"
        )


def _boundary(mask: torch.Tensor) -> torch.Tensor:
    """Pixels whose 4-neighbourhood holds another label: ``B x H x W`` bool."""
    m = mask
    b = torch.zeros_like(m, dtype=torch.bool)
    b[..., 1:, :] |= m[..., 1:, :] != m[..., :-1, :]
    b[..., :-1, :] |= m[..., 1:, :] != m[..., :-1, :]
    b[..., :, 1:] |= m[..., :, 1:] != m[..., :, :-1]
    b[..., :, :-1] |= m[..., :, 1:] != m[..., :, :-1]
    return b


def _dilate(b: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return b
    k = 2 * radius + 1
    return F.max_pool2d(b[:, None].float(), k, stride=1, padding=radius)[:, 0] > 0


def boundary_f1(
    pred: torch.Tensor,
    target: torch.Tensor,
    tolerance: int = 2,
    ignore_index: int | None = IGNORE_INDEX,
) -> float:
    """Boundary F-score: how well predicted outlines match the true ones, within ``tolerance`` px.

    ``pred`` and ``target`` are ``B x H x W`` label maps (or ``pred`` logits ``B x K x H x W``).
    A predicted boundary pixel is a hit when a true boundary pixel lies within ``tolerance``
    (Chebyshev distance) and vice versa; the score is the harmonic mean of the two ratios,
    pooled over the whole batch. Boundaries next to ignored pixels are not counted.
    """
    if pred.is_floating_point():
        pred = pred.argmax(dim=-3)
    if pred.dim() == 2:
        pred, target = pred[None], target[None]
    if pred.shape != target.shape:
        raise ValueError(
            f"pred has shape {tuple(pred.shape)} but target has shape {tuple(target.shape)}"
        )
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    valid = torch.ones_like(target, dtype=torch.bool)
    if ignore_index is not None:
        ign = target == ignore_index
        valid = ~_dilate(ign, 1)
        target = torch.where(ign, pred, target)  # no true outline along the ignore band
    bp = _boundary(pred) & valid
    bt = _boundary(target) & valid
    n_p, n_t = int(bp.sum()), int(bt.sum())
    if n_p == 0 and n_t == 0:
        return 1.0
    if n_p == 0 or n_t == 0:
        return 0.0
    precision = float((bp & _dilate(bt, tolerance)).sum()) / n_p
    recall = float((bt & _dilate(bp, tolerance)).sum()) / n_t
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


# ----------------------------------------------------------------------------- per image and per object
def _label_maps(pred, target, name="pred") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("pred and target must be torch tensors of class indices")
    if pred.is_floating_point():
        raise TypeError(f"{name} must hold class indices (use logits.argmax(1)), got {pred.dtype}")
    if pred.dim() == 2:
        pred, target = pred[None], target[None]
    if pred.shape != target.shape or pred.dim() != 3:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be H x W or B x H x W"
        )
    return pred.cpu(), target.cpu()


def object_scores(
    pred, target, ignore_index: int = IGNORE_INDEX, background: int = 0
) -> list[dict]:
    """Scores of every object in ``target``: how much of it was found, and how cleanly.

    ``pred`` and ``target``: label maps ``B x H x W`` (or ``H x W``). An *object* is a connected
    region (8-neighbourhood) of one class other than ``background`` in ``target`` (two touching
    objects of the same class count as one). For each object ``G`` of class ``c``:

    * ``recall``: the share of its pixels predicted as ``c``;
    * ``iou``: ``|G & P| / |G | P|`` where ``P`` is the union of the connected regions of
      ``pred == c`` that overlap ``G`` (so a prediction that leaks out of the object, or merges
      it with another, costs IoU); pixels labelled ``ignore_index`` count in neither.

    Returns one dict per object: ``image`` (index in the batch), ``label``, ``area`` (pixels),
    ``size`` (``sqrt(area)``, in pixels), ``recall``, ``iou``.
    """
    pred, target = _label_maps(pred, target)
    rows = []
    for b in range(target.shape[0]):
        t = target[b].numpy()
        p = pred[b].numpy()
        valid = t != ignore_index
        for c in np.unique(t[valid]):
            if c == background:
                continue
            n_g, g_lab = cv2.connectedComponents((t == c).astype(np.uint8), connectivity=8)
            pc = (p == c) & valid
            _, p_lab = cv2.connectedComponents(pc.astype(np.uint8), connectivity=8)
            for g in range(1, n_g):
                obj = g_lab == g
                hit = obj & pc
                touched = np.unique(p_lab[hit])
                region = np.isin(p_lab, touched[touched > 0])
                area = int(obj.sum())
                inter = int((obj & region).sum())
                union = int((obj | region).sum())
                rows.append(
                    {
                        "image": b,
                        "label": int(c),
                        "area": area,
                        "size": float(np.sqrt(area)),
                        "recall": float(hit.sum()) / area,
                        "iou": inter / union,
                    }
                )
    return rows


def distance_to_boundary(mask, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """For every pixel, its distance (in pixels, chessboard metric) to the nearest pixel of
    another label: 1 on an object's outline, growing towards its interior.

    ``mask``: ``H x W`` or ``B x H x W`` labels; returns a long tensor of the same shape
    (0 at ``ignore_index`` pixels). The image border does not count as a boundary.
    """
    if not isinstance(mask, torch.Tensor) or mask.is_floating_point():
        raise TypeError("mask must be a tensor of integer labels, H x W or B x H x W")
    squeeze = mask.dim() == 2
    m = mask[None] if squeeze else mask
    out = np.zeros(m.shape, np.int64)
    for b, t in enumerate(m.cpu().numpy()):
        for c in np.unique(t):
            if c == ignore_index:
                continue
            inside = (t == c).astype(np.uint8)
            # pad with the same label so that the image border is not a boundary
            padded = cv2.copyMakeBorder(inside, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
            d = cv2.distanceTransform(padded, cv2.DIST_C, 3)[1:-1, 1:-1]
            out[b][t == c] = np.rint(d[t == c]).astype(np.int64)
    out = torch.from_numpy(out)
    return out[0] if squeeze else out


def image_metrics(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index=IGNORE_INDEX
):
    """Pixel accuracy and per-class IoU of one image (``H x W`` label maps).

    Returns ``{"pixel_accuracy": float, "iou": {class: float}}`` with an IoU for every class
    that occurs in the target or the prediction (ignored pixels excluded).
    """
    valid = (
        target != ignore_index
        if ignore_index is not None
        else torch.ones_like(target, dtype=torch.bool)
    )
    p, t = pred[valid], target[valid]
    acc = float((p == t).float().mean()) if t.numel() else float("nan")
    iou = {}
    for c in range(num_classes):
        inter = int(((p == c) & (t == c)).sum())
        union = int(((p == c) | (t == c)).sum())
        if union:
            iou[c] = inter / union
    return {"pixel_accuracy": acc, "iou": iou}


def mask_iou(pred, target) -> float:
    """IoU of two boolean masks (any shape); 1.0 when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(target, bool)
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0
