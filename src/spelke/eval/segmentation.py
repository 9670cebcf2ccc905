"""Segmentation metrics for label maps: ARI, FG-ARI, Hungarian mIoU variants, mBO, mSC and Dice.

Every function takes integer label maps ``pred`` and ``true`` of shape (N, H, W) (or (H, W) as N = 1)
and returns a float64 array of shape (N,), one value per image. Ground-truth label 0 is the background;
predicted ids are arbitrary (0 is not special in ``pred``). All metrics of a batch are computed from one
contingency table per image, built in a single vectorised pass (:mod:`spelke.eval._labels`).

Conventions shared by all metrics (docs/metrics.md has the full definitions and the comparison with the
ClevrTex evaluator, SAVi, OCLF and object-centric-library):

* A *segment* is a label that occurs in the image (after the optional ``valid`` mask); labels that do not
  occur are not segments and never count in a normaliser.
* An image with no pixel to score gives NaN for every metric; a foreground metric gives NaN for an image
  without true foreground. NaN means "undefined" and accumulators skip and count it.
* Hungarian matchings are computed on the IoU matrix of the segments that occur. A matched pair with IoU 0
  is reported as unmatched (it adds nothing to any sum either way). Among matchings with the same
  maximum total IoU, the one with the most foreground IoU, then the most Dice, is used, so that
  ``miou_fg``, ``dice`` and ``dice_fg`` do not depend on label order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from spelke.errors import ConfigError
from spelke.eval._labels import (
    Contingency,
    as_label_pair,
    contingency,
    dice_matrix_from_contingency,
    hungarian,
    iou_matrix_from_contingency,
)

__all__ = [
    "METRIC_NAMES",
    "MatchResult",
    "ari",
    "ari_video",
    "dice",
    "dice_fg",
    "fg_ari",
    "fg_ari_video",
    "match_segments",
    "mbo",
    "miou",
    "miou_fg",
    "miou_gt",
    "msc",
    "segmentation_scores",
]

#: Names computed by :func:`segmentation_scores` and the segmentation accumulator, with default options.
METRIC_NAMES: tuple[str, ...] = (
    "ari",
    "fg_ari",
    "miou",
    "miou_fg",
    "miou_gt",
    "mbo",
    "msc",
    "dice",
    "dice_fg",
)


def _ari_from_counts(counts: np.ndarray) -> np.ndarray:
    """ARI of every image from its (Kp, Kt) contingency table; NaN for an image without pixels.

    Hubert & Arabie 1985 ARI, written with ordered pair counts exactly as scikit-learn's
    ``pair_confusion_matrix`` / ``adjusted_rand_score`` do, in exact Python integers, so that the result
    is bit-identical to ``sklearn.metrics.adjusted_rand_score`` (special case: identical partitions up to
    relabelling, including a single cluster on both sides or a single pixel, give 1.0).
    """
    n = counts.sum(axis=(1, 2))
    sum_sq = np.einsum("ipt,ipt->i", counts, counts)
    pred_sizes = counts.sum(axis=2)
    true_sizes = counts.sum(axis=1)
    pred_sq = np.einsum("ip,ip->i", pred_sizes, pred_sizes)
    true_sq = np.einsum("it,it->i", true_sizes, true_sizes)
    out = np.empty(len(n), dtype=np.float64)
    for i, (ni, ss, ps, ts) in enumerate(
        zip(n.tolist(), sum_sq.tolist(), pred_sq.tolist(), true_sq.tolist(), strict=False)
    ):
        if ni == 0:
            out[i] = np.nan
            continue
        tp = ss - ni  # ordered pairs together in both partitions
        fp = ps - ss  # together in pred only
        fn = ts - ss  # together in true only
        tn = ni * ni - fp - fn - ss  # apart in both (ss = tp + n counts the n self-pairs)
        if fn == 0 and fp == 0:
            out[i] = 1.0
        else:
            out[i] = 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    return out


#: Size of the tie-breaking perturbation of the mIoU matching (see ``_Scores.match_iou``).
_TIE = 1e-11


class _Scores:
    """Lazily computed quantities of one batch, shared by all metrics (one table, at most two matchings)."""

    def __init__(self, ct: Contingency) -> None:
        self.ct = ct
        self.counts = ct.counts

    @cached_property
    def pred_sizes(self) -> np.ndarray:
        return self.ct.pred_sizes

    @cached_property
    def true_sizes(self) -> np.ndarray:
        return self.ct.true_sizes

    @cached_property
    def is_bg(self) -> np.ndarray:
        """(N, Kt) columns holding the true background (label 0) that occur in the image."""
        return self.ct.true_is(0) & (self.true_sizes > 0)

    @cached_property
    def n_pred(self) -> np.ndarray:
        return (self.pred_sizes > 0).sum(axis=1)

    @cached_property
    def n_true(self) -> np.ndarray:
        return (self.true_sizes > 0).sum(axis=1)

    @cached_property
    def has_bg(self) -> np.ndarray:
        return self.is_bg.any(axis=1)

    @cached_property
    def n_fg(self) -> np.ndarray:
        return self.n_true - self.has_bg

    @cached_property
    def iou(self) -> np.ndarray:
        return iou_matrix_from_contingency(self.counts)

    @cached_property
    def dice_matrix(self) -> np.ndarray:
        return dice_matrix_from_contingency(self.counts)

    def match(self, score: np.ndarray, *, background: bool = True) -> np.ndarray:
        """(N, Kt) predicted row matched to each true column by Hungarian matching on ``score``; -1 if none.

        Only segments that occur take part; with ``background=False`` the true background is left out of
        the matching (OCLF ``ignore_background``). Pairs with score 0 are reported as unmatched.

        Exact shortcut before SciPy: any matching scores at most ``Σ_t max_p score[p, t]`` (each true
        segment gets at most one partner), so when the best partners of the true segments are all
        distinct, giving each its best partner *is* a maximum matching; likewise from the predicted
        side. Only images where both sides have a conflict go to ``linear_sum_assignment``.
        """
        n, kp, kt = score.shape
        rows_ok = self.pred_sizes > 0
        cols_ok = self.true_sizes > 0
        if not background:
            cols_ok = cols_ok & ~self.is_bg
        out = np.full((n, kt), -1, dtype=np.int64)
        if n == 0 or kp == 0 or kt == 0:
            return out
        both = rows_ok[:, :, None] & cols_ok[:, None, :]
        masked = np.where(both, score, -1.0)
        img = np.arange(n)[:, None]
        best_p = masked.argmax(axis=1)  # (N, Kt) best predicted row of each true column
        val_p = np.take_along_axis(masked, best_p[:, None, :], axis=1)[:, 0, :]
        use_t = cols_ok & (val_p > 0)
        hits_p = np.bincount((img * kp + best_p)[use_t], minlength=n * kp).reshape(n, kp)
        fast_t = (hits_p <= 1).all(axis=1)
        best_t = masked.argmax(axis=2)  # (N, Kp) best true column of each predicted row
        val_t = np.take_along_axis(masked, best_t[:, :, None], axis=2)[:, :, 0]
        use_p = rows_ok & (val_t > 0)
        hits_t = np.bincount((img * kt + best_t)[use_p], minlength=n * kt).reshape(n, kt)
        fast_p = (hits_t <= 1).all(axis=1) & ~fast_t

        sel = use_t & fast_t[:, None]
        out[sel] = best_p[sel]
        ii, pp = np.nonzero(use_p & fast_p[:, None])
        out[ii, best_t[ii, pp]] = pp

        slow = np.flatnonzero(~(fast_t | fast_p)).tolist()
        if slow and kp * kt <= 4096:
            # Small tables: zero rows/columns of absent segments change neither the value nor the pairs
            # kept (zero pairs are dropped), so solve on the whole (Kt, Kp) matrix, rows = true segments
            # as the ClevrTex evaluator orders them.
            sub_all = np.where(both, score, 0.0).transpose(0, 2, 1)
            ii, rr, cc = [], [], []
            for i in slow:
                r, c = linear_sum_assignment(sub_all[i], maximize=True)
                ii.append(np.full(len(r), i))
                rr.append(r)
                cc.append(c)
            iv, rv, cv = np.concatenate(ii), np.concatenate(rr), np.concatenate(cc)
            good = sub_all[iv, rv, cv] > 0
            out[iv[good], rv[good]] = cv[good]
        else:
            for i in slow:
                rp = np.flatnonzero(rows_ok[i])
                ct = np.flatnonzero(cols_ok[i])
                sub = score[i][np.ix_(rp, ct)].T
                r, c = hungarian(sub)
                good = sub[r, c] > 0
                out[i, ct[r[good]]] = rp[c[good]]
        return out

    @cached_property
    def match_iou(self) -> np.ndarray:
        # Ties: several matchings can reach the maximum total IoU with different foreground/background
        # splits or Dice sums (e.g. one prediction overlapping the background and an object equally).
        # Among them we take the one with the most foreground IoU, then the most Dice, by adding a
        # perturbation of at most 2*K*_TIE to the score, so miou_fg / dice / dice_fg do not depend on
        # label order or SciPy's tie-breaking. Only near-ties closer than that can be affected.
        fg = ~self.ct.true_is(0)[:, None, :]
        return self.match(self.iou + _TIE * (np.where(fg, self.iou, 0.0) + self.dice_matrix))

    def matched(self, score: np.ndarray, match: np.ndarray) -> np.ndarray:
        """(N, Kt) score of each true column's matched pair, 0 when unmatched."""
        vals = np.take_along_axis(score, np.maximum(match, 0)[:, None, :], axis=1)[:, 0, :]
        return np.where(match >= 0, vals, 0.0)

    @cached_property
    def matched_iou(self) -> np.ndarray:
        return self.matched(self.iou, self.match_iou)

    @cached_property
    def n_pairs(self) -> np.ndarray:
        # thesis Ch. 4 l.987: "averaged across the number of predicted or ground truth components,
        # whichever is higher" (= the ClevrTex evaluator's count of slots non-empty in pred or GT).
        return np.maximum(self.n_pred, self.n_true)

    # ---- metrics -----------------------------------------------------------------------------------
    def ari(self) -> np.ndarray:
        return _ari_from_counts(self.counts)

    def fg_ari(self) -> np.ndarray:
        return _ari_from_counts(self.ct.without_true(0).counts)

    def _ratio(self, num: np.ndarray, den: np.ndarray, defined: np.ndarray) -> np.ndarray:
        out = np.full(num.shape, np.nan, dtype=np.float64)
        np.divide(num, den, out=out, where=defined & (den > 0))
        return out

    def miou(self) -> np.ndarray:
        return self._ratio(self.matched_iou.sum(axis=1), self.n_pairs, self.n_true > 0)

    def miou_fg(self) -> np.ndarray:
        fg_sum = np.where(self.is_bg, 0.0, self.matched_iou).sum(axis=1)
        return self._ratio(fg_sum, self.n_pairs - self.has_bg, self.n_fg > 0)

    def miou_gt(self, background: bool = True) -> np.ndarray:
        if background:
            return self._ratio(self.matched_iou.sum(axis=1), self.n_true, self.n_true > 0)
        matched = self.matched(self.iou, self.match(self.iou, background=False))
        return self._ratio(matched.sum(axis=1), self.n_fg, self.n_fg > 0)

    def _best(self, background: bool) -> tuple[np.ndarray, np.ndarray]:
        """(N, Kt) best IoU of each true column over all predicted segments, and the columns that count."""
        best = self.iou.max(axis=1) if self.iou.shape[1] else np.zeros(self.true_sizes.shape)
        cols = self.true_sizes > 0
        if not background:
            cols = cols & ~self.is_bg
        return best, cols

    def mbo(self, background: bool = False) -> np.ndarray:
        best, cols = self._best(background)
        n = cols.sum(axis=1)
        return self._ratio(np.where(cols, best, 0.0).sum(axis=1), n, n > 0)

    def msc(self, background: bool = True) -> np.ndarray:
        best, cols = self._best(background)
        area = np.where(cols, self.true_sizes, 0)
        total = area.sum(axis=1)
        return self._ratio((area * best).sum(axis=1), total, total > 0)

    def _matched_dice(self, match_on: str) -> np.ndarray:
        if match_on == "iou":
            return self.matched(self.dice_matrix, self.match_iou)
        if match_on == "dice":
            return self.matched(self.dice_matrix, self.match(self.dice_matrix))
        raise ConfigError(f"match_on must be 'iou' (ClevrTex evaluator) or 'dice', got {match_on!r}")

    def dice(self, match_on: str = "iou") -> np.ndarray:
        return self._ratio(self._matched_dice(match_on).sum(axis=1), self.n_pairs, self.n_true > 0)

    def dice_fg(self, match_on: str = "iou") -> np.ndarray:
        fg_sum = np.where(self.is_bg, 0.0, self._matched_dice(match_on)).sum(axis=1)
        return self._ratio(fg_sum, self.n_pairs - self.has_bg, self.n_fg > 0)


def _scores(pred: ArrayLike, true: ArrayLike, valid: ArrayLike | None, *, video: bool = False) -> _Scores:
    p, t = as_label_pair(pred, true, video=video)
    v = None if valid is None else np.asarray(valid, dtype=bool)
    return _Scores(contingency(p, t, v))


def ari(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """Adjusted Rand index of each image (all pixels, background included).

    Hubert & Arabie 1985; identical to ``sklearn.metrics.adjusted_rand_score(true_i.ravel(),
    pred_i.ravel())`` for every image, including scikit-learn's special cases (identical partitions up to
    relabelling give 1.0, e.g. a single segment on both sides).

    Args:
        pred: (N, H, W) or (H, W) predicted label maps (ids arbitrary).
        true: true label maps of the same shape.
        valid: optional bool mask of the same shape; only pixels where it is True are scored.

    Returns:
        (N,) float64; NaN for an image with no pixel to score (scikit-learn would return 1.0).

    Examples:
        >>> ari(np.array([[0, 0, 1, 1]]), np.array([[5, 5, 0, 0]]))
        array([1.])
        >>> ari(np.array([[0, 1, 0, 1]]), np.array([[0, 0, 1, 1]]))
        array([-0.5])
    """
    return _scores(pred, true, valid).ari()


def fg_ari(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """Adjusted Rand index on the true-foreground pixels (``true != 0``) of each image.

    ClevrTex ARI-FG (thesis App. B.3.2): scikit-learn's ARI on the pixels whose true label is not 0.

    Returns:
        (N,) float64; NaN for an image without foreground pixels (the ClevrTex evaluator reports
        scikit-learn's 1.0 for such an image).

    Examples:
        >>> fg_ari(np.array([[0, 1, 1, 2]]), np.array([[0, 3, 3, 3]]))  # fg pixels: pred 1,1,2 vs true 3,3,3
        array([0.])
        >>> fg_ari(np.zeros((1, 2, 2), int), np.zeros((1, 2, 2), int))
        array([nan])
    """
    return _scores(pred, true, valid).fg_ari()


def ari_video(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """ARI of each video, all frames scored jointly as one set of pixels (as SAVi does).

    Args:
        pred: (N, T, H, W) or (T, H, W) label maps; ids are assumed consistent across frames.
        true: true label maps of the same shape.
        valid: optional bool mask of the same shape (e.g. SAVi's padding mask).

    Returns:
        (N,) float64, one value per video.
    """
    return _scores(pred, true, valid, video=True).ari()


def fg_ari_video(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """FG-ARI of each video, all frames' foreground pixels scored jointly (SAVi ``AriNoBg``).

    Returns:
        (N,) float64; NaN for a video without foreground pixels.
    """
    return _scores(pred, true, valid, video=True).fg_ari()


def miou(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """ClevrTex mIoU: Hungarian-matched IoU, normalised by the larger number of segments.

    Predicted segments are matched one-to-one to true segments (background included) to maximise the total
    IoU; the matched IoUs are summed and divided by ``max(#predicted segments, #true segments)``, so every
    unmatched segment, on either side, counts 0 (thesis App. B.3.2 and Ch. 4 l.987). This equals the
    ClevrTex evaluator's "sum / #pairs non-empty in pred or GT" after zero-padding, whenever its matching
    pairs every segment it can with a segment of the other side (see docs/metrics.md). The value is unique
    (the maximum total IoU); only *which* segments are paired can depend on tie-breaking.

    Args:
        pred: (N, H, W) or (H, W) predicted label maps (ids arbitrary).
        true: true label maps of the same shape, 0 = background.
        valid: optional bool mask of the same shape; only pixels where it is True are scored.

    Returns:
        (N,) float64 in [0, 1]; NaN for an image with no pixel to score.

    Examples:
        >>> true = np.array([[0, 0, 1, 1]])
        >>> miou(np.array([[7, 7, 3, 3]]), true)  # same partition, other ids
        array([1.])
        >>> miou(np.array([[0, 0, 1, 2]]), true)  # (1 + 1/2) / max(3, 2)
        array([0.5])
    """
    return _scores(pred, true, valid).miou()


def miou_fg(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> np.ndarray:
    """ClevrTex mIoU_fg: the :func:`miou` matching, without the background's pair.

    ``Σ_{true fg segments} matched IoU / (max(#pred, #true) - [true background occurs])``: the matching
    is the one of :func:`miou` (background included), then the background's pair is dropped from both
    the sum and the count, which is what the ClevrTex evaluator's "drop slot 0" computes. Extra predicted
    segments still count 0. For the mean over true foreground objects only, use
    ``miou_gt(..., background=False)``.

    Returns:
        (N,) float64; NaN for an image without true foreground.

    Examples:
        >>> miou_fg(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 1, 1]]))  # fg pair 1/2, pairs 3 - 1
        array([0.25])
    """
    return _scores(pred, true, valid).miou_fg()


def miou_gt(
    pred: ArrayLike, true: ArrayLike, *, background: bool = True, valid: ArrayLike | None = None
) -> np.ndarray:
    """Hungarian-matched IoU averaged over the true segments only (object-centric-library, OCLF).

    Extra predicted segments are not penalised; unmatched true segments count 0. With
    ``background=False`` the true background is removed *before* matching (OCLF
    ``UnsupervisedMaskIoUMetric(ignore_background=True)``) and the mean is over foreground objects.
    ``background=True`` equals the ClevrTex evaluator's ``mIoU_gt``.

    Returns:
        (N,) float64; NaN when there is no true segment to average over.

    Examples:
        >>> miou_gt(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 1, 1]]))  # (1 + 1/2) / 2
        array([0.75])
    """
    return _scores(pred, true, valid).miou_gt(background)


def mbo(
    pred: ArrayLike, true: ArrayLike, *, background: bool = False, valid: ArrayLike | None = None
) -> np.ndarray:
    """Mean best overlap: each true segment's best IoU over all predicted segments, averaged.

    OCLF ``AverageBestOverlapMetric`` (a predicted segment may be the best overlap of several true
    segments). By default the true background is left out (``background=False``), the usual instance-level
    mBO; ``background=True`` includes it (the OCLF default).

    Returns:
        (N,) float64; NaN when there is no true segment to average over.

    Examples:
        >>> mbo(np.array([[0, 0, 0, 1]]), np.array([[0, 0, 1, 1]]))  # object 1: best IoU 1/2
        array([0.5])
    """
    return _scores(pred, true, valid).mbo(background)


def msc(
    pred: ArrayLike, true: ArrayLike, *, background: bool = True, valid: ArrayLike | None = None
) -> np.ndarray:
    """Mean segmentation covering: ``Σ_t |t| max_p IoU(p, t) / Σ_t |t|`` over true segments ``t``.

    GT-area-weighted best overlap (ClevrTex evaluator ``mSC``; object-centric-library
    ``segmentation_covering.py``). The unweighted variant is :func:`mbo`.

    Returns:
        (N,) float64; NaN when there is no true segment to average over.

    Examples:
        >>> msc(np.array([[0, 0, 0, 1]]), np.array([[0, 0, 1, 1]]))  # (2 * 2/3 + 2 * 1/2) / 4
        array([0.58333333])
    """
    return _scores(pred, true, valid).msc(background)


def dice(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    match_on: Literal["iou", "dice"] = "iou",
    valid: ArrayLike | None = None,
) -> np.ndarray:
    """ClevrTex DICE: Dice ``2|P∩T| / (|P|+|T|)`` of the Hungarian pairs, normalised like :func:`miou`.

    The pairs are those of the IoU matching of :func:`miou` (as the ClevrTex evaluator does);
    ``match_on="dice"`` instead matches to maximise the total Dice.

    Returns:
        (N,) float64 in [0, 1]; NaN for an image with no pixel to score.

    Examples:
        >>> dice(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 1, 1]]))  # (1 + 2/3) / 3
        array([0.55555556])
    """
    return _scores(pred, true, valid).dice(match_on)


def dice_fg(
    pred: ArrayLike,
    true: ArrayLike,
    *,
    match_on: Literal["iou", "dice"] = "iou",
    valid: ArrayLike | None = None,
) -> np.ndarray:
    """ClevrTex DICE_FG: :func:`dice` without the background's pair (normalised like :func:`miou_fg`).

    Returns:
        (N,) float64; NaN for an image without true foreground.
    """
    return _scores(pred, true, valid).dice_fg(match_on)


def segmentation_scores(
    pred: ArrayLike,
    true: ArrayLike,
    metrics: Iterable[str] = METRIC_NAMES,
    *,
    valid: ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """Several metrics of a batch from one contingency pass (default options of each function).

    Args:
        pred: (N, H, W) or (H, W) predicted label maps.
        true: true label maps of the same shape.
        metrics: names out of :data:`METRIC_NAMES`.
        valid: optional bool mask of the same shape.

    Returns:
        ``{name: (N,) float64}``.

    Examples:
        >>> s = segmentation_scores(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 1, 1]]), ["miou", "miou_gt"])
        >>> {k: v.tolist() for k, v in s.items()}
        {'miou': [0.5], 'miou_gt': [0.75]}
    """
    names = list(metrics)
    unknown = [m for m in names if m not in METRIC_NAMES]
    if unknown:
        raise ConfigError(f"unknown segmentation metric(s) {unknown}; choose from {list(METRIC_NAMES)}")
    s = _scores(pred, true, valid)
    return {m: getattr(s, m)() for m in names}


@dataclass(frozen=True)
class MatchResult:
    """Hungarian matching of one image's segments (the matching behind :func:`miou`).

    Attributes:
        true_ids: (Kt,) the true labels that occur, ascending.
        pred_ids: (Kp,) the predicted labels that occur, ascending.
        iou: (Kt, Kp) IoU of every (true, predicted) pair; rows follow ``true_ids``, columns ``pred_ids``.
        true_to_pred: each true label's matched predicted label, or None when unmatched (more true than
            predicted segments, or only zero-IoU partners left).
        matched_iou: each true label's matched IoU (0.0 when unmatched).
    """

    true_ids: np.ndarray
    pred_ids: np.ndarray
    iou: np.ndarray
    true_to_pred: dict[int, int | None]
    matched_iou: dict[int, float]

    @property
    def miou(self) -> float:
        """This image's :func:`miou`."""
        return sum(self.matched_iou.values()) / max(len(self.true_ids), len(self.pred_ids))


def match_segments(pred: ArrayLike, true: ArrayLike, *, valid: ArrayLike | None = None) -> MatchResult:
    """Per-segment Hungarian matching of ONE image (per-object IoU for attribute breakdowns).

    Args:
        pred: (H, W) (or (1, H, W)) predicted label map.
        true: (H, W) true label map.
        valid: optional bool mask of the same shape.

    Returns:
        A :class:`MatchResult`; ``matched_iou[t]`` is the IoU that true segment ``t`` contributes to
        :func:`miou`. Which predicted segment a true segment gets can depend on tie-breaking between
        equally good matchings; the sum cannot.

    Examples:
        >>> m = match_segments(np.array([[0, 0, 1, 2]]), np.array([[0, 0, 1, 1]]))
        >>> m.true_to_pred, m.matched_iou
        ({0: 0, 1: 1}, {0: 1.0, 1: 0.5})
    """
    s = _scores(pred, true, valid)
    if s.counts.shape[0] != 1:
        raise ConfigError(f"match_segments scores one image, got a batch of {s.counts.shape[0]}")
    rows = np.flatnonzero(s.pred_sizes[0] > 0)
    cols = np.flatnonzero(s.true_sizes[0] > 0)
    pred_ids = s.ct.pred_ids[0, rows]
    true_ids = s.ct.true_ids[0, cols]
    match = s.match_iou[0]
    t2p: dict[int, int | None] = {}
    m_iou: dict[int, float] = {}
    for c, tid in zip(cols.tolist(), true_ids.tolist(), strict=True):
        r = int(match[c])
        t2p[tid] = int(s.ct.pred_ids[0, r]) if r >= 0 else None
        m_iou[tid] = float(s.iou[0, r, c]) if r >= 0 else 0.0
    return MatchResult(
        true_ids=np.asarray(true_ids, dtype=np.int64),
        pred_ids=np.asarray(pred_ids, dtype=np.int64),
        iou=s.iou[0][np.ix_(rows, cols)].T.copy(),
        true_to_pred=t2p,
        matched_iou=m_iou,
    )
