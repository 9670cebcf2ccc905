"""Semantic cluster matching against brute force over permutations and scikit-learn."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from spelke.errors import ShapeError
from spelke.eval.semantic import SemanticAccumulator, match_clusters, scores_from_confusion


def noisy_clusters(rng, n_clusters, n_classes, shape=(4, 16, 16), noise=0.4):
    true = rng.integers(0, n_classes, size=shape)
    lut = rng.permutation(max(n_clusters, n_classes))[:n_classes] % n_clusters
    pred = lut[true]
    flip = rng.random(shape) < noise
    pred[flip] = rng.integers(0, n_clusters, size=flip.sum())
    return pred, true


def brute_scores(pred, true, mapping, n_classes):
    """Per-class IoU and accuracy by relabelling pixels, with sklearn's jaccard on the result."""
    relabelled = np.where(mapping[pred] >= 0, mapping[pred], n_classes)  # unmatched -> extra label
    ious = jaccard_score(true.ravel(), relabelled.ravel(), labels=list(range(n_classes)), average=None,
                         zero_division=0)  # fmt: skip
    return ious, float(np.mean(relabelled == true))


@pytest.mark.parametrize("score", ["count", "iou"])
def test_hungarian_matches_brute_force_permutations(rng, score):
    k = 5
    pred, true = noisy_clusters(rng, k, k)
    acc = SemanticAccumulator(k, k)
    acc.update(pred, true)
    r = acc.compute(matching="hungarian", score=score)

    def objective(perm):
        m = np.array(perm)
        if score == "count":
            return np.mean(m[pred] == true)
        ious, _ = brute_scores(pred, true, m, k)
        return np.sum(ious)

    best = max(itertools.permutations(range(k)), key=objective)
    np.testing.assert_array_equal(r["mapping"], best)
    ious, accuracy = brute_scores(pred, true, np.array(best), k)
    np.testing.assert_allclose(r["per_class_iou"], ious, atol=1e-12)
    assert r["miou"] == pytest.approx(np.mean(ious))
    assert r["pixel_accuracy"] == pytest.approx(accuracy)


def test_majority_vote(rng):
    pred, true = noisy_clusters(rng, 7, 3)
    acc = SemanticAccumulator(7, 3)
    acc.update(pred, true)
    r = acc.compute(matching="majority")
    want = np.array([np.bincount(true[pred == c], minlength=3).argmax() for c in range(7)])
    np.testing.assert_array_equal(r["mapping"], want)
    ious, accuracy = brute_scores(pred, true, want, 3)
    np.testing.assert_allclose(r["per_class_iou"], ious, atol=1e-12)
    assert r["pixel_accuracy"] == pytest.approx(accuracy)


def test_more_clusters_than_classes_leaves_clusters_unmatched():
    # classes 0, 1; clusters 0, 1, 2. Cluster 2 is unmatched: its pixels are predicted as no class.
    pred = np.array([[0, 0, 0, 1, 1, 2, 2, 2]])
    true = np.array([[0, 0, 0, 1, 1, 1, 0, 0]])
    acc = SemanticAccumulator(3, 2)
    acc.update(pred, true)
    r = acc.compute()
    assert r["mapping"].tolist() == [0, 1, -1]
    # class 0: tp 3, gt 5, pred 3 -> 3/5; class 1: tp 2, gt 3, pred 2 -> 2/3
    np.testing.assert_allclose(r["per_class_iou"], [3 / 5, 2 / 3])
    assert r["pixel_accuracy"] == pytest.approx(5 / 8)
    r = acc.compute(matching="majority")
    assert r["mapping"].tolist() == [0, 1, 0]


def test_ignore_index_batching_and_absent_classes(rng):
    pred, true = noisy_clusters(rng, 4, 4)
    true[:, :3] = 255
    whole = SemanticAccumulator(4, 5)  # class 4 never occurs
    whole.update(pred, true)
    parts = SemanticAccumulator(4, 5)
    for i in range(pred.shape[0]):
        parts.update(pred[i], true[i])  # (H, W) maps are N = 1
    np.testing.assert_array_equal(whole.confusion, parts.confusion)
    assert whole.confusion.sum() == np.sum(true != 255)
    r = whole.compute()
    assert math.isnan(r["per_class_iou"][4])
    assert r["miou"] == pytest.approx(np.mean(r["per_class_iou"][:4]))
    assert whole.compute(absent="zero")["miou"] == pytest.approx(np.sum(r["per_class_iou"][:4]) / 5)


def test_errors():
    acc = SemanticAccumulator(2, 2)
    with pytest.raises(ShapeError, match="cluster id 2"):
        acc.update(np.array([[2]]), np.array([[0]]))
    with pytest.raises(ShapeError, match="class id 3"):
        acc.update(np.array([[0]]), np.array([[3]]))
    with pytest.raises(ShapeError, match="matching"):
        match_clusters(np.eye(2), matching="greedy")
    with pytest.raises(ShapeError, match="absent"):
        scores_from_confusion(np.eye(2), np.array([0, 1]), absent="skip")
