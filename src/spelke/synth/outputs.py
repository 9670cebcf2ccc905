"""How rendered passes are stored on disk (and read back): the encodings of docs/synth.md.

- image: 8-bit sRGB PNG as Blender's colour management writes it;
- instance map (``_flat.png``): 8-bit palette PNG of object ids, 0 = background (spelke.data.io);
- depth: 16-bit greyscale PNG, depth along the camera axis in units of 1/1000 scene units (so
  ``value / 1000`` is the depth; 0 = nothing hit; depths beyond 65.535 saturate);
- normal: 8-bit RGB PNG of world-space unit normals, ``(n + 1) / 2``;
- albedo: 8-bit sRGB PNG of the diffuse colour pass;
- shadow: 8-bit greyscale PNG of the fraction of direct light that reaches each point (255 = fully lit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spelke.data.io import atomic_path, write_image
from spelke.errors import FileFormatError

#: Depth PNG units per scene unit.
DEPTH_SCALE = 1000.0


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) on linear values in [0, 1]."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _write_gray16(path: Path, arr: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr.astype(np.uint16)))
    if not ok:  # pragma: no cover - OpenCV always encodes uint16 PNG
        raise FileFormatError(f"could not encode a 16-bit PNG for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def write_depth(path: Path, depth: np.ndarray) -> None:
    """Depth (H, W) in scene units (inf = nothing hit) -> 16-bit PNG (see module docstring)."""
    d = np.asarray(depth, dtype=np.float64)
    enc = np.where(np.isfinite(d), np.clip(np.rint(d * DEPTH_SCALE), 1, 65535), 0)
    _write_gray16(Path(path), enc)


def read_depth(path: Path) -> np.ndarray:
    """Read a depth PNG written by :func:`write_depth`: (H, W) float32 scene units, inf where unknown."""
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise FileFormatError(f"{path} is not a 16-bit greyscale depth PNG written by spelke")
    d = raw.astype(np.float32) / DEPTH_SCALE
    d[raw == 0] = np.inf
    return d


def write_normal(path: Path, normal: np.ndarray) -> None:
    """World-space normals (H, W, 3) -> 8-bit RGB PNG of ``(n + 1) / 2``."""
    n = np.clip((np.asarray(normal, dtype=np.float64) + 1) / 2, 0, 1)
    write_image(path, np.rint(n * 255).astype(np.uint8))


def write_albedo(path: Path, albedo: np.ndarray) -> None:
    """Linear diffuse colour (H, W, 3) -> 8-bit sRGB PNG."""
    write_image(path, np.rint(linear_to_srgb(albedo) * 255).astype(np.uint8))


def write_shadow(path: Path, shadow: np.ndarray) -> None:
    """Lit fraction (H, W) in [0, 1] -> 8-bit greyscale PNG."""
    import cv2

    enc = np.rint(np.clip(np.asarray(shadow, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", enc)
    if not ok:  # pragma: no cover
        raise FileFormatError(f"could not encode {path}")
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(buf.tobytes())
