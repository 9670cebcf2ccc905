"""Round trips and error paths of spelke.data.io."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spelke.data import (
    atomic_path,
    atomic_write,
    davis_palette,
    read_binary_mask,
    read_image,
    read_json,
    read_label_map,
    read_soft_mask,
    write_image,
    write_json,
    write_label_map,
    write_soft_mask,
)
from spelke.errors import DataLayoutError, FileFormatError, ShapeError

# ---------------------------------------------------------------------------------------------- atomic


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_atomic_write_leaves_nothing_when_writer_raises(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="boom"), atomic_write(target) as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert _leftovers(tmp_path) == []


def test_atomic_write_keeps_old_content_when_writer_raises(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as f:
        f.write("new but incomplete")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == ["out.txt"]


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    for text in ("first", "second"):
        with atomic_write(target, "w") as f:
            f.write(text)
    assert target.read_text() == "second"
    assert _leftovers(target.parent) == ["out.txt"]


def test_atomic_write_permissions_follow_umask(tmp_path):
    target = tmp_path / "x.bin"
    with atomic_write(target) as f:
        f.write(b"1")
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"1")
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)


def test_atomic_path_keeps_suffix_and_cleans_up(tmp_path):
    target = tmp_path / "v.mp4"
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path
        tmp.write_bytes(b"half")
        raise ValueError("encoder died")
    assert _leftovers(tmp_path) == []


def test_writer_failing_midway_leaves_no_file(tmp_path):
    # A real writer that raises after validation started: a float image with NaN.
    bad = np.full((3, 4, 4), np.nan, np.float32)
    with pytest.raises(ShapeError):
        write_image(tmp_path / "x.png", bad)
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------- images


def test_image_roundtrip_png_8bit(tmp_path, rng):
    img = rng.integers(0, 256, (3, 5, 7)).astype(np.float32) / 255
    write_image(tmp_path / "a.png", img)
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.float32 and out.shape == (3, 5, 7)
    np.testing.assert_array_equal(out, img)


def test_image_roundtrip_png_16bit(tmp_path, rng):
    img = rng.integers(0, 65536, (3, 4, 6)).astype(np.float32) / 65535
    write_image(tmp_path / "a.png", img, bits=16)
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), img, atol=1e-6)


def test_image_uint8_hwc_input_is_rgb(tmp_path):
    hwc = np.zeros((2, 3, 3), np.uint8)
    hwc[..., 0] = 255  # pure red
    write_image(tmp_path / "r.png", hwc)
    out = read_image(tmp_path / "r.png")
    assert out[0].min() == 1.0 and out[1].max() == 0.0 and out[2].max() == 0.0
    # and PIL (an independent reader) agrees that red is red
    assert np.asarray(Image.open(tmp_path / "r.png"))[0, 0].tolist() == [255, 0, 0]


def test_image_jpeg_is_close(tmp_path):
    img = np.zeros((3, 16, 16), np.float32)
    img[1] = 0.5
    write_image(tmp_path / "a.jpg", img, quality=100)
    np.testing.assert_allclose(read_image(tmp_path / "a.jpg"), img, atol=0.02)


def test_read_greyscale_rgba_palette_and_16bit_grey_made_by_pil(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (3, 3, 4)
    np.testing.assert_allclose(out[2], grey / 255)

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 2] = 200
    rgba[..., 3] = 7  # alpha must be dropped, not composited
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_allclose(read_image(tmp_path / "a.png")[2], 200 / 255)

    g16 = (np.arange(6, dtype=np.uint16) * 10000).reshape(2, 3)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    np.testing.assert_allclose(read_image(tmp_path / "g16.png")[0], g16 / 65535, atol=1e-7)

    pal = Image.fromarray(np.array([[0, 1]], np.uint8))
    pal.putpalette(davis_palette().tobytes())
    pal.save(tmp_path / "p.png")
    np.testing.assert_allclose(read_image(tmp_path / "p.png")[:, 0, 1], [128 / 255, 0, 0])


def test_write_image_rejects_out_of_range_and_bad_shapes(tmp_path):
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        write_image(tmp_path / "x.png", np.full((3, 2, 2), 2.0))
    with pytest.raises(ShapeError):
        write_image(tmp_path / "x.png", np.zeros((2, 2, 3), np.float32))  # float must be CHW
    with pytest.raises(ShapeError):
        write_image(tmp_path / "x.png", np.zeros((3, 2, 2), np.int32))
    with pytest.raises(FileFormatError):
        write_image(tmp_path / "x.xyz", np.zeros((3, 2, 2)))


def test_read_image_missing_and_corrupt(tmp_path):
    with pytest.raises(DataLayoutError, match="does not exist"):
        read_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(FileFormatError, match=r"bad\.png"):
        read_image(bad)


# ---------------------------------------------------------------------------------------------- labels


def test_davis_palette_matches_bit_definition():
    pal = davis_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    # Independent spot checks of the PASCAL/DAVIS colour map.
    assert pal[:8].tolist() == [
        [0, 0, 0],
        [128, 0, 0],
        [0, 128, 0],
        [128, 128, 0],
        [0, 0, 128],
        [128, 0, 128],
        [0, 128, 128],
        [128, 128, 128],
    ]
    assert pal[8].tolist() == [64, 0, 0]
    assert pal[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in pal.tolist()}) == 256


def test_label_roundtrip_palette(tmp_path, rng):
    lab = rng.integers(0, 40, (9, 11))
    write_label_map(tmp_path / "l.png", lab)
    with Image.open(tmp_path / "l.png") as im:
        assert im.mode == "P"
        assert list(im.getpalette()[:6]) == [0, 0, 0, 128, 0, 0]
    out = read_label_map(tmp_path / "l.png")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, lab)


def test_label_roundtrip_16bit(tmp_path, rng):
    lab = rng.integers(0, 5000, (6, 5))
    lab[0, 0] = 65535
    write_label_map(tmp_path / "l.png", lab)
    with Image.open(tmp_path / "l.png") as im:
        assert im.mode.startswith("I")
    np.testing.assert_array_equal(read_label_map(tmp_path / "l.png"), lab)


def test_label_roundtrip_greyscale_when_palette_false(tmp_path):
    lab = np.array([[0, 3], [255, 7]])
    write_label_map(tmp_path / "l.png", lab, palette=False)
    with Image.open(tmp_path / "l.png") as im:
        assert im.mode == "L"
    np.testing.assert_array_equal(read_label_map(tmp_path / "l.png"), lab)


def test_label_write_errors(tmp_path):
    with pytest.raises(ShapeError):
        write_label_map(tmp_path / "l.png", np.array([[300]]), palette=True)
    with pytest.raises(ShapeError):
        write_label_map(tmp_path / "l.png", np.array([[70000]]))
    with pytest.raises(ShapeError):
        write_label_map(tmp_path / "l.png", np.array([[-1]]))
    with pytest.raises(FileFormatError, match="PNG"):
        write_label_map(tmp_path / "l.jpg", np.zeros((2, 2), int))
    assert list(tmp_path.iterdir()) == []


def test_palette_png_made_by_pil_reads_as_indices(tmp_path):
    # A DAVIS-like annotation: indices 0..3 with a palette whose colours are not the indices.
    idx = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    im = Image.fromarray(idx)
    im.putpalette([0, 0, 0, 10, 200, 30, 250, 5, 5, 1, 2, 3] + [0] * (3 * 252))
    assert im.mode == "P"
    im.save(tmp_path / "davis.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "davis.png"), idx)


def test_rgb_masks(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 1] = (128, 0, 0)  # palette index 1
    rgb[1, 2] = (0, 128, 0)  # palette index 2
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(FileFormatError, match="rgb='ids'"):
        read_label_map(tmp_path / "c.png")
    ids = read_label_map(tmp_path / "c.png", rgb="ids")
    # packed (0,128,0) = 0x008000 < (128,0,0) = 0x800000, so green is 1 and red is 2; black stays 0
    np.testing.assert_array_equal(ids, [[0, 2, 0], [0, 0, 1]])
    np.testing.assert_array_equal(read_label_map(tmp_path / "c.png", rgb="palette"), [[0, 1, 0], [0, 0, 2]])
    assert read_label_map(tmp_path / "c.png", rgb="packed")[0, 1] == 128 << 16
    # An RGB file whose channels agree is just greyscale.
    grey = np.repeat(np.array([[0, 5], [9, 0]], np.uint8)[..., None], 3, 2)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "g.png"), [[0, 5], [9, 0]])


def test_rgb_ids_without_black_start_at_one(tmp_path):
    rgb = np.full((1, 2, 3), 255, np.uint8)
    rgb[0, 1] = (10, 20, 30)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    np.testing.assert_array_equal(read_label_map(tmp_path / "c.png", rgb="ids"), [[2, 1]])


def test_binary_mask(tmp_path):
    Image.fromarray(np.array([[0, 255], [1, 0]], np.uint8)).save(tmp_path / "m.png")
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "m.png"), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(read_binary_mask(tmp_path / "m.png", threshold=0.5), [[0, 1], [0, 0]])
    assert read_binary_mask(tmp_path / "m.png").dtype == np.int64
    write_label_map(tmp_path / "p.png", np.array([[0, 1], [3, 0]]))  # palette: index 1 is dark red
    for thr in (None, 0.9):
        np.testing.assert_array_equal(read_binary_mask(tmp_path / "p.png", threshold=thr), [[0, 1], [1, 0]])


def test_read_label_map_errors(tmp_path):
    with pytest.raises(DataLayoutError):
        read_label_map(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("not a png")
    with pytest.raises(FileFormatError, match="label map"):
        read_label_map(tmp_path / "t.png")


# ---------------------------------------------------------------------------------------------- soft masks


def test_soft_mask_roundtrip(tmp_path, rng):
    logits = rng.normal(size=(4, 6, 5))
    probs = np.exp(logits) / np.exp(logits).sum(0, keepdims=True)
    write_soft_mask(tmp_path / "s.npz", probs)
    with np.load(tmp_path / "s.npz") as z:
        assert z.files == ["probs"] and z["probs"].dtype == np.float16
    out = read_soft_mask(tmp_path / "s.npz")
    assert out.dtype == np.float32 and out.shape == (4, 6, 5)
    np.testing.assert_allclose(out, probs, atol=5e-4)


def test_soft_mask_validation(tmp_path):
    with pytest.raises(ShapeError, match="sum to 1"):
        write_soft_mask(tmp_path / "s.npz", np.full((2, 3, 3), 0.2))
    write_soft_mask(tmp_path / "s.npz", np.full((2, 3, 3), 0.2), normalised=False)
    with pytest.raises(ShapeError, match="sum to 1"):
        read_soft_mask(tmp_path / "s.npz")
    assert read_soft_mask(tmp_path / "s.npz", normalised=False).shape == (2, 3, 3)
    with pytest.raises(ShapeError, match="NaN"):
        write_soft_mask(tmp_path / "n.npz", np.full((1, 2, 2), np.nan))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        write_soft_mask(tmp_path / "n.npz", np.full((1, 2, 2), 1.5), normalised=False)
    with pytest.raises(ShapeError):
        write_soft_mask(tmp_path / "n.npz", np.full((2, 2), 1.0))
    np.savez(tmp_path / "other.npz", masks=np.ones((1, 2, 2), np.float16))
    with pytest.raises(FileFormatError, match="probs"):
        read_soft_mask(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(FileFormatError):
        read_soft_mask(tmp_path / "junk.npz")


# ---------------------------------------------------------------------------------------------- json


def test_json_roundtrip_with_numpy(tmp_path):
    obj = {"a": np.int64(3), "b": np.float32(0.5), "c": np.arange(3), "d": [np.bool_(True)], "p": tmp_path}
    write_json(tmp_path / "x.json", obj)
    back = read_json(tmp_path / "x.json")
    assert back == {"a": 3, "b": 0.5, "c": [0, 1, 2], "d": [True], "p": str(tmp_path)}
    assert json.loads((tmp_path / "x.json").read_text()) == back


def test_json_errors(tmp_path):
    with pytest.raises(DataLayoutError):
        read_json(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(FileFormatError, match="line 1"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(TypeError):
        write_json(tmp_path / "obj.json", {"x": object()})
    assert not (tmp_path / "obj.json").exists()
