"""Grids: geometry, centring of smaller tiles, titles."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.viz import image_grid, side_by_side


def _tile(h, w, value):
    return np.full((h, w, 3), value, dtype=np.uint8)


def test_geometry_and_placement():
    tiles = [_tile(4, 6, 10 * (i + 1)) for i in range(5)]
    out = image_grid(tiles, ncols=3, pad=2)
    assert out.shape == (2 + 2 * (4 + 2), 2 + 3 * (6 + 2), 3)
    np.testing.assert_array_equal(out[2:6, 2:8], tiles[0])
    np.testing.assert_array_equal(out[8:12, 10:16], tiles[4])
    assert (out[8:12, 18:24] == 255).all()  # the empty sixth cell is fill
    assert (out[:2] == 255).all() and (out[:, :2] == 255).all()


def test_default_ncols_is_square_ish():
    out = image_grid([_tile(3, 3, 0)] * 5, pad=0)
    assert out.shape == (6, 9, 3)  # ceil(sqrt(5)) = 3 columns, 2 rows


def test_mixed_sizes_and_layouts_are_centred():
    big = _tile(6, 8, 0)
    small = np.zeros((3, 2, 4))  # (3, H, W) float, 2 x 4
    out = image_grid([big, small], ncols=2, pad=0, fill=200)
    assert out.shape == (6, 16, 3)
    np.testing.assert_array_equal(out[2:4, 10:14], 0)  # centred: offset (6-2)//2 and (8-4)//2
    assert (out[:2, 8:] == 200).all() and (out[4:, 8:] == 200).all()


def test_titles_add_a_strip_with_text():
    tiles = [_tile(10, 30, 0), _tile(10, 30, 0)]
    plain = image_grid(tiles, pad=2)
    titled = image_grid(tiles, pad=2, titles=["a", "a very long title that cannot fit"])
    strip = titled.shape[0] - plain.shape[0]
    assert titled.shape[1] == plain.shape[1] and strip > 5
    assert (titled[2 : 2 + strip] < 128).any()  # dark text drawn in the white strip
    np.testing.assert_array_equal(titled[2 + strip : 12 + strip, 2:32], tiles[0])
    assert (titled[2 + strip :, 32:34] == 255).all()  # the long title stays in its own cell


def test_side_by_side():
    out = side_by_side(_tile(4, 4, 1), _tile(4, 5, 2), pad=1)
    assert out.shape == (6, 1 + 2 * 6, 3)


def test_errors():
    with pytest.raises(ValueError):
        image_grid([])
    with pytest.raises(ValueError):
        image_grid([_tile(2, 2, 0)], titles=["a", "b"])
    with pytest.raises(ShapeError):
        image_grid([np.zeros((2, 2, 2, 3))])
