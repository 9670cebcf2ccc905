"""Reconstruction MSE (ClevrTex per-image sum) and object counting."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.errors import ShapeError
from spelke.eval.reconstruction import count_segments, object_count_accuracy, reconstruction_mse


def test_mse_is_per_image_sum_over_chw(rng):
    pred = rng.random((4, 3, 8, 6))
    true = rng.random((4, 3, 8, 6))
    want = [float(((p - t) ** 2).sum()) for p, t in zip(pred, true, strict=True)]
    np.testing.assert_allclose(reconstruction_mse(pred, true), want, rtol=1e-13)
    # hand-worked: every channel of a 128x128 image off by 0.1 -> 3 * 128 * 128 * 0.01 = 491.52
    got = reconstruction_mse(np.full((3, 128, 128), 0.6), np.full((3, 128, 128), 0.5))
    assert got.shape == (1,) and got[0] == pytest.approx(491.52, rel=1e-12)


def test_mse_rejects_bad_shapes_and_ranges():
    with pytest.raises(ShapeError):
        reconstruction_mse(np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 5)))
    with pytest.raises(ShapeError):
        reconstruction_mse(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 4)))
    with pytest.raises(ShapeError, match=r"\[0, 1\]"):
        reconstruction_mse(np.full((1, 3, 2, 2), 255.0), np.zeros((1, 3, 2, 2)))
    with pytest.raises(ShapeError):
        reconstruction_mse(np.full((1, 3, 2, 2), np.nan), np.zeros((1, 3, 2, 2)))


def test_count_segments():
    x = np.array([[[0, 0, 3, 3, 7, 9]], [[0, 0, 0, 0, 0, 0]]])
    assert count_segments(x).tolist() == [3, 0]
    assert count_segments(x, background=None).tolist() == [4, 1]
    assert count_segments(x, min_pixels=2).tolist() == [1, 0]
    assert count_segments(x, min_pixels=2, background=None).tolist() == [2, 1]
    assert count_segments(x, background=3).tolist() == [3, 1]
    # huge sparse ids go through the per-image path and give the same answer
    big = np.array([[[0, 0, 2**40, 2**40, 5, 5]]])
    assert count_segments(big).tolist() == [2]
    assert count_segments(big, min_pixels=3).tolist() == [0]


def test_object_count_accuracy_official_convention(rng):
    # ClevrTex `acc`: non-empty slots on both sides, background included, must be equal.
    true = np.array([[[0, 0, 1, 2]], [[0, 0, 1, 1]]])
    pred = np.array([[[5, 5, 6, 7]], [[5, 6, 7, 8]]])
    acc = object_count_accuracy(count_segments(pred, background=None), count_segments(true, background=None))
    assert acc.tolist() == [1.0, 0.0]
    assert object_count_accuracy(3, 3).tolist() == [1.0]
    with pytest.raises(ShapeError):
        object_count_accuracy([1, 2], [1, 2, 3])
