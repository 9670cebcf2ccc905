"""Moving textured 2-D shapes over a textured background, with exact masks and exact optical flow.

No Blender: a few layered shapes (discs, boxes, triangles), each with its own procedural texture, move
by constant translations over a textured background. Because every object translates rigidly and is
drawn with painter's ordering, the ground truth is exact: the instance map of every frame, and the
forward flow of every pixel (the velocity of the topmost object covering it, 0 on the static
background). Used by the demo and by every test that needs a small video with known answers.

Examples:
    >>> v = make_moving_shapes(frames=4, size=(32, 48), objects=2, seed=0)
    >>> v.images.shape, v.labels.shape, v.flow.shape
    ((4, 3, 32, 48), (4, 32, 48), (3, 2, 32, 48))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spelke.errors import ConfigError


@dataclass
class MovingShapes:
    """A generated clip: images (T,3,H,W) in [0,1], labels (T,H,W) (0 = background, objects 1..K),
    forward flow (T-1,2,H,W) in pixels (channel 0 = x), and per-object metadata."""

    images: np.ndarray
    labels: np.ndarray
    flow: np.ndarray
    objects: list[dict] = field(default_factory=list)


def _texture(rng: np.random.Generator, h: int, w: int, base: np.ndarray, kind: int) -> np.ndarray:
    """A (3,h,w) texture around a base colour: stripes, checks or smooth noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # stripes at a random angle
        a = rng.uniform(0, np.pi)
        f = rng.uniform(0.15, 0.4)
        pat = 0.5 + 0.5 * np.sin(f * (np.cos(a) * xx + np.sin(a) * yy))
    elif kind == 1:  # checks
        s = int(rng.integers(3, 7))
        pat = ((xx // s + yy // s) % 2).astype(np.float32)
    else:  # smooth noise from a coarse random grid, bilinearly upsampled
        gh, gw = max(2, h // 6), max(2, w // 6)
        g = rng.random((gh, gw)).astype(np.float32)
        yi = np.linspace(0, gh - 1, h)
        xi = np.linspace(0, gw - 1, w)
        y0, x0 = np.floor(yi).astype(int), np.floor(xi).astype(int)
        y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
        wy, wx = (yi - y0)[:, None], (xi - x0)[None]
        pat = (
            g[y0][:, x0] * (1 - wy) * (1 - wx)
            + g[y1][:, x0] * wy * (1 - wx)
            + g[y0][:, x1] * (1 - wy) * wx
            + g[y1][:, x1] * wy * wx
        )
    amp = rng.uniform(0.15, 0.3)
    return np.clip(base[:, None, None] * (1 - amp) + amp * pat[None], 0, 1).astype(np.float32)


def _shape_mask(kind: str, h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    if kind == "disc":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == "box":
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    # triangle pointing up
    top = cy - r
    rel = (yy - top) / (2 * r)
    return (yy >= top) & (yy <= cy + r) & (np.abs(xx - cx) <= rel * r)


def make_moving_shapes(
    frames: int = 16,
    size: tuple[int, int] = (96, 128),
    objects: int | tuple[int, int] = (2, 4),
    max_speed: float = 2.5,
    seed: int = 0,
) -> MovingShapes:
    """Generate one clip of ``objects`` textured shapes translating over a textured background.

    Args:
        frames: number of frames T (>= 2).
        size: (H, W).
        objects: a count, or an inclusive (min, max) range sampled uniformly.
        max_speed: largest per-frame speed in pixels along each axis; every object moves at least
            0.75 px/frame so that motion defines it.
        seed: seed of every random choice.
    """
    if frames < 2:
        raise ConfigError(f"frames must be at least 2 to define motion, got {frames}")
    h, w = size
    if h < 16 or w < 16:
        raise ConfigError(f"size must be at least 16x16, got {h}x{w}")
    rng = np.random.default_rng(seed)
    k = int(objects) if isinstance(objects, int) else int(rng.integers(objects[0], objects[1] + 1))
    bg = _texture(rng, h, w, rng.uniform(0.2, 0.8, 3).astype(np.float32), int(rng.integers(0, 3)))
    objs = []
    for i in range(k):
        r = float(rng.uniform(0.12, 0.2) * min(h, w))
        cy, cx = float(rng.uniform(r, h - r)), float(rng.uniform(r, w - r))
        v = rng.uniform(0.75, max_speed, 2) * rng.choice([-1, 1], 2)
        objs.append(
            {
                "id": i + 1,
                "shape": ["disc", "box", "triangle"][int(rng.integers(0, 3))],
                "radius": r,
                "start": (cy, cx),
                "velocity": (float(v[0]), float(v[1])),  # (vy, vx) pixels per frame
                "texture": _texture(
                    rng, h, w, rng.uniform(0.0, 1.0, 3).astype(np.float32), int(rng.integers(0, 3))
                ),
                "moving": True,
            }
        )
    images = np.empty((frames, 3, h, w), np.float32)
    labels = np.zeros((frames, h, w), np.int64)
    flow = np.zeros((frames - 1, 2, h, w), np.float32)
    for t in range(frames):
        img = bg.copy()
        lab = np.zeros((h, w), np.int64)
        fl = np.zeros((2, h, w), np.float32)
        for o in objs:  # painter's order: later objects on top
            cy = o["start"][0] + o["velocity"][0] * t
            cx = o["start"][1] + o["velocity"][1] * t
            m = _shape_mask(o["shape"], h, w, cy, cx, o["radius"])
            # the texture moves with the object: sample it shifted by the displacement so far
            dy, dx = round(o["velocity"][0] * t), round(o["velocity"][1] * t)
            tex = np.roll(o["texture"], (dy, dx), axis=(1, 2))
            img[:, m] = tex[:, m]
            lab[m] = o["id"]
            fl[0, m] = o["velocity"][1]
            fl[1, m] = o["velocity"][0]
        images[t] = img
        labels[t] = lab
        if t < frames - 1:
            flow[t] = fl
    meta = [{k: v for k, v in o.items() if k != "texture"} for o in objs]
    return MovingShapes(images, labels, flow, meta)
