"""spelke.features: dense features of self-supervised ViTs (DINO, DINOv2) through timm.

Registered extractors (``spelke list features``) give, for any blocks, the facets ``token``, ``query``,
``key``, ``value``, ``attn`` and ``cls`` as spatial maps, with overlapping patches (``stride`` below the
patch size) and positional embeddings interpolated to any input size. Weights come from a local file
(timm, DINO or DINOv2 format) or, when asked, the hub; tests use tiny random models. See docs/features.md.

The registry is importable without torch; the torch-backed names (``ViTFeatures``, ``dense_features``,
``load_vit_weights``, ...) are imported on first use.

Examples:
    >>> import torch
    >>> from spelke.features import create_feature_extractor, dense_features
    >>> ext = create_feature_extractor("dino-vits8", stride=4, depth=2, embed_dim=32, num_heads=2)
    >>> dense_features(ext, torch.rand(2, 3, 40, 56), facet="key", layer=-1).shape
    torch.Size([2, 32, 40, 56])
"""

from __future__ import annotations

from typing import Any

from spelke.features.registry import (
    FEATURE_EXTRACTORS,
    ViTSpec,
    create_feature_extractor,
    list_feature_extractors,
    weights_dir,
)

_LAZY = {
    "FACETS": "spelke.features.vit",
    "ViTFeatures": "spelke.features.vit",
    "dense_features": "spelke.features.vit",
    "resample_pos_embed": "spelke.features.vit",
    "token_grid": "spelke.features.vit",
    "WeightReport": "spelke.features.weights",
    "convert_vit_state_dict": "spelke.features.weights",
    "load_vit_weights": "spelke.features.weights",
    "read_state_dict": "spelke.features.weights",
}

__all__ = [
    "FACETS",
    "FEATURE_EXTRACTORS",
    "ViTFeatures",
    "ViTSpec",
    "WeightReport",
    "convert_vit_state_dict",
    "create_feature_extractor",
    "dense_features",
    "list_feature_extractors",
    "load_vit_weights",
    "read_state_dict",
    "resample_pos_embed",
    "token_grid",
    "weights_dir",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spelke.features' has no attribute {name!r}")
