"""Non-learned baselines: flow thresholding and K-means, on synthetic flow with a known moving square,
and our K-means against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ConfigError, ShapeError
from spelke.methods.baselines import (
    flow_magnitude,
    flow_threshold,
    kmeans,
    kmeans_colour_position,
    kmeans_flow,
    kmeans_flow_binary,
    otsu_threshold,
    quadratic_background,
)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def moving_square_flow(rng, camera=(1.5, -0.7), obj=(3.0, 2.0), noise=0.15):
    """64x80 flow: a translating camera everywhere, a 16x20 square with an extra motion, noise."""
    h, w = 64, 80
    flow = np.empty((2, h, w))
    flow[0], flow[1] = camera
    sq = np.zeros((h, w), bool)
    sq[20:36, 30:50] = True
    flow[0, sq] += obj[0]
    flow[1, sq] += obj[1]
    flow += noise * rng.normal(size=flow.shape)
    return flow, sq


def test_flow_threshold_recovers_a_moving_square_under_camera_motion(rng):
    flow, sq = moving_square_flow(rng)
    assert iou(flow_threshold(flow), sq) > 0.9
    assert iou(flow_threshold(flow, 1.5), sq) > 0.9
    # without removing the camera motion a fixed threshold below the camera speed selects everything
    assert iou(flow_threshold(flow, 1.0, background="none"), sq) < 0.2
    mag = flow_magnitude(flow)
    assert np.median(mag[~sq]) < 0.3 and np.median(mag[sq]) > 3.0
    with pytest.raises(ConfigError):
        flow_threshold(flow, "mean")
    with pytest.raises(ShapeError):
        flow_threshold(flow[:1])


def test_quadratic_background_removes_a_turning_camera(rng):
    """A turning camera's flow is quadratic in the pixel coordinates: the trimmed fit recovers it exactly
    on the background (the square does not pull it), and thresholding the residual finds the square,
    where the median leaves the camera's rotation and fails."""
    h, w = 64, 80
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    # pan + tilt + roll of a camera, small-angle rotational flow (in pixels, focal length ~ 1 in these units)
    camera = np.stack(
        [2.0 * (1 + xs**2) - 0.5 * xs * ys + 3.0 * ys, 0.5 * (1 + ys**2) - 2.0 * xs * ys - 3.0 * xs]
    )
    flow, sq = moving_square_flow(rng, camera=(0.0, 0.0), noise=0.0)
    flow = flow + camera
    fit = quadratic_background(flow)
    assert np.abs(fit - camera)[:, ~sq].max() < 1e-6
    assert iou(flow_threshold(flow, background="quadratic"), sq) > 0.99
    assert iou(flow_threshold(flow, background="median"), sq) < 0.6
    noisy = flow + 0.15 * rng.normal(size=flow.shape)
    assert iou(flow_threshold(noisy, background="quadratic"), sq) > 0.9
    # flow that the model explains entirely (a constant here) holds no foreground, whatever its rounding
    assert not flow_threshold(np.full((2, 20, 20), 1.7), background="quadratic").any()


def test_quadratic_background_removes_a_real_camera_rotation(rng):
    """The flow of a camera turning by 1 degree about all three axes, from the generator's own camera
    model: a homography, close to quadratic; the fit leaves hundredths of a pixel."""
    from spelke.synth.camera import Camera
    from spelke.synth.flow import rigid_flow
    from spelke.synth.moving import camera_poses

    size = (64, 80)
    cam = Camera.look_at((0.0, -8.0, 3.0), (0.0, 0.0, 0.0))
    poses = camera_poses(cam, np.radians([1.0, -1.0, 1.0]), [0, 1])
    ident = np.eye(4)[None]
    depth = 5.0 + 10.0 * rng.random(size)  # any depth: a turning camera has no parallax
    camera = rigid_flow(depth, np.zeros(size, np.int64), ident, ident, poses[0], poses[1])
    assert np.hypot(*camera).mean() > 1.0
    assert np.abs(quadratic_background(camera) - camera).max() < 0.05
    flow, sq = moving_square_flow(rng, camera=(0.0, 0.0), noise=0.0)
    flow = flow + camera
    assert iou(flow_threshold(flow, background="quadratic"), sq) > 0.99


def test_otsu_maximises_between_class_variance(rng):
    v = np.concatenate([rng.normal(1.0, 0.2, 3000), rng.normal(4.0, 0.5, 1000)])
    t = otsu_threshold(v, bins=256)
    assert 1.6 < t < 3.2

    def between(th):
        lo, hi = v[v <= th], v[v > th]
        if lo.size == 0 or hi.size == 0:
            return -1
        w0 = lo.size / v.size
        return w0 * (1 - w0) * (lo.mean() - hi.mean()) ** 2

    edges = np.linspace(v.min(), v.max(), 257)[1:-1]
    best = max(between(e) for e in edges)
    assert between(t) == pytest.approx(best, rel=1e-9)
    assert otsu_threshold(np.full(5, 2.0)) == 2.0


def test_kmeans_flow_binary_recovers_the_square(rng):
    flow, sq = moving_square_flow(rng)
    fg = kmeans_flow_binary(flow, seed=0)
    assert fg.dtype == bool and iou(fg, sq) > 0.9
    np.testing.assert_array_equal(kmeans_flow_binary(flow, seed=0), fg)
    assert iou(kmeans_flow_binary(flow, seed=3, position_weight=0.5), sq) > 0.9


def test_kmeans_flow_separates_two_objects(rng):
    flow, sq = moving_square_flow(rng)
    second = np.zeros(sq.shape, bool)
    second[45:60, 5:25] = True
    flow[0, second] -= 3.0
    labels = kmeans_flow(flow, 3, seed=1)
    assert labels.shape == sq.shape and labels.dtype == np.int64 and set(np.unique(labels)) == {0, 1, 2}
    for region in (sq, second, ~(sq | second)):
        assert max(iou(labels == j, region) for j in range(3)) > 0.9


def test_kmeans_matches_sklearn_inertia(rng):
    pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    centres = 10.0 * np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    blobs = np.concatenate([c + rng.normal(size=(150, 3)) for c in centres])
    uniform = rng.random((600, 2))
    for x, k in ((blobs, 4), (uniform, 5), (uniform, 8)):
        ours = kmeans(x, k, seed=0, n_init=4)
        ref = KMeans(n_clusters=k, n_init=4, random_state=0).fit(x)
        assert ours.inertia <= ref.inertia_ * 1.02
        d = ((x[:, None] - ours.centres[None]) ** 2).sum(-1)
        assert ours.inertia == pytest.approx(d.min(1).sum(), rel=1e-9)
        np.testing.assert_array_equal(ours.labels, d.argmin(1))
        if x is blobs:
            assert adjusted_rand_score(ref.labels_, ours.labels) == pytest.approx(1.0)


def test_kmeans_is_deterministic_and_checks_its_input(rng):
    x = rng.normal(size=(200, 2))
    a, b = kmeans(x, 3, seed=7), kmeans(x, 3, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia
    dup = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)  # 2 distinct points, 3 clusters
    r = kmeans(dup, 3, seed=0)
    assert r.inertia == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="k <="):
        kmeans(x[:2], 3)
    with pytest.raises(ShapeError):
        kmeans(x[:, 0], 2)


def test_kmeans_colour_position_separates_colour_regions(rng):
    pytest.importorskip("sklearn")
    from sklearn.metrics import adjusted_rand_score

    h, w = 32, 40
    truth = np.zeros((h, w), np.int64)
    truth[:, 20:] = 1
    truth[8:24, 8:18] = 2
    colours = np.array([[0.2, 0.5, 0.2], [0.2, 0.2, 0.7], [0.9, 0.3, 0.2]])
    img = np.clip(colours[truth].transpose(2, 0, 1) + 0.03 * rng.normal(size=(3, h, w)), 0, 1)
    labels = kmeans_colour_position(img, 3, position_weight=0.1, seed=0)
    assert labels.shape == (h, w)
    assert adjusted_rand_score(truth.ravel(), labels.ravel()) > 0.95
    # with a large position weight, the clusters become spatial (superpixel-like): ARI drops
    spatial = kmeans_colour_position(img, 3, position_weight=20.0, seed=0)
    assert adjusted_rand_score(truth.ravel(), spatial.ravel()) < 0.9
