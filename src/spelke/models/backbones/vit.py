"""ViT backbones (DINO, DINOv2) for the segmenters: one facet of four blocks as ``res2`` .. ``res5``.

GWM's MaskFormer reads the ``key`` facets of blocks 6, 8, 10 and 12 of DINO ViT-B/8 (0-based 5, 7, 9,
11), with the patch-embedding stride set to 4 (thesis App. C.1; spec A.3): four maps at the same token
resolution, which ``out_strides`` states (all equal to the stride) so decoders do not assume a pyramid.
The features come from :class:`spelke.features.vit.ViTFeatures`; this module only adapts them to the
:class:`~spelke.models.backbones.base.Backbone` contract. The backbone is trainable (GWM fine-tunes it).

Registered: ``vit-dino-s8``, ``vit-dino-b8``, ``vit-dino-s16``, ``vit-dino-b16``, ``vit-dinov2-s14``,
``vit-dinov2-b14``. Factory signature::

    (pretrained=None, stride=None, layers=(5, 7, 9, 11), facet="key", **timm_kwargs)

``pretrained`` is None (random init), a local weight file (timm / DINO / DINOv2 format) or ``"hub"``
(see :mod:`spelke.features.registry`); ``stride`` None keeps the patch size (GWM passes 4).

Examples:
    >>> import torch
    >>> from spelke.models.backbones import BACKBONES
    >>> bb = BACKBONES.create("vit-dino-s8", stride=4, layers=(0, 1, 1, 1), depth=2, embed_dim=32, num_heads=2)
    >>> {k: tuple(v.shape) for k, v in bb(torch.rand(1, 3, 40, 56)).items()}["res5"], bb.out_strides["res2"]
    ((1, 32, 9, 13), 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from spelke.errors import ConfigError
from spelke.features.registry import create_feature_extractor
from spelke.features.vit import ViTFeatures
from spelke.models.backbones.base import Backbone, register_backbone

__all__ = ["ViTBackbone"]

GWM_LAYERS = (5, 7, 9, 11)
_FACET_DOC = "key facets of blocks 5, 7, 9, 11 as res2..res5, all at the patch-embedding stride"
_SPATIAL = ("token", "query", "key", "value")


class ViTBackbone(Backbone):
    """One facet of up to four ViT blocks as ``res2`` .. ``res5`` maps (the last layer is ``res5``).

    Args:
        extractor: the :class:`ViTFeatures` to read; its own normalisation is switched off because the
            backbone normalises (``Backbone.prepare``).
        layers: 1 to 4 block indices (0-based, negative from the end), shallow to deep.
        facet: ``key`` (GWM), ``query``, ``value`` or ``token``.
        normalize: apply the ImageNet mean / std to the [0, 1] inputs.
    """

    def __init__(
        self,
        extractor: ViTFeatures,
        layers: Sequence[int] = GWM_LAYERS,
        facet: str = "key",
        normalize: bool = True,
    ) -> None:
        super().__init__(normalize=normalize)
        if facet not in _SPATIAL:
            raise ConfigError(f"ViT backbone facet must be one of {', '.join(_SPATIAL)}, got {facet!r}")
        layers = tuple(int(i) for i in layers)
        if not 1 <= len(layers) <= 4:
            raise ConfigError(f"a ViT backbone returns 1 to 4 maps (res2..res5); got {len(layers)} layers")
        depth = extractor.depth
        bad = [i for i in layers if not -depth <= i < depth]
        if bad:
            k = len(layers)
            if depth >= 2 * k - 1:  # every other block, ending at the last (GWM's pattern)
                suggestion: tuple[int, ...] | None = tuple(depth - 1 - 2 * (k - 1 - j) for j in range(k))
            else:
                suggestion = tuple(range(depth - k, depth)) if depth >= k else None
            hint = f"; e.g. layers={suggestion}" if suggestion else ""
            raise ConfigError(
                f"layers {layers} are out of range for a ViT with {depth} blocks (0..{depth - 1}){hint}"
            )
        extractor.normalize = False
        self.extractor = extractor
        self.layers = tuple(extractor.layer_index(i) for i in layers)
        self.facet = facet
        self.names = tuple(f"res{i}" for i in range(6 - len(layers), 6))
        channels = extractor.channels(facet)
        self.out_channels = dict.fromkeys(self.names, channels)
        self.out_strides = dict.fromkeys(self.names, extractor.stride)

    @property
    def stride(self) -> int:
        """The patch-embedding stride (the stride of every returned map)."""
        return self.extractor.stride

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"res2": (B, C, h, w), ...}`` with ``(h, w) = ((H - p) // s + 1, (W - p) // s + 1)``."""
        maps = self.extractor(self.prepare(x), layers=self.layers, facets=self.facet)[self.facet]
        return dict(zip(self.names, maps, strict=True))


def _make(
    extractor_name: str,
    pretrained: str | None,
    stride: int | None,
    layers: Sequence[int],
    facet: str,
    timm_kwargs: dict[str, Any],
) -> ViTBackbone:
    extractor = create_feature_extractor(extractor_name, weights=pretrained, stride=stride, **timm_kwargs)
    return ViTBackbone(extractor, layers=layers, facet=facet).train()


def _register(name: str, extractor_name: str, what: str) -> None:
    def factory(
        pretrained: str | None = None,
        stride: int | None = None,
        layers: Sequence[int] = GWM_LAYERS,
        facet: str = "key",
        **timm_kwargs: Any,
    ) -> ViTBackbone:
        return _make(extractor_name, pretrained, stride, layers, facet, timm_kwargs)

    factory.__name__ = name.replace("-", "_")
    factory.__doc__ = f"{what}: {_FACET_DOC}"
    summary = f"{what} ({extractor_name}); {_FACET_DOC}"
    register_backbone(name, summary=summary, extractor=extractor_name)(factory)


_register("vit-dino-s8", "dino-vits8", "DINO ViT-S/8")
_register("vit-dino-b8", "dino-vitb8", "DINO ViT-B/8 (GWM: stride=4)")
_register("vit-dino-s16", "dino-vits16", "DINO ViT-S/16")
_register("vit-dino-b16", "dino-vitb16", "DINO ViT-B/16")
_register("vit-dinov2-s14", "dinov2-vits14", "DINOv2 ViT-S/14")
_register("vit-dinov2-b14", "dinov2-vitb14", "DINOv2 ViT-B/14")
