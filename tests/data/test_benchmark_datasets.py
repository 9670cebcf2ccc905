"""Benchmark dataset loaders, each on a tiny tree built here in the dataset's official layout.

Every tree uses 32 x 48 frames. Each dataset is checked for what it returns (clips or frames, shapes,
dtypes, label ids, unannotated frames, splits), its options, and the error a wrong root raises (which
must print the expected tree).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from spelke.data import (
    DATASETS,
    UNANNOTATED,
    create_dataset,
    list_datasets,
    read_image,
    write_flo,
    write_image,
    write_kitti_flow,
    write_label_map,
    write_sequence_tree,
)
from spelke.data.clevrtex_layout import crop_box, preprocess_image, preprocess_mask
from spelke.data.datasets.davis import DAVIS2016_VAL
from spelke.data.datasets.fbms import read_fbms_definition
from spelke.errors import ConfigError, DataLayoutError

H, W = 32, 48


def _img(k: int) -> np.ndarray:
    """A frame whose red channel encodes k (exact after an 8-bit lossless write)."""
    a = np.zeros((3, H, W), np.float32)
    a[0] = k / 255
    a[1, : H // 2] = 1.0
    return a


def _objects(k: int = 0) -> np.ndarray:
    """Ids 0 (background), 1 and 2; object 1 shifts right with k."""
    lab = np.zeros((H, W), np.int64)
    lab[4:12, 2 + k : 12 + k] = 1
    lab[18:28, 30:40] = 2
    return lab


def _expect_layout_error(name: str, root: Path, *fragments: str, **options) -> str:
    with pytest.raises(DataLayoutError) as e:
        create_dataset(name, root=root, **options)
    msg = str(e.value)
    assert "Expected layout" in msg, msg
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in:\n{msg}"
    return msg


def test_benchmark_datasets_are_registered_with_their_kind():
    kinds = {
        "davis2016": "sequence",
        "davis2017": "sequence",
        "segtrackv2": "sequence",
        "fbms59": "sequence",
        "movi": "sequence",
        "kitti": "image",
        "moving-clevrtex": "sequence",
        "moving-clevr": "sequence",
        "clevrtex": "image",
    }
    names = list_datasets()
    for name, kind in kinds.items():
        assert name in names
        assert DATASETS.entry(name).tags["kind"] == kind
        assert DATASETS.entry(name).summary
    assert DATASETS.canonical("stv2") == "segtrackv2"
    assert DATASETS.canonical("moving_clevrtex") == "moving-clevrtex"
    # variants of ClevrTex are an option, not separate datasets
    assert list_datasets("clevrtex*") == ["clevrtex"]


# ----------------------------------------------------------------------------------------------- DAVIS


def _davis2016_release(root: Path, seqs: dict[str, int], splits: dict[str, list[str]]) -> None:
    for seq, n in seqs.items():
        for t in range(n):
            write_image(root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg", _img(t))
            # the 2016 masks are greyscale 0 / 255
            write_label_map(
                root / "Annotations" / "480p" / seq / f"{t:05d}.png", (_objects(t) > 0) * 255, palette=False
            )
    for split, names in splits.items():
        lines = [
            f"/JPEGImages/480p/{s}/{t:05d}.jpg /Annotations/480p/{s}/{t:05d}.png"
            for s in names
            for t in range(seqs[s])
        ]
        f = root / "ImageSets" / "480p" / f"{split}.txt"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("\n".join(lines) + "\n")


def test_davis2016_release_layout(tmp_path):
    _davis2016_release(tmp_path, {"bear": 3, "blackswan": 2}, {"train": ["bear"], "val": ["blackswan"]})
    ds = create_dataset("davis2016", root=tmp_path, split="val")
    assert ds.release == "2016" and ds.sequences == ["blackswan"]
    clip = ds.clip("blackswan")
    assert clip.images.shape == (2, 3, H, W) and clip.images.dtype == np.float32
    assert clip.labels.dtype == np.int64 and clip.labels.shape == (2, H, W)
    np.testing.assert_array_equal(clip.labels[1], (_objects(1) > 0).astype(np.int64))
    assert create_dataset("davis16", root=tmp_path).sequences == ["bear", "blackswan"]
    assert create_dataset("davis2016", root=tmp_path, split="train").sequences == ["bear"]
    with pytest.raises(ConfigError, match="train, val and trainval"):
        create_dataset("davis2016", root=tmp_path, split="test")
    # no trainval list in this tree: the error names what there is
    with pytest.raises(DataLayoutError, match=r"480p/train, 480p/val"):
        create_dataset("davis2016", root=tmp_path, split="trainval")


def _davis2017_tree(root: Path) -> None:
    """Two DAVIS 2016 sequences (bear: train, dog: val) and one 2017-only sequence (bike-packing)."""
    for seq, n in (("bear", 2), ("dog", 3), ("bike-packing", 2)):
        for t in range(n):
            write_image(root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg", _img(t))
            lab = _objects(t)
            lab[0, :5] = 255  # void pixels
            write_label_map(root / "Annotations" / "480p" / seq / f"{t:05d}.png", lab)
            un = (lab == 2).astype(np.int64) * 3  # a different annotation in the unsupervised folder
            write_label_map(root / "Annotations_unsupervised" / "480p" / seq / f"{t:05d}.png", un)
    sets = root / "ImageSets"
    (sets / "2016").mkdir(parents=True)
    (sets / "2017").mkdir(parents=True)
    (sets / "2016" / "train.txt").write_text("bear\n")
    (sets / "2016" / "val.txt").write_text("dog\n")
    (sets / "2017" / "train.txt").write_text("bear\nbike-packing\n")
    (sets / "2017" / "val.txt").write_text("dog\n")


def test_davis2016_reads_the_2017_package(tmp_path):
    _davis2017_tree(tmp_path / "DAVIS")
    # the root may be the folder the zip unpacks into (holding DAVIS/)
    ds = create_dataset("davis2016", root=tmp_path)
    assert ds.release == "2017"
    assert ds.sequences == ["bear", "dog"]  # the 2017-only sequence is not DAVIS 2016
    lab = ds.labels("dog", 2)
    expected = (_objects(2) > 0).astype(np.int64)
    expected[0, :5] = 0  # void (palette index 255) is not foreground
    np.testing.assert_array_equal(lab, expected)
    assert create_dataset("davis2016", root=tmp_path, split="val").sequences == ["dog"]
    assert create_dataset("davis2016", root=tmp_path, split="trainval").sequences == ["bear", "dog"]


def test_davis2016_without_imagesets_uses_the_official_lists(tmp_path):
    # motion-grouping's DAVIS2016/ folder: JPEGImages/480p + Annotations/480p only
    for seq in (*DAVIS2016_VAL, "bear"):
        write_image(tmp_path / "JPEGImages" / "480p" / seq / "00000.jpg", _img(0))
        write_label_map(
            tmp_path / "Annotations" / "480p" / seq / "00000.png", np.full((H, W), 255), palette=False
        )
    ds = create_dataset("davis2016", root=tmp_path, split="val")
    assert ds.release == "none" and ds.sequences == list(DAVIS2016_VAL)
    assert int(ds.labels("dog", 0).min()) == 1
    with pytest.raises(DataLayoutError, match="29 sequence"):
        create_dataset("davis2016", root=tmp_path, split="train")


def test_davis2016_wrong_root(tmp_path):
    (tmp_path / "frames").mkdir()
    _expect_layout_error("davis2016", tmp_path, "ImageSets/480p/train.txt", "ImageSets/2016", "frames/")


def test_davis2017_annotations_splits_and_void(tmp_path):
    _davis2017_tree(tmp_path)
    ds = create_dataset("davis2017", root=tmp_path, split="train")
    assert ds.sequences == ["bear", "bike-packing"]
    clip = ds.clip("bear")
    assert clip.labels.shape == (2, H, W)
    assert set(np.unique(clip.labels)) == {0, 1, 2}  # 255 (void) read as background
    keep = create_dataset("davis2017", root=tmp_path, split="train", void=None)
    assert 255 in np.unique(keep.labels("bear", 0))
    un = create_dataset("davis2017", root=tmp_path, split="val", annotations="unsupervised")
    assert set(np.unique(un.labels("dog", 0))) == {0, 3}
    assert create_dataset("davis2017", root=tmp_path).sequences == ["bear", "bike-packing", "dog"]
    _expect_layout_error(
        "davis2017",
        tmp_path,
        "Annotations_unsupervised_Xie_et_al",
        "no Annotations_unsupervised_Xie_et_al/",
        annotations="motion",
    )
    with pytest.raises(DataLayoutError, match=r"no split file ImageSets/2017/test-dev\.txt"):
        create_dataset("davis2017", root=tmp_path, split="test-dev")


def test_davis2017_test_dev_is_sparse_and_unsupervised_lists_come_from_2019(tmp_path):
    root = tmp_path / "DAVIS"
    for t in range(3):
        write_image(root / "JPEGImages" / "480p" / "aerobatics" / f"{t:05d}.jpg", _img(t))
    write_label_map(
        root / "Annotations" / "480p" / "aerobatics" / "00000.png", _objects(0)
    )  # first frame only
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "test-dev.txt").write_text("aerobatics\n")
    ds = create_dataset("davis2017", root=tmp_path, split="testdev")  # alias of test-dev
    assert ds.split == "test-dev"
    clip = ds.clip("aerobatics")
    assert clip.annotated.tolist() == [True, False, False]
    assert (clip.labels[1] == UNANNOTATED).all() and ds.labels("aerobatics", 2) is None
    assert ds.annotated_frames("aerobatics") == ["00000"]
    # the unsupervised test sets: ImageSets/2019, no annotations shipped
    (root / "ImageSets" / "2019").mkdir()
    (root / "ImageSets" / "2019" / "test-dev.txt").write_text("aerobatics\n")
    with pytest.warns(UserWarning, match="without annotations"):
        un = create_dataset("davis2017", root=root, split="test-dev", annotations="unsupervised")
    assert un.sequences == ["aerobatics"] and un.clip("aerobatics").labels is None


# ------------------------------------------------------------------------------------------- SegTrackv2


def _segtrack_tree(root: Path) -> None:
    # birdfall: .png frames, one object, masks directly in GroundTruth/birdfall/
    for t in range(3):
        write_image(root / "JPEGImages" / "birdfall" / f"birdfall_{t:05d}.png", _img(t))
        write_label_map(
            root / "GroundTruth" / "birdfall" / f"birdfall_{t:05d}.png",
            (_objects(t) == 1) * 255,
            palette=False,
        )
    # penguin: .bmp frames, .png masks, two object folders whose masks overlap
    for t in range(2):
        write_image(root / "JPEGImages" / "penguin" / f"penguin_{t:05d}.bmp", _img(t))
        a = np.zeros((H, W), np.uint8)
        a[2:10, 2:10] = 255
        b = np.zeros((H, W), np.uint8)
        b[6:14, 6:14] = 255  # overlaps object 1 on [6:10, 6:10]
        for k in (1, 2):
            (root / "GroundTruth" / "penguin" / str(k)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(root / "GroundTruth" / "penguin" / "1" / f"penguin_{t:05d}.png")
        # object 2 as an RGB .bmp mask, colour-coded (the release mixes formats)
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[b > 0] = (255, 255, 255)
        Image.fromarray(rgb).save(root / "GroundTruth" / "penguin" / "2" / f"penguin_{t:05d}.bmp")
    # worm: a stray mask that matches no frame
    write_image(root / "JPEGImages" / "worm" / "worm_00001.png", _img(1))
    write_label_map(root / "GroundTruth" / "worm" / "worm_00001.png", (_objects(0) == 2) * 255, palette=False)
    write_label_map(root / "GroundTruth" / "worm" / "0000000000.png", np.zeros((H, W), np.int64))
    write_image(root / "JPEGImages" / "CSI_NY.jpg", _img(0))  # stray file beside the sequence folders
    sets = root / "ImageSets"
    sets.mkdir(parents=True)
    (sets / "all.txt").write_text("*birdfall\n*penguin\n*worm\n")
    (sets / "penguin.txt").write_text("penguin/\npenguin_00000\npenguin_00001\n")


def test_segtrackv2_official_layout(tmp_path):
    _segtrack_tree(tmp_path)
    ds = create_dataset("segtrackv2", root=tmp_path)
    assert ds.sequences == ["birdfall", "penguin", "worm"]
    clip = ds.clip("birdfall")
    assert clip.images.shape == (3, 3, H, W) and clip.labels.shape == (3, H, W)
    np.testing.assert_array_equal(clip.labels[2], (_objects(2) == 1).astype(np.int64))
    np.testing.assert_allclose(clip.images[1], _img(1), atol=1 / 255)
    # .bmp frames, .png/.bmp masks, two objects: ids 1 and 2, the lower id wins where they overlap
    pen = ds.clip("penguin")
    assert pen.frame_names == ["penguin_00000", "penguin_00001"] and pen.images.shape == (2, 3, H, W)
    lab = pen.labels[0]
    assert lab[3, 3] == 1 and lab[8, 8] == 1 and lab[12, 12] == 2 and lab[20, 20] == 0
    assert ds.meta("penguin")["objects"] == 2
    merged = create_dataset("segtrackv2", root=tmp_path, objects="merged")
    assert set(np.unique(merged.labels("penguin", 0))) == {0, 1}
    assert merged.labels("penguin", 0)[12, 12] == 1
    # worm's stray 0000000000.png is ignored and reported
    assert ds.annotated_frames("worm") == ["worm_00001"]
    assert ds.meta("worm")["unmatched_annotations"] == ["worm/0000000000.png"]
    assert create_dataset("stv2", root=tmp_path, split="all").sequences == ds.sequences
    with pytest.raises(ConfigError, match="no official splits"):
        create_dataset("segtrackv2", root=tmp_path, split="val")
    with pytest.raises(ConfigError, match="objects"):
        create_dataset("segtrackv2", root=tmp_path, objects="both")


def test_segtrackv2_without_imagesets_and_wrong_root(tmp_path):
    _segtrack_tree(tmp_path)
    for f in (tmp_path / "ImageSets").iterdir():
        f.unlink()
    ds = create_dataset("segtrackv2", root=tmp_path)
    assert ds.sequences == ["birdfall", "penguin", "worm"]  # folders; the stray CSI_NY.jpg is not one
    assert ds.num_frames("penguin") == 2
    _expect_layout_error(
        "segtrackv2", tmp_path / "GroundTruth", "GroundTruth/<seq>/1/, 2/", "ImageSets/all.txt"
    )


# ---------------------------------------------------------------------------------------------- FBMS-59


def _def_dat(colours: list[str], frames: list[tuple[int, str, str]], n_frames: int) -> str:
    out = ["Ground truth definition file; do not change!", "", "Total number of regions:", str(len(colours))]
    for c in colours:
        out += ["", c]
    out += ["", "Confusion penality matrix"]
    out += [" ".join("0" if i == j else "1" for j in range(len(colours))) for i in range(len(colours))]
    out += ["", "Total number of frames in this shot:", str(n_frames)]
    out += ["Total number of labeled frames for this shot:", str(len(frames))]
    for number, mask, inp in frames:
        out += ["Frame number:", str(number), "File name:", mask, "Input file name:", inp]
    return "\n".join(out) + "\n"


def _fbms_tree(root: Path) -> None:
    # Trainingset/cars1: 5 frames, .pgm masks on frames 0 and 3 (grey 0 = background, 255 = car)
    seq = root / "Trainingset" / "cars1"
    for t in range(5):
        write_image(seq / f"cars1_{t + 1:02d}.jpg", _img(t))
    (seq / "cars1.bmf").write_text("5 1\n")
    gt = seq / "GroundTruth"
    gt.mkdir()
    for t in (0, 3):
        m = ((_objects(t) == 1) * 255).astype(np.uint8)
        m[30, 0] = 128  # a grey value the definition does not list (closer to 255 than to 0)
        Image.fromarray(m).save(gt / f"cars1_{t + 1:02d}_gt.pgm")
    Image.fromarray(np.full((H, W), 200, np.uint8)).save(gt / "cars1_01_gt_PROB.pgm")  # not listed
    (gt / "cars1Def.dat").write_text(
        _def_dat(
            ["0", "255"], [(0, "cars1_01_gt.pgm", "cars1_01.ppm"), (3, "cars1_04_gt.pgm", "cars1_04.ppm")], 5
        )
    )
    # Testset/tennis: unusual frame numbering, colour .ppm masks (white = background), two regions
    seq = root / "Testset" / "tennis"
    for t in range(3):
        write_image(seq / f"tennis{454 + t}.jpg", _img(t))
    gt = seq / "GroundTruth"
    gt.mkdir()
    rgb = np.full((H, W, 3), 255, np.uint8)
    lab = _objects(0)
    rgb[lab == 1] = (255, 0, 0)
    rgb[lab == 2] = (0, 0, 255)
    Image.fromarray(rgb).save(gt / "tennis455_gt.ppm")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(gt / "tennis455_gt.pgm")  # companion, not listed
    # no input file name: the frame is found from the mask's name
    (gt / "tennisDef.dat").write_text(
        _def_dat([str(0xFFFFFF), str(0xFF0000), str(0x0000FF)], [(1, "tennis455_gt.ppm", "")], 3)
    )


def test_fbms59_sparse_annotation(tmp_path):
    _fbms_tree(tmp_path)
    d = read_fbms_definition(tmp_path / "Trainingset" / "cars1" / "GroundTruth" / "cars1Def.dat")
    assert d.colours == [0, 255] and d.n_frames == 5
    assert d.labelled == [(0, "cars1_01_gt.pgm", "cars1_01.ppm"), (3, "cars1_04_gt.pgm", "cars1_04.ppm")]

    ds = create_dataset("fbms59", root=tmp_path, split="train")
    assert ds.sequences == ["cars1"]
    clip = ds.clip("cars1")
    assert clip.frame_names == [f"cars1_{t:02d}" for t in range(1, 6)]
    assert clip.images.shape == (5, 3, H, W)
    assert clip.annotated.tolist() == [True, False, False, True, False]
    assert (clip.labels[1] == UNANNOTATED).all()
    expected = (_objects(3) == 1).astype(np.int64)
    np.testing.assert_array_equal(clip.labels[3], expected)  # the unlisted grey 128 -> background
    assert ds.labels("cars1", 2) is None and ds.annotated_frames("cars1") == ["cars1_01", "cars1_04"]
    near = create_dataset("fbms59", root=tmp_path, split="train", unknown="nearest")
    assert near.labels("cars1", 0)[30, 0] == 1 and near.labels("cars1", 0)[29, 0] == 0


def test_fbms59_colour_masks_splits_and_merging(tmp_path):
    _fbms_tree(tmp_path)
    ds = create_dataset("fbms", root=tmp_path, split="test")
    assert ds.sequences == ["tennis"] and ds.meta("tennis") == {"set": "Testset"}
    assert ds.frame_names("tennis") == ["tennis454", "tennis455", "tennis456"]
    assert ds.annotated_frames("tennis") == ["tennis455"]
    np.testing.assert_array_equal(ds.labels("tennis", 1), _objects(0))  # white -> 0, then listed order
    merged = create_dataset("fbms59", root=tmp_path, split="test", objects="merged")
    np.testing.assert_array_equal(merged.labels("tennis", 1), (_objects(0) > 0).astype(np.int64))
    assert create_dataset("fbms59", root=tmp_path).sequences == ["cars1", "tennis"]
    with pytest.raises(ConfigError, match="Trainingset"):
        create_dataset("fbms59", root=tmp_path, split="val")


def test_fbms59_wrong_root_and_missing_definition(tmp_path):
    _expect_layout_error("fbms59", tmp_path, "Trainingset/<seq>/<seq>_<n>.jpg", "<seq>Def.dat")
    _fbms_tree(tmp_path)
    (tmp_path / "Trainingset" / "cars1" / "GroundTruth" / "cars1Def.dat").unlink()
    ds = create_dataset("fbms59", root=tmp_path, split="train")
    with pytest.raises(DataLayoutError, match=r"Def\.dat"):
        ds.clip("cars1")


# ------------------------------------------------------------------------------------------------- MOVi


def _write_kubric_flow(path: Path, flow_rc: np.ndarray, lo: float, hi: float) -> None:
    """Kubric's encoding: (delta_row, delta_col) -> uint16 (v - min) * 65535 / (max - min), padded to 3 ch."""
    q = ((flow_rc - lo) * 65535 / (hi - lo)).astype(np.uint16)
    rgb = np.concatenate([q.transpose(1, 2, 0), np.zeros((H, W, 1), np.uint16)], axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # OpenCV writes BGR


def _movi_video(folder: Path, n: int, rng: np.random.Generator, ranges_in: str = "data_ranges") -> dict:
    flows = {}
    for direction in ("forward", "backward"):
        f = rng.uniform(-3.0, 5.0, (n, 2, H, W))  # (delta_row, delta_col)
        lo, hi = float(f.min()), float(f.max())
        flows[direction] = (f, lo, hi)
        for t in range(n):
            _write_kubric_flow(folder / f"{direction}_flow_{t:05d}.png", f[t], lo, hi)
    for t in range(n):
        rgba = np.zeros((H, W, 4), np.uint8)
        rgba[..., 0] = 10 * t
        rgba[..., 3] = 255
        Image.fromarray(rgba).save(folder / f"rgba_{t:05d}.png")
        write_label_map(folder / f"segmentation_{t:05d}.png", _objects(t))
    ranges = {f"{d}_flow": {"min": lo, "max": hi} for d, (_, lo, hi) in flows.items()}
    if ranges_in == "data_ranges":
        (folder / "data_ranges.json").write_text(json.dumps(ranges))
        (folder / "metadata.json").write_text(
            json.dumps({"metadata": {"num_frames": n}, "instances": [{}, {}]})
        )
    else:  # an export of the TFDS record: the ranges are in the metadata
        meta = {f"{d}_flow_range": [lo, hi] for d, (_, lo, hi) in flows.items()}
        (folder / "metadata.json").write_text(json.dumps({"metadata": {"num_frames": n, **meta}}))
    return flows


def test_movi_export_frames_labels_and_flow(tmp_path, rng):
    flows = _movi_video(tmp_path / "validation" / "00000001", 3, rng)
    _movi_video(tmp_path / "validation" / "00000002", 2, rng, ranges_in="metadata")
    _movi_video(tmp_path / "train" / "00000000", 2, rng)
    with pytest.raises(ConfigError, match="train, validation"):
        create_dataset("movi", root=tmp_path)
    ds = create_dataset("movi", root=tmp_path, split="val")  # alias of validation
    assert ds.split == "validation" and ds.sequences == ["00000001", "00000002"]
    clip = ds.clip("00000001")
    assert clip.frame_names == ["00000", "00001", "00002"]
    assert clip.images.shape == (3, 3, H, W) and clip.images.dtype == np.float32
    assert clip.images[2, 0, 0, 0] == pytest.approx(20 / 255)
    np.testing.assert_array_equal(clip.labels[1], _objects(1))
    assert clip.annotated.all() and ds.meta("00000001")["metadata"]["num_frames"] == 3

    f, lo, hi = flows["forward"]
    got = ds.flow("00000001", 1)
    assert got.shape == (2, H, W) and got.dtype == np.float32
    step = (hi - lo) / 65535
    np.testing.assert_allclose(got[0], f[1, 1], atol=step)  # x = delta_col
    np.testing.assert_allclose(got[1], f[1, 0], atol=step)  # y = delta_row
    b, blo, bhi = flows["backward"]
    np.testing.assert_allclose(ds.flow("00000001", 2, gap=-1)[0], -b[2, 1], atol=(bhi - blo) / 65535)
    stored = create_dataset("movi", root=tmp_path, split="validation", backward_flow="as_stored")
    np.testing.assert_allclose(stored.flow("00000001", 2, gap=-1)[1], b[2, 0], atol=(bhi - blo) / 65535)
    # ranges from metadata.json (TFDS export) decode the same way
    assert ds.flow("00000002", 0).shape == (2, H, W)
    with pytest.raises(ConfigError, match="gap 1 and -1"):
        ds.flow("00000001", 0, gap=2)
    # a split folder as the root
    assert create_dataset("movi", root=tmp_path / "train").sequences == ["00000000"]


def test_movi_wrong_root(tmp_path):
    (tmp_path / "train" / "video").mkdir(parents=True)
    _expect_layout_error("movi", tmp_path, "forward_flow_00000.png", "data_ranges.json")


# ------------------------------------------------------------------------------------------------ KITTI


def test_kitti_instance_frames_and_flow(tmp_path):
    tr = tmp_path / "training"
    for k in range(2):
        write_image(tr / "image_2" / f"{k:06d}_10.png", _img(k))
        write_image(tr / "image_2" / f"{k:06d}_11.png", _img(k + 1))
    inst = np.zeros((H, W), np.uint16)
    inst[2:8, 2:8] = 26 * 256 + 1  # car instance 1
    inst[10:16, 10:16] = 24 * 256 + 1  # person instance 1: same instance number, other class
    inst[20:30, :] = 7 * 256  # road: semantic only, no instance
    (tr / "instance").mkdir()
    Image.fromarray(inst).save(tr / "instance" / "000000_10.png")
    flow = np.zeros((2, H, W), np.float32)
    flow[0] = 1.5
    flow[1] = -2.25
    valid = np.ones((H, W), bool)
    valid[0] = False
    write_kitti_flow(tr / "flow_occ" / "000000_10.png", flow, valid)
    write_image(tmp_path / "testing" / "image_2" / "000000_10.png", _img(0))

    ds = create_dataset("kitti", root=tmp_path)
    assert len(ds) == 2 and ds.names == ["000000_10", "000001_10"]
    fr = ds[0]
    assert fr.image.shape == (3, H, W) and fr.labels.dtype == np.int64
    lab = fr.labels
    assert lab[3, 3] == 1 and lab[12, 12] == 1 and lab[25, 5] == 0  # PPMP: value % 256 merges the two
    uniq = create_dataset("kitti", root=tmp_path, split="val", instances="unique")[0].labels
    assert uniq[3, 3] != uniq[12, 12] and uniq[25, 5] == 0
    assert ds.semantic(0)[3, 3] == 26
    assert ds[1].labels is None  # no instance map for this frame
    np.testing.assert_allclose(ds.next_image(0), _img(1), atol=1 / 255)
    f, v = ds.flow("000000_10")
    np.testing.assert_allclose(f[:, 1:], flow[:, 1:])
    assert not v[0].any() and v[1:].all()
    assert ds.flow(0, kind="noc") is None and ds.flow(1) is None
    test = create_dataset("kitti", root=tmp_path, split="testing")
    assert len(test) == 1 and test[0].labels is None
    assert len(create_dataset("kitti", root=tr)) == 2  # the training/ folder as the root
    with pytest.raises(ConfigError, match="training and testing"):
        create_dataset("kitti", root=tmp_path, split="dev")


def test_kitti_wrong_root(tmp_path):
    _expect_layout_error("kitti", tmp_path, "training/instance/000000_10.png", "flow_occ")


# ------------------------------------------------------------------------------ Moving ClevrTex / CLEVR


@pytest.mark.parametrize("name", ["moving-clevrtex", "moving-clevr"])
def test_moving_clevr_trees_expose_ground_truth_flow(tmp_path, name):
    labels = np.stack([_objects(t) for t in range(3)])
    write_sequence_tree(
        tmp_path, "scene_000", np.stack([_img(t) for t in range(3)]), labels, {"moving": [1]}, "val"
    )
    flow = np.zeros((2, H, W), np.float32)
    flow[0] = 1.0
    for t in range(2):
        write_flo(tmp_path / "flows" / "gt" / "Flows_gap1" / "scene_000" / f"{t:05d}.flo", flow * (t + 1))
    write_flo(tmp_path / "flows" / "gt" / "Flows_gap-1" / "scene_000" / "00002.flo", -flow)
    ds = create_dataset(name, root=tmp_path, split="val")
    assert ds.sequences == ["scene_000"] and ds.meta("scene_000")["moving"] == [1]
    clip = ds.clip("scene_000")
    np.testing.assert_array_equal(clip.labels, labels)
    np.testing.assert_array_equal(ds.flow("scene_000", 1), flow * 2)
    np.testing.assert_array_equal(ds.flow("scene_000", "00002", gap=-1), -flow)
    assert ds.flow("scene_000", 2) is None  # the last frame has no forward partner
    assert ds.flow("scene_000", 0, backend="raft") is None
    _expect_layout_error(name, tmp_path / "flows", "flows/gt/Flows_gap<k>/<seq>/00000.flo")


def test_davis_family_reads_the_flow_cache(tmp_path):
    _davis2017_tree(tmp_path)
    flow = np.ones((2, H, W), np.float32)
    write_flo(tmp_path / "flows" / "raft" / "Flows_gap2" / "dog" / "00000.flo", flow)
    ds = create_dataset("davis2016", root=tmp_path, split="val")
    np.testing.assert_array_equal(ds.flow("dog", 0, gap=2), flow)  # the only backend cached
    assert ds.flow("dog", 1, gap=2) is None
    # a plain motion-grouping tree (Flows_gap<k>/ at the root)
    write_flo(tmp_path / "Flows_gap1" / "dog" / "00001.flo", 2 * flow)
    np.testing.assert_array_equal(ds.flow("dog", 1, gap=1), 2 * flow)
    write_flo(tmp_path / "flows" / "arflow" / "Flows_gap2" / "dog" / "00000.flo", flow)
    with pytest.raises(ConfigError, match="arflow, raft"):
        ds.flow("dog", 0, gap=2)


# --------------------------------------------------------------------------------------------- ClevrTex


def _clevrtex_tree(root: Path, key: str, n: int) -> list[np.ndarray]:
    masks = []
    for i in range(n):
        folder = root / f"clevrtex_{key}" / str(i // 1000)
        m = _objects(i % 5)
        write_label_map(folder / f"CLEVRTEX_{key}_{i:06d}_flat.png", m)
        write_image(folder / f"CLEVRTEX_{key}_{i:06d}.png", _img(i))
        (folder / f"CLEVRTEX_{key}_{i:06d}.json").write_text(
            json.dumps({"image_index": i, "objects": [{"shape": "cube"}, {"shape": "sphere"}]})
        )
        masks.append(m)
    return masks


def test_clevrtex_splits_crop_and_resize(tmp_path):
    masks = _clevrtex_tree(tmp_path, "full", 20)
    test = create_dataset("clevrtex", root=tmp_path, split="test")
    assert test.variant == "full" and test.names == ["CLEVRTEX_full_000000", "CLEVRTEX_full_000001"]
    val = create_dataset("clevrtex", root=tmp_path, split="val", variant="full")
    assert val.indices == [2, 3]
    train = create_dataset("clevrtex", root=tmp_path, split="train")
    assert train.indices == list(range(4, 20))
    assert len(create_dataset("clevrtex", root=tmp_path)) == 20  # no split: every image

    fr = test[1]
    assert fr.image.shape == (3, 128, 128) and fr.image.dtype == np.float32
    assert fr.labels.shape == (128, 128) and fr.labels.dtype == np.int64
    assert fr.meta == {"index": 1, "variant": "full"}
    # the official crop, computed here by hand: c = int(0.8 * 32) = 25, box (11, 3, 36, 28)
    assert crop_box(W, H) == (11, 3, 36, 28)
    path = tmp_path / "clevrtex_full" / "0" / "CLEVRTEX_full_000001.png"
    with Image.open(path) as im:
        ref = np.asarray(im.convert("RGB").crop((11, 3, 36, 28)).resize((128, 128), Image.BILINEAR))
    np.testing.assert_allclose(fr.image, ref.transpose(2, 0, 1) / 255.0, atol=1e-6)
    ref_mask = np.asarray(
        Image.fromarray(masks[1].astype(np.int32), mode="I")
        .crop((11, 3, 36, 28))
        .resize((128, 128), Image.NEAREST)
    )
    np.testing.assert_array_equal(fr.labels, ref_mask)
    # the dataset and the protocol share the preprocessing
    np.testing.assert_array_equal(fr.image, preprocess_image(path))
    np.testing.assert_array_equal(fr.labels, preprocess_mask(masks[1]))

    raw = create_dataset("clevrtex", root=tmp_path, split="test", crop=False, size=None, metadata=True)
    f0 = raw[0]
    assert f0.image.shape == (3, H, W)
    np.testing.assert_array_equal(f0.labels, masks[0])
    np.testing.assert_allclose(
        f0.image, read_image(tmp_path / "clevrtex_full" / "0" / "CLEVRTEX_full_000000.png")
    )
    assert f0.meta["metadata"]["objects"][1]["shape"] == "sphere"
    small = create_dataset("clevrtex", root=tmp_path, split="test", crop="false", size="16")
    assert small[0].image.shape == (3, 16, 16)
    with pytest.raises(ConfigError, match="splits"):
        create_dataset("clevrtex", root=tmp_path, split="dev")


def test_clevrtex_variants_and_ood(tmp_path):
    _clevrtex_tree(tmp_path, "pbg", 10)
    _clevrtex_tree(tmp_path, "outd", 10)
    with pytest.raises(ConfigError, match="variant"):
        create_dataset("clevrtex", root=tmp_path)
    ds = create_dataset("clevrtex", root=tmp_path, split="test", variant="plainbg")
    assert ds.variant == "pbg" and ds.names == ["CLEVRTEX_pbg_000000"]
    # outd has only a test set: every split is all of it
    ood = create_dataset("clevrtex", root=tmp_path, split="train", variant="ood")
    assert ood.variant == "outd" and len(ood) == 10
    # the variant folder itself as the root
    assert len(create_dataset("clevrtex", root=tmp_path / "clevrtex_pbg", split="all")) == 10
    with pytest.raises(ConfigError, match="unknown ClevrTex variant"):
        create_dataset("clevrtex", root=tmp_path, variant="grass")
    with pytest.raises(DataLayoutError, match="found variants: outd, pbg"):
        create_dataset("clevrtex", root=tmp_path, variant="camo")


def test_clevrtex_wrong_root(tmp_path):
    (tmp_path / "images").mkdir()
    msg = _expect_layout_error("clevrtex", tmp_path, "CLEVRTEX_<key>_<6 digits>_flat.png", "clevrtex_<key>")
    assert "images/" in msg


def test_every_benchmark_dataset_prints_its_tree_for_an_empty_root(tmp_path):
    for name in (
        "davis2016",
        "davis2017",
        "segtrackv2",
        "fbms59",
        "movi",
        "kitti",
        "moving-clevrtex",
        "clevrtex",
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            msg = _expect_layout_error(name, tmp_path)
        assert "<root>" in msg and "an empty folder" in msg
