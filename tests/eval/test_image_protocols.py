"""Saliency, CorLoc and semantic protocols on plain layouts built here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spelke.data.io import write_label_map, write_soft_mask
from spelke.errors import DataLayoutError
from spelke.eval.protocols import create_protocol


def test_saliency_protocol(tmp_path):
    gt = np.zeros((10, 10), np.int64)
    gt[:5] = 255  # top half salient, DUTS-style 0/255
    write_label_map(tmp_path / "gt" / "a.png", gt)
    write_label_map(tmp_path / "gt" / "b.png", gt)
    # a: a perfect 8-bit soft map; b: a soft map 0.4 on the object (below 0.5) and 0 elsewhere
    write_label_map(tmp_path / "pred" / "a.png", (gt > 0) * 200)
    b = np.where(gt > 0, 0.4, 0.0)
    write_soft_mask(tmp_path / "pred" / "b.npz", np.stack([1 - b, b]).astype(np.float32))
    res = create_protocol("saliency").evaluate(tmp_path / "pred", tmp_path / "gt")
    # at 0.5: a is perfect (IoU 1, acc 1), b predicts nothing (IoU 0, acc 0.5)
    assert res.summary["iou"] == pytest.approx(0.5)
    assert res.summary["acc"] == pytest.approx(0.75)
    # one dataset threshold in (0, 0.4) separates both images perfectly -> max F-beta = 1
    assert res.summary["max_f_beta"] == pytest.approx(1.0)
    assert 0 <= res.summary["max_f_beta_threshold"] < 0.4  # strict ">": threshold 0 already separates


def test_saliency_resizes_soft_maps_bilinearly(tmp_path):
    gt = np.zeros((8, 8), np.int64)
    gt[:, :4] = 1
    write_label_map(tmp_path / "gt" / "x.png", gt)
    write_label_map(tmp_path / "pred" / "x.png", np.repeat(np.array([[255, 255, 0, 0]]), 4, axis=0))
    res = create_protocol("saliency").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["iou"] == pytest.approx(1.0)


def coco_gt(path, boxes_per_image):
    images = [
        {"id": i, "file_name": f"img{i}.jpg", "width": 20, "height": 20} for i in range(len(boxes_per_image))
    ]
    anns = [
        {"id": k, "image_id": i, "bbox": b, "category_id": 1}
        for k, (i, b) in enumerate((i, b) for i, bs in enumerate(boxes_per_image) for b in bs)
    ]
    path.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "obj"}]})
    )


def test_corloc_from_boxes_json(tmp_path):
    coco_gt(tmp_path / "gt.json", [[[0, 0, 10, 10]], [[0, 0, 10, 10], [10, 10, 10, 10]], []])
    dets = [
        {"image_id": 0, "bbox": [0, 0, 10, 5], "score": 0.9},  # IoU 0.5 exactly: a hit (>=)
        {"image_id": 0, "bbox": [15, 15, 2, 2], "score": 0.1},  # lower score: ignored
        {"image_id": 1, "bbox": [5, 5, 10, 10], "score": 1.0},  # IoU 25/175 with both: a miss
    ]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    res = create_protocol("corloc").evaluate(tmp_path / "dets.json", tmp_path / "gt.json", allow_missing=True)
    # image 2 has no GT box: skipped (LOST/TokenCut); images 0, 1 -> 1 hit of 2
    assert res.summary["corloc"] == pytest.approx(0.5)
    assert res.summary["skipped_no_gt"] == 1
    res = create_protocol("corloc").evaluate(
        tmp_path / "dets.json", tmp_path / "gt.json", allow_missing=True, inclusive=False
    )
    assert res.summary["corloc"] == pytest.approx(0.0)


def test_corloc_from_masks_uses_largest_component(tmp_path):
    coco_gt(tmp_path / "gt.json", [[[10, 10, 8, 8]]])
    m = np.zeros((20, 20), np.int64)
    m[0:2, 0:2] = 1  # small blob
    m[10:18, 10:18] = 1  # the object
    write_label_map(tmp_path / "masks" / "img0.png", m)
    res = create_protocol("corloc").evaluate(tmp_path / "masks", tmp_path / "gt.json")
    assert res.summary["corloc"] == pytest.approx(1.0)
    with pytest.raises(DataLayoutError, match="img0"):
        (tmp_path / "masks" / "img0.png").unlink()
        (tmp_path / "masks" / "other.png").write_bytes(b"")
        create_protocol("corloc").evaluate(tmp_path / "masks", tmp_path / "gt.json")


def test_semantic_hungarian_and_majority(tmp_path):
    # classes: 0 bg, 1, 2; clusters permuted: 5 clusters, cluster 3 and 4 both inside class 2
    t = np.array([[0, 0, 1, 1, 2, 2, 255]])
    p = np.array([[1, 1, 0, 0, 3, 4, 2]])
    write_label_map(tmp_path / "gt" / "i.png", t)
    write_label_map(tmp_path / "pred" / "i.png", p)
    hung = create_protocol("semantic").evaluate(tmp_path / "pred", tmp_path / "gt")
    # Hungarian: one cluster per class; class 2 gets cluster 3 (or 4): IoU 1/2; others perfect
    assert hung.summary["miou"] == pytest.approx((1 + 1 + 0.5) / 3)
    maj = create_protocol("semantic").evaluate(tmp_path / "pred", tmp_path / "gt", matching="majority")
    assert maj.summary["miou"] == pytest.approx(1.0)  # both clusters 3 and 4 vote for class 2
    assert maj.summary["clusters"] == 5 and maj.summary["classes"] == 3
