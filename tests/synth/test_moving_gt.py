"""Moving-object annotations on a hand-made Moving ClevrTex tree (no Blender): the rule, idempotence,
and reading the result back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spelke.data.flow_io import write_flo
from spelke.data.io import read_json, read_label_map, write_image, write_json, write_label_map
from spelke.errors import ConfigError, DataLayoutError
from spelke.synth.moving_gt import moving_objects, object_displacements, write_moving_annotations

H, W, N = 24, 32, 4
# per-frame velocity (dx, dy) in px of each object from frame t to t+1
VELOCITY = {
    1: [(2.0, 0.0)] * N,  # pushed, moves all clip
    2: [(0.0, 0.0)] * N,  # never moves
    3: [(2.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0)],  # pushed, comes to rest after frame 1
    4: [(0.1, 0.0)] * N,  # pose jitter: in meta["moving"] but below the flow threshold
}
BOXES = {1: (2, 2), 2: (2, 20), 3: (14, 2), 4: (14, 20)}  # top-left (y, x) at frame 0, 6x6 boxes


def labels_at(t: int) -> np.ndarray:
    lab = np.zeros((H, W), np.int64)
    for i, (y, x) in BOXES.items():
        dx = round(sum(v[0] for v in VELOCITY[i][:t]))
        lab[y : y + 6, x + dx : x + dx + 6] = i
    return lab


def flow_at(t: int, gap: int) -> np.ndarray:
    lab = labels_at(t)
    f = np.zeros((2, H, W), np.float32)
    for i, v in VELOCITY.items():
        step = v[t] if gap == 1 else tuple(-c for c in v[t - 1])
        f[0][lab == i], f[1][lab == i] = step
    return f


def make_tree(root: Path, seq: str = "000000", flows: bool = True, meta: bool = True) -> None:
    for t in range(N):
        write_image(root / "JPEGImages" / seq / f"{t:05d}.png", np.full((3, H, W), 0.5, np.float32))
        write_label_map(root / "Annotations" / seq / f"{t:05d}.png", labels_at(t))
        if flows:
            for g in (1, -1):
                if 0 <= t + g < N:
                    write_flo(root / "flows" / "gt" / f"Flows_gap{g}" / seq / f"{t:05d}.flo", flow_at(t, g))
    if meta:
        write_json(
            root / "meta" / f"{seq}.json",
            {
                "sequence": seq,
                "num_frames": N,
                "pushed_objects": [1, 3],
                # pose changes from t to t+1 (the last entry repeats the previous one, as the generator)
                "moving": [[1, 3, 4], [1, 4], [1, 4], [1, 4]],
                "flow_gaps": [1, -1],
            },
        )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_tree(tmp_path)
    (tmp_path / "ImageSets").mkdir()
    (tmp_path / "ImageSets" / "val.txt").write_text("000000\n")
    return tmp_path


def present(path: Path) -> set[int]:
    return {int(i) for i in np.unique(read_label_map(path)) if i}


def test_displacement_is_the_median_flow_magnitude():
    lab = labels_at(0)
    d = object_displacements(lab, flow_at(0, 1))
    assert d == pytest.approx({1: 2.0, 2: 0.0, 3: 2.0, 4: 0.1})


def test_clip_rule_keeps_objects_that_moved_anywhere_in_the_clip(tree):
    report = write_moving_annotations(tree)
    assert report.sequences == {"000000": [1, 3]}
    assert report.written == N and report.unchanged == 0 and report.skipped == []
    for t in range(N):
        out = read_label_map(tree / "AnnotationsMoving" / "000000" / f"{t:05d}.png")
        want = np.where(np.isin(labels_at(t), [1, 3]), labels_at(t), 0)
        np.testing.assert_array_equal(out, want)  # ids preserved; object 3 kept after it stopped
    manifest = read_json(tree / "AnnotationsMoving" / "manifest.json")
    assert manifest["rule"] == "clip" and manifest["threshold_px"] == 0.5
    assert manifest["sequences"] == {"000000": [1, 3]}


def test_frame_rule_and_metadata_only_rule(tree):
    per_frame = moving_objects(tree, "000000", rule="frame")
    assert per_frame == [{1, 3}, {1, 3}, {1}, {1}]  # frame 1: object 3 moved into it (backward flow)
    meta_only = moving_objects(tree, "000000", threshold_px=None)
    assert meta_only == [{1, 3, 4}] * N  # the jittering object counts without the flow check
    assert moving_objects(tree, "000000", rule="frame", threshold_px=None) == [
        {1, 3, 4},
        {1, 3, 4},
        {1, 4},
        {1, 4},
    ]
    assert moving_objects(tree, "000000", threshold_px=0.05) == [{1, 3, 4}] * N
    write_moving_annotations(tree, "AnnotationsMovingFrame", rule="frame")
    assert present(tree / "AnnotationsMovingFrame" / "000000" / "00002.png") == {1}


def test_writing_is_idempotent_and_repairs_changed_files(tree):
    write_moving_annotations(tree)
    target = tree / "AnnotationsMoving" / "000000" / "00002.png"
    mtime = target.stat().st_mtime_ns
    again = write_moving_annotations(tree)
    assert again.written == 0 and again.unchanged == N
    assert target.stat().st_mtime_ns == mtime  # untouched
    write_label_map(target, labels_at(2))  # corrupt one file: the next run rewrites it
    fixed = write_moving_annotations(tree)
    assert fixed.written == 1 and present(target) == {1, 3}
    assert not list((tree / "AnnotationsMoving" / "000000").glob(".*"))  # no temporary leftovers


def test_unfinished_clips_are_skipped_and_missing_flow_is_explained(tree):
    make_tree(tree, "000001", meta=False)  # no meta: not finished
    make_tree(tree, "000002", flows=False)  # meta without transforms, no flow cache
    (tree / "Annotations" / "000000" / "00003.png").rename(tree / "x.png")
    with pytest.raises(DataLayoutError, match="threshold_px=None"):
        write_moving_annotations(tree, sequences=["000002"])
    report = write_moving_annotations(tree, threshold_px=None)
    assert report.skipped == ["000000"]  # missing annotation frame; 000001 has no meta at all
    assert report.sequences == {"000002": [1, 3, 4]}
    with pytest.raises(ConfigError, match="differ"):
        write_moving_annotations(tree, out_dir="Annotations")
    with pytest.raises(ConfigError, match="rule"):
        write_moving_annotations(tree, rule="object")
    with pytest.raises(DataLayoutError, match="meta/"):
        write_moving_annotations(tree / "nowhere")


def test_dataset_loader_reads_the_moving_annotations(tree):
    from spelke.data import create_dataset

    write_moving_annotations(tree)
    ds = create_dataset("moving-clevrtex", root=tree, annotations="AnnotationsMoving")
    full = create_dataset("moving-clevrtex", root=tree)
    assert ds.sequences == ["000000"]
    lab = ds.labels("000000", 3)
    assert {int(i) for i in np.unique(lab) if i} == {1, 3}
    assert {int(i) for i in np.unique(full.labels("000000", 3)) if i} == {1, 2, 3, 4}
