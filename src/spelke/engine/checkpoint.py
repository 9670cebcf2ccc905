"""Checkpoint headers and loading that refuses a mismatch by name.

Every checkpoint spelke writes carries a header ``{"method", "model", "config", "spelke_version",
"format"}`` under the key ``"spelke"``: Lightning training checkpoints (``checkpoints/last.ckpt``) get it
in ``on_save_checkpoint``, and the exported inference weights (``checkpoints/final.pt``: the EMA weights
when the method averages them) are ``{"spelke": header, "state_dict": ...}``. Loading compares the header
with what the caller expects and names both sides when they differ.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from spelke import __version__
from spelke.data.io import atomic_write
from spelke.errors import ConfigError, FileFormatError

FORMAT = 1


def make_header(method: str, model: str, config: dict[str, Any]) -> dict[str, Any]:
    """The header stored in every checkpoint."""
    return {
        "format": FORMAT,
        "method": method,
        "model": model,
        "config": config,
        "spelke_version": __version__,
    }


def save_weights(path: str | os.PathLike[str], header: dict[str, Any], state_dict: dict[str, Any]) -> Path:
    """Write ``{"spelke": header, "state_dict": ...}`` atomically."""
    buf = io.BytesIO()
    torch.save({"spelke": header, "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}, buf)
    p = Path(path)
    with atomic_write(p) as f:
        f.write(buf.getvalue())
    return p


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read a spelke checkpoint (exported ``.pt`` or Lightning ``.ckpt``): (header, model state dict).

    From a Lightning checkpoint the model weights are taken from the EMA copy when there is one.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileFormatError(f"checkpoint {p} does not exist; pass the file written by `spelke train`")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FileFormatError(f"cannot read checkpoint {p}: {e}") from None
    if not isinstance(obj, dict) or "spelke" not in obj:
        raise FileFormatError(
            f"{p} is not a spelke checkpoint (no 'spelke' header); pass checkpoints/final.pt or "
            "checkpoints/last.ckpt of a `spelke train` run"
        )
    header = obj["spelke"]
    sd = obj.get("state_dict", {})
    if any(k.startswith("ema.shadow.") for k in sd):
        sd = {k[len("ema.shadow.") :]: v for k, v in sd.items() if k.startswith("ema.shadow.")}
    elif any(k.startswith("model.") for k in sd):
        sd = {k[len("model.") :]: v for k, v in sd.items() if k.startswith("model.")}
    return header, sd


def check_header(
    header: dict[str, Any], *, method: str | None = None, model: str | None = None, path: Any = ""
) -> None:
    """Refuse a checkpoint of another method or model, naming both."""
    if header.get("format", FORMAT) > FORMAT:
        raise FileFormatError(
            f"checkpoint {path} has format {header.get('format')}, newer than this spelke "
            f"({__version__}) reads ({FORMAT}); upgrade spelke"
        )
    if method is not None and header.get("method") != method:
        raise ConfigError(
            f"checkpoint {path} was trained by method '{header.get('method')}', not '{method}'; "
            f"pass --method {header.get('method')} or a '{method}' checkpoint"
        )
    if model is not None and header.get("model") != model:
        raise ConfigError(
            f"checkpoint {path} holds model '{header.get('model')}', but the config asks for '{model}'"
        )


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Any = "") -> None:
    """Load weights, refusing missing/unexpected keys or shape mismatches with both shapes named."""
    own = module.state_dict()
    bad = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if bad or missing or unexpected:
        parts = []
        if bad:
            parts.append("shape mismatch: " + "; ".join(bad[:3]) + (" ..." if len(bad) > 3 else ""))
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise ConfigError(
            f"checkpoint {path} does not fit the model built from its config ({'; '.join(parts)}); "
            "was it written by another spelke version or edited?"
        )
    module.load_state_dict(state)
