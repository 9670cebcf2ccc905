"""Frame folders and video files."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.data import (
    iter_video,
    list_frames,
    read_frames,
    read_video,
    video_info,
    write_image,
    write_video,
)
from spelke.errors import DataLayoutError, FileFormatError, ShapeError


def _ramp_video(t: int = 6, h: int = 32, w: int = 48) -> np.ndarray:
    """Smooth frames (lossy codecs keep them close) whose brightness encodes the frame index."""
    frames = np.zeros((t, 3, h, w), np.float32)
    for k in range(t):
        frames[k, 0] = k / (t - 1)
        frames[k, 1] = np.linspace(0, 1, w)[None, :]
        frames[k, 2] = 0.5
    return frames


def test_list_frames_natural_order(tmp_path):
    for name in ("f10.png", "f2.png", "f1.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_frames(tmp_path)] == ["f1.jpg", "f2.png", "f10.png"]
    with pytest.raises(DataLayoutError):
        list_frames(tmp_path / "missing")


def test_read_frames(tmp_path):
    frames = _ramp_video(t=4, h=6, w=5)
    for k, f in enumerate(frames):
        write_image(tmp_path / f"{k}.png", f)
    out = read_frames(tmp_path)
    assert out.shape == (4, 3, 6, 5)
    np.testing.assert_allclose(out, frames, atol=1 / 255)
    assert read_frames(tmp_path, start=1, stride=2).shape == (2, 3, 6, 5)
    write_image(tmp_path / "9.png", np.zeros((3, 2, 2), np.float32))
    with pytest.raises(ShapeError, match=r"9\.png"):
        read_frames(tmp_path)
    with pytest.raises(DataLayoutError):
        read_frames(tmp_path / "empty_missing")


def test_video_roundtrip_mp4(tmp_path):
    frames = _ramp_video()
    write_video(tmp_path / "v.mp4", frames, fps=12)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    out = read_video(tmp_path / "v.mp4")
    assert out.shape == frames.shape and out.dtype == np.float32
    assert np.abs(out - frames).mean() < 0.02  # lossy, but close
    # frame order survives: the red channel encodes the index
    np.testing.assert_allclose(out[:, 0].mean(axis=(1, 2)), frames[:, 0].mean(axis=(1, 2)), atol=0.03)
    info = video_info(tmp_path / "v.mp4")
    assert info == {"fps": 12.0, "n_frames": 6, "height": 32, "width": 48}
    assert video_info(tmp_path / "v.mp4", exact=True)["n_frames"] == 6


def test_video_stride_max_frames_and_iter(tmp_path):
    frames = _ramp_video()
    write_video(tmp_path / "v.mp4", (np.round(f.transpose(1, 2, 0) * 255).astype(np.uint8) for f in frames))
    sub = read_video(tmp_path / "v.mp4", max_frames=2, stride=2)
    assert sub.shape == (2, 3, 32, 48)
    np.testing.assert_allclose(sub[:, 0].mean(axis=(1, 2)), frames[[0, 2], 0].mean(axis=(1, 2)), atol=0.03)
    got = list(iter_video(tmp_path / "v.mp4", start=5))
    assert len(got) == 1 and abs(got[0][0].mean() - 1.0) < 0.03


def test_video_odd_size(tmp_path):
    frames = _ramp_video(t=3, h=17, w=23)
    write_video(tmp_path / "odd.mp4", frames, fps=5)
    assert read_video(tmp_path / "odd.mp4").shape == (3, 3, 17, 23)


def test_video_errors(tmp_path):
    with pytest.raises(DataLayoutError):
        read_video(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(FileFormatError):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(FileFormatError, match="viz"):
        write_video(tmp_path / "a.gif", _ramp_video(t=2))
    with pytest.raises(ShapeError):
        write_video(tmp_path / "a.mp4", np.zeros((2, 3, 4), np.float32))


def test_video_writer_failing_midway_leaves_no_file(tmp_path):
    def frames():
        yield np.zeros((3, 16, 16), np.float32)
        yield np.zeros((3, 8, 8), np.float32)  # wrong size: the writer must give up

    with pytest.raises(ShapeError):
        write_video(tmp_path / "v.mp4", frames())
    assert list(tmp_path.iterdir()) == []
