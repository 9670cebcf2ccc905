"""Loss tests run single-threaded: their matrices are tiny, and on shared cores OpenMP's thread
hand-off costs far more than the work (a 2x20 @ 20x25 product took 30 ms with 2 busy threads)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test in this folder uses ``one_thread`` (tests/conftest.py); a conftest cannot set pytestmark."""
