"""Shared test set-up: offline, deterministic, fast."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Nothing in the tests may reach a model hub: a hub call must fail at once instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator; every random test input flows from it."""
    return np.random.default_rng(0)


@pytest.fixture
def one_thread():
    """One torch intra-op thread for the test, the previous count restored afterwards: tiny matrices on a
    busy 2-core machine: two OpenMP threads are far slower than one. A test module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch  # lazily: test modules that do not need torch still collect without it

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def textured_video():
    """The shared motion fixture: 6 frames of 64x96, three textured objects moving (translation,
    rotation, scale; 1 to 2.5 px/frame relative to the background) over a panning textured background,
    with exact flow, occlusion masks and tracks (:mod:`spelke.synth.textured_motion`). Shared across
    tests: do not modify its arrays. docs/motion.md lists what the backends measure on it."""
    from spelke.synth.textured_motion import make_textured_video

    return make_textured_video(
        frames=6, size=(64, 96), objects=3, motion="affine", min_speed=1.0, max_speed=2.5, seed=0
    )
