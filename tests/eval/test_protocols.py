"""End-to-end protocol tests on tiny ground-truth trees built here, with hand-worked expected numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spelke.data.io import write_image, write_label_map
from spelke.errors import ConfigError, DataLayoutError, NotRegisteredError, ShapeError
from spelke.eval.protocols import create_protocol, list_protocols
from spelke.eval.protocols.base import find_sequence_gt, read_split
from spelke.eval.protocols.clevrtex import crop_box, preprocess_mask, split_indices
from spelke.eval.protocols.video import select_frames
from spelke.synth import make_moving_shapes


def square(h: int, w: int, y0: int, x0: int, s: int, val: int = 1) -> np.ndarray:
    m = np.zeros((h, w), np.int64)
    m[y0 : y0 + s, x0 : x0 + s] = val
    return m


def write_tree(root: Path, seqs: dict[str, list[np.ndarray]], layout: str = "davis") -> None:
    for seq, frames in seqs.items():
        for t, lab in enumerate(frames):
            if layout == "davis":
                write_label_map(root / "Annotations" / "480p" / seq / f"{t:05d}.png", lab)
            else:
                write_label_map(root / seq / f"{t:05d}.png", lab)


def write_preds(root: Path, seqs: dict[str, list[np.ndarray]]) -> None:
    for seq, frames in seqs.items():
        for t, lab in enumerate(frames):
            write_label_map(root / seq / f"{t:05d}.png", lab)


def test_registry_lists_every_protocol_of_the_issue():
    names = set(list_protocols())
    for n in (
        "clevrtex",
        "davis2016",
        "segtrackv2",
        "fbms59",
        "davis2017-unsupervised",
        "movi",
        "saliency",
        "corloc",
        "semantic",
        "davis2016-oracle-gwm",
        "davis2016-oracle-lrtl",
    ):
        assert n in names
    assert all("oracle" in n for n in names if create_protocol(n).oracle)
    with pytest.raises(NotRegisteredError, match="did you mean 'davis2016'"):
        create_protocol("davis2061")


def test_select_frames():
    stems = ["00000", "00001", "00002", "00003"]
    assert select_frames(stems, "all") == stems
    assert select_frames(stems, "no-first") == stems[1:]
    assert select_frames(stems, "no-first-last") == ["00001", "00002"]
    assert select_frames(stems, "gwm") == ["00002", "00003"]
    with pytest.raises(ConfigError):
        select_frames(["a", "b"], "gwm")
    with pytest.raises(ConfigError):
        select_frames(stems, "some")


def test_davis2016_hand_worked(tmp_path):
    # seq a: GT is a 4x4 square in an 8x8 frame in 3 frames; prediction is exact, then a 2x4 half, then empty.
    gt = [square(8, 8, 2, 2, 4) * 255 for _ in range(3)]  # DAVIS 2016 annotations are 0/255
    half = np.zeros((8, 8), np.int64)
    half[2:4, 2:6] = 1
    pred = [square(8, 8, 2, 2, 4), half, np.zeros((8, 8), np.int64)]
    # seq b: a single frame, exact.
    write_tree(tmp_path / "gt", {"a": gt, "b": [gt[0]]})
    write_preds(tmp_path / "pred", {"a": pred, "b": [pred[0]]})
    res = create_protocol("davis2016").evaluate(tmp_path / "pred", tmp_path / "gt")
    js = [r["J"] for r in res.tables["per_frame"] if r["sequence"] == "a"]
    assert js == pytest.approx([1.0, 0.5, 0.0])
    # sequence means: a = 0.5, b = 1.0 -> J_seq_mean = 0.75; frame mean = (1 + .5 + 0 + 1) / 4
    assert res.summary["J_seq_mean"] == pytest.approx(0.75)
    assert res.summary["J_frame_mean"] == pytest.approx(0.625)
    seq_a = res.tables["per_sequence"][0]
    assert seq_a["J_recall"] == pytest.approx(1 / 3)  # only frame 0 has J > 0.5
    assert res.headline == "J_seq_mean"
    assert "F_seq_mean" in res.summary and res.summary["F_seq_mean"] < 1.0
    # frames=no-first drops frame 0 of both sequences: b has no frame left and a = (0.5 + 0) / 2
    res2 = create_protocol("davis2016").evaluate(tmp_path / "pred", tmp_path / "gt", frames="no-first")
    assert res2.summary["J_frame_mean"] == pytest.approx(0.25)


def test_davis2016_uses_val_split_when_present(tmp_path):
    gt = {s: [square(8, 8, 1, 1, 3)] for s in ("bear", "cows")}
    write_tree(tmp_path / "gt", gt)
    (tmp_path / "gt" / "ImageSets" / "2016").mkdir(parents=True)
    # the original DAVIS 2016 list format: pairs of paths
    (tmp_path / "gt" / "ImageSets" / "2016" / "val.txt").write_text(
        "/JPEGImages/480p/cows/00000.jpg /Annotations/480p/cows/00000.png\n"
    )
    assert read_split(tmp_path / "gt", "val", "2016") == ["cows"]
    write_preds(tmp_path / "pred", {"cows": gt["cows"]})
    res = create_protocol("davis2016").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert [r["sequence"] for r in res.tables["per_sequence"]] == ["cows"]
    with pytest.raises(DataLayoutError, match="split 'test' not found"):
        create_protocol("davis2016").evaluate(tmp_path / "pred", tmp_path / "gt", split="test")


def test_missing_extra_and_shape_errors_name_the_files(tmp_path):
    gt = {"s": [square(8, 8, 1, 1, 3), square(8, 8, 1, 1, 3)]}
    write_tree(tmp_path / "gt", gt)
    write_preds(tmp_path / "pred", {"s": gt["s"][:1], "zzz": [gt["s"][0]]})
    proto = create_protocol("segtrackv2")
    with pytest.raises(DataLayoutError, match=r"1 prediction file\(s\) missing .*s/00001"):
        proto.evaluate(tmp_path / "pred", tmp_path / "gt")
    res = proto.evaluate(tmp_path / "pred", tmp_path / "gt", allow_missing="true")
    assert res.summary["J_frame_mean"] == pytest.approx(0.5)  # the missing frame scores as empty
    assert any("zzz/00000" in n for n in res.notes)  # extra file reported by name
    write_label_map(tmp_path / "pred" / "s" / "00001.png", np.zeros((4, 4), np.int64))
    with pytest.raises(ShapeError, match=r"s/00001 has size \(4, 4\).*\(8, 8\)"):
        proto.evaluate(tmp_path / "pred", tmp_path / "gt")
    res = proto.evaluate(tmp_path / "pred", tmp_path / "gt", resize="nearest")
    assert any("resized" in n for n in res.notes)
    with pytest.raises(ConfigError, match="has no option 'resise'"):
        proto.evaluate(tmp_path / "pred", tmp_path / "gt", resise="nearest")


def test_segtrackv2_merges_object_folders(tmp_path):
    gt = tmp_path / "gt" / "GroundTruth" / "drift"
    a, b = square(8, 8, 0, 0, 2), square(8, 8, 4, 4, 2)
    write_label_map(gt / "1" / "f0.png", a * 255)
    write_label_map(gt / "2" / "f0.png", b * 255)
    seqs = find_sequence_gt(tmp_path / "gt")
    assert seqs[0].object_dirs is not None and list(seqs[0].frames) == ["f0"]
    write_label_map(tmp_path / "pred" / "drift" / "f0.png", a)  # only the first object found
    res = create_protocol("segtrackv2").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["J_frame_mean"] == pytest.approx(0.5)  # 4 of 8 merged foreground pixels


def test_oracles_gwm_and_lrtl(tmp_path):
    fg = square(8, 8, 2, 2, 4)
    # three predicted segments: left half of the square, right half, and the rest
    pred = np.full((8, 8), 7, np.int64)
    pred[2:6, 2:4] = 3
    pred[2:6, 4:6] = 5
    write_tree(tmp_path / "gt", {"s": [fg, fg]}, layout="plain")
    write_preds(tmp_path / "pred", {"s": [pred, 1 - fg]})
    gwm = create_protocol("segtrackv2-oracle-gwm").evaluate(tmp_path / "pred", tmp_path / "gt")
    # frame 0: best single segment covers half the square -> 0.5; frame 1: segment "0" is the square -> 1
    assert [r["J"] for r in gwm.tables["per_frame"]] == pytest.approx([0.5, 1.0])
    lrtl = create_protocol("segtrackv2-oracle-lrtl").evaluate(tmp_path / "pred", tmp_path / "gt")
    # frame 1: two segments swapped in id; Hungarian assigns the square to the foreground -> 1
    # frame 0: background must go to segment 7 (IoU 48/48 = 1), fg to one half: 0.5
    assert [r["J"] for r in lrtl.tables["per_frame"]] == pytest.approx([0.5, 1.0])
    assert create_protocol("davis2016-oracle-gwm").options["frames"] == "gwm"


def test_gwm_oracle_reads_soft_masks_thresholded_at_half(tmp_path):
    from spelke.data.io import write_soft_mask

    fg = square(8, 8, 2, 2, 4).astype(bool)
    probs = np.stack([np.where(fg, 0.4, 0.9), np.where(fg, 0.6, 0.1)]).astype(np.float32)
    write_tree(tmp_path / "gt", {"s": [fg.astype(np.int64)]}, layout="plain")
    write_soft_mask(tmp_path / "pred" / "s" / "00000.npz", probs)
    res = create_protocol("fbms59-oracle-gwm").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["J_frame_mean"] == pytest.approx(1.0)


def test_davis2017_unsupervised_perfect_up_to_permutation(tmp_path):
    v = make_moving_shapes(frames=4, size=(32, 40), objects=3, seed=3)
    perm = np.array([0, 5, 2, 9])  # proposal ids are arbitrary
    write_tree(tmp_path / "gt", {"clip": list(v.labels)})
    write_preds(tmp_path / "pred", {"clip": [perm[lab] for lab in v.labels]})
    res = create_protocol("davis2017-unsupervised").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["J&F_mean"] == pytest.approx(1.0)
    assert res.summary["objects"] == 3
    # drop one object from the prediction: its J and F are 0 where it is visible
    bad = [np.where(lab == 2, 0, perm[lab]) for lab in v.labels]
    write_preds(tmp_path / "pred", {"clip": bad})
    res = create_protocol("davis2017-unsupervised").evaluate(tmp_path / "pred", tmp_path / "gt")
    # (official semantics: in frames where the object is absent both masks are empty and J = 1)
    absent = np.mean([not (lab == 2).any() for lab in v.labels])
    assert res.summary["J_mean"] == pytest.approx((2 + absent) / 3, abs=1e-9)


def test_movi_perfect_and_one_segment(tmp_path):
    v = make_moving_shapes(frames=3, size=(32, 32), objects=3, seed=1)
    write_tree(tmp_path / "gt", {"c": list(v.labels)}, layout="davis")
    write_preds(tmp_path / "pred", {"c": [lab * 3 + 1 for lab in v.labels]})
    res = create_protocol("movi").evaluate(tmp_path / "pred", tmp_path / "gt")
    for k in ("fg_ari", "ari", "miou", "fg_ari_video"):
        assert res.summary[k] == pytest.approx(1.0)
    write_preds(tmp_path / "pred", {"c": [np.zeros_like(lab) for lab in v.labels]})
    res = create_protocol("movi").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["fg_ari"] == pytest.approx(0.0)
    assert res.summary["ari"] == pytest.approx(0.0)
    # one predicted segment vs K+1 true segments: the best match is the background alone
    t0 = v.labels[0]
    k = len(np.unique(t0))
    assert res.tables["per_frame"][0]["miou"] == pytest.approx((t0 == 0).mean() / k)


# ---------------------------------------------------------------------------------------------------
# ClevrTex
# ---------------------------------------------------------------------------------------------------


def test_crop_box_matches_the_official_numbers():
    # 320 x 240: crop int(0.8 * 240) = 192 -> box (64, 24, 256, 216)
    assert crop_box(320, 240) == (64, 24, 256, 216)
    assert split_indices(list(range(20)), "test", "full") == [0, 1]
    assert split_indices(list(range(20)), "val", "full") == [2, 3]
    assert split_indices(list(range(20)), "train", "full") == list(range(4, 20))
    assert split_indices(list(range(20)), "test", "outd") == list(range(20))


def make_clevrtex(root: Path, n: int, key: str = "full") -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    masks = []
    for i in range(n):
        m = np.zeros((240, 320), np.int64)
        objs = []
        for k in range(3):
            y, x = 40 + 50 * k, 80 + 60 * k
            m[y : y + 40, x : x + 40] = k + 1
            objs.append(
                {
                    "shape": ["cube", "sphere", "cylinder"][k],
                    "size": "large",
                    "material": f"m{k % 2}",
                    "rotation": 0.0,
                }
            )
        folder = root / f"clevrtex_{key}" / str(i // 1000)
        write_label_map(folder / f"CLEVRTEX_{key}_{i:06d}_flat.png", m)
        write_image(folder / f"CLEVRTEX_{key}_{i:06d}.png", rng.random((3, 240, 320)).astype(np.float32))
        (folder / f"CLEVRTEX_{key}_{i:06d}.json").write_text(
            json.dumps({"ground_material": "g", "objects": objs})
        )
        masks.append(m)
    return masks


def test_clevrtex_protocol_end_to_end(tmp_path):
    masks = make_clevrtex(tmp_path / "gt", 10)
    # predictions for image 0 (the test split is the first 10 % = 1 image):
    # at the original resolution with permuted ids -> perfect after the same crop and resize
    write_label_map(tmp_path / "pred" / "CLEVRTEX_full_000000.png", masks[0] * 2 + 5)
    res = create_protocol("clevrtex").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["images"] == 1
    assert res.summary["miou"] == pytest.approx(1.0)
    assert res.summary["fg_ari"] == pytest.approx(1.0)
    assert res.summary["count_acc"] == pytest.approx(1.0)
    attrs = {(r["attribute"], r["value"]): r for r in res.tables["per_attribute"]}
    assert attrs[("shape", "cube")]["obj_iou"] == pytest.approx(1.0)
    assert ("ground_material", "g") in attrs
    # object 3 (the cylinder at y 140..180, x 200..240) stays inside the crop; merge it into the background
    pred = preprocess_mask(masks[0])
    merged = np.where(pred == 3, 0, pred)
    write_label_map(tmp_path / "pred" / "CLEVRTEX_full_000000.png", merged)
    res = create_protocol("clevrtex").evaluate(tmp_path / "pred", tmp_path / "gt")
    t = preprocess_mask(masks[0])
    bg_iou = (t == 0).sum() / ((t == 0) | (t == 3)).sum()
    # 4 true segments, 3 predicted: matched IoUs are 1, 1 and bg_iou; divided by max(3, 4) = 4
    assert res.summary["miou"] == pytest.approx((2 + bg_iou) / 4)
    attrs = {(r["attribute"], r["value"]): r for r in res.tables["per_attribute"]}
    assert attrs[("shape", "cylinder")]["obj_iou"] == pytest.approx(0.0)
    # a wrong size is reported with both expected sizes
    write_label_map(tmp_path / "pred" / "CLEVRTEX_full_000000.png", np.zeros((50, 50), np.int64))
    with pytest.raises(ShapeError, match=r"expected \(128, 128\).*\(240, 320\)"):
        create_protocol("clevrtex").evaluate(tmp_path / "pred", tmp_path / "gt")


def test_clevrtex_reconstruction_mse(tmp_path):
    make_clevrtex(tmp_path / "gt", 1)
    from spelke.eval.protocols.clevrtex import preprocess_image

    img = preprocess_image(tmp_path / "gt" / "clevrtex_full" / "0" / "CLEVRTEX_full_000000.png")
    write_label_map(tmp_path / "pred" / "CLEVRTEX_full_000000.png", np.zeros((128, 128), np.int64))
    recon = np.clip(img + 0.1, 0, 1)
    write_image(tmp_path / "pred" / "CLEVRTEX_full_000000_recon.png", recon)
    res = create_protocol("clevrtex").evaluate(tmp_path / "pred", tmp_path / "gt", split="all")
    stored = np.round(recon * 255) / 255  # the PNG holds 8-bit values
    assert res.summary["mse"] == pytest.approx(float(((stored - img) ** 2).sum()), rel=1e-5)


def test_clevrtex_wrong_root_prints_expected_tree(tmp_path):
    with pytest.raises(DataLayoutError, match=r"CLEVRTEX_<key>_<6 digits>_flat\.png"):
        create_protocol("clevrtex").evaluate(tmp_path, tmp_path)


def test_davis2017_prefers_unsupervised_annotations(tmp_path):
    v = make_moving_shapes(frames=2, size=(24, 24), objects=2, seed=5)
    for t, lab in enumerate(v.labels):
        write_label_map(tmp_path / "gt" / "Annotations_unsupervised" / "480p" / "c" / f"{t:05d}.png", lab)
        # the semi-supervised annotations differ: scoring against them would not be perfect
        write_label_map(tmp_path / "gt" / "Annotations" / "480p" / "c" / f"{t:05d}.png", np.zeros_like(lab))
    write_preds(tmp_path / "pred", {"c": list(v.labels)})
    res = create_protocol("davis2017-unsupervised").evaluate(tmp_path / "pred", tmp_path / "gt")
    assert res.summary["J&F_mean"] == pytest.approx(1.0)
