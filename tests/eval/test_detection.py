"""Box IoU, CorLoc and class-agnostic COCO AP against hand-worked cases and rasterised brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.eval.detection import (
    CorLocAccumulator,
    box_iou,
    coco_ap,
    corloc,
    largest_component_box,
    mask_to_box,
)


def raster(box, h=32, w=32):
    m = np.zeros((h, w), bool)
    x1, y1, x2, y2 = (int(v) for v in box)
    m[y1:y2, x1:x2] = True  # x2, y2 exclusive
    return m


def random_boxes(rng, n, size=32):
    a = rng.integers(0, size, size=(n, 2, 2))
    lo, hi = a.min(axis=2), a.max(axis=2) + 1
    return np.stack([lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]], axis=1).astype(float)


def test_box_iou_hand_worked():
    got = box_iou([0, 0, 10, 10], [[0, 0, 8, 8], [5, 0, 15, 10], [10, 0, 20, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(got, [[0.64, 50 / 150, 0.0, 0.0]])  # touching edges do not overlap
    assert box_iou([2, 2, 2, 5], [2, 2, 2, 5]).tolist() == [[0.0]]  # empty boxes: union 0 -> 0
    assert box_iou(np.full(4, np.nan), [0, 0, 1, 1]).tolist() == [[0.0]]
    assert box_iou(np.zeros((0, 4)), [0, 0, 1, 1]).shape == (0, 1)
    with pytest.raises(ShapeError, match=r"\(N, 4\)"):
        box_iou([[0, 0, 1]], [0, 0, 1, 1])


def test_box_iou_matches_rasterised_pixel_counts(rng):
    a, b = random_boxes(rng, 15), random_boxes(rng, 12)
    got = box_iou(a, b)
    for i in range(15):
        for j in range(12):
            ma, mb = raster(a[i]), raster(b[j])
            assert got[i, j] == pytest.approx((ma & mb).sum() / (ma | mb).sum(), abs=1e-12)


def test_mask_to_box_inverts_rasterisation(rng):
    boxes = random_boxes(rng, 6)
    masks = np.stack([raster(b) for b in boxes] + [np.zeros((32, 32), bool)])
    got = mask_to_box(masks)
    np.testing.assert_array_equal(got[:6], boxes)
    assert np.isnan(got[6]).all()
    assert mask_to_box(raster([3, 4, 5, 9])).tolist() == [[3.0, 4.0, 5.0, 9.0]]


def test_largest_component_box():
    m = np.zeros((20, 20), bool)
    m[np.arange(10), np.arange(10)] = True  # 8-connected diagonal: 10 pixels, 10 x 10 box
    m[14:19, 14:19] = True  # square: 25 pixels, 5 x 5 box
    assert largest_component_box(m).tolist() == [0, 0, 10, 10]
    assert largest_component_box(m, by="pixels").tolist() == [14, 14, 19, 19]
    # with 4-connectivity the diagonal falls apart into single pixels
    assert largest_component_box(m, connectivity=4).tolist() == [14, 14, 19, 19]
    assert largest_component_box(np.zeros((5, 5))) is None


def test_corloc_rules():
    gt = [np.array([[0, 0, 10, 5], [50, 50, 60, 60]])]
    exact_half = [np.array([0, 0, 10, 10])]  # IoU 0.5 with the first GT box, 0 with the second
    assert corloc(exact_half, gt).tolist() == [True]  # >= (LOST/TokenCut)
    assert corloc(exact_half, gt, inclusive=False).tolist() == [False]  # > (MOVE wording)
    assert corloc([np.array([50, 50, 60, 61])], gt).tolist() == [True]  # any GT box
    assert corloc([None, np.zeros((0, 4)), np.full(4, np.nan)], gt * 3).tolist() == [False] * 3
    assert corloc([np.array([0, 0, 1, 1])], [np.zeros((0, 4))]).tolist() == [False]
    with pytest.raises(ShapeError, match="same images"):
        corloc([None], [])


def test_corloc_accumulator():
    acc = CorLocAccumulator()
    acc.update([np.array([0, 0, 10, 10]), None], [np.array([[0, 0, 10, 9]]), np.array([[0, 0, 5, 5]])])
    acc.update([np.array([0, 0, 1, 1])], [np.zeros((0, 4))])
    r = acc.compute()
    assert r == {"corloc": 0.5, "hits": 1, "images": 2, "skipped_no_gt": 1, "no_prediction": 1}
    acc = CorLocAccumulator(skip_empty_gt=False)
    acc.update([np.array([0, 0, 1, 1])], [np.zeros((0, 4))])
    assert acc.compute()["corloc"] == 0.0


# ---------------------------------------------------------------------------------------------------
# COCO AP


def gt_images(rng, n=3, h=40, w=48):
    out = []
    for _ in range(n):
        boxes = random_boxes(rng, 2, size=min(h, w) - 8) + np.array([4, 4, 4, 4])
        masks = np.stack([raster(b, h, w) for b in boxes])
        masks[0, int(boxes[0, 1]), int(boxes[0, 0])] = False  # not quite a box
        out.append({"masks": masks, "boxes": mask_to_box(masks)})
    return out


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_coco_perfect_predictions(rng, iou_type, capsys):
    gt = gt_images(rng)
    preds = [{**g, "scores": np.array([0.9, 0.8])} for g in gt]
    r = coco_ap(preds, gt, iou_type=iou_type)
    for k in ("AP", "AP50", "AP75", "AR10", "AR100"):
        assert r[k] == pytest.approx(1.0), k
    assert r["AR1"] == pytest.approx(0.5)  # two objects per image, one detection allowed
    assert capsys.readouterr().out == ""  # pycocotools' prints are captured


def one_box(box, score=None):
    d = {"boxes": np.array([box], float)}
    if score is not None:
        d["scores"] = np.array([score])
    return d


def test_coco_hand_worked_cases():
    gt = [one_box([0, 0, 10, 10]), one_box([20, 20, 30, 30])]
    # image 0: a perfect box; image 1: a miss. Precision 1 up to recall 0.5, then nothing:
    # 51 of COCO's 101 recall points (0, 0.01, ..., 0.5) have precision 1.
    preds = [one_box([0, 0, 10, 10], 0.9), one_box([0, 0, 5, 5], 0.8)]
    r = coco_ap(preds, gt, iou_type="bbox")
    assert r["AP"] == pytest.approx(51 / 101)
    assert r["AP50"] == pytest.approx(51 / 101)
    assert r["AR100"] == pytest.approx(0.5)

    # one image, a false positive ranked above the true positive: precision 1/2 at recall 1
    gt1 = [one_box([0, 0, 10, 10])]
    preds = [{"boxes": np.array([[30, 30, 40, 40], [0, 0, 10, 10]], float), "scores": np.array([0.9, 0.8])}]
    r = coco_ap(preds, gt1, iou_type="bbox")
    assert r["AP"] == pytest.approx(0.5)
    assert r["AR1"] == pytest.approx(0.0)  # the single top-scored detection is the false positive
    assert r["AR10"] == pytest.approx(1.0)

    # IoU 0.64: a hit at thresholds 0.50, 0.55, 0.60 of 0.50:0.05:0.95
    r = coco_ap([one_box([0, 0, 8, 8], 1.0)], gt1, iou_type="bbox")
    assert (r["AP"], r["AP50"], r["AP75"]) == (pytest.approx(0.3), pytest.approx(1.0), pytest.approx(0.0))


def test_coco_segm_uses_masks_not_boxes():
    h = w = 20
    gt_mask = np.zeros((1, h, w), bool)
    gt_mask[0, 2:12, 2:12] = True
    pred_mask = np.zeros((1, h, w), bool)
    pred_mask[0, 2:12, 2:12] = True
    pred_mask[0, 2:7, 2:7] = False  # same box, 75 of 100 pixels: mask IoU 0.75
    gt = [{"masks": gt_mask}]
    preds = [{"masks": pred_mask, "scores": np.array([1.0])}]
    assert coco_ap(preds, gt, iou_type="bbox")["AP"] == pytest.approx(1.0)
    r = coco_ap(preds, gt, iou_type="segm")
    assert r["AP"] == pytest.approx(0.6)  # hits at 0.50 .. 0.75: 6 of 10 thresholds


def test_coco_edge_cases():
    gt = [one_box([0, 0, 10, 10])]
    r = coco_ap([{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)}], gt, iou_type="bbox")
    assert r["AP"] == 0.0 and r["AR100"] == 0.0
    r = coco_ap([one_box([0, 0, 10, 10], 1.0)], [{"boxes": np.zeros((0, 4))}], iou_type="bbox")
    assert math.isnan(r["AP"])
    with pytest.raises(ShapeError, match="masks"):
        coco_ap([one_box([0, 0, 1, 1], 1.0)], gt, iou_type="segm")
    # an image without objects: its detection is a false positive ranked first -> AP 0.5
    m = np.zeros((1, 12, 12), bool)
    m[0, 2:6, 2:6] = True
    gt2 = [{"masks": m}, {"masks": np.zeros((0, 12, 12), bool)}]
    preds = [{"masks": m, "scores": np.array([0.5])}, {"masks": m, "scores": np.array([0.9])}]
    assert coco_ap(preds, gt2, iou_type="segm")["AP"] == pytest.approx(0.5)
    preds[1] = {"masks": [], "scores": []}
    assert coco_ap(preds, gt2, iou_type="segm")["AP"] == pytest.approx(1.0)
    with pytest.raises(ShapeError, match="same images"):
        coco_ap([], gt)
