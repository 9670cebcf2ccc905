"""Binary-mask metrics: region similarity J, DAVIS contour accuracy F, pixel accuracy, confusion counts.

All functions take batches of masks of shape (N, H, W) (a single (H, W) mask is read as N = 1) and return
one value per image. Any nonzero value is foreground, in the prediction and in the ground truth alike.

The definitions follow the DAVIS benchmark (Perazzi et al., CVPR 2016, "A Benchmark Dataset and
Evaluation Methodology for Video Object Segmentation"; Pont-Tuset et al., arXiv:1704.00675, 2017) as the
public ``davis2017-evaluation`` code computes them (``db_eval_iou``, ``db_eval_boundary``, ``_seg2bmap``);
the code here is our own re-implementation, vectorised over the batch and tested against brute force.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from spelke._checks import check_same_shape
from spelke.errors import ShapeError

__all__ = [
    "BinaryConfusion",
    "binary_confusion",
    "boundary_f",
    "boundary_map",
    "boundary_radius",
    "jaccard",
    "pixel_accuracy",
]


def as_binary_batch(x: object, name: str = "mask") -> np.ndarray:
    """Return ``x != 0`` as a bool array of shape (N, H, W); (H, W) is read as N = 1."""
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ShapeError(f"{name} must be binary masks of shape (N, H, W) or (H, W), got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ShapeError(f"{name} must be a numeric or bool array, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ShapeError(f"{name} holds NaN or infinite values; binarise soft masks before scoring")
    return a != 0


def _pair(pred: object, true: object, void: object | None = None) -> tuple[np.ndarray, ...]:
    p = as_binary_batch(pred, "pred")
    t = as_binary_batch(true, "true")
    check_same_shape(p, t)
    if void is None:
        return p, t, None
    v = as_binary_batch(void, "void")
    check_same_shape(v, t, ("void", "true"))
    return p, t, v


class BinaryConfusion(NamedTuple):
    """Per-image pixel counts, each of shape (N,) int64."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray


def binary_confusion(pred: object, true: object, void: object | None = None) -> BinaryConfusion:
    """Per-image true/false positive/negative pixel counts.

    Args:
        pred: predicted masks (N, H, W) or (H, W); nonzero = foreground.
        true: ground-truth masks of the same shape; nonzero = foreground.
        void: optional masks of the same shape; nonzero pixels are left out of every count.

    Returns:
        :class:`BinaryConfusion` of (N,) int64 arrays.
    """
    p, t, v = _pair(pred, true, void)
    keep = np.ones_like(t) if v is None else ~v
    tp = np.count_nonzero(p & t & keep, axis=(1, 2))
    fp = np.count_nonzero(p & ~t & keep, axis=(1, 2))
    fn = np.count_nonzero(~p & t & keep, axis=(1, 2))
    tn = np.count_nonzero(~p & ~t & keep, axis=(1, 2))
    return BinaryConfusion(*(x.astype(np.int64) for x in (tp, fp, fn, tn)))


def jaccard(pred: object, true: object, void: object | None = None) -> np.ndarray:
    """Region similarity J: intersection over union of binary masks, one value per image.

    DAVIS ``J`` (Perazzi et al. 2016, eq. 1). Where prediction and ground truth are both empty (union 0)
    J is 1.0, as in davis2017-evaluation's ``db_eval_iou`` (an empty prediction of an absent object is
    correct). Saliency benchmarks use 0.0 there instead (:class:`spelke.eval.saliency.SaliencyAccumulator`).

    Args:
        pred: predicted masks (N, H, W) or (H, W); nonzero = foreground.
        true: ground-truth masks of the same shape; nonzero = foreground.
        void: optional masks of the same shape whose nonzero pixels are ignored (DAVIS ``void_pixels``).

    Returns:
        (N,) float64 in [0, 1].

    Examples:
        >>> a = np.zeros((1, 4, 4), bool); a[0, :2] = True
        >>> b = np.zeros((1, 4, 4), bool); b[0, :1] = True
        >>> jaccard(a, b).tolist()
        [0.5]
        >>> jaccard(np.zeros((1, 2, 2)), np.zeros((1, 2, 2))).tolist()
        [1.0]
    """
    c = binary_confusion(pred, true, void)
    inter = c.tp
    union = c.tp + c.fp + c.fn
    out = np.ones(inter.shape, dtype=np.float64)
    nz = union > 0
    out[nz] = inter[nz] / union[nz]
    return out


def pixel_accuracy(pred: object, true: object, void: object | None = None) -> np.ndarray:
    """Fraction of (non-void) pixels whose foreground/background label is right, one value per image.

    An image whose pixels are all void scores NaN.
    """
    c = binary_confusion(pred, true, void)
    total = c.tp + c.fp + c.fn + c.tn
    out = np.full(total.shape, np.nan)
    nz = total > 0
    out[nz] = (c.tp + c.tn)[nz] / total[nz]
    return out


def boundary_map(mask: object) -> np.ndarray:
    """One-pixel-wide boundary maps of binary masks, as DAVIS ``seg2bmap`` (D. Martin, BSDS 2003).

    A pixel is a boundary pixel when its foreground/background value differs from that of its right,
    bottom or bottom-right neighbour; neighbours outside the image are not compared (so the image
    border is never a boundary by itself, and the bottom-right pixel never is). The boundary therefore
    sits half a pixel towards the origin from the true contour, on whichever side is further up/left.

    Args:
        mask: (N, H, W) or (H, W); nonzero = foreground.

    Returns:
        bool array of shape (N, H, W).
    """
    m = as_binary_batch(mask, "mask")
    b = np.zeros_like(m)
    # right neighbour (all rows), bottom neighbour (all columns), bottom-right (interior)
    b[:, :, :-1] |= m[:, :, :-1] ^ m[:, :, 1:]
    b[:, :-1, :] |= m[:, :-1, :] ^ m[:, 1:, :]
    b[:, :-1, :-1] |= m[:, :-1, :-1] ^ m[:, 1:, 1:]
    return b


def boundary_radius(shape: tuple[int, int], bound_th: float = 0.008) -> float:
    """Matching tolerance in pixels: ``ceil(bound_th * diagonal)`` if ``bound_th < 1`` else ``bound_th``.

    DAVIS default 0.008 of the image diagonal (8 px at 480x854). Same formula as ``db_eval_boundary``.
    """
    if bound_th < 0:
        raise ShapeError(f"bound_th must be non-negative, got {bound_th}")
    if bound_th >= 1:
        return float(bound_th)
    return float(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


def _disk(radius: float) -> np.ndarray:
    """Disk structuring element: integer offsets (dy, dx) with dy^2 + dx^2 <= radius^2."""
    r = math.floor(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy * yy + xx * xx <= radius * radius).astype(np.uint8)


def dilate_disk(maps: np.ndarray, radius: float) -> np.ndarray:
    """Dilate each (H, W) bool map of an (N, H, W) batch by a disk of ``radius`` (outside = background)."""
    kernel = _disk(radius)
    out = np.empty(maps.shape, dtype=bool)
    # cv2 dilates one image per call; its default border never adds foreground.
    for i in range(maps.shape[0]):
        out[i] = cv2.dilate(maps[i].astype(np.uint8), kernel) > 0
    return out


def _f_from_counts(
    n_pred: np.ndarray, n_true: np.ndarray, pred_hit: np.ndarray, true_hit: np.ndarray
) -> np.ndarray:
    """Boundary F from boundary pixel counts with davis2017-evaluation's conventions for empty boundaries.

    No predicted boundary, some true boundary: P = 1, R = 0. Some predicted, no true: P = 0, R = 1.
    Neither: P = R = 1. Otherwise P = pred_hit / n_pred, R = true_hit / n_true. F = 2PR/(P+R), 0 if P+R=0.
    Inputs broadcast against each other.
    """
    n_pred, n_true, pred_hit, true_hit = np.broadcast_arrays(n_pred, n_true, pred_hit, true_hit)
    precision = np.where(n_pred > 0, pred_hit / np.maximum(n_pred, 1), 1.0)
    recall = np.where(n_true > 0, true_hit / np.maximum(n_true, 1), 1.0)
    precision = np.where((n_pred > 0) & (n_true == 0), 0.0, precision)
    recall = np.where((n_pred == 0) & (n_true > 0), 0.0, recall)
    s = precision + recall
    return np.where(s > 0, 2 * precision * recall / np.where(s > 0, s, 1.0), 0.0)


def boundary_f(pred: object, true: object, bound_th: float = 0.008, void: object | None = None) -> np.ndarray:
    """DAVIS contour accuracy F, one value per image (Perazzi et al. 2016, Sec. 3.1).

    Both masks are reduced to one-pixel boundaries (:func:`boundary_map`). A predicted boundary pixel is
    matched when a true boundary pixel lies within Euclidean distance ``r`` (a disk dilation of the other
    boundary, integer offsets with dy^2 + dx^2 <= r^2); ``r = boundary_radius((H, W), bound_th)``.
    Precision = matched predicted / predicted boundary pixels, recall = matched true / true boundary
    pixels, F = 2PR / (P + R). Conventions for empty boundaries, as davis2017-evaluation ``f_measure``:
    both empty -> F = 1; exactly one empty -> F = 0. Matching is not one-to-one (as DAVIS; BSDS uses a
    bipartite assignment instead).

    Args:
        pred: predicted masks (N, H, W) or (H, W); nonzero = foreground.
        true: ground-truth masks of the same shape.
        bound_th: tolerance as a fraction of the image diagonal if < 1, else in pixels.
        void: optional masks; void pixels are set to background in both masks before taking boundaries
            (as DAVIS).

    Returns:
        (N,) float64 in [0, 1].
    """
    p, t, v = _pair(pred, true, void)
    if v is not None:
        p, t = p & ~v, t & ~v
    radius = boundary_radius(p.shape[1:], bound_th)
    bp, bt = boundary_map(p), boundary_map(t)
    dp, dt = dilate_disk(bp, radius), dilate_disk(bt, radius)
    n_pred = np.count_nonzero(bp, axis=(1, 2))
    n_true = np.count_nonzero(bt, axis=(1, 2))
    pred_hit = np.count_nonzero(bp & dt, axis=(1, 2))
    true_hit = np.count_nonzero(bt & dp, axis=(1, 2))
    return _f_from_counts(n_pred, n_true, pred_hit, true_hit).astype(np.float64)
