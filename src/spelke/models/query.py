"""Query segmenters: MaskFormer (GWM) and Mask2Former with masked attention (PPMP).

K learned queries attend to image features; each query's mask embedding, dotted with per-pixel mask
features, gives one of the K mask logits. The logits are used directly as the K component logits
(GWM's ``pred_masks``, thesis App. C.1; PPMP: "transformer queries = slots", D.3); no class head.
Written from the papers (Cheng et al. 2021, 2022) and detectron2's descriptions:

- **backbone** from :mod:`spelke.models.backbones` (ResNet, Swin, ``sacnn``, ViT), maps ``res2..res5``;
- **pixel decoder** (:class:`PixelDecoder`): MaskFormer's FPN (lateral 1x1 conv + GroupNorm, top-down
  nearest upsampling and sum, 3x3 conv + GroupNorm + ReLU per level). Maps that share one stride (a ViT
  with stride-4 patches, ``sacnn``) are fused the same way with no upsampling. GWM appends
  ``[Conv(3), UpsampleNN(2), Conv(1)] x extra_upsampling`` (thesis App. C.1) before the final 3x3
  mask-feature convolution;
- **transformer decoder** (hidden 256, 8 heads, FFN 2048, post-norm): cross-attention of the queries to
  the memory (+ 2-D sine positional encodings and a learned embedding per level), self-attention, FFN.
  MaskFormer layout (``masked_attention=False``): self-attention first, queries start at zero, memory
  = the backbone's coarsest map. Mask2Former layout (``masked_attention=True``): cross-attention first,
  learned query features, memory = the pixel decoder's three coarsest levels visited round-robin, and
  each cross-attention restricted to where the previous prediction's mask is on (sigmoid > 0.5 at that
  level's resolution; a query whose mask is empty everywhere attends everywhere,
  :func:`attention_mask_from_logits`);
- **mask embedding**: a 3-layer MLP on the normalised queries, dotted with the mask features; the logits
  are resized bilinearly to the input size when the mask features are at another resolution.

The normalised query vectors come back as ``ModelOutput.slots`` ``(B, K, hidden_dim)``.

Examples:
    >>> from spelke.models import create_segmenter
    >>> net = create_segmenter("mask2former", num_masks=3, backbone="sacnn", hidden_dim=32, dec_layers=2,
    ...                        heads=4, ffn_dim=64, conv_dim=32, mask_dim=32)
    >>> tuple(net(torch.rand(1, 3, 48, 64)).logits.shape)
    (1, 3, 48, 64)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke._options import as_bool, as_float, as_int
from spelke.engine.types import ModelOutput
from spelke.errors import ConfigError
from spelke.models.backbones.base import create_backbone, load_state_file
from spelke.models.registry import register_segmenter

__all__ = [
    "PixelDecoder",
    "QuerySegmenter",
    "attention_mask_from_logits",
    "sine_position_encoding",
]


def _group_norm(channels: int) -> nn.GroupNorm:
    """detectron2's "GN": 32 groups, or fewer when the width is not a multiple of 32 (small presets)."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


def _conv_gn(cin: int, cout: int, k: int, relu: bool) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
    nn.init.kaiming_uniform_(conv.weight, a=1)  # detectron2's c2_xavier_fill
    layers: list[nn.Module] = [conv, _group_norm(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class PixelDecoder(nn.Module):
    """MaskFormer's FPN pixel decoder, plus GWM's extra upsampling of the mask features.

    Levels are taken coarse to fine by (stride, name); the coarsest gets a 3x3 conv, each finer one a
    lateral 1x1 conv whose output is summed with the (nearest-)upsampled coarser result, then a 3x3
    conv. Upsampling goes to the finer map's exact size, so odd sizes and same-stride maps need nothing
    special (same-stride maps are simply summed level by level).

    Args:
        in_channels: channels of each backbone map, by name.
        in_strides: stride of each backbone map, by name.
        conv_dim: width of the FPN (256).
        mask_dim: channels of the mask features (256).
        extra_upsampling: number of ``[Conv3x3-GN-ReLU, UpsampleNN(2), Conv1x1-GN-ReLU]`` steps before the
            final 3x3 mask-feature conv (GWM: 2; MaskFormer / Mask2Former: 0).

    Returns (forward):
        ``(mask_features, levels)``: mask features ``(B, mask_dim, h, w)`` at the finest stride divided by
        ``2 ** extra_upsampling``, and the FPN output of every level, coarse to fine, ``(B, conv_dim, ., .)``.
    """

    def __init__(
        self,
        in_channels: dict[str, int],
        in_strides: dict[str, int],
        conv_dim: int = 256,
        mask_dim: int = 256,
        extra_upsampling: int = 0,
    ) -> None:
        super().__init__()
        fine_to_coarse = sorted(in_channels, key=lambda n: (in_strides[n], n))
        self.names = fine_to_coarse[::-1]  # coarse -> fine, the top-down order
        self.lateral = nn.ModuleDict()
        self.output = nn.ModuleDict()
        for i, name in enumerate(self.names):
            if i == 0:
                self.output[name] = _conv_gn(in_channels[name], conv_dim, 3, relu=True)
            else:
                self.lateral[name] = _conv_gn(in_channels[name], conv_dim, 1, relu=False)
                self.output[name] = _conv_gn(conv_dim, conv_dim, 3, relu=True)
        steps: list[nn.Module] = []
        for _ in range(extra_upsampling):  # GWM, thesis App. C.1: [Conv(3), UpsampleNN(2), Conv(1)] x 2
            steps += [
                _conv_gn(conv_dim, conv_dim, 3, relu=True),
                nn.Upsample(scale_factor=2, mode="nearest"),
                _conv_gn(conv_dim, conv_dim, 1, relu=True),
            ]
        self.upsample = nn.Sequential(*steps)
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, 3, padding=1)
        nn.init.kaiming_uniform_(self.mask_features.weight, a=1)
        nn.init.zeros_(self.mask_features.bias)
        self.extra_upsampling = extra_upsampling

    def forward(self, features: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        levels = []
        y = None
        for name in self.names:
            x = features[name]
            if y is None:
                y = self.output[name](x)
            else:
                lat = self.lateral[name](x)
                if y.shape[-2:] != lat.shape[-2:]:
                    y = F.interpolate(y, size=lat.shape[-2:], mode="nearest")
                y = self.output[name](lat + y)
            levels.append(y)
        assert y is not None
        return self.mask_features(self.upsample(y)), levels


def sine_position_encoding(
    h: int, w: int, dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """DETR's normalised 2-D sine encoding, ``(h * w, dim)``: first half y, second half x.

    Coordinates ``1..h`` (and ``1..w``) are scaled to ``(0, 2 pi]``; each half holds ``dim / 4`` sines then
    ``dim / 4`` cosines at frequencies ``10000 ** (-4 i / dim)``. ``dim`` must be a multiple of 4.
    """
    if dim % 4:
        raise ConfigError(f"the sine position encoding needs a width divisible by 4, got {dim}")
    n = dim // 4
    freq = 10000.0 ** (-torch.arange(n, device=device, dtype=torch.float32) / n)
    ys = torch.arange(1, h + 1, device=device, dtype=torch.float32) / h * 2 * math.pi
    xs = torch.arange(1, w + 1, device=device, dtype=torch.float32) / w * 2 * math.pi
    ey = torch.cat([torch.sin(ys[:, None] * freq), torch.cos(ys[:, None] * freq)], dim=1)  # (h, dim/2)
    ex = torch.cat([torch.sin(xs[:, None] * freq), torch.cos(xs[:, None] * freq)], dim=1)  # (w, dim/2)
    pos = torch.cat([ey[:, None].expand(h, w, 2 * n), ex[None].expand(h, w, 2 * n)], dim=-1)
    return pos.reshape(h * w, dim).to(dtype)


def attention_mask_from_logits(
    mask_logits: torch.Tensor, size: tuple[int, int], heads: int, threshold: float = 0.5
) -> torch.Tensor:
    """Mask2Former's masked-attention mask from the previous layer's mask logits.

    The logits ``(B, K, H, W)`` are resized bilinearly to the memory level's ``size``; a query may attend
    to a position where ``sigmoid(logit) > threshold`` (Mask2Former keeps ``>= 0.5``, the same up to ties).
    A query that would see no position at all attends everywhere instead (Mask2Former's fallback, which
    also keeps the softmax finite). The mask is detached: no gradient flows through it.

    Args:
        mask_logits: ``(B, K, H, W)``.
        size: ``(h, w)`` of the memory level.
        heads: number of attention heads (the mask is repeated per head).
        threshold: probability a position must exceed to stay visible.

    Returns:
        bool ``(B * heads, K, h * w)``, True where attention is **blocked** (``nn.MultiheadAttention``'s
        convention), batch-major (index ``b * heads + head``).
    """
    b, k = check_shape(mask_logits, ["B", "K", "H", "W"], "mask logits")["B"], mask_logits.shape[1]
    m = F.interpolate(mask_logits.detach(), size=size, mode="bilinear", align_corners=False)
    blocked = m.sigmoid().flatten(2) <= threshold
    blocked &= ~blocked.all(dim=-1, keepdim=True)
    return blocked[:, None].expand(b, heads, k, blocked.shape[-1]).reshape(b * heads, k, -1)


class _AttentionBlock(nn.Module):
    """Multi-head attention, dropout, residual, LayerNorm (post-norm, as DETR / MaskFormer)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor,
        pos_q: torch.Tensor,
        pos_k: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.attn(x + pos_q, kv + pos_k, kv, attn_mask=attn_mask, need_weights=False)[0]
        return self.norm(x + self.drop(out))


class _FFNBlock(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(ffn_dim, dim)
        )
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(self.net(x)))


class DecoderLayer(nn.Module):
    """One decoder layer: self-attention, cross-attention, FFN (MaskFormer), or cross first (Mask2Former)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float, cross_first: bool) -> None:
        super().__init__()
        self.cross_first = cross_first
        self.self_attn = _AttentionBlock(dim, heads, dropout)
        self.cross_attn = _AttentionBlock(dim, heads, dropout)
        self.ffn = _FFNBlock(dim, ffn_dim, dropout)

    def forward(
        self,
        q: torch.Tensor,
        qpos: torch.Tensor,
        memory: torch.Tensor,
        pos: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Queries ``(B, K, D)`` with positions ``qpos``; memory ``(B, S, D)`` with positions ``pos``."""
        if self.cross_first:
            q = self.cross_attn(q, memory, qpos, pos, attn_mask)
            q = self.self_attn(q, q, qpos, qpos)
        else:
            q = self.self_attn(q, q, qpos, qpos)
            q = self.cross_attn(q, memory, qpos, pos, attn_mask)
        return self.ffn(q)


class QuerySegmenter(nn.Module):
    """Backbone + pixel decoder + K-query transformer decoder -> K mask logits (see the module docstring).

    Args:
        backbone: a :class:`~spelke.models.backbones.Backbone` (maps ``res2..res5`` with ``out_channels``
            and ``out_strides``; it normalises the [0, 1] input itself).
        num_masks: K, the number of queries = output components.
        hidden_dim: transformer width (256).
        dec_layers: decoder layers (MaskFormer 6; Mask2Former 9).
        heads: attention heads (8).
        ffn_dim: FFN width (2048).
        dropout: dropout in the decoder (MaskFormer 0.1; Mask2Former 0.0).
        conv_dim: pixel-decoder width (256).
        mask_dim: mask-feature and mask-embedding width (256).
        extra_upsampling: GWM's extra ``x2`` steps in the pixel decoder (GWM 2; Mask2Former 0).
        masked_attention: Mask2Former's layout and masked attention (see the module docstring). The
            attribute of the same name can be switched off later to ablate the mask alone.
        memory: ``"backbone"`` (MaskFormer: the backbone's coarsest maps, 1x1-projected) or
            ``"pixel_decoder"`` (Mask2Former: the FPN's coarsest levels); None picks by layout.
        memory_levels: how many of the coarsest maps form the memory (None: 1 for MaskFormer, 3 for
            Mask2Former); layer ``i`` attends to level ``i % memory_levels``.
        mask_threshold: probability above which a position stays visible in masked attention (0.5).
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_masks: int = 4,
        hidden_dim: int = 256,
        dec_layers: int = 6,
        heads: int = 8,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        conv_dim: int = 256,
        mask_dim: int = 256,
        extra_upsampling: int = 2,
        masked_attention: bool = False,
        memory: str | None = None,
        memory_levels: int | None = None,
        mask_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        if hidden_dim % heads:
            raise ConfigError(f"hidden_dim ({hidden_dim}) must be a multiple of heads ({heads})")
        if hidden_dim % 4:
            raise ConfigError(
                f"hidden_dim must be a multiple of 4 (sine position encoding), got {hidden_dim}"
            )
        for attr in ("out_channels", "out_strides"):
            if not isinstance(getattr(backbone, attr, None), dict):
                raise ConfigError(
                    f"the backbone {type(backbone).__name__} lacks the {attr} dict of a Backbone"
                )
        self.backbone = backbone
        self.num_masks, self.heads = num_masks, heads
        self.layout = "mask2former" if masked_attention else "maskformer"
        self.masked_attention = masked_attention
        self.mask_threshold = mask_threshold
        self.pixel_decoder = PixelDecoder(
            backbone.out_channels, backbone.out_strides, conv_dim, mask_dim, extra_upsampling
        )
        memory = memory or ("pixel_decoder" if masked_attention else "backbone")
        if memory not in ("backbone", "pixel_decoder"):
            raise ConfigError(f"memory must be 'backbone' or 'pixel_decoder', got {memory!r}")
        available = len(self.pixel_decoder.names)
        if memory_levels is None:
            memory_levels = min(3, available) if masked_attention else 1
        if not 1 <= memory_levels <= available:
            raise ConfigError(
                f"memory_levels must be between 1 and the backbone's {available} maps, got {memory_levels}"
            )
        self.memory, self.memory_names = memory, self.pixel_decoder.names[:memory_levels]
        in_dims = [backbone.out_channels[n] if memory == "backbone" else conv_dim for n in self.memory_names]
        self.input_proj = nn.ModuleList(
            nn.Identity() if c == hidden_dim else nn.Conv2d(c, hidden_dim, 1) for c in in_dims
        )
        for proj in self.input_proj:
            if isinstance(proj, nn.Conv2d):
                nn.init.kaiming_uniform_(proj.weight, a=1)
                nn.init.zeros_(proj.bias)
        self.level_embed = nn.Parameter(torch.zeros(memory_levels, hidden_dim))
        nn.init.normal_(self.level_embed)
        self.query_embed = nn.Embedding(num_masks, hidden_dim)  # learned query positions
        # MaskFormer starts the queries from zero; Mask2Former learns their initial features.
        self.query_feat = nn.Embedding(num_masks, hidden_dim) if self.layout == "mask2former" else None
        self.layers = nn.ModuleList(
            DecoderLayer(hidden_dim, heads, ffn_dim, dropout, cross_first=self.layout == "mask2former")
            for _ in range(dec_layers)
        )
        for layer in self.layers:
            for p in layer.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        self.decoder_norm = nn.LayerNorm(hidden_dim)
        self.mask_embed = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, mask_dim),
        )

    def _memory(self, features: dict[str, torch.Tensor], levels: list[torch.Tensor]) -> list[tuple]:
        maps = [features[n] for n in self.memory_names] if self.memory == "backbone" else levels
        out = []
        for i, (m, proj) in enumerate(zip(maps, self.input_proj, strict=False)):
            src = proj(m)
            h, w = src.shape[-2:]
            pos = sine_position_encoding(h, w, src.shape[1], src.device, src.dtype)[None]
            out.append((src.flatten(2).transpose(1, 2) + self.level_embed[i], pos, (h, w)))
        return out

    def _predict(self, q: torch.Tensor, mask_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        slots = self.decoder_norm(q)
        logits = torch.einsum("bkc,bchw->bkhw", self.mask_embed(slots), mask_features)
        return slots, logits

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Mask logits ``(B, K, H, W)`` (at the input size) for images ``(B, 3, H, W)`` in [0, 1]."""
        b = check_shape(x, ["B", "3", "H", "W"], "query segmenter input")["B"]
        features = self.backbone(x)
        mask_features, levels = self.pixel_decoder(features)
        memory = self._memory(features, levels)
        qpos = self.query_embed.weight[None].expand(b, -1, -1)
        if self.query_feat is not None:
            q = self.query_feat.weight[None].expand(b, -1, -1)
        else:
            q = torch.zeros_like(qpos)
        logits = None
        if self.masked_attention:
            logits = self._predict(q, mask_features)[1]
        for i, layer in enumerate(self.layers):
            src, pos, size = memory[i % len(memory)]
            attn_mask = None
            if self.masked_attention:
                assert logits is not None
                attn_mask = attention_mask_from_logits(logits, size, self.heads, self.mask_threshold)
            q = layer(q, qpos, src, pos, attn_mask)
            if self.masked_attention or i == len(self.layers) - 1:
                slots, logits = self._predict(q, mask_features)
        if not self.layers:
            slots, logits = self._predict(q, mask_features)
        assert logits is not None
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return ModelOutput(logits=logits, slots=slots)


def _build(
    what: str,
    num_masks: Any,
    backbone: str | nn.Module,
    backbone_options: dict[str, Any] | None,
    hidden_dim: Any,
    dec_layers: Any,
    heads: Any,
    ffn_dim: Any,
    dropout: Any,
    conv_dim: Any,
    mask_dim: Any,
    extra_upsampling: Any,
    masked_attention: Any,
    memory: str | None,
    memory_levels: Any,
    mask_threshold: Any,
    pretrained: str | Path | None,
) -> QuerySegmenter:
    if isinstance(backbone, str):
        net = create_backbone(backbone, **dict(backbone_options or {}))
    elif isinstance(backbone, nn.Module):
        if backbone_options:
            raise ConfigError(
                "backbone_options apply to a backbone given by name, not to a backbone instance"
            )
        net = backbone
    else:
        raise ConfigError(f"backbone must be a registered name or a Backbone, got {type(backbone).__name__}")
    model = QuerySegmenter(
        net,
        num_masks=as_int(num_masks, "num_masks", minimum=1),
        hidden_dim=as_int(hidden_dim, "hidden_dim", minimum=4),
        dec_layers=as_int(dec_layers, "dec_layers", minimum=1),
        heads=as_int(heads, "heads", minimum=1),
        ffn_dim=as_int(ffn_dim, "ffn_dim", minimum=1),
        dropout=as_float(dropout, "dropout", minimum=0.0),
        conv_dim=as_int(conv_dim, "conv_dim", minimum=1),
        mask_dim=as_int(mask_dim, "mask_dim", minimum=1),
        extra_upsampling=as_int(extra_upsampling, "extra_upsampling", minimum=0),
        masked_attention=as_bool(masked_attention, "masked_attention"),
        memory=memory,
        memory_levels=as_int(memory_levels, "memory_levels", minimum=1, allow_none=True),
        mask_threshold=as_float(mask_threshold, "mask_threshold", minimum=0.0),
    )
    if pretrained is not None:
        load_state_file(model, pretrained, what=f"segmenter {what}")
    return model


@register_segmenter("query", aliases=("maskformer",))
def query(
    num_masks: Any = 4,
    backbone: str | nn.Module = "resnet18",
    backbone_options: dict[str, Any] | None = None,
    hidden_dim: Any = 256,
    dec_layers: Any = 6,
    heads: Any = 8,
    ffn_dim: Any = 2048,
    dropout: Any = 0.1,
    conv_dim: Any = 256,
    mask_dim: Any = 256,
    extra_upsampling: Any = 2,
    masked_attention: Any = False,
    memory: str | None = None,
    memory_levels: Any = None,
    mask_threshold: Any = 0.5,
    pretrained: str | Path | None = None,
) -> QuerySegmenter:
    """MaskFormer query segmenter as in GWM: K query masks as logits, extra x2 upsampling x2."""
    return _build(
        "query",
        num_masks,
        backbone,
        backbone_options,
        hidden_dim,
        dec_layers,
        heads,
        ffn_dim,
        dropout,
        conv_dim,
        mask_dim,
        extra_upsampling,
        masked_attention,
        memory,
        memory_levels,
        mask_threshold,
        pretrained,
    )


@register_segmenter("mask2former")
def mask2former(
    num_masks: Any = 4,
    backbone: str | nn.Module = "resnet18",
    backbone_options: dict[str, Any] | None = None,
    hidden_dim: Any = 256,
    dec_layers: Any = 9,
    heads: Any = 8,
    ffn_dim: Any = 2048,
    dropout: Any = 0.0,
    conv_dim: Any = 256,
    mask_dim: Any = 256,
    extra_upsampling: Any = 0,
    masked_attention: Any = True,
    memory: str | None = None,
    memory_levels: Any = None,
    mask_threshold: Any = 0.5,
    pretrained: str | Path | None = None,
) -> QuerySegmenter:
    """Mask2Former query segmenter as in PPMP: masked attention, multi-scale memory, 9 layers."""
    return _build(
        "mask2former",
        num_masks,
        backbone,
        backbone_options,
        hidden_dim,
        dec_layers,
        heads,
        ffn_dim,
        dropout,
        conv_dim,
        mask_dim,
        extra_upsampling,
        masked_attention,
        memory,
        memory_levels,
        mask_threshold,
        pretrained,
    )
