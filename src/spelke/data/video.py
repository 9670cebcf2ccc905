"""Frames from folders and video files, and writing videos (mp4) atomically.

All frames are float32 ``(3, H, W)`` in [0, 1], clips ``(T, 3, H, W)``. Video files are decoded with
OpenCV (``VideoCapture``) and written with ffmpeg through imageio-ffmpeg (H.264, yuv420p when the size
is even, else yuv444p). Animated GIFs belong to :mod:`spelke.viz`.

Examples:
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_video(d / "v.mp4", np.zeros((4, 3, 16, 16), np.float32), fps=5)
    >>> read_video(d / "v.mp4").shape
    (4, 3, 16, 16)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spelke.data.io import IMAGE_EXTENSIONS, PathLike, _image_to_hwc, _require_file, atomic_path, read_image
from spelke.errors import DataLayoutError, FileFormatError, ShapeError

#: Extensions treated as video files (lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")

__all__ = [
    "VIDEO_EXTENSIONS",
    "iter_video",
    "list_frames",
    "natural_key",
    "read_frames",
    "read_video",
    "video_info",
    "write_video",
]

_DIGITS = re.compile(r"(\d+)")


def natural_key(s: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value: ``frame2 < frame10``.

    Examples:
        >>> sorted(["f10.png", "f2.png", "f1.png"], key=natural_key)
        ['f1.png', 'f2.png', 'f10.png']
    """
    parts = _DIGITS.split(s)
    return tuple((0, int(p), p) if p.isdigit() else (1, p.lower(), p) for p in parts)


def list_frames(folder: PathLike) -> list[Path]:
    """Image files directly inside ``folder``, in natural order (hidden files skipped).

    Raises:
        DataLayoutError: ``folder`` is not a directory.
    """
    d = Path(folder)
    if not d.is_dir():
        raise DataLayoutError(f"{d} is not a directory; expected a folder of frame images")
    files = [
        f
        for f in d.iterdir()
        if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".") and f.is_file()
    ]
    return sorted(files, key=lambda f: natural_key(f.name))


def read_frames(folder: PathLike, *, start: int = 0, stop: int | None = None, stride: int = 1) -> np.ndarray:
    """Read the frames of a folder as float32 ``(T, 3, H, W)``.

    Args:
        folder: a folder of images (see :func:`list_frames` for the order).
        start, stop, stride: which frames, as in ``frames[start:stop:stride]``.

    Raises:
        DataLayoutError: no folder or no images in it.
        ShapeError: frames differ in size (the message names the first odd one).
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    files = list_frames(folder)
    if not files:
        raise DataLayoutError(f"{folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
    files = files[start:stop:stride]
    frames = [read_image(f) for f in files]
    for f, img in zip(files, frames, strict=True):
        if img.shape != frames[0].shape:
            raise ShapeError(
                f"frames in {folder} differ in size: {files[0].name} is {frames[0].shape[1:]}, "
                f"{f.name} is {img.shape[1:]}"
            )
    if not frames:
        return np.zeros((0, 3, 0, 0), np.float32)
    return np.stack(frames)


def _open(path: PathLike) -> Any:
    import cv2

    p = _require_file(path, "a video file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise FileFormatError(
            f"OpenCV cannot open {p} as a video; expected a file OpenCV's ffmpeg build decodes "
            "(mp4/H.264, avi, mov, mkv); convert it with ffmpeg or extract frames to a folder"
        )
    return cap


def iter_video(
    path: PathLike, *, start: int = 0, stride: int = 1, max_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Yield frames ``start, start+stride, ...`` of a video as float32 ``(3, H, W)`` RGB in [0, 1].

    Decodes sequentially (no seeking: seeking is frame-inexact for many codecs). Skipped frames are
    grabbed but not converted.
    """
    import cv2

    if stride < 1 or start < 0:
        raise ValueError(f"need start >= 0 and stride >= 1, got start={start}, stride={stride}")
    cap = _open(path)
    try:
        i = 0
        n = 0
        while max_frames is None or n < max_frames:
            if i < start or (i - start) % stride:
                if not cap.grab():
                    break
            else:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else np.stack([bgr] * 3, 2)
                yield np.ascontiguousarray(rgb.transpose(2, 0, 1)).astype(np.float32) / np.float32(255.0)
                n += 1
            i += 1
    finally:
        cap.release()


def read_video(
    path: PathLike, max_frames: int | None = None, stride: int = 1, *, start: int = 0
) -> np.ndarray:
    """Read a video file as float32 ``(T, 3, H, W)`` RGB in [0, 1].

    Args:
        path: a video file OpenCV can decode.
        max_frames: keep at most this many frames (after striding).
        stride: keep every ``stride``-th frame.
        start: index of the first frame kept.

    Raises:
        DataLayoutError: the file does not exist.
        FileFormatError: OpenCV cannot open it or it has no frames.
    """
    frames = list(iter_video(path, start=start, stride=stride, max_frames=max_frames))
    if not frames:
        if max_frames == 0:
            return np.zeros((0, 3, 0, 0), np.float32)
        raise FileFormatError(f"{path}: no frames could be decoded (from frame {start})")
    return np.stack(frames)


def video_info(path: PathLike, *, exact: bool = False) -> dict[str, Any]:
    """``{"fps", "n_frames", "height", "width"}`` of a video file.

    ``n_frames`` comes from the container header, which can be wrong for some files; ``exact=True``
    counts the frames by decoding them (slow for long videos).
    """
    import cv2

    cap = _open(path)
    try:
        info = {
            "fps": float(cap.get(cv2.CAP_PROP_FPS)),
            "n_frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        }
        if exact:
            n = 0
            while cap.grab():
                n += 1
            info["n_frames"] = n
    finally:
        cap.release()
    return info


def write_video(
    path: PathLike, frames: Any, fps: float = 10.0, *, crf: int = 18, codec: str = "libx264"
) -> None:
    """Write frames to an H.264 video file (``.mp4``, ``.mov``, ``.mkv``, ``.avi``), atomically.

    Args:
        path: the target file; its extension picks the container.
        frames: float ``(T, 3, H, W)`` in [0, 1], uint8 ``(T, H, W, 3)``, or an iterable of single
            frames in either layout (all the same size).
        fps: frames per second.
        crf: x264 constant rate factor (0 = lossless, 18 ≈ visually lossless, 23 = ffmpeg's default).
        codec: ffmpeg video codec.

    Even sizes are written as yuv420p (plays everywhere); odd sizes as yuv444p, which avoids resizing
    but some players (browsers) refuse. For GIFs use :mod:`spelke.viz`.
    """
    import imageio_ffmpeg

    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".gif":
        raise FileFormatError(f"{p}: GIFs are written by spelke.viz (write_gif), not spelke.data.write_video")
    if ext not in (".mp4", ".mov", ".mkv", ".avi", ".m4v"):
        raise FileFormatError(f"cannot write video {p}: use .mp4, .mov, .mkv, .avi or .m4v")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        raise ShapeError(f"frames must be (T, 3, H, W) float or (T, H, W, 3) uint8, got shape {frames.shape}")
    seq: Iterator[Any] = iter(frames)
    first = next(seq, None)
    if first is None:
        raise ShapeError(f"no frames to write to {p}")
    first_hwc = _frame_u8(first)
    h, w = first_hwc.shape[:2]
    pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    with atomic_path(p) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (w, h),
            fps=fps,
            codec=codec,
            pix_fmt_out=pix_fmt,
            macro_block_size=1,
            quality=None,
            output_params=["-crf", str(int(crf))],
        )
        writer.send(None)
        try:
            writer.send(np.ascontiguousarray(first_hwc))
            for k, fr in enumerate(seq, start=1):
                hwc = _frame_u8(fr)
                if hwc.shape[:2] != (h, w):
                    raise ShapeError(f"frame {k} is {hwc.shape[:2]}, frame 0 is {(h, w)}; frames must agree")
                writer.send(np.ascontiguousarray(hwc))
        finally:
            writer.close()


def _frame_u8(frame: Any) -> np.ndarray:
    hwc = _image_to_hwc(frame, 8)
    if hwc.dtype != np.uint8:
        raise ShapeError(f"video frames must be float in [0, 1] or uint8, got {hwc.dtype}")
    return hwc
