"""The dataset registry and the generic datasets, each on a tiny tree built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spelke.data import (
    DATASETS,
    UNANNOTATED,
    Clip,
    Frame,
    create_dataset,
    davis_palette,
    list_datasets,
    read_image,
    read_label_map,
    register_dataset,
    write_image,
    write_label_map,
    write_sequence_tree,
    write_video,
)
from spelke.data.datasets import ImageDataset
from spelke.errors import ConfigError, DataLayoutError, NotRegisteredError, ShapeError


def _img(k: int, h: int = 8, w: int = 10) -> np.ndarray:
    """A frame whose red channel encodes k (exact after 8-bit PNG)."""
    a = np.zeros((3, h, w), np.float32)
    a[0] = k / 255
    a[1, : h // 2] = 1.0
    return a


def _lab(k: int, h: int = 8, w: int = 10) -> np.ndarray:
    lab = np.zeros((h, w), np.int64)
    lab[1:4, k % w : k % w + 3] = 1
    lab[5:7, 0:2] = 2
    return lab


# ---------------------------------------------------------------------------------------------- registry


def test_registry_lists_generic_datasets():
    names = list_datasets()
    for n in ("image_folder", "frame_folder", "video_file", "davis_tree"):
        assert n in names
    assert list_datasets("davis_*") == ["davis_tree"]
    assert DATASETS.canonical("spelke_sequences") == "davis_tree"
    assert DATASETS.entry("davis_tree").tags["kind"] == "sequence"
    assert DATASETS.entry("image_folder").tags["kind"] == "image"
    assert DATASETS.entry("video_file").summary


def test_unknown_name_and_option(tmp_path):
    with pytest.raises(NotRegisteredError, match="did you mean"):
        create_dataset("davis_tre", root=tmp_path)
    write_sequence_tree(tmp_path, "s", [_img(0)])
    with pytest.raises(ConfigError, match="resolution"):
        create_dataset("davis_tree", root=tmp_path, resolutoin="480p")


def test_root_from_environment(tmp_path, monkeypatch):
    write_sequence_tree(tmp_path / "davis_tree", "envseq", [_img(0)], split="val")
    monkeypatch.setenv("SPELKE_DATA", str(tmp_path))
    ds = create_dataset("davis_tree", split="val")
    assert ds.root == tmp_path / "davis_tree" and ds.sequences == ["envseq"]
    # the alias finds the canonical folder too
    assert create_dataset("spelke_sequences").sequences == ["envseq"]
    monkeypatch.delenv("SPELKE_DATA")
    with pytest.raises(DataLayoutError, match="SPELKE_DATA"):
        create_dataset("davis_tree")


def test_register_custom_dataset(tmp_path):
    @register_dataset("test_only_constant", summary="constant images", kind="image")
    class Constant(ImageDataset):
        def __init__(self, root, split=None, n=2):
            super().__init__(root, split)
            self.names = [f"c{i}" for i in range(int(n))]

        def image(self, i):
            return np.full((3, 2, 2), 0.5, np.float32)

    try:
        ds = create_dataset("test_only_constant", root=tmp_path, n=3)
        assert len(ds) == 3 and ds["c2"].index == 2 and isinstance(ds[0], Frame)
        assert Constant.dataset_name == "test_only_constant"
    finally:  # keep the global registry clean for other tests
        DATASETS._entries.pop("test_only_constant")
        DATASETS._alias.pop("test_only_constant")


# ---------------------------------------------------------------------------------------------- image_folder


def _image_tree(root: Path) -> None:
    for k, name in enumerate(["b10", "b2", "a"]):
        write_image(root / "images" / f"{name}.png", _img(k))
    write_label_map(root / "masks" / "b2.png", _lab(1))
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "val.txt").write_text("a\nb10.png\n")


def test_image_folder(tmp_path):
    _image_tree(tmp_path)
    ds = create_dataset("image_folder", root=tmp_path)
    assert ds.names == ["a", "b2", "b10"] and len(ds) == 3
    f = ds["b2"]
    assert isinstance(f, Frame) and f.index == 1 and f.sequence is None
    np.testing.assert_array_equal(f.labels, _lab(1))
    assert f.image[0, 0, 0] == pytest.approx(1 / 255)
    assert ds[0].labels is None  # no mask for "a"
    assert [fr.name for fr in ds] == ["a", "b2", "b10"]
    val = create_dataset("image_folder", root=tmp_path, split="val")
    assert val.names == ["a", "b10"]
    with pytest.raises(DataLayoutError, match="available splits: val"):
        create_dataset("image_folder", root=tmp_path, split="test")
    with pytest.raises(IndexError):
        ds[3]


def test_image_folder_flat_with_masks_option(tmp_path):
    write_image(tmp_path / "x.jpg", _img(0))
    write_label_map(tmp_path / "gt" / "x.png", _lab(0))
    ds = create_dataset("image_folder", root=tmp_path, masks="gt")
    assert ds.names == ["x"]
    np.testing.assert_array_equal(ds[0].labels, _lab(0))
    with pytest.warns(UserWarning, match="ignored"):
        assert len(create_dataset("image_folder", root=tmp_path, split="train")) == 1


def test_image_folder_wrong_root_prints_tree(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(DataLayoutError) as e:
        create_dataset("image_folder", root=tmp_path)
    msg = str(e.value)
    assert "Expected layout" in msg and "images/" in msg and "masks/" in msg
    assert "readme.txt" in msg and "stuff/" in msg  # what was found
    with pytest.raises(DataLayoutError, match="does not exist"):
        create_dataset("image_folder", root=tmp_path / "missing")


# ---------------------------------------------------------------------------------------------- frame_folder


def test_frame_folder_single_sequence(tmp_path):
    seq = tmp_path / "walk"
    for k in (0, 1, 2, 10):
        write_image(seq / f"frame_{k}.png", _img(k))
    write_label_map(tmp_path / "walk_masks" / "frame_10.png", _lab(3))
    ds = create_dataset("frame_folder", root=seq, masks=tmp_path / "walk_masks")
    assert ds.sequences == ["walk"] and len(ds) == 1
    assert ds.frame_names("walk") == ["frame_0", "frame_1", "frame_2", "frame_10"]
    assert ds.annotated_frames("walk") == ["frame_10"]
    clip = ds.clip("walk")
    assert isinstance(clip, Clip) and clip.images.shape == (4, 3, 8, 10)
    np.testing.assert_allclose(clip.images[:, 0, 0, 0] * 255, [0, 1, 2, 10], atol=1e-4)
    assert clip.annotated.tolist() == [False, False, False, True]
    assert (clip.labels[0] == UNANNOTATED).all()
    np.testing.assert_array_equal(ds.labels("walk", "frame_10"), _lab(3))
    assert ds.labels("walk", 0) is None


def test_frame_folder_several_sequences(tmp_path):
    for seq, n in (("b", 2), ("a", 3)):
        for k in range(n):
            write_image(tmp_path / seq / f"{k:05d}.jpg", _img(k))
    (tmp_path / "empty").mkdir()
    ds = create_dataset("frame_folder", root=tmp_path)
    assert ds.sequences == ["a", "b"]
    assert ds.num_frames("a") == 3 and ds.frame("b", -1).name == "00001"
    assert ds.clip("a", stride=2).frame_names == ["00000", "00002"]
    with pytest.raises(DataLayoutError, match="not in"):
        ds.clip("nope")


def test_frame_folder_wrong_root(tmp_path):
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.txt").write_text("x")
    with pytest.raises(DataLayoutError, match="Expected layout") as e:
        create_dataset("frame_folder", root=tmp_path)
    assert "<seq-a>/" in str(e.value)


# ---------------------------------------------------------------------------------------------- video_file


def _video(path: Path, t: int = 5) -> None:
    frames = np.zeros((t, 3, 16, 16), np.float32)
    frames[:, 0] = (np.arange(t) / (t - 1))[:, None, None]
    write_video(path, frames, fps=10)


def test_video_file(tmp_path):
    _video(tmp_path / "clip.mp4")
    ds = create_dataset("video_file", root=tmp_path / "clip.mp4", stride=2)
    assert ds.sequences == ["clip"]
    assert ds.frame_names("clip") == ["00000", "00002", "00004"]
    clip = ds.clip("clip")
    assert clip.images.shape == (3, 3, 16, 16) and clip.labels is None
    np.testing.assert_allclose(clip.images[:, 0].mean(axis=(1, 2)), [0, 0.5, 1], atol=0.03)
    lazy = create_dataset("video_file", root=tmp_path / "clip.mp4", cache="false", max_frames="2")
    assert lazy.frame_names("clip") == ["00000", "00001"]
    assert abs(lazy.frame("clip", 1).image[0].mean() - 0.25) < 0.03
    lazy_clip = lazy.clip("clip", images=False)
    assert lazy_clip.images is None and lazy_clip.image(0).shape == (3, 16, 16)


def test_video_folder_and_errors(tmp_path):
    _video(tmp_path / "v2.mp4", t=3)
    _video(tmp_path / "v10.mp4", t=3)
    ds = create_dataset("video_file", root=tmp_path)
    assert ds.sequences == ["v2", "v10"]
    with pytest.raises(DataLayoutError, match="Expected layout"):
        create_dataset("video_file", root=tmp_path / "none.mp4")
    with pytest.raises(ConfigError, match="stride"):
        create_dataset("video_file", root=tmp_path, stride=0)


# ---------------------------------------------------------------------------------------------- davis_tree


def test_write_sequence_tree_and_read_back(tmp_path):
    imgs = np.stack([_img(k) for k in range(4)])
    labs = [_lab(0), None, _lab(2), None]  # sparse annotation
    meta = {"moving": [1], "frames": [{"t": k} for k in range(4)]}
    write_sequence_tree(tmp_path, "seq_b", imgs, labs, meta, split="train")
    write_sequence_tree(tmp_path, "seq_a", imgs[:2], np.stack([_lab(0), _lab(1)]), split=["train", "val"])
    # the files are where the contract says
    assert (tmp_path / "JPEGImages" / "seq_b" / "00003.png").is_file()
    assert sorted(p.name for p in (tmp_path / "Annotations" / "seq_b").iterdir()) == [
        "00000.png",
        "00002.png",
    ]
    assert (tmp_path / "ImageSets" / "train.txt").read_text() == "seq_a\nseq_b\n"
    assert (tmp_path / "ImageSets" / "val.txt").read_text() == "seq_a\n"
    with Image.open(tmp_path / "Annotations" / "seq_a" / "00001.png") as im:
        assert im.mode == "P"
    assert not list(tmp_path.rglob(".*"))  # no staging or temporary left-overs

    ds = create_dataset("davis_tree", root=tmp_path, split="train")
    assert ds.sequences == ["seq_a", "seq_b"] and len(ds) == 2
    assert ds.frame_names("seq_b") == ["00000", "00001", "00002", "00003"]
    assert ds.annotated_frames("seq_b") == ["00000", "00002"]
    assert ds.labels("seq_b", 1) is None
    np.testing.assert_array_equal(ds.labels("seq_b", "00002"), _lab(2))
    assert ds.meta("seq_b")["moving"] == [1]
    f = ds.frame("seq_b", 3)
    assert f.meta == {"t": 3} and f.labels is None and f.sequence == "seq_b"
    np.testing.assert_array_equal(f.image, imgs[3])
    clip = ds.clip("seq_b")
    np.testing.assert_array_equal(clip.images, imgs)
    assert clip.annotated.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(clip.labels[2], _lab(2))
    assert (clip.labels[1] == UNANNOTATED).all()
    assert clip.frame(1).labels is None and clip.frame(2).meta == {"t": 2}
    part = ds.clip("seq_b", start=1, stride=2, labels=False)
    assert part.frame_names == ["00001", "00003"] and part.labels is None
    assert part.meta["frames"] == [{"t": 1}, {"t": 3}]
    assert [c.sequence for c in ds] == ["seq_a", "seq_b"]
    assert create_dataset("davis_tree", root=tmp_path, split="val").sequences == ["seq_a"]
    assert create_dataset("davis_tree", root=tmp_path).sequences == ["seq_a", "seq_b"]
    binary = create_dataset("davis_tree", root=tmp_path, binary=True)
    assert set(np.unique(binary.labels("seq_a", 0))) == {0, 1}


def test_write_sequence_tree_replaces_and_is_atomic(tmp_path):
    write_sequence_tree(tmp_path, "s", [_img(0), _img(1)], [_lab(0), _lab(1)], {"v": 1})
    write_sequence_tree(tmp_path, "s", [_img(5)])  # replaced as a whole: no stale labels or meta
    ds = create_dataset("davis_tree", root=tmp_path)
    assert ds.frame_names("s") == ["00000"] and ds.annotated_frames("s") == [] and ds.meta("s") == {}
    assert ds.frame("s", 0).image[0, 0, 0] == pytest.approx(5 / 255)

    # a frame that cannot be written aborts the sequence and leaves the old one intact
    bad = [_img(7), np.full((3, 8, 10), np.nan, np.float32)]
    with pytest.raises(ShapeError):
        write_sequence_tree(tmp_path, "s", bad)
    assert sorted(p.name for p in (tmp_path / "JPEGImages").iterdir()) == ["s"]
    assert read_image(tmp_path / "JPEGImages" / "s" / "00000.png")[0, 0, 0] == pytest.approx(5 / 255)
    with pytest.raises(ShapeError, match="label maps"):
        write_sequence_tree(tmp_path, "t", [_img(0)], [_lab(0), _lab(0)])
    with pytest.raises(ConfigError):
        write_sequence_tree(tmp_path, "../evil", [_img(0)])


def _official_davis(root: Path) -> None:
    """An official-DAVIS-like tree: resolution level, JPEG frames, palette annotations made with PIL."""
    for seq in ("bear", "car"):
        for k in range(3):
            write_image(root / "JPEGImages" / "480p" / seq / f"{k:05d}.jpg", _img(10 * k), quality=100)
            im = Image.fromarray(_lab(k).astype(np.uint8))
            im.putpalette(davis_palette().tobytes())
            (root / "Annotations" / "480p" / seq).mkdir(parents=True, exist_ok=True)
            im.save(root / "Annotations" / "480p" / seq / f"{k:05d}.png")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2016").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("bear\ncar\n")
    (root / "ImageSets" / "2016" / "val.txt").write_text("car\n")
    (root / "ImageSets" / "2017" / "train.txt").write_text("bear\n")


def test_davis_official_layout(tmp_path):
    _official_davis(tmp_path)
    ds = create_dataset("davis_tree", root=tmp_path, split="train")  # only 2017 has train
    assert ds.resolution == "480p" and ds.sequences == ["bear"]
    np.testing.assert_array_equal(ds.labels("bear", 2), _lab(2))
    assert ds.clip("bear").images.shape == (3, 3, 8, 10)
    with pytest.raises(ConfigError, match="year"):
        create_dataset("davis_tree", root=tmp_path, split="val")
    assert create_dataset("davis_tree", root=tmp_path, split="val", year=2016).sequences == ["car"]
    assert create_dataset("davis_tree", root=tmp_path, split="val", year="2017").sequences == ["bear", "car"]
    with pytest.raises(DataLayoutError, match="1080p"):
        create_dataset("davis_tree", root=tmp_path, resolution="1080p")
    with pytest.raises(DataLayoutError, match="2017/val"):
        create_dataset("davis_tree", root=tmp_path, split="test")


def test_davis_2016_path_style_split_and_binary(tmp_path):
    _official_davis(tmp_path)
    (tmp_path / "ImageSets" / "480p").mkdir()
    (tmp_path / "ImageSets" / "480p" / "trainval.txt").write_text(
        "/JPEGImages/480p/car/00000.jpg /Annotations/480p/car/00000.png\n"
        "/JPEGImages/480p/car/00001.jpg /Annotations/480p/car/00001.png\n"
        "/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\n"
    )
    ds = create_dataset("davis_tree", root=tmp_path, split="trainval", binary=True)
    assert ds.sequences == ["car", "bear"]
    np.testing.assert_array_equal(ds.labels("car", 0), (_lab(0) > 0).astype(np.int64))
    assert read_label_map(tmp_path / "Annotations" / "480p" / "car" / "00000.png").max() == 2


def test_davis_void_label_and_annotation_folder(tmp_path):
    lab = _lab(0)
    lab[0, 0] = 255
    write_sequence_tree(tmp_path, "s", [_img(0)], [lab])
    (tmp_path / "Annotations").rename(tmp_path / "Annotations_unsupervised")
    assert create_dataset("davis_tree", root=tmp_path).labels("s", 0) is None
    ds = create_dataset("davis_tree", root=tmp_path, annotations="Annotations_unsupervised", void_label=255)
    np.testing.assert_array_equal(ds.labels("s", 0), _lab(0))
    raw = create_dataset("davis_tree", root=tmp_path, annotations="Annotations_unsupervised")
    assert raw.labels("s", 0)[0, 0] == 255
    with pytest.raises(DataLayoutError, match="Annotations_x"):
        create_dataset("davis_tree", root=tmp_path, annotations="Annotations_x")


def test_davis_wrong_root_prints_tree(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(DataLayoutError) as e:
        create_dataset("davis_tree", root=tmp_path)
    msg = str(e.value)
    assert "no JPEGImages/ folder" in msg
    assert "JPEGImages/[480p/]<seq>/00000.png" in msg and "ImageSets/" in msg
    assert "frames/" in msg and str(tmp_path) in msg
    write_sequence_tree(tmp_path, "s", [_img(0)], split="val")
    (tmp_path / "ImageSets" / "val.txt").write_text("s\nghost\n")
    with pytest.raises(DataLayoutError, match="ghost"):
        create_dataset("davis_tree", root=tmp_path, split="val")
