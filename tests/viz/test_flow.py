"""Middlebury flow colours against the published definition, computed here pixel by pixel."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.viz import color_wheel, flow_to_color, flow_wheel


def _reference_wheel() -> list[tuple[float, float, float]]:
    """Baker et al. 2011 wheel, written as six explicit ramps."""
    wheel = []
    wheel += [(255, math.floor(255 * i / 15), 0) for i in range(15)]  # red -> yellow
    wheel += [(255 - math.floor(255 * i / 6), 255, 0) for i in range(6)]  # yellow -> green
    wheel += [(0, 255, math.floor(255 * i / 4)) for i in range(4)]  # green -> cyan
    wheel += [(0, 255 - math.floor(255 * i / 11), 255) for i in range(11)]  # cyan -> blue
    wheel += [(math.floor(255 * i / 13), 0, 255) for i in range(13)]  # blue -> magenta
    wheel += [(255, 0, 255 - math.floor(255 * i / 6)) for i in range(6)]  # magenta -> red
    return wheel


def _reference_color(u: float, v: float, maxrad: float) -> tuple[int, int, int]:
    wheel = _reference_wheel()
    n = len(wheel)
    rad = math.hypot(u, v) / maxrad
    a = math.atan2(-v, -u) / math.pi
    fk = (a + 1) / 2 * (n - 1)
    k0 = math.floor(fk)
    k1 = (k0 + 1) % n
    f = fk - k0
    out = []
    for c in range(3):
        col = ((1 - f) * wheel[k0][c] + f * wheel[k1][c]) / 255
        col = 1 - rad * (1 - col) if rad <= 1 else col * 0.75
        out.append(math.floor(255 * col))
    return tuple(out)


def test_wheel_matches_reference():
    wheel = color_wheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_array_equal(wheel, np.array(_reference_wheel(), dtype=float))


def test_zero_flow_is_white():
    out = flow_to_color(np.zeros((2, 3, 4)))
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert (out == 255).all()


def test_hand_values_of_the_four_axes():
    # +x, -x, -y, +y at unit magnitude; the field's max magnitude is 1.
    flow = np.array([[[1.0, -1.0, 0.0, 0.0]], [[0.0, 0.0, -1.0, 1.0]]])
    out = flow_to_color(flow)[0]
    assert tuple(out[0]) == (255, 0, 0)  # +x: wheel position 0, pure red
    assert tuple(out[1]) == (0, 209, 255)  # -x: wheel position 27 (cyan -> blue ramp, step 2)
    assert tuple(out[2]) == (88, 0, 255)  # -y: halfway between positions 40 and 41
    assert tuple(out[3]) == _reference_color(0.0, 1.0, 1.0)  # +y: orange-yellow
    assert out[3][0] == 255 and 200 < out[3][1] < 255 and out[3][2] == 0


def test_pure_x_is_red_whatever_the_sign_of_zero():
    flow = np.array([[[3.0, 3.0]], [[0.0, -0.0]]])
    assert (flow_to_color(flow)[0] == [255, 0, 0]).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_many_directions_and_magnitudes_against_reference(seed):
    rng = np.random.default_rng(seed)
    angles = np.linspace(-np.pi, np.pi, 37)[1:-1] + rng.uniform(-0.01, 0.01, 35)
    mags = rng.uniform(0.1, 5.0, 35)
    flow = np.stack([mags * np.cos(angles), mags * np.sin(angles)])[:, None, :]
    out = flow_to_color(flow)[0]
    maxrad = float(np.hypot(flow[0], flow[1]).max())
    for i in range(35):
        ref = _reference_color(float(flow[0, 0, i]), float(flow[1, 0, i]), maxrad)
        assert np.abs(out[i].astype(int) - ref).max() <= 1, (i, out[i], ref)  # floor at a float edge


def test_magnitude_normalisation():
    flow = np.array([[[2.0, 1.0, 0.5]], [[0.0, 0.0, 0.0]]])
    out = flow_to_color(flow)[0]
    assert tuple(out[0]) == (255, 0, 0)  # the largest magnitude is fully saturated
    assert tuple(out[1]) == (255, 127, 127)  # half of it: 1 - 0.5 * (1 - col)
    assert tuple(out[2]) == (255, 191, 191)
    np.testing.assert_array_equal(flow_to_color(7.5 * flow)[0], out)  # scale-free without max_flow
    fixed = flow_to_color(flow, max_flow=4.0)[0]
    assert tuple(fixed[0]) == (255, 127, 127)
    over = flow_to_color(flow, max_flow=1.0)[0]
    assert tuple(over[0]) == (191, 0, 0)  # beyond max_flow: hue kept, darkened to 75 %
    assert tuple(over[1]) == (255, 0, 0)


def test_unknown_flow_is_black_and_ignored_for_scale():
    flow = np.array([[[1.0, np.nan, 2e9, 0.5]], [[0.0, 0.0, 0.0, 0.0]]])
    out = flow_to_color(flow)[0]
    assert tuple(out[1]) == (0, 0, 0) and tuple(out[2]) == (0, 0, 0)
    assert tuple(out[0]) == (255, 0, 0) and tuple(out[3]) == (255, 127, 127)


def test_rejects_bad_input():
    with pytest.raises(ShapeError, match="moveaxis"):
        flow_to_color(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError):
        flow_to_color(np.zeros((2, 4, 4)), max_flow=0)


def test_flow_wheel():
    w = flow_wheel(65)
    assert w.shape == (65, 65, 3) and w.dtype == np.uint8
    assert tuple(w[32, 32]) == (255, 255, 255)  # centre: no motion
    assert tuple(w[32, 64]) == (255, 0, 0)  # right rim: +x
    assert tuple(w[32, 0]) == (0, 209, 255)  # left rim: -x
    assert tuple(w[0, 0]) == (255, 255, 255)  # outside the disc
