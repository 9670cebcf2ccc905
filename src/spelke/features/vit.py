"""Dense features of self-supervised ViTs (DINO, DINOv2) from timm: tokens, q/k/v facets, attention, CLS.

:class:`ViTFeatures` wraps a timm ``VisionTransformer`` without changing it and runs its own forward pass:

1. images in [0, 1] are normalised with the ImageNet mean and standard deviation;
2. the patch embedding (the model's own conv weights) runs at ``stride`` ``s`` <= patch size ``p``:
   overlapping patches when ``s < p`` (Amir et al. 2021, "Deep ViT Features as Dense Visual Descriptors";
   GWM uses DINO ViT-B/8 at stride 4). The token grid of an ``H x W`` image is
   ``((H - p) // s + 1, (W - p) // s + 1)``; the right and bottom border pixels that do not fill a whole
   patch are not seen, as in the reference;
3. the learned positional embedding (a grid of ``img_size / p`` positions) is interpolated to that token
   grid (bicubic; left unchanged when the grids agree), so any input size and stride work;
4. the blocks run up to the deepest requested one; forward hooks on ``blocks[i].attn.qkv`` capture the
   block's own query/key/value projection of its normed input, so the facets are exactly what the
   attention used.

Facets (per requested block, 0-based, negative counts from the end):

* ``token``: the block's output tokens, ``(B, D, h, w)`` (before the model's final norm);
* ``query`` / ``key`` / ``value``: ``(B, heads * head_dim, h, w)``, heads concatenated
  (``qkv_layout="heads"``: channel ``head * head_dim + d``; ``"dims"``: ``d * heads + head``, the
  order of dino-vit-features);
* ``attn``: attention probabilities ``(B, heads, T, T)`` over all ``T = prefix + h * w`` tokens, prefix
  first (CLS, then registers); rows sum to 1 (softmax over keys);
* ``cls``: the block's output CLS token, ``(B, D)``.

Examples:
    >>> import torch
    >>> from spelke.features import create_feature_extractor
    >>> ext = create_feature_extractor("dino-vits8", stride=4, depth=2, embed_dim=32, num_heads=2)
    >>> out = ext(torch.rand(1, 3, 40, 56), layers=[-1], facets=["key", "attn"])
    >>> tuple(out["key"][0].shape), tuple(out["attn"][0].shape)
    ((1, 32, 9, 13), (1, 2, 118, 118))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spelke._options import as_bool, as_int
from spelke.errors import ConfigError, DataLayoutError, ShapeError, missing_dependency

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as _e:  # pragma: no cover - exercised only without the torch extra
    raise missing_dependency("torch", "torch", "ViT features (spelke.features)") from _e

if TYPE_CHECKING:
    from spelke.features.registry import ViTSpec
    from spelke.features.weights import WeightReport

__all__ = [
    "FACETS",
    "ViTFeatures",
    "build_vit_features",
    "dense_features",
    "resample_pos_embed",
    "token_grid",
]

#: Facets a :class:`ViTFeatures` returns; all but ``attn`` and ``cls`` are spatial maps (B, C, h, w).
FACETS = ("token", "query", "key", "value", "attn", "cls")
_QKV = ("query", "key", "value")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POS_EMBED_MODES = ("dino", "timm")


def token_grid(height: int, width: int, patch: int, stride: int) -> tuple[int, int]:
    """Token grid of an ``height x width`` image cut into ``patch``-pixel patches every ``stride`` pixels.

    Examples:
        >>> token_grid(224, 224, 8, 8), token_grid(224, 224, 8, 4), token_grid(128, 224, 8, 4)
        ((28, 28), (55, 55), (31, 55))
    """
    return (height - patch) // stride + 1, (width - patch) // stride + 1


def resample_pos_embed(
    pos: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    mode: str = "dino",
    interpolation: str = "bicubic",
) -> torch.Tensor:
    """Interpolate patch positional embeddings ``(1, old_h * old_w, C)`` to ``(1, new_h * new_w, C)``.

    Args:
        pos: the patch positions only (no CLS / register entries), row-major over the grid.
        old_grid: the grid the embedding was learned for, ``(rows, cols)``.
        new_grid: the token grid to interpolate to.
        mode: ``"dino"``: DINO's, DINOv2's and dino-vit-features' call, a scale factor of
            ``(new + 0.1) / old`` (the 0.1 guards the floor of the output size) with
            ``recompute_scale_factor=False`` and no antialiasing; ``"timm"``: timm's
            ``resample_abs_pos_embed``, an output size with antialiasing. The two sample at slightly
            different positions (docs/fidelity.md, "Features").
        interpolation: ``torch.nn.functional.interpolate`` mode (``"bicubic"`` in all references).

    Returns:
        ``pos`` itself when the grids agree, else the interpolated embedding in ``pos``'s dtype.
    """
    old_h, old_w = (int(v) for v in old_grid)
    new_h, new_w = (int(v) for v in new_grid)
    if pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] != old_h * old_w:
        raise ShapeError(
            f"positional embedding must have shape (1, {old_h * old_w}, C) for a {old_h}x{old_w} grid, "
            f"got {tuple(pos.shape)}"
        )
    if (new_h, new_w) == (old_h, old_w):
        return pos
    if mode not in POS_EMBED_MODES:
        raise ConfigError(f"pos_embed_mode must be one of {', '.join(POS_EMBED_MODES)}, got {mode!r}")
    dim = pos.shape[-1]
    grid = pos.float().reshape(1, old_h, old_w, dim).permute(0, 3, 1, 2)
    if mode == "dino":
        out = F.interpolate(
            grid,
            scale_factor=((new_h + 0.1) / old_h, (new_w + 0.1) / old_w),
            mode=interpolation,
            align_corners=False if interpolation in ("bilinear", "bicubic") else None,
            recompute_scale_factor=False,
        )
    else:
        out = F.interpolate(
            grid,
            size=(new_h, new_w),
            mode=interpolation,
            align_corners=False if interpolation in ("bilinear", "bicubic") else None,
            antialias=interpolation in ("bilinear", "bicubic"),
        )
    if tuple(out.shape[-2:]) != (new_h, new_w):  # pragma: no cover - guarded by the +0.1
        raise ShapeError(
            f"interpolated positional grid is {tuple(out.shape[-2:])}, expected {(new_h, new_w)}"
        )
    return out.permute(0, 2, 3, 1).reshape(1, new_h * new_w, dim).to(pos.dtype)


class ViTFeatures(nn.Module):
    """Facets of chosen blocks of a timm ``VisionTransformer``, as spatial maps (module docstring).

    Args:
        model: a timm ``VisionTransformer`` whose blocks have ``attn.qkv`` (every DINO / DINOv2 model).
        stride: patch-embedding stride in pixels; None keeps the patch size.
        normalize: apply the ImageNet mean / std to the [0, 1] inputs (set False if done upstream).
        pos_embed_mode: ``"dino"`` (default) or ``"timm"``, see :func:`resample_pos_embed`.
        pos_embed_interpolation: interpolation of the positional embedding (``"bicubic"``).
        qkv_layout: channel order of q/k/v maps: ``"heads"`` (head-major, timm's qkv layout) or ``"dims"``.

    Attributes:
        model: the wrapped timm model (never modified by this class, except by weight loading).
        patch_size, embed_dim, num_heads, head_dim, depth, num_prefix_tokens: read from ``model``.
        weights: where the weights came from (``None`` = random init), set by the factories.
        weights_report: the :class:`spelke.features.weights.WeightReport` of a loaded file, if any.
    """

    def __init__(
        self,
        model: nn.Module,
        stride: int | None = None,
        normalize: bool = True,
        pos_embed_mode: str = "dino",
        pos_embed_interpolation: str = "bicubic",
        qkv_layout: str = "heads",
    ) -> None:
        super().__init__()
        proj = getattr(getattr(model, "patch_embed", None), "proj", None)
        blocks = getattr(model, "blocks", None)
        if not isinstance(proj, nn.Conv2d) or blocks is None or len(blocks) == 0:
            raise ConfigError(
                f"ViTFeatures needs a timm VisionTransformer (patch_embed.proj conv and blocks), "
                f"got {type(model).__name__}"
            )
        for i, blk in enumerate(blocks):
            if not isinstance(getattr(getattr(blk, "attn", None), "qkv", None), nn.Linear):
                raise ConfigError(
                    f"block {i} of {type(model).__name__} has no attn.qkv projection; ViTFeatures supports "
                    "timm ViTs with the standard Block/Attention (DINO, DINOv2)"
                )
        kh, kw = proj.kernel_size
        if kh != kw:
            raise ConfigError(f"ViTFeatures needs square patches, got {kh}x{kw}")
        if pos_embed_mode not in POS_EMBED_MODES:
            raise ConfigError(
                f"pos_embed_mode must be one of {', '.join(POS_EMBED_MODES)}, got {pos_embed_mode!r}"
            )
        if qkv_layout not in ("heads", "dims"):
            raise ConfigError(f"qkv_layout must be 'heads' or 'dims', got {qkv_layout!r}")
        self.model = model
        self.patch_size = int(kh)
        self.stride = self.patch_size if stride is None else stride
        self.normalize = as_bool(normalize, "normalize")
        self.pos_embed_mode = pos_embed_mode
        self.pos_embed_interpolation = pos_embed_interpolation
        self.qkv_layout = qkv_layout
        attn = blocks[0].attn
        self.num_heads = int(attn.num_heads)
        self.head_dim = int(attn.head_dim)
        self.embed_dim = int(proj.out_channels)
        self.depth = len(blocks)
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 1))
        self.weights: str | None = None
        self.weights_report: WeightReport | None = None
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    # -- geometry ---------------------------------------------------------------------------------------

    @property
    def stride(self) -> int:
        """Patch-embedding stride in pixels (= the patch size for non-overlapping patches)."""
        return self._stride

    @stride.setter
    def stride(self, value: int) -> None:
        s = as_int(value, "stride", minimum=1)
        if s > self.patch_size:
            raise ConfigError(
                f"stride must be between 1 and the patch size {self.patch_size} (overlapping patches), got {s}"
            )
        self._stride = s

    @property
    def native_grid(self) -> tuple[int, int]:
        """The token grid the positional embedding was learned for (e.g. 28x28 for a /8 model at 224)."""
        return tuple(int(v) for v in self.model.patch_embed.grid_size)  # type: ignore[return-value]

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """Token grid ``(h, w)`` of an ``height x width`` input at this extractor's stride."""
        return token_grid(height, width, self.patch_size, self.stride)

    def channels(self, facet: str) -> int:
        """Channels of a facet's maps (``token``/``cls``: embed dim; q/k/v: heads * head dim; attn: heads)."""
        self._check_facets([facet])
        if facet in _QKV:
            return self.num_heads * self.head_dim
        if facet == "attn":
            return self.num_heads
        return self.embed_dim

    def extra_repr(self) -> str:
        return (
            f"patch={self.patch_size}, stride={self.stride}, dim={self.embed_dim}, heads={self.num_heads}, "
            f"depth={self.depth}, pos_embed_mode={self.pos_embed_mode!r}"
        )

    # -- forward ----------------------------------------------------------------------------------------

    def _check_facets(self, facets: Sequence[str]) -> None:
        for f in facets:
            if f not in FACETS:
                raise ConfigError(f"unknown ViT facet {f!r}; choose from {', '.join(FACETS)}")
            if f == "cls" and getattr(self.model, "cls_token", None) is None:
                raise ConfigError("this ViT has no class token, so it has no 'cls' facet")

    def layer_index(self, layer: int) -> int:
        """The 0-based block index of ``layer`` (negative counts from the end); checks the range."""
        i = as_int(layer, "layer")
        j = i + self.depth if i < 0 else i
        if not 0 <= j < self.depth:
            raise ConfigError(
                f"layer {i} is out of range for a ViT with {self.depth} blocks; "
                f"use 0..{self.depth - 1} or -{self.depth}..-1"
            )
        return j

    def _pos_embed(self, grid: tuple[int, int]) -> torch.Tensor | None:
        pos = getattr(self.model, "pos_embed", None)
        if pos is None:
            return None
        n_prefix = 0 if getattr(self.model, "no_embed_class", False) else self.num_prefix_tokens
        patch_pos = resample_pos_embed(
            pos[:, n_prefix:], self.native_grid, grid, self.pos_embed_mode, self.pos_embed_interpolation
        )
        return torch.cat([pos[:, :n_prefix], patch_pos], dim=1) if n_prefix else patch_pos

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Tokens entering block 0, ``(B, prefix + h * w, D)``, and the token grid ``(h, w)``."""
        if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1] != 3:
            shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
            raise ShapeError(f"images must be a tensor of shape (B, 3, H, W) in [0, 1], got {shape}")
        if not images.is_floating_point():
            raise ShapeError(
                f"images must be float in [0, 1], got dtype {images.dtype}; divide uint8 images by 255"
            )
        height, width = images.shape[-2:]
        if height < self.patch_size or width < self.patch_size:
            raise ShapeError(
                f"images of shape {tuple(images.shape)} are smaller than one {self.patch_size}x"
                f"{self.patch_size} patch; resize them to at least (B, 3, {self.patch_size}, {self.patch_size})"
            )
        model = self.model
        x = (images - self._mean.to(images.dtype)) / self._std.to(images.dtype) if self.normalize else images
        proj = model.patch_embed.proj
        x = F.conv2d(
            x, proj.weight, proj.bias, stride=self.stride, padding=proj.padding, dilation=proj.dilation
        )
        grid = (int(x.shape[-2]), int(x.shape[-1]))
        x = model.patch_embed.norm(x.flatten(2).transpose(1, 2))
        prefix = [
            t.expand(x.shape[0], -1, -1)
            for t in (getattr(model, "cls_token", None), getattr(model, "reg_token", None))
            if t is not None
        ]
        pos = self._pos_embed(grid)
        if getattr(model, "no_embed_class", False):
            x = x if pos is None else x + pos.to(x.dtype)
            x = torch.cat([*prefix, x], dim=1) if prefix else x
        else:
            x = torch.cat([*prefix, x], dim=1) if prefix else x
            x = x if pos is None else x + pos.to(x.dtype)
        # timm's patch_drop is skipped on purpose: dropping tokens would break the spatial grid.
        x = model.pos_drop(x)
        return model.norm_pre(x), grid

    def _to_map(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, prefix + h*w, C) -> (B, C, h, w) over the patch tokens."""
        patches = tokens[:, self.num_prefix_tokens :]
        return patches.transpose(1, 2).reshape(tokens.shape[0], -1, *grid)

    def _qkv_facets(
        self, qkv_out: torch.Tensor, block: nn.Module, facets: Sequence[str], grid: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        b, t, _ = qkv_out.shape
        q, k, v = qkv_out.reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = block.attn.q_norm(q), block.attn.k_norm(k)  # identity for DINO / DINOv2 (no qk-norm)
        out: dict[str, torch.Tensor] = {}
        for name, z in zip(_QKV, (q, k, v), strict=True):
            if name in facets:  # z: (B, heads, T, head_dim)
                z = z[:, :, self.num_prefix_tokens :]
                z = z.permute(0, 1, 3, 2) if self.qkv_layout == "heads" else z.permute(0, 3, 1, 2)
                out[name] = z.reshape(b, self.num_heads * self.head_dim, *grid)
        if "attn" in facets:
            scale = getattr(block.attn, "scale", self.head_dim**-0.5)
            out["attn"] = ((q * scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return out

    def forward(
        self,
        images: torch.Tensor,
        layers: int | Sequence[int] = -1,
        facets: str | Sequence[str] = "key",
    ) -> dict[str, list[torch.Tensor]]:
        """Facets of the requested blocks.

        Args:
            images: ``(B, 3, H, W)`` float in [0, 1] (or already normalised with ``normalize=False``).
            layers: block indices, 0-based, negative from the end (GWM: ``(5, 7, 9, 11)``).
            facets: one or more of :data:`FACETS`.

        Returns:
            ``{facet: [tensor per layer, in the order of layers]}``; spatial facets are ``(B, C, h, w)``
            with ``(h, w) = self.grid_size(H, W)``, ``attn`` is ``(B, heads, T, T)``, ``cls`` is ``(B, D)``.
        """
        layer_list = [layers] if isinstance(layers, int) else list(layers)
        facet_list = [facets] if isinstance(facets, str) else list(facets)
        if not layer_list or not facet_list:
            raise ConfigError("ask for at least one layer and one facet")
        self._check_facets(facet_list)
        index = [self.layer_index(layer) for layer in layer_list]
        wanted = set(index)
        need_qkv = any(f in facet_list for f in (*_QKV, "attn"))
        x, grid = self.embed(images)
        captured: dict[int, torch.Tensor] = {}
        handles = []
        if need_qkv:
            for i in wanted:

                def hook(_module, _inputs, output, i=i):
                    captured[i] = output

                handles.append(self.model.blocks[i].attn.qkv.register_forward_hook(hook))
        per_layer: dict[int, dict[str, torch.Tensor]] = {}
        try:
            for i in range(max(index) + 1):
                block = self.model.blocks[i]
                x = block(x)
                if i not in wanted:
                    continue
                got: dict[str, torch.Tensor] = {}
                if need_qkv:
                    got.update(self._qkv_facets(captured.pop(i), block, facet_list, grid))
                if "token" in facet_list:
                    got["token"] = self._to_map(x, grid)
                if "cls" in facet_list:
                    got["cls"] = x[:, 0]
                per_layer[i] = got
        finally:
            for h in handles:
                h.remove()
        return {f: [per_layer[i][f] for i in index] for f in facet_list}

    def extract(self, images: torch.Tensor, facet: str = "key", layer: int = -1) -> torch.Tensor:
        """One facet of one block (see :meth:`forward`)."""
        return self(images, layers=[layer], facets=[facet])[facet][0]


def dense_features(
    extractor: ViTFeatures,
    images: torch.Tensor,
    facet: str = "key",
    layer: int = -1,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Per-pixel features: one spatial facet, bilinearly upsampled to ``size`` (default: the input size).

    Used by GWM's K→2 spectral merge (thesis eq. (3.6)): DINO ViT-S/8 at stride 4, key facet of the last
    block, upsampled to the input resolution before the mask-weighted averages. Runs without gradients,
    on the extractor's device.

    Args:
        extractor: a :class:`ViTFeatures`.
        images: ``(B, 3, H, W)`` in [0, 1].
        facet: ``token``, ``query``, ``key`` or ``value``.
        layer: block index (negative from the end).
        size: output ``(H', W')``; None gives ``(H, W)``.

    Returns:
        ``(B, C, H', W')`` float features.
    """
    if facet not in ("token", *_QKV):
        raise ConfigError(f"dense_features needs a spatial facet (token, query, key, value), got {facet!r}")
    if not torch.is_tensor(images) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ShapeError(f"images must be a tensor of shape (B, 3, H, W) in [0, 1], got {shape}")
    out_size = tuple(images.shape[-2:]) if size is None else (int(size[0]), int(size[1]))
    device = extractor._mean.device
    with torch.no_grad():
        feats = extractor.extract(images.to(device), facet=facet, layer=layer)
        return F.interpolate(feats, size=out_size, mode="bilinear", align_corners=False)


# -- construction from the registry ---------------------------------------------------------------------

_FEATURE_OPTIONS = ("normalize", "pos_embed_mode", "pos_embed_interpolation", "qkv_layout")
_RANDOM = ("", "none", "random")
_HUB = ("hub", "pretrained")


def _random_model(arch: str, timm_kwargs: dict[str, Any], seed: int) -> nn.Module:
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(arch, pretrained=False, **timm_kwargs)


def _in_hf_cache(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - timm depends on huggingface_hub
        return False
    for filename in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(repo, filename), str):
            return True
    return False


def _hub_model(
    spec: ViTSpec, hub_id: str | None, timm_kwargs: dict[str, Any], seed: int, strict: bool
) -> tuple[nn.Module, str, WeightReport | None]:
    """The model with pretrained weights: spelke's weights dir, the HF cache, or (online) the hub."""
    import timm

    from spelke.features.registry import offline_reason, weights_dir
    from spelke.features.weights import load_vit_weights

    local = weights_dir() / f"{spec.name}.pth"
    if hub_id is None:
        if local.is_file():
            model = _random_model(spec.arch, timm_kwargs, seed)
            return model, str(local), load_vit_weights(model, local, strict=strict)
        repo = spec.hub_id
    else:
        repo = hub_id.removeprefix("hf-hub:")
    offline = offline_reason()
    if offline and not _in_hf_cache(repo):
        try:
            url = timm.models.get_pretrained_cfg(f"{spec.arch}.{spec.tag}").url
        except Exception:  # pragma: no cover - every built-in tag exists in timm
            url = None
        source = f"the original checkpoint ({url})" if url else "a checkpoint of this architecture"
        raise DataLayoutError(
            f"pretrained weights for feature extractor '{spec.name}' ({repo}) are not on this machine and "
            f"{offline} is set, so nothing is downloaded: put {source} at {local} (or set $SPELKE_WEIGHTS), "
            f"pass weights=/path/to/file.pth, or unset {offline} to download {repo} from the Hugging Face hub"
        )
    try:
        model = timm.create_model(
            f"{spec.arch}.{spec.tag}",
            pretrained=True,
            pretrained_cfg_overlay={"hf_hub_id": repo},
            **timm_kwargs,
        )
    except Exception as e:
        raise DataLayoutError(
            f"could not load {repo} for feature extractor '{spec.name}' ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); put a weight file at {local} or pass weights=PATH"
        ) from None
    return model, f"hf-hub:{repo}", None


def build_vit_features(
    spec: ViTSpec, weights: Any = None, stride: int | None = None, **options: Any
) -> ViTFeatures:
    """Build a registered extractor (used by :func:`spelke.features.create_feature_extractor`)."""
    from spelke.features.weights import load_vit_weights

    feature_kwargs = {k: options.pop(k) for k in _FEATURE_OPTIONS if k in options}
    seed = as_int(options.pop("seed", 0), "seed")
    strict = as_bool(options.pop("strict", True), "strict")
    checkpoint_key = options.pop("checkpoint_key", None)
    if options.pop("pretrained", None) is not None:
        raise ConfigError("pass pretrained weights as weights=PATH or weights='hub', not pretrained=")
    timm_kwargs = {**spec.timm_kwargs, **options, "num_classes": 0}
    report = None
    if weights is not None and not isinstance(weights, str | os.PathLike):
        raise ConfigError(
            f"weights must be None, a file path, 'hub' or a hub id, got a {type(weights).__name__}"
        )
    text = None if weights is None else os.fspath(weights).strip()
    if text is None or text.lower() in _RANDOM:
        model, source = _random_model(spec.arch, timm_kwargs, seed), None
    elif text.lower() in _HUB or (
        text.startswith(("hf-hub:", "timm/")) and not Path(text).expanduser().is_file()
    ):
        hub_id = None if text.lower() in _HUB else text
        model, source, report = _hub_model(spec, hub_id, timm_kwargs, seed, strict)
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise DataLayoutError(
                f"weight file {path} for feature extractor '{spec.name}' does not exist; pass an existing "
                "file (timm, DINO or DINOv2 format), weights='hub', or weights=None for random weights"
            )
        model = _random_model(spec.arch, timm_kwargs, seed)
        report = load_vit_weights(model, path, strict=strict, checkpoint_key=checkpoint_key)
        source = str(path)
    extractor = ViTFeatures(model, stride=stride, **feature_kwargs)
    extractor.weights = source
    extractor.weights_report = report
    return extractor.eval()
