"""The ``annotations`` option of the sequence protocols: score against another annotation folder
(e.g. ``AnnotationsMoving`` from :mod:`spelke.synth.moving_gt`) instead of the default search order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spelke.data.io import write_label_map
from spelke.errors import DataLayoutError
from spelke.eval.protocols import create_protocol

H, W = 16, 20


def objects() -> np.ndarray:
    lab = np.zeros((H, W), np.int64)
    lab[2:8, 2:8] = 1  # moving object, 36 px
    lab[10:14, 12:18] = 2  # static object, 24 px
    return lab


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    gt = tmp_path / "gt"
    pred = tmp_path / "pred"
    for t in range(3):
        full = objects()
        write_label_map(gt / "Annotations" / "seq" / f"{t:05d}.png", full)
        write_label_map(gt / "AnnotationsMoving" / "seq" / f"{t:05d}.png", np.where(full == 1, 1, 0))
        write_label_map(pred / "seq" / f"{t:05d}.png", (full == 1).astype(np.int64))  # finds the mover
    (gt / "ImageSets").mkdir()
    (gt / "ImageSets" / "val.txt").write_text("seq\n")
    return tmp_path


def test_default_reads_annotations_and_option_reads_the_named_folder(tree):
    p = create_protocol("davis2016")
    assert p.options["annotations"] is None
    full = p.evaluate(tree / "pred", tree / "gt")
    assert full.summary["J_seq_mean"] == pytest.approx(36 / 60)
    moving = p.evaluate(tree / "pred", tree / "gt", annotations="AnnotationsMoving")
    assert moving.summary["J_seq_mean"] == pytest.approx(1.0)
    assert moving.options["annotations"] == "AnnotationsMoving"
    # explicit none (as typed on the command line) is the default search order
    assert p.evaluate(tree / "pred", tree / "gt", annotations="none").summary["J_seq_mean"] == pytest.approx(
        0.6
    )


def test_option_exists_on_every_sequence_protocol_and_finds_a_480p_level(tree):
    gt = tree / "gt"
    for t in range(3):
        (gt / "AnnotationsMoving" / "seq" / f"{t:05d}.png").rename(gt / f"{t}.png")
    (gt / "AnnotationsMoving" / "480p" / "seq").mkdir(parents=True)
    for t in range(3):
        (gt / f"{t}.png").rename(gt / "AnnotationsMoving" / "480p" / "seq" / f"{t:05d}.png")
    (gt / "AnnotationsMoving" / "seq").rmdir()
    res = create_protocol("fbms59").evaluate(tree / "pred", gt, annotations="AnnotationsMoving")
    assert res.summary["J_frame_mean"] == pytest.approx(1.0)
    oracle = create_protocol("davis2016-oracle-gwm").evaluate(
        tree / "pred", gt, annotations="AnnotationsMoving", frames="all"
    )
    assert oracle.summary["J_seq_mean"] == pytest.approx(1.0)
    movi = create_protocol("movi").evaluate(tree / "pred", gt, annotations="AnnotationsMoving")
    assert movi.summary["miou"] == pytest.approx(1.0)
    assert "annotations" in create_protocol("davis2017-unsupervised").options


def test_missing_annotation_folder_is_an_actionable_error(tree):
    with pytest.raises(DataLayoutError, match=r"annotations='AnnotationsMovin'.*no folder"):
        create_protocol("davis2016").evaluate(tree / "pred", tree / "gt", annotations="AnnotationsMovin")
