"""Image protocols on plain layouts: saliency (ECSSD / DUTS / DUT-OMRON style), CorLoc (VOC07 / VOC12 /
COCO20k style) and unsupervised semantic segmentation (cluster-to-class matching).

Readers for the VOC, COCO20k, ECSSD and DUTS trees come with the methods that need them; these
protocols read plain layouts: one PNG per image, boxes as COCO-style JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from spelke.data.io import read_label_map, read_soft_mask
from spelke.errors import ConfigError, DataLayoutError, FileFormatError
from spelke.eval.binary import jaccard, pixel_accuracy
from spelke.eval.detection import CorLocAccumulator, corloc, largest_component_box
from spelke.eval.protocols.base import (
    EvalResult,
    ItemScore,
    ProgressFn,
    Protocol,
    iter_with_progress,
    list_images,
    no_progress,
    note_extra,
    prediction_root,
    report_missing,
    resize_bilinear,
)
from spelke.eval.saliency import SaliencyAccumulator, f_beta
from spelke.eval.semantic import SemanticAccumulator


def _gt_images(gt: Path, what: str) -> list[Path]:
    if not gt.is_dir():
        raise DataLayoutError(f"ground-truth folder {gt} does not exist; expected {what}")
    files = list_images(gt)
    if not files:
        raise DataLayoutError(f"no PNG/JPEG masks in {gt}; expected {what}")
    return files


def _pred_for(root: Path, stem: str) -> Path | None:
    for ext in (".png", ".npz"):
        if (root / f"{stem}{ext}").is_file():
            return root / f"{stem}{ext}"
    return None


def read_saliency_map(path: Path) -> np.ndarray:
    """A soft foreground map in [0, 1] from a prediction file.

    PNG: 8-bit greyscale is divided by 255, 16-bit by 65535; a PNG holding only 0 and 1 is a binary map.
    NPZ: ``probs`` (1, H, W) is the foreground; (2, H, W) is (background, foreground).
    """
    if path.suffix == ".npz":
        p = read_soft_mask(path, normalised=False)
        if p.shape[0] == 1:
            return p[0].astype(np.float32)
        if p.shape[0] == 2:
            return p[1].astype(np.float32)
        raise FileFormatError(
            f"{path}: saliency soft maps need 1 (foreground) or 2 (bg, fg) channels, got {p.shape[0]}"
        )
    raw = read_label_map(path)
    top = raw.max(initial=0)
    if top <= 1:
        return raw.astype(np.float32)
    return (raw / (65535.0 if top > 255 else 255.0)).astype(np.float32)


class Saliency(Protocol):
    """Saliency / single-object segmentation: Acc, IoU and F-beta at 0.5, and max F-beta with one
    threshold for the whole dataset (MOVE §4.1)."""

    name = "saliency"
    summary = "saliency (ECSSD/DUTS/DUT-OMRON): Acc, IoU at 0.5; max F-beta (beta^2=0.3, 256 thresholds)"
    reads = ("soft", "binary")
    options: ClassVar[dict[str, Any]] = {
        "n_thresholds": 256,
        "include_zero": True,
        "threshold": 0.5,
        "beta2": 0.3,
        "allow_missing": False,
    }
    gt_layout = "<gt>/<name>.png binary masks (foreground = value > half the maximum, e.g. > 127 of 255)"
    pred_layout = (
        "<pred>/<name>.png soft maps (8-bit grey / 255) or binary 0/1, or <name>.npz probs (1|2, H, W)"
    )

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        pred_root = prediction_root(Path(pred))
        files = _gt_images(Path(gt), self.gt_layout)
        acc = SaliencyAccumulator(
            opts["n_thresholds"], opts["include_zero"], opts["beta2"], opts["threshold"]
        )
        missing = [f.stem for f in files if _pred_for(pred_root, f.stem) is None]
        notes = [
            n for n in (report_missing(missing, pred_root, self.pred_layout, opts["allow_missing"]),) if n
        ]
        extra = note_extra({p.stem for p in pred_root.iterdir() if p.is_file()} - {f.stem for f in files})
        if extra:
            notes.append(extra)
        rows, items = [], []
        for f in iter_with_progress(files, progress, "saliency"):
            raw = read_label_map(f)
            true = raw > (raw.max(initial=0) // 2 if raw.max(initial=0) > 1 else 0)
            p = _pred_for(pred_root, f.stem)
            soft = np.zeros(true.shape, np.float32) if p is None else read_saliency_map(p)
            if soft.shape != true.shape:  # MOVE resizes predictions bilinearly to the mask size
                soft = np.clip(resize_bilinear(soft, true.shape), 0.0, 1.0)
            acc.update(soft[None], true[None])
            b = soft[None] > opts["threshold"]
            row = {
                "image": f.stem,
                "iou": float(jaccard(b, true[None])[0]),
                "acc": float(pixel_accuracy(b, true[None])[0]),
                "f_beta": float(f_beta(b, true[None], opts["beta2"])[0]),
            }
            rows.append(row)
            items.append(ItemScore(f.stem, row["iou"], f, p))
        r = acc.compute()
        summary = {k: float(r[k]) for k in ("max_f_beta", "max_f_beta_threshold", "iou", "acc", "f_beta")}
        summary["oracle_per_image_max_f_beta"] = float(r["oracle_per_image_max_f_beta"])
        summary["images"] = int(r["images"])
        return EvalResult(
            self.name, self.version, summary, {"per_image": rows}, items, notes, opts, "max_f_beta"
        )


def _load_coco(path: Path, what: str) -> Any:
    if path.is_dir():
        cands = sorted(path.glob("*.json"))
        if len(cands) != 1:
            raise DataLayoutError(
                f"{path} must hold exactly one COCO-style .json for {what}; found {len(cands)}"
            )
        path = cands[0]
    if not path.is_file():
        raise DataLayoutError(f"{path} does not exist; expected a COCO-style JSON file for {what}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise FileFormatError(
            f"{path} is not valid JSON ({e}); expected a COCO-style file for {what}"
        ) from None


def _xyxy(bbox: list[float]) -> list[float]:
    x, y, w, h = (float(v) for v in bbox)
    return [x, y, x + w, y + h]


class CorLoc(Protocol):
    """Single-object discovery: the fraction of images whose one predicted box has IoU >= 0.5 with any
    ground-truth box (LOST / TokenCut / MOVE)."""

    name = "corloc"
    summary = "CorLoc (VOC07/VOC12/COCO20k style): one box per image, hit if IoU >= 0.5 with any GT box"
    reads = ("boxes", "binary")
    options: ClassVar[dict[str, Any]] = {
        "iou_threshold": 0.5,
        "inclusive": True,
        "skip_empty_gt": True,
        "box_from": "box_area",
        "allow_missing": False,
    }
    gt_layout = "a COCO-style JSON: images [{id, file_name}], annotations [{image_id, bbox: [x, y, w, h]}]"
    pred_layout = (
        "a COCO results JSON [{image_id or file_name, bbox: [x, y, w, h], score}] (top-scored box per image), "
        "or a folder of binary mask PNGs <file stem>.png (box of the largest connected component, as MOVE)"
    )

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        coco = _load_coco(Path(gt), "ground-truth boxes")
        try:
            images = {int(im["id"]): im for im in coco["images"]}
            gt_boxes: dict[int, list[list[float]]] = {i: [] for i in images}
            for a in coco.get("annotations", []):
                gt_boxes[int(a["image_id"])].append(_xyxy(a["bbox"]))
        except (KeyError, TypeError) as e:
            raise FileFormatError(
                f"{gt}: not a COCO-style ground truth ({e!r} missing); expected {self.gt_layout}"
            ) from None
        stem_to_id = {Path(im["file_name"]).stem: i for i, im in images.items()}
        pred = Path(pred)
        pred_boxes: dict[int, list[float] | None] = {}
        if pred.is_file() or (pred.is_dir() and list(pred.glob("*.json")) and not list(pred.glob("*.png"))):
            dets = _load_coco(pred, "predicted boxes")
            best: dict[int, tuple[float, list[float]]] = {}
            for d in dets:
                iid = d.get("image_id")
                if iid is None:
                    iid = stem_to_id.get(Path(d.get("file_name", "")).stem)
                if iid is None:
                    continue
                s = float(d.get("score", 1.0))
                if int(iid) not in best or s > best[int(iid)][0]:
                    best[int(iid)] = (s, _xyxy(d["bbox"]))
            pred_boxes = {i: b for i, (_, b) in best.items()}
        else:
            root = prediction_root(pred)
            for stem, iid in stem_to_id.items():
                p = root / f"{stem}.png"
                if p.is_file():
                    box = largest_component_box(read_label_map(p) > 0, by=opts["box_from"])
                    pred_boxes[iid] = None if box is None else box.tolist()
        missing = [Path(images[i]["file_name"]).stem for i in images if i not in pred_boxes]
        notes = [n for n in (report_missing(missing, pred, self.pred_layout, opts["allow_missing"]),) if n]
        acc = CorLocAccumulator(opts["iou_threshold"], opts["inclusive"], opts["skip_empty_gt"])
        rows, items = [], []
        ids = sorted(images)
        for iid in iter_with_progress(ids, progress, "corloc"):
            pb = pred_boxes.get(iid)
            g = np.asarray(gt_boxes[iid], np.float64).reshape(-1, 4)
            acc.update([pb], [g])
            hit = bool(corloc([pb], [g], opts["iou_threshold"], opts["inclusive"])[0])
            rows.append(
                {
                    "image": Path(images[iid]["file_name"]).stem,
                    "hit": hit,
                    "gt_boxes": len(g),
                    "pred_box": None if pb is None else [round(v, 2) for v in pb],
                }
            )
            items.append(ItemScore(rows[-1]["image"], float(hit)))
        r = acc.compute()
        summary = {
            "corloc": float(r["corloc"]),
            "images": r["images"],
            "hits": r["hits"],
            "skipped_no_gt": r["skipped_no_gt"],
            "no_prediction": r["no_prediction"],
        }
        return EvalResult(self.name, self.version, summary, {"per_image": rows}, items, notes, opts, "corloc")


class Semantic(Protocol):
    """Unsupervised semantic segmentation: a dataset-level confusion matrix of predicted clusters vs
    classes, clusters matched to classes (Hungarian, or majority vote), then mIoU (MaskDistill, PiCIE)."""

    name = "semantic"
    summary = "unsupervised semantic mIoU: dataset-level Hungarian (or majority) cluster-to-class matching"
    reads = ("labels",)
    options: ClassVar[dict[str, Any]] = {
        "matching": "hungarian",
        "n_classes": None,
        "n_clusters": None,
        "ignore_index": 255,
        "allow_missing": False,
    }
    gt_layout = "<gt>/<name>.png class ids (0..C-1; ignore_index, 255 by default, is left out)"
    pred_layout = "<pred>/<name>.png cluster ids 0..K-1"

    def evaluate(self, pred, gt, *, progress: ProgressFn = no_progress, **options) -> EvalResult:
        opts = self.resolve_options(options)
        if opts["matching"] not in ("hungarian", "majority"):
            raise ConfigError(f"matching must be hungarian or majority; got {opts['matching']!r}")
        pred_root = prediction_root(Path(pred))
        files = _gt_images(Path(gt), self.gt_layout)
        missing = [f.stem for f in files if not (pred_root / f"{f.stem}.png").is_file()]
        notes = [
            n for n in (report_missing(missing, pred_root, self.pred_layout, opts["allow_missing"]),) if n
        ]
        files = [f for f in files if f.stem not in set(missing)]
        ign = opts["ignore_index"]
        n_cls, n_clu = opts["n_classes"], opts["n_clusters"]
        if n_cls is None or n_clu is None:  # a first pass finds the id ranges
            top_c, top_k = 0, 0
            for f in iter_with_progress(files, progress, "semantic: id ranges"):
                t = read_label_map(f)
                t = t[t != ign] if ign is not None else t
                top_c = max(top_c, int(t.max(initial=0)))
                top_k = max(top_k, int(read_label_map(pred_root / f"{f.stem}.png").max(initial=0)))
            n_cls = top_c + 1 if n_cls is None else int(n_cls)
            n_clu = top_k + 1 if n_clu is None else int(n_clu)
        acc = SemanticAccumulator(int(n_clu), int(n_cls), ign)
        for f in iter_with_progress(files, progress, "semantic"):
            p = read_label_map(pred_root / f"{f.stem}.png")
            t = read_label_map(f)
            if p.shape != t.shape:
                from spelke.eval.protocols.base import match_shape

                p, _ = match_shape(p, t.shape, f.stem, "none")
            acc.update(p[None], t[None])
        r = acc.compute(matching=opts["matching"])
        mapping = np.asarray(r["mapping"])
        per_class = [
            {
                "class": c,
                "iou": float(r["per_class_iou"][c]),
                "clusters": " ".join(str(k) for k in np.flatnonzero(mapping == c)),
            }
            for c in range(int(n_cls))
        ]
        summary = {
            "miou": float(r["miou"]),
            "pixel_accuracy": float(r["pixel_accuracy"]),
            "classes": int(n_cls),
            "clusters": int(n_clu),
            "images": len(files),
        }
        opts.update(n_classes=int(n_cls), n_clusters=int(n_clu))
        return EvalResult(self.name, self.version, summary, {"per_class": per_class}, [], notes, opts, "miou")


PROTOCOL_CLASSES: list[type[Protocol]] = [Saliency, CorLoc, Semantic]
