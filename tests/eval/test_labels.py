"""Contingency tables, IoU matrices and the Hungarian wrapper against brute force."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

import spelke.eval._labels as labels_mod
from spelke.errors import ShapeError
from spelke.eval._labels import (
    as_label_pair,
    contingency,
    dice_matrix_from_contingency,
    hungarian,
    iou_matrix_from_contingency,
)


def table_as_dict(ct, i: int) -> dict[tuple[int, int], int]:
    """{(pred label, true label): count} of image i, read through the table's id arrays."""
    out = {}
    for p, t in zip(*np.nonzero(ct.counts[i]), strict=True):
        out[int(ct.pred_ids[i, p]), int(ct.true_ids[i, t])] = int(ct.counts[i, p, t])
    return out


def brute_dict(pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None) -> dict:
    keep = np.ones(pred.shape, bool) if valid is None else valid
    return dict(Counter(zip(pred[keep].tolist(), true[keep].tolist(), strict=True)))


@pytest.mark.parametrize("high", [3, 11, 40])
def test_contingency_matches_pair_counts(rng, high):
    pred = rng.integers(0, high, (5, 7, 9))
    true = rng.integers(0, high, (5, 7, 9))
    ct = contingency(pred, true)
    assert ct.counts.sum() == pred.size
    for i in range(5):
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i])


def test_contingency_chunks_with_different_label_ranges(rng, monkeypatch):
    # Chunks of 1 image with different maxima are padded into one table.
    monkeypatch.setattr(labels_mod, "_CHUNK_PIXELS", 1)
    pred = rng.integers(0, 3, (4, 5, 5))
    true = rng.integers(0, 3, (4, 5, 5))
    pred[2, 0, 0] = 9
    true[3, 1, 1] = 7
    ct = contingency(pred, true)
    assert ct.counts.shape == (4, 10, 8)
    for i in range(4):
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i])


def test_contingency_valid_mask(rng):
    pred = rng.integers(0, 4, (3, 6, 6))
    true = rng.integers(0, 4, (3, 6, 6))
    valid = rng.random((3, 6, 6)) > 0.4
    ct = contingency(pred, true, valid)
    assert ct.counts.sum() == valid.sum()
    for i in range(3):
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i], valid[i])


@pytest.mark.parametrize("scale", [1_000, 10**7, 2**40])
def test_contingency_compacts_large_sparse_labels(rng, scale):
    # Large ids force compaction (look-up table below 2**22, np.unique above); same pair counts.
    pred = rng.integers(0, 5, (4, 6, 6)) * scale + 3
    true = rng.integers(0, 4, (4, 6, 6)) * (scale + 1)
    ct = contingency(pred, true)
    assert ct.counts.shape[1] <= 5 and ct.counts.shape[2] <= 4
    for i in range(4):
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i])


def test_contingency_per_image_compaction(rng, monkeypatch):
    # Every image uses its own ids: after global compaction the table is still too big -> per image.
    monkeypatch.setattr(labels_mod, "DENSE_TABLE_LIMIT", 64)
    pred = np.stack([rng.integers(0, 3, (5, 5)) + 10 * i for i in range(6)])
    true = np.stack([rng.integers(0, 3, (5, 5)) * 7 + 100 * i for i in range(6)])
    ct = contingency(pred, true)
    assert ct.counts.shape == (6, 3, 3)
    for i in range(6):
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i])
    assert (ct.true_ids >= -1).all()


def test_without_true_drops_background_pixels(rng):
    pred = rng.integers(0, 3, (2, 4, 4))
    true = rng.integers(0, 3, (2, 4, 4))
    ct = contingency(pred, true).without_true(0)
    for i in range(2):
        fg = true[i] != 0
        assert table_as_dict(ct, i) == brute_dict(pred[i], true[i], fg)


def test_iou_and_dice_matrix_hand_example():
    # rows = pred, cols = true; pred0 = 2 px, pred1 = 2 px; true0 = 3 px, true1 = 1 px.
    counts = np.array([[2, 0], [1, 1], [0, 0]])
    iou = iou_matrix_from_contingency(counts)
    # IoU(p0,t0) = 2 / (2+3-2) = 2/3; IoU(p1,t0) = 1/(2+3-1) = 1/4; IoU(p1,t1) = 1/(2+1-1) = 1/2
    np.testing.assert_allclose(iou, [[2 / 3, 0], [1 / 4, 1 / 2], [0, 0]], rtol=0, atol=1e-15)
    # Dice(p0,t0) = 4/5; Dice(p1,t0) = 2/5; Dice(p1,t1) = 2/3; the empty row is 0, not NaN
    np.testing.assert_allclose(
        dice_matrix_from_contingency(counts),
        [
            [
                0.8,
                0,
            ],
            [0.4, 2 / 3],
            [0, 0],
        ],
        rtol=0,
        atol=1e-15,
    )


def test_iou_matrix_equals_mask_iou(rng):
    pred = rng.integers(0, 4, (1, 8, 8))
    true = rng.integers(0, 3, (1, 8, 8))
    iou = iou_matrix_from_contingency(contingency(pred, true).counts)[0]
    for p in range(iou.shape[0]):
        for t in range(iou.shape[1]):
            a, b = pred[0] == p, true[0] == t
            u = (a | b).sum()
            assert iou[p, t] == pytest.approx((a & b).sum() / u if u else 0.0, abs=1e-15)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4), (4, 2), (1, 5)])
def test_hungarian_is_maximal(rng, shape):
    for _ in range(20):
        s = rng.random(shape)
        r, c = hungarian(s)
        assert len(r) == min(shape) and len(set(c.tolist())) == len(c)
        if shape[0] <= shape[1]:
            best = max(
                sum(s[i, p[i]] for i in range(shape[0]))
                for p in itertools.permutations(range(shape[1]), shape[0])
            )
        else:
            best = max(
                sum(s[p[j], j] for j in range(shape[1]))
                for p in itertools.permutations(range(shape[0]), shape[1])
            )
        assert s[r, c].sum() == pytest.approx(best, abs=1e-12)


def test_hungarian_empty_and_bad_shape():
    r, c = hungarian(np.zeros((0, 3)))
    assert len(r) == len(c) == 0
    with pytest.raises(ShapeError):
        hungarian(np.zeros(3))


def test_as_label_pair_shapes():
    p, t = as_label_pair(np.zeros((4, 5), np.uint8), np.ones((4, 5), bool))
    assert p.shape == t.shape == (1, 4, 5) and p.dtype == np.int64
    pv, _tv = as_label_pair(np.zeros((2, 3, 4, 5)), np.zeros((2, 3, 4, 5)), video=True)
    assert pv.shape == (2, 12, 5)
    with pytest.raises(ShapeError, match="same shape"):
        as_label_pair(np.zeros((4, 5)), np.zeros((4, 6)))
    with pytest.raises(ShapeError):
        as_label_pair(np.zeros((2, 2)), np.zeros((2, 2)), video=True)
    with pytest.raises(ShapeError):
        as_label_pair(np.full((2, 2), 0.5), np.zeros((2, 2)))
