"""Object detection metrics for unsupervised object discovery: box IoU, CorLoc, class-agnostic COCO AP.

Box convention (everywhere in spelke): ``xyxy`` in continuous pixel coordinates, ``x1, y1`` the top-left
corner of the first covered pixel and ``x2, y2`` exclusive, so a box covering pixel columns ``a..b``
(inclusive) is ``x1 = a, x2 = b + 1`` and its width is ``x2 - x1`` (no ``+ 1`` in areas). This is the
convention of LOST and TokenCut (their predicted boxes add 1 to the maximum pixel index, their VOC ground
truth subtracts 1 from the 1-based ``xmin``/``ymin``, and their ``bbox_iou`` uses ``x2 - x1`` without
``+ 1``) and of COCO (``x, y, w, h`` with ``x2 = x + w``). The old PASCAL VOC devkit's inclusive
``+ 1`` widths are not used.

CorLoc (Deselaers et al., ECCV 2010): the fraction of images whose predicted box has IoU >= 0.5 with at
least one ground-truth box (LOST / TokenCut code use ``>=``; the MOVE paper §4.2 writes "> 0.5").

COCO AP/AR go through pycocotools with every category collapsed into one (class-agnostic, as FreeSOLO,
CutLER and MOVE report unsupervised detection).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import cv2
import numpy as np

from spelke.errors import ShapeError
from spelke.eval.accumulators import Accumulator
from spelke.eval.binary import as_binary_batch

__all__ = [
    "CorLocAccumulator",
    "box_iou",
    "coco_ap",
    "corloc",
    "largest_component_box",
    "mask_to_box",
]


def _as_boxes(x: object, name: str) -> np.ndarray:
    b = np.asarray(x, dtype=np.float64)
    if b.ndim == 1 and b.size == 0:
        b = b.reshape(0, 4)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ShapeError(f"{name} must be xyxy boxes of shape (N, 4) or (4,), got shape {b.shape}")
    return b


def box_iou(a: object, b: object) -> np.ndarray:
    """Pairwise IoU of xyxy boxes (continuous coordinates, ``x2``/``y2`` exclusive; module docstring).

    ``area = max(x2 - x1, 0) * max(y2 - y1, 0)``; IoU = intersection / union, and 0.0 where the union is
    0 (two empty boxes). A box with a NaN coordinate (no prediction) has IoU 0 with everything.

    Args:
        a: (N, 4) or (4,) boxes ``x1, y1, x2, y2``.
        b: (M, 4) or (4,) boxes.

    Returns:
        (N, M) float64.

    Examples:
        >>> box_iou([0, 0, 10, 10], [[0, 0, 8, 8], [5, 0, 15, 10]]).round(4).tolist()
        [[0.64, 0.3333]]
    """
    a, b = _as_boxes(a, "a"), _as_boxes(b, "b")
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    ok = (union > 0) & np.isfinite(union) & np.isfinite(inter)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def mask_to_box(mask: object) -> np.ndarray:
    """Tight xyxy box of the foreground of each mask: (N, 4) float64 (an (H, W) mask gives (1, 4)).

    ``x1 = min column, x2 = max column + 1`` (exclusive), likewise for rows. An empty mask gives a row of
    NaN (no box), which :func:`box_iou` scores 0 against every box.
    """
    m = as_binary_batch(mask, "mask")
    cols = m.any(axis=1)  # (N, W)
    rows = m.any(axis=2)  # (N, H)
    out = np.full((m.shape[0], 4), np.nan)
    has = cols.any(axis=1)
    if has.any():
        w, h = m.shape[2], m.shape[1]
        c, r = cols[has], rows[has]
        out[has, 0] = np.argmax(c, axis=1)
        out[has, 2] = w - np.argmax(c[:, ::-1], axis=1)
        out[has, 1] = np.argmax(r, axis=1)
        out[has, 3] = h - np.argmax(r[:, ::-1], axis=1)
    return out


def largest_component_box(
    binary_mask: object, by: Literal["box_area", "pixels"] = "box_area", connectivity: int = 8
) -> np.ndarray | None:
    """Box of the biggest connected foreground component of one mask (MOVE §4.2 single-object protocol).

    Components come from OpenCV ``connectedComponentsWithStats`` (8-connectivity, OpenCV's default);
    each becomes its tight box; the biggest box is kept. "Biggest" is ambiguous in MOVE: ``by="box_area"``
    (default) compares box areas ``w * h``, ``by="pixels"`` compares component pixel counts. Ties go to
    the component found first in raster order.

    Args:
        binary_mask: (H, W); nonzero = foreground (binarise soft masks first, e.g. ``> 0.5``).
        by: ``"box_area"`` or ``"pixels"``.
        connectivity: 8 or 4.

    Returns:
        (4,) float64 xyxy box (exclusive ``x2``/``y2``), or ``None`` when the mask is empty.
    """
    m = np.asarray(binary_mask)
    if m.ndim != 2:
        raise ShapeError(f"binary_mask must have shape (H, W), got {m.shape}")
    if by not in ("box_area", "pixels"):
        raise ShapeError(f"by must be 'box_area' or 'pixels', got {by!r}")
    n, _, stats, _ = cv2.connectedComponentsWithStats((m != 0).astype(np.uint8), connectivity=connectivity)
    if n <= 1:
        return None
    s = stats[1:]  # row 0 is the background
    size = s[:, cv2.CC_STAT_WIDTH] * s[:, cv2.CC_STAT_HEIGHT] if by == "box_area" else s[:, cv2.CC_STAT_AREA]
    k = int(np.argmax(size))
    x, y = int(s[k, cv2.CC_STAT_LEFT]), int(s[k, cv2.CC_STAT_TOP])
    w, h = int(s[k, cv2.CC_STAT_WIDTH]), int(s[k, cv2.CC_STAT_HEIGHT])
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def _hit(pred: object, gt: object, iou_threshold: float, inclusive: bool) -> bool:
    if pred is None:
        return False
    p = _as_boxes(pred, "pred box")
    g = _as_boxes(gt, "gt boxes")
    if p.shape[0] == 0 or g.shape[0] == 0:
        return False
    iou = box_iou(p, g)
    return bool(np.any(iou >= iou_threshold) if inclusive else np.any(iou > iou_threshold))


def _check_same_images(
    pred: Sequence[object], gt: Sequence[object], names: str = "pred_boxes and gt_boxes"
) -> None:
    if len(pred) != len(gt):
        raise ShapeError(f"{names} must list the same images, got {len(pred)} and {len(gt)}")


def corloc(
    pred_boxes: Sequence[object | None],
    gt_boxes: Sequence[object],
    iou_threshold: float = 0.5,
    inclusive: bool = True,
) -> np.ndarray:
    """Per-image correct localisation (Deselaers et al. 2010): does the predicted box hit any GT box?

    Args:
        pred_boxes: one predicted box per image, (4,) xyxy (or (K, 4): a hit if any of them hits);
            ``None``, an empty (0, 4) array or a NaN box means no prediction (a miss).
        gt_boxes: one (M, 4) array of ground-truth boxes per image; M = 0 gives a miss here (see
            :class:`CorLocAccumulator` for skipping such images, as LOST/TokenCut do).
        iou_threshold: 0.5.
        inclusive: ``True`` counts IoU >= threshold (LOST/TokenCut code), ``False`` IoU > threshold
            (MOVE paper wording).

    Returns:
        (N,) bool.
    """
    _check_same_images(pred_boxes, gt_boxes)
    hits = [_hit(p, g, iou_threshold, inclusive) for p, g in zip(pred_boxes, gt_boxes, strict=True)]
    return np.array(hits, dtype=bool)


class CorLocAccumulator(Accumulator):
    """CorLoc over a dataset: ``corloc`` = hits / evaluated images.

    Images without ground-truth boxes are skipped by default (LOST/TokenCut skip them: with ``--no_hard``
    their only boxes were removed) and counted in ``skipped_no_gt``; with ``skip_empty_gt=False`` they
    count as misses. Images without a prediction count as misses (``no_prediction`` counts them).
    """

    def __init__(
        self, iou_threshold: float = 0.5, inclusive: bool = True, skip_empty_gt: bool = True
    ) -> None:
        self.iou_threshold = iou_threshold
        self.inclusive = inclusive
        self.skip_empty_gt = skip_empty_gt
        super().__init__()

    def reset(self) -> None:
        self._hits = 0
        self._n = 0
        self._skipped = 0
        self._no_pred = 0

    def update(self, pred_boxes: Sequence[object | None], gt_boxes: Sequence[object]) -> None:
        """Add a batch of images: one predicted box (or ``None``) and one (M, 4) GT array per image."""
        _check_same_images(pred_boxes, gt_boxes)
        for p, g in zip(pred_boxes, gt_boxes, strict=True):
            if _as_boxes(g, "gt boxes").shape[0] == 0 and self.skip_empty_gt:
                self._skipped += 1
                continue
            pb = None if p is None else _as_boxes(p, "pred box")
            if pb is None or pb.shape[0] == 0 or not np.isfinite(pb).all():
                self._no_pred += 1
            self._hits += _hit(p, g, self.iou_threshold, self.inclusive)
            self._n += 1

    def compute(self) -> dict[str, Any]:
        return {
            "corloc": self._hits / self._n if self._n else float("nan"),
            "hits": self._hits,
            "images": self._n,
            "skipped_no_gt": self._skipped,
            "no_prediction": self._no_pred,
        }


# --------------------------------------------------------------------------------------------------
# COCO AP through pycocotools


def _rle(masks: np.ndarray) -> list[dict[str, Any]]:
    from pycocotools import mask as mask_util

    if masks.shape[0] == 0:
        return []
    return mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1)


def _image_items(entry: Mapping[str, Any], iou_type: str, what: str, index: int) -> dict[str, Any]:
    """Validate one per-image dict and return masks (K,H,W) bool or None, boxes (K,4), size (H,W)."""
    masks = entry.get("masks")
    boxes = entry.get("boxes")
    if masks is not None:
        arr = np.asarray(masks)
        if arr.size == 0 and arr.ndim != 3:  # e.g. [] for "no objects"
            arr = np.zeros((0, 1, 1), bool)
        masks = as_binary_batch(arr, f"{what}[{index}]['masks']")
    if iou_type == "segm" and masks is None:
        raise ShapeError(f"{what}[{index}] needs 'masks' (K, H, W) for iou_type='segm'")
    if boxes is None:
        if masks is None:
            raise ShapeError(f"{what}[{index}] needs 'boxes' (K, 4) xyxy or 'masks' (K, H, W)")
        boxes = mask_to_box(masks) if masks.shape[0] else np.zeros((0, 4))
    boxes = _as_boxes(boxes, f"{what}[{index}]['boxes']")
    k = boxes.shape[0] if masks is None else masks.shape[0]
    if masks is not None and boxes.shape[0] != k:
        raise ShapeError(f"{what}[{index}] has {masks.shape[0]} masks but {boxes.shape[0]} boxes")
    size = entry.get("size")
    size = None if size is None else tuple(int(v) for v in np.asarray(size).reshape(-1))
    if size is None and masks is not None and masks.shape[0]:
        size = tuple(masks.shape[1:])
    return {"masks": masks, "boxes": boxes, "k": k, "size": size}


def coco_ap(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    iou_type: Literal["segm", "bbox"] = "segm",
    max_dets: tuple[int, int, int] = (1, 10, 100),
) -> dict[str, float]:
    """Class-agnostic COCO AP/AR (pycocotools ``COCOeval``), built in memory.

    Input format: two lists aligned by image (index ``i`` is image ``i``), each element a dict:

    - ``predictions[i]``: ``"scores"`` (K,) and ``"masks"`` (K, H, W) bool for ``segm``; for ``bbox``
      ``"boxes"`` (K, 4) xyxy (exclusive ``x2``/``y2``), or ``"masks"`` from which tight boxes are taken.
    - ``ground_truth[i]``: ``"masks"`` (M, H, W) and/or ``"boxes"`` (M, 4) as above; optional
      ``"iscrowd"`` (M,) bool (crowd regions: matches to them are ignored, COCO rules); optional
      ``"size"`` (H, W) when no masks are given.

    Every object is put in one category. Masks are RLE-encoded with ``pycocotools.mask``; boxes are
    converted to COCO ``x, y, w, h``. A ground-truth object's ``area`` (used by the small/medium/large
    ranges) is its mask pixel count when masks are given, else its box area, as COCO. Predictions
    beyond ``max_dets[-1]`` per image (by score) are ignored, as COCO. pycocotools' printing is captured.

    Edge cases: no ground-truth object anywhere gives NaN everywhere (COCO reports -1); ground truth but
    no prediction at all gives 0.0 everywhere; an image with neither contributes nothing.

    Returns:
        ``AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl`` (names follow ``max_dets``),
        each in [0, 1] or NaN where COCO reports -1 (e.g. no small objects).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("segm", "bbox"):
        raise ShapeError(f"iou_type must be 'segm' or 'bbox', got {iou_type!r}")
    _check_same_images(predictions, ground_truth, "predictions and ground_truth")
    names = [
        "AP", "AP50", "AP75", "APs", "APm", "APl",
        f"AR{max_dets[0]}", f"AR{max_dets[1]}", f"AR{max_dets[2]}", "ARs", "ARm", "ARl",
    ]  # fmt: skip
    images, gt_anns, dt_anns = [], [], []
    for i, (pe, ge) in enumerate(zip(predictions, ground_truth, strict=True)):
        g = _image_items(ge, iou_type, "ground_truth", i)
        p = _image_items(pe, iou_type, "predictions", i)
        scores = np.asarray(pe.get("scores", np.ones(p["k"])), dtype=np.float64).reshape(-1)
        if scores.size != p["k"]:
            raise ShapeError(f"predictions[{i}] has {p['k']} objects but {scores.size} scores")
        size = g["size"] or p["size"] or (0, 0)
        for who, it in (("ground_truth", g), ("predictions", p)):
            if it["masks"] is not None and it["k"] and tuple(it["masks"].shape[1:]) != tuple(size):
                shape = tuple(it["masks"].shape[1:])
                raise ShapeError(f"{who}[{i}] masks are {shape}, but the image is {tuple(size)}")
        images.append({"id": i + 1, "height": int(size[0]), "width": int(size[1])})
        crowd = np.asarray(ge.get("iscrowd", np.zeros(g["k"])), dtype=bool).reshape(-1)
        g_rle = _rle(g["masks"]) if (iou_type == "segm" and g["k"]) else [None] * g["k"]
        g_xywh = _xywh(g["boxes"])
        has_masks = g["masks"] is not None and g["k"]
        g_area = g["masks"].sum(axis=(1, 2)) if has_masks else g_xywh[:, 2] * g_xywh[:, 3]
        for k in range(g["k"]):
            ann = {
                "id": len(gt_anns) + 1,  # COCOeval needs ids > 0
                "image_id": i + 1,
                "category_id": 1,
                "bbox": g_xywh[k].tolist(),
                "area": float(g_area[k]),
                "iscrowd": int(crowd[k]) if crowd.size else 0,
            }
            if g_rle[k] is not None:
                ann["segmentation"] = g_rle[k]
            gt_anns.append(ann)
        if iou_type == "segm":
            for rle, s in zip(_rle(p["masks"]) if p["k"] else [], scores, strict=True):
                dt_anns.append({"image_id": i + 1, "category_id": 1, "segmentation": rle, "score": float(s)})
        else:
            for box, s in zip(_xywh(p["boxes"]), scores, strict=True):
                dt_anns.append({"image_id": i + 1, "category_id": 1, "bbox": box.tolist(), "score": float(s)})

    if not gt_anns:
        return dict.fromkeys(names, float("nan"))
    if not dt_anns:
        return dict.fromkeys(names, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        category = {"id": 1, "name": "object"}
        coco_gt.dataset = {"images": images, "annotations": gt_anns, "categories": [category]}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dt_anns)
        ev = COCOeval(coco_gt, coco_dt, iouType=iou_type)
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {n: (float(v) if v >= 0 else float("nan")) for n, v in zip(names, ev.stats, strict=True)}
