"""Video object segmentation protocols: DAVIS 2016, SegTrackv2, FBMS-59, their oracles, DAVIS 2017
unsupervised, and MOVi-style multi-object scoring.

All read one prediction file per annotated frame, ``<pred>/<seq>/<frame>.png`` (``.npz`` for soft), and
ground truth in the DAVIS tree, the SegTrackv2 tree or a plain ``<gt>/<seq>/<frame>.png`` tree
(:func:`~spelke.eval.protocols.base.find_sequence_gt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spelke.data.io import read_label_map, read_soft_mask
from spelke.errors import ConfigError, DataLayoutError, FileFormatError
from spelke.eval.binary import boundary_f, jaccard
from spelke.eval.davis import davis2017_unsupervised, davis_statistics
from spelke.eval.protocols.base import (
    ANNOTATION_DIRS,
    EvalResult,
    ItemScore,
    ProgressFn,
    Protocol,
    SequenceGT,
    find_frame_image,
    find_prediction,
    find_sequence_gt,
    iter_with_progress,
    list_prediction_stems,
    match_shape,
    natural_key,
    no_progress,
    note_extra,
    prediction_root,
    report_missing,
)
from spelke.eval.segmentation import ari, fg_ari, fg_ari_video, miou, miou_gt

FRAME_SELECTIONS = ("all", "no-first", "no-first-last", "gwm")


def mean_of(rows: list[dict[str, Any]], key: str) -> float:
    """Mean of ``row[key]`` over rows, leaving out NaN (undefined) values; NaN if none is defined."""
    v = np.array([r[key] for r in rows], dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def select_frames(stems: list[str], how: str) -> list[str]:
    """Which annotated frames a sequence contributes.

    ``all``: every annotated frame (davis2017-evaluation's unsupervised task). ``no-first``: drop the
    first. ``no-first-last``: drop the first and last (DAVIS semi-supervised convention).
    ``gwm``: frames whose number is greater than 1, as the GWM/LRTL evaluation code selects them.
    """
    if how == "all":
        return stems
    if how == "no-first":
        return stems[1:]
    if how == "no-first-last":
        return stems[1:-1]
    if how == "gwm":
        try:
            return [s for s in stems if int(s) > 1]
        except ValueError:
            raise ConfigError(
                "frames=gwm selects frames by number (> 1) and needs numeric frame names like 00042; "
                f"got names like {stems[0]!r}"
            ) from None
    raise ConfigError(f"frames must be one of {', '.join(FRAME_SELECTIONS)}; got {how!r}")


def read_gt_labels(seq: SequenceGT, stem: str, void: int | None = None) -> np.ndarray:
    """Ground-truth label map of one frame; SegTrackv2 multi-object folders become ids 1..K."""
    if seq.object_dirs is None:
        lab = read_label_map(seq.frames[stem])
    else:
        lab = None
        for k, d in enumerate(seq.object_dirs, start=1):
            f = next((p for p in d.glob(f"{stem}.*") if p.is_file()), None)
            if f is None:
                continue
            m = read_label_map(f) > 0
            if lab is None:
                lab = np.zeros(m.shape, np.int64)
            lab[m & (lab == 0)] = k
        if lab is None:
            raise FileFormatError(f"no annotation for frame {stem} in any object folder of {seq.name}")
    if void is not None:
        lab = np.where(lab == void, 0, lab)
    return lab


class _SequenceProtocol(Protocol):
    """Shared frame iteration: find GT, match prediction files, report missing/extra by name."""

    split_year: ClassVar[str | None] = None
    annotation_dirs: ClassVar[tuple[str, ...]] = ANNOTATION_DIRS
    pred_layout = "<pred>/<seq>/<frame>.png (one file per annotated frame, same names as the annotations)"

    def _pairs(self, pred: Path, gt: Path, opts: dict[str, Any]):
        pred_root = prediction_root(pred)
        split = opts.get("split")
        seqs = find_sequence_gt(
            gt,
            None if split in (None, "none", "all") else split,
            self.split_year,
            self._annotation_dirs(gt, opts),
        )
        todo: list[tuple[SequenceGT, list[tuple[str, Path | None]]]] = []
        missing: list[str] = []
        used: set[str] = set()
        for seq in seqs:
            stems = select_frames(sorted(seq.frames, key=natural_key), opts.get("frames", "all"))
            frames = [(s, find_prediction(pred_root, f"{seq.name}/{s}", self.reads)) for s in stems]
            todo.append((seq, frames))
            missing += [f"{seq.name}/{s}" for s, p in frames if p is None]
            used.update(f"{seq.name}/{s}" for s in seq.frames)
        notes = [
            n
            for n in (report_missing(missing, pred_root, self.pred_layout, opts.get("allow_missing", False)),)
            if n
        ]
        extra = note_extra(list_prediction_stems(pred_root) - used)
        if extra:
            notes.append(extra)
        return todo, notes

    def _annotation_dirs(self, gt: Path, opts: dict[str, Any]) -> tuple[str, ...]:
        """The annotation folders to search: the protocol's default order, or the ``annotations`` option
        (a folder under the ground-truth root, e.g. ``AnnotationsMoving`` from
        :func:`spelke.synth.moving_gt.write_moving_annotations`; its ``480p`` level is used if present)."""
        name = opts.get("annotations")
        if name in (None, "", "none"):
            return self.annotation_dirs
        name = str(name).strip("/")
        if not (gt / name).is_dir():
            raise DataLayoutError(
                f"annotations={name!r}: there is no folder {gt / name}; name a folder under the ground-truth "
                "root holding <seq>/<frame>.png (omit the option for the default "
                f"search order {', '.join(self.annotation_dirs)})"
            )
        return (f"{name}/480p", name)

    def _frames(self, seq: SequenceGT, frames: list[tuple[str, Path | None]], opts: dict[str, Any]):
        """Yield (stem, ground-truth labels, prediction path, prediction, resized?) for each frame."""
        for s, path in frames:
            true = read_gt_labels(seq, s)
            pred, resized = self._read_pred(path, true.shape, f"{seq.name}/{s}", opts)
            yield s, true, path, pred, resized

    def _read_pred(self, path: Path | None, shape: tuple[int, int], key: str, opts: dict[str, Any]):
        """Read one prediction; returns (array, resized?) — labels (H,W) or soft (K,H,W)."""
        if path is None:  # allowed missing: an empty prediction
            return np.zeros(shape, np.int64), False
        if path.suffix == ".npz":
            return match_shape(read_soft_mask(path), shape, key, opts.get("resize", "none"), soft=True)
        return match_shape(read_label_map(path), shape, key, opts.get("resize", "none"))


class BinaryVideoProtocol(_SequenceProtocol):
    """Binary foreground J (and F): objects merged into one foreground, per-frame scores."""

    reads = ("binary",)
    boundary: ClassVar[bool] = False
    headline_key: ClassVar[str] = "J_frame_mean"
    options: ClassVar[dict[str, Any]] = {
        "split": None,
        "frames": "all",
        "resize": "none",
        "allow_missing": False,
        "bound_th": 0.008,
        "annotations": None,
    }

    def frame_score(self, pred: np.ndarray, fg: np.ndarray, opts: dict[str, Any]) -> np.ndarray:
        """J for one frame: prediction nonzero = foreground."""
        return jaccard((pred > 0)[None], fg[None])

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        todo, notes = self._pairs(Path(pred), Path(gt), opts)
        per_frame: list[dict[str, Any]] = []
        per_seq: list[dict[str, Any]] = []
        items: list[ItemScore] = []
        n_resized = 0
        for seq, stems in iter_with_progress(todo, progress, f"{self.name}: sequences"):
            js, fs = [], []
            for s, true, path, p, resized in self._frames(seq, stems, opts):
                fg = true > 0
                n_resized += resized
                j = float(self.frame_score(p, fg, opts)[0])
                row: dict[str, Any] = {"sequence": seq.name, "frame": s, "J": j}
                if self.boundary:
                    pb = p > 0.5 if p.dtype.kind == "f" else p > 0
                    f = float(boundary_f(pb[None], fg[None], bound_th=opts["bound_th"])[0])
                    row["F"] = f
                    fs.append(f)
                js.append(j)
                per_frame.append(row)
                items.append(
                    ItemScore(
                        f"{seq.name}/{s}",
                        j,
                        seq.frames[s] if seq.object_dirs is None else None,
                        path,
                        find_frame_image(seq.image_dir, s),
                    )
                )
            srow: dict[str, Any] = {"sequence": seq.name, "frames": len(js)}
            for name, vals in (("J", js), ("F", fs)) if self.boundary else (("J", js),):
                st = davis_statistics(np.asarray(vals, dtype=np.float64))
                srow.update(
                    {f"{name}_mean": st["mean"], f"{name}_recall": st["recall"], f"{name}_decay": st["decay"]}
                )
            per_seq.append(srow)
        summary = self._summarise(per_seq, per_frame)
        if n_resized:
            notes.append(
                f"{n_resized} prediction(s) resized to the annotation size (resize={opts['resize']})"
            )
        return EvalResult(
            self.name,
            self.version,
            summary,
            {"per_sequence": per_seq, "per_frame": per_frame},
            items,
            notes,
            opts,
            self.headline_key,
        )

    def _summarise(self, per_seq, per_frame) -> dict[str, float]:
        out = {
            "J_frame_mean": mean_of(per_frame, "J"),
            "J_seq_mean": mean_of(per_seq, "J_mean"),
            "J_recall": mean_of(per_seq, "J_recall"),
            "J_decay": mean_of(per_seq, "J_decay"),
        }
        if self.boundary:
            out.update(
                {
                    "F_seq_mean": mean_of(per_seq, "F_mean"),
                    "F_recall": mean_of(per_seq, "F_recall"),
                    "F_decay": mean_of(per_seq, "F_decay"),
                }
            )
            out["J&F_seq_mean"] = (out["J_seq_mean"] + out["F_seq_mean"]) / 2
        out["sequences"] = len(per_seq)
        out["frames"] = len(per_frame)
        return out


class Davis2016(BinaryVideoProtocol):
    """DAVIS 2016: J and F mean/recall/decay per sequence, then the mean over sequences."""

    name = "davis2016"
    summary = "DAVIS 2016 binary VOS: J and F (mean/recall/decay) per sequence, mean over sequences"
    boundary = True
    split_year = "2016"
    headline_key = "J_seq_mean"
    options: ClassVar[dict[str, Any]] = {**BinaryVideoProtocol.options, "split": "val"}
    gt_layout = "DAVIS tree: <gt>/Annotations/480p/<seq>/<frame>.png, <gt>/ImageSets/2016/val.txt"

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        # The val list is used when the tree has one; a tree without ImageSets scores every sequence.
        if "split" not in options and not _has_split(Path(gt), "val", self.split_year):
            options = {**options, "split": None}
        return super().evaluate(pred, gt, progress=progress, **options)


def _has_split(gt: Path, split: str, year: str | None) -> bool:
    return any((gt / "ImageSets" / y / f"{split}.txt").is_file() for y in ([year] if year else []) + [""])


class SegTrackV2(BinaryVideoProtocol):
    """SegTrackv2: all objects merged into one foreground; frame average (headline) and sequence average."""

    name = "segtrackv2"
    summary = "SegTrackv2 binary: objects merged into one foreground, J frame and sequence averages"
    gt_layout = "<gt>/GroundTruth/<seq>[/<object>]/<frame>.png, or a DAVIS/plain tree"


class FBMS59(BinaryVideoProtocol):
    """FBMS-59: sparse annotations (every 20th frame); only annotated frames are scored."""

    name = "fbms59"
    summary = "FBMS-59 binary: objects merged, annotated frames only, J frame and sequence averages"
    gt_layout = "<gt>/Annotations/<seq>/<frame>.png for the annotated frames (DAVIS-style tree), or plain"


class _OracleMixin:
    """GT-chosen foreground from a multi-segment prediction (labels PNG or soft .npz)."""

    reads = ("labels", "soft")
    oracle = True

    def segments(self, pred: np.ndarray) -> np.ndarray:
        """(S, H, W) boolean segments: one per label id, or per soft channel thresholded at 0.5."""
        if pred.ndim == 3:  # soft (K, H, W): GWM thresholds each upsampled soft mask at 0.5
            return pred > 0.5
        ids = np.unique(pred)
        return pred[None] == ids[:, None, None]


class GWMOracle(_OracleMixin):
    """Per frame, the predicted segment with the highest IoU against the foreground (GWM's evaluation)."""

    def frame_score(self, pred, fg, opts):
        segs = self.segments(pred)
        return np.array([jaccard(segs, np.broadcast_to(fg, segs.shape)).max()])


class LRTLOracle(_OracleMixin):
    """Per frame, Hungarian assignment of predicted segments to {background, foreground} (LRTL)."""

    def frame_score(self, pred, fg, opts):
        from scipy.optimize import linear_sum_assignment

        segs = self.segments(pred)
        s = segs.shape[0]
        j_fg = jaccard(segs, np.broadcast_to(fg, segs.shape))
        j_bg = jaccard(segs, np.broadcast_to(~fg, segs.shape))
        if s == 1:
            return np.array([j_fg[0]])
        gain = np.stack([j_bg, j_fg], axis=1)  # (S, 2): column 0 = background, 1 = foreground
        rows, cols = linear_sum_assignment(gain, maximize=True)
        return np.array([j_fg[rows[cols == 1][0]]])


def _oracle(base: type[BinaryVideoProtocol], mixin: type, suffix: str, what: str, frames: str) -> type:
    cls = type(
        f"{base.__name__}{mixin.__name__}",
        (mixin, base),
        {
            "name": f"{base.name}-oracle-{suffix}",
            "summary": f"ORACLE: {base.name} J with {what}",
            "options": {**base.options, "frames": frames},
            "boundary": False,  # the papers' oracles report J only
            "headline_key": "J_seq_mean" if base is Davis2016 else "J_frame_mean",
            "__doc__": f"{base.__doc__} Oracle: {mixin.__doc__}",
        },
    )
    return cls


ORACLES = [
    _oracle(b, m, s, w, fr if b is Davis2016 else "all")
    for b in (Davis2016, SegTrackV2, FBMS59)
    for m, s, w, fr in (
        (GWMOracle, "gwm", "the best-matching predicted segment per frame (GWM)", "gwm"),
        (LRTLOracle, "lrtl", "Hungarian assignment of segments to fg/bg per frame (LRTL)", "all"),
    )
]


class Davis2017Unsupervised(_SequenceProtocol):
    """DAVIS 2017 unsupervised: up to 20 proposals per sequence, Hungarian matching of proposals to
    objects on sequence-mean (J+F)/2, J and F statistics pooled over all objects."""

    name = "davis2017-unsupervised"
    summary = "DAVIS 2017 unsupervised multi-object J&F (<=20 proposals, Hungarian on sequence means)"
    reads = ("labels",)
    split_year = "2017"
    # the official release keeps the unsupervised task's annotations apart from the semi-supervised ones
    annotation_dirs = ("Annotations_unsupervised/480p", "Annotations_unsupervised", *ANNOTATION_DIRS)
    options: ClassVar[dict[str, Any]] = {
        "split": "val",
        "frames": "all",
        "resize": "none",
        "allow_missing": False,
        "max_proposals": 20,
        "void": 255,
        "objects": "first_frame",
        "annotations": None,
    }
    gt_layout = (
        "DAVIS 2017 tree: <gt>/Annotations_unsupervised/480p/<seq>/<frame>.png (palette ids; Annotations/ if "
        "absent), ImageSets/2017/val.txt"
    )
    pred_layout = "<pred>/<seq>/<frame>.png: proposal ids (0 = no proposal), at most 20 per sequence"

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        if "split" not in options and not _has_split(Path(gt), "val", self.split_year):
            options = {**options, "split": None}
        opts = self.resolve_options(options)
        todo, notes = self._pairs(Path(pred), Path(gt), opts)
        per_obj: list[dict[str, Any]] = []
        per_seq: list[dict[str, Any]] = []
        items: list[ItemScore] = []
        for seq, stems in iter_with_progress(todo, progress, f"{self.name}: sequences"):
            trues, preds = [], []
            for _, t, _, p, _ in self._frames(seq, stems, opts):
                trues.append(t)
                preds.append(p)
            res = davis2017_unsupervised(
                np.stack(preds),
                np.stack(trues),
                max_proposals=opts["max_proposals"],
                void_label=opts["void"],
                objects=opts["objects"],
            )
            seq_j, seq_f = [], []
            for obj_id, j, f in zip(res.object_ids, res.j, res.f, strict=True):
                sj, sf = davis_statistics(j), davis_statistics(f)
                per_obj.append(
                    {
                        "sequence": seq.name,
                        "object": int(obj_id),
                        "proposal": res.proposal_for(obj_id),
                        "J_mean": sj["mean"],
                        "J_recall": sj["recall"],
                        "J_decay": sj["decay"],
                        "F_mean": sf["mean"],
                        "F_recall": sf["recall"],
                        "F_decay": sf["decay"],
                    }
                )
                seq_j.append(sj["mean"])
                seq_f.append(sf["mean"])
            jm, fm = (
                float(np.mean(seq_j)) if seq_j else float("nan"),
                float(np.mean(seq_f)) if seq_f else float("nan"),
            )
            per_seq.append(
                {
                    "sequence": seq.name,
                    "frames": len(stems),
                    "objects": len(seq_j),
                    "J_mean": jm,
                    "F_mean": fm,
                    "J&F_mean": (jm + fm) / 2,
                }
            )
            items.append(ItemScore(seq.name, (jm + fm) / 2))

        summary = {
            k: mean_of(per_obj, k) for k in ("J_mean", "J_recall", "J_decay", "F_mean", "F_recall", "F_decay")
        }
        summary["J&F_mean"] = (summary["J_mean"] + summary["F_mean"]) / 2
        summary["sequences"] = len(per_seq)
        summary["objects"] = len(per_obj)
        return EvalResult(
            self.name,
            self.version,
            summary,
            {"per_sequence": per_seq, "per_object": per_obj},
            items,
            notes,
            opts,
            "J&F_mean",
        )


class Movi(_SequenceProtocol):
    """MOVi-style multi-object scoring: FG-ARI, ARI and mIoU per frame, averaged over all frames;
    plus video FG-ARI (all frames of a clip jointly, as SAVi) averaged over clips."""

    name = "movi"
    summary = "multi-object video: per-frame FG-ARI, ARI, mIoU (ClevrTex convention); video FG-ARI (SAVi)"
    reads = ("labels", "soft")
    options: ClassVar[dict[str, Any]] = {
        "split": None,
        "frames": "all",
        "resize": "none",
        "allow_missing": False,
        "annotations": None,
    }
    gt_layout = (
        "spelke/DAVIS tree: <gt>/Annotations/<seq>/<frame>.png (instance ids stable over the clip, 0 = bg)"
    )

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        todo, notes = self._pairs(Path(pred), Path(gt), opts)
        per_frame: list[dict[str, Any]] = []
        per_seq: list[dict[str, Any]] = []
        items: list[ItemScore] = []
        for seq, stems in iter_with_progress(todo, progress, f"{self.name}: clips"):
            trues, preds, paths = [], [], []
            for _, t, path, p, _ in self._frames(seq, stems, opts):
                if p.ndim == 3:  # soft (K, H, W): hard argmax, as the ClevrTex evaluator does
                    p = p.argmax(0)
                trues.append(t)
                preds.append(p)
                paths.append(path)
            T, P = np.stack(trues), np.stack(preds)
            f_ari, a, m, mg = fg_ari(P, T), ari(P, T), miou(P, T), miou_gt(P, T)
            for (s, _), path, v1, v2, v3, v4 in zip(stems, paths, f_ari, a, m, mg, strict=True):
                per_frame.append(
                    {"sequence": seq.name, "frame": s, "fg_ari": v1, "ari": v2, "miou": v3, "miou_gt": v4}
                )
                items.append(
                    ItemScore(
                        f"{seq.name}/{s}", float(v3), seq.frames[s], path, find_frame_image(seq.image_dir, s)
                    )
                )
            v_fg = float(fg_ari_video(P[None], T[None])[0])
            per_seq.append(
                {
                    "sequence": seq.name,
                    "frames": len(stems),
                    "fg_ari": mean_of([{"v": x} for x in f_ari], "v"),  # NaN-safe: a clip may lack foreground
                    "ari": float(a.mean()),
                    "miou": float(m.mean()),
                    "fg_ari_video": v_fg,
                }
            )

        summary = {k: mean_of(per_frame, k) for k in ("fg_ari", "ari", "miou", "miou_gt")}
        summary["fg_ari_video"] = mean_of(per_seq, "fg_ari_video")
        summary["frames_without_foreground"] = int(sum(np.isnan(r["fg_ari"]) for r in per_frame))
        summary["sequences"] = len(per_seq)
        summary["frames"] = len(per_frame)
        return EvalResult(
            self.name,
            self.version,
            summary,
            {"per_sequence": per_seq, "per_frame": per_frame},
            items,
            notes,
            opts,
            "fg_ari",
        )


PROTOCOL_CLASSES: list[type[Protocol]] = [
    Davis2016,
    SegTrackV2,
    FBMS59,
    *ORACLES,
    Davis2017Unsupervised,
    Movi,
]
