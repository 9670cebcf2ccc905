"""RAFT optical flow from torchvision: ``raft-small`` and ``raft-large`` (needs the ``torch`` extra).

RAFT (Teed & Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow", ECCV 2020) through
``torchvision.models.optical_flow``, so nothing is vendored. torch is imported only when a backend is
created; without it the error names the pip extra.

Weights (``weights=``), never downloaded unless ``download=true``:

* a torchvision weights name — ``C_T_V1`` (the default), ``C_T_V2``, ``C_T_SKHT_V1``, ``DEFAULT``, ... or
  the full ``Raft_Large_Weights.C_T_SKHT_V2`` — or its URL: read from torch's hub cache
  (``$TORCH_HOME/hub/checkpoints/<file>``, by default ``~/.cache/torch/hub/checkpoints``). A missing
  file fails at once with the path to put it at and the URL to get it from;
* a local file: a state dict saved from a torchvision RAFT model of the same size (optionally under a
  ``state_dict`` or ``model`` key, with or without DataParallel's ``module.`` prefix), loaded with
  ``torch.load(..., weights_only=True)``;
* ``None`` (``weights=none`` on the command line): random initialisation from ``seed``, for tests and
  speed measurements.

Inputs are scaled to [-1, 1] (torchvision's ``Raft_*_Weights.transforms()``) and padded with
replicated edges, centred, to a multiple of 8 and to at least 128 pixels per side (torchvision's RAFT
needs feature maps of at least 16x16 for its correlation pyramid); the flow is cropped back.
``iters=20`` refinement steps by default: what motion-grouping's ``raft/predict.py`` (and so the
GWM/LRTL flows) used, rather than torchvision's default of 12.

The default weights ``C_T_V1`` are torchvision's port of the original ``raft-things.pth`` (and
``raft-small.pth``): RAFT trained on FlyingChairs + FlyingThings3D, the checkpoint motion-grouping's
``run_inference.py`` runs for GWM's and LRTL's data. ``C_T_SKHT_V1`` is the port of ``raft-sintel.pth``
(ssl-vos's RAFT ablation); ``DEFAULT`` is torchvision's best (``C_T_SKHT_V2`` for raft-large).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import numpy as np

from spelke.errors import ConfigError, DataLayoutError, FileFormatError, missing_dependency
from spelke.motion.backends import FlowBackend, as_bool, as_int, register_flow_backend

__all__ = ["RAFTFlow", "RAFTLarge", "RAFTSmall", "hub_checkpoint_path"]

#: Smallest padded side: torchvision's RAFT needs feature maps (1/8 resolution) of at least 16.
MIN_SIDE = 128

# Environment variables that declare the machine offline.
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "SPELKE_OFFLINE")


def _torch() -> Any:
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError:
        raise missing_dependency("torch", "torch", "RAFT optical flow (raft-small, raft-large)") from None
    return torch


def _offline() -> str | None:
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "") not in ("", "0"):
            return var
    return None


def hub_checkpoint_path(url: str) -> Path:
    """Where torch's hub cache keeps the file of a weights URL (``<hub dir>/checkpoints/<file name>``)."""
    torch = _torch()
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _weights_enum(variant: str) -> Any:
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    return Raft_Small_Weights if variant == "small" else Raft_Large_Weights


def _resolve_named(variant: str, name: str) -> Any:
    enum = _weights_enum(variant)
    short = name.split(".", 1)[1] if name.startswith(enum.__name__ + ".") else name
    if short.upper() == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[short]
    except KeyError:
        names = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise ConfigError(
            f"unknown raft-{variant} weights {name!r}; choose one of {names}, a local .pth file, a URL, "
            "or none (random weights)"
        ) from None


def _read_state_dict(path: Path, variant: str) -> dict[str, Any]:
    torch = _torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors vary by torch version; one clear message
        raise FileFormatError(f"cannot read RAFT weights from {path} as a torch state dict: {e}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise FileFormatError(f"{path} holds a {type(obj).__name__}, not a state dict of raft-{variant}")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in obj.items()}
    if any(k.startswith(("fnet.", "cnet.")) for k in state):
        raise FileFormatError(
            f"{path} looks like a checkpoint of the original RAFT code (princeton-vl: fnet./cnet. keys); "
            "spelke runs torchvision's RAFT, whose parameters are named differently. Use torchvision's port "
            f"of it (weights=C_T_V1 is raft-things.pth) or a state dict saved from torchvision's raft_{variant}"
        )
    return state


class RAFTFlow(FlowBackend):
    """RAFT from torchvision (see the module docstring for weights, padding and defaults).

    Args:
        weights: torchvision weights name or URL, a local state-dict file, or None (random).
        iters: number of recurrent refinement steps (``num_flow_updates``).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; default: CUDA when available.
        download: allow downloading named or URL weights into torch's hub cache.
        max_batch: most pairs per forward pass in :meth:`batch`.
        seed: seed of the random initialisation (``weights=None``).
    """

    variant: ClassVar[str] = ""

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = "C_T_V1",
        iters: int = 20,
        device: str | None = None,
        download: bool = False,
        max_batch: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__()
        torch = _torch()
        import torchvision
        from torchvision.models import optical_flow

        self.iters = as_int(iters, "iters", 1)
        self.max_batch = as_int(max_batch, "max_batch", 1)
        download = as_bool(download, "download")
        seed = as_int(seed, "seed")
        if device in (None, "", "auto"):
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(str(device))
        self.batch_size = self.max_batch if self.device.type == "cuda" else 1
        build = optical_flow.raft_small if self.variant == "small" else optical_flow.raft_large
        if isinstance(weights, str) and weights.strip().lower() in ("none", "random", ""):
            weights = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build(weights=None, progress=False)
        if weights is None:
            tag: dict[str, Any] = {"weights": None, "seed": seed}
        else:
            state, tag = self._state(weights, download)
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                first = str(e).splitlines()[0]
                raise FileFormatError(
                    f"the weights {tag['weights']!r} do not fit torchvision's raft_{self.variant} ({first}); "
                    f"are they for the other RAFT size?"
                ) from None
        self.model = model.to(self.device).eval()
        self.options = {**tag, "iters": self.iters}
        self.version = f"torchvision-{torchvision.__version__}"

    def _state(
        self, weights: str | os.PathLike[str], download: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load a state dict from a local file, a weights name or a URL; never downloads unasked."""
        torch = _torch()
        text = os.fspath(weights)
        is_url = text.startswith(("http://", "https://"))
        local = Path(text).expanduser()
        if not is_url and (local.suffix.lower() in (".pth", ".pt", ".bin", ".ckpt") or local.is_file()):
            if not local.is_file():
                raise DataLayoutError(
                    f"RAFT weights file {local} does not exist; pass the path of a state dict saved from "
                    f"torchvision's raft_{self.variant}, a torchvision weights name (C_T_V1), or none"
                )
            return _read_state_dict(local, self.variant), {
                "weights": str(local),
                "sha256": _sha256(local)[:16],
            }
        if is_url:
            url, label = text, text
        else:
            enum = _resolve_named(self.variant, text)
            url, label = enum.url, f"{type(enum).__name__}.{enum.name}"
        path = hub_checkpoint_path(url)
        if not path.is_file():
            offline = _offline()
            if not download or offline:
                why = (
                    f"{offline} is set, so nothing is downloaded"
                    if offline
                    else "spelke downloads nothing unless asked with download=true"
                )
                raise DataLayoutError(
                    f"RAFT weights {label} are not on this machine: expected the file {path} ({why}). "
                    f"Put the file there (from {url}), pass weights=/path/to/state_dict.pth, or pass "
                    "download=true on a machine with network access"
                )
            state = torch.hub.load_state_dict_from_url(
                url, map_location="cpu", progress=False, check_hash=True, weights_only=True
            )
        else:
            state = _read_state_dict(path, self.variant)
        return state, {"weights": label}

    # -- inference ------------------------------------------------------------------------------------

    def _pad(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) replicate padding to a multiple of 8 and at least MIN_SIDE."""
        th = max(MIN_SIDE, -(-h // 8) * 8)
        tw = max(MIN_SIDE, -(-w // 8) * 8)
        ph, pw = th - h, tw - w
        return pw // 2, pw - pw // 2, ph // 2, ph - ph // 2

    def _forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        torch = _torch()
        import torch.nn.functional as F

        _, _, h, w = a.shape
        left, right, top, bottom = self._pad(h, w)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(a)).to(self.device) * 2.0 - 1.0
            y = torch.from_numpy(np.ascontiguousarray(b)).to(self.device) * 2.0 - 1.0
            if left or right or top or bottom:
                x = F.pad(x, (left, right, top, bottom), mode="replicate")
                y = F.pad(y, (left, right, top, bottom), mode="replicate")
            flow = self.model(x, y, num_flow_updates=self.iters)[-1]
            flow = flow[:, :, top : top + h, left : left + w]
            return flow.float().cpu().numpy().astype(np.float32)

    def _flow(self, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
        return self._forward(frame0[None], frame1[None])[0]

    def _batch(self, frames0: np.ndarray, frames1: np.ndarray) -> np.ndarray:
        out = [
            self._forward(frames0[i : i + self.max_batch], frames1[i : i + self.max_batch])
            for i in range(0, len(frames0), self.max_batch)
        ]
        return np.concatenate(out)


@register_flow_backend(
    "raft-small", summary="torchvision RAFT-small (needs torch; weights from a local file or torch's cache)"
)
class RAFTSmall(RAFTFlow):
    """torchvision's ``raft_small`` (see :class:`RAFTFlow`)."""

    variant: ClassVar[str] = "small"


@register_flow_backend(
    "raft-large", summary="torchvision RAFT-large (needs torch; weights from a local file or torch's cache)"
)
class RAFTLarge(RAFTFlow):
    """torchvision's ``raft_large`` (see :class:`RAFTFlow`)."""

    variant: ClassVar[str] = "large"
