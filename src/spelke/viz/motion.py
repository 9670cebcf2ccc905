"""Pictures of motion: flow arrows over a frame, and a GIF of frames beside their colour-coded flow.

Arrows are drawn with OpenCV (anti-aliased) at a grid of pixels, each from ``p`` to ``p + scale *
flow(p)``, coloured by the Middlebury wheel of :func:`spelke.viz.flow.flow_to_color` (or one fixed
colour), with a thin dark outline so that they stay readable on any texture.

Examples:
    >>> import numpy as np
    >>> image = np.full((3, 32, 48), 0.5, np.float32)
    >>> flow = np.zeros((2, 32, 48), np.float32); flow[0] = 3.0
    >>> flow_arrows(image, flow, step=8).shape
    (32, 48, 3)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from spelke.data.io import write_image
from spelke.errors import ShapeError
from spelke.viz._image import to_uint8
from spelke.viz.flow import flow_to_color
from spelke.viz.grid import side_by_side
from spelke.viz.video import write_gif

__all__ = ["flow_arrows", "flow_panels", "write_flow_arrows", "write_flow_gif"]


def _flow(flow: object, size: tuple[int, int] | None = None, name: str = "flow") -> np.ndarray:
    f = np.asarray(flow, dtype=np.float32)
    if f.ndim != 3 or f.shape[0] != 2:
        raise ShapeError(f"{name} must have shape (2, H, W), got {f.shape}")
    if size is not None and f.shape[1:] != size:
        raise ShapeError(f"{name} {f.shape} and the image (H, W) = {size} must have the same size")
    return f


def flow_arrows(
    image: object,
    flow: object,
    *,
    step: int = 16,
    scale: float | None = None,
    color: tuple[int, int, int] | None = None,
    thickness: int = 1,
    min_length: float = 0.5,
    max_flow: float | None = None,
) -> np.ndarray:
    """Draw flow arrows over an image.

    Args:
        image: the frame the flow starts from, any layout :func:`spelke.viz.to_uint8` reads.
        flow: float (2, H, W) in pixels, channel 0 = x.
        step: spacing of the arrows in pixels; the first sits at ``(step // 2, step // 2)``.
        scale: arrow length per pixel of flow; None scales so that the longest arrow is 0.9 ``step``
            (small motions become visible; pass 1.0 for true lengths).
        color: RGB of every arrow; None colours each by its direction (Middlebury wheel).
        thickness: line thickness in pixels.
        min_length: arrows shorter than this (after ``scale``) are drawn as a dot.
        max_flow: magnitude of full colour saturation (None: the largest in ``flow``).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    canvas = to_uint8(image).copy()
    h, w = canvas.shape[:2]
    f = _flow(flow, (h, w))
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    colours = flow_to_color(f, max_flow=max_flow) if color is None else None
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    if scale is None:
        mag = np.hypot(f[0, ys, xs], f[1, ys, xs])
        peak = float(np.nanmax(mag)) if mag.size and np.isfinite(mag).any() else 0.0
        scale = 0.9 * step / peak if peak > 0 else 1.0
    for y, x in zip(ys.ravel(), xs.ravel(), strict=True):
        dx, dy = float(f[0, y, x]) * scale, float(f[1, y, x]) * scale
        if not (np.isfinite(dx) and np.isfinite(dy)):
            continue
        c = tuple(int(v) for v in (color if color is not None else colours[y, x]))  # type: ignore[index]
        start = (int(x), int(y))
        if np.hypot(dx, dy) < min_length:  # a dot with an outline: no motion, still visible
            cv2.circle(canvas, start, thickness + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(canvas, start, thickness, c, -1, cv2.LINE_AA)
            continue
        end = (round(x + dx), round(y + dy))
        tip = min(0.4, 4.0 / max(np.hypot(dx, dy), 1e-6))
        cv2.arrowedLine(canvas, start, end, (0, 0, 0), thickness + 2, cv2.LINE_AA, tipLength=tip)
        cv2.arrowedLine(canvas, start, end, c, thickness, cv2.LINE_AA, tipLength=tip)
    return canvas


def write_flow_arrows(path: str | os.PathLike[str], image: object, flow: object, **kwargs: object) -> None:
    """Write :func:`flow_arrows` of ``image`` and ``flow`` to an image file (PNG), atomically."""
    write_image(path, flow_arrows(image, flow, **kwargs))  # type: ignore[arg-type]


def flow_panels(
    frames: Sequence[object] | np.ndarray,
    flows: Sequence[object] | np.ndarray,
    *,
    max_flow: float | None = None,
    arrows: bool = True,
    step: int = 16,
    titles: bool = True,
) -> list[np.ndarray]:
    """One picture per flow: the source frame (with arrows) beside the colour-coded flow.

    Args:
        frames: T frames; flow ``i`` starts at frame ``i`` (so T or T+1 frames for T flows: a clip and
            its forward flows).
        flows: float (2, H, W) each.
        max_flow: magnitude of full colour saturation, shared by all panels so that colours compare
            across time; None: the largest magnitude over all flows.
        arrows: draw arrows over the frames.
        step: arrow spacing.
        titles: label the panels ``frame t`` and ``flow t``.
    """
    if len(flows) == 0:
        raise ValueError("need at least one flow")
    if len(frames) < len(flows):
        raise ShapeError(f"{len(flows)} flows need at least as many frames, got {len(frames)}")
    fl = [_flow(f, name=f"flow {i}") for i, f in enumerate(flows)]
    if max_flow is None:
        peak = max(float(np.sqrt((f**2).sum(0)).max()) for f in fl)
        max_flow = peak if peak > 0 else 1.0
    out = []
    for i, f in enumerate(fl):
        img = to_uint8(frames[i])
        if img.shape[:2] != f.shape[1:]:
            raise ShapeError(f"frame {i} is {img.shape[:2]}, flow {i} is {f.shape[1:]}; they must match")
        left = flow_arrows(img, f, step=step, max_flow=max_flow) if arrows else img
        names = [f"frame {i}", f"flow {i}"] if titles else None
        out.append(side_by_side(left, flow_to_color(f, max_flow=max_flow), titles=names))
    return out


def write_flow_gif(
    path: str | os.PathLike[str],
    frames: Sequence[object] | np.ndarray,
    flows: Sequence[object] | np.ndarray,
    *,
    fps: float = 4,
    max_flow: float | None = None,
    arrows: bool = True,
    step: int = 16,
) -> None:
    """Write an animated GIF of :func:`flow_panels` (each frame beside its colour-coded flow), atomically."""
    write_gif(path, flow_panels(frames, flows, max_flow=max_flow, arrows=arrows, step=step), fps=fps)
