"""Flow file formats: Middlebury .flo, KITTI PNG, .npy."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from spelke.data import read_flo, read_flow, read_kitti_flow, write_flo, write_flow, write_kitti_flow
from spelke.errors import DataLayoutError, FileFormatError, ShapeError


def test_flo_roundtrip_exact(tmp_path, rng):
    flow = rng.normal(scale=20, size=(2, 7, 9)).astype(np.float32)
    write_flo(tmp_path / "f.flo", flow)
    out = read_flo(tmp_path / "f.flo")
    assert out.dtype == np.float32 and out.shape == (2, 7, 9)
    np.testing.assert_array_equal(out, flow)
    assert (tmp_path / "f.flo").stat().st_size == 12 + 8 * 7 * 9


def test_flo_written_by_hand_reads_correctly(tmp_path):
    # 3 wide, 2 high; pixel (row y, col x) has u = 10*y + x, v = -(10*y + x) - 0.5
    w, h = 3, 2
    body = b""
    for y in range(h):
        for x in range(w):
            body += struct.pack("<ff", 10 * y + x, -(10 * y + x) - 0.5)
    (tmp_path / "hand.flo").write_bytes(b"PIEH" + struct.pack("<ii", w, h) + body)
    assert struct.unpack("<f", b"PIEH")[0] == 202021.25
    flow = read_flo(tmp_path / "hand.flo")
    assert flow.shape == (2, 2, 3)
    np.testing.assert_array_equal(flow[0], [[0, 1, 2], [10, 11, 12]])  # channel 0 = x (u)
    np.testing.assert_array_equal(flow[1], [[-0.5, -1.5, -2.5], [-10.5, -11.5, -12.5]])


def test_flo_errors(tmp_path):
    with pytest.raises(DataLayoutError):
        read_flo(tmp_path / "missing.flo")
    (tmp_path / "bad.flo").write_bytes(b"ABCD" + struct.pack("<ii", 1, 1) + b"\0" * 8)
    with pytest.raises(FileFormatError, match="magic"):
        read_flo(tmp_path / "bad.flo")
    (tmp_path / "short.flo").write_bytes(b"PIEH" + struct.pack("<ii", 4, 4) + b"\0" * 8)
    with pytest.raises(FileFormatError, match="truncated"):
        read_flo(tmp_path / "short.flo")
    with pytest.raises(ShapeError):
        write_flo(tmp_path / "x.flo", np.zeros((3, 2, 2), np.float32))


def test_kitti_roundtrip_exact_at_one_64th(tmp_path, rng):
    flow = (rng.integers(-64 * 300, 64 * 300, size=(2, 5, 6)) / 64.0).astype(np.float32)
    valid = rng.random((5, 6)) > 0.3
    write_kitti_flow(tmp_path / "k.png", flow, valid)
    out, v = read_kitti_flow(tmp_path / "k.png")
    assert out.dtype == np.float32 and v.dtype == bool
    np.testing.assert_array_equal(v, valid)
    np.testing.assert_array_equal(out[:, valid], flow[:, valid])
    assert np.all(out[:, ~valid] == 0)


def test_kitti_rounds_to_nearest_64th_and_clips(tmp_path):
    flow = np.array([[[0.01, 1000.0]], [[-0.01, -1000.0]]], np.float32)  # (2, 1, 2)
    write_kitti_flow(tmp_path / "k.png", flow)
    out, valid = read_kitti_flow(tmp_path / "k.png")
    assert valid.all()
    np.testing.assert_allclose(out[:, 0, 0], [1 / 64, -1 / 64])
    np.testing.assert_allclose(out[:, 0, 1], [(65535 - 32768) / 64, -512.0])


def test_kitti_channel_order_independently(tmp_path):
    # Build the file with OpenCV by hand in BGR: R = u, G = v, B = valid.
    u, v = 2.5, -1.25
    bgr = np.zeros((1, 1, 3), np.uint16)
    bgr[0, 0] = (1, int(v * 64 + 32768), int(u * 64 + 32768))
    cv2.imwrite(str(tmp_path / "hand.png"), bgr)
    flow, valid = read_kitti_flow(tmp_path / "hand.png")
    assert flow[:, 0, 0].tolist() == [u, v] and valid[0, 0]
    # and what we write, read back raw, has R (OpenCV channel 2) = u
    write_kitti_flow(tmp_path / "ours.png", np.array([[[u]], [[v]]], np.float32))
    raw = cv2.imread(str(tmp_path / "ours.png"), cv2.IMREAD_UNCHANGED)
    assert raw[0, 0].tolist() == bgr[0, 0].tolist()


def test_kitti_rejects_8bit(tmp_path):
    cv2.imwrite(str(tmp_path / "8.png"), np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(FileFormatError, match="16-bit"):
        read_kitti_flow(tmp_path / "8.png")


def test_kitti_nonfinite_is_invalid(tmp_path):
    flow = np.zeros((2, 1, 2), np.float32)
    flow[0, 0, 1] = np.nan
    write_kitti_flow(tmp_path / "k.png", flow)
    assert read_kitti_flow(tmp_path / "k.png")[1].tolist() == [[True, False]]


def test_read_flow_dispatch(tmp_path, rng):
    flow = (rng.integers(-100, 100, size=(2, 3, 4)) / 4).astype(np.float32)
    for ext in (".flo", ".png", ".npy"):
        write_flow(tmp_path / f"f{ext}", flow)
        np.testing.assert_array_equal(read_flow(tmp_path / f"f{ext}"), flow)
    np.save(tmp_path / "hwc.npy", flow.transpose(1, 2, 0))
    np.testing.assert_array_equal(read_flow(tmp_path / "hwc.npy"), flow)
    with pytest.raises(FileFormatError, match="extension"):
        read_flow(tmp_path / "f.txt")
