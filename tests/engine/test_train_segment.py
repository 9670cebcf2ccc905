"""End to end on a tiny generated tree: train GWM and LRTL, resume, segment, evaluate, refuse mismatches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from spelke.errors import ConfigError, DataLayoutError

pytest.importorskip("lightning")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Two textured clips (48x64, 8 frames) with exact flow (gaps +-1, +-2) and flow-chain tracks."""
    from spelke.motion.track_compute import compute_tracks
    from spelke.synth.textured_motion import make_textured_video

    root = tmp_path_factory.mktemp("tree")
    for k in range(2):
        v = make_textured_video(
            frames=8, size=(48, 64), objects=2, motion="translate", min_speed=1.5, max_speed=2.5, seed=k
        )
        v.write(root, f"clip{k}", split="train", gt_gaps=(1, -1, 2, -2))
    compute_tracks(
        root,
        root,
        tracker="flow-chain",
        options={"stride": 8, "window": 3, "smooth": 3},
        flow_cache="gt",
        tag="gt-test",
    )
    return root


def _dataset(root):
    from spelke.data import create_dataset

    return create_dataset("davis_tree", root=root)


def test_motion_frames_draws_gaps_and_rescales_flow(tree):
    from spelke.engine.data import MotionFrames, collate

    ds = _dataset(tree)
    frames = MotionFrames(ds, (24, 32), flow_backend="gt", gaps=(1, -1, 2, -2), seed=0)
    assert len(frames) == 16
    first = next(i for i in frames.items if i.index == 0)
    assert first.gaps == (1, 2)  # no backward flow from the first frame
    raw = {g: frames.flow("clip0", 3, g) for g in (1, -1, 2, -2)}
    seen = set()
    idx = next(k for k, it in enumerate(frames.items) if it.sequence == "clip0" and it.index == 3)
    for _ in range(40):
        d = frames[idx]
        seen.add(d["gap"])
        want = raw[d["gap"]][:, ::2, ::2] * 0.5  # nearest /2 and u, v halved
        np.testing.assert_allclose(d["flow"].numpy(), want, atol=1e-6)
    assert seen == {1, -1, 2, -2}
    b = collate([frames[0], frames[5]])
    assert b.image.shape == (2, 3, 24, 32) and b.flow.shape == (2, 2, 24, 32) and b.gap.shape == (2,)


def test_hflip_flips_flow_and_tracks(tree):
    from spelke.engine.data import MotionFrames

    ds = _dataset(tree)
    plain = MotionFrames(ds, (48, 64), flow_backend="gt", gaps=(1,), tracks=("flow-chain", "gt-test"), seed=0)
    flip = MotionFrames(
        ds, (48, 64), flow_backend="gt", gaps=(1,), tracks=("flow-chain", "gt-test"), hflip=True, seed=0
    )
    flip.rng = np.random.default_rng(123)
    for _ in range(10):
        a, b = plain[2], flip[2]
        if torch.equal(a["image"], b["image"]):
            continue
        assert torch.equal(b["image"], a["image"].flip(-1))
        assert torch.allclose(b["flow"][0], -a["flow"][0].flip(-1)) and torch.allclose(
            b["flow"][1], a["flow"][1].flip(-1)
        )
        assert torch.allclose(b["tracks"][..., 0], 63 - a["tracks"][..., 0])
        return
    pytest.fail("no flip drawn in 10 tries")


def test_zoom_crops_frame_labels_and_flow_alike():
    from spelke.engine.data import _zoom

    h, w = 40, 60
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[10:20, 30:45] = 3  # a 10 x 15 block
    flow = torch.stack([torch.full((h, w), 1.5), torch.full((h, w), -0.5)])  # one translation everywhere
    image = torch.stack([xx / w, yy / h, torch.zeros(h, w)])
    d = _zoom({"image": image, "labels": labels, "flow": flow}, 0.5, 1.0, 0.0)  # right half, top half
    # the crop is columns 30..59 and rows 0..19, enlarged 2x: the block covers rows 20..39, columns 0..29
    assert d["image"].shape == (3, h, w) and d["labels"].shape == (h, w) and d["flow"].shape == (2, h, w)
    assert (d["labels"] == 3).sum() == 4 * 10 * 15
    assert torch.equal(d["labels"][20:40, 0:30], torch.full((20, 30), 3))
    # flow vectors are measured in the new, 2x larger pixels
    assert torch.allclose(d["flow"][0], torch.full((h, w), 3.0)) and torch.allclose(
        d["flow"][1], torch.full((h, w), -1.0)
    )
    # the image's x ramp now starts at the crop's left edge (column 30)
    assert abs(float(d["image"][0, :, 0].mean()) - 30 / w) < 0.02


def test_motion_frames_zoom_scales_flow_and_refuses_tracks(tree):
    from spelke.engine.data import MotionFrames

    ds = _dataset(tree)
    plain = MotionFrames(ds, (48, 64), flow_backend="gt", gaps=(1,), seed=0)
    zoomed = MotionFrames(ds, (48, 64), flow_backend="gt", gaps=(1,), zoom=(0.5, 0.5), seed=0)
    a, b = plain[2], zoomed[2]
    assert b["image"].shape == a["image"].shape and b["flow"].shape == a["flow"].shape
    # 2x zoom: every flow vector in the crop is one of the frame's vectors, doubled
    before = {tuple(v) for v in np.round(a["flow"].reshape(2, -1).T.numpy(), 4).tolist()}
    after = {tuple(v) for v in np.round(b["flow"].reshape(2, -1).T.numpy() / 2, 4).tolist()}
    assert after <= before and len(after) >= 1
    assert any(v != (0.0, 0.0) for v in after)  # the crop holds motion, so the doubling is tested
    assert not torch.equal(a["image"], b["image"])
    with pytest.raises(ConfigError, match="does not transform point tracks"):
        MotionFrames(
            ds, (48, 64), flow_backend="gt", gaps=(1,), tracks=("flow-chain", "gt-test"), zoom=(0.7, 1.0)
        )
    with pytest.raises(ConfigError, match="two side fractions"):
        MotionFrames(ds, (48, 64), flow_backend="gt", gaps=(1,), zoom=(0.9, 0.5))


def test_missing_flow_names_the_command(tree):
    from spelke.engine.data import MotionFrames

    with pytest.raises(DataLayoutError, match="spelke flow --root"):
        MotionFrames(_dataset(tree), (24, 32), flow_backend="raft-large", gaps=(1,))
    with pytest.raises(DataLayoutError, match="spelke tracks --root"):
        MotionFrames(_dataset(tree), (24, 32), tracks=("flow-chain", "nope"))
    with pytest.raises(ConfigError, match="do not reach next_offset=5"):  # tracked window is +-3
        MotionFrames(_dataset(tree), (24, 32), tracks=("flow-chain", "gt-test"), next_offset=5)


def test_train_resume_segment_evaluate_gwm(tree, tmp_path):
    from spelke.engine.trainer import read_metrics_csv, train
    from spelke.eval.protocols import create_protocol
    from spelke.methods.registry import create_method
    from spelke.methods.segment import segment

    ds = _dataset(tree)
    over = [
        "max_steps=12",
        "input_size=48x64",
        "batch_size=4",
        "warmup_steps=2",
        "segmenter_options={base_width: 4}",
    ]
    m = create_method("gwm", "cpu", over)
    run = tmp_path / "gwm"
    res = train(m, ds, run, seed=0, progress=False, checkpoint_every=5, log_every=1)
    assert res.steps == 12 and res.weights.is_file()
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    rows = read_metrics_csv(run)
    assert any("train/flow" in r for r in rows)
    assert (run / "logs" / "tensorboard").is_dir()
    man = json.loads((run / "manifest.json").read_text())
    assert man["steps"] == 12 and man["method"] == "gwm"
    # resume: a longer run continues from last.ckpt
    m2 = create_method("gwm", "cpu", [*over[1:], "max_steps=16"])
    res2 = train(m2, ds, run, seed=0, progress=False, log_every=1)
    assert res2.steps == 16
    import csv

    with (run / "logs" / "csv-1" / "metrics.csv").open() as f:
        resumed_steps = [int(r["step"]) for r in csv.DictReader(f) if r.get("train/flow")]
    assert resumed_steps and min(resumed_steps) >= 12  # the resumed part starts where the first stopped
    # the logged learning rate is the schedule's
    for part, sched in (("csv", m.optim_settings().lr), ("csv-1", m2.optim_settings().lr)):
        with (run / "logs" / part / "metrics.csv").open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("train/lr")]
        assert rows
        for r in rows:
            assert float(r["train/lr"]) == pytest.approx(sched(int(r["step"])), rel=1e-5)
    config_before = (run / "config.yaml").read_text()
    # a changed config is refused on resume, naming the field
    m3 = create_method("gwm", "cpu", [*over[1:], "max_steps=20", "num_masks=3"])
    with pytest.raises(ConfigError, match="num_masks"):
        train(m3, ds, run, seed=0, progress=False)
    assert (run / "config.yaml").read_text() == config_before  # a refused resume changes nothing
    with pytest.raises(ConfigError, match="other seed"):
        train(m2, ds, run, seed=1, progress=False)
    rep = segment(res2.weights, tree, run, soft=True, method="gwm")
    assert rep.frames == 16
    assert (run / "predictions" / "clip0" / "00000.png").is_file()
    assert (run / "predictions-soft" / "clip1" / "00007.npz").is_file()
    assert (run / "overlays" / "clip0.gif").is_file()
    again = segment(res2.weights, tree, run, soft=True)
    assert again.frames == 0 and again.skipped == 16
    r = create_protocol("davis2016").evaluate(run, tree)
    assert 0.0 <= r.summary["J_frame_mean"] <= 1.0 and r.summary["frames"] == 16
    r2 = create_protocol("davis2016-oracle-gwm").evaluate(run / "predictions-merged", tree, frames="all")
    assert (
        r2.summary["J_frame_mean"] >= r.summary["J_frame_mean"] - 1e-9
    )  # the oracle picks the better cluster
    with pytest.raises(ConfigError, match="trained by method 'gwm', not 'lrtl'"):
        segment(res2.weights, tree, tmp_path / "x", method="lrtl")
    # another checkpoint into the same folder is refused instead of silently keeping old frames
    other = train(create_method("gwm", "cpu", over), ds, tmp_path / "gwm2", seed=3, progress=False)
    with pytest.raises(ConfigError, match="predictions of another model"):
        segment(other.weights, tree, run)
    # test-time adaptation: 2 steps per sequence give other masks than none
    tta = segment(res2.weights, tree, tmp_path / "tta", sequences=["clip0"], tta_steps=2, overlays=False)
    assert tta.frames == 8
    # adaptation changes the weights but keeps batch-norm statistics frozen (unless asked)
    from spelke.engine.trainer import test_time_adapt
    from spelke.methods.segment import load_trained

    m2, net = load_trained(res2.weights)
    frames = m2.make_dataset(ds, seed=0, sequences=["clip0"])

    def bn_stats(model):
        return [
            b.running_mean.clone()
            for b in model.modules()
            if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)
        ]

    assert bn_stats(net), "the U-Net has batch norm"
    frozen = test_time_adapt(m2, net, frames, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(bn_stats(net), bn_stats(frozen), strict=True))
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), frozen.parameters(), strict=True))
    moved = test_time_adapt(m2, net, frames, steps=2, train_norm=True)
    assert any(not torch.equal(a, b) for a, b in zip(bn_stats(net), bn_stats(moved), strict=True))
    # predictions made with the old adaptation rule are not reused silently
    man = json.loads((tmp_path / "tta" / "segment_manifest.json").read_text())
    man["identity"].pop("tta_rule")
    (tmp_path / "tta" / "segment_manifest.json").write_text(json.dumps(man))
    with pytest.raises(ConfigError, match="another model or setting"):
        segment(res2.weights, tree, tmp_path / "tta", sequences=["clip0"], tta_steps=2, overlays=False)


def test_train_lrtl_with_tracks_and_ema(tree, tmp_path):
    from spelke.engine.checkpoint import load_checkpoint
    from spelke.engine.trainer import train
    from spelke.methods.registry import create_method

    over = [
        "max_steps=8",
        "input_size=48x64",
        "batch_size=2",
        "warmup_steps=2",
        "ema_power=0.6667",  # the cpu preset exports raw weights; the paper's averaging is switched on
        "ema_start=2",
        "ema_every=2",
        "next_offset=2",
        "track_tag=gt-test",
        "segmenter_options={base_width: 4}",
    ]
    m = create_method("lrtl", "cpu", over)
    res = train(m, _dataset(tree), tmp_path / "lrtl", seed=1, progress=False)
    assert res.steps == 8
    assert {"train/trajectory", "train/temporal", "train/flow"} <= set(res.final_losses)
    header, sd = load_checkpoint(res.weights)
    assert header["method"] == "lrtl" and header["steps"] == 8
    _, last = load_checkpoint(tmp_path / "lrtl" / "checkpoints" / "last.ckpt")
    for k in sd:  # final.pt holds the EMA weights, which are what last.ckpt's EMA copy holds
        assert torch.equal(sd[k], last[k])
    raw = torch.load(tmp_path / "lrtl" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    diffs = [not torch.equal(raw[f"model.{k}"], sd[k]) for k in sd if sd[k].is_floating_point()]
    assert any(diffs)  # the average lags the raw weights


def test_image_frames_cache_keeps_to_its_byte_budget():
    from spelke.engine.data import ImageFrames

    images = torch.rand(10, 3, 8, 8)
    one = 3 * 8 * 8 * 4  # bytes of one float32 image
    frames = ImageFrames(images, (8, 8), cache_bytes=3 * one)
    for i in range(10):
        torch.testing.assert_close(frames[i]["image"], images[i])
    assert list(frames._images) == [7, 8, 9] and frames._cached_bytes == 3 * one
    frames.image(7)  # a read makes it the most recent: 8 goes next
    frames.image(0)
    assert list(frames._images) == [9, 7, 0]
    assert ImageFrames(images, (8, 8), cache_images=False).image(3).shape == (3, 8, 8)
