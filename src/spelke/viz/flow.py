"""Optical flow as colour, with the Middlebury colour wheel.

The colour coding is the one of the Middlebury flow benchmark (Baker et al., "A Database and
Evaluation Methodology for Optical Flow", IJCV 2011, Fig. 6 and its colour-coding code): hue gives the
direction, saturation the magnitude. The wheel has 55 hues in six ramps between the primaries and
secondaries, red→yellow (15), yellow→green (6), green→cyan (4), cyan→blue (11), blue→magenta (13),
magenta→red (6), so that perceptually similar stretches get fewer hues. A pixel's angle
``atan2(-v, -u) / pi`` in [-1, 1] is mapped linearly onto wheel positions 0..54 and the two nearest hues
are interpolated. The magnitude, divided by the largest magnitude in the field (or by ``max_flow``),
moves the colour from white (no motion) to the full hue (magnitude 1); magnitudes above 1, possible only
with ``max_flow``, keep the hue and are darkened to 75 %. Pure +x motion is red, +y (downwards in the
image) orange-yellow, -x cyan-blue and -y violet-blue.
"""

from __future__ import annotations

import numpy as np

from spelke.errors import ShapeError

__all__ = ["UNKNOWN_FLOW", "color_wheel", "flow_to_color", "flow_wheel"]

#: Flow components with an absolute value above this mark unknown flow (the Middlebury .flo convention).
UNKNOWN_FLOW = 1e9

# Middlebury ramp lengths, in wheel order: RY, YG, GC, CB, BM, MR.
_RAMPS = (15, 6, 4, 11, 13, 6)


def color_wheel() -> np.ndarray:
    """Return the Middlebury colour wheel: (55, 3) float64 RGB in 0..255, starting at pure red.

    Each ramp moves one channel between 0 and 255 in ``floor(255 * i / n)`` steps, ``i = 0..n-1``,
    while one other channel stays at 255.
    """
    # (channel held at 255, channel that changes, whether it rises) for each ramp.
    spec = ((0, 1, True), (1, 0, False), (1, 2, True), (2, 1, False), (2, 0, True), (0, 2, False))
    parts = []
    for n, (full, moving, rising) in zip(_RAMPS, spec, strict=True):
        ramp = np.floor(255.0 * np.arange(n) / n)
        seg = np.zeros((n, 3))
        seg[:, full] = 255.0
        seg[:, moving] = ramp if rising else 255.0 - ramp
        parts.append(seg)
    return np.concatenate(parts, axis=0)


def flow_to_color(flow: object, max_flow: float | None = None) -> np.ndarray:
    """Colour-code an optical flow field with the Middlebury wheel.

    Args:
        flow: (2, H, W) flow in pixels, channel 0 = x (rightwards), channel 1 = y (downwards).
        max_flow: magnitude that maps to full saturation. ``None`` uses the largest finite, known
            magnitude in ``flow``; pass a fixed value to compare several fields on one scale.
            Larger magnitudes keep their hue and are darkened to 75 %.

    Returns:
        (H, W, 3) uint8 RGB. Zero flow is white; unknown flow (NaN, inf, or a component above
        :data:`UNKNOWN_FLOW` in absolute value) is black.

    Raises:
        ShapeError: if ``flow`` is not (2, H, W).
        ValueError: if ``max_flow`` is not positive.

    Examples:
        >>> flow_to_color(np.array([[[1.0, 0.0]], [[0.0, 0.0]]])).tolist()
        [[[255, 0, 0], [255, 255, 255]]]
    """
    f = np.asarray(flow, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] != 2:
        hint = (
            "; move the last axis first with np.moveaxis(flow, -1, 0)"
            if f.ndim == 3 and f.shape[-1] == 2
            else ""
        )
        raise ShapeError(f"flow must have shape (2, H, W), got {f.shape}{hint}")
    if max_flow is not None and not max_flow > 0:
        raise ValueError(f"max_flow must be positive, got {max_flow}")
    u, v = f[0], f[1]
    known = np.isfinite(u) & np.isfinite(v) & (np.abs(u) <= UNKNOWN_FLOW) & (np.abs(v) <= UNKNOWN_FLOW)
    u = np.where(known, u, 0.0)
    v = np.where(known, v, 0.0)
    rad = np.hypot(u, v)
    if max_flow is None:
        scale = float(rad.max()) if rad.size else 0.0
        scale = scale if scale > 0 else 1.0
    else:
        scale = float(max_flow)
    rad = rad / scale

    wheel = color_wheel() / 255.0
    ncols = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # in [-1, 1]; +x gives -1 or +1 depending on the sign of v's zero
    # +x is the same direction at -1 and +1; take -1 (wheel position 0, pure red) so that the colour of
    # rightward motion does not depend on whether v is +0.0 or -0.0.
    angle = np.where(angle >= 1.0, -1.0, angle)
    pos = (angle + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(pos).astype(np.int64)
    k1 = (k0 + 1) % ncols
    frac = (pos - k0)[..., None]
    col = (1.0 - frac) * wheel[k0] + frac * wheel[k1]
    r = rad[..., None]
    col = np.where(r <= 1.0, 1.0 - r * (1.0 - col), col * 0.75)
    out = np.floor(255.0 * col).astype(np.uint8)
    out[~known] = 0
    return out


def flow_wheel(size: int = 128) -> np.ndarray:
    """A legend for :func:`flow_to_color`: the colour of every flow vector within a disc.

    The pixel at offset (dx, dy) from the centre shows the colour of flow (dx, dy), scaled so that the
    rim of the disc has full saturation. Outside the disc the image is white.

    Args:
        size: side of the square image in pixels (at least 2).

    Returns:
        (size, size, 3) uint8 RGB.
    """
    size = int(size)
    if size < 2:
        raise ValueError(f"size must be at least 2, got {size}")
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([x - c, y - c])
    img = flow_to_color(flow, max_flow=c)
    img[np.hypot(x - c, y - c) > c] = 255
    return img
