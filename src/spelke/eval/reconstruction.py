"""Reconstruction error and object counting, ClevrTex conventions (clevrtex.md §3.3, §9)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from spelke._checks import as_label_batch, check_same_shape, check_shape
from spelke.errors import ShapeError

__all__ = ["count_segments", "object_count_accuracy", "reconstruction_mse"]


def reconstruction_mse(pred_images: ArrayLike, true_images: ArrayLike) -> np.ndarray:
    """Per-image SUM of squared errors over C×H×W of images in [0, 1] (ClevrTex "MSE").

    The thesis reports MSE without a normalisation (clevrtex.md §3.3); the official evaluator sums the
    squared error over channels and pixels of each [0, 1] image and averages over images (§9), which is
    what gives the reported magnitudes (tens to about a thousand at 3×128×128). Average the returned
    values over images to get the table number. Divide by ``C*H*W`` for a per-pixel mean.

    Args:
        pred_images: (N, 3, H, W) or (3, H, W) reconstructions, float in [0, 1].
        true_images: the input images, same shape and range.

    Returns:
        (N,) float64 sums of squared errors.

    Raises:
        ShapeError: on differing shapes, or values outside [0, 1] (e.g. 0..255 images).

    Examples:
        >>> reconstruction_mse(np.full((1, 3, 2, 2), 0.5), np.zeros((1, 3, 2, 2)))
        array([3.])
    """
    p = np.asarray(pred_images, dtype=np.float64)
    t = np.asarray(true_images, dtype=np.float64)
    check_same_shape(p, t, ("pred_images", "true_images"))
    if p.ndim == 3:
        p, t = p[None], t[None]
    check_shape(p, ["N", "3", "H", "W"], "pred_images")
    for name, x in (("pred_images", p), ("true_images", t)):
        if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0):
            raise ShapeError(
                f"{name} must be finite images in [0, 1], got range [{x.min()}, {x.max()}]; "
                "divide 8-bit images by 255"
            )
    d = p - t
    return np.einsum("nchw,nchw->n", d, d)


def count_segments(labels: ArrayLike, min_pixels: int = 0, background: int | None = 0) -> np.ndarray:
    """Number of segments in each label map.

    Args:
        labels: (N, H, W) or (H, W) integer label maps.
        min_pixels: a label counts when it covers at least ``max(min_pixels, 1)`` pixels.
        background: a label not to count (0 = ground-truth background); None counts every label. The
            ClevrTex evaluator's ``acc`` counts every non-empty slot on both sides, background included,
            i.e. ``count_segments(x, background=None)`` for both predictions and ground truth.

    Returns:
        (N,) int64 counts.

    Examples:
        >>> count_segments(np.array([[0, 0, 3, 3, 7]]))
        array([2])
        >>> count_segments(np.array([[0, 0, 3, 3, 7]]), min_pixels=2, background=None)
        array([2])
    """
    x = as_label_batch(labels, "labels")
    n = x.shape[0]
    if x.size == 0:
        return np.zeros(n, dtype=np.int64)
    vmax = int(x.max())
    if n * (vmax + 1) <= 1 << 24:
        key = x.reshape(n, -1) + (np.arange(n, dtype=np.int64) * (vmax + 1))[:, None]
        sizes = np.bincount(key.ravel(), minlength=n * (vmax + 1)).reshape(n, vmax + 1)
        if background is not None and background <= vmax:
            sizes[:, background] = 0
        return (sizes >= max(min_pixels, 1)).sum(axis=1).astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):  # huge sparse ids: sort per image instead of a dense table
        vals, sizes = np.unique(x[i], return_counts=True)
        keep = sizes >= max(min_pixels, 1)
        if background is not None:
            keep &= vals != background
        out[i] = int(keep.sum())
    return out


def object_count_accuracy(pred_counts: ArrayLike, true_counts: ArrayLike) -> np.ndarray:
    """1.0 where the predicted number of segments equals the true number, else 0.0 (ClevrTex ``acc``).

    The official evaluator compares the numbers of non-empty predicted and true slots, background
    included on both sides (use :func:`count_segments` with ``background=None`` on both); it is a strict
    equality, averaged over images.

    Args:
        pred_counts: (N,) integer counts.
        true_counts: (N,) integer counts.

    Returns:
        (N,) float64 of 0.0 / 1.0.

    Examples:
        >>> object_count_accuracy([3, 4], [3, 5])
        array([1., 0.])
    """
    p = np.atleast_1d(np.asarray(pred_counts))
    t = np.atleast_1d(np.asarray(true_counts))
    check_same_shape(p, t, ("pred_counts", "true_counts"))
    if p.ndim != 1:
        raise ShapeError(f"counts must have shape (N,), got {p.shape}")
    return (p == t).astype(np.float64)
