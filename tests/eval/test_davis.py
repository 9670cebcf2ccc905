"""DAVIS statistics (hand-worked) and the DAVIS 2017 unsupervised matching (brute force over assignments)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.eval.binary import boundary_f, jaccard
from spelke.eval.davis import (
    Davis2017Accumulator,
    davis2017_unsupervised,
    davis_decay_bins,
    davis_statistics,
)

# ---------------------------------------------------------------------------------------------------
# statistics


@pytest.mark.parametrize(
    ("n", "bins"),
    [
        # edges = round_half_up(linspace(1, T, 5)) - 1; bin i = frames edge_i .. edge_{i+1} inclusive
        (4, [(0, 2), (1, 3), (2, 3), (2, 4)]),  # linspace 1, 1.75, 2.5, 3.25, 4 -> 1, 2, 3, 3, 4
        (5, [(0, 2), (1, 3), (2, 4), (3, 5)]),  # 1, 2, 3, 4, 5
        (8, [(0, 3), (2, 5), (4, 6), (5, 8)]),  # 1, 2.75, 4.5, 6.25, 8 -> 1, 3, 5, 6, 8 (4.5 rounds up)
        (10, [(0, 3), (2, 6), (5, 8), (7, 10)]),  # 1, 3.25, 5.5, 7.75, 10 -> 1, 3, 6, 8, 10
        (1, [(0, 1)] * 4),
    ],
)
def test_decay_bins_hand_worked(n, bins):
    assert davis_decay_bins(n) == bins


def test_statistics_hand_worked():
    s = davis_statistics(np.arange(10) / 10)
    assert s["mean"] == pytest.approx(0.45)
    assert s["recall"] == pytest.approx(0.4)  # 0.6, 0.7, 0.8, 0.9 are > 0.5 (0.5 is not)
    assert s["decay"] == pytest.approx(0.1 - 0.8)  # mean(0, .1, .2) - mean(.7, .8, .9)
    assert davis_statistics([1.0, 1.0, 0.0, 0.0]) == {"mean": 0.5, "recall": 0.5, "decay": 1.0}


def test_statistics_nan_and_degenerate():
    s = davis_statistics([np.nan, 1.0, 0.2, 0.8])
    assert s["mean"] == pytest.approx(2 / 3)  # NaN left out of the mean
    assert s["recall"] == pytest.approx(0.5)  # ... but counted as a miss in recall (2 of 4)
    assert s["decay"] == pytest.approx(1.0 - 0.5)  # bins [nan, 1] and [0.2, 0.8]
    assert davis_statistics([0.7]) == {"mean": 0.7, "recall": 1.0, "decay": 0.0}
    assert all(math.isnan(v) for v in davis_statistics([]).values())


# ---------------------------------------------------------------------------------------------------
# unsupervised matching


def random_sequence(rng, t=5, h=24, w=32, n_obj=3, n_prop=4):
    """Objects as drifting rectangles; proposals as noisy, shifted, partly swapped copies."""
    true = np.zeros((t, h, w), np.int64)
    pred = np.zeros((t, h, w), np.int64)
    boxes = [(rng.integers(0, h - 8), rng.integers(0, w - 10), rng.integers(4, 8), rng.integers(5, 10))
             for _ in range(n_obj)]  # fmt: skip
    perm = rng.permutation(n_prop) + 1
    for f in range(t):
        for k, (y, x, hh, ww) in enumerate(boxes):
            if f == t - 1 and k == 0:
                continue  # object 1 leaves in the last frame
            true[f, y + f // 2 : y + f // 2 + hh, x + f : x + f + ww] = k + 1
            dy, dx = rng.integers(-1, 2, size=2)
            yy, xx = max(y + f // 2 + dy, 0), max(x + f + dx, 0)
            pred[f, yy : yy + hh, xx : xx + ww] = perm[k % n_prop]
        noise = rng.random((h, w)) < 0.03
        pred[f][noise] = rng.integers(0, n_prop + 1, size=noise.sum())
    return pred, true


def pair_scores(pred, true, n_prop, n_obj):
    """J and F per (proposal, object, frame) with the per-image metric functions."""
    j = np.zeros((n_prop, n_obj, pred.shape[0]))
    f = np.zeros_like(j)
    for p in range(1, n_prop + 1):
        for o in range(1, n_obj + 1):
            j[p - 1, o - 1] = jaccard(pred == p, true == o)
            f[p - 1, o - 1] = boundary_f(pred == p, true == o)
    return j, f


def brute_best(j, f):
    """Exhaustive search over injective object -> proposal maps."""
    score = (j.mean(axis=2) + f.mean(axis=2)) / 2
    n_prop, n_obj = score.shape
    best, best_rows = -1.0, None
    for rows in itertools.permutations(range(n_prop), n_obj):
        s = sum(score[r, c] for c, r in enumerate(rows))
        if s > best + 1e-12:
            best, best_rows = s, rows
    return best, np.array(best_rows)


@pytest.mark.parametrize(("n_obj", "n_prop"), [(3, 4), (3, 3), (2, 5)])
def test_unsupervised_matches_brute_force(rng, n_obj, n_prop):
    pred, true = random_sequence(rng, n_obj=n_obj, n_prop=n_prop)
    res = davis2017_unsupervised(pred, true)
    j, f = pair_scores(pred, true, n_prop, n_obj)
    np.testing.assert_allclose(res.score_matrix, (j.mean(2) + f.mean(2)) / 2, atol=1e-12)
    best, rows = brute_best(j, f)
    np.testing.assert_array_equal(res.proposal_ids, rows + 1)
    np.testing.assert_allclose(res.j, j[rows, np.arange(n_obj)], atol=1e-12)
    np.testing.assert_allclose(res.f, f[rows, np.arange(n_obj)], atol=1e-12)
    got = ((res.j.mean(1) + res.f.mean(1)) / 2).sum()
    assert got == pytest.approx(best)
    assert res.object_ids.tolist() == list(range(1, n_obj + 1))
    assert res.frames.tolist() == list(range(pred.shape[0]))  # unsupervised: every frame


def test_proposal_ids_are_arbitrary(rng):
    pred, true = random_sequence(rng, n_obj=3, n_prop=4)
    perm = np.array([0, 3, 1, 4, 2])  # relabel proposals 1..4
    res_a = davis2017_unsupervised(pred, true)
    res_b = davis2017_unsupervised(perm[pred], true)
    np.testing.assert_allclose(res_a.j, res_b.j)
    np.testing.assert_allclose(res_a.f, res_b.f)
    np.testing.assert_array_equal(perm[res_a.proposal_ids], res_b.proposal_ids)


def test_fewer_proposals_than_objects_pads_with_empty_proposals():
    true = np.zeros((4, 16, 16), np.int64)
    true[:, 2:6, 2:6] = 1
    true[:2, 9:14, 9:14] = 2  # object 2 visible in frames 0, 1 only
    pred = (true == 1).astype(np.int64)  # one proposal, perfect for object 1
    res = davis2017_unsupervised(pred, true)
    assert res.proposal_ids.tolist() == [1, 0]
    assert res.proposal_for(2) == 0
    np.testing.assert_array_equal(res.j[0], 1.0)
    # empty proposal vs object 2: 0 where visible, 1 where both are empty (official behaviour)
    assert res.j[1].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert res.f[1].tolist() == [0.0, 0.0, 1.0, 1.0]
    s = res.summary()
    assert s["J_mean"] == pytest.approx((1.0 + 0.5) / 2)
    assert s["objects"] == 2


def test_too_many_proposals_is_an_error():
    true = np.ones((2, 8, 8), np.int64)
    pred = np.zeros((2, 8, 8), np.int64)
    pred[0, 0, 0] = 21
    with pytest.raises(ShapeError, match=r"up to 21 \(1 distinct\).*max_proposals=20.*relabel"):
        davis2017_unsupervised(pred, true)
    # ids 1..20 never occur but still count as (empty) proposals, as in the official code; against a
    # full-frame object (no boundary) an empty proposal has J = 0, F = 1 and beats the one-pixel id 21
    assert davis2017_unsupervised(pred, true, max_proposals=25).proposal_ids.tolist() == [1]


def test_frame_and_object_selection():
    true = np.zeros((5, 10, 10), np.int64)
    true[:, 1:4, 1:4] = 1
    true[3:, 6:9, 6:9] = 2  # object 2 appears only from frame 3
    pred = true.copy()
    pred[0] = 0  # first frame missed
    res = davis2017_unsupervised(pred, true)
    assert res.object_ids.tolist() == [1]  # official: objects of the first frame
    assert res.j[0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    res = davis2017_unsupervised(pred, true, objects="all_frames", frames="drop_first_last")
    assert res.object_ids.tolist() == [1, 2]
    assert res.frames.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(res.j, 1.0)


def test_void_label():
    true = np.zeros((2, 10, 10), np.int64)
    true[:, 2:6, 2:6] = 1
    true[:, 2:6, 6] = 255  # a void strip beside the object
    pred = np.zeros_like(true)
    pred[:, 2:6, 2:7] = 1  # covers the void strip too
    res = davis2017_unsupervised(pred, true)  # official: void read as background
    assert res.j[0, 0] == pytest.approx(16 / 20)
    res = davis2017_unsupervised(pred, true, void="ignore")
    assert res.j[0, 0] == 1.0
    assert res.f[0, 0] == 1.0


def test_accumulator_pools_objects(rng):
    acc = Davis2017Accumulator()
    results = []
    for n_obj in (1, 3):
        pred, true = random_sequence(rng, n_obj=n_obj, n_prop=3)
        results.append(davis2017_unsupervised(pred, true))
        acc.update(results[-1], f"seq{n_obj}")
    out = acc.compute()
    rows = [r for res in results for r in res.per_object()]
    assert out["objects"] == 4 and out["sequences"] == 2
    assert out["J_mean"] == pytest.approx(np.mean([r["J_mean"] for r in rows]))  # mean over objects
    assert out["J&F_mean"] == pytest.approx((out["J_mean"] + out["F_mean"]) / 2)
