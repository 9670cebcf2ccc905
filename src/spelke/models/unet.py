"""The standard 4-level U-Net (Ronneberger et al. 2015, as milesial/Pytorch-UNet), trained from scratch.

GWM's light segmenter (thesis App. C.1, l.2592: "standard 4-layer" U-Net, not pre-trained) and PPMP's best
MOVi-A model (Table D.1a). Written here from the architecture's description:

- an input block and four down steps (2x2 max-pool, then a double 3x3 conv + BatchNorm + ReLU block), the
  width doubling each step from ``base_width`` (64 in the paper's network: 64 .. 1024);
- four up steps (bilinear x2 upsampling, or a 2x2 transposed convolution), each concatenating the skip
  connection of the same level and applying a double conv block; with bilinear upsampling the bottom
  and up blocks have half the width (as the reference, so both variants end in ``base_width``);
- a 1x1 convolution to the K mask logits.

Any input size works: max-pooling floors odd sizes, and the upsampled map is brought to its skip
connection's size (bilinear upsampling goes straight to that size; a transposed convolution's output is
zero-padded by the missing row or column). The input is normalised with the ImageNet mean/std inside.

Examples:
    >>> from spelke.models import create_segmenter
    >>> net = create_segmenter("unet", num_masks=4, base_width=8)
    >>> tuple(net(torch.rand(2, 3, 50, 70)).logits.shape)
    (2, 4, 50, 70)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spelke._checks import check_shape
from spelke._options import as_bool, as_int
from spelke.engine.types import ModelOutput
from spelke.errors import ShapeError
from spelke.models.backbones.base import IMAGENET_MEAN, IMAGENET_STD, load_state_file
from spelke.models.registry import register_segmenter

__all__ = ["UNet"]


def double_conv(cin: int, cout: int, mid: int | None = None) -> nn.Sequential:
    """(3x3 conv -> BatchNorm -> ReLU) twice; the conv has no bias (BatchNorm follows)."""
    mid = cout if mid is None else mid
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    """Upsample ``x`` to the skip's size, concatenate ``[skip, x]``, double conv."""

    def __init__(self, cin: int, cout: int, bilinear: bool) -> None:
        super().__init__()
        self.bilinear = bilinear
        if bilinear:
            # cin = skip channels + upsampled channels (equal); the middle width halves as the reference.
            self.up: nn.Module = nn.Identity()
            self.conv = double_conv(cin, cout, cin // 2)
        else:
            self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
            self.conv = double_conv(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        h, w = skip.shape[-2:]
        if self.bilinear:
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=True)
        else:
            x = self.up(x)
            # 2 * floor(n / 2) falls one short of an odd skip size: pad the bottom/right.
            x = F.pad(x, (0, w - x.shape[-1], 0, h - x.shape[-2]))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """A U-Net mapping images ``(B, 3, H, W)`` in [0, 1] to K mask logits at the input size.

    Args:
        num_masks: K, the number of output components.
        base_width: channels of the first level (64 in the paper; 16 or 8 for small CPU runs).
        depth: number of down (and up) steps; 4 is the standard U-Net.
        bilinear: bilinear upsampling (the reference's default) or transposed convolutions.
        normalize: apply the ImageNet mean/std to the input.

    Raises:
        ShapeError: in ``forward``, for a wrong shape or a side shorter than ``2 ** depth``.
    """

    def __init__(
        self,
        num_masks: int = 4,
        base_width: int = 64,
        depth: int = 4,
        bilinear: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.num_masks, self.depth, self.normalize = num_masks, depth, normalize
        self.register_buffer("_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        widths = [base_width * 2**i for i in range(depth + 1)]  # 64, 128, 256, 512, 1024
        factor = 2 if bilinear else 1
        self.inc = double_conv(3, widths[0])
        self.downs = nn.ModuleList()
        for i in range(1, depth + 1):
            cout = widths[i] // factor if i == depth else widths[i]
            self.downs.append(nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i - 1], cout)))
        self.ups = nn.ModuleList()
        for i in range(depth, 0, -1):
            cout = widths[i - 1] // factor if i > 1 else widths[0]
            self.ups.append(_Up(widths[i], cout, bilinear))
        self.head = nn.Conv2d(widths[0], num_masks, kernel_size=1)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Mask logits ``(B, K, H, W)`` for images ``(B, 3, H, W)`` in [0, 1]."""
        check_shape(x, ["B", "3", "H", "W"], "unet input")
        smallest = 2**self.depth
        if min(x.shape[-2:]) < smallest:
            raise ShapeError(
                f"unet input must be at least {smallest}x{smallest} for depth {self.depth}, got "
                f"{tuple(x.shape)}; resize the images or lower depth"
            )
        if self.normalize:
            x = (x - self._mean) / self._std
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return ModelOutput(logits=self.head(y))


@register_segmenter("unet")
def unet(
    num_masks: Any = 4,
    base_width: Any = 64,
    bilinear: Any = True,
    depth: Any = 4,
    pretrained: str | Path | None = None,
) -> UNet:
    """Standard 4-level U-Net from scratch (GWM's U-Net variant; milesial layout)."""
    net = UNet(
        num_masks=as_int(num_masks, "num_masks", minimum=1),
        base_width=as_int(base_width, "base_width", minimum=1),
        depth=as_int(depth, "depth", minimum=1),
        bilinear=as_bool(bilinear, "bilinear"),
    )
    if pretrained is not None:
        load_state_file(net, pretrained, what="segmenter unet")
    return net
