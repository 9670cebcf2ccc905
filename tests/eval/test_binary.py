"""Binary metrics against independent references: scikit-learn and brute-force boundary matching."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score

from spelke.errors import ShapeError
from spelke.eval.binary import (
    binary_confusion,
    boundary_f,
    boundary_map,
    boundary_radius,
    jaccard,
    pixel_accuracy,
)


def blobs(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Random masks made of a few rectangles and ellipses plus a little salt noise."""
    out = np.zeros((n, h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            ry, rx = rng.uniform(2, h / 3), rng.uniform(2, w / 3)
            if rng.random() < 0.5:
                out[i] |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            else:
                out[i] |= (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)
        out[i] ^= rng.random((h, w)) < 0.01
    return out


def slow_boundary(m: np.ndarray) -> np.ndarray:
    """seg2bmap by its definition: differs from the right, bottom or bottom-right neighbour (in-image)."""
    h, w = m.shape
    b = np.zeros_like(m, dtype=bool)
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (1, 0), (1, 1)):
                yy, xx = y + dy, x + dx
                if yy < h and xx < w and m[y, x] != m[yy, xx]:
                    b[y, x] = True
    return b


def brute_f(pred: np.ndarray, true: np.ndarray, radius: float) -> float:
    """Boundary F with matching by exact Euclidean distance transform, DAVIS empty conventions."""
    bp, bt = slow_boundary(pred), slow_boundary(true)
    n_p, n_t = bp.sum(), bt.sum()
    if n_p == 0 and n_t == 0:
        return 1.0
    if n_p == 0 or n_t == 0:
        return 0.0
    dist_to_t = distance_transform_edt(~bt)
    dist_to_p = distance_transform_edt(~bp)
    precision = (dist_to_t[bp] <= radius).mean()
    recall = (dist_to_p[bt] <= radius).mean()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_jaccard_matches_sklearn(rng):
    p, t = blobs(rng, 12, 20, 30), blobs(rng, 12, 20, 30)
    got = jaccard(p, t)
    want = [jaccard_score(t[i].ravel(), p[i].ravel(), zero_division=1.0) for i in range(12)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_jaccard_edge_cases_and_void():
    z = np.zeros((2, 4, 4), np.uint8)
    assert jaccard(z, z).tolist() == [1.0, 1.0]  # both empty: DAVIS convention
    o = np.ones((4, 4), np.int64) * 7  # any nonzero value is foreground; (H, W) is N = 1
    assert jaccard(o, np.zeros((4, 4))).tolist() == [0.0]
    p = np.zeros((1, 4, 4), bool)
    p[0, 0] = True
    t = np.zeros((1, 4, 4), bool)
    t[0, 0, :2] = True
    void = np.zeros((1, 4, 4), bool)
    void[0, 0, 2:] = True  # the two false positives are void
    assert jaccard(p, t).tolist() == [0.5]
    assert jaccard(p, t, void=void).tolist() == [1.0]
    with pytest.raises(ShapeError, match=r"\(1, 4, 4\).*\(1, 4, 5\)"):
        jaccard(p, np.zeros((1, 4, 5)))


def test_pixel_accuracy_and_confusion_match_sklearn(rng):
    p, t = blobs(rng, 5, 16, 16), blobs(rng, 5, 16, 16)
    np.testing.assert_allclose(
        pixel_accuracy(p, t), [accuracy_score(t[i].ravel(), p[i].ravel()) for i in range(5)], atol=1e-12
    )
    c = binary_confusion(p, t)
    for i in range(5):
        tn, fp, fn, tp = confusion_matrix(t[i].ravel(), p[i].ravel(), labels=[False, True]).ravel()
        assert (c.tp[i], c.fp[i], c.fn[i], c.tn[i]) == (tp, fp, fn, tn)


def test_boundary_map_matches_definition(rng):
    m = blobs(rng, 4, 13, 17)
    b = boundary_map(m)
    for i in range(4):
        np.testing.assert_array_equal(b[i], slow_boundary(m[i]))
    # the image border is not a boundary: a full mask has none
    assert not boundary_map(np.ones((5, 6))).any()


def test_boundary_radius_davis_default():
    assert boundary_radius((480, 854)) == 8.0  # ceil(0.008 * 979.6)
    assert boundary_radius((40, 30)) == math.ceil(0.008 * 50)
    assert boundary_radius((40, 30), bound_th=3) == 3.0


@pytest.mark.parametrize("bound_th", [0.008, 0.05, 2, 3])
def test_boundary_f_matches_brute_force(rng, bound_th):
    p, t = blobs(rng, 8, 28, 36), blobs(rng, 8, 28, 36)
    p[1] = t[1]  # identical: F = 1
    p[2] = np.roll(t[2], 2, axis=1)  # a shift of 2 px
    got = boundary_f(p, t, bound_th=bound_th)
    r = boundary_radius((28, 36), bound_th)
    want = [brute_f(p[i], t[i], r) for i in range(8)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[1] == 1.0
    assert 0 < got.min() and got.max() <= 1


def test_boundary_f_empty_conventions():
    empty = np.zeros((12, 12), bool)
    square = empty.copy()
    square[3:8, 3:8] = True
    assert boundary_f(empty, empty).tolist() == [1.0]  # neither has a boundary
    assert boundary_f(empty, square).tolist() == [0.0]  # P = 1, R = 0
    assert boundary_f(square, empty).tolist() == [0.0]  # P = 0, R = 1
    full = np.ones((12, 12), bool)  # covers the image: no boundary pixel at all
    assert boundary_f(full, empty).tolist() == [1.0]
    assert boundary_f(full, square).tolist() == [0.0]


def test_boundary_f_tolerance_is_inclusive():
    """A vertical edge shifted by exactly r pixels matches; by r + 1 it does not."""
    a = np.zeros((20, 20), bool)
    a[:, :10] = True
    b2 = np.zeros((20, 20), bool)
    b2[:, :12] = True
    b3 = np.zeros((20, 20), bool)
    b3[:, :13] = True
    assert boundary_f(a, b2, bound_th=2).tolist() == [1.0]
    assert boundary_f(a, b3, bound_th=2).tolist() == [0.0]


def test_boundary_f_void_sets_background():
    t = np.zeros((1, 20, 20), bool)
    t[0, 5:15, 5:15] = True
    p = t.copy()
    p[0, 5:15, 15:18] = True  # wrong extension
    void = np.zeros_like(t)
    void[0, :, 15:] = True
    assert boundary_f(p, t, bound_th=1)[0] < 1
    # with the extension void, both masks are cut to the same region
    assert boundary_f(p, t, bound_th=1, void=void)[0] == 1.0
