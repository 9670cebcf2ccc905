"""Loading ViT weights from a local file: timm, original DINO and original DINOv2 formats.

:func:`load_vit_weights` reads a file with ``torch.load(..., weights_only=True)`` and recognises:

* **timm**: ``model.state_dict()`` of a timm ``VisionTransformer`` (``head.*`` keys are dropped);
* **DINO** (facebookresearch/dino): a plain state dict (``dino_deitsmall8_pretrain.pth``) or a training
  checkpoint with the weights nested under ``teacher`` / ``student`` / ``model`` / ``state_dict`` and
  keys prefixed ``backbone.`` / ``module.`` (the DINO projection head ``head.*`` is dropped). DINO's
  parameter names are timm's, so nothing else is renamed;
* **DINOv2** (facebookresearch/dinov2): ``mask_token`` (dropped), layer scale ``blocks.i.ls1.gamma``
  (timm's name too), a positional embedding for a 37x37 grid (518 px / 14), ``register_tokens`` (moved
  to timm's ``reg_token``, with the CLS position folded into ``cls_token`` as timm's ``no_embed_class``
  register models expect), chunked blocks ``blocks.<chunk>.<i>.`` and the SwiGLU ``w12`` / ``w3`` names.

A positional embedding for another (square) grid than the model's is adopted as the model's native grid
(``set_input_size``); nothing is resampled on load because :class:`ViTFeatures` interpolates at run time.
Any other shape difference is refused, naming both shapes; missing or unexpected keys are refused too
unless ``strict=False``, and always listed in the returned :class:`WeightReport`.

Examples:
    >>> import tempfile, torch, timm
    >>> src = timm.create_model("vit_small_patch8_224", depth=1, embed_dim=16, num_heads=2, num_classes=0)
    >>> dst = timm.create_model("vit_small_patch8_224", depth=1, embed_dim=16, num_heads=2, num_classes=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     torch.save({"teacher": {"backbone." + k: v for k, v in src.state_dict().items()}}, d + "/w.pth")
    ...     report = load_vit_weights(dst, d + "/w.pth")
    >>> report.format, report.missing, torch.equal(dst.pos_embed, src.pos_embed)
    ('dino', [], True)
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spelke.errors import ConfigError, DataLayoutError, FileFormatError

__all__ = ["WeightReport", "convert_vit_state_dict", "load_vit_weights", "read_state_dict"]

#: Keys under which checkpoints nest the weights, in order of preference (DINO evaluates the teacher).
NEST_KEYS = ("teacher", "student", "model", "state_dict", "module")
#: Prefixes stripped from keys (DDP's ``module.``, DINO's ``backbone.``; any order, repeatedly).
PREFIXES = ("module.", "backbone.")


@dataclass
class WeightReport:
    """What :func:`load_vit_weights` did.

    Attributes:
        path: the file read.
        format: ``"timm"``, ``"dino"`` or ``"dinov2"``.
        nested_under: the checkpoint key the weights were found under (``"teacher"``), or None.
        loaded: number of tensors loaded.
        missing: model keys the file lacks (left at their initial values when ``strict=False``).
        unexpected: file keys the model lacks (ignored when ``strict=False``).
        dropped: file keys dropped on purpose (heads, DINOv2's ``mask_token``).
        notes: anything else changed (an adopted positional grid, renamed keys).
    """

    path: str
    format: str
    nested_under: str | None = None
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"{self.path}: {self.format} format, {self.loaded} tensors loaded"]
        if self.nested_under:
            parts.append(f"from '{self.nested_under}'")
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({_few(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({_few(self.unexpected)})")
        if self.dropped:
            parts.append(f"{len(self.dropped)} dropped ({_few(self.dropped)})")
        parts.extend(self.notes)
        return "; ".join(parts)


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f", ... {len(keys) - n} more" if len(keys) > n else "")


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(torch.is_tensor(v) for v in obj.values())


def read_state_dict(
    path: str | os.PathLike[str], checkpoint_key: str | None = None
) -> tuple[dict[str, torch.Tensor], str | None]:
    """Read a tensor dict from ``path`` (``weights_only=True``), unnesting training checkpoints.

    Args:
        path: a ``.pth`` / ``.pt`` / ``.bin`` / ``.ckpt`` file (or ``.safetensors`` when installed).
        checkpoint_key: take the weights from this key (``"student"``); default: the first of
            :data:`NEST_KEYS` that holds them, else the file's top level.

    Returns:
        The state dict and the key it was nested under (None for a plain state dict).
    """
    path = Path(path)
    if not path.is_file():
        raise DataLayoutError(f"ViT weight file {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise FileFormatError(
                f"{path} is a safetensors file but the safetensors package is missing; pip install safetensors"
            ) from None
        obj: Any = load_file(str(path))
    else:
        try:
            # DINO's full training checkpoints also store their argparse arguments: allow that one class.
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # unpickling errors vary by torch version; one clear line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise FileFormatError(
                f"cannot read ViT weights from {path} as a torch state dict: {first}"
            ) from None
    nested = None
    if checkpoint_key is not None:
        if not isinstance(obj, Mapping) or checkpoint_key not in obj:
            keys = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, Mapping) else type(obj).__name__
            raise FileFormatError(f"{path} has no key {checkpoint_key!r}; its top-level keys are: {keys}")
        obj, nested = obj[checkpoint_key], checkpoint_key
    while isinstance(obj, Mapping) and not _is_tensor_dict(obj):
        key = next((k for k in NEST_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            break
        obj, nested = obj[key], key if nested is None else f"{nested}.{key}"
    if not isinstance(obj, Mapping):
        raise FileFormatError(f"{path} holds a {type(obj).__name__}, not a ViT state dict")
    state = {str(k): v for k, v in obj.items() if torch.is_tensor(v)}
    if not state:
        keys = ", ".join(map(str, list(obj)[:8]))
        raise FileFormatError(
            f"{path} holds no tensors where a ViT state dict was expected (keys: {keys}); "
            f"pass checkpoint_key= to pick the entry that holds the weights"
        )
    return state, nested


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def convert_vit_state_dict(
    state: Mapping[str, torch.Tensor], model: nn.Module
) -> tuple[dict[str, torch.Tensor], str, list[str], list[str]]:
    """Map a DINO / DINOv2 / timm state dict to the names of a timm ``VisionTransformer``.

    Returns:
        ``(state, format, dropped keys, notes)``.
    """
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    notes: list[str] = []
    prefixed = False
    for k, v in state.items():
        nk = _strip(k)
        prefixed |= nk != k
        out[nk] = v
    is_v2 = "mask_token" in out or "register_tokens" in out
    is_dino = prefixed or any(k.startswith(("head.mlp.", "head.last_layer.")) for k in out)
    fmt = "dinov2" if is_v2 else "dino" if is_dino else "timm"
    if "mask_token" in out:
        out.pop("mask_token")
        dropped.append("mask_token")
    # DINOv2 block chunks (FSDP): blocks.<chunk>.<global index>.* -> blocks.<global index>.*
    chunked = {k: re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k) for k in out}
    if any(re.match(r"^blocks\.\d+\.\d+\.", k) for k in out):
        out = {chunked[k]: v for k, v in out.items()}
        notes.append("block chunks flattened")
    renamed = {}
    for k, v in out.items():
        nk = re.sub(r"(blocks\.\d+\.mlp)\.w12\.", r"\1.fc1.", k)
        nk = re.sub(r"(blocks\.\d+\.mlp)\.w3\.", r"\1.fc2.", nk)
        renamed[nk] = v
    out = renamed
    if "register_tokens" in out:
        out["reg_token"] = out.pop("register_tokens")
        if getattr(model, "no_embed_class", False) and "pos_embed" in out and "cls_token" in out:
            # DINOv2 adds pos_embed[0] to CLS and none to the registers; timm folds it into cls_token.
            pos = out.pop("pos_embed")
            out["cls_token"] = out["cls_token"] + pos[:, :1]
            out["pos_embed"] = pos[:, 1:]
            notes.append("CLS position folded into cls_token")
    for k in list(out):
        if k.startswith(("head.", "head_dist.", "fc_norm.", "pre_logits.")) and k not in own:
            out.pop(k)
            dropped.append(k)
    return out, fmt, dropped, notes


def _adopt_pos_grid(model: nn.Module, pos: torch.Tensor, path: Path) -> str | None:
    """Make the model's native positional grid that of the file's ``pos_embed``, if square and different."""
    own = getattr(model, "pos_embed", None)
    if (
        own is None
        or pos.ndim != 3
        or own.ndim != 3
        or pos.shape == own.shape
        or pos.shape[-1] != own.shape[-1]
    ):
        return None
    n_prefix = 0 if getattr(model, "no_embed_class", False) else int(getattr(model, "num_prefix_tokens", 1))
    n = pos.shape[1] - n_prefix
    g = math.isqrt(max(n, 0))
    if n <= 0 or g * g != n:
        raise FileFormatError(
            f"{path}: pos_embed has shape {tuple(pos.shape)}, model pos_embed {tuple(own.shape)}: the file's "
            f"{n} patch positions are not a square grid (with {n_prefix} prefix tokens)"
        )
    old = tuple(int(v) for v in model.patch_embed.grid_size)
    ph, pw = (int(v) for v in model.patch_embed.patch_size)
    model.set_input_size(img_size=(g * ph, g * pw))
    return f"positional grid {old[0]}x{old[1]} -> {g}x{g} (the file's)"


def load_vit_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    strict: bool = True,
    checkpoint_key: str | None = None,
) -> WeightReport:
    """Load a local timm / DINO / DINOv2 weight file into a timm ViT (or a :class:`ViTFeatures`).

    Args:
        model: a timm ``VisionTransformer``, or a :class:`ViTFeatures` (its ``.model`` is loaded).
        path: the weight file.
        strict: refuse missing or unexpected keys (they are always listed in the report).
        checkpoint_key: the key holding the weights in a training checkpoint (default: found).

    Returns:
        A :class:`WeightReport`.

    Raises:
        FileFormatError: unreadable file, a tensor whose shape differs from the model's (both shapes
            named), or, with ``strict``, missing / unexpected keys.
    """
    path = Path(path)
    target = getattr(model, "model", model)
    if not isinstance(target, nn.Module) or not hasattr(target, "patch_embed"):
        raise ConfigError(f"load_vit_weights needs a timm VisionTransformer, got {type(model).__name__}")
    raw, nested = read_state_dict(path, checkpoint_key)
    state, fmt, dropped, notes = convert_vit_state_dict(raw, target)
    if nested in ("teacher", "student") and fmt == "timm":
        fmt = "dino"
    own = target.state_dict()
    # Refuse a misfit before touching the model; a different positional grid alone is adopted.
    _refuse_mismatch(path, state, own, skip=("pos_embed",))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        hint = _depth_hint(state, own)
        if "reg_token" in unexpected:
            hint = "; the file has register tokens: use a '-reg' model (dinov2-vits14-reg)"
        elif "reg_token" in missing:
            hint = "; the model has register tokens but the file does not: use the model without '-reg'"
        raise FileFormatError(
            f"{path} does not match the ViT: {len(missing)} missing keys ({_few(missing)}), "
            f"{len(unexpected)} unexpected keys ({_few(unexpected)}){hint}; pass strict=False to load "
            "what matches"
        )
    note = _adopt_pos_grid(target, state["pos_embed"], path) if "pos_embed" in state else None
    if note:
        notes.append(note)
        own = target.state_dict()
    _refuse_mismatch(path, state, own)
    report = WeightReport(
        str(path),
        fmt,
        nested,
        loaded=len(state) - len(unexpected),
        missing=missing,
        unexpected=unexpected,
        dropped=dropped,
        notes=notes,
    )
    target.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return report


def _refuse_mismatch(
    path: Path, state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor], skip: tuple[str, ...] = ()
) -> None:
    mismatched = [
        k for k in state if k in own and k not in skip and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not mismatched:
        return
    mismatched.sort(key=lambda k: k != "patch_embed.proj.weight")  # the most telling one first
    k = mismatched[0]
    more = f" (and {len(mismatched) - 1} more tensors)" if len(mismatched) > 1 else ""
    hint = ""
    if k == "patch_embed.proj.weight":
        hint = "; a different width or patch size: pick the registered name that matches the file"
    elif k == "pos_embed":
        hint = "; a different width or number of prefix tokens (registers?)"
    raise FileFormatError(
        f"{path} does not fit this ViT: {k} has shape {tuple(state[k].shape)} in the file but "
        f"{tuple(own[k].shape)} in the model{more}{hint}"
    )


def _depth_hint(state: Mapping[str, Any], own: Mapping[str, Any]) -> str:
    def depth(keys) -> int:
        idx = [int(m.group(1)) for k in keys if (m := re.match(r"^blocks\.(\d+)\.", k))]
        return max(idx) + 1 if idx else 0

    a, b = depth(state), depth(own)
    return f"; the file has {a} blocks, the model {b} (depth=)" if a != b else ""
