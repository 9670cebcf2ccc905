"""Salient-object metrics: pixel accuracy, IoU and F-beta / max F-beta of soft foreground maps.

F-beta with beta^2 = 0.3 weights precision over recall (Achanta et al., CVPR 2009, "Frequency-tuned
salient region detection"). The protocol here is the one of MOVE (Bielski & Favaro, NeurIPS 2022, §4.1)
and of the evaluation code it shares with deep-spectral-segmentation and Voynov et al. (BigGAN
unsupervised segmentation):

- Acc and IoU binarise the soft map at 0.5 (``soft > 0.5``) and are averaged over images;
- F-beta is computed per image at each threshold of a fixed set (``soft > t``), averaged over images at
  each threshold, and the best threshold over the whole dataset gives max F-beta;
- precision is 1 when nothing is predicted, recall is 1 when the ground truth is empty, and F-beta is 0
  when precision and recall are both 0 (no epsilon anywhere).

Thresholds: ``t_k = k / n_thresholds`` for ``k = 0 .. n_thresholds - 1`` (MOVE: n = 256, so 0, 1/256, ...,
255/256); ``include_zero=False`` drops ``t = 0`` (deep-spectral: n = 255 without 0, i.e. 1/255 .. 254/255).

Comparisons happen in the floating dtype of the input (float32 maps: float32 thresholds), as in the
reference code (torch compares a float32 tensor with a Python float in float32). This only matters when a
value can equal a threshold, e.g. 8-bit maps (``j / 255``) with 255 thresholds (``k / 255``); with 256
thresholds no 8-bit value other than 0 equals a threshold.

The per-image curve is computed without a loop over thresholds: each pixel's value is turned into the
number of thresholds below it (``searchsorted``), one ``bincount`` per batch gives per-image histograms of
those counts for all pixels and for foreground pixels, and reverse cumulative sums give the predicted
positives and true positives at every threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spelke._checks import check_same_shape
from spelke.errors import ShapeError
from spelke.eval.accumulators import Accumulator
from spelke.eval.binary import as_binary_batch

__all__ = [
    "SaliencyAccumulator",
    "f_beta",
    "f_beta_curve",
    "precision_recall",
    "saliency_thresholds",
]

#: beta^2 of the saliency F-measure (Achanta et al. 2009).
BETA2 = 0.3


def _f_from_pr(precision: np.ndarray, recall: np.ndarray, beta2: float) -> np.ndarray:
    den = beta2 * precision + recall
    return np.where(den > 0, (1 + beta2) * precision * recall / np.where(den > 0, den, 1.0), 0.0)


def _pr_from_counts(tp: np.ndarray, pos: np.ndarray, n_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision = np.where(pos > 0, tp / np.maximum(pos, 1), 1.0)
    recall = np.where(n_true > 0, tp / np.maximum(n_true, 1), 1.0)
    return precision, recall


def _as_gt(true: object) -> np.ndarray:
    t = np.asarray(true)
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ShapeError(f"true must be binary masks of shape (N, H, W) or (H, W), got shape {t.shape}")
    if t.dtype != bool and t.size and not np.isin(t, (0, 1)).all():
        raise ShapeError(
            "true must be binary (0/1 or bool); binarise 8-bit saliency ground truth first "
            "(MOVE: value / 255 > 0.5)"
        )
    return t.astype(bool)


def precision_recall(pred_bin: object, true: object) -> tuple[np.ndarray, np.ndarray]:
    """Per-image precision and recall of binary masks, (N,) each.

    Precision is 1.0 for an image with no predicted foreground, recall is 1.0 for an image with empty
    ground truth (MOVE / deep-spectral ``precision_recall``).
    """
    p = as_binary_batch(pred_bin, "pred_bin")
    t = _as_gt(true)
    check_same_shape(p, t, ("pred_bin", "true"))
    tp = np.count_nonzero(p & t, axis=(1, 2))
    return _pr_from_counts(tp, np.count_nonzero(p, axis=(1, 2)), np.count_nonzero(t, axis=(1, 2)))


def f_beta(pred_bin: object, true: object, beta2: float = BETA2) -> np.ndarray:
    """Per-image F-beta of binary masks: ``(1 + b2) P R / (b2 P + R)``, 0 when P = R = 0.

    Args:
        pred_bin: predicted masks (N, H, W) or (H, W); nonzero = foreground.
        true: binary ground truth of the same shape.
        beta2: beta squared (0.3, Achanta et al. 2009).

    Returns:
        (N,) float64. Empty prediction and non-empty ground truth: P = 1, R = 0, F = 0. Non-empty
        prediction and empty ground truth: P = 0, R = 1, F = 0. Both empty: F = 1.
    """
    precision, recall = precision_recall(pred_bin, true)
    return _f_from_pr(precision, recall, beta2)


def saliency_thresholds(n_thresholds: int = 256, include_zero: bool = True) -> np.ndarray:
    """The threshold set ``k / n_thresholds``, ``k = 0 (or 1) .. n_thresholds - 1``, float64 ascending."""
    if n_thresholds < 1:
        raise ShapeError(f"n_thresholds must be >= 1, got {n_thresholds}")
    k = np.arange(0 if include_zero else 1, n_thresholds, dtype=np.float64)
    if k.size == 0:
        raise ShapeError("include_zero=False with n_thresholds=1 leaves no threshold")
    return k / n_thresholds


def _as_soft(soft: object) -> np.ndarray:
    s = np.asarray(soft)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3:
        raise ShapeError(f"soft must be foreground maps of shape (N, H, W) or (H, W), got shape {s.shape}")
    if s.dtype.kind not in "fiub":
        raise ShapeError(f"soft must be a float array in [0, 1], got dtype {s.dtype}")
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    if s.size and not (np.all(s >= 0) and np.all(s <= 1)):
        raise ShapeError(
            f"soft must hold foreground probabilities in [0, 1], got range [{np.nanmin(s)}, {np.nanmax(s)}] "
            "(NaN is not allowed); divide 8-bit maps by 255"
        )
    return s


def _curve_counts(soft: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted positives and true positives per image and threshold, (N, K) int64 each."""
    n, k = soft.shape[0], thresholds.size
    # number of thresholds strictly below each value: the pixel is positive at thresholds 0..c-1
    # compare in the input's float dtype, as torch does in the reference code: a float32 8-bit value
    # j / 255 then equals the float32 threshold k / 255 when j == k, and is not above it
    c = np.searchsorted(thresholds.astype(soft.dtype), soft.reshape(n, -1), side="left")
    key = np.arange(n)[:, None] * (k + 1) + c
    hist_all = np.bincount(key.ravel(), minlength=n * (k + 1)).reshape(n, k + 1)
    hist_fg = np.bincount(key[gt.reshape(n, -1)], minlength=n * (k + 1)).reshape(n, k + 1)
    # positives at threshold j = pixels with c > j = reverse cumulative sum from c = j + 1
    pos = np.cumsum(hist_all[:, ::-1], axis=1)[:, ::-1][:, 1:]
    tp = np.cumsum(hist_fg[:, ::-1], axis=1)[:, ::-1][:, 1:]
    return pos, tp


def f_beta_curve(
    soft: object,
    true: object,
    n_thresholds: int = 256,
    include_zero: bool = True,
    beta2: float = BETA2,
) -> np.ndarray:
    """Per-image F-beta at every threshold of :func:`saliency_thresholds`: (N, K) float64.

    The prediction at threshold ``t`` is ``soft > t`` (strict, as MOVE/deep-spectral).
    """
    s = _as_soft(soft)
    t = _as_gt(true)
    check_same_shape(s, t, ("soft", "true"))
    thr = saliency_thresholds(n_thresholds, include_zero)
    pos, tp = _curve_counts(s, t, thr)
    n_true = np.count_nonzero(t, axis=(1, 2))[:, None]
    precision, recall = _pr_from_counts(tp, pos, n_true)
    return _f_from_pr(precision, recall, beta2)


class SaliencyAccumulator(Accumulator):
    """Dataset-level saliency metrics over batches of soft foreground maps (MOVE §4.1 protocol).

    ``compute()`` returns:

    - ``acc``: mean over images of pixel accuracy of ``soft > threshold``;
    - ``iou``: mean over images of IoU of ``soft > threshold``; an image where prediction and ground
      truth are both empty scores ``empty_iou`` (0.0, as MOVE's ``inter / (union + 1e-8)``);
    - ``f_beta``: mean over images of F-beta of ``soft > threshold`` (MOVE's "FBeta (not max)");
    - ``max_f_beta``: max over thresholds of the image-averaged F-beta (one threshold for the whole
      dataset), and ``max_f_beta_threshold`` the first threshold reaching it;
    - ``oracle_per_image_max_f_beta``: mean over images of each image's own best F-beta, i.e. a
      threshold chosen per image with the ground truth (SelfMask's protocol; MOVE's "FBetaMaxPerImg").
      An oracle: never compare it with ``max_f_beta``;
    - ``f_beta_curve``: (K,) image-averaged F-beta per threshold; ``thresholds``: (K,); ``images``.

    Args:
        n_thresholds: threshold count of :func:`saliency_thresholds` (MOVE: 256; deep-spectral: 255).
        include_zero: keep threshold 0 (MOVE: yes; deep-spectral: no).
        beta2: beta squared of F-beta (0.3).
        threshold: binarisation threshold of acc / iou / f_beta (0.5; strict ``>``).
        empty_iou: IoU of an image with empty prediction and empty ground truth.

    Examples:
        >>> acc = SaliencyAccumulator()
        >>> gt = np.zeros((1, 4, 4), bool); gt[0, :2] = True
        >>> acc.update(gt * 0.9, gt)
        >>> r = acc.compute(); (r["iou"], r["max_f_beta"])
        (1.0, 1.0)
    """

    def __init__(
        self,
        n_thresholds: int = 256,
        include_zero: bool = True,
        beta2: float = BETA2,
        threshold: float = 0.5,
        empty_iou: float = 0.0,
    ) -> None:
        self.thresholds = saliency_thresholds(n_thresholds, include_zero)
        self.n_thresholds = n_thresholds
        self.include_zero = include_zero
        self.beta2 = beta2
        self.threshold = threshold
        self.empty_iou = empty_iou
        super().__init__()

    def reset(self) -> None:
        self._n = 0
        self._acc = 0.0
        self._iou = 0.0
        self._f = 0.0
        self._curve = np.zeros(self.thresholds.size)
        self._oracle = 0.0

    def update(self, soft: object, true: object) -> None:
        """Add a batch: ``soft`` (N, H, W) in [0, 1], ``true`` (N, H, W) binary, at the same size."""
        s = _as_soft(soft)
        t = _as_gt(true)
        check_same_shape(s, t, ("soft", "true"))
        if s.shape[0] == 0:
            return
        hard = s > self.threshold
        tp = np.count_nonzero(hard & t, axis=(1, 2))
        pos = np.count_nonzero(hard, axis=(1, 2))
        n_true = np.count_nonzero(t, axis=(1, 2))
        union = pos + n_true - tp
        n_pix = s.shape[1] * s.shape[2]
        self._acc += float(np.sum((n_pix - pos - n_true + 2 * tp) / max(n_pix, 1)))
        iou = np.where(union > 0, tp / np.maximum(union, 1), self.empty_iou)
        self._iou += float(iou.sum())
        self._f += float(_f_from_pr(*_pr_from_counts(tp, pos, n_true), self.beta2).sum())
        pos_k, tp_k = _curve_counts(s, t, self.thresholds)
        curve = _f_from_pr(*_pr_from_counts(tp_k, pos_k, n_true[:, None]), self.beta2)
        self._curve += curve.sum(axis=0)
        self._oracle += float(curve.max(axis=1).sum())
        self._n += s.shape[0]

    def compute(self) -> dict[str, Any]:
        n = self._n
        nan = float("nan")
        curve = self._curve / n if n else np.full(self.thresholds.size, np.nan)
        best = int(np.argmax(curve)) if n else 0
        return {
            "acc": self._acc / n if n else nan,
            "iou": self._iou / n if n else nan,
            "f_beta": self._f / n if n else nan,
            "max_f_beta": float(curve[best]) if n else nan,
            "max_f_beta_threshold": float(self.thresholds[best]) if n else nan,
            "oracle_per_image_max_f_beta": self._oracle / n if n else nan,
            "f_beta_curve": curve,
            "thresholds": self.thresholds.copy(),
            "images": n,
        }
