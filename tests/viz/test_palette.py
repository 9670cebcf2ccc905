"""Palette: DAVIS agreement, distinctness, stability; colorize."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.viz import MAX_COLORS, colorize, palette


def _voc_color(i: int) -> tuple[int, int, int]:
    """The PASCAL VOC / DAVIS colour of id i, by the classic per-id bit loop (independent reference)."""
    r = g = b = 0
    for j in range(8):
        r |= ((i >> 0) & 1) << (7 - j)
        g |= ((i >> 1) & 1) << (7 - j)
        b |= ((i >> 2) & 1) << (7 - j)
        i >>= 3
    return r, g, b


def test_davis_hand_values():
    p = palette()
    assert p.shape == (256, 3) and p.dtype == np.uint8
    assert tuple(p[0]) == (0, 0, 0)
    expected = {1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128), 5: (128, 0, 128)}
    for i, rgb in expected.items():
        assert tuple(int(c) for c in p[i]) == rgb


def test_first_32_match_bit_loop_reference():
    p = palette(32)
    assert [tuple(int(c) for c in row) for row in p] == [_voc_color(i) for i in range(32)]


def test_first_32_well_separated():
    p = palette(32).astype(float)
    d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 60  # the bit-shift colours sit on a 64-step lattice


def test_all_distinct_and_far_from_background():
    p = palette(MAX_COLORS)
    assert len(np.unique(p, axis=0)) == MAX_COLORS
    d = np.sqrt((palette(256)[1:].astype(float) ** 2).sum(-1))
    assert d.min() >= 60  # no segment colour is nearly black (the untinted background)


def test_prefix_stable_and_copy():
    a = palette(300)
    b = palette(40)
    np.testing.assert_array_equal(a[:40], b)
    b[:] = 7  # returned arrays are copies: mutating one must not change the palette
    np.testing.assert_array_equal(palette(40), a[:40])
    assert palette(0).shape == (0, 3)


def test_palette_size_checked():
    with pytest.raises(ValueError):
        palette(MAX_COLORS + 1)
    with pytest.raises(ValueError):
        palette(-1)


def test_colorize():
    lab = np.array([[0, 1, 2], [5, 40, 0]])
    out = colorize(lab)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, palette(41)[lab])
    # bools and integer-valued floats are ids too
    np.testing.assert_array_equal(colorize(lab > 0), palette(2)[(lab > 0).astype(int)])
    np.testing.assert_array_equal(colorize(lab.astype(np.float32)), out)


def test_colorize_large_ids_cycle():
    lab = np.array([[MAX_COLORS, MAX_COLORS + 1]])
    np.testing.assert_array_equal(colorize(lab), palette(3)[[1, 2]][None])


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 2, 2), int), np.array([[0, -1]]), np.array([[0.5, 1.0]]), np.array([["a"]])]
)
def test_colorize_rejects(bad):
    with pytest.raises(ShapeError):
        colorize(bad)
