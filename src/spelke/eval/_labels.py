"""Label-map machinery shared by the segmentation metrics: batched contingency tables and matching.

Every segmentation metric in :mod:`spelke.eval` is a function of the per-image contingency table
``counts[i, p, t]`` = number of pixels of image ``i`` with predicted label ``p`` and true label ``t``.
:func:`contingency` builds the tables for a whole batch in one vectorised pass (one ``np.bincount`` over
the key ``img * (Kp * Kt) + p * Kt + t``), so no metric ever loops over pixels; only the tiny per-image
Hungarian step loops over images.

Label compaction. With small label values (the usual 0..K-1 slot ids, 0..10 ClevrTex object ids) the
raw values index the table directly. When ``N * (max_pred + 1) * (max_true + 1)`` would exceed
:data:`DENSE_TABLE_LIMIT` entries (sparse or large ids, e.g. 16-bit instance ids), labels are first
compacted over the batch to the ranks of the values that occur (a look-up table for moderate values,
``np.unique`` beyond); if that is still too large (every image uses its own ids), they are compacted per
image. The original label value of every table row/column is kept in ``pred_ids`` / ``true_ids``
(``-1`` marks padding), so results never depend on which path was taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from spelke._checks import as_label_batch, check_same_shape
from spelke.errors import ShapeError

#: Largest dense table (N * Kp * Kt entries, int64) built without compacting the labels first.
DENSE_TABLE_LIMIT = 1 << 22
#: Largest label value compacted with a look-up table (one scatter pass) rather than a sort.
_LUT_LIMIT = 1 << 22


@dataclass(frozen=True)
class Contingency:
    """Per-image contingency tables of a batch of (pred, true) label maps.

    Attributes:
        counts: (N, Kp, Kt) int64; ``counts[i, p, t]`` pixels of image ``i`` with predicted row ``p`` and
            true column ``t``. Rows/columns of labels absent from an image are all zero.
        pred_ids: (N, Kp) int64 original predicted label of each row, ``-1`` for padding rows.
        true_ids: (N, Kt) int64 original true label of each column, ``-1`` for padding columns.
    """

    counts: np.ndarray
    pred_ids: np.ndarray
    true_ids: np.ndarray

    @property
    def pred_sizes(self) -> np.ndarray:
        """(N, Kp) pixel count of every predicted segment."""
        return self.counts.sum(axis=2)

    @property
    def true_sizes(self) -> np.ndarray:
        """(N, Kt) pixel count of every true segment."""
        return self.counts.sum(axis=1)

    def true_is(self, label: int) -> np.ndarray:
        """(N, Kt) bool: columns holding true label ``label``."""
        return self.true_ids == label

    def without_true(self, label: int) -> Contingency:
        """The tables with every pixel of true label ``label`` removed (e.g. 0 for foreground-only)."""
        keep = ~self.true_is(label)
        return Contingency(self.counts * keep[:, None, :], self.pred_ids, self.true_ids)


def as_label_pair(pred: object, true: object, *, video: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (pred, true) pair of label maps and return int64 arrays of shape (N, H, W).

    With ``video=True`` the inputs are (N, T, H, W) (or (T, H, W) as N = 1) and the frames of each video
    are stacked into one (T * H, W) "image", so that every metric scores a video jointly.
    """
    if video:
        p, t = np.asarray(pred), np.asarray(true)
        check_same_shape(p, t)
        if p.ndim == 3:
            p, t = p[None], t[None]
        if p.ndim != 4:
            raise ShapeError(f"video label maps must have shape (N, T, H, W) or (T, H, W), got {p.shape}")
        n, nt, h, w = p.shape
        pred, true = p.reshape(n, nt * h, w), t.reshape(n, nt * h, w)
    else:
        check_same_shape(np.asarray(pred), np.asarray(true))
    return as_label_batch(pred, "pred"), as_label_batch(true, "true")


def _compact_global(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map label values to their ranks among the values present in the batch; return (codes, values)."""
    vmax = int(x.max()) if x.size else 0
    if vmax < _LUT_LIMIT:
        present = np.zeros(vmax + 1, dtype=bool)
        present[x.ravel()] = True
        values = np.flatnonzero(present)
        lut = np.cumsum(present, dtype=np.int64) - 1
        return lut[x], values
    values, codes = np.unique(x, return_inverse=True)
    return codes.reshape(x.shape), values


def _compact_per_image(codes: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compact already globally-compacted codes per image; return (local codes, (N, K) label values)."""
    n = codes.shape[0]
    k = len(values)
    key = codes.reshape(n, -1) + (np.arange(n, dtype=np.int64) * k)[:, None]
    uniq, inv = np.unique(key, return_inverse=True)
    img_of = uniq // k
    start = np.searchsorted(img_of, np.arange(n))
    local_u = np.arange(len(uniq)) - start[img_of]
    width = int(local_u.max()) + 1 if len(uniq) else 1
    ids = np.full((n, width), -1, dtype=np.int64)
    ids[img_of, local_u] = values[uniq % k]
    return local_u[inv.ravel()].reshape(codes.shape), ids


#: Pixels per chunk of the dense path: small enough that each chunk's temporaries stay in cache.
_CHUNK_PIXELS = 1 << 17
#: Interleaved sub-tables per chunk (see :func:`_dense_tables`).
_LANES = 8


def _dense_tables(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None) -> Contingency | None:
    """Dense tables indexed by the raw label values, built chunk by chunk; None if they would be too big.

    Each chunk of images is histogrammed with one ``np.bincount`` over ``img * (kp * kt) + p * kt + t``
    (kp, kt: the chunk's largest labels + 1), its table is copied into the batch table. Working in
    cache-sized chunks is what makes this about as fast as reading the labels once.
    """
    n, hw = pred.shape
    step = max(1, _CHUNK_PIXELS // max(hw, 1))
    parts = []
    offsets: dict[tuple[int, int, type], np.ndarray] = {}
    kp_all = kt_all = 1
    for s in range(0, n, step):
        e = min(n, s + step)
        pc, tc = pred[s:e], true[s:e]
        kp, kt = int(pc.max()) + 1, int(tc.max()) + 1
        kp_all, kt_all = max(kp_all, kp), max(kt_all, kt)
        if n * kp_all * kt_all > DENSE_TABLE_LIMIT:
            return None
        m = e - s
        size = _LANES * m * kp * kt
        # uint16 keys when the chunk's table allows: 4x less memory traffic than int64.
        dt = np.uint16 if size <= np.iinfo(np.uint16).max + 1 else np.int64
        if (m, kp * kt, dt) not in offsets:
            # Pixel j of image i counts into lane j % _LANES of its own table: consecutive pixels of one
            # segment then increment different counters, which breaks bincount's store-to-load chain.
            lane = np.arange(hw, dtype=np.int64) % _LANES
            off = (np.arange(m, dtype=np.int64)[:, None] + lane * m) * (kp * kt)
            offsets[m, kp * kt, dt] = off.astype(dt)
        key = pc.astype(dt)
        key *= dt(kt)
        key += tc.astype(dt)
        key += offsets[m, kp * kt, dt]
        if valid is not None:
            key = key[valid[s:e]]
        lanes = np.bincount(key.ravel(), minlength=size)
        parts.append(lanes.reshape(_LANES, m, kp, kt).sum(axis=0))
    if len(parts) == 1:
        counts = parts[0]
    else:
        counts = np.zeros((n, kp_all, kt_all), dtype=np.int64)
        s = 0
        for part in parts:
            counts[s : s + len(part), : part.shape[1], : part.shape[2]] = part
            s += len(part)
    return Contingency(
        counts,
        np.broadcast_to(np.arange(kp_all, dtype=np.int64), (n, kp_all)),
        np.broadcast_to(np.arange(kt_all, dtype=np.int64), (n, kt_all)),
    )


def contingency(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> Contingency:
    """Contingency tables of a batch of label maps in one vectorised pass.

    Args:
        pred: (N, ...) non-negative integer predicted labels (validated by the caller, e.g. with
            :func:`as_label_pair`).
        true: (N, ...) non-negative integer true labels, same shape.
        valid: optional (N, ...) bool; pixels where it is False are left out of every table.

    Returns:
        The :class:`Contingency` of the batch.

    Examples:
        >>> ct = contingency(np.array([[[0, 0, 1]]]), np.array([[[0, 1, 1]]]))
        >>> ct.counts[0].tolist()
        [[1, 1], [0, 1]]
    """
    if pred.shape != true.shape:
        raise ShapeError(f"pred and true must have the same shape, got {pred.shape} and {true.shape}")
    n = pred.shape[0]
    pred = pred.reshape(n, -1)
    true = true.reshape(n, -1)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.size != pred.size:
            raise ShapeError(f"valid must have the shape of the label maps, got {valid.shape}")
        valid = valid.reshape(n, -1)
    if pred.size:
        dense = _dense_tables(pred, true, valid)
        if dense is not None:
            return dense
    kp = int(pred.max()) + 1 if pred.size else 1
    kt = int(true.max()) + 1 if true.size else 1
    if n * kp * kt > DENSE_TABLE_LIMIT:
        pred, pred_ids = _compact_global(pred)
        true, true_ids = _compact_global(true)
        kp, kt = len(pred_ids), len(true_ids)
        if n * kp * kt > DENSE_TABLE_LIMIT:
            pred, pred_ids = _compact_per_image(pred, pred_ids)
            true, true_ids = _compact_per_image(true, true_ids)
            kp, kt = pred_ids.shape[1], true_ids.shape[1]
    else:
        pred_ids, true_ids = np.arange(kp, dtype=np.int64), np.arange(kt, dtype=np.int64)
    pred_ids = np.broadcast_to(pred_ids, (n, kp)) if pred_ids.ndim == 1 else pred_ids
    true_ids = np.broadcast_to(true_ids, (n, kt)) if true_ids.ndim == 1 else true_ids

    # One key per pixel: image-major, then predicted row, then true column.
    key = pred * kt
    key += true
    key += (np.arange(n, dtype=np.int64) * (kp * kt))[:, None]
    if valid is not None:
        key = key[valid]
    counts = np.bincount(key.ravel(), minlength=n * kp * kt).reshape(n, kp, kt)
    return Contingency(counts, pred_ids, true_ids)


def iou_matrix_from_contingency(counts: np.ndarray) -> np.ndarray:
    """Intersection over union of every (predicted, true) segment pair.

    Args:
        counts: (..., Kp, Kt) contingency table(s).

    Returns:
        float64 array of the same shape; ``|P ∩ T| / |P ∪ T|``, and 0 where both segments are empty.

    Examples:
        >>> iou_matrix_from_contingency(np.array([[2, 0], [1, 1]])).round(3).tolist()
        [[0.667, 0.0], [0.25, 0.5]]
    """
    counts = np.asarray(counts)
    union = counts.sum(axis=-1, keepdims=True) + counts.sum(axis=-2, keepdims=True) - counts
    out = np.zeros(counts.shape, dtype=np.float64)
    np.divide(counts, union, out=out, where=union > 0)
    return out


def dice_matrix_from_contingency(counts: np.ndarray) -> np.ndarray:
    """Dice coefficient ``2 |P ∩ T| / (|P| + |T|)`` of every pair; 0 where both segments are empty."""
    counts = np.asarray(counts)
    total = counts.sum(axis=-1, keepdims=True) + counts.sum(axis=-2, keepdims=True)
    out = np.zeros(counts.shape, dtype=np.float64)
    np.divide(2 * counts, total, out=out, where=total > 0)
    return out


def hungarian(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-total-score one-to-one assignment (Kuhn-Munkres) of the rows and columns of ``score``.

    A thin wrapper over ``scipy.optimize.linear_sum_assignment(score, maximize=True)`` that also accepts
    an empty matrix. For a rectangular matrix, ``min(rows, cols)`` pairs are returned. When several
    assignments reach the same maximum the total is unique but which pairs are returned is SciPy's
    (deterministic) choice.

    Args:
        score: (R, C) matrix, e.g. an IoU matrix.

    Returns:
        ``(rows, cols)`` index arrays of the matched pairs, rows ascending.

    Examples:
        >>> hungarian(np.array([[0.1, 0.9], [0.8, 0.2]]))
        (array([0, 1]), array([1, 0]))
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 2:
        raise ShapeError(f"score must be a 2-D matrix, got shape {score.shape}")
    if 0 in score.shape:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    rows, cols = linear_sum_assignment(score, maximize=True)
    return rows, cols
