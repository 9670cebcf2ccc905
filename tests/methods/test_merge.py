"""K→2 spectral merging, the oracle merge and connected-component post-processing, against brute force
and scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from spelke.errors import ConfigError, ShapeError
from spelke.methods.merge import (
    appearance_features,
    clean_binary,
    connected_components,
    cosine_affinity,
    merge_masks,
    ncut_value,
    normalised_cut,
    oracle_merge,
    segment_descriptors,
    spectral_merge,
)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def brute_ncut(w: np.ndarray, side1: set[int]) -> float:
    k = len(w)
    a = [i for i in range(k) if i not in side1]
    b = sorted(side1)
    cut = sum(w[i, j] for i in a for j in b)
    vol_a = sum(w[i, j] for i in a for j in range(k) if j != i)
    vol_b = sum(w[i, j] for i in b for j in range(k) if j != i)
    return cut / vol_a + cut / vol_b


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b) or np.array_equal(a, 1 - b))


# ---------------------------------------------------------------------------------------------- descriptors


def test_descriptors_match_brute_force(rng):
    masks = softmax(rng.normal(size=(2, 4, 5, 6)), 1)
    feats = rng.normal(size=(2, 3, 5, 6))
    got = segment_descriptors(masks, feats)
    want = np.zeros((2, 4, 3))
    for b in range(2):
        for k in range(4):
            num = np.zeros(3)
            den = 0.0
            for y in range(5):
                for x in range(6):
                    num += feats[b, :, y, x] * masks[b, k, y, x]
                    den += masks[b, k, y, x]
            want[b, k] = num / den
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_descriptors_of_empty_masks_are_zero_and_shapes_are_checked(rng):
    masks = np.zeros((1, 2, 3, 3))
    masks[0, 0] = 1.0
    d = segment_descriptors(masks, rng.normal(size=(1, 4, 3, 3)))
    assert np.all(np.isfinite(d)) and np.all(d[0, 1] == 0)
    with pytest.raises(ShapeError, match="upsample the features"):
        segment_descriptors(masks, np.zeros((1, 4, 6, 6)))


def test_affinity_is_clamped_cosine(rng):
    d = rng.normal(size=(5, 7))
    a = cosine_affinity(d, eps=1e-12)
    u = d / np.linalg.norm(d, axis=1, keepdims=True)
    np.testing.assert_allclose(a, np.maximum(1e-12, u @ u.T))
    assert a.min() >= 1e-12


# --------------------------------------------------------------------------------------------- normalised cut


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_exact_ncut_is_the_brute_force_minimum(rng, k):
    w = rng.uniform(0, 1, size=(k, k))
    w = (w + w.T) / 2
    a, v = normalised_cut(w, "exact")
    best = min(brute_ncut(w, set(s)) for r in range(1, k) for s in itertools.combinations(range(k), r))
    assert v == pytest.approx(best, rel=1e-12)
    assert brute_ncut(w, set(np.flatnonzero(a))) == pytest.approx(best, rel=1e-12)
    assert a[0] == 0 and 0 < a.sum() < k
    assert ncut_value(w, a) == pytest.approx(v)


def block_affinity(rng, k: int) -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros(k, np.int64)
    truth[rng.choice(np.arange(1, k), size=int(rng.integers(1, k)), replace=False)] = 1
    same = truth[:, None] == truth[None]
    w = np.where(same, rng.uniform(0.6, 1.0, (k, k)), rng.uniform(0.0, 0.2, (k, k)))
    w = (w + w.T) / 2
    np.fill_diagonal(w, 1.0)
    return w, truth


def test_solvers_match_sklearn_on_clustered_affinities(rng):
    pytest.importorskip("sklearn")
    from sklearn.cluster import SpectralClustering

    for _ in range(10):
        k = int(rng.integers(3, 9))
        w, truth = block_affinity(rng, k)
        ref = SpectralClustering(n_clusters=2, affinity="precomputed", random_state=0).fit_predict(w)
        for solver in ("exact", "spectral", "sklearn"):
            a, _ = normalised_cut(w, solver)
            assert same_partition(a, ref), (solver, w)
        assert same_partition(ref, truth)


def test_exact_is_never_worse_than_sklearn_or_the_relaxation(rng):
    pytest.importorskip("sklearn")
    from sklearn.cluster import SpectralClustering

    agree = 0
    for _ in range(15):
        k = int(rng.integers(3, 9))
        w = cosine_affinity(rng.normal(size=(k, 6)))
        a, v = normalised_cut(w, "exact")
        ref = SpectralClustering(n_clusters=2, affinity="precomputed", random_state=0).fit_predict(w)
        if len(set(ref)) == 2:
            assert v <= ncut_value(w, ref) + 1e-12
            agree += same_partition(a, ref)
        assert v <= normalised_cut(w, "spectral")[1] + 1e-12
    assert agree >= 12  # the two agree on most random graphs (28 of 30 with seed 0: same problem)


def test_spectral_solver_uses_the_generalised_fiedler_vector(rng):
    from scipy.linalg import eigh

    w = cosine_affinity(rng.normal(size=(9, 4)))
    w0 = w.copy()
    np.fill_diagonal(w0, 0)
    d = np.diag(w0.sum(1))
    _, vec = eigh(d - w0, d)
    y = vec[:, 1]
    order = np.argsort(y)
    sweeps = []
    for s in range(1, 9):
        a = np.zeros(9, np.int64)
        a[order[s:]] = 1
        sweeps.append(ncut_value(w, a))
    assert normalised_cut(w, "spectral")[1] == pytest.approx(min(sweeps), rel=1e-9)
    assert normalised_cut(w, "auto")[1] == normalised_cut(w, "exact")[1]
    with pytest.raises(ConfigError, match="solver"):
        normalised_cut(w, "kmeans")


# ------------------------------------------------------------------------------------------ spectral merge


def two_group_scene(rng, noise: float = 0.05):
    """A 24x24 image: components 0-2 tile a central square (the object), 3-5 the rest (background);
    features: one of two orthogonal directions per group, plus noise."""
    h = w = 24
    comp = np.zeros((h, w), np.int64)
    comp[:, 8:] = 4
    comp[12:, :] = 5
    comp[:, :8] = 3
    comp[6:18, 6:10] = 0
    comp[6:18, 10:14] = 1
    comp[6:18, 14:18] = 2
    masks = np.stack([(comp == k).astype(np.float64) for k in range(6)])[None]
    masks = 0.9 * masks + 0.1 / 6  # soft
    group = np.where(comp <= 2, 1, 0)
    dirs = np.zeros((2, 8))
    dirs[0, 0], dirs[1, 1] = 1.0, 1.0
    feats = dirs[group].transpose(2, 0, 1) + noise * rng.normal(size=(8, h, w))
    return masks, feats[None], comp


def test_spectral_merge_recovers_the_obvious_partition(rng):
    masks, feats, _ = two_group_scene(rng)
    res = spectral_merge(masks, feats)
    assert res.labelled
    assert res.assignment.tolist() == [[1, 1, 1, 0, 0, 0]]
    np.testing.assert_allclose(res.masks[0, 1], masks[0, :3].sum(0), rtol=1e-6)
    np.testing.assert_allclose(res.masks[0, 0], masks[0, 3:].sum(0), rtol=1e-6)
    np.testing.assert_allclose(res.masks.sum(1), 1.0, rtol=1e-6)
    assert res.ncut.shape == (1,) and res.ncut[0] < 0.5
    assert res.ncut[0] == pytest.approx(ncut_value(res.affinity[0], res.assignment[0]))
    assert spectral_merge(masks, feats, foreground="smaller").assignment.tolist() == [[1, 1, 1, 0, 0, 0]]
    unl = spectral_merge(masks, feats, foreground=None)
    assert not unl.labelled and unl.assignment.tolist() == [[0, 0, 0, 1, 1, 1]]
    for solver in ("exact", "spectral"):
        assert spectral_merge(masks, feats, solver=solver).assignment.tolist() == [[1, 1, 1, 0, 0, 0]]


def test_border_and_smaller_rules_can_disagree():
    # a large object filling the centre (324 of 400 pixels) with a thin background frame
    masks = np.zeros((1, 2, 20, 20))
    masks[0, 0] = 1.0
    masks[0, 0, 1:19, 1:19] = 0.0
    masks[0, 1] = 1.0 - masks[0, 0]
    feats = np.stack([masks[0, 0] - masks[0, 1], masks[0, 1] - masks[0, 0]])[None]
    assert spectral_merge(masks, feats, foreground="border").assignment.tolist() == [[0, 1]]
    assert spectral_merge(masks, feats, foreground="smaller").assignment.tolist() == [[1, 0]]
    with pytest.raises(ConfigError, match="foreground"):
        spectral_merge(masks, feats, foreground="gt")


def test_empty_segments_stay_out_of_the_cut(rng):
    masks, feats, _ = two_group_scene(rng)
    masks = np.concatenate([masks, np.zeros((1, 1, 24, 24))], axis=1)
    res = spectral_merge(masks, feats)
    assert res.assignment[0, :6].tolist() == [1, 1, 1, 0, 0, 0] and res.assignment[0, 6] == 0


def test_merge_masks_sums_members(rng):
    m = softmax(rng.normal(size=(2, 3, 4, 4)), 1)
    out = merge_masks(m, np.array([[1, 0, 1], [0, 0, 1]]))
    np.testing.assert_allclose(out[0, 1], m[0, 0] + m[0, 2], rtol=1e-6)
    np.testing.assert_allclose(out[1, 0], m[1, 0] + m[1, 1], rtol=1e-6)


def test_colour_features_separate_segments_of_different_appearance(rng):
    h = w = 48
    img = np.empty((3, h, w))
    img[:] = np.array([0.3, 0.6, 0.3])[:, None, None] + 0.05 * rng.normal(size=(3, h, w))  # grass
    obj = np.zeros((h, w), bool)
    obj[14:34, 12:36] = True
    img[:, obj] = np.array([0.8, 0.25, 0.2])[:, None] + 0.05 * rng.normal(size=(3, obj.sum()))
    img = np.clip(img, 0, 1)
    # K = 4: the object split in two, the background split in two, soft
    comp = np.where(obj, np.where(np.arange(w)[None] < 24, 0, 1), np.where(np.arange(h)[:, None] < 24, 2, 3))
    masks = softmax(4.0 * np.eye(4)[comp].transpose(2, 0, 1), 0)[None]
    feats = appearance_features(img[None])
    assert feats.shape == (1, 10, h, w) and feats.dtype == np.float32
    assert spectral_merge(masks, feats).assignment.tolist() == [[1, 1, 0, 0]]
    assert spectral_merge(masks, appearance_features(img, kind="lab")).assignment.tolist() == [[1, 1, 0, 0]]


def test_colour_features_separate_texture_at_equal_mean_colour(rng):
    h = w = 48
    img = np.full((3, h, w), 0.5)
    obj = np.zeros((h, w), bool)
    obj[12:36, 12:36] = True
    checker = (np.indices((h, w)).sum(0) % 2) * 0.6 + 0.2  # mean 0.5, strong texture
    img[:, obj] = checker[obj]
    comp = np.where(obj, np.where(np.arange(w)[None] < 24, 0, 1), np.where(np.arange(h)[:, None] < 24, 2, 3))
    masks = np.eye(4)[comp].transpose(2, 0, 1)[None]
    res = spectral_merge(masks, appearance_features(img[None], window=5))
    assert res.assignment.tolist() == [[1, 1, 0, 0]]


# ------------------------------------------------------------------------------------------------ oracle


def brute_iou(fg: np.ndarray, gt: np.ndarray) -> float:
    u = (fg | gt).sum()
    return 1.0 if u == 0 else (fg & gt).sum() / u


def test_oracle_on_labels_is_the_brute_force_maximum(rng):
    for _ in range(5):
        labels = rng.integers(0, 5, size=(12, 14))
        gt = rng.random((12, 14)) < 0.4
        res = oracle_merge(labels, gt)
        ids = np.unique(labels)
        best = max(
            brute_iou(np.isin(labels, ids[np.array(bits, bool)]), gt)
            for bits in itertools.product([0, 1], repeat=ids.size)
        )
        assert res.iou == pytest.approx(best, rel=1e-12)
        assert brute_iou(res.foreground, gt) == pytest.approx(best, rel=1e-12)
        np.testing.assert_array_equal(res.foreground, np.isin(labels, np.flatnonzero(res.assignment)))


def test_oracle_on_soft_masks_is_the_brute_force_maximum(rng):
    masks = softmax(2 * rng.normal(size=(4, 10, 10)), 0).astype(np.float32)
    gt = np.zeros((10, 10), bool)
    gt[2:7, 3:9] = True
    res = oracle_merge(masks, gt)
    best = max(
        brute_iou(np.tensordot(np.array(bits, np.float32), masks, 1) > 0.5, gt)
        for bits in itertools.product([0, 1], repeat=4)
    )
    assert res.iou == pytest.approx(best)
    assert brute_iou(res.foreground, gt) == pytest.approx(best)


def test_oracle_edge_cases():
    labels = np.array([[0, 0], [3, 3]])
    res = oracle_merge(labels, np.zeros((2, 2)))
    assert res.iou == 1.0 and res.assignment.tolist() == [0, 0, 0, 0]  # nothing selected: empty == empty
    res = oracle_merge(labels, labels == 3)
    assert res.iou == 1.0 and res.assignment.tolist() == [0, 0, 0, 1]
    with pytest.raises(ShapeError):
        oracle_merge(np.zeros((2, 3), np.int64), np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="2\\^K"):
        oracle_merge(np.arange(25 * 2).reshape(5, 10), np.zeros((5, 10)))


# ------------------------------------------------------------------------------------ connected components


def blobs(rng, k: int, size: int = 64) -> np.ndarray:
    noise = ndimage.gaussian_filter(rng.normal(size=(k, size, size)), sigma=(0, 3, 3))
    return noise.argmax(0)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_connected_components_invariants(rng, k, connectivity):
    st = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    for _ in range(3):
        lab = blobs(rng, 4)
        lab[rng.random(lab.shape) < 0.01] = 7  # salt: tiny components
        out = connected_components(lab, k, min_fraction=0.002, connectivity=connectivity)
        ids = np.unique(out)
        assert ids.tolist() == list(range(ids.size)) and ids.size <= k
        areas = np.bincount(out.ravel())
        assert np.all(np.diff(areas[1:]) <= 0)  # ids 1.. in decreasing area
        # the largest original component lies inside id 0
        comps = [
            (c == j).sum()
            for v in np.unique(lab)
            for c in [ndimage.label(lab == v, st)[0]]
            for j in range(1, c.max() + 1)
        ]
        assert areas[0] >= max(comps)
        for i in ids[1:]:
            _, n = ndimage.label(out == i, st)
            assert n == 1 and areas[i] >= 0.002 * lab.size
            # and it is exactly one component of the input
            assert len(np.unique(lab[out == i])) == 1
        assert connected_components(lab[None], k, 0.002, connectivity).shape == (1, *lab.shape)


def test_connected_components_worked_example():
    lab = np.zeros((20, 20), np.int64)
    lab[1:9, 1:9] = 1  # 64
    lab[12:18, 12:18] = 1  # 36, same id, separate component
    lab[1:5, 14:18] = 2  # 16
    lab[19, 0] = 2  # 1 pixel: below 0.1 % of 400? 1 >= 0.4: kept by size, dropped by K
    out = connected_components(lab, max_segments=3)
    assert out[0, 0] == 0 and out[5, 5] == 1 and out[15, 15] == 2  # background 0 is the largest
    assert np.all(out[1:5, 14:18] == 0) and out[19, 0] == 0  # rank >= K: merged into the largest
    out = connected_components(lab, max_segments=10, min_fraction=0.01)  # 4 px threshold
    assert out[2, 15] == 3 and out[19, 0] == 0
    diag = np.eye(4, dtype=np.int64)
    assert np.unique(connected_components(diag, 10, 0.0, 8)).size == 2
    assert np.unique(connected_components(diag, 10, 0.0, 4)).size == 6  # 4 pixels + 2 background triangles
    with pytest.raises(ConfigError):
        connected_components(diag, 0)
    with pytest.raises(ShapeError):
        connected_components(np.zeros((2, 3, 4, 4)), 2)


def test_clean_binary():
    m = np.zeros((40, 40), bool)
    m[5:30, 5:30] = True
    m[15, 15] = False  # 1-pixel hole: filled
    m[10:20, 22:27] = False  # 50-pixel hole: kept (> 1% of 1600 = 16)
    m[36, 36] = True  # 1-pixel blob: removed
    m[0, 39] = True  # 1-pixel blob touching the border: removed
    out = clean_binary(m, min_fraction=0.01)
    assert out[15, 15] and not out[36, 36] and not out[0, 39]
    assert not out[12, 24]
    assert out.sum() == m.sum() + 1 - 2
    # a small background region touching the border is not a hole
    e = np.ones((10, 10), bool)
    e[0, 5] = False
    assert not clean_binary(e, 0.05)[0, 5]
    # the largest blob survives even if it is tiny
    tiny = np.zeros((50, 50), bool)
    tiny[3, 3] = True
    assert clean_binary(tiny, 0.01)[3, 3]
    assert not clean_binary(tiny, 0.01, keep_largest=False).any()
    np.testing.assert_array_equal(clean_binary(np.stack([m, m]), 0.01), np.stack([out, out]))
