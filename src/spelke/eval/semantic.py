"""Unsupervised semantic segmentation: dataset-level cluster-to-class matching, mIoU and pixel accuracy.

A model outputs cluster ids without names; they are mapped to ground-truth classes once for the whole
dataset from the cluster x class confusion matrix, then scored like supervised predictions.

- ``matching="hungarian"``: a one-to-one assignment (scipy ``linear_sum_assignment``) maximising the
  total pixel co-occurrence of matched pairs, i.e. pixel accuracy, as IIC (Ji et al., ICCV 2019), PiCIE
  (Cho et al., CVPR 2021) and STEGO do. MaskDistill (Van Gansbeke et al. 2022, supp.; its
  ``kmeans_utils._hungarian_match(..., metric="iou")``) maximises the sum of pairwise IoUs instead:
  ``score="iou"``.
- ``matching="majority"``: each cluster is mapped to the class it overlaps most (many-to-one); with
  ``score="iou"`` to the class of highest IoU, as MaskDistill's ``_majority_vote``, which it uses
  whenever the numbers of clusters and classes differ.

With Hungarian matching and more clusters than classes, each class receives exactly one cluster and the
remaining clusters are unmatched (mapping -1): their pixels are predicted as no class, so they count as
misses (false negatives of their true class, wrong for pixel accuracy) and as false positives of no
class. With fewer clusters than classes, unmatched classes get IoU 0 if they occur.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from spelke._checks import as_label_batch, check_same_shape
from spelke.errors import ShapeError
from spelke.eval.accumulators import Accumulator

__all__ = ["SemanticAccumulator", "match_clusters", "scores_from_confusion"]


def _pair_scores(confusion: np.ndarray, score: str) -> np.ndarray:
    c = confusion.astype(np.float64)
    if score == "count":
        return c
    if score == "iou":
        union = c.sum(axis=1, keepdims=True) + c.sum(axis=0, keepdims=True) - c
        return np.where(union > 0, c / np.where(union > 0, union, 1.0), 0.0)
    raise ShapeError(f"score must be 'count' or 'iou', got {score!r}")


def match_clusters(
    confusion: np.ndarray,
    matching: Literal["hungarian", "majority"] = "hungarian",
    score: Literal["count", "iou"] = "count",
) -> np.ndarray:
    """Map clusters to classes from a (n_clusters, n_classes) confusion matrix.

    Args:
        confusion: ``confusion[k, c]`` = pixels of cluster ``k`` with true class ``c``.
        matching: ``"hungarian"`` (one-to-one) or ``"majority"`` (each cluster to its best class).
        score: what is maximised: ``"count"`` co-occurrence (IIC/PiCIE) or ``"iou"`` (MaskDistill).

    Returns:
        (n_clusters,) int64 class of each cluster; -1 for a cluster left unmatched (Hungarian with more
        clusters than classes) or, under majority voting, for a cluster with no pixels.
    """
    conf = np.asarray(confusion)
    if conf.ndim != 2:
        raise ShapeError(f"confusion must have shape (n_clusters, n_classes), got {conf.shape}")
    s = _pair_scores(conf, score)
    mapping = np.full(conf.shape[0], -1, dtype=np.int64)
    if matching == "hungarian":
        rows, cols = linear_sum_assignment(s, maximize=True)
        mapping[rows] = cols
    elif matching == "majority":
        has = conf.sum(axis=1) > 0
        mapping[has] = np.argmax(s[has], axis=1)
    else:
        raise ShapeError(f"matching must be 'hungarian' or 'majority', got {matching!r}")
    return mapping


def scores_from_confusion(
    confusion: np.ndarray, mapping: np.ndarray, absent: Literal["exclude", "zero"] = "exclude"
) -> dict[str, Any]:
    """Per-class IoU, mIoU and pixel accuracy of clusters relabelled by ``mapping``.

    Args:
        confusion: (n_clusters, n_classes) counts.
        mapping: (n_clusters,) class per cluster, -1 = no class.
        absent: a class absent from both ground truth and (mapped) prediction has IoU NaN and is left out
            of mIoU (``"exclude"``), or has IoU 0 and counts (``"zero"``, MaskDistill's
            ``tp / max(tp + fp + fn, 1e-8)``).

    Returns:
        ``miou``, ``per_class_iou`` (n_classes,), ``pixel_accuracy`` (NaN with no valid pixel).
    """
    conf = np.asarray(confusion, dtype=np.float64)
    n_clusters, n_classes = conf.shape
    onehot = np.zeros((n_clusters, n_classes))
    ok = mapping >= 0
    onehot[np.flatnonzero(ok), mapping[ok]] = 1.0
    merged = onehot.T @ conf  # (predicted class, true class); unmatched clusters predict nothing
    tp = np.diag(merged)
    union = merged.sum(axis=1) + conf.sum(axis=0) - tp
    if absent not in ("exclude", "zero"):
        raise ShapeError(f"absent must be 'exclude' or 'zero', got {absent!r}")
    fill = 0.0 if absent == "zero" else np.nan
    iou = np.where(union > 0, tp / np.where(union > 0, union, 1.0), fill)
    valid = iou[~np.isnan(iou)]
    total = conf.sum()
    return {
        "miou": float(valid.mean()) if valid.size else float("nan"),
        "per_class_iou": iou,
        "pixel_accuracy": float(tp.sum() / total) if total > 0 else float("nan"),
    }


class SemanticAccumulator(Accumulator):
    """Dataset-level confusion matrix of cluster ids vs class ids, then matching and mIoU.

    Args:
        n_clusters: number of predicted clusters; predictions must lie in ``0 .. n_clusters - 1``.
        n_classes: number of ground-truth classes (PASCAL VOC: 21 with background).
        ignore_index: ground-truth value left out entirely (VOC boundaries: 255); ``None`` for none.

    Examples:
        >>> acc = SemanticAccumulator(n_clusters=2, n_classes=2)
        >>> acc.update(np.array([[[1, 1, 0, 0]]]), np.array([[[0, 0, 1, 255]]]))
        >>> r = acc.compute(); (r["miou"], r["mapping"].tolist())
        (1.0, [1, 0])
    """

    def __init__(self, n_clusters: int, n_classes: int, ignore_index: int | None = 255) -> None:
        if n_clusters < 1 or n_classes < 1:
            raise ShapeError(f"n_clusters and n_classes must be >= 1, got {n_clusters} and {n_classes}")
        self.n_clusters = int(n_clusters)
        self.n_classes = int(n_classes)
        self.ignore_index = ignore_index
        super().__init__()

    def reset(self) -> None:
        self.confusion = np.zeros((self.n_clusters, self.n_classes), dtype=np.int64)

    def update(self, pred: object, true: object) -> None:
        """Add a batch of (N, H, W) cluster maps and class maps (or single (H, W) maps)."""
        p = as_label_batch(pred, "pred")
        t = np.asarray(true)
        t = t[None] if t.ndim == 2 else t
        check_same_shape(p, t, ("pred", "true"))
        t = t.astype(np.int64)
        valid = np.ones(t.shape, bool) if self.ignore_index is None else t != self.ignore_index
        pv, tv = p[valid], t[valid]
        if pv.size and pv.max() >= self.n_clusters:
            raise ShapeError(
                f"pred holds cluster id {pv.max()}, but n_clusters={self.n_clusters} (ids 0..n_clusters-1)"
            )
        if tv.size and (tv.max() >= self.n_classes or tv.min() < 0):
            bad = tv.max() if tv.max() >= self.n_classes else tv.min()
            raise ShapeError(
                f"true holds class id {bad} outside 0..{self.n_classes - 1} and is not "
                f"ignore_index={self.ignore_index}"
            )
        key = pv * self.n_classes + tv
        self.confusion += np.bincount(key, minlength=self.n_clusters * self.n_classes).reshape(
            self.n_clusters, self.n_classes
        )

    def compute(
        self,
        matching: Literal["hungarian", "majority"] = "hungarian",
        score: Literal["count", "iou"] = "count",
        absent: Literal["exclude", "zero"] = "exclude",
    ) -> dict[str, Any]:
        """Match clusters to classes (:func:`match_clusters`) and score (:func:`scores_from_confusion`).

        Returns:
            ``miou``, ``per_class_iou`` (n_classes,), ``pixel_accuracy``, ``mapping`` (n_clusters,) and
            ``confusion`` (n_clusters, n_classes).
        """
        mapping = match_clusters(self.confusion, matching, score)
        out = scores_from_confusion(self.confusion, mapping, absent)
        out["mapping"] = mapping
        out["confusion"] = self.confusion.copy()
        return out
