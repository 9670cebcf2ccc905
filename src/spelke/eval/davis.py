"""DAVIS video-object statistics and the DAVIS 2017 unsupervised (multi-object) evaluation of one sequence.

References: Perazzi et al., CVPR 2016 (J, F; mean, recall, decay); Pont-Tuset et al., arXiv:1704.00675
(DAVIS 2017); Caelles et al., arXiv:1905.00737 (the unsupervised track: up to 20 object proposals per
sequence, matched to the annotated objects). Semantics follow the public ``davis2017-evaluation`` code
(``utils.db_statistics``, ``DAVISEvaluation._evaluate_unsupervised``), re-implemented here; the places
where we deliberately differ are listed in docs/fidelity.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from spelke._checks import as_label_batch, check_same_shape
from spelke.errors import ShapeError
from spelke.eval.accumulators import Accumulator
from spelke.eval.binary import _f_from_counts, boundary_map, boundary_radius, dilate_disk

__all__ = [
    "Davis2017Accumulator",
    "Davis2017SequenceResult",
    "davis2017_unsupervised",
    "davis_decay_bins",
    "davis_statistics",
]


def davis_decay_bins(n_frames: int, n_bins: int = 4) -> list[tuple[int, int]]:
    """Frame-index ranges ``[start, stop)`` of the DAVIS decay bins.

    As ``db_statistics``: bin edges ``e_i = round(linspace(1, T, n_bins + 1)) - 1`` (halves rounded up),
    bin ``i`` holds frames ``e_i .. e_{i+1}`` *inclusive*, so neighbouring bins share their edge frame.

    Examples:
        >>> davis_decay_bins(10)
        [(0, 3), (2, 6), (5, 8), (7, 10)]
    """
    if n_frames <= 0:
        return [(0, 0)] * n_bins
    # np.round is round-half-to-even; the +1e-10 (as in DAVIS) makes exact halves round up.
    edges = np.round(np.linspace(1, n_frames, n_bins + 1) + 1e-10).astype(np.int64) - 1
    return [(int(edges[i]), int(edges[i + 1]) + 1) for i in range(n_bins)]


def davis_statistics(scores: object, n_bins: int = 4) -> dict[str, float]:
    """Mean, recall and decay of per-frame scores (J or F) of one object, as DAVIS ``db_statistics``.

    - ``mean``: mean over frames, NaN frames left out.
    - ``recall``: fraction of frames with score > 0.5; a NaN frame counts as a miss (it stays in the
      denominator), exactly as ``nanmean(scores > 0.5)`` does in davis2017-evaluation.
    - ``decay``: mean of the first bin minus mean of the last bin (NaN left out), bins from
      :func:`davis_decay_bins` (4 bins, ~quarters, sharing edge frames). One frame gives decay 0.

    Empty input gives NaN for all three. (davis2017-evaluation stores the bin edges as uint8, which
    wraps for sequences longer than 256 frames; we do not.)

    Args:
        scores: (T,) per-frame scores in frame order.
        n_bins: number of decay bins (DAVIS: 4).

    Returns:
        ``{"mean": M, "recall": R, "decay": D}`` as floats.

    Examples:
        >>> davis_statistics([1.0, 1.0, 0.0, 0.0])
        {'mean': 0.5, 'recall': 0.5, 'decay': 1.0}
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    nan = float("nan")
    if s.size == 0:
        return {"mean": nan, "recall": nan, "decay": nan}

    def nanmean(x: np.ndarray) -> float:
        x = x[~np.isnan(x)]
        return float(x.mean()) if x.size else nan

    bins = davis_decay_bins(s.size, n_bins)
    first, last = s[slice(*bins[0])], s[slice(*bins[-1])]
    with np.errstate(invalid="ignore"):
        hits = s > 0.5
    return {
        "mean": nanmean(s),
        "recall": float(hits.mean()),
        "decay": nanmean(first) - nanmean(last),
    }


@dataclass
class Davis2017SequenceResult:
    """Per-object, per-frame J and F of one sequence after matching proposals to objects.

    Attributes:
        object_ids: (O,) ground-truth object ids, ascending.
        proposal_ids: (O,) proposal id matched to each object; 0 means the object was matched to an
            empty padding proposal (fewer proposals than objects).
        j: (O, T) per-frame region similarity of each object with its matched proposal.
        f: (O, T) per-frame contour accuracy likewise.
        frames: (T,) indices (into the input) of the evaluated frames.
        score_matrix: (P', O) sequence-mean (J + F) / 2 of every (proposal, object) pair that the
            Hungarian matching maximised; row ``i`` is proposal id ``i + 1`` (rows beyond the largest
            proposal id are empty padding proposals).
    """

    object_ids: np.ndarray
    proposal_ids: np.ndarray
    j: np.ndarray
    f: np.ndarray
    frames: np.ndarray
    score_matrix: np.ndarray

    def proposal_for(self, object_id: int) -> int:
        """Proposal id matched to ``object_id`` (0 = empty padding proposal)."""
        hit = np.flatnonzero(self.object_ids == object_id)
        if hit.size == 0:
            raise KeyError(
                f"object {object_id} is not among the evaluated objects {self.object_ids.tolist()}"
            )
        return int(self.proposal_ids[hit[0]])

    def per_object(self) -> list[dict[str, Any]]:
        """One row per object: ids and J/F mean, recall, decay (:func:`davis_statistics`)."""
        rows = []
        for k, oid in enumerate(self.object_ids):
            sj, sf = davis_statistics(self.j[k]), davis_statistics(self.f[k])
            rows.append(
                {
                    "object": int(oid),
                    "proposal": int(self.proposal_ids[k]),
                    **{f"J_{n}": v for n, v in sj.items()},
                    **{f"F_{n}": v for n, v in sf.items()},
                }
            )
        return rows

    def summary(self) -> dict[str, float]:
        """Means over this sequence's objects of the per-object statistics, and J&F_mean."""
        rows = self.per_object()
        keys = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
        out = {k: float(np.mean([r[k] for r in rows])) if rows else float("nan") for k in keys}
        out["J&F_mean"] = (out["J_mean"] + out["F_mean"]) / 2
        out["objects"] = len(rows)
        return out


def _pairwise_j_f(
    pred: np.ndarray, true: np.ndarray, n_prop: int, n_obj: int, keep: np.ndarray | None, bound_th: float
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every (proposal 1..n_prop, object 1..n_obj) pair in every frame: (P, O, T) each.

    J from one joint histogram per frame; F from boundary maps of each proposal/object computed once
    and pairwise matched-pixel counts as matrix products (no per-pair dilation).
    """
    t_len, h, w = true.shape
    if keep is not None:  # void pixels: out of J counts; background for boundaries (DAVIS)
        pred = np.where(keep, pred, 0)
        true = np.where(keep, true, 0)
        weights = keep.reshape(t_len, -1).astype(np.float64)
    kp, ko = n_prop + 1, n_obj + 1
    key = (
        np.arange(t_len)[:, None] * (kp * ko) + pred.reshape(t_len, -1) * ko + true.reshape(t_len, -1)
    ).ravel()
    hist = np.bincount(key, weights=None if keep is None else weights.ravel(), minlength=t_len * kp * ko)
    hist = hist.reshape(t_len, kp, ko)
    area_p = hist.sum(axis=2)[:, 1:]  # (T, P)
    area_o = hist.sum(axis=1)[:, 1:]  # (T, O)
    inter = hist[:, 1:, 1:]  # (T, P, O)
    union = area_p[:, :, None] + area_o[:, None, :] - inter
    j = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)

    radius = boundary_radius((h, w), bound_th)
    ids_p = np.arange(1, kp)
    ids_o = np.arange(1, ko)
    f = np.empty((t_len, n_prop, n_obj))
    for t in range(t_len):  # one frame at a time keeps memory at (P + O) * H * W
        bp = boundary_map(pred[t][None] == ids_p[:, None, None])  # (P, H, W)
        bo = boundary_map(true[t][None] == ids_o[:, None, None])  # (O, H, W)
        dp = dilate_disk(bp, radius).reshape(n_prop, -1).astype(np.float64)
        do = dilate_disk(bo, radius).reshape(n_obj, -1).astype(np.float64)
        bpf = bp.reshape(n_prop, -1).astype(np.float64)
        bof = bo.reshape(n_obj, -1).astype(np.float64)
        pred_hit = bpf @ do.T  # (P, O): proposal boundary pixels near the object's boundary
        true_hit = dp @ bof.T  # (P, O): object boundary pixels near the proposal's boundary
        n_p = bpf.sum(axis=1)[:, None]
        n_o = bof.sum(axis=1)[None, :]
        f[t] = _f_from_counts(n_p, n_o, np.rint(pred_hit), np.rint(true_hit))
    return j.transpose(1, 2, 0), f.transpose(1, 2, 0)


def davis2017_unsupervised(
    pred_labels: object,
    true_labels: object,
    max_proposals: int = 20,
    *,
    frames: Literal["all", "drop_first_last"] = "all",
    objects: Literal["first_frame", "all_frames"] = "first_frame",
    void_label: int | None = 255,
    void: Literal["background", "ignore"] = "background",
    bound_th: float = 0.008,
) -> Davis2017SequenceResult:
    """DAVIS 2017 unsupervised evaluation of ONE sequence (davis2017-evaluation ``--task unsupervised``).

    Proposals are the ids ``1..max(pred_labels)`` (an id that never occurs is an empty proposal), objects
    the ids ``1..max(true_labels[0])`` (the annotated objects of the first frame, as the official loader
    reads them). If there are fewer proposals than objects, empty proposals are added. For every
    (proposal, object) pair, J and F are computed in every evaluated frame; the Hungarian algorithm
    (scipy ``linear_sum_assignment``) then assigns one distinct proposal to each object, maximising the
    sum over objects of the sequence-mean (J + F) / 2. The matched pairs' per-frame J and F are returned
    in object order.

    Note that an object matched to an empty (padding) proposal scores 0 only in frames where the object
    is visible; in frames where it is absent both masks are empty and J = F = 1, as in the official code.

    Args:
        pred_labels: (T, H, W) proposal ids, 0 = no proposal.
        true_labels: (T, H, W) object ids, 0 = background.
        max_proposals: the track's limit (20). More proposal ids raise a ShapeError.
        frames: ``"all"`` (default) evaluates every frame, as the official unsupervised task does;
            ``"drop_first_last"`` drops the first and last frame, as its semi-supervised task does.
        objects: ``"first_frame"`` (official) takes objects ``1..max`` id of the first frame;
            ``"all_frames"`` takes ``1..max`` id over the whole sequence.
        void_label: ground-truth value marking void pixels (DAVIS: 255); ``None`` if there is none.
        void: ``"background"`` (official behaviour: its loader maps 255 to 0 and its void masks are then
            never used) or ``"ignore"``: void pixels are left out of J and set to background in both
            masks before boundaries are taken (``db_eval_iou``/``db_eval_boundary`` ``void_pixels``).
        bound_th: boundary tolerance of :func:`spelke.eval.binary.boundary_f`.

    Returns:
        :class:`Davis2017SequenceResult`.

    Raises:
        ShapeError: on shape mismatch, or more than ``max_proposals`` proposal ids.
    """
    pred = as_label_batch(pred_labels, "pred_labels")
    true = as_label_batch(true_labels, "true_labels")
    check_same_shape(pred, true, ("pred_labels", "true_labels"))
    if frames not in ("all", "drop_first_last"):
        raise ShapeError(f"frames must be 'all' or 'drop_first_last', got {frames!r}")
    if objects not in ("first_frame", "all_frames"):
        raise ShapeError(f"objects must be 'first_frame' or 'all_frames', got {objects!r}")
    if void not in ("background", "ignore"):
        raise ShapeError(f"void must be 'background' or 'ignore', got {void!r}")

    keep = None
    if void_label is not None:
        is_void = true == void_label
        if void == "ignore" and is_void.any():
            keep = ~is_void
        true = np.where(is_void, 0, true)

    n_prop = int(pred.max()) if pred.size else 0
    if n_prop > max_proposals:
        n_distinct = int(np.unique(pred[pred > 0]).size)
        raise ShapeError(
            f"pred_labels has proposal ids up to {n_prop} ({n_distinct} distinct), but the DAVIS 2017 "
            f"unsupervised track allows at most max_proposals={max_proposals}; keep the best "
            f"{max_proposals} proposals and relabel them 1..{max_proposals} (ids count up to the largest id)"
        )
    if objects == "first_frame":
        n_obj = int(true[0].max()) if true.shape[0] else 0
    else:
        n_obj = int(true.max()) if true.size else 0
    true = np.where(true > n_obj, 0, true)  # ids the official loader never reads become background

    idx = np.arange(true.shape[0])
    if frames == "drop_first_last":
        idx = idx[1:-1]
    pred, true = pred[idx], true[idx]
    if keep is not None:
        keep = keep[idx]

    n_rows = max(n_prop, n_obj)  # padding proposals are ids n_prop+1..n_obj, never present
    if n_obj == 0 or idx.size == 0:
        empty = np.zeros((n_obj, idx.size))
        return Davis2017SequenceResult(
            np.arange(1, n_obj + 1),
            np.zeros(n_obj, np.int64),
            empty,
            empty.copy(),
            idx,
            np.zeros((n_rows, n_obj)),
        )
    j, f = _pairwise_j_f(pred, true, n_rows, n_obj, keep, bound_th)  # (P', O, T)
    score = (j.mean(axis=2) + f.mean(axis=2)) / 2
    rows, cols = linear_sum_assignment(-score)
    order = np.argsort(cols)
    rows, cols = rows[order], cols[order]
    proposal_ids = np.where(rows + 1 <= n_prop, rows + 1, 0).astype(np.int64)
    return Davis2017SequenceResult(
        object_ids=np.arange(1, n_obj + 1),
        proposal_ids=proposal_ids,
        j=j[rows, cols],
        f=f[rows, cols],
        frames=idx,
        score_matrix=score,
    )


class Davis2017Accumulator(Accumulator):
    """Dataset-level DAVIS 2017 summary from per-sequence results, as davis2017-evaluation reports it.

    Every object of every sequence contributes one J and one F statistic triple (mean, recall, decay);
    the global ``J_mean`` etc. are plain means over *objects* (not over sequences), and
    ``J&F_mean = (J_mean + F_mean) / 2``.
    """

    def reset(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def update(self, result: Davis2017SequenceResult, sequence: str = "") -> None:
        """Add the objects of one sequence's result."""
        for r in result.per_object():
            self.rows.append({"sequence": sequence, **r})

    def compute(self) -> dict[str, Any]:
        keys = ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
        out: dict[str, Any] = {
            k: float(np.mean([r[k] for r in self.rows])) if self.rows else float("nan") for k in keys
        }
        out["J&F_mean"] = (out["J_mean"] + out["F_mean"]) / 2
        out["objects"] = len(self.rows)
        out["sequences"] = len({r["sequence"] for r in self.rows})
        return out
