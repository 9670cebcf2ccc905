"""Networks: segmenters (U-Net, query segmenter) and their backbones.

Segmenters are registered by name in :data:`SEGMENTERS`; each maps images ``(B, 3, H, W)`` in [0, 1] to a
:class:`spelke.engine.types.ModelOutput` whose ``logits`` are ``(B, K, H, W)``.
"""

from __future__ import annotations

from spelke.models.registry import SEGMENTERS, create_segmenter, list_segmenters, register_segmenter

__all__ = ["SEGMENTERS", "create_segmenter", "list_segmenters", "register_segmenter"]
