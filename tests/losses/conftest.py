"""Loss tests run single-threaded: their matrices are tiny, and on shared cores OpenMP's thread
hand-off costs far more than the work (a 2x20 @ 20x25 product took 30 ms with 2 busy threads)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
