"""Tiling several images into one figure, with optional titles."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from spelke.viz._image import to_uint8

__all__ = ["image_grid", "side_by_side"]

_TITLE_MARGIN = 2  # pixels above and below the text in a title strip


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """Shorten ``text`` with an ellipsis until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    lo, hi = 0, len(text)  # binary search on the number of characters kept
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if draw.textlength(text[:mid] + "…", font=font) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


def image_grid(
    images: Sequence[object],
    ncols: int | None = None,
    pad: int = 2,
    titles: Sequence[str] | None = None,
    fill: int | Sequence[int] = 255,
    text_color: Sequence[int] = (0, 0, 0),
) -> np.ndarray:
    """Arrange images in a grid, row by row.

    Every cell has the size of the largest image; smaller images are centred in their cell. With
    titles, each cell gets a strip above it where its title is written in PIL's default font, centred
    and shortened with an ellipsis if it does not fit.

    Args:
        images: images in any layout :func:`to_uint8` reads ((H, W, 3) uint8, (3, H, W) float, (H, W)
            grey); sizes may differ.
        ncols: number of columns; ``None`` makes the grid about square (``ceil(sqrt(n))``).
        pad: pixels between cells and around the border.
        titles: one title per image (``""`` for none), or ``None`` for no title strips.
        fill: background colour, a grey level or an RGB triple (white by default).
        text_color: RGB colour of the titles.

    Returns:
        (H', W', 3) uint8 RGB.

    Raises:
        ValueError: if ``images`` is empty, ``titles`` has the wrong length, or ``ncols``/``pad`` are
            out of range.
        ShapeError: if an image cannot be read by :func:`to_uint8`.

    Examples:
        >>> image_grid([np.zeros((4, 6, 3), np.uint8)] * 3, ncols=3, pad=1).shape
        (6, 22, 3)
    """
    tiles = [to_uint8(im) for im in images]
    n = len(tiles)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    if pad < 0:
        raise ValueError(f"pad must be non-negative, got {pad}")
    ncols = math.ceil(math.sqrt(n)) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)

    font = ImageFont.load_default()
    strip = 0
    if titles is not None and any(titles):
        top, bottom = font.getbbox("Ag")[1::2]
        strip = int(bottom - top) + 2 * _TITLE_MARGIN
    step_h, step_w = cell_h + strip + pad, cell_w + pad
    out = np.empty((pad + nrows * step_h, pad + ncols * step_w, 3), dtype=np.uint8)
    out[:] = np.broadcast_to(np.asarray(fill, dtype=np.uint8), 3)

    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        y0 = pad + r * step_h + strip + (cell_h - tile.shape[0]) // 2
        x0 = pad + c * step_w + (cell_w - tile.shape[1]) // 2
        out[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]] = tile

    if strip:
        canvas = Image.fromarray(out)
        draw = ImageDraw.Draw(canvas)
        top = font.getbbox("Ag")[1]
        for i, title in enumerate(titles or []):
            if not title:
                continue
            r, c = divmod(i, ncols)
            text = _fit_text(draw, str(title), font, cell_w)
            x = pad + c * step_w + (cell_w - draw.textlength(text, font=font)) / 2
            y = pad + r * step_h + _TITLE_MARGIN - top
            draw.text((x, y), text, fill=tuple(int(v) for v in text_color), font=font)
        out = np.asarray(canvas).copy()
    return out


def side_by_side(*images: object, pad: int = 2, titles: Sequence[str] | None = None) -> np.ndarray:
    """Put images in one row (see :func:`image_grid`).

    Examples:
        >>> side_by_side(np.zeros((4, 4, 3), np.uint8), np.ones((3, 4, 4)), pad=0).shape
        (4, 8, 3)
    """
    return image_grid(list(images), ncols=len(images), pad=pad, titles=titles)
