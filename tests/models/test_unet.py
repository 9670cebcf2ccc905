"""The U-Net segmenter: shapes at odd sizes, softmax masks, gradients, widths, local weights."""

from __future__ import annotations

import pytest
import torch

from spelke.engine.types import ModelOutput
from spelke.errors import ShapeError
from spelke.models import create_segmenter, list_segmenters
from spelke.models.unet import UNet


def test_registered():
    assert "unet" in list_segmenters()
    assert "unet" in list_segmenters("u*")


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("size", [(48, 64), (50, 70), (96, 96), (33, 17)])
def test_logits_at_input_size_and_masks_sum_to_one(bilinear, size):
    torch.manual_seed(0)
    net = create_segmenter("unet", num_masks=3, base_width=4, bilinear=bilinear).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 3, *size)
    torch.testing.assert_close(out.masks.sum(dim=1), torch.ones(2, *size))


@pytest.mark.parametrize("bilinear", [True, False])
def test_widths_follow_the_standard_unet(bilinear):
    """base 64: encoder 64, 128, 256, 512, then 1024 (512 with bilinear upsampling, as the reference)."""
    net = UNet(num_masks=2, base_width=64, bilinear=bilinear)
    enc = [net.inc[-2].num_features] + [d[1][-2].num_features for d in net.downs]
    assert enc == [64, 128, 256, 512, 512 if bilinear else 1024]
    dec = [up.conv[-2].num_features for up in net.ups]
    assert dec == ([256, 128, 64, 64] if bilinear else [512, 256, 128, 64])
    assert net.head.in_channels == 64 and net.head.out_channels == 2


def test_gradients_reach_the_first_layer():
    torch.manual_seed(0)
    net = create_segmenter("unet", num_masks=4, base_width=4)
    out = net(torch.rand(2, 3, 50, 70))
    (out.masks[:, 0] * torch.linspace(0, 1, 70)).mean().backward()
    assert net.inc[0].weight.grad is not None and net.inc[0].weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())


def test_skip_connections_carry_fine_detail():
    """A one-pixel change moves the logits at that pixel (a skip at full resolution exists)."""
    torch.manual_seed(0)
    net = create_segmenter("unet", num_masks=2, base_width=4).eval()
    x = torch.rand(1, 3, 48, 48)
    y = x.clone()
    y[..., 20, 30] += 0.5
    with torch.no_grad():
        d = (net(y).logits - net(x).logits).abs()[0].sum(0)
    assert d[20, 30] > 0 and d[20, 30] >= d.max() * 0.1


def test_too_small_input_is_refused():
    net = create_segmenter("unet", base_width=4)
    with pytest.raises(ShapeError, match=r"at least 16x16.*\(1, 3, 8, 40\)"):
        net(torch.rand(1, 3, 8, 40))
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(1, 4, 32, 32))


def test_cli_strings_are_coerced():
    net = create_segmenter("unet", num_masks="3", base_width="4", bilinear="false")
    assert net.head.out_channels == 3 and not net.ups[0].bilinear


def test_weights_round_trip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    a = create_segmenter("unet", num_masks=3, base_width=4).eval()
    path = tmp_path / "unet.pt"
    torch.save(a.state_dict(), path)
    b = create_segmenter("unet", num_masks=3, base_width=4, pretrained=str(path)).eval()
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(b(x).logits, a(x).logits)
    with pytest.raises(ShapeError, match=r"inc\.0\.weight.*\(4, 3, 3, 3\).*\(8, 3, 3, 3\)"):
        create_segmenter("unet", num_masks=3, base_width=8, pretrained=str(path))
