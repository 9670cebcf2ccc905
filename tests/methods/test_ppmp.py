"""PPMP as a method: config checks, the connected-component post-processing, train -> segment -> evaluate
on a tiny generated tree (clips with the movi protocol, ClevrTex stills with the clevrtex protocol)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spelke.errors import ConfigError

pytest.importorskip("lightning")

TINY = [
    "max_steps=6",
    "input_size=32x40",
    "batch_size=2",
    "warmup_steps=2",
    "num_masks=4",
    "segmenter_options={base_width: 4}",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    from spelke.synth.textured_motion import make_textured_video

    root = tmp_path_factory.mktemp("ppmp-tree")
    for k in range(2):
        v = make_textured_video(
            frames=5, size=(40, 48), objects=2, motion="translate", min_speed=1.5, max_speed=2.5, seed=k
        )
        v.write(root, f"clip{k}", split="train", gt_gaps=(1, -1, 2, -2))
    return root


def test_postprocess_components_by_hand():
    from spelke.methods.ppmp import postprocess_components

    lab = np.ones((20, 20), np.int64)
    lab[2:6, 2:6] = 2  # 16 px
    lab[12:18, 12:18] = 2  # same slot, second component: 36 px
    lab[0, 19] = 3  # 1 px: below 0.5 % of 400 = 2 px -> joins the largest
    out = postprocess_components(lab, num_masks=5, min_area=0.005)
    assert out.max() == 3  # background, two separate components of slot 2
    assert out[0, 19] == out[10, 0]  # the speck joined the largest (the background)
    assert out[3, 3] != out[14, 14]  # one slot split into two objects
    sizes = sorted(np.bincount(out.ravel())[1:].tolist())
    assert sizes == [16, 36, 400 - 52]
    # at most K components: with K = 2 the smallest object joins the largest component
    out2 = postprocess_components(lab, num_masks=2, min_area=0.0)
    assert sorted(np.bincount(out2.ravel())[1:].tolist()) == [36, 364]


def test_config_errors_list_valid_values():
    from spelke.methods.registry import create_method

    with pytest.raises(ConfigError, match=r"at least 2.*11 for clevr"):
        create_method("ppmp", "cpu", ["num_masks=1"])
    with pytest.raises(ConfigError, match="affine-generic"):
        create_method("ppmp", "cpu", ["prior=nope"])
    with pytest.raises(ConfigError, match=r"translation model.*valid for affine"):
        create_method("ppmp", "cpu", ["prior=translation-generic"])
    with pytest.raises(ConfigError, match="affine or translation"):
        create_method("ppmp", "cpu", ["motion_model=quadratic"])
    m = create_method("ppmp", "cpu", ["motion_model=translation", "prior=translation-clevr"])
    assert m.config.prior == "translation-clevr"


def test_paper_preset_and_beta_schedule():
    from spelke.methods.registry import create_method

    m = create_method("ppmp", "paper")
    c = m.config
    assert (c.num_masks, c.batch_size, c.max_steps, c.grad_clip, c.sigma2) == (11, 32, 250000, 0.01, 0.5)
    assert (c.segmenter, c.backbone, tuple(c.input_size)) == ("mask2former", "sacnn", (128, 128))
    s = m.optim_settings()
    assert s.lr(5000) == pytest.approx(3e-5) and s.lr(200000) == pytest.approx(3e-6)
    assert m.beta(0) == pytest.approx(0.1) and m.beta(2500) == pytest.approx(0.0)
    assert m.beta(5000) == pytest.approx(-0.1) and m.beta(10**6) == pytest.approx(-0.1)


def test_motion_loss_seam_takes_any_model_logits():
    from spelke.losses import ppmp_loss
    from spelke.methods.registry import create_method

    m = create_method("ppmp", "cpu", ["num_masks=3"])
    logits = torch.randn(2, 3, 8, 10, requires_grad=True)
    flow = torch.randn(2, 2, 16, 20)
    g = torch.Generator().manual_seed(0)
    terms = m.motion_loss(logits, flow, step=0, generator=g)
    assert set(terms) >= {"loss", "nll", "kl"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # the same as the loss on bilinearly upsampled logits
    up = torch.nn.functional.interpolate(logits.detach(), size=(16, 20), mode="bilinear", align_corners=False)
    ref = ppmp_loss(up, flow, beta=0.1, generator=torch.Generator().manual_seed(0))
    assert terms["loss"].item() == pytest.approx(ref["loss"].item(), rel=1e-5)


def test_train_segment_evaluate_clips_and_stills(tree, tmp_path):
    from spelke.data import create_dataset
    from spelke.engine.trainer import read_metrics_csv, train
    from spelke.eval.protocols import create_protocol
    from spelke.methods.registry import create_method
    from spelke.methods.segment import load_trained, segment, segment_stills

    ds = create_dataset("davis_tree", root=tree)
    m = create_method("ppmp", "cpu", TINY)
    run = tmp_path / "ppmp"
    res = train(m, ds, run, seed=0, progress=False, log_every=1)
    assert res.steps == 6
    rows = read_metrics_csv(run)
    assert any("train/nll" in r and "train/kl" in r for r in rows)
    assert all(np.isfinite(r["train/loss"]) for r in rows if "train/loss" in r)
    # a PPMP checkpoint is refused where GWM is asked for, with both names
    with pytest.raises(ConfigError, match=r"ppmp.*gwm|gwm.*ppmp"):
        load_trained(res.weights, method="gwm")

    rep = segment(res.weights, tree, run, method="ppmp", overlays=True)
    assert rep.frames == 10
    lab = np.array(
        __import__("PIL.Image", fromlist=["Image"]).open(run / "predictions" / "clip0" / "00000.png")
    )
    assert lab.shape == (40, 48) and 1 <= lab.min() and lab.max() <= 4
    assert (run / "predictions-raw" / "clip0" / "00000.png").is_file()
    assert (run / "overlays" / "clip0.gif").is_file()
    r = create_protocol("movi").evaluate(run, tree)
    assert r.summary["frames"] == 10 and 0.0 <= r.summary["miou"] <= 1.0

    from tests.eval.test_protocols import make_clevrtex

    make_clevrtex(tmp_path / "ctx", 10)
    stills = create_dataset("clevrtex", root=tmp_path / "ctx", split="test")
    rep = segment_stills(res.weights, stills, tmp_path / "stills")
    assert rep.frames == len(stills) == 1
    r = create_protocol("clevrtex").evaluate(tmp_path / "stills", tmp_path / "ctx")
    assert r.summary["images"] == 1 and 0.0 <= r.summary["miou"] <= 1.0
    # finished images are skipped
    assert segment_stills(res.weights, stills, tmp_path / "stills").skipped == 1
