"""A stable colour palette for label maps.

Id 0 is black (the background, left untinted by :func:`spelke.viz.overlay`). Ids 1..31 are the
DAVIS / PASCAL VOC palette, built by spreading the bits of the id over the high bits of the three
channels, so that DAVIS users see the colours they know (1 red, 2 green, 3 olive, 4 navy, ...). Ids from
32 on are chosen greedily: each new colour is the candidate (an RGB lattice point of CIELAB lightness
30 to 92, so neither near-black nor near-white) farthest, in CIELAB, from every colour already in the
palette, so that the colours stay as far apart as the number of ids allows. The construction is
deterministic, and ``palette(n)`` is a prefix of ``palette(m)`` for ``n <= m``, so an id has the same
colour in every figure.
"""

from __future__ import annotations

import numpy as np

from spelke.errors import ShapeError

__all__ = ["MAX_COLORS", "colorize", "palette"]

#: Number of distinct colours :func:`palette` builds; :func:`colorize` cycles larger ids over 1..MAX_COLORS-1.
MAX_COLORS = 1024

# Ids below this take the DAVIS/VOC colour; above it the greedy far-apart colours.
_DAVIS_IDS = 32
_GRID_LEVELS = 32  # candidate colours for the greedy part: a 32^3 RGB lattice
# Lightness band of the greedy colours: darker ones look like the black background, lighter ones wash out
# against white contours and pale images.
_MIN_L, _MAX_L = 30.0, 92.0

_cache = np.zeros((0, 3), dtype=np.uint8)


def _bitshift_palette(n: int) -> np.ndarray:
    """The DAVIS / PASCAL VOC palette: bit 3j+c of the id becomes bit 7-j of channel c."""
    ids = np.arange(n, dtype=np.int64)
    out = np.zeros((n, 3), dtype=np.int64)
    for j in range(8):  # 8 bit positions per channel, each one vectorised over all ids
        for c in range(3):
            out[:, c] |= ((ids >> (3 * j + c)) & 1) << (7 - j)
    return out.astype(np.uint8)


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 sRGB to (N, 3) CIELAB under D65 (IEC 61966-2-1 and CIE 15 formulas)."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def _extend(n: int) -> np.ndarray:
    """Grow the cached palette to at least ``n`` colours and return it."""
    global _cache
    if len(_cache) >= n:
        return _cache
    if n <= _DAVIS_IDS:
        _cache = _bitshift_palette(max(n, len(_cache)))
        return _cache
    chosen = _bitshift_palette(_DAVIS_IDS) if len(_cache) < _DAVIS_IDS else _cache
    levels = np.round(np.linspace(0, 255, _GRID_LEVELS)).astype(np.uint8)
    cand = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    cand_lab = _srgb_to_lab(cand)
    keep = (cand_lab[:, 0] >= _MIN_L) & (cand_lab[:, 0] <= _MAX_L)
    cand, cand_lab = cand[keep], cand_lab[keep]
    chosen_lab = _srgb_to_lab(chosen)
    # Squared distance from every candidate to its nearest chosen colour, updated one pick at a time.
    dmin = np.full(len(cand), np.inf)
    for start in range(0, len(chosen_lab), 256):
        block = chosen_lab[start : start + 256]
        d = ((cand_lab[:, None, :] - block[None, :, :]) ** 2).sum(-1).min(1)
        np.minimum(dmin, d, out=dmin)
    picks = [chosen]
    for _ in range(n - len(chosen)):
        i = int(np.argmax(dmin))  # ties go to the lowest index: deterministic
        picks.append(cand[i : i + 1])
        np.minimum(dmin, ((cand_lab - cand_lab[i]) ** 2).sum(-1), out=dmin)
    _cache = np.concatenate(picks, axis=0)
    return _cache


def palette(n: int = 256) -> np.ndarray:
    """Return the first ``n`` colours of spelke's label palette.

    Args:
        n: number of colours (ids 0..n-1), at most :data:`MAX_COLORS`.

    Returns:
        A new (n, 3) uint8 array; row 0 is black (background), rows 1..31 the DAVIS/VOC colours and the
        rest far-apart colours picked greedily in CIELAB. All rows are distinct.

    Raises:
        ValueError: if ``n`` is negative or larger than :data:`MAX_COLORS`.

    Examples:
        >>> palette(4).tolist()
        [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    """
    n = int(n)
    if n < 0 or n > MAX_COLORS:
        raise ValueError(f"palette size must be in [0, {MAX_COLORS}], got {n}")
    return _extend(n)[:n].copy()


def _label_colors(labels: object, name: str = "labels") -> np.ndarray:
    """Validate an (H, W) label map and return it as int64."""
    a = np.asarray(labels)
    if a.ndim != 2:
        raise ShapeError(f"{name} must be a label map of shape (H, W), got shape {a.shape}")
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ShapeError(
                f"{name} must hold integer ids, got non-integer floats; for soft masks (K, H, W) take the "
                "argmax over K first or use soft_overlay"
            )
    elif a.dtype.kind not in "iu":
        raise ShapeError(f"{name} must be an integer array, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise ShapeError(f"{name} must hold non-negative ids, got minimum {a.min()}")
    return a


def _colors_for(ids: np.ndarray) -> np.ndarray:
    """Palette colours for an array of non-negative ids; ids >= MAX_COLORS cycle over 1..MAX_COLORS-1."""
    ids = np.asarray(ids, dtype=np.int64)
    big = ids >= MAX_COLORS
    if np.any(big):
        ids = np.where(big, 1 + (ids - 1) % (MAX_COLORS - 1), ids)
    top = int(ids.max()) + 1 if ids.size else 1
    return _extend(top)[ids]


def colorize(labels: object) -> np.ndarray:
    """Paint a label map with :func:`palette` colours.

    Args:
        labels: (H, W) non-negative integer ids (bool and integer-valued floats are accepted).

    Returns:
        (H, W, 3) uint8 RGB; id 0 is black. Ids of :data:`MAX_COLORS` and above reuse the colours of
        ids 1..MAX_COLORS-1 cyclically.

    Raises:
        ShapeError: if ``labels`` is not 2-D, not integer-valued, or negative.

    Examples:
        >>> colorize(np.array([[0, 1], [2, 0]]))[0, 1].tolist()
        [128, 0, 0]
    """
    return _colors_for(_label_colors(labels))
