"""Warping, forward-backward consistency and the photometric filter, against SciPy and the exact fixture."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from spelke.errors import ConfigError, ShapeError
from spelke.motion import (
    bilinear_sample,
    create_flow_backend,
    end_point_error,
    forward_backward_consistency,
    in_frame,
    occlusion_mask,
    photometric_error,
    photometric_filter,
    warp,
)


def _scipy_sample(img, x, y, mode):
    return np.stack([map_coordinates(c, [y, x], order=1, mode=mode, cval=0.0) for c in img])


@pytest.mark.parametrize(("padding", "mode"), [("border", "nearest"), ("zeros", "grid-constant")])
def test_bilinear_sample_matches_scipy(rng, padding, mode):
    img = rng.random((2, 7, 9)).astype(np.float32)
    x = rng.uniform(-3, 11, 500)
    y = rng.uniform(-3, 9, 500)
    np.testing.assert_allclose(bilinear_sample(img, x, y, padding), _scipy_sample(img, x, y, mode), atol=1e-6)


def test_warp_hand_values():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    flow = np.zeros((2, 3, 4), np.float32)
    flow[0] = 0.5  # half a pixel to the right: the mean of neighbours, the last column clamps
    np.testing.assert_allclose(warp(img, flow)[0], [0.5, 1.5, 2.5, 3.0])
    np.testing.assert_allclose(warp(img, flow, padding="zeros")[0], [0.5, 1.5, 2.5, 1.5])
    flow[:] = 0
    flow[1] = -1.0  # one row up
    np.testing.assert_allclose(warp(img, flow)[1], img[0])


def test_warp_with_exact_flow_reproduces_frames(textured_video):
    for t0, t1 in [(0, 1), (2, 1), (0, 2)]:
        w = warp(textured_video.images[t1], textured_video.flow(t0, t1))
        err = np.abs(w - textured_video.images[t0]).mean(0)
        valid = textured_video.valid(t0, t1)
        # interpolation error plus pixels whose bilinear neighbourhood straddles a surface boundary
        assert err[valid].mean() < 0.02, err[valid].mean()
        assert np.median(err[valid]) < 0.01
        assert err[~valid].mean() > 2 * err[valid].mean()


def test_warp_shape_errors():
    with pytest.raises(ShapeError, match=r"\(3, 5, 5\).*\(2, 4, 4\)"):
        warp(np.zeros((3, 5, 5), np.float32), np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ShapeError):
        warp(np.zeros((3, 4, 4), np.float32), np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ConfigError):
        warp(np.zeros((4, 4), np.float32), np.zeros((2, 4, 4), np.float32), padding="reflect")


def test_in_frame():
    flow = np.zeros((2, 2, 3), np.float32)
    flow[0, 0, 2] = 0.5  # leaves the frame to the right
    flow[1, 1, 0] = -1.0  # stays: row 1 -> row 0
    np.testing.assert_array_equal(in_frame(flow), [[True, True, False], [True, True, True]])


def test_fb_criterion_hand_values():
    # uniform motion of 2 px right, and a backward flow that agrees except in one column
    fw = np.zeros((2, 4, 8), np.float32)
    fw[0] = 2.0
    bw = np.zeros((2, 4, 8), np.float32)
    bw[0] = -2.0
    bw[0, :, 5] = 0.0  # pixels of column 3 land on column 5: |2 + 0|^2 = 4 > 0.01 * 4 + 0.5
    ok = forward_backward_consistency(fw, bw, out_of_frame=False)
    np.testing.assert_array_equal(ok.all(0), [True, True, True, False, True, True, True, True])
    ok = forward_backward_consistency(fw, bw)  # out_of_frame: columns 6, 7 land outside
    np.testing.assert_array_equal(ok.all(0), [True, True, True, False, True, True, False, False])
    np.testing.assert_array_equal(occlusion_mask(fw, bw), ~ok)
    # a looser beta forgives the 2 px disagreement
    assert forward_backward_consistency(fw, bw, beta=4.5, out_of_frame=False).all()


def test_fb_consistency_of_exact_flows_finds_the_occlusions(textured_video):
    for t in range(len(textured_video) - 1):
        valid = textured_video.valid(t, t + 1)
        ok = forward_backward_consistency(textured_video.flow(t, t + 1), textured_video.flow(t + 1, t))
        assert (ok == valid).mean() > 0.98
        assert (~ok[~valid]).mean() > 0.9  # recall of occluded / out-of-frame pixels
        assert ok[valid].mean() > 0.98


def test_fb_consistency_of_dis_flows_agrees_with_exact_occlusion(textured_video):
    dis = create_flow_backend("dis")
    agree = []
    for t in range(len(textured_video) - 1):
        fw = dis(textured_video.images[t], textured_video.images[t + 1])
        bw = dis(textured_video.images[t + 1], textured_video.images[t])
        agree.append((forward_backward_consistency(fw, bw) == textured_video.valid(t, t + 1)).mean())
    assert min(agree) > 0.94, agree  # measured 0.967


def test_photometric_filter_is_ssl_vos(textured_video):
    """Against an independent re-implementation of ssl-vos's calculate_binary_flow_weights."""
    f0, f1 = textured_video.images[0], textured_video.images[1]
    flow = create_flow_backend("dis")(f0, f1)
    filtered, weight = photometric_filter(f0, f1, flow)
    h, w = textured_video.size
    ys, xs = np.mgrid[0:h, 0:w]
    warped = _scipy_sample(f1, xs + flow[0], ys + flow[1], "nearest")
    diff = np.abs(f0 - warped).mean(0)
    diff = diff / diff.max()
    thr = np.percentile(diff, 90)
    want = (diff <= thr).astype(np.float32)
    assert (weight != want).mean() < 1e-3  # float round-off at the threshold only
    np.testing.assert_allclose(photometric_error(f0, f1, flow), np.abs(f0 - warped).mean(0), atol=1e-5)
    assert abs((weight == 0).mean() - 0.10) < 0.005  # the worst 10 % are dropped
    np.testing.assert_array_equal(filtered[:, weight == 0], 0)
    np.testing.assert_array_equal(filtered[:, weight == 1], flow[:, weight == 1])
    soft_flow, soft = photometric_filter(f0, f1, flow, soft=True)
    np.testing.assert_allclose(soft, 1 - diff, atol=1e-5)
    np.testing.assert_allclose(soft_flow, flow * soft[None], atol=1e-5)


def test_photometric_filter_drops_occluded_pixels(textured_video):
    # with the exact flow the only large warp errors are occlusions and surface boundaries
    for t in range(len(textured_video) - 1):
        _, weight = photometric_filter(
            textured_video.images[t], textured_video.images[t + 1], textured_video.flow(t, t + 1)
        )
        occluded = ~textured_video.valid(t, t + 1)
        assert (weight[occluded] == 0).mean() > 0.25  # vs 0.10 for a random 10 % (measured 0.39 or more)


def test_photometric_filter_perfect_warp_keeps_everything():
    img = np.full((3, 8, 8), 0.5, np.float32)
    f, wgt = photometric_filter(img, img, np.zeros((2, 8, 8), np.float32))
    assert wgt.min() == 1 and np.all(f == 0)
    with pytest.raises(ConfigError):
        photometric_filter(img, img, np.zeros((2, 8, 8), np.float32), percentile=120)


def test_end_point_error():
    a = np.zeros((2, 2, 2), np.float32)
    b = np.zeros((2, 2, 2), np.float32)
    b[0, 0, 0], b[1, 0, 0] = 3.0, 4.0
    assert end_point_error(a, b) == pytest.approx(5.0 / 4)
    assert end_point_error(a, b, np.array([[True, False], [False, False]])) == pytest.approx(5.0)
    assert np.isnan(end_point_error(a, b, np.zeros((2, 2), bool)))
