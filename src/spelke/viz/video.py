"""Animated GIF and MP4 writers for frame sequences (overlays, flow, predictions over time)."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from spelke.data.io import atomic_path
from spelke.errors import ShapeError
from spelke.viz._image import to_uint8

__all__ = ["gif_bytes", "to_uint8", "write_gif", "write_mp4"]

# Pixels sampled across all frames to build a GIF's shared palette when it needs more than 256 colours.
_PALETTE_SAMPLE = 1 << 20


def _frames_uint8(frames: Sequence[object]) -> list[np.ndarray]:
    """Convert frames to (H, W, 3) uint8 and check that there is at least one and all share a size."""
    out = [to_uint8(f) for f in frames]
    if not out:
        raise ValueError("need at least one frame")
    sizes = {f.shape for f in out}
    if len(sizes) > 1:
        raise ShapeError(f"all frames must have the same size, got shapes {sorted(sizes)}")
    return out


def _check_fps(fps: float) -> float:
    fps = float(fps)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return fps


def _shared_palette(frames: list[np.ndarray]) -> Image.Image:
    """One palette image for all frames: exact if they hold at most 256 colours, else median cut."""
    h, w, _ = frames[0].shape
    stride = max(1, (len(frames) * h * w) // _PALETTE_SAMPLE)
    sample = np.concatenate([f.reshape(-1, 3)[::stride] for f in frames])
    packed = (sample[:, 0].astype(np.uint32) << 16) | (sample[:, 1].astype(np.uint32) << 8) | sample[:, 2]
    colors = np.unique(packed)
    pal = Image.new("P", (1, 1))
    if len(colors) <= 256 and stride == 1:
        rgb = np.stack([(colors >> 16) & 255, (colors >> 8) & 255, colors & 255], axis=1).astype(np.uint8)
        pal.putpalette(rgb.reshape(-1).tolist())
        return pal
    return Image.fromarray(sample[None]).quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def gif_bytes(frames: Sequence[object], fps: float = 8, loop: int | None = 0) -> bytes:
    """Encode frames as an animated GIF in memory (see :func:`write_gif`)."""
    fps = _check_fps(fps)
    arrays = _frames_uint8(frames)
    pal = _shared_palette(arrays)
    # No dithering: flat label colours stay flat and the file stays small.
    images = [Image.fromarray(a).quantize(palette=pal, dither=Image.Dither.NONE) for a in arrays]
    buf = io.BytesIO()
    options: dict[str, object] = {"duration": max(10, round(1000.0 / fps))}
    if loop is not None:
        options["loop"] = int(loop)
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], **options)
    return buf.getvalue()


def write_gif(
    path: str | os.PathLike[str], frames: Sequence[object], fps: float = 8, loop: int | None = 0
) -> None:
    """Write frames to an animated GIF, atomically.

    All frames share one adaptive palette: the exact colours when there are at most 256 of them,
    otherwise a median-cut palette built from pixels sampled over all frames; no dithering. Pillow
    stores only the changed rectangle of each frame, and merges a frame identical to the previous one
    into it (adding up their durations), so such a GIF reads back with fewer frames but plays the
    same.

    Args:
        path: output file; parent directories are created.
        frames: images of one size, in any layout :func:`to_uint8` reads.
        fps: frames per second; GIF stores delays in hundredths of a second, so the delay is rounded.
        loop: number of repeats, 0 for forever, ``None`` to play once.

    Raises:
        ValueError: for no frames or a non-positive ``fps``.
        ShapeError: if frames differ in size or cannot be read as images.
    """
    data = gif_bytes(frames, fps=fps, loop=loop)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_mp4(
    path: str | os.PathLike[str], frames: Sequence[object], fps: float = 8, quality: float = 8
) -> None:
    """Write frames to an H.264 MP4 (yuv420p, playable in browsers), atomically.

    yuv420p needs even sizes, so an odd height or width is padded by one row or column repeating the
    edge. Uses the ffmpeg binary shipped with ``imageio-ffmpeg``.

    Args:
        path: output file, normally ending in ``.mp4``; parent directories are created.
        frames: images of one size, in any layout :func:`to_uint8` reads.
        fps: frames per second.
        quality: imageio-ffmpeg's quality scale, 0 (smallest) to 10 (best).

    Raises:
        ValueError: for no frames or a non-positive ``fps``.
        ShapeError: if frames differ in size or cannot be read as images.
    """
    import imageio_ffmpeg  # a declared dependency; imported here to keep `import spelke.viz` light

    fps = _check_fps(fps)
    arrays = _frames_uint8(frames)
    h, w, _ = arrays[0].shape
    ph, pw = h % 2, w % 2
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            size=(w + pw, h + ph),
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            quality=quality,
            macro_block_size=1,
            output_params=["-movflags", "+faststart"],
        )
        writer.send(None)  # start ffmpeg
        try:
            for a in arrays:
                if ph or pw:
                    a = np.pad(a, ((0, ph), (0, pw), (0, 0)), mode="edge")
                writer.send(np.ascontiguousarray(a))
        finally:
            writer.close()
