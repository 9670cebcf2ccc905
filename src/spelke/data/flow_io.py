"""Optical flow files: Middlebury ``.flo``, KITTI 16-bit PNG, and ``.npy``.

Flow is float32 ``(2, H, W)`` in pixels, channel 0 = x (horizontal, to the right), channel 1 = y (down):
the project convention, whatever the file stores.

* ``.flo`` (Middlebury): little-endian; the float32 magic ``202021.25`` (bytes ``PIEH``), the int32
  width and height, then ``H*W`` interleaved ``(u, v)`` float32 pairs in row-major order.
* KITTI ``.png``: a 16-bit 3-channel PNG; in RGB order R = u, G = v, each stored as
  ``u * 64 + 2**15`` (so 1/64 px resolution, range [-512, 512)), B = 1 where the flow is valid.
  OpenCV reads and writes such files in **BGR** order, so R is OpenCV's channel 2: the usual pitfall.

Examples:
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.flo"
    >>> flow = np.zeros((2, 3, 4), np.float32); flow[0] = 1.5
    >>> write_flo(p, flow)
    >>> read_flo(p)[0, 0, 0].item(), read_flo(p).shape
    (1.5, (2, 3, 4))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spelke._checks import check_shape
from spelke.data.io import PathLike, _require_file, atomic_write
from spelke.errors import FileFormatError, ShapeError

#: Magic number at the start of every Middlebury .flo file (the bytes b"PIEH").
FLO_MAGIC = 202021.25
#: Scale and offset of KITTI flow PNGs: stored = flow * 64 + 2**15.
KITTI_SCALE = 64.0
KITTI_OFFSET = 2**15

__all__ = [
    "FLO_MAGIC",
    "read_flo",
    "read_flow",
    "read_kitti_flow",
    "write_flo",
    "write_flow",
    "write_kitti_flow",
]


def _as_flow(flow: Any, name: str = "flow") -> np.ndarray:
    a = np.asarray(flow)
    check_shape(a, ["2", "H", "W"], name)
    if a.dtype.kind != "f":
        raise ShapeError(f"{name} must be float pixels (2, H, W), got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def read_flo(path: PathLike) -> np.ndarray:
    """Read a Middlebury ``.flo`` file as float32 ``(2, H, W)``.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: wrong magic number, implausible size, or truncated data.
    """
    p = _require_file(path, "a Middlebury .flo flow file")
    data = p.read_bytes()
    if len(data) < 12:
        raise FileFormatError(f"{p} is too short ({len(data)} bytes) to be a .flo file (12-byte header)")
    magic = np.frombuffer(data, "<f4", count=1)[0]
    if magic != np.float32(FLO_MAGIC):
        raise FileFormatError(
            f"{p} does not start with the .flo magic number {FLO_MAGIC} (got {magic!r}); "
            "not a Middlebury flow file, or written big-endian"
        )
    w, h = (int(v) for v in np.frombuffer(data, "<i4", count=2, offset=4))
    if w <= 0 or h <= 0 or w * h > 1 << 30:
        raise FileFormatError(f"{p}: implausible .flo size width={w}, height={h}")
    want = 12 + 8 * w * h
    if len(data) < want:
        raise FileFormatError(f"{p} is truncated: {len(data)} bytes, a {w}x{h} .flo file needs {want}")
    uv = np.frombuffer(data, "<f4", count=2 * w * h, offset=12).reshape(h, w, 2)
    return np.ascontiguousarray(uv.transpose(2, 0, 1)).astype(np.float32)


def write_flo(path: PathLike, flow: Any) -> None:
    """Write float ``(2, H, W)`` flow (channel 0 = x) as a Middlebury ``.flo`` file, atomically."""
    a = _as_flow(flow)
    _, h, w = a.shape
    header = np.array([FLO_MAGIC], "<f4").tobytes() + np.array([w, h], "<i4").tobytes()
    body = np.ascontiguousarray(a.transpose(1, 2, 0)).astype("<f4").tobytes()
    with atomic_write(path) as f:
        f.write(header)
        f.write(body)


def read_kitti_flow(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI flow PNG as ``(flow (2, H, W) float32, valid (H, W) bool)``.

    Flow at invalid pixels (B = 0) is set to 0, whatever the file stores there.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: not a 16-bit 3-channel PNG.
    """
    import cv2

    p = _require_file(path, "a KITTI flow PNG (16-bit RGB)")
    bgr = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_UNCHANGED)
    if bgr is None:
        raise FileFormatError(f"cannot decode {p} as a PNG; expected a KITTI 16-bit RGB flow PNG")
    if bgr.dtype != np.uint16 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise FileFormatError(
            f"{p}: a KITTI flow PNG is 16-bit with 3 channels, got {bgr.dtype} with shape {bgr.shape}"
        )
    b, g, r = bgr[:, :, 0], bgr[:, :, 1], bgr[:, :, 2]  # OpenCV order is BGR
    valid = b > 0
    flow = np.stack([r, g]).astype(np.float32)
    flow = (flow - KITTI_OFFSET) / KITTI_SCALE
    flow[:, ~valid] = 0.0
    return flow, valid


def write_kitti_flow(path: PathLike, flow: Any, valid: Any = None) -> None:
    """Write flow as a KITTI 16-bit PNG, atomically.

    Values are rounded to the nearest 1/64 px and clipped to the representable range
    [-512, 511.984] (as the KITTI devkit does). Non-finite flow is written as invalid.

    Args:
        path: target ``.png``.
        flow: float ``(2, H, W)``, channel 0 = x.
        valid: bool ``(H, W)``; default: every pixel with finite flow.
    """
    import cv2

    if Path(path).suffix.lower() != ".png":
        raise FileFormatError(f"KITTI flow is written as PNG, got {path}")
    a = _as_flow(flow)
    finite = np.all(np.isfinite(a), axis=0)
    if valid is None:
        v = finite
    else:
        v = np.asarray(valid).astype(bool)
        check_shape(v, [str(a.shape[1]), str(a.shape[2])], "valid mask")
        v = v & finite
    enc = np.clip(np.round(np.where(finite, a, 0.0) * KITTI_SCALE + KITTI_OFFSET), 0, 65535).astype(np.uint16)
    bgr = np.stack([v.astype(np.uint16), enc[1], enc[0]], axis=2)  # B, G, R for OpenCV
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise FileFormatError(f"OpenCV could not encode KITTI flow for {path}")
    with atomic_write(path) as f:
        f.write(buf.tobytes())


def read_flow(path: PathLike) -> np.ndarray:
    """Read flow as float32 ``(2, H, W)``, choosing the reader by extension.

    ``.flo`` (Middlebury), ``.png`` (KITTI; invalid pixels are 0 — use :func:`read_kitti_flow` for the
    validity mask), ``.npy`` (``(2, H, W)``, or ``(H, W, 2)`` which is transposed).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".flo":
        return read_flo(p)
    if ext == ".png":
        return read_kitti_flow(p)[0]
    if ext == ".npy":
        p = _require_file(p, "a .npy flow array")
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FileFormatError(f"cannot read {p} as a .npy array: {e}") from None
        if a.ndim == 3 and a.shape[0] != 2 and a.shape[2] == 2:
            a = a.transpose(2, 0, 1)
        return np.ascontiguousarray(_as_flow(a, f"flow in {p}"))
    raise FileFormatError(f"unknown flow file extension {ext!r} for {p}; expected .flo, .png (KITTI) or .npy")


def write_flow(path: PathLike, flow: Any) -> None:
    """Write flow, choosing the format by extension (``.flo``, ``.png`` KITTI, ``.npy``), atomically."""
    ext = Path(path).suffix.lower()
    if ext == ".flo":
        write_flo(path, flow)
    elif ext == ".png":
        write_kitti_flow(path, flow)
    elif ext == ".npy":
        a = _as_flow(flow)
        with atomic_write(path) as f:
            np.save(f, a)
    else:
        raise FileFormatError(f"unknown flow file extension {ext!r} for {path}; use .flo, .png or .npy")
