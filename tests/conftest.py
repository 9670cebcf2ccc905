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
