"""RAFT backends with random weights: shapes, padding, weight loading, and offline behaviour."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spelke.errors import DataLayoutError, FileFormatError, MissingDependencyError
from spelke.motion import create_flow_backend

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


@pytest.fixture(autouse=True)
def _empty_torch_hub(tmp_path, monkeypatch):
    # No test may find (or fetch) real weights: point torch's hub at an empty folder.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    torch.hub.set_dir(str(tmp_path / "torch-home" / "hub"))


@pytest.fixture(scope="module")
def small():
    return create_flow_backend("raft-small", weights=None, iters=2, device="cpu")


def test_random_weights_shapes_and_cropping(small, rng):
    a = rng.random((3, 36, 50), dtype=np.float32)
    b = np.roll(a, 2, axis=2)
    f = small(a, b)
    assert f.shape == (2, 36, 50) and f.dtype == np.float32 and np.isfinite(f).all()
    out = small.batch([a, b], [b, a])
    assert out.shape == (2, 2, 36, 50)
    np.testing.assert_allclose(out[0], f, atol=1e-4)
    assert small.options == {"weights": None, "seed": 0, "iters": 2}
    assert small.version.startswith("torchvision-")


def test_padding_to_multiples_of_8_and_the_minimum_side(small):
    assert small._pad(36, 50) == (39, 39, 46, 46)  # to 128 x 128, centred
    left, right, top, bottom = small._pad(130, 250)
    assert (130 + top + bottom, 250 + left + right) == (136, 256)
    assert small._pad(128, 256) == (0, 0, 0, 0)


def test_state_dict_from_a_local_file(tmp_path, rng):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(123)
    model = raft_small(weights=None)
    path = tmp_path / "raft_small_test.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, path)

    loaded = create_flow_backend("raft-small", weights=str(path), iters=2, device="cpu")
    assert loaded.options["weights"] == str(path) and len(loaded.options["sha256"]) == 16
    for name, p in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], p)
    a = rng.random((3, 32, 40), dtype=np.float32)
    b = np.roll(a, 1, axis=1)
    other = create_flow_backend("raft-small", weights=None, iters=2, device="cpu", seed=7)
    assert not np.allclose(loaded(a, b), other(a, b))


def test_wrong_size_weights_are_refused(tmp_path):
    from torchvision.models.optical_flow import raft_small

    path = tmp_path / "small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    with pytest.raises(FileFormatError, match="raft_large"):
        create_flow_backend("raft-large", weights=str(path), iters=1, device="cpu")


def test_original_raft_checkpoints_are_explained(tmp_path):
    path = tmp_path / "raft-things.pth"
    torch.save({"module.fnet.conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(FileFormatError, match="original RAFT code"):
        create_flow_backend("raft-small", weights=str(path), device="cpu")


def test_missing_named_weights_fail_at_once_with_the_path(monkeypatch):
    with pytest.raises(DataLayoutError, match=r"raft_small_C_T_V1-ad48884c\.pth.*download=true"):
        create_flow_backend("raft-small", device="cpu")  # default weights (C_T_V1), not cached
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataLayoutError, match="HF_HUB_OFFLINE"):
        create_flow_backend("raft-large", weights="C_T_SKHT_V2", download=True, device="cpu")
    with pytest.raises(DataLayoutError, match="does not exist"):
        create_flow_backend("raft-small", weights="/nonexistent/raft.pth", device="cpu")


def test_unknown_weights_name_lists_the_choices():
    from spelke.errors import ConfigError

    with pytest.raises(ConfigError, match="C_T_V2"):
        create_flow_backend("raft-small", weights="C_T_SKHT_V9", device="cpu")


def test_missing_torch_names_the_extra(monkeypatch):
    from spelke.motion import raft

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependencyError, match=r"spelke\[torch\]"):
        raft._torch()
