"""Overlays: background untouched, foreground tinted by the documented blend, contours, soft masks."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.viz import contour_mask, overlay, overlay_binary, palette, soft_overlay, to_uint8


@pytest.fixture
def scene(rng):
    image = rng.random((3, 20, 24))
    labels = np.zeros((20, 24), dtype=np.int64)
    labels[2:10, 3:12] = 1
    labels[8:18, 10:22] = 3
    return image, labels


def _blend(img: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    return np.floor(img * (1 - alpha) + color * alpha + 0.5).astype(np.uint8)


def test_background_unchanged_foreground_tinted(scene):
    image, labels = scene
    base = to_uint8(image)
    for contours in (False, True):
        out = overlay(image, labels, alpha=0.4, contours=contours)
        assert out.shape == (20, 24, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out[labels == 0], base[labels == 0])
    out = overlay(image, labels, alpha=0.4, contours=False)
    for k in (1, 3):
        m = labels == k
        expected = _blend(base[m].astype(float), palette(4)[k].astype(float), 0.4)
        np.testing.assert_array_equal(out[m], expected)
        assert np.abs(out[m].astype(int) - base[m]).max() > 0


def test_uint8_hwc_input_and_alpha_extremes(scene):
    image, labels = scene
    base = to_uint8(image)
    np.testing.assert_array_equal(overlay(base, labels), overlay(image, labels))
    np.testing.assert_array_equal(overlay(image, labels, alpha=0.0, contours=False), base)
    full = overlay(image, labels, alpha=1.0, contours=False)
    np.testing.assert_array_equal(full[labels > 0], palette(4)[labels[labels > 0]])


def test_contours(scene):
    image, labels = scene
    edge = contour_mask(labels)
    # brute-force reference: a pixel is on a contour if a 4-neighbour inside the image has another id
    ref = np.zeros_like(edge)
    h, w = labels.shape
    for y in range(h):
        for x in range(w):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                yy, xx = y + dy, x + dx
                if 0 <= yy < h and 0 <= xx < w and labels[yy, xx] != labels[y, x]:
                    ref[y, x] = True
    np.testing.assert_array_equal(edge, ref)

    out = overlay(image, labels, alpha=0.3)
    on = edge & (labels > 0)
    np.testing.assert_array_equal(out[on], palette(4)[labels[on]])
    white = overlay(image, labels, alpha=0.3, contour_color=(255, 255, 255))
    assert (white[on] == 255).all()
    inner = (labels > 0) & ~edge
    np.testing.assert_array_equal(white[inner], out[inner])


def test_background_none_tints_everything(scene):
    image, labels = scene
    out = overlay(image, labels, alpha=1.0, contours=False, background=None)
    np.testing.assert_array_equal(out, palette(5)[labels + 1])  # id k -> colour k + 1: nothing black


def test_size_mismatch_names_both(scene):
    image, labels = scene
    with pytest.raises(ShapeError, match=r"\(20, 24\).*\(20, 23\)"):
        overlay(image, labels[:, :-1])
    with pytest.raises(ValueError):
        overlay(image, labels, alpha=1.5)


def test_overlay_binary(scene):
    image, labels = scene
    base = to_uint8(image)
    mask = labels == 1
    out = overlay_binary(image, mask, color=(0, 0, 255), alpha=0.5, contours=False)
    np.testing.assert_array_equal(out[~mask], base[~mask])
    np.testing.assert_array_equal(out[mask], _blend(base[mask].astype(float), np.array([0, 0, 255.0]), 0.5))
    np.testing.assert_array_equal(
        overlay_binary(image, mask.astype(np.float32) * 0.9, contours=False)[~mask], base[~mask]
    )
    with_contours = overlay_binary(image, mask, color=(0, 0, 255))
    edge = contour_mask(mask) & mask
    assert (with_contours[edge] == [0, 0, 255]).all()


def test_soft_overlay_one_hot_matches_overlay(scene):
    image, labels = scene
    probs = np.eye(4)[labels].transpose(2, 0, 1)  # (K, H, W) one-hot
    for background in (None, 0):
        np.testing.assert_array_equal(
            soft_overlay(image, probs, alpha=0.6, background=background),
            overlay(image, labels, alpha=0.6, contours=False, background=background),
        )


def test_soft_overlay_mixes_colours(scene):
    image, _ = scene
    base = to_uint8(image).astype(float)
    probs = np.zeros((3, 20, 24))
    probs[1] = probs[2] = 0.5
    out = soft_overlay(image, probs, alpha=1.0)
    mix = 0.5 * palette(4)[2].astype(float) + 0.5 * palette(4)[3].astype(float)
    np.testing.assert_array_equal(out, np.broadcast_to(np.floor(mix + 0.5).astype(np.uint8), out.shape))
    # with channel 0 as background, half the weight leaves the image untinted
    probs = np.zeros((2, 20, 24))
    probs[0] = probs[1] = 0.5
    out = soft_overlay(image, probs, alpha=1.0, background=0)
    np.testing.assert_array_equal(out, _blend(base, palette(2)[1].astype(float), 0.5))


def test_soft_overlay_rejects(scene):
    image, _ = scene
    with pytest.raises(ShapeError):
        soft_overlay(image, np.zeros((20, 24)))
    with pytest.raises(ShapeError):
        soft_overlay(image, -np.ones((2, 20, 24)))
