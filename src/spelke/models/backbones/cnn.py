"""Convolutional and Swin backbones: ResNet-18/34/50 (torchvision), Swin-tiny (timm) and PPMP's ``sacnn``.

Every backbone takes images ``(B, 3, H, W)`` in [0, 1] (ImageNet mean/std applied inside) and returns
``{"res2": ..., "res5": ...}`` (see :mod:`spelke.models.backbones.base`). Weights are random unless
``pretrained`` names a local state-dict file; nothing here touches the network.

=============  ==========================================  ================================  ============
name           maps (channels)                             strides                           paper use
=============  ==========================================  ================================  ============
``resnet18``   64, 128, 256, 512                           4, 8, 16, 32                      PPMP KITTI
``resnet34``   64, 128, 256, 512                           4, 8, 16, 32                      —
``resnet50``   256, 512, 1024, 2048                        4, 8, 16, 32                      PPMP D.1a
``swin-tiny``  96, 192, 384, 768                           4, 8, 16, 32                      PPMP, GWM C.2
``sacnn``      32, 32, 64, 64                              2, 2, 2, 2 (``stride`` option)    PPMP synthetic
=============  ==========================================  ================================  ============

Examples:
    >>> from spelke.models.backbones import create_backbone
    >>> net = create_backbone("sacnn")
    >>> {k: tuple(v.shape) for k, v in net(torch.rand(1, 3, 32, 32)).items()}["res5"]
    (1, 64, 16, 16)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke._options import as_bool, as_float, as_int
from spelke.errors import ConfigError, missing_dependency
from spelke.models.backbones.base import Backbone, load_state_file, register_backbone

__all__ = ["ResNetBackbone", "SACNNBackbone", "SwinBackbone"]

_LEVELS = ("res2", "res3", "res4", "res5")


# --------------------------------------------------------------------------------------------- ResNet


class ResNetBackbone(Backbone):
    """A torchvision ResNet without its pooling and classifier; ``layer1..4`` give ``res2..res5``.

    Batch norm stays trainable (PPMP trains its ResNet-18 from scratch with torchvision's modules,
    ``resnet_tv.py``); freeze it yourself for fine-tuning with small batches.

    Args:
        depth: 18, 34 or 50.
        pretrained: a local file holding a torchvision-format ResNet state dict (e.g. torchvision's
            ``resnet18-f37072fd.pth``); its ``fc.*`` keys are ignored. None: random weights.
        normalize: apply the ImageNet mean/std to the [0, 1] input.
    """

    def __init__(self, depth: int = 18, pretrained: str | Path | None = None, normalize: bool = True) -> None:
        super().__init__(normalize=normalize)
        from torchvision.models import resnet

        builders = {18: resnet.resnet18, 34: resnet.resnet34, 50: resnet.resnet50}
        if depth not in builders:
            raise ConfigError(f"resnet depth must be one of 18, 34, 50, got {depth}")
        net = builders[depth](weights=None)
        # torchvision's attribute names, so that state dicts carry torchvision's keys (minus fc.*)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        if pretrained is not None:
            load_state_file(self, pretrained, what=f"backbone resnet{depth}", allow_unexpected=True)
        width = 4 if depth == 50 else 1
        self.out_channels = {k: c * width for k, c in zip(_LEVELS, (64, 128, 256, 512), strict=True)}
        self.out_strides = dict(zip(_LEVELS, (4, 8, 16, 32), strict=True))
        self.depth = depth

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_shape(x, ["B", "3", "H", "W"], f"resnet{self.depth} input")
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.prepare(x)))))
        out = {}
        for name, layer in zip(_LEVELS, (self.layer1, self.layer2, self.layer3, self.layer4), strict=True):
            x = layer(x)
            out[name] = x
        return out


def _resnet_factory(depth: int):
    def factory(pretrained: str | None = None, normalize: Any = True) -> ResNetBackbone:
        return ResNetBackbone(depth, pretrained=pretrained, normalize=as_bool(normalize, "normalize"))

    factory.__name__ = f"resnet{depth}"
    factory.__doc__ = f"ResNet-{depth} (torchvision), res2..res5 at strides 4..32; random or local weights."
    return factory


for _depth in (18, 34, 50):
    register_backbone(f"resnet{_depth}")(_resnet_factory(_depth))


# ----------------------------------------------------------------------------------------------- Swin


def _swin_convert(state: dict[str, torch.Tensor], backbone: nn.Module) -> dict[str, torch.Tensor]:
    """Map a file to :class:`SwinBackbone`'s keys: a backbone state dict passes; a timm, original Swin or
    MoBY checkpoint goes through timm's own filter, under ``model.``, without its classifier."""
    if any(k.startswith("model.") for k in state):
        return state
    from timm.models.swin_transformer import checkpoint_filter_fn

    if (
        "layers.0.downsample.reduction.weight" in state
        or "layers.0.blocks.0.attn.relative_position_index" in state
    ):
        state = checkpoint_filter_fn(state, backbone.model)
    return {f"model.{k}": v for k, v in state.items() if not k.startswith("head.")}


class SwinBackbone(Backbone):
    """timm's Swin transformer returning its four stages as ``res2..res5`` (strides 4, 8, 16, 32).

    timm builds the shifted-window attention masks for the actual input size (``strict_img_size=False``),
    so any size works: sides that are not a multiple of the patch size (4) are zero-padded at the bottom
    and right after normalisation (the maps then cover ``ceil(H / 4)`` rows), and windows larger than a
    late stage's map shrink to the map. As Mask2Former's ``D2SwinTransformer``, each returned stage gets
    its own LayerNorm over channels (``stage_norms``).

    Args:
        model_name: a timm Swin name (``swin_tiny_patch4_window7_224``).
        pretrained: a local state-dict file in timm's or the original Swin repository's format (MoBY's
            ``.pth`` too; detectron2 ``.pkl`` files must be converted first). None: random weights.
        drop_path_rate: stochastic depth (0.3 in the MaskFormer / Mask2Former Swin-tiny configs).
        stage_norms: LayerNorm each returned stage (Mask2Former) or return the raw stages (timm).
        normalize: apply the ImageNet mean/std to the [0, 1] input.
        model_options: further arguments of ``timm.create_model`` (``embed_dim``, ``depths``, ...).
    """

    def __init__(
        self,
        model_name: str = "swin_tiny_patch4_window7_224",
        pretrained: str | Path | None = None,
        drop_path_rate: float = 0.3,
        stage_norms: bool = True,
        normalize: bool = True,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(normalize=normalize)
        try:
            import timm
        except ImportError:
            raise missing_dependency("timm", "torch", f"the {model_name} backbone") from None
        self.model = timm.create_model(
            model_name,
            pretrained=False,
            num_classes=0,
            strict_img_size=False,
            drop_path_rate=drop_path_rate,
            **dict(model_options or {}),
        )
        # The final norm and the head are unused (stage maps only): drop them, so that every parameter
        # gets a gradient (DDP) and a published file's norm.* / head.* keys are simply ignored.
        self.model.prune_intermediate_layers(4, prune_norm=True, prune_head=True)
        info = self.model.feature_info
        channels = [int(f["num_chs"]) for f in info]
        strides = [int(f["reduction"]) for f in info]
        self.patch = strides[0]
        self.out_channels = dict(zip(_LEVELS, channels, strict=True))
        self.out_strides = dict(zip(_LEVELS, strides, strict=True))
        self.norms = nn.ModuleList(nn.LayerNorm(c) if stage_norms else nn.Identity() for c in channels)
        self.model_name = model_name
        if pretrained is not None:
            # The stage norms are spelke's (Mask2Former's) addition: a published Swin file lacks them.
            load_state_file(
                self,
                pretrained,
                what=f"backbone {model_name}",
                convert=_swin_convert,
                allow_unexpected=True,
                optional=("norms.",),
            )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_shape(x, ["B", "3", "H", "W"], f"{self.model_name} input")
        x = self.prepare(x)
        h, w = x.shape[-2:]
        pad_h, pad_w = (-h) % self.patch, (-w) % self.patch
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        maps = self.model.forward_intermediates(x, indices=4, intermediates_only=True, output_fmt="NCHW")
        return {
            name: norm(m.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
            for name, m, norm in zip(_LEVELS, maps, self.norms, strict=True)
        }


@register_backbone("swin-tiny", aliases=("swin_tiny",))
def swin_tiny(
    pretrained: str | None = None, drop_path_rate: Any = 0.3, stage_norms: Any = True, normalize: Any = True
) -> SwinBackbone:
    """Swin-tiny (timm ``swin_tiny_patch4_window7_224``), any input size; random or local weights."""
    return SwinBackbone(
        "swin_tiny_patch4_window7_224",
        pretrained=pretrained,
        drop_path_rate=as_float(drop_path_rate, "drop_path_rate", minimum=0.0),
        stage_norms=as_bool(stage_norms, "stage_norms"),
        normalize=as_bool(normalize, "normalize"),
    )


# ---------------------------------------------------------------------------------------------- sacnn


class SoftPositionEmbed(nn.Module):
    """Slot Attention's position embedding: a 1x1 projection of the grid ``(y, x, 1 - y, 1 - x)`` added to
    the features; the grid (``linspace(0, 1)`` per axis) is built for each input size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ys = torch.linspace(0.0, 1.0, h, device=x.device, dtype=x.dtype)
        xs = torch.linspace(0.0, 1.0, w, device=x.device, dtype=x.dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gy, gx, 1 - gy, 1 - gx])[None]
        return x + self.proj(grid)


class SACNNBackbone(Backbone):
    """PPMP's small Slot-Attention / SAVi CNN (``SACNN_SMALL`` in the authors' ``config_sacnn``).

    Six layers, as the released PPMP backbone: four 5x5 convolutions with ReLU (the first with stride
    ``stride``), Slot Attention's soft position embedding, a normalisation, and Slot Attention's two-layer
    per-position MLP (1x1 convolutions, ReLU between). The four stages are the four maps, all at stride
    ``stride`` (there is no pyramid; the query segmenter's pixel decoder fuses same-stride maps):

    - ``res2``: after convolutions 1-2 (``channels``),
    - ``res3``: after convolutions 3-4 (``channels``),
    - ``res4``: ``ReLU(Conv1x1(Norm(res3 + pos)))`` (``mlp_channels``),
    - ``res5``: ``Conv1x1(res4)`` (``mlp_channels``).

    Defaults are PPMP's: 32 channels (SAVi's MOVi encoder), 64 MLP channels, stride 2 (the authors lower
    the resolution in the first convolution). Slot Attention's original encoder is
    ``channels=64, mlp_channels=64, stride=1, norm="channels"``. PPMP's LayerNorm spans (C, H, W) with a
    per-position affine, which fixes the input size; ``norm="chw"`` (default) keeps its statistics with a
    per-channel affine (``GroupNorm(1, C)``), so any size works. ``norm="channels"`` is Slot Attention's
    LayerNorm over channels at each position.

    Args:
        channels: width of the four convolutions.
        mlp_channels: width of the two 1x1 layers.
        kernel_size: convolution kernel (5).
        stride: stride of the first convolution (1 or 2); the stride of every returned map.
        norm: ``"chw"`` or ``"channels"`` (see above).
        pretrained: a local state-dict file of this backbone, or None.
        normalize: apply the ImageNet mean/std to the [0, 1] input (PPMP normalises every backbone).
    """

    def __init__(
        self,
        channels: int = 32,
        mlp_channels: int = 64,
        kernel_size: int = 5,
        stride: int = 2,
        norm: str = "chw",
        pretrained: str | Path | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(normalize=normalize)
        if norm not in ("chw", "channels"):
            raise ConfigError(f"sacnn option norm must be 'chw' or 'channels', got {norm!r}")
        if kernel_size % 2 != 1:
            raise ConfigError(f"sacnn option kernel_size must be odd, got {kernel_size}")
        pad = kernel_size // 2

        def conv(cin: int, s: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, channels, kernel_size, stride=s, padding=pad), nn.ReLU(True))

        self.stage1 = nn.Sequential(conv(3, stride), conv(channels))
        self.stage2 = nn.Sequential(conv(channels), conv(channels))
        self.pos = SoftPositionEmbed(channels)
        self.norm_kind = norm
        self.norm = nn.GroupNorm(1, channels) if norm == "chw" else nn.LayerNorm(channels)
        self.mlp1 = nn.Sequential(nn.Conv2d(channels, mlp_channels, 1), nn.ReLU(True))
        self.mlp2 = nn.Conv2d(mlp_channels, mlp_channels, 1)
        self.out_channels = dict(zip(_LEVELS, (channels, channels, mlp_channels, mlp_channels), strict=True))
        self.out_strides = dict.fromkeys(_LEVELS, stride)
        if pretrained is not None:
            load_state_file(self, pretrained, what="backbone sacnn")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_shape(x, ["B", "3", "H", "W"], "sacnn input")
        res2 = self.stage1(self.prepare(x))
        res3 = self.stage2(res2)
        y = self.pos(res3)
        if self.norm_kind == "chw":
            y = self.norm(y)
        else:
            y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        res4 = self.mlp1(y)
        res5 = self.mlp2(res4)
        return {"res2": res2, "res3": res3, "res4": res4, "res5": res5}


@register_backbone("sacnn")
def sacnn(
    pretrained: str | None = None,
    channels: Any = 32,
    mlp_channels: Any = 64,
    kernel_size: Any = 5,
    stride: Any = 2,
    norm: str = "chw",
    normalize: Any = True,
) -> SACNNBackbone:
    """PPMP's 6-layer Slot-Attention/SAVi CNN: four 5x5 convs, position embedding, 2-layer MLP; stride 2."""
    return SACNNBackbone(
        channels=as_int(channels, "channels", minimum=1),
        mlp_channels=as_int(mlp_channels, "mlp_channels", minimum=1),
        kernel_size=as_int(kernel_size, "kernel_size", minimum=1),
        stride=as_int(stride, "stride", minimum=1),
        norm=str(norm),
        pretrained=pretrained,
        normalize=as_bool(normalize, "normalize"),
    )
