"""Saliency metrics against scikit-learn and a slow loop over thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, fbeta_score

from spelke.errors import ShapeError
from spelke.eval.saliency import (
    SaliencyAccumulator,
    f_beta,
    f_beta_curve,
    precision_recall,
    saliency_thresholds,
)


def soft_and_gt(rng, n=6, h=12, w=15, eight_bit=True):
    gt = np.zeros((n, h, w), bool)
    for i in range(n):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        gt[i, y : y + rng.integers(2, 6), x : x + rng.integers(2, 8)] = True
    soft = np.clip(0.6 * gt + rng.normal(0.2, 0.25, gt.shape), 0, 1)
    if eight_bit:  # predictions saved as 8-bit PNGs, read back / 255 (MOVE)
        soft = np.round(soft * 255).astype(np.uint8) / np.float32(255)
    return soft.astype(np.float32), gt


def slow_f(pred, gt, beta2=0.3):
    """F-beta of one binary image by the MOVE conventions, written out."""
    tp = np.sum(pred & gt)
    precision = 1.0 if pred.sum() == 0 else tp / pred.sum()
    recall = 1.0 if gt.sum() == 0 else tp / gt.sum()
    den = beta2 * precision + recall
    return 0.0 if den == 0 else (1 + beta2) * precision * recall / den


def test_f_beta_matches_sklearn(rng):
    soft, gt = soft_and_gt(rng, n=8)
    pred = soft > 0.5
    assert pred.reshape(8, -1).any(1).all() and gt.reshape(8, -1).any(1).all()  # non-degenerate
    want = [fbeta_score(gt[i].ravel(), pred[i].ravel(), beta=math.sqrt(0.3)) for i in range(8)]
    np.testing.assert_allclose(f_beta(pred, gt), want, atol=1e-12)


def test_f_beta_edge_cases():
    e = np.zeros((4, 4), bool)
    s = e.copy()
    s[1:3, 1:3] = True
    assert precision_recall(e, s) == ([1.0], [0.0])  # nothing predicted: P = 1
    assert precision_recall(s, e) == ([0.0], [1.0])  # empty ground truth: R = 1
    assert f_beta(e, s).tolist() == [0.0]
    assert f_beta(s, e).tolist() == [0.0]
    assert f_beta(e, e).tolist() == [1.0]
    with pytest.raises(ShapeError, match="binary"):
        f_beta(s, s * 255)


def test_thresholds():
    t = saliency_thresholds()
    assert t.size == 256 and t[0] == 0 and t[1] == 1 / 256 and t[-1] == 255 / 256
    t = saliency_thresholds(255, include_zero=False)  # deep-spectral
    assert t.size == 254 and t[0] == 1 / 255 and t[-1] == 254 / 255


@pytest.mark.parametrize(("n", "zero"), [(256, True), (255, False), (7, True)])
def test_curve_matches_threshold_loop(rng, n, zero):
    soft, gt = soft_and_gt(rng, eight_bit=n != 7)
    gt[0] = False  # an image without foreground
    soft[1] = 0.0  # an image predicting nothing at any threshold
    got = f_beta_curve(soft, gt, n_thresholds=n, include_zero=zero)
    ks = range(0 if zero else 1, n)
    want = np.array([[slow_f(soft[i] > k / n, gt[i]) for k in ks] for i in range(len(soft))])
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_accumulator_against_slow_reference(rng):
    soft, gt = soft_and_gt(rng, n=9)
    gt[2] = False
    soft[2] = np.minimum(soft[2], 0.4)  # empty prediction and empty GT at 0.5: IoU counts 0 (MOVE)
    acc = SaliencyAccumulator()
    acc.update(soft[:4], gt[:4])  # batches of different sizes add up
    acc.update(soft[4:], gt[4:])
    r = acc.compute()

    thr = np.arange(256) / 256
    curve = np.array([[slow_f(soft[i] > t, gt[i]) for t in thr] for i in range(9)])
    assert r["max_f_beta"] == pytest.approx(curve.mean(0).max(), abs=1e-12)
    assert r["max_f_beta_threshold"] == thr[np.argmax(curve.mean(0))]
    assert r["oracle_per_image_max_f_beta"] == pytest.approx(curve.max(1).mean(), abs=1e-12)
    assert r["oracle_per_image_max_f_beta"] >= r["max_f_beta"]
    np.testing.assert_allclose(r["f_beta_curve"], curve.mean(0), atol=1e-12)

    hard = soft > 0.5
    accs = [accuracy_score(gt[i].ravel(), hard[i].ravel()) for i in range(9)]
    assert r["acc"] == pytest.approx(np.mean(accs))
    ious = [
        (hard[i] & gt[i]).sum() / (hard[i] | gt[i]).sum() if (hard[i] | gt[i]).any() else 0.0
        for i in range(9)
    ]
    assert r["iou"] == pytest.approx(np.mean(ious))
    assert r["f_beta"] == pytest.approx(np.mean([slow_f(hard[i], gt[i]) for i in range(9)]))
    assert r["images"] == 9

    acc.reset()
    assert acc.compute()["images"] == 0 and math.isnan(acc.compute()["max_f_beta"])


def test_accumulator_perfect_and_options(rng):
    _, gt = soft_and_gt(rng)
    acc = SaliencyAccumulator(n_thresholds=255, include_zero=False, empty_iou=1.0)
    acc.update(gt.astype(np.float32), gt)
    r = acc.compute()
    assert r["iou"] == r["acc"] == r["max_f_beta"] == r["f_beta"] == 1.0
    assert r["thresholds"].size == 254


def test_soft_range_is_checked():
    with pytest.raises(ShapeError, match=r"\[0, 1\].*255"):
        SaliencyAccumulator().update(np.full((1, 2, 2), 3.0), np.zeros((1, 2, 2), bool))
    with pytest.raises(ShapeError, match="same shape"):
        SaliencyAccumulator().update(np.zeros((1, 2, 2)), np.zeros((1, 2, 3), bool))
