"""The Blender-free motion fixture: exact flow, occlusion and tracks, checked against the pixels and labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import map_coordinates

from spelke.errors import ConfigError
from spelke.synth.textured_motion import make_textured_video


@pytest.fixture(scope="module", params=["translate", "affine"])
def video(request):
    return make_textured_video(
        frames=6, size=(48, 72), objects=3, motion=request.param, min_speed=1.0, max_speed=2.5, seed=0
    )


def _sample(img, xy):
    """Independent bilinear sampling (SciPy) of a (C, H, W) image at (H, W, 2) positions, edges clamped."""
    return np.stack([map_coordinates(c, [xy[..., 1], xy[..., 0]], order=1, mode="nearest") for c in img])


def _grid(h, w):
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([xs, ys], axis=-1)


def _neighbour_votes(video, t0, t1, target):
    """How many of the four pixels around each target in t1 show the source pixel's surface of t0."""
    h, w = video.size
    x0 = np.clip(np.floor(target[..., 0]).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(target[..., 1]).astype(int), 0, h - 2)
    votes = np.zeros((h, w), int)
    for dy in (0, 1):
        for dx in (0, 1):
            votes += video.labels[t1][y0 + dy, x0 + dx] == video.labels[t0]
    return votes


def test_shapes_dtypes_ranges_and_ids(video):
    t, h, w = len(video), *video.size
    assert video.images.shape == (t, 3, h, w) and video.images.dtype == np.float32
    assert video.labels.shape == (t, h, w) and video.labels.dtype == np.int64
    assert 0.0 <= video.images.min() and video.images.max() <= 1.0
    assert set(np.unique(video.labels)) <= {0, 1, 2, 3}
    # every object is visible in the first frame (objects start apart) and the background dominates
    assert all((video.labels[0] == k).sum() > 20 for k in (1, 2, 3))
    assert (video.labels == 0).mean() > 0.5
    assert sorted(video.depth_order) == [1, 2, 3]
    # textures are rich: strong local gradients, and objects differ from the background in colour
    assert np.abs(np.diff(video.images, axis=3)).mean() > 0.01
    means = [video.images[0][:, video.labels[0] == k].mean(1) for k in range(4)]
    assert min(np.linalg.norm(means[k] - means[0]) for k in (1, 2, 3)) > 0.05


def test_deterministic_from_seed():
    a = make_textured_video(frames=3, size=(32, 40), seed=7)
    b = make_textured_video(frames=3, size=(32, 40), seed=7)
    c = make_textured_video(frames=3, size=(32, 40), seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_translation_flow_is_the_velocity_times_the_gap():
    v = make_textured_video(frames=5, size=(48, 64), objects=2, motion="translate", seed=3)
    for t0, t1 in [(0, 1), (3, 1), (4, 0)]:
        f = v.flow(t0, t1)
        for k in (0, 1, 2):
            m = v.labels[t0] == k
            want = np.array(v.surface(k).velocity) * (t1 - t0)
            np.testing.assert_allclose(f[:, m].T, np.broadcast_to(want, (m.sum(), 2)), atol=1e-5)
    assert np.all(v.flow(2, 2) == 0)


def test_affine_flow_rotates_and_scales():
    v = make_textured_video(frames=5, size=(64, 96), objects=2, motion="affine", seed=1, max_rotation=2.0)
    assert any(o.angular_velocity != 0 for o in v.objects)
    f = v.flow(0, 4)
    for o in v.objects:
        m = v.labels[0] == o.id
        # a rotating/scaling object has a non-constant flow field; the exact field is the affine transfer
        assert f[:, m].std(axis=1).max() > 1e-3
        pts = _grid(*v.size)[m]
        a = o.transfer(0, 4)
        np.testing.assert_allclose(f[:, m].T, pts @ a[:2, :2].T + a[:2, 2] - pts, atol=1e-4)


def test_flow_is_consistent_with_the_pixels(video):
    """Warping frame t1 by the exact flow t0 -> t1 reproduces frame t0 up to interpolation error.

    Checked where the target's four bilinear neighbours in t1 all belong to the pixel's own surface
    (so the sampled colours come from one texture), with SciPy as the independent sampler.
    """
    h, w = video.size
    grid = _grid(h, w)
    for t0, t1 in [(0, 1), (1, 0), (0, 3), (5, 2)]:
        f = video.flow(t0, t1)
        target = grid + f.transpose(1, 2, 0)
        warped = _sample(video.images[t1], target)
        same = video.valid(t0, t1) & (_neighbour_votes(video, t0, t1, target) == 4)
        assert same.mean() > 0.8
        err = np.abs(warped - video.images[t0]).mean(0)
        assert err[same].mean() < 0.015, (t0, t1, err[same].mean())
        assert np.percentile(err[same], 99) < 0.05
        # and the error elsewhere (occluded or at a surface boundary) is much larger: the check can fail
        assert err[~video.valid(t0, t1)].mean() > 3 * err[same].mean()


def test_valid_marks_occlusion_against_the_rendered_labels(video):
    h, w = video.size
    grid = _grid(h, w)
    for t0, t1 in [(0, 1), (2, 5), (4, 1)]:
        f = video.flow(t0, t1)
        valid = video.valid(t0, t1)
        target = grid + f.transpose(1, 2, 0)
        inside = (
            (target[..., 0] >= 0)
            & (target[..., 0] <= w - 1)
            & (target[..., 1] >= 0)
            & (target[..., 1] <= h - 1)
        )
        votes = _neighbour_votes(video, t0, t1, target)
        # all four neighbours of the target show the same surface -> visible; none does -> occluded
        assert valid[inside & (votes == 4)].all()
        assert not valid[inside & (votes == 0)].any()
        assert not valid[~inside].any()
        assert (~valid & inside).sum() > 0  # the pair has real occlusions
    assert video.valid(3, 3).all()


def test_forward_and_backward_flows_invert_each_other(video):
    h, w = video.size
    fw, bw = video.flow(1, 3), video.flow(3, 1)
    valid = video.valid(1, 3)
    target = _grid(h, w) + fw.transpose(1, 2, 0)
    bw_at_target = _sample(bw, target)
    interior = valid & (_neighbour_votes(video, 1, 3, target) == 4)
    assert interior.mean() > 0.8
    # backward flow is exact per surface: at interior targets its bilinear sample inverts the forward flow
    assert np.abs(fw + bw_at_target)[:, interior].max() < 0.05


def test_tracks_follow_the_flow_and_visibility(video):
    q, stride = 2, 6
    xy, vis = video.tracks(query_frame=q, stride=stride)
    pts = video.query_points(stride)
    n = len(pts)
    assert xy.shape == (len(video), n, 2) and xy.dtype == np.float32 and vis.shape == (len(video), n)
    np.testing.assert_array_equal(xy[q], pts)
    assert vis[q].all()
    ij = pts.astype(int)
    for t in range(len(video)):
        f = video.flow(q, t)
        np.testing.assert_allclose(xy[t] - pts, f[:, ij[:, 1], ij[:, 0]].T, atol=1e-4)
        np.testing.assert_array_equal(vis[t], video.valid(q, t)[ij[:, 1], ij[:, 0]])
    labels = video.track_labels(q, stride)
    np.testing.assert_array_equal(labels, video.labels[q][ij[:, 1], ij[:, 0]])
    assert (~vis).sum() > 0  # some tracks get occluded or leave the frame


def test_objects_move_relative_to_the_background(video):
    bg = np.array(video.background.velocity)
    assert np.linalg.norm(bg) <= 0.5
    for o in video.objects:
        assert np.linalg.norm(np.array(o.velocity) - bg) >= 1.0 - 1e-9
        assert np.linalg.norm(o.velocity) <= 2.5 + 1e-9


def test_static_background_option():
    v = make_textured_video(frames=3, size=(32, 48), background_speed=0.0, seed=0)
    f = v.flow(0, 2)
    assert np.all(f[:, v.labels[0] == 0] == 0)


def test_metadata_clip_and_write(tmp_path):
    from spelke.data import create_dataset
    from spelke.motion.cache import read_flow, read_manifest

    v = make_textured_video(frames=4, size=(32, 48), objects=2, seed=5)
    meta = json.loads(json.dumps(v.metadata()))
    assert len(meta["frames"]) == 4 and meta["motion"] == "translate" and len(meta["objects"]) == 2
    clip = v.to_clip("demo")
    assert clip.images.shape == (4, 3, 32, 48) and clip.frame_names[0] == "00000"

    v.write(tmp_path, "demo", split="val", gt_gaps=(1, -2))
    ds = create_dataset("davis_tree", root=tmp_path, split="val")
    back = ds.clip("demo")
    np.testing.assert_array_equal(back.labels, v.labels)
    assert np.abs(back.images - v.images).max() <= 0.5 / 255 + 1e-6  # 8-bit PNG
    np.testing.assert_array_equal(read_flow(tmp_path, "gt", 1, "demo", 2), v.flow(2, 3))
    np.testing.assert_array_equal(read_flow(tmp_path, "gt", -2, "demo", 3), v.flow(3, 1))
    m = read_manifest(tmp_path, "gt")
    assert m["gaps"] == [-2, 1] and m["resolution"] == [32, 48]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frames": 1},
        {"size": (8, 64)},
        {"motion": "shear"},
        {"min_speed": 3.0, "max_speed": 2.0},
        {"background_speed": -1.0},
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ConfigError):
        make_textured_video(**kwargs)


def test_frame_index_out_of_range():
    v = make_textured_video(frames=3, size=(32, 32))
    with pytest.raises(IndexError):
        v.flow(0, 3)
