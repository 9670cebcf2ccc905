"""GIF and MP4 writers, and to_uint8."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageSequence

from spelke.errors import ShapeError
from spelke.viz import gif_bytes, to_uint8, write_gif, write_mp4


def _frames(rng, n=6, h=21, w=30, colors=None):
    if colors is None:
        return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    pal = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    return [pal[rng.integers(0, colors, (h, w))] for _ in range(n)]


def test_gif_roundtrip_exact_with_few_colours(tmp_path, rng):
    frames = _frames(rng, colors=40)
    path = tmp_path / "sub" / "clip.gif"
    write_gif(path, frames, fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 6 and im.size == (30, 21)
        assert im.info["loop"] == 0 and im.info["duration"] == 100
        back = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_array_equal(a, b)  # <= 256 colours: the palette is exact
    assert [p.name for p in path.parent.iterdir()] == ["clip.gif"]  # no temporary left behind


def test_gif_many_colours_and_float_frames(tmp_path, rng):
    frames = [rng.random((3, 16, 12)) for _ in range(4)]
    path = tmp_path / "noise.gif"
    write_gif(path, frames, fps=8, loop=None)
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.size == (12, 16)
        assert "loop" not in im.info
        first = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(first - to_uint8(frames[0])).mean() < 40  # quantised, but the same picture
    assert gif_bytes(frames).startswith(b"GIF89a")


def test_gif_rejects(tmp_path, rng):
    with pytest.raises(ValueError):
        write_gif(tmp_path / "x.gif", [])
    with pytest.raises(ShapeError):
        write_gif(tmp_path / "x.gif", [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)])
    with pytest.raises(ValueError):
        write_gif(tmp_path / "x.gif", [np.zeros((4, 4, 3), np.uint8)], fps=0)
    assert not list(tmp_path.iterdir())


def test_mp4_readable_with_opencv_and_even_padded(tmp_path, rng):
    frames = [np.full((21, 31, 3), 40 * i, dtype=np.uint8) for i in range(5)]
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, fps=8)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(8.0)
        read = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            read.append(frame)
    finally:
        cap.release()
    assert len(read) == 5
    assert read[0].shape == (22, 32, 3)
    for i, frame in enumerate(read):
        assert abs(float(frame[:21, :31].mean()) - 40 * i) < 4  # flat grey survives the codec
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


class TestToUint8:
    def test_layouts(self, rng):
        chw = rng.random((3, 5, 7))
        hwc = to_uint8(chw)
        assert hwc.shape == (5, 7, 3) and hwc.dtype == np.uint8
        np.testing.assert_array_equal(hwc, np.floor(chw.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
        np.testing.assert_array_equal(to_uint8(chw.transpose(1, 2, 0)), hwc)
        np.testing.assert_array_equal(to_uint8(hwc), hwc)
        grey = to_uint8(np.full((5, 7), 0.5))
        assert grey.shape == (5, 7, 3) and (grey == 128).all()
        assert (to_uint8(np.ones((5, 7), bool)) == 255).all()
        assert to_uint8(np.zeros((5, 7, 4), np.uint8)).shape == (5, 7, 3)
        assert to_uint8(np.zeros((3, 5, 3))).shape == (5, 3, 3)  # ambiguous float: channel-first

    def test_clips_small_overshoot(self):
        assert to_uint8(np.array([[1.02, -0.01]])).tolist() == [[[255] * 3, [0] * 3]]

    @pytest.mark.parametrize(
        "bad",
        [
            np.zeros((2, 3, 4, 4)),  # a batch
            np.full((3, 4, 4), 200.0),  # 0..255 floats
            np.full((4, 4), np.nan),
            np.zeros((5, 4, 5), np.uint8),  # no channel axis of size 1, 3 or 4
            np.full((4, 4), 300, np.int64),
            np.array([["a"]]),
        ],
    )
    def test_errors(self, bad):
        with pytest.raises(ShapeError):
            to_uint8(bad)
