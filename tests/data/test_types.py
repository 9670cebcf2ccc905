"""Frame and Clip checks."""

from __future__ import annotations

import numpy as np
import pytest

from spelke.data import UNANNOTATED, Clip, Frame
from spelke.errors import ShapeError


def test_frame_coerces_and_checks():
    f = Frame(np.zeros((3, 4, 5)), np.zeros((4, 5), np.uint8), name="a")
    assert f.image.dtype == np.float32 and f.labels.dtype == np.int64 and f.size == (4, 5)
    assert Frame(name="empty").size is None
    with pytest.raises(ShapeError, match=r"\(3, H, W\)"):
        Frame(np.zeros((4, 5, 3)))
    with pytest.raises(ShapeError, match="dtype"):
        Frame(np.zeros((3, 4, 5), np.uint8))
    with pytest.raises(ShapeError, match="differ in size"):
        Frame(np.zeros((3, 4, 5)), np.zeros((4, 4), int), name="x")
    with pytest.raises(ShapeError, match="non-negative"):
        Frame(labels=np.full((2, 2), -1))


def test_clip_checks_and_frames():
    imgs = np.random.default_rng(0).random((3, 3, 4, 4)).astype(np.float32)
    lab = np.zeros((3, 4, 4), np.int64)
    lab[1] = UNANNOTATED
    c = Clip(
        "s", ["0", "1", "2"], imgs, lab, np.array([True, False, True]), {"frames": [{"k": 0}, {}, {"k": 2}]}
    )
    assert len(c) == 3 and c.annotated_names == ["0", "2"]
    f = c.frame(1)
    assert f.labels is None and f.sequence == "s" and f.index == 1
    assert c.frame(2).meta == {"k": 2}
    np.testing.assert_array_equal(c.image(2), imgs[2])
    with pytest.raises(ShapeError, match="3 frames"):
        Clip("s", ["0", "1", "2"], imgs[:2])
    with pytest.raises(ShapeError, match="negative"):
        Clip("s", ["0", "1", "2"], imgs, lab)  # frame 1 holds -1 but is marked annotated
    with pytest.raises(ShapeError):
        Clip("s", ["0", "1", "2"], imgs, np.zeros((3, 5, 5), int))


def test_clip_lazy_loader():
    calls = []

    def loader(i):
        calls.append(i)
        return np.full((3, 2, 2), i / 10, np.float32)

    c = Clip("lazy", ["a", "b"], loader=loader)
    assert c.images is None
    assert c.image(1)[0, 0, 0] == pytest.approx(0.1) and calls == [1]
    c.load()
    assert c.images.shape == (2, 3, 2, 2) and calls == [1, 0, 1]
    with pytest.raises(ShapeError, match="loader"):
        Clip("x", ["a"]).image(0)
