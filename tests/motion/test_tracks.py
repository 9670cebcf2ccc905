"""Point tracks: flow chaining against the fixture's exact tracks, LRTL's window/padding/smoothing, the
track cache, compute_tracks (resume, shards, flow cache), `spelke tracks`, the CoTracker adapter's
conversion, and the pictures."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
from hypothesis import given
from hypothesis import strategies as st

from spelke.cli import main
from spelke.data.video import write_video
from spelke.errors import ConfigError, DataLayoutError, FileFormatError, MissingDependencyError, SpelkeError
from spelke.motion import compute_flow
from spelke.motion.cotracker import CoTrackerTracker
from spelke.motion.track_cache import (
    TrackCache,
    read_track_manifest,
    read_tracks,
    track_path,
    write_tracks,
)
from spelke.motion.track_compute import compute_tracks
from spelke.motion.tracks import (
    FlowSource,
    Tracks,
    create_tracker,
    list_trackers,
    load_tracks,
    padded_frame_indices,
    query_grid,
    save_tracks,
    smooth_tracks,
)
from spelke.synth.textured_motion import make_textured_video


def _exact(video):
    return lambda t, g: video.flow(t, t + g)


def _against_fixture(video, tracker, flows, queries):
    """Per-sample errors (px), our visibility and the fixture's, pooled over query frames."""
    err, ours, true = [], [], []
    for q in queries:
        tr = tracker.track(video.images, q, flows=flows)
        gxy, gvis = video.tracks(q, tracker.stride)
        gxy, gvis = gxy[tr.frames], gvis[tr.frames]
        err.append(np.linalg.norm(tr.xy - gxy, axis=-1).ravel())
        ours.append(tr.vis.ravel())
        true.append(gvis.ravel())
    return np.concatenate(err), np.concatenate(ours), np.concatenate(true)


# ---------------------------------------------------------------------------------------------------
# Window, padding, smoothing, grid
# ---------------------------------------------------------------------------------------------------


@given(st.integers(1, 12), st.data(), st.integers(0, 25))
def test_reflect_and_symmetric_padding_match_numpy(n, data, w):
    q = data.draw(st.integers(0, n - 1))
    for mode in ("reflect", "symmetric"):
        rows, qi = padded_frame_indices(q, n, w, mode)
        ref = np.pad(np.arange(n), w, mode=mode)[q : q + 2 * w + 1]
        np.testing.assert_array_equal(rows, ref)
        assert qi == w and rows[qi] == q
    rows, qi = padded_frame_indices(q, n, w, "none")
    np.testing.assert_array_equal(rows, np.arange(max(0, q - w), min(n, q + w + 1)))
    assert rows[qi] == q


def test_padding_errors():
    for bad in ((5, 5, 2, "reflect"), (0, 5, -1, "reflect"), (0, 5, 2, "wrap")):
        with pytest.raises(ConfigError):
            padded_frame_indices(*bad)


def test_box_filter_matches_scipy_and_keeps_straight_tracks():
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(41, 7, 2)).cumsum(0)
    # mode "reflect" is SciPy's uniform_filter1d default (edge repeated)
    np.testing.assert_allclose(
        smooth_tracks(xy, 11, "reflect"), scipy.ndimage.uniform_filter1d(xy, 11, axis=0), atol=1e-4
    )
    # both modes agree away from the ends
    np.testing.assert_allclose(
        smooth_tracks(xy, 11, "odd")[5:-5], smooth_tracks(xy, 11, "reflect")[5:-5], atol=1e-4
    )
    line = 3.0 + 0.7 * np.arange(9)[:, None, None] * np.ones((1, 4, 2))  # constant velocity, shorter than 11
    np.testing.assert_allclose(smooth_tracks(line, 11, "odd"), line, atol=1e-4)
    np.testing.assert_array_equal(smooth_tracks(xy, 0), xy.astype(np.float32))
    with pytest.raises(ConfigError):
        smooth_tracks(xy, 10)


def test_query_grid_is_the_fixture_grid():
    v = make_textured_video(frames=2, size=(20, 28), objects=0, seed=0)
    np.testing.assert_array_equal(query_grid(v.size, 4), v.query_points(4))
    assert len(query_grid((480, 854), 4)) == 120 * 213  # LRTL's ~25k points per DAVIS frame (A3.4)


# ---------------------------------------------------------------------------------------------------
# Flow chaining against exact tracks
# ---------------------------------------------------------------------------------------------------


def test_chaining_exact_flow_of_pure_translation_reproduces_exact_tracks():
    v = make_textured_video(frames=8, size=(48, 64), objects=0, background_speed=2.0, seed=3)
    trk = create_tracker("flow-chain", stride=4, window=7, padding="none", smooth=0)
    err, ours, true = _against_fixture(v, trk, _exact(v), (0, 3, 7))
    assert (~true).any()  # some points leave the frame
    np.testing.assert_array_equal(ours, true)  # lost exactly when leaving
    assert err.max() < 1e-3  # "velocity" extrapolation keeps exited points on their exact paths
    # with objects: exact wherever the bilinear footprint lies on one surface
    v = make_textured_video(frames=8, size=(64, 96), objects=3, motion="translate", min_speed=1.0, seed=0)
    err, ours, true = _against_fixture(v, trk, _exact(v), (0, 4, 7))
    both = ours & true
    assert np.median(err[both]) < 1e-4 and np.mean(err[both] < 1e-3) > 0.95


def test_exact_flow_tracks_and_visibility_on_the_fixture(textured_video):
    trk = create_tracker("flow-chain", stride=4, window=5, padding="none", smooth=0)
    err, ours, true = _against_fixture(textured_video, trk, _exact(textured_video), range(6))
    # measured: median 0, 99.1 % agreement, every occluded sample invisible, 0.9 % lost too early
    assert np.median(err[ours & true]) < 1e-3
    assert np.mean(ours == true) > 0.97
    assert np.mean(~ours[~true]) > 0.95 and (~true).sum() > 100


def test_dis_flow_tracks_on_the_fixture(textured_video):
    trk = create_tracker("flow-chain", stride=4, window=5, padding="none", smooth=0)
    err, ours, true = _against_fixture(
        textured_video, trk, FlowSource.from_backend("dis", textured_video.images), range(6)
    )
    # measured: median 0.09 px, 96.6 % agreement, 66 % of occluded samples invisible, 2.5 % lost early
    assert np.median(err[ours & true]) < 0.2
    assert np.mean(ours == true) > 0.93
    assert np.mean(~ours[~true]) > 0.5  # most points that get occluded are marked invisible
    assert np.mean(~ours[true]) < 0.06
    # without the photometric check, DIS drags covered background along with the occluder
    plain = create_tracker("flow-chain", stride=4, window=5, padding="none", smooth=0, photometric=0)
    _, ours0, true0 = _against_fixture(
        textured_video, plain, FlowSource.from_backend("dis", textured_video.images), range(6)
    )
    assert np.mean(~ours0[~true0]) < np.mean(~ours[~true]) - 0.2


def test_lost_points_policies():
    v = make_textured_video(frames=8, size=(32, 48), objects=0, background_speed=2.0, seed=3)
    common = dict(stride=4, window=7, padding="none", smooth=0)
    held = create_tracker("flow-chain", after_loss="hold", **common).track(v.images, 0, flows=_exact(v))
    gxy, gvis = v.tracks(0, 4)
    j = np.flatnonzero(~gvis[-1])[0]
    last = np.flatnonzero(gvis[:, j])[-1]  # last frame it is seen
    np.testing.assert_allclose(held.xy[last:, j], np.repeat(gxy[last : last + 1, j], 8 - last, 0), atol=1e-4)
    assert not held.vis[last + 1 :, j].any()


def test_window_rows_padding_and_query_visibility(textured_video):
    trk = create_tracker("flow-chain", stride=8, window=4)  # LRTL's reflect padding and box filter
    tr = trk.track(textured_video.images, 1, flows=_exact(textured_video))
    assert tr.xy.shape == (9, 96, 2) and tr.query_index == 4 and tr.query_frame == 1
    assert tr.t.tolist() == [2, 1, 0, -1, 0, 1, 2, 3, 4]  # frames 3 2 1 0 1 2 3 4 5
    assert tr.vis[tr.query_index].all()
    np.testing.assert_array_equal(tr.query, textured_video.query_points(8))
    # rows showing the same frame hold the same positions (reflection), before and after smoothing
    raw = create_tracker("flow-chain", stride=8, window=4, smooth=0).track(
        textured_video.images, 1, flows=_exact(textured_video)
    )
    np.testing.assert_array_equal(raw.xy[1], raw.xy[5])
    np.testing.assert_allclose(tr.xy, smooth_tracks(raw.xy, 11), atol=1e-5)


def test_track_video_and_single_frame_video():
    v = make_textured_video(frames=3, size=(24, 32), objects=1, seed=1)
    trk = create_tracker("flow-chain", stride=8, window=2, smooth=0)
    all_q = trk.track_video(v.images)  # computes DIS flow once for all query frames
    assert [t.query_frame for t in all_q] == [0, 1, 2] and all(t.xy.shape == (5, 12, 2) for t in all_q)
    one = trk.track(v.images[:1], 0)
    assert one.xy.shape == (5, 12, 2) and one.vis.all()


def test_registry_and_option_errors():
    assert {"flow-chain", "cotracker"} <= set(list_trackers())
    with pytest.raises(ConfigError, match="no option 'nope'"):
        create_tracker("flow-chain", nope=1)
    with pytest.raises(ConfigError, match="odd"):
        create_tracker("flow-chain", smooth="10")
    with pytest.raises(ConfigError, match="after_loss"):
        create_tracker("flow-chain", after_loss="teleport")
    t = create_tracker("flow-chain", stride="8", window="3", photometric="0")  # CLI strings
    assert (t.stride, t.window, t.photometric) == (8, 3, 0.0)
    assert t.config_tag("dis").startswith("dis-s8-w3-reflect-box11-o")  # non-default option: a hash
    assert create_tracker("flow-chain").config_tag("dis") == "dis-s4-w20-reflect-box11"


# ---------------------------------------------------------------------------------------------------
# Files: tracks, cache, compute_tracks
# ---------------------------------------------------------------------------------------------------


def test_track_file_and_cache_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    tr = Tracks(rng.random((5, 7, 2)) * 30, rng.random((5, 7)) > 0.3, [-2, -1, 0, 1, 0], (32, 48), 6, 2)
    back = load_tracks(save_tracks(tmp_path / "a.npz", tr))
    for k, v in tr.arrays().items():
        np.testing.assert_array_equal(getattr(back, k) if k != "size" else np.asarray(back.size), v)
    assert back.xy.dtype == np.float32 and back.vis.dtype == bool
    with np.load(tmp_path / "a.npz") as z:  # the contract keys, readable without spelke
        assert z["xy"].shape == (5, 7, 2) and z["vis"].dtype == bool and z["size"].tolist() == [32, 48]
    p = write_tracks(tmp_path, "flow-chain", "tag", "cat", 6, tr)
    assert p == tmp_path / "tracks/flow-chain/tag/cat/00006.npz"
    np.testing.assert_array_equal(TrackCache(tmp_path, "flow-chain", "tag").read("cat", 6).xy, tr.xy)
    with pytest.raises(DataLayoutError, match="spelke tracks"):
        read_tracks(tmp_path, "flow-chain", "tag", "cat", 7)
    np.savez(tmp_path / "bad.npz", xy=tr.xy)
    with pytest.raises(FileFormatError, match="lacks vis, t, size"):
        load_tracks(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def clips():
    return [
        make_textured_video(frames=5, size=(32, 48), objects=2, seed=1).to_clip("alpha"),
        make_textured_video(frames=3, size=(32, 48), objects=1, seed=2).to_clip("beta"),
    ]


OPTS = {"stride": 8, "window": 3}


def _npz(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.npz"))


def test_compute_tracks_layout_manifest_resume(tmp_path, clips):
    report = compute_tracks(clips, out=tmp_path, options=OPTS, backend_options={"preset": "ultrafast"})
    assert report.ok and report.written == 8 and report.tracks == 8 * 24
    tag = report.tag
    assert tag.startswith("dis-f") and tag.endswith("s8-w3-reflect-box11")  # non-default DIS preset
    assert _npz(tmp_path)[0] == f"tracks/flow-chain/{tag}/alpha/00000.npz" and len(_npz(tmp_path)) == 8
    m = read_track_manifest(tmp_path, "flow-chain", tag)
    assert m["tracker"] == "flow-chain" and m["options"]["stride"] == 8 and m["flow"]["backend"] == "dis"
    assert m["flow"]["options"]["preset"] == "ultrafast" and m["spelke_version"]
    assert m["sequences"] == {
        "alpha": {"size": [32, 48], "frames": 5},
        "beta": {"size": [32, 48], "frames": 3},
    }
    tr = read_tracks(tmp_path, "flow-chain", tag, "alpha", 2)
    assert tr.xy.shape == (7, 24, 2) and tr.query_frame == 2
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npz")}
    again = compute_tracks(clips, out=tmp_path, options=OPTS, backend_options={"preset": "ultrafast"})
    assert again.written == 0 and again.skipped == 8
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npz")} == mtimes
    broken = track_path(tmp_path, "flow-chain", tag, "beta", 1)
    broken.write_bytes(broken.read_bytes()[:50])
    third = compute_tracks(clips, out=tmp_path, options=OPTS, backend_options={"preset": "ultrafast"})
    assert third.written == 1 and third.skipped == 7
    with pytest.raises(ConfigError, match="other options"):  # same folder, other settings
        compute_tracks(
            clips,
            out=tmp_path,
            options={**OPTS, "photometric": 0},
            tag=tag,
            backend_options={"preset": "ultrafast"},
        )


def test_shards_partition_the_query_frames(tmp_path, clips):
    kw = dict(options=OPTS, backend_options={"preset": "ultrafast"})
    whole = compute_tracks(clips, out=tmp_path / "whole", **kw)
    parts = [compute_tracks(clips, out=tmp_path / "sharded", shard=f"{i}/3", **kw) for i in range(3)]
    assert sum(r.written for r in parts) == whole.written == 8 and all(r.written > 0 for r in parts)
    assert _npz(tmp_path / "sharded") == _npz(tmp_path / "whole")
    for rel in _npz(tmp_path / "whole"):
        np.testing.assert_array_equal(
            load_tracks(tmp_path / "sharded" / rel).xy, load_tracks(tmp_path / "whole" / rel).xy
        )


def test_tracks_from_the_flow_cache_equal_tracks_from_the_backend(tmp_path, clips):
    with pytest.raises(DataLayoutError, match=r"spelke flow .*--gaps 1,-1 --backend dis"):
        compute_tracks(clips, out=tmp_path, options=OPTS, flow_cache="dis")
    compute_flow(clips, out=tmp_path, gaps=(1,))
    partial = compute_tracks(clips, out=tmp_path, options=OPTS, flow_cache="dis")
    assert partial.written == 0 and len(partial.errors) == 2  # one per sequence, naming the command
    assert "sequence 'alpha'" in str(partial.errors[0]) and "spelke flow" in str(partial.errors[0])
    compute_flow(clips, out=tmp_path, gaps=(-1,))
    cached = compute_tracks(clips, out=tmp_path, options=OPTS, flow_cache="dis", tag="from-cache")
    direct = compute_tracks(clips, out=tmp_path, options=OPTS, tag="from-backend")
    assert cached.ok and direct.ok and cached.written == direct.written == 8
    for seq, q in (("alpha", 0), ("alpha", 4), ("beta", 1)):
        a = read_tracks(tmp_path, "flow-chain", "from-cache", seq, q)
        b = read_tracks(tmp_path, "flow-chain", "from-backend", seq, q)
        np.testing.assert_allclose(a.xy, b.xy, atol=1e-5)
        np.testing.assert_array_equal(a.vis, b.vis)
    # the same flow from the cache or from the backend may fill one folder
    assert (
        compute_tracks(clips, out=tmp_path, options=OPTS, flow_cache="dis", tag="from-backend").skipped == 8
    )


def test_errors_are_reported_by_sequence_and_query_frame(tmp_path):
    from spelke.data.io import write_image

    v = make_textured_video(frames=4, size=(32, 48), seed=0)
    for t in range(4):
        write_image(tmp_path / "frames" / "good" / f"{t:05d}.png", v.images[t])
        write_image(tmp_path / "frames" / "odd" / f"{t:05d}.png", v.images[t])
    (tmp_path / "frames" / "odd" / "00003.png").write_bytes(b"not a png")
    report = compute_tracks(tmp_path / "frames", out=tmp_path / "out", options={"stride": 8, "window": 1})
    text = [str(e) for e in report.errors]
    # query frames 2 and 3 of 'odd' need frame 3 (window 1; frame 3 reflects to 2, 3, 2)
    assert len(text) == 2 and all("sequence 'odd'" in e and "cannot read frame 00003" in e for e in text), (
        text
    )
    assert "query frame 00002" in text[0] and report.written == 4 + 2
    with pytest.raises(SpelkeError, match="2 track error"):
        report.raise_for_errors()


def test_cli_on_a_video_file(tmp_path, capsys):
    v = make_textured_video(frames=5, size=(48, 64), objects=2, seed=4)
    write_video(tmp_path / "clip.mp4", v.images, fps=5, crf=0)
    args = ["tracks", str(tmp_path / "clip.mp4"), "--stride", "8", "--window", "4", "--smooth", "0"]
    assert main(args) == 0
    assert "5 query frames written" in capsys.readouterr().out
    tr = read_tracks(
        tmp_path, "flow-chain", "dis-s8-w4-reflect-box0", "clip", 2
    )  # default --out: the video's folder
    gxy, gvis = v.tracks(2, 8)
    both = tr.vis & gvis[tr.frames]
    assert np.median(np.linalg.norm(tr.xy - gxy[tr.frames], axis=-1)[both]) < 0.3  # H.264 costs a little
    assert main(args) == 0
    assert "0 query frames written, 5 already there" in capsys.readouterr().out
    assert main([*args, "--flow-cache", "raft-large"]) == 2
    assert "spelke flow" in capsys.readouterr().err
    assert main(["tracks", str(tmp_path / "clip.mp4"), "--padding", "wrap"]) == 2
    assert main(["list", "trackers"]) == 0
    assert "flow-chain" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------
# CoTracker adapter
# ---------------------------------------------------------------------------------------------------


class FakeCoTracker:
    """A stand-in for ``CoTrackerPredictor``: every query point moves by (1, -0.5) px per frame from its
    query frame, visibility as probabilities shaped (B, T, N, 1) (as some CoTracker versions return),
    with point 1 hidden in the last frame. Records what it was called with."""

    def __init__(self):
        self.calls = []

    def __call__(self, video, queries=None, backward_tracking=False):
        import torch

        self.calls.append((video, queries, backward_tracking))
        b, t, _, _, _ = video.shape
        n = queries.shape[1]
        dt = torch.arange(t, dtype=torch.float32)[None, :, None] - queries[:, None, :, 0]  # (B, T, N)
        tracks = queries[:, None, :, 1:].repeat(1, t, 1, 1)
        tracks[..., 0] += dt
        tracks[..., 1] -= 0.5 * dt
        vis = torch.full((b, t, n, 1), 0.95)
        vis[0, -1, 1] = 0.1
        return tracks, vis


def test_cotracker_adapter_converts_to_the_track_contract():
    pytest.importorskip("torch")
    v = make_textured_video(frames=12, size=(32, 48), objects=1, seed=0)
    fake = FakeCoTracker()
    trk = create_tracker("cotracker", predictor=fake, stride=8, window=3, smooth=0)
    tr = trk.track(v.images, 10)
    video, queries, backward = fake.calls[0]
    assert backward and tuple(video.shape) == (1, 7, 3, 32, 48)
    assert abs(float(video.max()) - 255 * float(v.images[7:12].max())) < 1e-3  # 0..255 as CoTracker expects
    np.testing.assert_allclose(video[0, 4].numpy() / 255, v.images[11], atol=1e-6)  # chunk row 4 = frame 11
    np.testing.assert_allclose(
        video[0, 6].numpy() / 255, v.images[9], atol=1e-6
    )  # reflected: 7 8 9 10 11 10 9
    # main grid queried in the chunk's middle row, then LRTL's stride-32 grids 7 (here: 3 and 1) frames away
    q = queries[0].numpy()
    np.testing.assert_array_equal(q[:24, 0], 3)
    np.testing.assert_array_equal(q[:24, 1:], query_grid((32, 48), 8))
    assert sorted(set(q[24:, 0].tolist())) == [0.0, 4.0]  # 3 frames back (window), 1 forward (video end)
    # output: (T, N, 2) for the main grid only, t offsets from the query frame, thresholded visibility
    assert tr.xy.shape == (7, 24, 2) and tr.t.tolist() == [-3, -2, -1, 0, 1, 0, -1]
    expected = query_grid((32, 48), 8)[None] + (np.arange(7) - 3)[:, None, None] * np.array([1.0, -0.5])
    np.testing.assert_allclose(tr.xy, expected, atol=1e-5)
    assert tr.vis.sum() == 7 * 24 - 1 and not tr.vis[-1, 1]
    assert trk.config_tag() == "s8-w3-reflect-box0"


def test_cotracker_needs_its_package_and_a_checkpoint(tmp_path):
    try:
        import cotracker  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match="co-tracker"):
            create_tracker("cotracker", checkpoint=str(tmp_path / "cotracker2.pth"))
        return
    with pytest.raises(ConfigError, match="checkpoint"):
        create_tracker("cotracker")
    with pytest.raises(DataLayoutError, match="does not exist"):
        create_tracker("cotracker", checkpoint=str(tmp_path / "missing.pth"))


def test_real_cotracker_if_installed(tmp_path):
    pytest.importorskip("cotracker")
    import os

    ckpt = os.environ.get("SPELKE_COTRACKER_CHECKPOINT")
    if not ckpt or not os.path.isfile(ckpt):
        pytest.skip("set SPELKE_COTRACKER_CHECKPOINT to a local CoTracker checkpoint to run this test")
    v = make_textured_video(frames=8, size=(64, 96), objects=2, motion="translate", seed=0)
    trk = CoTrackerTracker(checkpoint=ckpt, stride=8, window=3, smooth=0)
    tr = trk.track(v.images, 4)
    gxy, gvis = v.tracks(4, 8)
    assert np.median(np.linalg.norm(tr.xy - gxy[tr.frames], axis=-1)[gvis[tr.frames]]) < 1.0


# ---------------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------------


def test_track_pictures(tmp_path, textured_video):
    from PIL import Image

    from spelke.data.io import read_image
    from spelke.viz.tracks import draw_tracks, track_colors, write_tracks_gif, write_tracks_png

    tr = create_tracker("flow-chain", stride=8, window=2, smooth=0).track(
        textured_video.images, 2, flows=_exact(textured_video)
    )
    cols = track_colors(tr)
    assert cols.shape == (len(tr), 3) and len({tuple(c) for c in cols}) > len(tr) // 2
    assert track_colors(tr, "id")[0].tolist() == [128, 0, 0]
    black = np.zeros((3, 64, 96), np.float32)
    img = draw_tracks(black, tr, tr.query_index, radius=2, by="id")
    x, y = tr.xy[tr.query_index, 0].round().astype(int)
    assert img[y, x].tolist() == [128, 0, 0]  # a filled dot in the track's colour at its position
    assert img.sum() > 0 and img.shape == (64, 96, 3)
    write_tracks_png(tmp_path / "t.png", textured_video.images, tr)
    assert read_image(tmp_path / "t.png").shape == (3, 64, 96)
    write_tracks_gif(tmp_path / "t.gif", textured_video.images, tr, fps=4)
    with Image.open(tmp_path / "t.gif") as gif:
        assert gif.n_frames >= 3
    with pytest.raises(SpelkeError):
        draw_tracks(np.zeros((3, 10, 10)), tr, 0)
