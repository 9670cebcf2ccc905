"""The segmenter registry: ``create_segmenter("unet", num_masks=4)``."""

from __future__ import annotations

from typing import Any

from spelke.registry import Registry

#: Every segmenter: name -> factory ``(num_masks: int, **options) -> nn.Module`` returning ModelOutput.
SEGMENTERS: Registry[Any] = Registry("segmenter")

_LOADED = False


def _ensure_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from spelke.models import query, unet  # noqa: F401


def register_segmenter(name: str, **kwargs: Any):
    """Decorator: register a segmenter factory under ``name``."""
    return SEGMENTERS.register(name, **kwargs)


def create_segmenter(name: str, /, **options: Any) -> Any:
    """Create a registered segmenter (``num_masks`` = K, plus the segmenter's own options)."""
    _ensure_builtin()
    return SEGMENTERS.create(name, **options)


def list_segmenters(pattern: str = "*") -> list[str]:
    _ensure_builtin()
    return SEGMENTERS.list(pattern)
