"""The feature-extractor registry: ``create_feature_extractor("dino-vits8", weights=..., stride=4)``.

This module imports neither torch nor timm, so ``spelke list features`` works without the ``torch``
extra; the factories import :mod:`spelke.features.vit` when called.

Each built-in name maps to a timm ``VisionTransformer`` architecture and the timm pretrained tag that
holds the same weights on the Hugging Face hub (``timm/vit_small_patch8_224.dino`` is Facebook's
``dino_deitsmall8_pretrain.pth``). ``weights`` is one of:

* ``None`` (or ``"none"`` / ``"random"``): random initialisation from ``seed``; tests use this with
  tiny models (``depth=2, embed_dim=32, num_heads=2``);
* a local file (timm, DINO or DINOv2 format; see :func:`spelke.features.weights.load_vit_weights`);
* ``"hub"``: the name's pretrained weights, read from ``<weights dir>/<name>.pth`` if that file exists,
  else from the Hugging Face cache, else downloaded from the hub unless the machine is offline
  (``HF_HUB_OFFLINE=1`` or ``SPELKE_OFFLINE=1``), in which case it fails at once saying where to put
  the file;
* an explicit hub id, ``"hf-hub:timm/vit_small_patch8_224.dino"`` or ``"timm/vit_small_patch8_224.dino"``.

The weights directory is ``$SPELKE_WEIGHTS``, else ``~/.cache/spelke/weights``.

Examples:
    >>> list_feature_extractors("dino-vits*")
    ['dino-vits16', 'dino-vits8']
    >>> FEATURE_EXTRACTORS.entry("dino-vitb8").tags["arch"]
    'vit_base_patch8_224'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spelke.registry import Registry

__all__ = [
    "FEATURE_EXTRACTORS",
    "OFFLINE_VARS",
    "ViTSpec",
    "create_feature_extractor",
    "list_feature_extractors",
    "offline_reason",
    "weights_dir",
]

#: Every feature extractor: name -> factory ``(weights=None, stride=None, **options) -> ViTFeatures``.
FEATURE_EXTRACTORS: Registry[Any] = Registry("feature extractor")

#: Environment variables that declare the machine offline (any value but "" and "0").
OFFLINE_VARS = ("HF_HUB_OFFLINE", "SPELKE_OFFLINE")


def offline_reason() -> str | None:
    """The first offline variable that is set (``"HF_HUB_OFFLINE"``), or None when online."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "") not in ("", "0"):
            return var
    return None


def weights_dir() -> Path:
    """Where ``weights="hub"`` looks for ``<name>.pth`` first: ``$SPELKE_WEIGHTS`` or ~/.cache/spelke/weights."""
    env = os.environ.get("SPELKE_WEIGHTS", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spelke" / "weights"


@dataclass(frozen=True)
class ViTSpec:
    """What a registered ViT feature extractor is built from.

    Attributes:
        name: the registry name (``"dino-vits8"``).
        arch: the timm architecture (``"vit_small_patch8_224"``).
        tag: the timm pretrained tag of the same weights (``"dino"``, ``"lvd142m"``).
        patch: patch size in pixels.
        dim: token width (384 for ViT-S, 768 for ViT-B, 1024 for ViT-L).
        summary: one line for ``spelke list features``.
        timm_kwargs: extra keyword arguments for ``timm.create_model``.
    """

    name: str
    arch: str
    tag: str
    patch: int
    dim: int
    summary: str
    timm_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def hub_id(self) -> str:
        """The Hugging Face repository timm reads these weights from."""
        return f"timm/{self.arch}.{self.tag}"


def _factory(spec: ViTSpec):
    def make(weights: Any = None, stride: int | None = None, **options: Any) -> Any:
        from spelke.features.vit import build_vit_features

        return build_vit_features(spec, weights=weights, stride=stride, **options)

    make.__name__ = spec.name.replace("-", "_")
    make.__doc__ = spec.summary
    return make


_BUILTIN = (
    ViTSpec("dino-vits8", "vit_small_patch8_224", "dino", 8, 384, "DINO ViT-S/8 (Caron et al. 2021)"),
    ViTSpec("dino-vits16", "vit_small_patch16_224", "dino", 16, 384, "DINO ViT-S/16 (Caron et al. 2021)"),
    ViTSpec("dino-vitb8", "vit_base_patch8_224", "dino", 8, 768, "DINO ViT-B/8 (Caron et al. 2021)"),
    ViTSpec("dino-vitb16", "vit_base_patch16_224", "dino", 16, 768, "DINO ViT-B/16 (Caron et al. 2021)"),
    ViTSpec(
        "dinov2-vits14", "vit_small_patch14_dinov2", "lvd142m", 14, 384, "DINOv2 ViT-S/14 (Oquab et al. 2024)"
    ),
    ViTSpec(
        "dinov2-vitb14", "vit_base_patch14_dinov2", "lvd142m", 14, 768, "DINOv2 ViT-B/14 (Oquab et al. 2024)"
    ),
    ViTSpec(
        "dinov2-vitl14",
        "vit_large_patch14_dinov2",
        "lvd142m",
        14,
        1024,
        "DINOv2 ViT-L/14 (Oquab et al. 2024)",
    ),
    ViTSpec(
        "dinov2-vits14-reg",
        "vit_small_patch14_reg4_dinov2",
        "lvd142m",
        14,
        384,
        "DINOv2 ViT-S/14 with 4 registers (Darcet et al. 2024)",
    ),
    ViTSpec(
        "dinov2-vitb14-reg",
        "vit_base_patch14_reg4_dinov2",
        "lvd142m",
        14,
        768,
        "DINOv2 ViT-B/14 with 4 registers (Darcet et al. 2024)",
    ),
)

for _spec in _BUILTIN:
    FEATURE_EXTRACTORS.add(
        _spec.name,
        _factory(_spec),
        summary=f"{_spec.summary}; timm {_spec.arch}, {_spec.dim}-d, patch {_spec.patch}",
        arch=_spec.arch,
        tag=_spec.tag,
        patch=_spec.patch,
        dim=_spec.dim,
        spec=_spec,
    )


def create_feature_extractor(name: str, /, weights: Any = None, stride: int | None = None, **options: Any):
    """Create a registered feature extractor (a :class:`spelke.features.vit.ViTFeatures`).

    Args:
        name: a registered name (``spelke list features``), e.g. ``"dino-vits8"``.
        weights: None (random, from ``seed``), a local weight file, ``"hub"``, or a hub id (module docstring).
        stride: patch-embedding stride; None keeps the patch size (non-overlapping patches).
        **options: :class:`ViTFeatures` options (``normalize``, ``pos_embed_mode``,
            ``pos_embed_interpolation``, ``qkv_layout``), ``seed`` (random init, default 0),
            ``strict`` (weight loading, default True), and any other keyword is passed to
            ``timm.create_model`` (``depth=2, embed_dim=32, num_heads=2`` make a tiny test model).

    Returns:
        The extractor, in eval mode, on the CPU.

    Examples:
        >>> ext = create_feature_extractor("dino-vits8", stride=4, depth=2, embed_dim=32, num_heads=2)
        >>> ext.grid_size(64, 96)
        (15, 23)
    """
    return FEATURE_EXTRACTORS.create(name, weights=weights, stride=stride, **options)


def list_feature_extractors(pattern: str = "*") -> list[str]:
    """Sorted names of the registered feature extractors matching a glob pattern (``"dinov2-*"``)."""
    return FEATURE_EXTRACTORS.list(pattern)
