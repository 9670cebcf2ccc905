"""Backbones for the segmenters: ViT (spelke.features), Swin, ResNet and PPMP's small ``sacnn`` CNN."""

from __future__ import annotations

from spelke.models.backbones.base import (
    BACKBONES,
    Backbone,
    create_backbone,
    list_backbones,
    register_backbone,
)

_LOADED = False


def _ensure_builtin() -> None:
    """Import the modules that register the built-in backbones (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from spelke.models.backbones import cnn, vit  # noqa: F401


__all__ = ["BACKBONES", "Backbone", "create_backbone", "list_backbones", "register_backbone"]
