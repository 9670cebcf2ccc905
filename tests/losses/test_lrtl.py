"""LRTL losses against explicit numpy/scipy references (thesis eqs. (5.3), (5.4), (5.7))."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

import spelke.losses.lrtl as lrtl
from spelke.errors import ConfigError, ShapeError
from spelke.losses import (
    SVDFallbackWarning,
    gwm_loss,
    lrtl_loss,
    rank_reconstruction_loss,
    reset_svd_fallback_counts,
    sample_masks,
    svd_fallback_counts,
    temporal_loss,
    trajectory_loss,
)

# ----------------------------------------------------------------------------- independent references


def bilinear(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scipy's order-1 spline = bilinear between pixel centres; mode='nearest' clamps to the border."""
    return map_coordinates(mask, [y, x], order=1, mode="nearest")


def masked_matrices(masks, tracks, query, valid=None, unit=None, size=None):
    """Explicit P_k = P diag(π(M_k, (P)_query)) per item, as a list of (K, 2T, N) arrays."""
    b, k, h, w = masks.shape
    out = []
    for bi in range(b):
        xy = tracks[bi]  # (T, N, 2)
        tt, n, _ = xy.shape
        p = np.zeros((2 * tt, n))
        for ti in range(tt):
            p[2 * ti] = xy[ti, :, 0]
            p[2 * ti + 1] = xy[ti, :, 1]
        if unit is not None:
            p[0::2] /= unit[1]
            p[1::2] /= unit[0]
        qx, qy = xy[query[bi], :, 0], xy[query[bi], :, 1]
        if size is not None:
            qx = (qx + 0.5) * w / size[1] - 0.5
            qy = (qy + 0.5) * h / size[0] - 0.5
        mk = []
        for ki in range(k):
            m_hat = bilinear(masks[bi, ki], qx, qy)
            if valid is not None:
                m_hat = m_hat * valid[bi]
            mk.append(p * m_hat[None, :])
        out.append(np.stack(mk))
    return out


def ref_trajectory(masks, tracks, query, rank, first=None, **kw):
    first = rank if first is None else first
    vals = []
    for pk in masked_matrices(masks, tracks, query, **kw):
        vals.append(sum(np.linalg.svd(m, compute_uv=False)[first:].sum() for m in pk))
    return np.array(vals)


def soft_masks(rng, b, k, h, w, sharp=2.0) -> np.ndarray:
    logits = rng.normal(size=(b, k, h, w)) * sharp
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def random_tracks(rng, b, tt, n, h, w, spread=1.0) -> np.ndarray:
    xy = np.stack([rng.uniform(0, w - 1, size=(b, tt, n)), rng.uniform(0, h - 1, size=(b, tt, n))], -1)
    return xy * spread


def t(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


# ------------------------------------------------------------------------------------------ sampling π


def test_sampling_at_pixel_centres_is_exact(rng):
    m = rng.random((2, 3, 5, 7)).astype(np.float32)
    ii, jj = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
    pts = np.stack([jj.ravel(), ii.ravel()], -1).astype(np.float32)[None].repeat(2, 0)
    got = sample_masks(t(m), t(pts))
    assert torch.equal(got, t(m).flatten(2))


def test_sampling_matches_scipy_bilinear(rng):
    m = rng.random((2, 3, 6, 9))
    pts = np.stack([rng.uniform(-2, 10, (2, 40)), rng.uniform(-2, 7, (2, 40))], -1)  # some outside
    got = sample_masks(t(m), t(pts)).numpy()
    want = np.stack([[bilinear(m[b, k], pts[b, :, 0], pts[b, :, 1]) for k in range(3)] for b in range(2)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    # points given on a grid twice as fine map by the pixel-centre rule x' = (x + 0.5) / 2 - 0.5
    fine = sample_masks(t(m), t(pts), size=(12, 18)).numpy()
    want = np.stack(
        [
            [
                bilinear(m[b, k], (pts[b, :, 0] + 0.5) / 2 - 0.5, (pts[b, :, 1] + 0.5) / 2 - 0.5)
                for k in range(3)
            ]
            for b in range(2)
        ]
    )
    np.testing.assert_allclose(fine, want, atol=1e-12)


def test_sampling_degenerate_grid_and_errors():
    m = torch.arange(3.0).view(1, 1, 3, 1)  # W = 1
    got = sample_masks(m, torch.tensor([[[0.0, 1.5], [4.0, -1.0]]]))
    assert got.tolist() == [[[1.5, 0.0]]]
    with pytest.raises(ShapeError, match=r"\(1, 1, 3, 1\)"):
        sample_masks(m, torch.zeros(2, 4, 2))


# ------------------------------------------------------------------------------------- trajectory loss


@pytest.mark.parametrize("drop", ["top-r", "top-r-minus-1"])
def test_trajectory_loss_matches_numpy_svd(rng, drop):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)
    query = np.array([2, 4])
    first = 3 if drop == "top-r" else 2
    want = ref_trajectory(m, xy, query, rank=3, first=first)
    got = trajectory_loss(t(m), t(xy), t(query), rank=3, drop=drop, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    assert float(trajectory_loss(t(m), t(xy), t(query), rank=3, drop=drop)) == pytest.approx(want.mean())


def test_drop_options_differ_by_sigma_r(rng):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)
    query = np.array([0, 5])
    a = trajectory_loss(t(m), t(xy), t(query), rank=4, drop="top-r", reduction="none").numpy()
    b = trajectory_loss(t(m), t(xy), t(query), rank=4, drop="top-r-minus-1", reduction="none").numpy()
    sigma_r = [
        sum(np.linalg.svd(mk, compute_uv=False)[3] for mk in pk) for pk in masked_matrices(m, xy, query)
    ]
    np.testing.assert_allclose(b - a, sigma_r, rtol=1e-9)
    assert np.all(b - a > 0)


def affine_tracks(rng, points: np.ndarray, tt: int) -> np.ndarray:
    """(T, N, 2) positions of one object moving by a random 2D affine map per frame: rank(P) <= 3."""
    out = []
    for _ in range(tt):
        a = np.eye(2) + rng.normal(scale=0.05, size=(2, 2))
        out.append(points @ a.T + rng.normal(scale=2.0, size=2))
    return np.stack(out)


def two_object_scene(rng, tt=8, h=16, w=24, query=3):
    """Two objects (left and right halves) with different affine motions; points at pixel centres."""
    left = np.stack([rng.integers(1, w // 2 - 2, 20), rng.integers(1, h - 1, 20)], -1).astype(np.float64)
    right = np.stack([rng.integers(w // 2 + 2, w - 1, 20), rng.integers(1, h - 1, 20)], -1).astype(np.float64)
    ta, tb = affine_tracks(rng, left, tt), affine_tracks(rng, right, tt)
    ta[query], tb[query] = left, right  # the query frame shows the points where they were sampled
    xy = np.concatenate([ta, tb], 1)[None]  # (1, T, 40, 2)
    truth = np.zeros((1, 2, h, w))
    truth[0, 0, :, : w // 2] = 1
    truth[0, 1, :, w // 2 :] = 1
    return truth, xy


def test_true_segmentation_has_zero_loss_and_merging_does_not(rng):
    truth, xy = two_object_scene(rng)
    q = torch.tensor([3])
    scale = np.abs(xy).sum()
    # each object's tracks (2D affine motion, absolute positions) have rank 3 <= r
    for r in (3, 5):
        good = float(trajectory_loss(t(truth), t(xy), q, rank=r))
        merged = float(trajectory_loss(t(truth.sum(1, keepdims=True)), t(xy), q, rank=r))
        assert good < 1e-10 * scale
        assert merged > 1e5 * max(good, 1e-12) and merged > 1e-3 * scale / xy.size
    # and the loss is differentiable towards the truth: soften the truth and it increases
    soft = 0.7 * truth + 0.3 * truth[:, ::-1]
    assert float(trajectory_loss(t(soft), t(xy), q)) > float(trajectory_loss(t(truth), t(xy), q)) + 0.1


def test_translation_tracks_have_rank_three(rng):
    """Pure translations: column j = x_j e_x + y_j e_y + c(t), rank 3 (absolute positions count)."""
    pts = rng.uniform(0, 15, size=(30, 2))
    shifts = rng.normal(scale=3, size=(6, 1, 2))
    xy = (pts[None] + shifts)[None]
    masks = torch.ones(1, 1, 16, 16, dtype=torch.float64)
    assert float(trajectory_loss(masks, t(xy), 0, rank=3)) < 1e-9
    assert float(trajectory_loss(masks, t(xy), 0, rank=2)) > 1.0


def test_padding_is_ignored(rng):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)
    query = torch.tensor([1, 2])
    base = trajectory_loss(t(m), t(xy), query, rank=3, reduction="none")
    pad = np.concatenate([xy, rng.uniform(-50, 50, size=(2, 6, 7, 2))], 2)
    valid = np.ones((2, 22), bool)
    valid[:, 15:] = False
    valid_t = t(valid)
    got = trajectory_loss(t(m), t(pad), query, valid=valid_t, rank=3, reduction="none")
    np.testing.assert_allclose(got.numpy(), base.numpy(), rtol=1e-10)
    assert not np.allclose(
        trajectory_loss(t(m), t(pad), query, rank=3, reduction="none").numpy(), base.numpy()
    )
    tl = temporal_loss(t(m), t(m[:, ::-1]), t(pad), query, 4, valid=valid_t, reduction="none")
    np.testing.assert_allclose(
        tl.numpy(), temporal_loss(t(m), t(m[:, ::-1]), t(xy), query, 4, reduction="none")
    )


def test_unit_normalisation_and_track_grid(rng):
    m, xy = soft_masks(rng, 2, 2, 8, 10), random_tracks(rng, 2, 5, 12, 16, 20)  # tracks on a 16x20 grid
    query = np.array([0, 3])
    want = ref_trajectory(m, xy, query, rank=3, size=(16, 20), unit=(16, 20))
    got = trajectory_loss(t(m), t(xy), t(query), rank=3, normalize="unit", size=(16, 20), reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)
    want = ref_trajectory(m, xy, query, rank=3, size=(16, 20))
    got = trajectory_loss(t(m), t(xy), t(query), rank=3, size=(16, 20), reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)


def test_rank_reconstruction_loss_is_truncated_svd_error(rng):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)
    query = np.array([2, 1])
    want = []
    for pk in masked_matrices(m, xy, query):
        total = 0.0
        for mk in pk:
            u, s, vt = np.linalg.svd(mk, full_matrices=False)
            total += ((mk - (u[:, :3] * s[:3]) @ vt[:3]) ** 2).sum()  # thesis eq. (5.3)
        want.append(total)
    got = rank_reconstruction_loss(t(m), t(xy), t(query), rank=3, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-8)


def test_trajectory_gradients_are_finite(rng):
    truth, xy = two_object_scene(rng)
    logits = t(np.log(0.98 * truth + 0.01)).float().requires_grad_(True)
    masks = torch.cat([logits.softmax(1), torch.zeros(1, 1, 16, 24)], 1)  # an empty third mask
    loss = trajectory_loss(masks, t(xy).float(), 3)
    assert loss.dtype == torch.float32
    (g,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


# ------------------------------------------------------------------------------------------ SVD fallback


@pytest.fixture
def counts():
    reset_svd_fallback_counts()
    yield
    reset_svd_fallback_counts()


def test_fallback_recovers_when_batched_svd_fails(rng, monkeypatch, counts):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)
    args = (t(m).float(), t(xy).float(), torch.tensor([0, 1]))
    want = trajectory_loss(*args, rank=3, reduction="none")
    real = torch.linalg.svdvals

    def fake(x, *a, **k):
        if x.ndim > 2 or x.dtype != torch.float64:  # batched and float32 calls fail
            raise torch.linalg.LinAlgError("did not converge")
        return real(x, *a, **k)

    monkeypatch.setattr(torch.linalg, "svdvals", fake)
    got = trajectory_loss(*args, rank=3, reduction="none")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    assert svd_fallback_counts() == {"float64": 6}


def test_fallback_nan_result_is_retried(rng, monkeypatch, counts):
    m, xy = soft_masks(rng, 1, 2, 10, 12), random_tracks(rng, 1, 6, 15, 10, 12)
    want = trajectory_loss(t(m), t(xy), 0, rank=3)
    real = torch.linalg.svdvals
    monkeypatch.setattr(torch.linalg, "svdvals", lambda x: real(x) * (np.nan if x.ndim > 2 else 1.0))
    assert float(trajectory_loss(t(m), t(xy), 0, rank=3)) == pytest.approx(float(want), rel=1e-10)
    assert svd_fallback_counts() == {"retry": 2}


def test_fallback_last_resort_zeroes_the_item(rng, monkeypatch, counts):
    m, xy = soft_masks(rng, 2, 3, 10, 12), random_tracks(rng, 2, 6, 15, 10, 12)

    def fake(x, *a, **k):
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "svdvals", fake)
    masks = t(m).requires_grad_(True)
    with pytest.warns(SVDFallbackWarning, match="2 batch item"):
        loss = trajectory_loss(masks, t(xy), torch.tensor([0, 1]), rank=3, reduction="none")
    assert loss.tolist() == [0.0, 0.0]
    assert svd_fallback_counts()["zeroed"] == 2
    loss.sum().backward()  # still attached to the graph, with zero gradient
    assert torch.equal(masks.grad, torch.zeros_like(masks))


def test_no_warning_on_the_normal_path(rng, counts):
    m, xy = soft_masks(rng, 1, 2, 10, 12), random_tracks(rng, 1, 6, 15, 10, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trajectory_loss(t(m), t(xy), 0)
    assert svd_fallback_counts() == {}


# -------------------------------------------------------------------------------------- temporal loss


def ref_temporal(mt, mn, xy, query, nxt, valid=None, vis=None):
    b, k = mt.shape[:2]
    per = []
    for bi in range(b):
        a = np.stack(
            [bilinear(mt[bi, ki], xy[bi, query[bi], :, 0], xy[bi, query[bi], :, 1]) for ki in range(k)]
        )
        c = np.stack([bilinear(mn[bi, ki], xy[bi, nxt[bi], :, 0], xy[bi, nxt[bi], :, 1]) for ki in range(k)])
        d = ((a - c) ** 2).sum(0)
        wts = np.ones(d.shape)
        if valid is not None:
            wts = wts * valid[bi]
        if vis is not None:
            wts = wts * vis[bi, nxt[bi]]
        per.append((d * wts).sum() / max(wts.sum(), 1.0))
    return np.array(per)


def test_temporal_loss_matches_scipy_loop(rng):
    mt, mn = soft_masks(rng, 2, 3, 9, 11), soft_masks(rng, 2, 3, 9, 11)
    xy = random_tracks(rng, 2, 7, 25, 9, 11)
    xy[:, 5, :4] += 30.0  # some points leave the frame at t + Δt: they read the border
    query, nxt = np.array([0, 2]), np.array([5, 6])
    got = temporal_loss(t(mt), t(mn), t(xy), t(query), t(nxt), reduction="none")
    np.testing.assert_allclose(got.numpy(), ref_temporal(mt, mn, xy, query, nxt), rtol=1e-10)
    assert float(temporal_loss(t(mt), t(mn), t(xy), t(query), t(nxt))) == pytest.approx(
        ref_temporal(mt, mn, xy, query, nxt).mean()
    )
    vis = rng.random((2, 7, 25)) > 0.3
    valid = rng.random((2, 25)) > 0.2
    got = temporal_loss(
        t(mt), t(mn), t(xy), t(query), t(nxt), valid=t(valid), visibility=t(vis), reduction="none"
    )
    np.testing.assert_allclose(got.numpy(), ref_temporal(mt, mn, xy, query, nxt, valid, vis), rtol=1e-10)


def test_temporal_loss_zero_for_consistent_masks_and_gradients(rng):
    h, w = 12, 16
    truth = np.zeros((1, 2, h, w))
    truth[0, 0, :, :8] = 1
    truth[0, 1, :, 8:] = 1
    moved = np.roll(truth, 3, axis=3)
    moved[0, 0, :, :3] = 1
    moved[0, 1, :, :3] = 0
    pts = np.stack([rng.integers(0, w - 3, 30), rng.integers(0, h, 30)], -1).astype(np.float64)
    xy = np.stack([pts, pts + np.array([3.0, 0.0])])[None]  # everything moves 3 px right
    assert float(temporal_loss(t(truth), t(moved), t(xy), 0, 1)) == 0.0
    logits = t(np.log(0.9 * truth + 0.05)).requires_grad_(True)
    loss = temporal_loss(logits.softmax(1), t(truth), t(xy), 0, 1)
    (g,) = torch.autograd.grad(loss, logits)
    assert float(loss.detach()) > 0 and torch.isfinite(g).all()


# ------------------------------------------------------------------------------------------ total loss


def test_lrtl_total_and_terms(rng):
    m, mn = soft_masks(rng, 2, 3, 10, 12), soft_masks(rng, 2, 3, 10, 12)
    flow = rng.normal(size=(2, 2, 10, 12))
    xy = random_tracks(rng, 2, 6, 15, 10, 12)
    q, nx = torch.tensor([1, 2]), torch.tensor([4, 5])
    out = lrtl_loss(t(m), t(flow), t(xy), q, masks_next=t(mn), next_index=nx)
    assert set(out) == {"loss", "flow", "trajectory", "temporal"}
    assert float(out["flow"]) == pytest.approx(float(gwm_loss(t(m), t(flow), form="code")))
    assert float(out["trajectory"]) == pytest.approx(float(trajectory_loss(t(m), t(xy), q)))
    assert float(out["temporal"]) == pytest.approx(float(temporal_loss(t(m), t(mn), t(xy), q, nx)))
    total = 0.03 * out["flow"] + 5e-5 * out["trajectory"] + 0.1 * out["temporal"]
    assert float(out["loss"]) == pytest.approx(float(total))
    only_flow = lrtl_loss(t(m), t(flow))
    assert set(only_flow) == {"loss", "flow"}
    no_temporal = lrtl_loss(t(m), None, t(xy), q, lambda_traj=1.0)
    assert float(no_temporal["loss"]) == pytest.approx(float(out["trajectory"]))
    with pytest.raises(ConfigError, match="no term"):
        lrtl_loss(t(m))
    with pytest.raises(ConfigError, match="query"):
        lrtl_loss(t(m), t(flow), t(xy))
    with pytest.raises(ConfigError, match="next_index"):
        lrtl_loss(t(m), t(flow), t(xy), q, masks_next=t(mn))


def test_option_and_shape_errors(rng):
    m, xy = torch.ones(2, 2, 8, 8) / 2, torch.zeros(2, 4, 5, 2)
    with pytest.raises(ConfigError, match="drop"):
        trajectory_loss(m, xy, 0, drop="top")
    with pytest.raises(ConfigError, match="normalize"):
        trajectory_loss(m, xy, 0, normalize="pixels")
    with pytest.raises(ShapeError, match=r"\(2, 2, 8, 8\).*\(3, 4, 5, 2\)"):
        trajectory_loss(m, torch.zeros(3, 4, 5, 2), 0)
    with pytest.raises(ShapeError, match="query"):
        trajectory_loss(m, xy, torch.tensor([0, 9]))
    with pytest.raises(ShapeError, match="valid"):
        trajectory_loss(m, xy, 0, valid=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ShapeError, match="masks_next"):
        temporal_loss(m, torch.ones(2, 2, 4, 4), xy, 0, 1)
    assert lrtl.LRTL_WEIGHTS == {"flow": 0.03, "trajectory": 5e-5, "temporal": 0.1}
